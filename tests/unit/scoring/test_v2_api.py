"""The Open Inference Protocol V2 REST API: shapes per the spec, errors as {"error": "..."}."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from scoring_bundles import credit_records

from driftloop.registry import Registry

pytestmark = pytest.mark.anyio


def v2_request(metadata: dict[str, Any], records: list[dict[str, Any]], nested: bool = True) -> dict[str, Any]:
    inputs = []
    for tensor in metadata["inputs"]:
        column = [record[tensor["name"]] for record in records]
        data = [[value] for value in column] if nested else column
        shape = [len(records), 1] if nested else [len(records)]
        inputs.append({"name": tensor["name"], "datatype": tensor["datatype"], "shape": shape, "data": data})
    return {"id": "req-1", "inputs": inputs}


async def test_server_metadata_and_health(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v2")).json() == {
        "name": "driftloop-scoring",
        "version": "0.1.0",
        "extensions": ["binary_tensor_data"],
    }
    assert (await client.get("/v2/health/live")).json() == {"live": True}
    ready = await client.get("/v2/health/ready")
    assert (ready.status_code, ready.json()["ready"]) == (200, True)
    assert ready.json()["models"]["credit"] == {"ready": True, "version": 1}
    assert (await client.get("/v2/models/credit/ready")).json() == {"name": "credit", "ready": True}
    assert (await client.get("/v2/models/credit/versions/1/ready")).status_code == 200
    not_loaded = await client.get("/v2/models/credit/versions/2/ready")
    assert not_loaded.status_code == 400  # the spec: a 4xx means "not ready"
    assert (await client.get("/v2/models/nope/ready")).json() == {"error": "model 'nope' is not served here"}


async def test_model_metadata_has_one_tensor_per_column(client: httpx.AsyncClient, registry: Registry) -> None:
    contract = registry.resolve("credit").contract
    metadata = (await client.get("/v2/models/credit")).json()
    assert metadata["name"] == "credit"
    assert metadata["versions"] == ["1", "2"]
    assert metadata["platform"] == "onnxruntime_onnx"
    assert [(t["name"], t["datatype"], t["shape"]) for t in metadata["inputs"]] == [
        (c.name, "BYTES" if c.kind == "categorical" else "FP32", [-1, 1]) for c in contract.columns
    ]
    assert metadata["outputs"] == [
        {"name": "label", "datatype": "INT64", "shape": [-1]},
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, 2]},
    ]
    assert metadata["parameters"]["class_labels"] == [0, 1]
    pinned = (await client.get("/v2/models/credit/versions/2")).json()
    assert pinned["parameters"]["version"] == "2"
    regression = (await client.get("/v2/models/rate")).json()
    assert regression["outputs"] == [{"name": "variable", "datatype": "FP32", "shape": [-1, 1]}]


@pytest.mark.parametrize("nested", [True, False])
async def test_infer_matches_the_v1_answer(client: httpx.AsyncClient, nested: bool) -> None:
    records = credit_records(3)
    metadata = (await client.get("/v2/models/credit")).json()
    response = await client.post("/v2/models/credit/infer", json=v2_request(metadata, records, nested))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_name"] == "credit"
    assert body["model_version"] == "1"
    assert body["id"] == "req-1"
    label, probabilities = body["outputs"]
    assert (label["name"], label["datatype"], label["shape"]) == ("label", "INT64", [3])
    assert (probabilities["name"], probabilities["datatype"], probabilities["shape"]) == (
        "probabilities",
        "FP32",
        [3, 2],
    )
    v1 = (await client.post("/v1/models/credit/predict", json={"records": records})).json()["predictions"]
    assert label["data"] == [p["prediction"] for p in v1]
    assert probabilities["data"][0::2] == pytest.approx([p["probabilities"]["0"] for p in v1])


async def test_infer_versions_form_and_output_selection(client: httpx.AsyncClient) -> None:
    metadata = (await client.get("/v2/models/credit")).json()
    request = {**v2_request(metadata, credit_records(1)), "outputs": [{"name": "probabilities"}]}
    body = (await client.post("/v2/models/credit/versions/2/infer", json=request)).json()
    assert body["model_version"] == "2"
    assert [output["name"] for output in body["outputs"]] == ["probabilities"]


async def test_regression_infer(client: httpx.AsyncClient) -> None:
    metadata = (await client.get("/v2/models/rate")).json()
    body = (await client.post("/v2/models/rate/infer", json=v2_request(metadata, credit_records(2)))).json()
    assert body["outputs"][0]["name"] == "variable"
    assert body["outputs"][0]["shape"] == [2, 1]


def _edit(request: dict[str, Any], column: str, **changes: Any) -> dict[str, Any]:
    for tensor in request["inputs"]:
        if tensor["name"] == column:
            tensor.update(changes)
    return request


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: {"inputs": []}, "the body must be a JSON object with a non-empty 'inputs' list"),
        (lambda r: _edit(r, "region", datatype="FP32"), "input 'region' has datatype 'FP32'; expected BYTES"),
        (lambda r: _edit(r, "age", shape=[1, 2]), "input 'age' has shape [1, 2]; expected [N] or [N, 1]"),
        (lambda r: _edit(r, "age", shape=[2, 1]), "input 'age' has 1 values for shape [2, 1]"),
        (lambda r: _edit(r, "age", data=[["x"]]), "record 0, column 'age': 'x' cannot be read as a number"),
        (lambda r: _edit(r, "age", name="agee"), "input 0: 'agee' is not an input of this model"),
        (lambda r: {**r, "outputs": [{"name": "logits"}]},
         "'logits' is not an output of this model (outputs: ['label', 'probabilities'])"),
    ],
)  # fmt: skip
async def test_infer_errors_are_400_with_a_message(client: httpx.AsyncClient, change: Any, message: str) -> None:
    metadata = (await client.get("/v2/models/credit")).json()
    response = await client.post("/v2/models/credit/infer", json=change(v2_request(metadata, credit_records(1))))
    assert response.status_code == 400
    assert response.json() == {"error": message}


async def test_infer_unknown_model_and_malformed_json(client: httpx.AsyncClient) -> None:
    response = await client.post("/v2/models/nope/infer", json={"inputs": []})
    assert (response.status_code, response.json()) == (404, {"error": "model 'nope' is not served here"})
    response = await client.post("/v2/models/credit/infer", content=b"{", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"].startswith("the body is not valid JSON")
