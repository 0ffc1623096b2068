"""POST /v1/models/{name}/predict in process (ASGITransport): answers, every 4xx body, metrics, telemetry."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from scoring_bundles import credit_records
from scoring_client import bus_events, started_client

from driftloop.registry import Registry
from driftloop_scoring.app import create_app
from driftloop_scoring.settings import LimitsSettings, ScoringSettings

pytestmark = pytest.mark.anyio
PREDICT = "/v1/models/credit/predict"


async def test_binary_classifier_answers_labels_probabilities_version_and_ids(client: httpx.AsyncClient) -> None:
    response = await client.post(PREDICT, json={"records": credit_records(3)})
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "credit"
    assert body["version"] == 1
    assert response.headers["x-request-id"] == body["request_id"]
    assert [p["id"] for p in body["predictions"]] == [f"{body['request_id']}:{i}" for i in range(3)]
    for prediction in body["predictions"]:
        assert prediction["prediction"] in (0, 1)
        assert set(prediction["probabilities"]) == {"0", "1"}
        assert sum(prediction["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        best = max(prediction["probabilities"], key=prediction["probabilities"].get)
        assert int(best) == prediction["prediction"]


async def test_multiclass_and_regression(client: httpx.AsyncClient, registry: Registry) -> None:
    records = credit_records(2)
    body = (await client.post("/v1/models/purpose/predict", json={"records": records})).json()
    labels = registry.resolve("purpose").contract.class_labels or []
    assert all(p["prediction"] in labels and list(p["probabilities"]) == labels for p in body["predictions"])
    body = (await client.post("/v1/models/rate/predict", json={"records": records})).json()
    assert all(isinstance(p["prediction"], float) and "probabilities" not in p for p in body["predictions"])


async def test_caller_request_id_is_used_and_echoed(client: httpx.AsyncClient) -> None:
    response = await client.post(PREDICT, json={"records": credit_records(1)}, headers={"X-Request-ID": "order-42"})
    assert response.json()["request_id"] == "order-42" == response.headers["x-request-id"]
    odd = await client.post(PREDICT, json={"records": credit_records(1)}, headers={"X-Request-ID": "<script>"})
    assert odd.json()["request_id"] != "<script>"  # not a sane token: a fresh id instead


async def test_a_pinned_version_answers_as_itself(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/models/credit/versions/2/predict", json={"records": credit_records(1)})
    assert response.status_code == 200
    assert response.json()["version"] == 2
    missing = await client.post("/v1/models/credit/versions/9/predict", json={"records": credit_records(1)})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def _record(**changes: Any) -> dict[str, Any]:
    record = credit_records(1)[0]
    for key, value in changes.items():
        if value is ...:
            del record[key]
        else:
            record[key] = value
    return record


@pytest.mark.parametrize(
    ("body", "status", "code", "details"),
    [
        (b'{"records": [', 400, "malformed_request", None),
        (b"", 400, "malformed_request", None),
        (b'{"rows": []}', 400, "malformed_request", [{"field": "records", "reason": "missing"}]),
        (b"[1, 2]", 400, "malformed_request", [{"field": "records", "reason": "missing"}]),
        ({"records": []}, 422, "invalid_records", [{"reason": "empty batch"}]),
        ({"records": "all"}, 422, "invalid_records", [{"field": "records", "reason": "not a list"}]),
        ({"records": [_record(age="old")]}, 422, "invalid_records",
         [{"record": 0, "column": "age", "reason": "'old' cannot be read as a number"}]),
        ({"records": [_record(), _record(age=...)]}, 422, "invalid_records",
         [{"record": 1, "column": "age", "reason": "is required"}]),
        ({"records": [_record(region=None)]}, 422, "invalid_records",
         [{"record": 0, "column": "region", "reason": "may not be null"}]),
        ({"records": [_record(nickname="x")]}, 422, "invalid_records",
         [{"record": 0, "column": "nickname", "reason": "not an input of this model"}]),
        ({"records": [_record(purpose=3.5)]}, 200, None, None),  # a number is a (new) category
    ],
)  # fmt: skip
async def test_each_refusal_has_its_status_and_body(
    client: httpx.AsyncClient, body: Any, status: int, code: str | None, details: Any
) -> None:
    if isinstance(body, bytes):
        response = await client.post(PREDICT, content=body, headers={"content-type": "application/json"})
    else:
        response = await client.post(PREDICT, json=body)
    assert response.status_code == status, response.text
    if code is not None:
        error = response.json()["error"]
        assert error["code"] == code
        assert error["message"]
        assert error.get("details") == details
        assert "Traceback" not in response.text


async def test_oversize_batches_and_bodies_get_413(settings: ScoringSettings) -> None:
    settings.limits = LimitsSettings(max_records=5, max_body_bytes=4096)
    async for client in started_client(create_app(settings)):
        response = await client.post(PREDICT, json={"records": credit_records(6)})
        assert response.status_code == 413
        assert response.json()["error"]["details"] == [{"reason": "batch too large", "records": 6, "limit": 5}]
        response = await client.post(PREDICT, json={"records": [_record(note="x" * 5000)]})
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"


async def test_ignoring_extra_columns_when_configured(settings: ScoringSettings) -> None:
    settings.limits = LimitsSettings(extra_columns="ignore")
    async for client in started_client(create_app(settings)):
        response = await client.post(PREDICT, json={"records": [_record(nickname="x")]})
        assert response.status_code == 200


async def test_unknown_model_and_wrong_method(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/models/nope/predict", json={"records": credit_records(1)})
    assert response.status_code == 404
    assert response.json()["error"] == {"code": "not_found", "message": "model 'nope' is not served here"}
    response = await client.get(PREDICT)
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


async def test_metrics_count_requests_classes_errors_and_unseen_values(client: httpx.AsyncClient) -> None:
    await client.post(PREDICT, json={"records": [_record(region="atlantis"), _record(age=150)]})
    await client.post(PREDICT, json={"records": [_record(age="old")]})
    text = (await client.get("/metrics")).text
    assert 'driftloop_scoring_requests_total{model="credit",route="predict",status="200"} 1.0' in text
    assert 'driftloop_scoring_requests_total{model="credit",route="predict",status="422"} 1.0' in text
    assert 'driftloop_scoring_validation_errors_total{column="age",model="credit"} 1.0' in text
    assert 'driftloop_scoring_unseen_values_total{column="region",model="credit",reason="category"} 1.0' in text
    assert 'driftloop_scoring_unseen_values_total{column="age",model="credit",reason="range"} 1.0' in text
    assert 'driftloop_scoring_records_total{model="credit"} 2.0' in text
    assert 'driftloop_scoring_model_version{model="credit"} 1.0' in text
    assert "driftloop_scoring_request_latency_seconds_bucket" in text
    classes = [line for line in text.splitlines() if line.startswith("driftloop_scoring_predictions_total{")]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in classes) == 2.0
    await client.post("/v1/models/rate/predict", json={"records": credit_records(3)})
    text = (await client.get("/metrics")).text
    assert 'driftloop_scoring_prediction_values_count{model="rate"} 3.0' in text


async def test_every_answer_and_refusal_is_one_event(settings: ScoringSettings) -> None:
    async for client in started_client(create_app(settings)):
        answered = await client.post(PREDICT, json={"records": [_record(region="atlantis"), _record()]})
        refused = await client.post(PREDICT, json={"records": [_record(age="old")]})
    events = await bus_events(settings)
    assert [event["type"] for event in events] == ["driftloop.prediction", "driftloop.rejected"]
    prediction, rejected = events[0]["data"], events[1]["data"]
    assert prediction["request_id"] == answered.json()["request_id"]
    assert prediction["version"] == 1
    assert prediction["records"][0]["region"] == "atlantis"
    assert prediction["predictions"] == [p["prediction"] for p in answered.json()["predictions"]]
    assert prediction["class_labels"] == [0, 1]
    assert prediction["unseen"] == [{"record": 0, "column": "region", "reason": "category"}]
    assert rejected["request_id"] == refused.headers["x-request-id"]
    assert rejected["status"] == 422
    assert rejected["error"] == refused.json()["error"]
    assert '"age":"old"' in rejected["body"]
