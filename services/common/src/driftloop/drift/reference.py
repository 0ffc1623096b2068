"""The reference a window is compared with: a bundle's profile.json and metrics.json, as numpy arrays.

Parsed once per model version (``ReferenceCache``), because every window of that version reuses
the same bin edges, frequencies and sorted sample. The profile format is the training side's
(``driftloop.train.profile``, documented in docs/training.md); this module reads it with numpy
only, so that the forwarder needs no scikit-learn or pandas.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftloop.contract import Task
from driftloop.errors import InvalidInputError
from driftloop.registry import Bundle, Registry

# Metrics where a smaller value is better (the training side's convention, driftloop.train.metrics).
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})


@dataclass(frozen=True)
class NumericReference:
    edges: np.ndarray
    """Inner quantile edges (len(edges) + 1 bins, the outer ones open)."""
    frequencies: np.ndarray
    """Share of the training values in each bin."""
    sample_sorted: np.ndarray
    """A seeded sample of the training values, sorted, for KS and Wasserstein."""
    std: float
    minimum: float
    maximum: float
    missing_rate: float


@dataclass(frozen=True)
class CategoricalReference:
    categories: list[str]
    frequencies: np.ndarray
    """One share per category, then a last one for categories unseen in training (zero)."""
    missing_rate: float


@dataclass(frozen=True)
class PredictionReference:
    """The holdout's predictions: class frequencies (and the binary positive score), or value bins."""

    labels: list[str] | None
    """Class labels in the order of ``frequencies`` (classification); None for regression."""
    frequencies: np.ndarray
    """Class shares, or the shares of the value bins (regression)."""
    rows: int = 0
    """Holdout rows behind the frequencies (0: unknown, the frequencies are taken as exact)."""
    values: NumericReference | None = None
    """The predicted values (regression) or the positive-class score (binary), as a numeric column."""


@dataclass(frozen=True)
class ErrorReference:
    """How often the model was wrong on the holdout (profile.json ``errors``, train/profile.py)."""

    loss: float | None = None
    """The holdout's rate of the detector's per-record loss (None: no level test)."""
    loss_threshold: float | None = None
    """Regression: the absolute error above which a record counts as a loss."""
    rows: int | None = None
    """Holdout rows ``loss`` was measured on (None: unknown; the level test then trusts it as exact)."""
    confidence: np.ndarray | None = None
    accuracy: np.ndarray | None = None
    """Classifiers: calibration knots, top probability -> chance of being right."""

    def expected_accuracy(self, top_probability: np.ndarray) -> np.ndarray:
        """Per record, the chance that its predicted class is right (the raw top probability
        when the bundle has no calibration)."""
        if self.confidence is None or self.accuracy is None:
            return top_probability
        return np.asarray(np.interp(top_probability, self.confidence, self.accuracy))


@dataclass(frozen=True)
class ReferenceProfile:
    task: Task
    rows: int
    numeric: dict[str, NumericReference]
    categorical: dict[str, CategoricalReference]
    predictions: PredictionReference | None
    class_labels: list[str] | None = None
    boolean: frozenset[str] = frozenset()
    """Boolean columns: judged as categorical columns with the categories "false" and "true"."""
    holdout_metrics: dict[str, float] = field(default_factory=dict)
    """The winner's metrics on the holdout, recorded at training (metrics.json)."""
    primary_metric: str | None = None
    """The metric the training optimised; performance drift is measured on it by default."""
    errors: ErrorReference = field(default_factory=ErrorReference)

    @property
    def columns(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    @classmethod
    def from_bundle(cls, bundle: Bundle) -> ReferenceProfile:
        contract = bundle.contract
        labels = [str(label) for label in contract.class_labels] if contract.class_labels else None
        return parse_profile(bundle.document("profile"), bundle.document("metrics"), task=contract.task, labels=labels)


def parse_profile(
    profile: Mapping[str, Any],
    metrics: Mapping[str, Any] | None = None,
    *,
    task: Task | None = None,
    labels: list[str] | None = None,
) -> ReferenceProfile:
    """Build the numpy reference from parsed profile.json and metrics.json; errors name the field.

    The task comes from the contract when given, else from metrics.json; class labels from the
    contract, else from the profile's class frequencies (in their order).
    """
    metrics = metrics or {}
    try:
        resolved_task = task or Task(metrics["task"])
    except (KeyError, ValueError):
        raise InvalidInputError("no task: neither given nor in metrics.json", details={"field": "task"}) from None
    numeric: dict[str, NumericReference] = {}
    categorical: dict[str, CategoricalReference] = {}
    boolean: set[str] = set()
    for name, spec in _field(profile, "columns", "profile.json").items():
        kind = spec.get("kind", "numeric")
        if kind == "numeric":
            if spec.get("count", 1) and spec.get("edges") is not None:  # a column never seen filled has no bins
                numeric[name] = _numeric(f"profile.json column {name!r}", spec)
        elif kind in ("categorical", "boolean"):
            categorical[name] = _categorical(name, spec)
            if kind == "boolean":
                boolean.add(name)
        else:
            raise InvalidInputError(f"profile.json column {name!r} has unknown kind {kind!r}")
    predictions = profile.get("predictions")
    class_labels = labels
    if class_labels is None and predictions and isinstance(predictions.get("class_frequencies"), Mapping):
        class_labels = [str(label) for label in predictions["class_frequencies"]]
    holdout = metrics.get("holdout") or {}
    primary = metrics.get("metric")
    return ReferenceProfile(
        task=resolved_task,
        rows=int(profile.get("rows", 0)),
        numeric=numeric,
        categorical=categorical,
        predictions=_predictions(predictions, class_labels) if predictions else None,
        class_labels=class_labels,
        boolean=frozenset(boolean),
        holdout_metrics={
            k: float(v)
            for k, v in holdout.items()
            if k != "rows" and isinstance(v, int | float) and not isinstance(v, bool)
        },
        primary_metric=primary if isinstance(primary, str) else None,
        errors=_errors(profile.get("errors"), resolved_task, holdout),
    )


def _errors(spec: Any, task: Task, holdout: Mapping[str, Any]) -> ErrorReference:
    """profile.json ``errors``; bundles trained before it have the holdout accuracy (classifiers)
    or MAE (regression, as the loss threshold) to go on, and no calibration."""
    rows = holdout.get("rows")
    holdout_rows = int(rows) if isinstance(rows, int) and rows > 0 else None
    if not isinstance(spec, Mapping):
        if task.is_classification and isinstance(holdout.get("accuracy"), int | float):
            return ErrorReference(loss=1.0 - float(holdout["accuracy"]), rows=holdout_rows)
        mae = holdout.get("mae")
        return ErrorReference(loss_threshold=float(mae) if isinstance(mae, int | float) else None)
    loss = spec.get("loss")
    if isinstance(spec.get("rows"), int) and spec["rows"] > 0:
        holdout_rows = int(spec["rows"])
    threshold = spec.get("loss_threshold")
    calibration = spec.get("calibration") or {}
    confidence, accuracy = calibration.get("confidence"), calibration.get("accuracy")
    knots = isinstance(confidence, list) and isinstance(accuracy, list) and len(confidence) == len(accuracy) > 1
    return ErrorReference(
        loss=float(loss) if isinstance(loss, int | float) else None,
        loss_threshold=float(threshold) if isinstance(threshold, int | float) else None,
        rows=holdout_rows,
        confidence=_floats(confidence) if knots else None,
        accuracy=_floats(accuracy) if knots else None,
    )


def _field(spec: Mapping[str, Any], name: str, where: str) -> Any:
    if name not in spec:
        raise InvalidInputError(f"{where} has no {name!r}", details={"field": name})
    return spec[name]


def _floats(values: Any) -> np.ndarray:
    return np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)


def _numeric(where: str, spec: Mapping[str, Any]) -> NumericReference:
    edges = _floats(_field(spec, "edges", where))
    frequencies = _floats(_field(spec, "frequencies", where))
    if len(frequencies) != len(edges) + 1:
        raise InvalidInputError(
            f"{where}: {len(edges)} inner edges need {len(edges) + 1} frequencies, not {len(frequencies)}"
        )
    sample = _floats(spec.get("sample", []))
    sample = np.sort(sample[~np.isnan(sample)])
    std = spec.get("std")
    return NumericReference(
        edges=edges,
        frequencies=frequencies,
        sample_sorted=sample,
        std=float(std) if std is not None else float(sample.std()) if len(sample) else 0.0,
        minimum=float(spec.get("min", sample[0] if len(sample) else -np.inf)),
        maximum=float(spec.get("max", sample[-1] if len(sample) else np.inf)),
        missing_rate=float(spec.get("missing_rate", 0.0)),
    )


def _categorical(name: str, spec: Mapping[str, Any]) -> CategoricalReference:
    frequencies = _field(spec, "frequencies", f"profile.json column {name!r}")
    if not isinstance(frequencies, Mapping):
        raise InvalidInputError(f"profile.json column {name!r}: frequencies must map each category to its share")
    return CategoricalReference(
        categories=[str(c) for c in frequencies],
        frequencies=np.append(np.asarray(list(frequencies.values()), dtype=np.float64), 0.0),
        missing_rate=float(spec.get("missing_rate", 0.0)),
    )


def _predictions(spec: Mapping[str, Any], class_labels: list[str] | None) -> PredictionReference:
    rows = int(spec.get("rows", 0))
    if spec.get("kind") == "value":
        values = _numeric("profile.json predictions", spec)
        return PredictionReference(None, values.frequencies, rows, values=values)
    shares = _field(spec, "class_frequencies", "profile.json predictions")
    labels = class_labels or [str(k) for k in shares]
    score = spec.get("positive_score")
    return PredictionReference(
        labels,
        np.asarray([float(shares.get(label, 0.0)) for label in labels], dtype=np.float64),
        rows,
        values=_numeric("profile.json predictions.positive_score", score) if score and score.get("count") else None,
    )


class ReferenceCache:
    """Parsed references by (model, version): parsed once, kept for the few versions still streaming."""

    def __init__(self, capacity: int = 8) -> None:
        self.capacity = capacity
        self._items: OrderedDict[tuple[str, int], ReferenceProfile] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, bundle: Bundle) -> ReferenceProfile:
        key = (bundle.name, bundle.version)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        reference = ReferenceProfile.from_bundle(bundle)
        with self._lock:
            self._items[key] = reference
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return reference


def registry_references(
    registry: Registry, cache: ReferenceCache | None = None
) -> Callable[[str, int], ReferenceProfile]:
    """The reference profile of a (model, version) in ``registry``, parsed once per bundle."""
    profiles = cache or ReferenceCache()

    def lookup(model: str, version: int) -> ReferenceProfile:
        return profiles.get(registry.resolve(model, version))

    return lookup
