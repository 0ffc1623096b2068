"""Bounds where events are made: what the telemetry store cannot hold is refused with a 4xx naming the
field, or normalised in the event that records it (docs/scoring.md, "Bounds").

Each refused case once reached a 500 or was answered 200 and then poisoned the forwarder. The last
test stores everything the service published, at and past the bounds, in a real SQLite store and
finds nothing to dead-letter (the PostgreSQL twin is in tests/integration/poison).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from scoring_bundles import credit_records
from scoring_client import bus_events, started_client

from driftloop.store import StoreSettings, count_rows, make_engine, upgrade
from driftloop.store.poison import store_batch
from driftloop.telemetry.bounds import DEPTH_REASON, MAX_DEPTH, MAX_NAME, MAX_RECORD_INDEX, NUL_REASON
from driftloop.telemetry.bus.base import Record
from driftloop.telemetry.parse import parse_records
from driftloop_scoring.app import create_app
from driftloop_scoring.settings import LimitsSettings, ScoringSettings

pytestmark = pytest.mark.anyio

Tally = Callable[[str, object], None]


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for k, v in value.items() for text in (k, *strings(v))]
    if isinstance(value, list):
        return [text for item in value for text in strings(item)]
    return []


def record_with(**fields: Any) -> dict[str, Any]:
    return {**credit_records(1)[0], **fields}


FEEDBACK_REFUSALS = [
    (
        "record_index beyond 64 bits",
        {"request_id": "r", "record_index": 18446744073709551615, "actual": 1},
        "record_index",
    ),
    (
        "record_index beyond 32 bits",
        {"request_id": "r", "record_index": MAX_RECORD_INDEX + 1, "actual": 1},
        "record_index",
    ),
    ("id with a 30-digit suffix", {"id": "r:" + "9" * 30, "actual": 1}, "id"),
    ("id with a 10-digit suffix past the bound", {"id": f"r:{MAX_RECORD_INDEX + 1}", "actual": 1}, "id"),
    ("id with a superscript digit", {"id": "r:\u00b2", "actual": 1}, "id"),
    ("id with an Arabic-Indic digit", {"id": "r:\u0662", "actual": 1}, "id"),
    ("request_id with NUL", {"request_id": "r\x00", "actual": 1}, "request_id"),
    ("id whose request_id has NUL", {"id": "r\x00:1", "actual": 1}, "id"),
    ("request_id of 201 characters", {"request_id": "r" * (MAX_NAME + 1), "actual": 1}, "request_id"),
]


@pytest.mark.parametrize(
    ("item", "field"), [case[1:] for case in FEEDBACK_REFUSALS], ids=[c[0] for c in FEEDBACK_REFUSALS]
)
async def test_feedback_that_cannot_be_stored_is_a_422_naming_the_field(
    client: httpx.AsyncClient, item: dict[str, object], field: str, record_property: Tally
) -> None:
    response = await client.post("/v1/models/credit/feedback", json=item)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["column"] == field
    record_property("tally", ("scoring bounds", {"4xx cases": 1}))


PREDICT_REFUSALS = [
    ("NUL in a category", {"region": "no\x00rth"}, "region", NUL_REASON),
    ("NUL in the target field", {"default": "ye\x00s"}, "default", NUL_REASON),
    ("NUL in a key of an unknown field", {"no\x00te": "x"}, "no\x00te", "not an input of this model"),
]


@pytest.mark.parametrize(
    ("fields", "column", "reason"), [c[1:] for c in PREDICT_REFUSALS], ids=[c[0] for c in PREDICT_REFUSALS]
)
async def test_records_with_text_the_store_cannot_hold_are_a_422_naming_record_and_column(
    client: httpx.AsyncClient, fields: dict[str, Any], column: str, reason: str, record_property: Tally
) -> None:
    records = [credit_records(1)[0], record_with(**fields)]
    response = await client.post("/v1/models/credit/predict", json={"records": records})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"] == [{"record": 1, "column": column, "reason": reason}]
    record_property("tally", ("scoring bounds", {"4xx cases": 1}))


async def test_ignored_fields_are_kept_as_sent_so_they_are_checked_too(
    settings: ScoringSettings, record_property: Tally
) -> None:
    ignoring = settings.model_copy(update={"limits": LimitsSettings(extra_columns="ignore")})

    def body(note: str) -> bytes:
        return orjson.dumps({"records": [record_with(note="NOTE")]}).replace(b'"NOTE"', note.encode())

    async for client in started_client(create_app(ignoring)):
        kept = await client.post("/v1/models/credit/predict", content=body("[" * MAX_DEPTH + "1" + "]" * MAX_DEPTH))
        assert kept.status_code == 200, kept.text  # ignored fields are recorded in the event as sent ...
        cases = {
            '{"deep": ["x", {"k\\u0000": 1}]}': NUL_REASON,
            "[" * 1000 + "1" + "]" * 1000: DEPTH_REASON,  # answered 200 before, and its event dropped
        }
        for note, reason in cases.items():
            refused = await client.post("/v1/models/credit/predict", content=body(note))
            assert refused.status_code == 422, note[:40]  # ... so they must be recordable
            assert refused.json()["error"]["details"] == [{"record": 0, "column": "note", "reason": reason}]
            record_property("tally", ("scoring bounds", {"4xx cases": 1}))
    assert len(await bus_events(ignoring)) == 3  # one prediction and two refusals: nothing dropped


async def test_v2_bytes_with_nul_are_a_400(client: httpx.AsyncClient, record_property: Tally) -> None:
    record = record_with(region="no\x00rth")
    inputs = [
        {"name": k, "datatype": "BYTES" if isinstance(v, str) else "FP32", "shape": [1], "data": [v]}
        for k, v in record.items()
    ]
    response = await client.post("/v2/models/credit/infer", json={"inputs": inputs})
    assert response.status_code == 400, response.text
    assert "'region'" in response.json()["error"]
    record_property("tally", ("scoring bounds", {"4xx cases": 1}))


async def test_a_lone_surrogate_is_not_json(client: httpx.AsyncClient, record_property: Tally) -> None:
    body = orjson.dumps({"records": [record_with(region="REGION")]}).replace(b"REGION", b"\\ud800")
    response = await client.post("/v1/models/credit/predict", content=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"
    record_property("tally", ("scoring bounds", {"4xx cases": 1}))


async def test_everything_published_at_and_past_the_bounds_can_be_stored(
    settings: ScoringSettings, tmp_path: Path, record_property: Tally
) -> None:
    async for client in started_client(create_app(settings)):
        answered = await client.post("/v1/models/credit/predict", json={"records": credit_records(2)})
        request_id = answered.json()["request_id"]
        accepted = [
            {"request_id": request_id, "record_index": MAX_RECORD_INDEX, "actual": 1},
            {"id": f"{request_id}:{MAX_RECORD_INDEX}", "actual": 0},
            {"request_id": "r" * MAX_NAME, "actual": 1},
        ]
        assert (await client.post("/v1/models/credit/feedback", json=accepted)).status_code == 200
        long_name = "m" * 250
        assert (await client.post(f"/v1/models/{long_name}/predict", json={"records": []})).status_code == 404
        assert (await client.post("/v1/models/cr%00edit/predict", json={"records": []})).status_code == 404
        assert (await client.post("/v1/models/credit/predict", content=b'{"records": [\x00]}')).status_code == 400
        refused = await client.post("/v1/models/credit/predict", json={"records": [record_with(**{"no\x00te": 1})]})
        assert refused.status_code == 422
        for _, item, _ in FEEDBACK_REFUSALS:
            assert (await client.post("/v1/models/credit/feedback", json=item)).status_code == 422
    events = await bus_events(settings)
    rejected = [e["data"] for e in events if e["type"] == "driftloop.rejected"]
    # Recorded, normalised (each model's events travel in messages of their own: found by content).
    assert {"m" * MAX_NAME, "cr\ufffdedit"} <= {data["model"] for data in rejected}
    assert any(data["status"] == 400 and "[\ufffd]" in data["body"] for data in rejected)
    columns = [d.get("column") for data in rejected for d in data["error"].get("details") or [] if isinstance(d, dict)]
    assert "no\ufffdte" in columns
    assert not any("\x00" in text for text in strings(events))  # no NUL anywhere, keys included

    engine = make_engine(StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}"))
    upgrade(engine)
    batch = parse_records([Record(orjson.dumps(e), None, 0, i) for i, e in enumerate(events)])
    assert batch.dead_letters == []
    outcome = store_batch(engine, batch, lambda event: event.id)
    assert outcome.poisoned == []
    counts = count_rows(engine)
    assert counts == {"predictions": 2, "feedback": 3, "rejected": 4 + len(FEEDBACK_REFUSALS), "dead_letters": 0}
    record_property("tally", ("scoring bounds", {"events stored": len(events), "dead letters": 0}))
