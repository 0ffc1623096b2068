"""Event time on the scoring API: v1 ``event_time``, V2 ``parameters.event_time``, feedback's
``event_time``; what the events carry, and refusals that name the field."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from scoring_bundles import credit_records
from scoring_client import bus_events, started_client
from test_v2_api import v2_request

from driftloop.telemetry.parse import parse_event
from driftloop_scoring.app import create_app
from driftloop_scoring.settings import ScoringSettings

pytestmark = pytest.mark.anyio

PREDICT = "/v1/models/credit/predict"
NOON = 1_795_780_800.0  # 2026-11-27T12:00:00Z


async def test_the_events_carry_the_requests_event_time(settings: ScoringSettings) -> None:
    async for client in started_client(create_app(settings)):
        metadata = (await client.get("/v2/models/credit")).json()
        bodies: list[tuple[str, dict[str, Any]]] = [
            (PREDICT, {"records": credit_records(2)}),
            (PREDICT, {"records": credit_records(2), "event_time": "2026-11-27T13:00:00+01:00"}),
            (PREDICT, {"records": credit_records(3), "event_time": [NOON, "2026-11-27T12:00:01Z", NOON + 2]}),
            (PREDICT, {"records": credit_records(1), "event_time": None}),
            (
                "/v2/models/credit/infer",
                {**v2_request(metadata, credit_records(2)), "parameters": {"event_time": [NOON + 5, NOON + 6]}},
            ),
        ]
        for path, body in bodies:
            response = await client.post(path, json=body)
            assert response.status_code == 200, response.text
    events = await bus_events(settings)
    carried = [event["data"].get("event_time", "absent") for event in events]
    # Carried as sent (checked, not reformatted); absent when the request had none.
    assert carried == [
        "absent",
        "2026-11-27T13:00:00+01:00",
        [NOON, "2026-11-27T12:00:01Z", NOON + 2],
        "absent",
        [NOON + 5, NOON + 6],
    ]
    parsed = [parse_event(orjson.dumps(event)) for event in events]
    envelope = parsed[0].time.timestamp()
    assert [p.data.record_times(p.time) for p in parsed[:2]] == [envelope, NOON]
    assert parsed[2].data.event_times == [NOON, NOON + 1, NOON + 2]
    assert parsed[1].data.event_times == [NOON, NOON]
    assert parsed[0].data.event_times is None


@pytest.mark.parametrize(
    ("event_time", "field", "reason"),
    [
        ("noon", "event_time", "'noon' is not an RFC 3339 / ISO 8601 time"),
        (True, "event_time", "got a boolean"),
        (1e12, "event_time", "outside the years 1 to 9999"),
        ([NOON], "event_time", "has 1 values for 2 records: give one value, or one per record"),
        ([NOON, "2026-13-01T00:00:00Z"], "event_time[1]", "is not an RFC 3339 / ISO 8601 time"),
        ([NOON, {"at": NOON}], "event_time[1]", "got a dict"),
    ],
)
async def test_a_bad_event_time_is_a_422_naming_the_field(
    settings: ScoringSettings, event_time: Any, field: str, reason: str
) -> None:
    async for client in started_client(create_app(settings)):
        response = await client.post(PREDICT, json={"records": credit_records(2), "event_time": event_time})
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "invalid_event_time"
        assert error["message"].startswith(f"{field}: ")
        (detail,) = error["details"]
        assert detail["field"] == field
        assert reason in detail["reason"]
    # Refused, and recorded as refused: nothing answered is lost, nothing refused is scored.
    assert [event["type"] for event in await bus_events(settings)] == ["driftloop.rejected"]


@pytest.mark.parametrize("literal", [b"NaN", b"-Infinity"])
async def test_nan_and_infinity_are_no_event_time(client: httpx.AsyncClient, literal: bytes) -> None:
    # The constants are read (a missing value in a record), but an event time must be a finite number.
    body = b'{"records": ' + orjson.dumps(credit_records(1)) + b', "event_time": ' + literal + b"}"
    response = await client.post(PREDICT, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["details"] == [{"field": "event_time", "reason": "is not a finite number"}]


async def test_an_overflowing_number_is_not_json(client: httpx.AsyncClient) -> None:
    # orjson refuses 1e400 (it is infinity as a double), also beside a NaN that makes the body non-standard JSON.
    for body in (b'{"records": [], "event_time": 1e400}', b'{"records": [{"age": NaN}], "event_time": 1e400}'):
        response = await client.post(PREDICT, content=body, headers={"content-type": "application/json"})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "malformed_request"


async def test_a_huge_number_is_out_of_range_not_an_overflow(client: httpx.AsyncClient) -> None:
    body = b'{"records": ' + orjson.dumps(credit_records(1)) + b', "event_time": 1e308}'
    response = await client.post(PREDICT, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["details"] == [
        {
            "field": "event_time",
            "reason": "is outside the years 1 to 9999 (UTC), more than the telemetry store can hold",
        }
    ]


async def test_v2_names_parameters_event_time(client: httpx.AsyncClient) -> None:
    metadata = (await client.get("/v2/models/credit")).json()
    request = v2_request(metadata, credit_records(2))
    response = await client.post(
        "/v2/models/credit/infer", json={**request, "parameters": {"event_time": [NOON, "later"]}}
    )
    # The V2 protocol answers every bad inference request with a 400 and {"error": message}.
    assert response.status_code == 400
    assert response.json()["error"].startswith("parameters.event_time[1]: 'later' is not an RFC 3339")
    response = await client.post("/v2/models/credit/infer", json={**request, "parameters": ["x"]})
    assert (response.status_code, response.json()) == (400, {"error": "'parameters' must be an object"})


async def test_feedback_carries_when_the_label_became_known(settings: ScoringSettings) -> None:
    async for client in started_client(create_app(settings)):
        response = await client.post(
            "/v1/models/credit/feedback",
            json=[
                {"request_id": "r-1", "actual": 1, "event_time": "2026-11-27T12:30:00Z"},
                {"request_id": "r-2", "actual": 0, "event_time": NOON},
                {"request_id": "r-3", "actual": 0},
            ],
        )
        assert response.status_code == 200, response.text
        bad = await client.post(
            "/v1/models/credit/feedback",
            json=[{"request_id": "r-4", "actual": 1}, {"request_id": "r-5", "actual": 1, "event_time": "soon"}],
        )
        assert bad.status_code == 422
        assert bad.json()["error"]["details"] == [
            {
                "record": 1,
                "column": "event_time",
                "reason": "'soon' is not an RFC 3339 / ISO 8601 time such as 2026-11-27T12:00:00Z, or Unix seconds",
            }
        ]
    feedback = [event["data"] for event in await bus_events(settings) if event["type"] == "driftloop.feedback"]
    assert [item.get("event_time") for item in feedback] == ["2026-11-27T12:30:00Z", NOON, None]


async def test_the_openapi_document_shows_event_time(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    predict = document["paths"]["/v1/models/{name}/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert "event_time" in predict["schema"]["properties"]
    assert predict["examples"]["credit-event-time"]["value"]["event_time"] == ["2026-11-27T12:00:00Z", 1795780860]
    infer = document["paths"]["/v2/models/{name}/infer"]["post"]["requestBody"]["content"]["application/json"]
    assert "event_time" in infer["schema"]["properties"]["parameters"]["properties"]
    assert infer["examples"]["credit-event-time"]["value"]["parameters"] == {"event_time": "2026-11-27T12:00:00Z"}
    feedback = document["paths"]["/v1/models/{name}/feedback"]["post"]["requestBody"]["content"]["application/json"]
    assert "event_time" in feedback["schema"]["anyOf"][0]["properties"]
