"""The service over HTTP in process (httpx ASGITransport): transform, datasets, errors, health, metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from features_store import DERIVED, TARGET, register_credit

from driftloop.errors import ConfigError
from driftloop.features import parse_definitions
from driftloop.registry import Registry
from driftloop_features.app import create_app
from driftloop_features.settings import FeaturesSettings
from driftloop_features.transform import bundle_definitions, engineer

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def client(settings: FeaturesSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://features") as http:
            yield http


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    plain = frame.drop(columns=[TARGET]).astype(object)
    return plain.where(plain.notna(), None).to_dict(orient="records")  # type: ignore[no-any-return]


async def test_transform_returns_the_model_frame_and_derived_features(
    client: httpx.AsyncClient, labelled_frame: pd.DataFrame, settings: FeaturesSettings
) -> None:
    batch = labelled_frame.iloc[:25]
    response = await client.post("/v1/transform", json={"model": "credit", "records": _records(batch)})

    assert response.status_code == 200, response.text
    body = response.json()
    contract = Registry(settings.registry.path).resolve("credit").contract
    expected = engineer(batch.reset_index(drop=True), contract, parse_definitions(DERIVED))
    assert body["columns"] == list(expected.columns)
    assert body["derived"][:3] == ["loan_to_income", "log_savings", "age_band"]
    pairs = len(contract.column("purpose").categories or []) * len(contract.column("region").categories or [])
    assert pairs > 1
    assert sum(c.startswith("purpose_region=") for c in body["columns"]) == pairs
    served = pd.DataFrame(body["records"], columns=body["columns"])
    numeric = [c for c in expected.columns if expected[c].dtype != object]
    np.testing.assert_allclose(served[numeric].to_numpy(float), expected[numeric].to_numpy(float), rtol=1e-6)
    assert served["purpose"].tolist() == expected["purpose"].tolist()
    assert served["loan_to_income"].iloc[0] == pytest.approx(
        batch["loan_amount"].iloc[0] / batch["income"].iloc[0], rel=1e-6
    )


async def test_a_bad_record_is_named_by_index_and_column(
    client: httpx.AsyncClient, labelled_frame: pd.DataFrame
) -> None:
    records = _records(labelled_frame.iloc[:5])
    records[3]["income"] = "lots"
    response = await client.post("/v1/transform", json={"model": "credit", "records": records})

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["details"] == {"record": 3, "column": "income", "reason": "expected a number, got 'lots'"}
    assert "record 3" in error["message"]

    records[3]["income"] = 10**400  # valid JSON, beyond float range
    response = await client.post("/v1/transform", json={"model": "credit", "records": records})
    assert response.status_code == 422
    assert response.json()["error"]["details"]["reason"] == "expected a finite number"

    del records[1]["age"]
    response = await client.post("/v1/transform", json={"model": "credit", "records": records})
    assert response.json()["error"]["details"] == {"record": 1, "column": "age", "reason": "missing"}


async def test_request_shape_errors_name_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/transform", json={"model": "credit", "records": []})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "records"

    response = await client.post("/v1/datasets", json={"model": "credit", "strategy": {"kind": "newest"}})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "strategy.kind"

    response = await client.post(
        "/v1/datasets", json={"model": "credit", "strategy": {"kind": "source+recent", "weight": 1.5}}
    )
    assert response.status_code == 422
    assert "whole-number weight" in response.json()["error"]["details"][0]["reason"]

    since = {"kind": "since_change", "since": "2026-03-01 12:00"}
    response = await client.post("/v1/datasets", json={"model": "credit", "strategy": since})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "strategy.since"
    assert "timezone" in response.json()["error"]["details"][0]["reason"]

    response = await client.post("/v1/datasets", json={"model": "credit", "strategy": {"kind": "since_change"}})
    assert response.status_code == 422
    assert "needs 'since'" in response.json()["error"]["details"][0]["reason"]


async def test_an_unknown_model_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/transform", json={"model": "nope", "records": [{}]})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_dataset_created_then_read(client: httpx.AsyncClient, store: object) -> None:
    response = await client.post(
        "/v1/datasets", json={"model": "credit", "strategy": {"kind": "recent", "recent": 300, "holdout": 100}}
    )
    assert response.status_code == 201, response.text
    created = response.json()

    read = await client.get(f"/v1/datasets/{created['id']}")

    assert read.status_code == 200
    body = read.json()
    assert body == created
    assert {"id", "model", "state", "train_path", "holdout_path", "sha256", "rows", "quality", "created"} <= set(body)
    assert body["state"] == "ready"
    assert body["rows"] == {"train": 300, "holdout": 100}


async def test_a_refused_dataset_says_why_and_is_recorded_as_failed(client: httpx.AsyncClient, store: object) -> None:
    response = await client.post(
        "/v1/datasets",
        json={
            "model": "credit",
            "strategy": {"kind": "recent", "recent": 300, "holdout": 100},
            "gate": {"min_train_rows": 1000},
        },
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "quality_gate_failed"
    assert error["details"]["reasons"] == ["too few training rows: 300 < 1000"]

    read = await client.get(f"/v1/datasets/{error['details']['dataset_id']}")
    assert read.json()["state"] == "failed"
    assert read.json()["quality"]["gate"]["reasons"] == error["details"]["reasons"]


async def test_unknown_datasets_and_paths(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/datasets/" + "0" * 64)).status_code == 404
    traversal = await client.get("/v1/datasets/..%2F..%2Fetc")
    assert traversal.status_code == 404
    assert (await client.get("/v1/nothing")).json()["error"]["code"] == "not_found"


async def test_health_and_metrics(client: httpx.AsyncClient, labelled_frame: pd.DataFrame) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    await client.post("/v1/transform", json={"model": "credit", "records": _records(labelled_frame.iloc[:3])})

    metrics = (await client.get("/metrics")).text

    assert 'driftloop_features_transformed_records_total{model="credit"}' in metrics
    assert "driftloop_features_request_seconds_bucket" in metrics


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTLOOP_FEATURES__SOURCES", '{"credit": "data/credit.csv"}')
    monkeypatch.setenv("DRIFTLOOP_STORE__URL", "sqlite:///x.db")
    monkeypatch.setenv("DRIFTLOOP_FEATURES__GATE__MIN_TRAIN_ROWS", "7")

    settings = FeaturesSettings()

    assert settings.port == 8081
    assert str(settings.features.sources["credit"]) == "data/credit.csv"
    assert str(settings.features.datasets_dir) == ".driftloop/datasets"
    assert settings.store.url == "sqlite:///x.db"
    assert settings.features.gate.min_train_rows == 7


def test_definitions_come_from_the_bundle_else_the_configured_file(
    champion: tuple[Path, Path], tmp_path: Path, source_frame: pd.DataFrame
) -> None:
    bundle = Registry(champion[0]).resolve("credit")
    assert [d.name for d in bundle_definitions(bundle, {})] == [d["name"] for d in DERIVED]

    registry = tmp_path / "registry"
    plain = register_credit(registry, source_frame, derived=None)
    config = tmp_path / "credit.yaml"
    config.write_text("derived:\n  - {kind: log1p, name: log_income, column: income}\n")

    assert bundle_definitions(plain, {}) == []
    assert [d.name for d in bundle_definitions(plain, {"credit": config})] == ["log_income"]
    config.write_text("derived: [{kind: log1p, name: x}]\n")
    with pytest.raises(ConfigError, match="column"):
        bundle_definitions(plain, {"credit": config})
