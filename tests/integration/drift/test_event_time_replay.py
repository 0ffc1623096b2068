"""Event time through the whole path: real scoring, the embedded bus, the forwarder, its store.

An hour of history is replayed through the scoring API with each record's event time, once in two
large requests (per-record lists) and once in 361 small ones (one time per request). The windows
(5 minutes of event time), their statistics and the rule firings (cooldown 15 minutes of event time)
must be the same, ids included: the replay takes seconds of wall time, so any wall-clock time in
windows or cooldowns would show as a difference.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pandas as pd
from drift_stream import credit_frame, forwarder, rows, scalar, wait_until

from driftloop.registry import Registry
from driftloop.report.data import ReportData
from driftloop.store import make_engine
from driftloop.store.settings import StoreSettings
from driftloop.telemetry.settings import BusSettings
from driftloop_forwarder.settings import DriftSettings, ForwarderSettings, ForwardSettings
from driftloop_scoring.app import create_app as create_scoring
from driftloop_scoring.settings import AuthSettings, ScoringRegistrySettings, ScoringSettings

HOUR = 1_767_268_800.0  # 2026-01-01T12:00:00Z: a year before this test runs, on a 5-minute boundary
GROUP = 5  # records that share an event time; groups are 10 s apart, 30 per 5-minute window
POLICY = """
window: {by: time, duration: 5m}
rules:
  - {name: feature-drift, statistic: drift, columns: any, consecutive: 2, cooldown: 15m, action: alert}
  - {name: prediction-drift, statistic: prediction_drift, consecutive: 2, cooldown: 15m, action: alert}
"""


def _history() -> tuple[list[dict[str, Any]], list[float]]:
    """1,800 credit records over an hour of event time (the second half with credit_score shifted
    by one standard deviation), and one record at the hour's end that closes the last window."""
    frame = pd.concat([credit_frame(3, seed=41), credit_frame(3, seed=42, shift=1.0), credit_frame(1, seed=43)[:1]])
    frame = frame.drop(columns=["default"])
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    times = [HOUR + 10.0 * (i // GROUP) for i in range(1800)] + [HOUR + 3600.0]
    return records, times


def _settings(registry: Registry, root: Path) -> tuple[ScoringSettings, ForwarderSettings]:
    root.mkdir()
    bus = BusSettings(url=f"sqlite:///{root / 'bus.db'}", spill_path=root / "spill", poll_timeout_ms=20)
    policy = root / "policy.yaml"
    policy.write_text(POLICY)
    scoring = ScoringSettings(
        registry=ScoringRegistrySettings(path=registry.root, poll_interval_s=0), bus=bus, auth=AuthSettings()
    )
    forwarding = ForwarderSettings(
        registry={"path": registry.root},
        bus=bus,
        store=StoreSettings(url=f"sqlite:///{root / 'store.db'}"),
        forward=ForwardSettings(batch_size=200),
        policy=str(policy),
        drift=DriftSettings(retrain_poll_s=0.1, flush_interval_s=0.1),  # the timer runs all along
    )
    return scoring, forwarding


@asynccontextmanager
async def scoring(settings: ScoringSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_scoring(settings)
    async with app.router.lifespan_context(app):  # on exit the publisher flushes every event
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://scoring") as client:
            yield client


async def _post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(path, json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def _replay(
    registry: Registry, root: Path, requests: list[tuple[int, int]], per_record: bool
) -> ForwarderSettings:
    """Send the history in ``requests`` ((first, stop) record ranges), then run the forwarder over it."""
    scoring_settings, settings = _settings(registry, root)
    records, times = _history()
    async with scoring(scoring_settings) as client:
        for first, stop in requests:
            event_time: Any = times[first:stop] if per_record else times[first]
            await _post(client, "/v1/models/credit/predict", {"records": records[first:stop], "event_time": event_time})
    async with forwarder(settings) as app:
        await wait_until(lambda: app.state.forwarder.stats.lag == 0 and app.state.drift.stats.windows == 12, "windows")
    return settings


def test_a_replayed_hour_gives_the_same_windows_and_firings_however_it_is_sent(
    registry: Registry, tmp_path: Path
) -> None:
    burst = [(0, 900), (900, 1800), (1800, 1801)]
    small = [(first, first + GROUP) for first in range(0, 1800, GROUP)] + [(1800, 1801)]
    assert len(small) == 361
    runs = [
        asyncio.run(_replay(registry, tmp_path / "burst", burst, per_record=True)),
        asyncio.run(_replay(registry, tmp_path / "small", small, per_record=False)),
    ]
    results = []
    for settings in runs:
        engine = make_engine(settings.store)
        assert scalar(engine, "SELECT count(*) FROM predictions") == 1801
        windows = rows(
            engine,
            "SELECT window_index, window_start, window_end, column_name, statistic, value, threshold, drifted, n"
            " FROM drift_metrics ORDER BY window_index, column_name, statistic",
        )
        firings = rows(
            engine, "SELECT id, rule, window_index, fired_at, body FROM rule_firings ORDER BY window_index, rule"
        )
        results.append((windows, firings))
        spans = rows(engine, "SELECT DISTINCT window_index, window_start, window_end FROM drift_metrics")
        assert len(spans) == 12
    (burst_windows, burst_firings), (small_windows, small_firings) = results
    assert burst_windows == small_windows
    assert burst_firings == small_firings
    # The windows are the hour's twelve 5-minute slots, and the cooldown counted in event time:
    # feature drift from window 6 on fires at window 7 (two in a row), then again 15 minutes later.
    spans = sorted({(index, start, end) for index, start, end, *_ in burst_windows})
    assert [index for index, _, _ in spans] == list(range(12))
    assert str(spans[0][1]).startswith("2026-01-01 12:00:00")
    assert str(spans[11][2]).startswith("2026-01-01 13:00:00")
    feature = [
        (index, orjson.loads(body)["window"]["start"])  # JSON text as SQLite hands it back
        for _, rule, index, _, body in burst_firings
        if rule == "feature-drift"
    ]
    assert [index for index, _ in feature] == [7, 10]
    assert feature[0][1].startswith("2026-01-01T12:35:00")


def test_feedback_event_time_is_stored_and_the_report_buckets_by_event_time(registry: Registry, tmp_path: Path) -> None:
    scoring_settings, settings = _settings(registry, tmp_path / "run")
    records, times = _history()

    async def scenario() -> None:
        async with scoring(scoring_settings) as client:
            answers = []
            for first in range(0, 1800, 150):  # one request per 5-minute slot, each record its time
                body = {"records": records[first : first + 150], "event_time": times[first : first + 150]}
                answers.append(await _post(client, "/v1/models/credit/predict", body))
            labels = [
                {"id": row["id"], "actual": row["prediction"], "event_time": "2026-01-02T00:00:00Z"}
                for row in answers[0]["predictions"][:100]
            ]
            await _post(client, "/v1/models/credit/feedback", labels)  # type: ignore[arg-type]
        async with forwarder(settings):
            await wait_until(
                lambda: (
                    scalar(engine, "SELECT count(*) FROM predictions") == 1800
                    and scalar(engine, "SELECT count(*) FROM feedback") == 100
                ),
                "every event stored",
            )

    engine = make_engine(settings.store)
    asyncio.run(scenario())
    stored = rows(engine, "SELECT DISTINCT time FROM feedback")
    assert [str(t).startswith("2026-01-02 00:00:00") for (t,) in stored] == [True]
    assert scalar(engine, "SELECT count(*) FROM feedback WHERE received_at > time") == 100
    # The dashboard's and `driftloop report`'s data: the range is the replayed hour, not today.
    data = ReportData(engine, registry).everything("credit", None, None)
    assert data["since"].startswith("2026-01-01T12:00")
    volume = data["charts"]["volume"]
    assert sum(volume["records"]) == 1800
    assert all(t.startswith("2026-01-01T12") for t in volume["time"])
    performance = data["charts"]["performance"]
    assert performance["total_labelled"] == 100
    # The labels count where their predictions happened (the first 100 records: 12:00 to 12:03:10),
    # not when the labels came (a day later) nor when they were sent (today).
    labelled = {t: n for t, n in zip(performance["time"], performance["labelled"], strict=True) if n}
    assert sum(labelled.values()) == 100
    assert min(labelled) == "2026-01-01T12:00:00Z"
    assert max(labelled) < "2026-01-01T12:03:11Z"
