"""The whole loop through the real services, as separate processes on 127.0.0.1:
traffic -> scoring -> bus -> forwarder (drift windows, rule) -> signed webhook -> controller job ->
feature-engineering dataset -> training -> gate -> promotion -> scoring answers with the new version.

Once on the embedded defaults (SQLite bus and store), once on Apache Kafka + PostgreSQL.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from integration_servers import new_topic
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import Session

from driftloop.demo.loop import LoopConfig, LoopOutcome, run_loop
from driftloop.demo.supervisor import Ports
from driftloop.registry import Registry
from driftloop.store import RetrainJob, RuleFiring, make_engine
from driftloop.store.settings import StoreSettings

pytestmark = pytest.mark.slow


def small_loop(home: Path, ports: Ports, **overrides: object) -> LoopConfig:
    fields: dict[str, object] = {
        "home": home,
        "ports": ports,
        "train_budget": 5.0,
        "retrain_budget": 5.0,
        "after_promotion": 300,
        "requests_per_second": 30.0,
        # No wall-clock deadline: the test waits for the outcome (closed, or a failure it reports);
        # only the suite's own time limit bounds it.
        "deadline_s": None,
    }
    return LoopConfig(**(fields | overrides))  # type: ignore[arg-type]


def check_loop_closed(outcome: LoopOutcome, config: LoopConfig) -> None:
    assert outcome.closed, outcome.reason
    assert outcome.failed == 0, outcome.failures
    assert outcome.champion_before == 1
    assert outcome.promoted_version == 2
    # The swap is atomic for the callers: from its first answer on, only the new champion answers.
    assert outcome.versions_after_served == {2: config.after_promotion}
    assert Registry(config.home / "registry").aliases("credit")["champion"] == 2

    engine = make_engine(StoreSettings(url=outcome.store_url, pool_size=1))
    try:
        with Session(engine) as session:
            query = select(RuleFiring).where(RuleFiring.action == "retrain").order_by(RuleFiring.recorded_at)
            firings = list(session.execute(query).scalars())
            jobs = list(session.execute(select(RetrainJob).order_by(RetrainJob.created_at)).scalars())
    finally:
        engine.dispose()
    # The packaged policy: the concept-drift detector on the labelled stream asked for the retrain, its
    # signed webhook was accepted, and it made exactly one job. Later firings can only be follow-ups
    # of the promoted change (the records since it doubled), each with a job of its own.
    first, *follow_ups = firings
    assert (first.rule, first.delivery_status, first.http_status) == ("concept-drift", "delivered", 202)
    assert all(f.body["summary"]["alarm"] == "follow_up" for f in follow_ups), [f.body for f in follow_ups]
    # (a follow-up fired as the demo stopped may not have reached the controller yet)
    assert jobs[0].idempotency_key == first.id
    assert [j.idempotency_key for j in jobs] == [f.id for f in firings][: len(jobs)]
    assert jobs[0].state == "succeeded"
    decision = jobs[0].decision
    assert decision is not None
    assert decision["outcome"] == "promoted"
    assert decision["ci"][0] > 0.0, decision
    assert jobs[0].dataset_id
    # The promoted model ranks post-drift applicants clearly better than the old one did.
    new, old = outcome.auc["after_promotion_new_champion"], outcome.auc["after_promotion_without_retraining"]
    assert new is not None
    assert old is not None
    assert new > old + 0.05, outcome.auc


def test_the_loop_closes_on_embedded_defaults(tmp_path: Path, ports: Ports) -> None:
    config = small_loop(tmp_path / "home", ports)
    with (tmp_path / "story.txt").open("w") as story:
        outcome = run_loop(config, Console(file=story, width=160))
    check_loop_closed(outcome, config)
    assert outcome.store_url.startswith("sqlite:///")
    # The story was told from what the services recorded, in order.
    told = (tmp_path / "story.txt").read_text()
    milestones = [
        "window  0 of v1 (300 records): roc_auc",
        # (no window verdict here: the detector on the labels can fire before a bad window closes)
        "rule concept-drift fired on window",
        "webhook delivered (HTTP 202)",
        "succeeded (trigger drift:concept-drift)",
        "decision: promoted",
        "Scoring answers with version 2",
        "0 failed scoring requests",
        "stopped 4 services",
    ]
    positions = [told.find(milestone) for milestone in milestones]
    assert all(p >= 0 for p in positions), dict(zip(milestones, positions, strict=True))
    assert positions == sorted(positions), dict(zip(milestones, positions, strict=True))


def test_the_loop_closes_on_kafka_and_postgresql(
    tmp_path: Path, ports: Ports, kafka_broker: str, fresh_database: str
) -> None:
    topic = asyncio.run(new_topic(kafka_broker, partitions=1, prefix="e2e"))
    config = small_loop(tmp_path / "home", ports, bus_url=f"kafka://{kafka_broker}/{topic}", store_url=fresh_database)
    with (tmp_path / "story.txt").open("w") as story:
        outcome = run_loop(config, Console(file=story, width=160))
    check_loop_closed(outcome, config)
    assert outcome.store_url.startswith("postgresql")
