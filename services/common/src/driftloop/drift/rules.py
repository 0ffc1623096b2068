"""Declarative drift rules (YAML), validated when they are loaded.

A rules file has four blocks, each optional: ``window`` (how windows are cut), ``detection`` (when
a column counts as drifted, sample-size aware), ``change`` (the concept-drift detector on the
labelled stream, drift/change.py) and ``rules``. With no file, the packaged
``default_rules.yaml`` applies, so an unconfigured forwarder already watches features,
predictions and performance. Every mistake is a ``ConfigError`` naming the rule and the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from driftloop.drift.change import ChangeConfig
from driftloop.drift.config import DetectionConfig, WindowConfig, parse_duration
from driftloop.errors import ConfigError

DEFAULT_RULES = "default_rules.yaml"

Scope = Literal["column", "window", "predictions", "performance", "estimated", "labelled"]
Kinds = frozenset[str]
BOTH: Kinds = frozenset({"numeric", "categorical"})
NUMERIC: Kinds = frozenset({"numeric"})
CATEGORICAL: Kinds = frozenset({"categorical"})


@dataclass(frozen=True)
class Statistic:
    scope: Scope
    direction: Literal["above", "below"]
    """A window breaches when the value is above (or below, for p-values) the threshold."""
    default_threshold: float | None
    kinds: Kinds = BOTH
    """Column kinds that have the statistic (column scope)."""

    @property
    def is_pvalue(self) -> bool:
        return self.direction == "below"


# The statistics a rule can name. ``drift`` and ``prediction_drift`` are the sample-size-aware
# verdicts (detection block): a p-value test on small samples, a distance on large ones.
STATISTICS: dict[str, Statistic] = {
    "drift": Statistic("column", "above", 0.5),
    "psi": Statistic("column", "above", 0.2),
    "missing_rate": Statistic("column", "above", None),
    "ks_pvalue": Statistic("column", "below", 0.05, NUMERIC),
    "ks_statistic": Statistic("column", "above", None, NUMERIC),
    "wasserstein": Statistic("column", "above", 0.1, NUMERIC),
    "out_of_range_share": Statistic("column", "above", 0.05, NUMERIC),
    "chi2_pvalue": Statistic("column", "below", 0.05, CATEGORICAL),
    "jensen_shannon": Statistic("column", "above", 0.1, CATEGORICAL),
    "unseen_share": Statistic("column", "above", 0.05, CATEGORICAL),
    "drift_share": Statistic("window", "above", 0.5),
    "prediction_drift": Statistic("predictions", "above", 0.5),
    "prediction_psi": Statistic("predictions", "above", 0.2),
    "performance_drop": Statistic("performance", "above", 0.05),
    "accuracy_drop": Statistic("performance", "above", 0.05),
    "f1_drop": Statistic("performance", "above", 0.05),
    "roc_auc_drop": Statistic("performance", "above", 0.05),
    "rmse_increase": Statistic("performance", "above", 0.1),
    "mae_increase": Statistic("performance", "above", 0.1),
    # Without labels: the accuracy a classifier's calibrated confidence predicts (CBPE), relative drop.
    "estimated_performance_drop": Statistic("estimated", "above", 0.1),
    # On the labelled stream, not on windows: the rise of the loss rate in a detector's alarm.
    "concept_drift": Statistic("labelled", "above", 0.0),
}

_COOLDOWN_LABELS = re.compile(r"^\s*(\d+)\s*labels?\s*$")


@dataclass(frozen=True)
class Cooldown:
    """How long a fired rule stays quiet: event time, or new labelled records of the model."""

    seconds: float = 0.0
    labels: int = 0

    @classmethod
    def parse(cls, value: object) -> Cooldown:
        if isinstance(value, Cooldown):
            return value
        if isinstance(value, str) and (match := _COOLDOWN_LABELS.match(value)):
            return cls(labels=int(match.group(1)))
        try:
            return cls(seconds=parse_duration(value))
        except ValueError:
            raise ValueError(
                f"{value!r} is not a cooldown: a duration ('90s', '30m', '1h', '2d') "
                "or a count of labels ('500 labels')"
            ) from None

    def __str__(self) -> str:
        return f"{self.labels} labels" if self.labels else f"{self.seconds:g}s"


class ColumnShare(BaseModel):
    """Fire when at least this share of the columns (with enough data) breach."""

    model_config = ConfigDict(extra="forbid")

    share: float = Field(gt=0, le=1)


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    """Unique name; it is part of the firing's idempotency key and of the evidence."""
    statistic: str
    """One of ``STATISTICS`` (docs/drift.md lists them)."""
    columns: list[str] | Literal["any", "all"] | ColumnShare | None = None
    """Column statistics only: named columns, ``any``, ``all`` or ``{share: 0.3}``; default ``any``."""
    threshold: float | None = None
    """Breach beyond this value; the statistic's default when absent."""
    consecutive: int = Field(default=1, ge=1)
    """Breaching windows in a row before the rule fires."""
    min_samples: int | None = Field(default=None, ge=1)
    """Values (labelled records, for performance) a window needs to count; the detection default when absent."""
    cooldown: Cooldown = Cooldown(seconds=3600.0)
    """How long a fired rule stays quiet: a duration of event time ('30m', '1h', ...) or new
    labelled records of the model ('500 labels': evidence gathered since the last firing)."""
    when: Literal["always", "labelled", "unlabelled"] = "always"
    """Judge only windows whose label coverage is at least ``detection.min_coverage`` (labelled),
    or below it (unlabelled): retrain on measured performance when labels arrive, on estimates and
    drift when they do not."""
    action: Literal["retrain", "alert"] = "retrain"
    """``retrain`` posts to the retrain webhook; ``alert`` only records and logs the firing."""
    models: list[str] | None = None
    """Models the rule watches; every model when absent."""

    @field_validator("cooldown", mode="before")
    @classmethod
    def _cooldown(cls, value: object) -> Cooldown:
        return Cooldown.parse(value)

    @field_validator("columns", mode="before")
    @classmethod
    def _columns_shape(cls, value: object) -> object:
        valid = (
            value is None
            or value in ("any", "all")
            or (isinstance(value, list) and all(isinstance(item, str) for item in value))
            or (isinstance(value, dict) and set(value) == {"share"})
        )
        if not valid:
            raise ValueError(f"{value!r}: use a list of column names, 'any', 'all' or {{share: 0.3}}")
        return value

    @field_validator("statistic")
    @classmethod
    def _known_statistic(cls, value: str) -> str:
        if value not in STATISTICS:
            raise ValueError(f"unknown statistic {value!r}; choose from {sorted(STATISTICS)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        info = STATISTICS[self.statistic]
        if info.scope != "column" and self.columns is not None:
            raise ValueError(f"statistic {self.statistic!r} is not per column: remove 'columns'")
        if info.scope == "column" and self.columns is None:
            self.columns = "any"
        if info.scope == "labelled" and self.consecutive != 1:
            raise ValueError(f"statistic {self.statistic!r} fires on a detector's alarm: 'consecutive' must be 1")
        if isinstance(self.columns, list) and not self.columns:
            raise ValueError("'columns' is an empty list: name columns, or use 'any', 'all' or {share: ...}")
        if self.threshold is None:
            if info.default_threshold is None:
                raise ValueError(f"statistic {self.statistic!r} has no default threshold: set 'threshold'")
            self.threshold = info.default_threshold
        return self

    @property
    def info(self) -> Statistic:
        return STATISTICS[self.statistic]

    def watches(self, model: str) -> bool:
        return self.models is None or model in self.models


class RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    window: WindowConfig = Field(default_factory=WindowConfig)
    detection: DetectionConfig = Field(default_factory=DetectionConfig)
    change: ChangeConfig = Field(default_factory=ChangeConfig)
    rules: list[Rule] = Field(default_factory=list)

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: list[Rule]) -> list[Rule]:
        names = [rule.name for rule in rules]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"rule names must be unique; repeated: {repeated}")
        return rules

    def check_columns(self, model: str, columns: dict[str, str]) -> None:
        """Refuse rules naming columns the model does not have (``columns``: name -> kind)."""
        for rule in self.rules:
            if not rule.watches(model) or not isinstance(rule.columns, list):
                continue
            unknown = [c for c in rule.columns if c not in columns]
            if unknown:
                raise ConfigError(
                    f"rule {rule.name!r} names columns that model {model!r} does not have: {unknown}",
                    details={"rule": rule.name, "unknown_columns": unknown, "columns": sorted(columns)},
                )
            wrong = [c for c in rule.columns if columns[c] not in rule.info.kinds]
            if wrong:
                raise ConfigError(
                    f"rule {rule.name!r}: statistic {rule.statistic!r} applies to "
                    f"{'/'.join(sorted(rule.info.kinds))} columns, not to {wrong}",
                    details={"rule": rule.name, "columns": wrong},
                )


R = TypeVar("R", bound="RulesFile")


def parse_rules(
    text: str,
    *,
    source: str = "rules",
    model: type[R] = RulesFile,  # type: ignore[assignment]
    default_rules: list[Any] | None = None,
) -> R:
    """Validate a rules (or policy) file's text as ``model``: every mistake names the field. A file
    without a ``rules`` key gets ``default_rules`` when given (``rules: []`` means none)."""
    try:
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{source} is not valid YAML{where}: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source} must be a mapping with 'window', 'detection' and 'rules', not {type(data).__name__}"
        )
    if default_rules is not None and "rules" not in data:
        data = {**data, "rules": default_rules}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source} is invalid: {_describe(exc, data)}", details=_details(exc)) from None


def load_rules_text(path: Path | str | None = None) -> tuple[str, str]:
    """The text of the rules file at ``path`` (the packaged defaults when None) and its name for errors."""
    if path is None:
        try:
            text = resources.files("driftloop.drift").joinpath(DEFAULT_RULES).read_text()
        except FileNotFoundError:
            # A wheel built without the package data (pyproject: "drift/*.yaml").
            raise ConfigError(f"this driftloop install lacks its packaged {DEFAULT_RULES}; pass a rules file") from None
        return text, f"the packaged {DEFAULT_RULES}"
    path = Path(path)
    try:
        return path.read_text(), str(path)
    except OSError as exc:
        raise ConfigError(f"cannot read the rules file {str(path)!r}: {exc.strerror}") from None


def load_rules(path: Path | str | None = None) -> RulesFile:
    """The rules in ``path``, or the packaged defaults when ``path`` is None."""
    text, source = load_rules_text(path)
    return parse_rules(text, source=source)


def _location(loc: tuple[int | str, ...], data: Any) -> str:
    """``rules[1] ('feature-drift').threshold`` rather than ``rules.1.threshold``."""
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int):
            name = node[item].get("name") if isinstance(node, list) and isinstance(node[item], dict) else None
            parts[-1] += f"[{item}]" + (f" ({name!r})" if name else "")
            node = node[item] if isinstance(node, list) and item < len(node) else None
        else:
            parts.append(str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return ".".join(parts)


def _describe(exc: ValidationError, data: Any) -> str:
    located = []
    for error in exc.errors():
        # Union members are tagged in the location (``list[str]``, ``ColumnShare``): leave them out.
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and ("[" in p or p[:1].isupper())))
        located.append((loc, error["msg"].removeprefix("Value error, ")))
    # Of a union's complaints, the one that went deepest says what is wrong (``share`` > 1, not "not a list").
    kept = [
        (loc, msg) for loc, msg in located if not any(len(o) > len(loc) and o[: len(loc)] == loc for o, _ in located)
    ]
    return "; ".join(dict.fromkeys(f"{_location(loc, data) or 'the file'}: {msg}" for loc, msg in kept))


def _details(exc: ValidationError) -> list[dict[str, Any]]:
    return [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
