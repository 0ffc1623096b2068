"""The training configuration: command-line flags and the optional YAML file (``--config``).

Every field has a default, so an empty file (or none) is valid; unknown keys are refused so a
typo never silently does nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from driftloop.contract import ColumnKind, Task
from driftloop.errors import ConfigError
from driftloop.features.definitions import DerivedFeature
from driftloop.train.families_names import FAMILY_NAMES

CLASSIFICATION_METRICS = ("roc_auc", "log_loss", "f1")
REGRESSION_METRICS = ("r2", "rmse", "mae")
# Cheap defaults first: on large data the forests' first trials take the longest.
LARGE_TRAINING_SPLIT = 20_000


class TrainConfig(BaseModel):
    """What to train and how long to search."""

    model_config = ConfigDict(extra="forbid")

    target: str | None = None
    """Target column (the ``--target`` flag wins over the file)."""
    task: Task | None = None
    """binary, multiclass or regression; detected from the target when absent."""
    drop: list[str] = Field(default_factory=list)
    """Columns that are not model inputs (ids, timestamps, leaks)."""
    kinds: dict[str, ColumnKind] = Field(default_factory=dict)
    """Column kinds that override inference (numeric, categorical, boolean)."""
    metric: str | None = None
    """Metric the sweep optimises: roc_auc (default), log_loss, f1; r2 (default), rmse, mae."""
    time_budget: float = Field(default=60.0, gt=0)
    """Seconds of search (cross-validated trials); the winner's refit, export and parity come after."""
    max_trials: int | None = Field(default=None, ge=1)
    """Upper bound on trials: with a budget that is not reached, the run is fully reproducible."""
    families: list[str] = Field(default_factory=lambda: list(FAMILY_NAMES))
    """Estimator families to search."""
    seed: int = 0
    """Seeds the holdout split, the folds, the candidate sequence and every estimator."""
    folds: int | None = Field(default=None, ge=2, le=20)
    """k of the k-fold cross-validation; default 5, or 3 from 20,000 training rows (more trials per budget)."""
    holdout_fraction: float = Field(default=0.2, gt=0.0, lt=0.9)
    """Share of rows held out of the sweep and used once, to score the winner."""
    n_jobs: int = Field(default=1, ge=1, le=256)
    """CPU threads per fit. 1 by default: on a shared machine, OpenMP threads that wait for busy
    cores slow histogram gradient boosting down by an order of magnitude."""
    parity_tolerance: float = Field(default=1e-4, gt=0.0, lt=1.0)
    """Largest ONNX vs scikit-learn difference allowed (probability; regression: relative to max(1, |value|))."""
    derived: list[DerivedFeature] = Field(default_factory=list)
    """Derived features (see docs/features.md), computed inside the pipeline and so inside the ONNX graph."""
    weight_column: str = "sample_weight"
    """When the data has this column (the feature-engineering service's ``weighting: column``), it is
    not an input: it weights each training row in the fits. Cross-validation and holdout scores stay unweighted."""

    @field_validator("families")
    @classmethod
    def _known_families(cls, families: list[str]) -> list[str]:
        unknown = [f for f in families if f not in FAMILY_NAMES]
        if unknown:
            raise ValueError(f"unknown families {unknown}; choose from {list(FAMILY_NAMES)}")
        if not families:
            raise ValueError("at least one family is needed")
        return list(dict.fromkeys(families))

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, metric: str | None) -> str | None:
        if metric is not None and metric not in CLASSIFICATION_METRICS + REGRESSION_METRICS:
            raise ValueError(
                f"unknown metric {metric!r}; choose from {list(CLASSIFICATION_METRICS + REGRESSION_METRICS)}"
            )
        return metric

    def metric_for(self, task: Task) -> str:
        """The optimised metric, checked against the task."""
        allowed = CLASSIFICATION_METRICS if task.is_classification else REGRESSION_METRICS
        if self.metric is None:
            return allowed[0]
        if self.metric not in allowed:
            raise ConfigError(f"metric {self.metric!r} does not fit a {task} task; choose from {list(allowed)}")
        return self.metric

    def folds_for(self, train_rows: int) -> int:
        if self.folds is not None:
            return self.folds
        return 3 if train_rows >= LARGE_TRAINING_SPLIT else 5

    def with_overrides(self, **overrides: Any) -> TrainConfig:
        """Command-line flags over the file: ``None`` means 'not given'."""
        given = {key: value for key, value in overrides.items() if value is not None}
        try:
            return TrainConfig.model_validate({**self.model_dump(), **given})
        except ValidationError as exc:
            raise ConfigError(_describe(exc, "command line")) from None


def load_config(path: Path | str | None) -> TrainConfig:
    """Read and validate a YAML configuration file (``None``: the defaults)."""
    if path is None:
        return TrainConfig()
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read configuration {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"configuration {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"configuration {path} must be a mapping of settings, not {type(data).__name__}")
    try:
        return TrainConfig.model_validate({k.replace("-", "_"): v for k, v in data.items()})
    except ValidationError as exc:
        raise ConfigError(_describe(exc, str(path))) from None


def _describe(exc: ValidationError, source: str) -> str:
    problems = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{field}: {message}")
    return f"invalid configuration ({source}): " + "; ".join(problems)
