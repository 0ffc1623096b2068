"""POST /v1/models/{name}/feedback: known and unknown request ids, per-record ids, bad labels."""

from __future__ import annotations

import httpx
import pytest
from scoring_bundles import credit_records
from scoring_client import bus_events, started_client

from driftloop_scoring.app import create_app
from driftloop_scoring.feedback import RecentRequests
from driftloop_scoring.settings import ScoringSettings

pytestmark = pytest.mark.anyio


async def test_feedback_is_matched_to_recent_requests_and_published(settings: ScoringSettings) -> None:
    async for client in started_client(create_app(settings)):
        answer = (await client.post("/v1/models/credit/predict", json={"records": credit_records(2)})).json()
        request_id = answer["request_id"]
        response = await client.post(
            "/v1/models/credit/feedback",
            json=[
                {"request_id": request_id, "record_index": 1, "actual": 1},
                {"id": answer["predictions"][0]["id"], "actual": "0"},
                {"request_id": request_id, "record_index": 7, "actual": 0},
                {"request_id": "from-elsewhere", "actual": 1.0},
            ],
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["accepted"] == 4
        assert body["unknown_requests"] == 2
        assert [item["known_request"] for item in body["items"]] == [True, True, False, False]
        assert body["items"][1] == {"request_id": request_id, "record_index": 0, "known_request": True}
        metrics = (await client.get("/metrics")).text
        assert 'driftloop_scoring_feedback_total{known="false",model="credit"} 2.0' in metrics
    feedback = [event["data"] for event in await bus_events(settings) if event["type"] == "driftloop.feedback"]
    assert [(item["request_id"], item["record_index"], item["actual"], item["known_request"]) for item in feedback] == [
        (request_id, 1, 1, True),
        (request_id, 0, 0, True),
        (request_id, 7, 0, False),
        ("from-elsewhere", None, 1, False),
    ]


@pytest.mark.parametrize(
    ("item", "column", "reason"),
    [
        ({"request_id": "r", "actual": 3}, "actual", "'3' is not one of the model's classes ['0', '1']"),
        ({"request_id": "r"}, "actual", "is required: the true label or value"),
        ({"actual": 1}, "request_id", "is required: the request_id (1 to 200 characters) of the prediction"),
        ({"id": "no-index", "actual": 1}, "id", "expected '<request_id>:<record index>' as returned by predict"),
        (
            {"request_id": "r", "record_index": -1, "actual": 1},
            "record_index",
            "must be an integer from 0 to 2147483647",
        ),
    ],
)
async def test_bad_feedback_is_refused_with_the_field(
    client: httpx.AsyncClient, item: dict[str, object], column: str, reason: str
) -> None:
    response = await client.post("/v1/models/credit/feedback", json=item)
    assert response.status_code == 422
    assert response.json()["error"]["details"] == [{"record": 0, "column": column, "reason": reason}]


async def test_regression_feedback_takes_numbers(client: httpx.AsyncClient) -> None:
    ok = await client.post("/v1/models/rate/feedback", json={"request_id": "r", "actual": "12.5"})
    assert ok.status_code == 200
    bad = await client.post("/v1/models/rate/feedback", json={"request_id": "r", "actual": "high"})
    assert bad.json()["error"]["details"][0]["column"] == "actual"


def test_recent_requests_forget_the_oldest_first() -> None:
    recent = RecentRequests(capacity=2)
    for request_id in ("a", "b", "c"):
        recent.remember(request_id, 1)
    assert (recent.size_of("a"), recent.size_of("b"), recent.size_of("c"), len(recent)) == (None, 1, 1, 2)
