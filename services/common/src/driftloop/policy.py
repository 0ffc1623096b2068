"""The loop's configuration in one file: the policy (docs/policy.md).

A policy file is a rules file (``window``, ``detection``, ``rules``: what the telemetry-forwarder
watches and when it fires) plus a ``retrain`` block (what the retrain-controller does with a
firing: which training set, how long to search, when a challenger is promoted). The forwarder and
the controller read the same file (``DRIFTLOOP_POLICY``); with none, the packaged defaults apply.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from driftloop.drift.rules import RulesFile, load_rules_text, parse_rules
from driftloop.train.families_names import FAMILY_NAMES
from driftloop.trainingset import SINCE_CHANGE, QualityGate, Strategy


class TrainingPolicy(BaseModel):
    """The sweep of a retrain (the same meaning as ``driftloop train``'s flags)."""

    model_config = ConfigDict(extra="forbid")

    time_budget: float = Field(default=60.0, gt=0)
    """Seconds of search per retrain."""
    max_trials: int | None = Field(default=None, ge=1)
    """Upper bound on trials per retrain."""
    families: list[str] | None = None
    """Estimator families to search (default: all)."""
    seed: int = 0
    """Seed of the sweep and of the gate's bootstrap."""

    @field_validator("families")
    @classmethod
    def _known_families(cls, families: list[str] | None) -> list[str] | None:
        if families is None:
            return None
        unknown = [f for f in families if f not in FAMILY_NAMES]
        if unknown:
            raise ValueError(f"unknown families {unknown}; choose from {list(FAMILY_NAMES)}")
        if not families:
            raise ValueError("at least one family is needed (or leave 'families' out for all)")
        return list(dict.fromkeys(families))


class GatePolicy(BaseModel):
    """The promotion gate: challenger vs champion on the same holdout, a paired bootstrap CI of the gain."""

    model_config = ConfigDict(extra="forbid")

    margin: float = 0.0
    """The challenger is promoted only if the lower bound of the CI of its gain exceeds this."""
    bootstrap: int = Field(default=1000, ge=100)
    """Paired bootstrap resamples of the holdout."""
    confidence: float = Field(default=0.95, gt=0.5, lt=1.0)
    """Confidence level of the interval."""
    guardrail: float = Field(default=0.02, ge=0.0)
    """How much worse (relative) the guardrail metric (log loss / MAE) may get."""


class RetrainPolicy(BaseModel):
    """What the retrain-controller does with a ``retrain`` firing."""

    model_config = ConfigDict(extra="forbid")

    dataset: Strategy = Field(default_factory=Strategy)
    """The training set for a trigger without a change point. A trigger that carries one (a detected concept
    change) gets ``since_change`` at that point, with this block's holdout, min_rows, older_weight and seed."""
    quality: QualityGate | None = None
    """The training set's quality gate; none: the feature-engineering service's own."""
    training: TrainingPolicy = Field(default_factory=TrainingPolicy)
    """How long and what to search."""
    gate: GatePolicy = Field(default_factory=GatePolicy)
    """When a challenger replaces the champion."""

    @field_validator("dataset", mode="before")
    @classmethod
    def _default_is_not_a_change(cls, dataset: object) -> object:
        if isinstance(dataset, dict) and dataset.get("kind") == SINCE_CHANGE:
            raise ValueError(
                "kind 'since_change' is chosen by the controller when the trigger carries a change point; "
                "set the default for other triggers (source+recent, recent or source)"
            )
        return dataset


class Policy(RulesFile):
    retrain: RetrainPolicy = Field(default_factory=RetrainPolicy)
    """What a retrain is made of (training set, search budget, gate)."""


def parse_policy(text: str, *, source: str = "policy") -> Policy:
    """A policy without a ``rules`` key watches with the packaged rules; every other block left out
    takes its defaults too, so a file can say only what it changes (``rules: []`` watches nothing)."""
    packaged, _ = load_rules_text(None)
    defaults = (yaml.safe_load(packaged) or {}).get("rules", [])
    return parse_rules(text, source=source, model=Policy, default_rules=defaults)


def load_policy(path: Path | str | None = None) -> Policy:
    """The policy in ``path``, or the packaged defaults when ``path`` is None or empty."""
    text, source = load_rules_text(path or None)
    return parse_policy(text, source=source)
