"""What a training set is made of (strategy and holdout), and the quality it must have (the gate)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class QualityGate(BaseModel):
    """Thresholds a training set must meet before it is handed out (a request may override them)."""

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
    """Which rows go into the training set, and which recent labelled records are held out."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["recent", "source+recent", "source"] = "source+recent"
    """recent: only labelled production records; source+recent: the source data plus them; source: source only."""
    recent: int | None = Field(default=None, ge=1)
    """How many of the newest labelled records (after the holdout) to train on; none: all of them."""
    weighting: Literal["duplicate", "column"] = "duplicate"
    """source+recent: repeat each recent record ``weight`` times, or write ``weight`` into ``weight_column``."""
    weight: float = Field(default=1.0, gt=0, le=100)
    """Weight of a recent labelled record relative to a source row."""
    weight_column: str = "sample_weight"
    """Name of the weight column (weighting "column"): 1 for source rows, ``weight`` for recent ones."""
    holdout: int | None = Field(default=None, ge=1)
    """How many of the newest labelled records to hold out for evaluation (wins over holdout_share)."""
    holdout_share: float = Field(default=0.2, gt=0.0, lt=1.0)
    """Share of the labelled records held out (of the source rows when there are no labelled records)."""

    @model_validator(mode="after")
    def _whole_duplicates(self) -> Strategy:
        if self.kind == "source+recent" and self.weighting == "duplicate" and not float(self.weight).is_integer():
            raise ValueError("weighting 'duplicate' needs a whole-number weight")
        return self


class DatasetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    """Model whose champion's contract the set must satisfy."""
    strategy: Strategy | None = None
    """Recency strategy and holdout (default: the service's settings)."""
    gate: QualityGate | None = None
    """Quality thresholds for this request (default: the service's settings)."""
