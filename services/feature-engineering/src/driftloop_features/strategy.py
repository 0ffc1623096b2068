"""The dataset request the service takes; its strategy and quality gate are the common library's models."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from driftloop.trainingset import QualityGate, Strategy

__all__ = ["DatasetRequest", "QualityGate", "Strategy"]


class DatasetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1)
    """Model whose champion's contract the set must satisfy."""
    strategy: Strategy | None = None
    """Recency strategy and holdout (default: the service's settings)."""
    gate: QualityGate | None = None
    """Quality thresholds for this request (default: the service's settings)."""
