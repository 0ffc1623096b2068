"""What a training set is made of (the strategy and its holdout) and the quality it must have (the gate).

One definition for everyone who names them: the feature-engineering service validates dataset
requests with these models, and the policy file's ``retrain.dataset`` / ``retrain.quality`` blocks
(``driftloop.policy``) are the same models, so a strategy the policy accepts is one the service builds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

StrategyKind = Literal["recent", "source+recent", "source", "since_change"]
SINCE_CHANGE = "since_change"
# What a default strategy hands on to the change-following one (the rest is about other kinds).
_CHANGE_FIELDS = {
    "holdout", "holdout_share", "seed", "min_rows", "older_weight", "older", "older_share", "weight_column",
}  # fmt: skip


class QualityGate(BaseModel):
    """Thresholds a training set must meet before it is handed out (a request may override them)."""

    model_config = ConfigDict(extra="forbid")

    min_train_rows: int = Field(default=200, ge=1)
    """Fewest training rows."""
    min_holdout_rows: int = Field(default=50, ge=1)
    """Fewest holdout rows (the controller compares challenger and champion on them)."""
    min_class_share: float = Field(default=0.01, ge=0.0, lt=0.5)
    """Smallest share any class of the contract may have in the training set (classification)."""
    max_violation_share: float = Field(default=0.05, ge=0.0, le=1.0)
    """Largest share of rows that break the contract (they are dropped; above this the set is refused)."""
    max_missing_rate: float = Field(default=0.99, ge=0.0, le=1.0)
    """A column missing in more rows than this counts as entirely missing."""


class Strategy(BaseModel):
    """Which rows go into the training set, and which rows are held out for the promotion gate."""

    model_config = ConfigDict(extra="forbid")

    kind: StrategyKind = "source+recent"
    """recent: only labelled production records; source+recent: the source data plus them; source: source
    only; since_change: the labelled records whose event time is at or after ``since`` (docs/features.md)."""
    recent: int | None = Field(default=None, ge=1)
    """How many of the newest labelled records (after the holdout) to train on; none: all of them."""
    weighting: Literal["duplicate", "column"] = "duplicate"
    """source+recent: repeat each recent record ``weight`` times, or write ``weight`` into ``weight_column``."""
    weight: float = Field(default=1.0, gt=0, le=100)
    """Weight of a recent labelled record relative to a source row."""
    weight_column: str = "sample_weight"
    """Name of the weight column (weighting "column", and since_change's older rows)."""
    holdout: int | None = Field(default=None, ge=1)
    """How many of the newest labelled records to hold out for evaluation (wins over holdout_share)."""
    holdout_share: float = Field(default=0.2, gt=0.0, lt=1.0)
    """Share of the labelled records held out (of the source rows when labelled records are too few)."""
    seed: int = 0
    """Seeds the random, stratified holdout drawn from source rows (never the tail of the file)."""
    since: AwareDatetime | None = None
    """since_change: the estimated change point, an RFC 3339 time with its offset."""
    min_rows: int = Field(default=500, ge=1)
    """since_change: fewest training rows; fewer post-change records are topped up with the newest labelled
    records from before the change, then with source rows (the floor fill)."""
    older_weight: float = Field(default=0.25, gt=0.0, le=1.0)
    """since_change: sample weight of a floor-fill row (a post-change row weighs 1); 1 writes no weight column."""
    older: Literal["floor", "uncovered", "all"] = "uncovered"
    """since_change: which rows from before the change are trained on: ``floor``, only those that fill
    the floor (``min_rows``); ``uncovered``, those and every older row in a region of the inputs that the
    post-change rows do not reach (weight ``older_weight``; the floor alone when the inputs did not move:
    driftloop_features/coverage.py); ``all``, every pre-change labelled record and every source row,
    together weighing ``older_share`` of the post-change rows, so that they decide only where the
    post-change rows say nothing (a shift of the inputs rather than of the concept: docs/features.md)."""
    older_share: float = Field(default=0.25, gt=0.0, le=1.0)
    """since_change with ``older: all``: the older rows' total weight as a share of the post-change rows'."""

    @model_validator(mode="after")
    def _consistent(self) -> Strategy:
        if self.kind == "source+recent" and self.weighting == "duplicate" and not float(self.weight).is_integer():
            raise ValueError("weighting 'duplicate' needs a whole-number weight")
        if self.kind == SINCE_CHANGE and self.since is None:
            raise ValueError("kind 'since_change' needs 'since': the change point, an RFC 3339 time")
        if self.kind != SINCE_CHANGE and self.since is not None:
            raise ValueError(f"'since' applies to kind 'since_change' only, not to {self.kind!r}")
        return self

    def since_change(self, since: datetime) -> Strategy:
        """The change-following strategy at ``since``, keeping this one's holdout, floor and weights."""
        kept = self.model_dump(include=_CHANGE_FIELDS)
        return Strategy(kind=SINCE_CHANGE, since=since, **kept)
