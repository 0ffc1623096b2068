"""How windows are cut and how a column is judged drifted: the ``window`` and ``detection`` blocks of
the rules file (docs/drift.md explains every default and where it comes from)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object) -> float:
    """Seconds from a number or a string such as ``"90s"``, ``"30m"``, ``"1h"``, ``"2d"``."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]
    else:
        raise ValueError(f"{value!r} is not a duration (a number of seconds, or e.g. '90s', '30m', '1h', '2d')")
    if seconds < 0:
        raise ValueError(f"{value!r} is negative")
    return seconds


class WindowConfig(BaseModel):
    """Tumbling windows, per model and version."""

    model_config = ConfigDict(extra="forbid")

    by: Literal["count", "time"] = "count"
    """Close a window after ``size`` records (count) or at the end of each ``duration`` (time)."""
    size: int = Field(default=1000, ge=1)
    """Records per window (count windows)."""
    duration: float = 300.0
    """Seconds per window (time windows), aligned on multiples of the duration since the epoch."""

    @field_validator("duration", mode="before")
    @classmethod
    def _duration(cls, value: object) -> float:
        seconds = parse_duration(value)
        if seconds <= 0:
            raise ValueError("the window duration must be positive")
        return seconds


class DetectionConfig(BaseModel):
    """When a column (or the prediction distribution) counts as drifted in one window.

    Small samples use p-value tests (KS for numeric columns, chi-square for categorical ones and
    predictions) at ``p_value``, Bonferroni-corrected across the columns; larger ones use distances
    (normed Wasserstein, Jensen–Shannon) against fixed thresholds, because a p-value on thousands of
    rows flags differences nobody cares about. Evidently's defaults; alibi-detect's correction.
    """

    model_config = ConfigDict(extra="forbid")

    min_samples: int = Field(default=100, ge=1)
    """Below this many values a column reports "not enough data" instead of a verdict."""
    min_labelled: int = Field(default=200, ge=1)
    """Below this many labelled records performance reports "not enough data"."""
    min_coverage: float = Field(default=0.05, ge=0, le=1)
    """Share of a window's records with feedback from which the window counts as labelled (rules' ``when``)."""
    distance_above: int = Field(default=1000, ge=1)
    """Use distances when both the window and the reference have more values than this."""
    p_value: float = Field(default=0.05, gt=0, lt=1)
    """Significance of the KS and chi-square tests (before the correction)."""
    bonferroni: bool = True
    """Divide ``p_value`` by the number of columns tested in the window (family-wise error)."""
    wasserstein: float = Field(default=0.1, gt=0)
    """Normed Wasserstein distance from which a numeric column counts as drifted."""
    jensen_shannon: float = Field(default=0.1, gt=0, le=1)
    """Jensen–Shannon distance from which a categorical column or the predictions count as drifted."""
