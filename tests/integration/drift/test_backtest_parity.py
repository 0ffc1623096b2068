"""The backtest's drift stage and the live forwarder decide the same on the same stream.

``driftloop backtest`` feeds ``DriftStage`` directly; the telemetry-forwarder feeds it what it
consumed and stored. A credit stream with a concept change half-way, with the packaged default
policy, goes through both: the same firings (ids, rules, change points) come out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import orjson
import pandas as pd
from drift_stream import Receiver, Scorer, credit_frame, forwarder, publish, rows, serving, wait_until
from integration_servers import free_port

from driftloop.datasets import make_credit
from driftloop.drift.reference import registry_references
from driftloop.drift.stage import DriftStage
from driftloop.policy import load_policy
from driftloop.registry import Registry
from driftloop.store import make_engine
from driftloop.telemetry.parse import FeedbackData, PredictionData, parse_event
from driftloop_forwarder.settings import DriftSettings, ForwarderSettings


def stage_firings(events: list[dict], registry: Registry) -> list[tuple[str, str, object]]:
    stage = DriftStage(load_policy(), registry_references(registry))
    fired = []
    for event in events:
        parsed = parse_event(orjson.dumps(event))
        data = parsed.data
        if isinstance(data, PredictionData):
            out = stage.prediction(
                data.model, data.version, data.request_id, data.records, data.predictions,
                probabilities=data.probabilities, times=parsed.time.timestamp(),
            )  # fmt: skip
        elif isinstance(data, FeedbackData):
            out = stage.feedback(data.model, data.request_id, data.record_index, data.actual)
        else:
            continue
        fired += [(f.id, f.rule, f.change_point) for f in out.firings]
    return fired


def test_the_forwarder_fires_what_the_backtest_stage_fires(
    scorer: Scorer, registry: Registry, make_settings: Callable[..., ForwarderSettings]
) -> None:
    before = credit_frame(8, seed=31)
    after = pd.DataFrame(make_credit(len(before), seed=32, drift="concept"))
    events = scorer.events(pd.concat([before, after], ignore_index=True))
    expected = stage_firings(events, registry)
    assert any(rule == "concept-drift" for _, rule, _ in expected), "the stream must exercise the detector"

    receiver = Receiver()
    with serving(receiver.app(), free_port()) as url:
        drift = DriftSettings(rules="", retrain_poll_s=0.1, flush_interval_s=0.1)  # the packaged policy
        settings = make_settings(webhook_url=f"{url}/v1/retrain", drift=drift)
        engine = make_engine(settings.store)

        async def scenario() -> None:
            await publish(settings.bus, events)
            async with forwarder(settings) as app:
                await wait_until(lambda: app.state.forwarder.stats.events == len(events), "every event stored")
            # Leaving the forwarder drained the drift queue: every firing is in the store.

        asyncio.run(scenario())

    stored = rows(engine, "SELECT id, rule, body FROM rule_firings ORDER BY fired_at, id")
    live = sorted((i, rule, (orjson.loads(body) if isinstance(body, str) else body)["change_point"])
                  for i, rule, body in stored)  # fmt: skip
    assert live == sorted(expected)
