"""The loop's configuration in one file: the policy (docs/policy.md).

A policy file is a rules file (``window``, ``detection``, ``rules``: what the telemetry-forwarder
watches and when it fires) plus a ``retrain`` block (what the retrain-controller does with a
firing: which training set, how long to search, when a challenger is promoted). The forwarder and
the controller read the same file (``DRIFTLOOP_POLICY``); with none, the packaged defaults apply.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from driftloop.drift.rules import RulesFile, load_rules_text, parse_rules


class RetrainPolicy(BaseModel):
    """What the retrain-controller does with a ``retrain`` firing."""

    model_config = ConfigDict(extra="forbid")


class Policy(RulesFile):
    retrain: RetrainPolicy = Field(default_factory=RetrainPolicy)
    """What a retrain is made of (training set, search budget, gate)."""


def parse_policy(text: str, *, source: str = "policy") -> Policy:
    return parse_rules(text, source=source, model=Policy)


def load_policy(path: Path | str | None = None) -> Policy:
    """The policy in ``path``, or the packaged defaults when ``path`` is None or empty."""
    text, source = load_rules_text(path or None)
    return parse_policy(text, source=source)
