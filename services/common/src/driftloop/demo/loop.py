"""The whole loop on one machine: train, serve, send traffic, drift, fire, retrain, promote, recover.

``run_loop`` is what ``driftloop demo``, the end-to-end tests and ``bench/loop_demo.py`` run. It
starts the four services through the ``Supervisor`` under a fresh home, and stops them whatever
happens (Ctrl-C and errors included). The outcome says whether the loop closed — the rule fired,
a challenger was promoted and scoring answered with it — with the timings and scores behind it.
"""

from __future__ import annotations

import json
import secrets
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from driftloop.demo.story import Narrator
from driftloop.demo.supervisor import Ports, Supervisor, home_environment, service_specs
from driftloop.demo.traffic import MODEL, Answered, TrafficGenerator, auc_of
from driftloop.demo.watch import JobWatcher, StoreWatcher
from driftloop.registry import Registry

POLL_EVERY_S = 0.5
POLICY_FILE = "policy.yaml"
FINISHED = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class LoopConfig:
    home: Path
    ports: Ports = field(default_factory=Ports)
    train_budget: float = 20.0
    retrain_budget: float = 15.0
    window: int = 300
    threshold: float = 0.1
    """The packaged performance-drop alert's threshold, shown with each window."""
    before_drift: int = 1500
    after_promotion: int = 900
    batch: int = 10
    requests_per_second: float = 15.0
    deadline_s: float | None = 240.0
    """How long the demo waits for the loop to close; None: until it closes or fails (the e2e tests)."""
    recent: int = 450
    holdout: int = 150
    bus_url: str | None = None
    store_url: str | None = None
    seed: int = 0


@dataclass
class LoopOutcome:
    closed: bool = False
    reason: str = ""
    champion_before: int | None = None
    promoted_version: int | None = None
    job: dict[str, Any] | None = None
    drift_at: float | None = None
    fired_at: float | None = None
    promoted_at: float | None = None
    served_at: float | None = None
    requests: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)
    auc: dict[str, float | None] = field(default_factory=dict)
    store_url: str = ""
    versions_after_served: dict[int, int] = field(default_factory=dict)
    """Model versions of the answers from the first one by the new champion on (zero-downtime swap)."""


def policy_yaml(config: LoopConfig) -> str:
    """The demo's policy (docs/policy.md): the packaged rules (the concept-drift detector retrains),
    small windows so the narration has something to show, and a short search."""
    return f"""\
window: {{by: count, size: {config.window}}}
detection: {{min_samples: 100, min_labelled: {config.window // 2}}}
retrain:
  dataset: {{kind: recent, recent: {config.recent}, holdout: {config.holdout}}}
  training: {{time_budget: {config.retrain_budget}, seed: {config.seed}}}
"""


def loop_environment(config: LoopConfig, secret: str) -> dict[str, dict[str, str]]:
    """Per-service settings the loop needs on top of the shared home."""
    home = config.home.resolve()
    policy = str(home / POLICY_FILE)
    return {
        "scoring": {"DRIFTLOOP_REGISTRY__POLL_INTERVAL_S": "0.5"},
        "features": {"DRIFTLOOP_FEATURES__SOURCES": json.dumps({MODEL: str(home / "credit.csv")})},
        "forwarder": {
            "DRIFTLOOP_DRIFT__ENABLED": "true",
            "DRIFTLOOP_POLICY": policy,
            "DRIFTLOOP_DRIFT__RETRAIN_POLL_S": "1",
            "DRIFTLOOP_WEBHOOK__SECRET": secret,
        },
        "controller": {
            "DRIFTLOOP_WEBHOOK__SECRET": secret,
            "DRIFTLOOP_POLICY": policy,
        },
    }


def prepare_home(config: LoopConfig, console: Console | None) -> Registry:
    """A fresh home with the credit model trained and registered, and the policy file."""
    from driftloop.cli.demo import train_demo_model

    if config.home.exists():
        shutil.rmtree(config.home)
    config.home.mkdir(parents=True)
    (config.home / POLICY_FILE).write_text(policy_yaml(config))
    registry = Registry(config.home / "registry")
    train_demo_model(registry, home=config.home, time_budget=config.train_budget, seed=config.seed, console=console)
    return registry


def run_loop(config: LoopConfig, console: Console, *, trained: bool = False) -> LoopOutcome:
    """Run the demo end to end; never leaves a service running. ``trained``: the home is ready."""
    story = Narrator(console, config.threshold)
    if not trained:
        story.step(1, "Training the champion")
        prepare_home(config, console)
    registry = Registry(config.home / "registry")
    secret = secrets.token_hex(16)
    shared = home_environment(config.home, bus_url=config.bus_url, store_url=config.store_url)
    specs = service_specs(config.home, config.ports, shared=shared, extra=loop_environment(config, secret))
    supervisor = Supervisor(specs, config.home)
    story.step(2, "Starting the services")
    supervisor.start()
    try:
        for name, url in supervisor.urls().items():
            story.say(f"  {name:<11} {url}   (log: {supervisor.log_path(name)})")
        return _drive(config, story, supervisor, registry, shared["DRIFTLOOP_STORE__URL"])
    finally:
        supervisor.stop()
        story.say(f"  stopped {len(specs)} services")


def _drive(
    config: LoopConfig, story: Narrator, supervisor: Supervisor, registry: Registry, store_url: str
) -> LoopOutcome:
    from driftloop.store import make_engine
    from driftloop.store.settings import StoreSettings

    outcome = LoopOutcome(champion_before=registry.aliases(MODEL).get("champion"), store_url=store_url)
    urls = supervisor.urls()
    engine = make_engine(StoreSettings(url=store_url, pool_size=1))
    with httpx.Client(timeout=30.0) as client:
        traffic = TrafficGenerator(client, urls["scoring"], batch=config.batch, seed=1000 + config.seed)
        store = StoreWatcher(engine, MODEL)
        jobs = JobWatcher(client, urls["controller"], MODEL)
        story.step(3, f"Traffic before the drift ({config.before_drift:,} applications, labels follow)")
        started = time.monotonic()
        next_poll = started
        served_from = 0
        while True:
            now = time.monotonic()
            if config.deadline_s is not None and now - started > config.deadline_s:
                outcome.reason = f"the loop did not close within {config.deadline_s:.0f} s"
                break
            if not traffic.drifted and traffic.log.records >= config.before_drift:
                traffic.drifted = True
                outcome.drift_at = time.time()
                story.step(4, "Concept drift: the relationship between applicants and default changes")
                story.say("  (same applicants, new outcomes: only the labels can tell)")
            traffic.send()
            if now >= next_poll:
                next_poll = now + POLL_EVERY_S
                supervisor.check()
                _observe(store, jobs, story, outcome)
                if outcome.reason:
                    break
            promoted = outcome.promoted_version
            if promoted is not None and outcome.served_at is None and promoted in traffic.log.first_answer:
                outcome.served_at, served_from = traffic.log.first_answer[promoted]
                story.step(7, f"Scoring answers with version {promoted}")
            if outcome.served_at is not None and len(traffic.log.answered) - served_from >= config.after_promotion:
                outcome.closed = True
                break
            # Paced like production traffic (and leaves CPU to the retraining on a small machine).
            time.sleep(max(0.0, started + traffic.log.requests / config.requests_per_second - time.monotonic()))
        traffic.flush_feedback()
    engine.dispose()
    outcome.requests, outcome.failed, outcome.failures = traffic.log.requests, traffic.log.failed, traffic.log.failures
    for answer in traffic.log.answered[served_from:] if outcome.served_at is not None else []:
        outcome.versions_after_served[answer.version] = outcome.versions_after_served.get(answer.version, 0) + 1
    if outcome.failed:
        outcome.closed = False
        outcome.reason = outcome.reason or f"{outcome.failed} scoring requests failed"
    _summarise(story, registry, traffic.log.answered, served_from, outcome)
    return outcome


def _observe(store: StoreWatcher, jobs: JobWatcher, story: Narrator, outcome: LoopOutcome) -> None:
    for window in store.windows():
        story.window(window)
    for firing, new in store.firings():
        if firing.action == "retrain" and outcome.fired_at is None:
            outcome.fired_at = firing.recorded_at.replace(tzinfo=firing.recorded_at.tzinfo or UTC).timestamp()
            story.step(5, "A drift rule fires")
        story.firing(firing, new)
    for job, lines, state_changed in jobs.poll():
        if outcome.job is None:
            story.step(6, "Retraining")
        outcome.job = job
        story.job(job, lines, state_changed)
        if job["state"] not in FINISHED or not state_changed:
            continue
        decision = job.get("decision") or {}
        if decision.get("metric"):
            story.decision(decision)
        if decision.get("outcome") == "promoted":
            outcome.promoted_version = int(job["challenger_version"])
            finished = datetime.fromisoformat(job["finished_at"])
            outcome.promoted_at = finished.replace(tzinfo=finished.tzinfo or UTC).timestamp()
        else:
            why = job.get("error") or decision.get("reasons")
            outcome.reason = f"retrain job {job['id']} ended {job['state']} without a promotion: {why}"


def _summarise(
    story: Narrator, registry: Registry, answered: list[Answered], served_from: int, outcome: LoopOutcome
) -> None:
    story.step(8, "How the models did")
    before = [a for a in answered if not a.drifted]
    after_old = [a for a in answered[:served_from] if a.drifted and a.version == outcome.champion_before]
    after_new = [a for a in answered[served_from:] if a.drifted and a.version == outcome.promoted_version]
    outcome.auc = {
        "before_drift": auc_of(before),
        "after_drift_old_champion": auc_of(after_old),
        "after_promotion_new_champion": auc_of(after_new),
    }
    rows: list[tuple[str, str, int, float | None]] = [
        ("before the drift", f"v{outcome.champion_before}", len(before), outcome.auc["before_drift"]),
        ("after the drift", f"v{outcome.champion_before}", len(after_old), outcome.auc["after_drift_old_champion"]),
    ]
    if after_new:
        without = _old_champion_scores(registry, outcome.champion_before, after_new)
        outcome.auc["after_promotion_without_retraining"] = without
        rows.append(
            (
                "after the promotion",
                f"v{outcome.promoted_version}",
                len(after_new),
                outcome.auc["after_promotion_new_champion"],
            )
        )
        rows.append(("same records, no retraining", f"v{outcome.champion_before}", len(after_new), without))
    story.summary(rows, outcome.failed, outcome.requests)
    if outcome.fired_at and outcome.served_at:
        story.say(f"  from the rule firing to the new champion answering: {outcome.served_at - outcome.fired_at:.1f} s")


def _old_champion_scores(registry: Registry, version: int | None, answers: list[Answered]) -> float | None:
    """ROC AUC the old champion would have had on the same records (its ONNX graph, run here)."""
    import numpy as np
    import pandas as pd

    from driftloop.demo.traffic import roc_auc
    from driftloop.train.parity import onnx_output, onnx_session

    if version is None:
        return None
    bundle = registry.resolve(MODEL, version)
    frame = pd.DataFrame([a.record for a in answers])
    scores = onnx_output(onnx_session(bundle.model_path.read_bytes()), frame, bundle.contract)[:, 1]
    return roc_auc(np.array([a.label for a in answers]), scores)
