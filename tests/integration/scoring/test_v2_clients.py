"""The Python V2 clients people already use, with their defaults, against a real scoring server.

tritonclient's HTTP client (2.73) and the kserve SDK's ``InferenceRESTClient`` (0.21) send inputs
as binary tensor data and ask for binary outputs unless told otherwise; tritonclient's JSON
writer sends ``NaN`` for a missing number. On every model kind (binary, multiclass, regression),
with missing values, every answer must be exactly the v1 API's answer on the same records.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from kserve.protocol.infer_type import RequestedOutput
from scoring_bundles import credit_records
from scoring_server import ScoringServer, server_env
from tritonclient.utils import InferenceServerException

from driftloop.registry import Registry

MODELS = ["credit", "purpose", "rate"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def server(scoring_registry_template: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScoringServer]:
    """One server for the module's read-only tests, on a copy of the template registry."""
    work = tmp_path_factory.mktemp("v2-clients")
    registry = Registry(shutil.copytree(scoring_registry_template.root, work / "registry"))
    server = ScoringServer(work / "server", server_env(registry, work / "server"))
    server.start()
    yield server
    server.stop()


def records_with_missing() -> list[dict[str, Any]]:
    """Records with missing numbers and categories, in every nullable column of the contract."""
    records = credit_records(12, seed=5)
    records[1].update(income=None, credit_score=None)
    records[2].update(employment_type=None, years_employed=None)
    records[3].update(savings=None, income=None, employment_type=None)
    return records


def columns(metadata: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, tuple[str, np.ndarray]]:
    """Each input as numpy holds it: float32 with NaN for a missing number, text with "" for a missing category."""
    arrays = {}
    for tensor in metadata["inputs"]:
        values = [record[tensor["name"]] for record in records]
        if tensor["datatype"] == "BYTES":
            array = np.array(["" if value is None else value for value in values], dtype=np.object_)
        else:
            array = np.array([np.nan if value is None else value for value in values], dtype=np.float32)
        arrays[tensor["name"]] = (tensor["datatype"], array.reshape(-1, 1))
    return arrays


def v1_answers(server: ScoringServer, model: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    response = httpx.post(f"{server.url}/v1/models/{model}/predict", json={"records": records})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def assert_same_as_v1(v1: dict[str, Any], outputs: dict[str, np.ndarray], class_labels: list[Any] | None) -> None:
    """The same class labels and float32 probabilities, or the same values, exactly."""
    predictions = v1["predictions"]
    if class_labels is None:
        assert outputs["variable"].reshape(-1).tolist() == [p["prediction"] for p in predictions]
        return
    assert [class_labels[i] for i in outputs["label"].tolist()] == [p["prediction"] for p in predictions]
    keys = [str(label) for label in class_labels]
    assert outputs["probabilities"].tolist() == [[p["probabilities"][k] for k in keys] for p in predictions]


def triton_infer(
    client: triton.InferenceServerClient,
    model: str,
    arrays: dict[str, tuple[str, np.ndarray]],
    *,
    binary_data: bool = True,
    outputs: list[str] | None = None,
    version: str = "",
) -> triton.InferResult:
    inputs = []
    for name, (datatype, array) in arrays.items():
        tensor = triton.InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array, binary_data=binary_data)
        inputs.append(tensor)
    requested = [triton.InferRequestedOutput(name) for name in outputs] if outputs is not None else None
    return client.infer(model, inputs, outputs=requested, model_version=version)


def triton_outputs(result: triton.InferResult, names: list[str]) -> dict[str, np.ndarray]:
    return {name: result.as_numpy(name) for name in names}


@pytest.mark.parametrize("model", MODELS)
def test_tritonclient_with_its_defaults_gives_the_v1_answers(server: ScoringServer, model: str) -> None:
    client = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    try:
        assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
        metadata = client.get_model_metadata(model)
        names = [output["name"] for output in metadata["outputs"]]
        class_labels = metadata["parameters"].get("class_labels")
        records = records_with_missing()
        arrays = columns(metadata, records)
        v1 = v1_answers(server, model, records)
        # Binary inputs; no outputs named: tritonclient asks for every output as binary data.
        result = triton_infer(client, model, arrays)
        response = result.get_response()
        assert all("binary_data_size" in output["parameters"] for output in response["outputs"])
        assert_same_as_v1(v1, triton_outputs(result, names), class_labels)
        # Outputs named, each binary by default.
        result = triton_infer(client, model, arrays, outputs=names[::-1])
        assert [output["name"] for output in result.get_response()["outputs"]] == names[::-1]
        assert_same_as_v1(v1, triton_outputs(result, names), class_labels)
        # tritonclient's JSON: NaN for the missing numbers.
        result = triton_infer(client, model, arrays, binary_data=False)
        assert_same_as_v1(v1, triton_outputs(result, names), class_labels)
    finally:
        client.close()


def test_tritonclient_sees_why_a_request_is_refused(server: ScoringServer) -> None:
    client = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    try:
        metadata = client.get_model_metadata("credit")
        arrays = columns(metadata, records_with_missing())
        arrays["region"] = ("FP32", np.ones((12, 1), dtype=np.float32))
        with pytest.raises(InferenceServerException) as refused:
            triton_infer(client, "credit", arrays)
        assert refused.value.status() == "400"
        assert refused.value.message() == "input 'region' has datatype 'FP32'; expected BYTES"
        arrays = columns(metadata, records_with_missing())
        arrays["age"][1][1, 0] = np.nan  # age is required
        with pytest.raises(InferenceServerException) as refused:
            triton_infer(client, "credit", arrays)
        assert refused.value.message() == (
            "record 1, column 'age': may not be NaN, which stands for a missing value, and the column is required"
        )
    finally:
        client.close()


@pytest.mark.anyio
@pytest.mark.parametrize("model", MODELS)
async def test_kserve_rest_client_with_its_defaults_gives_the_v1_answers(server: ScoringServer, model: str) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        metadata = (await http.get(f"/v2/models/{model}")).json()
        records = records_with_missing()
        v1 = (await http.post(f"/v1/models/{model}/predict", json={"records": records})).json()
    names = [output["name"] for output in metadata["outputs"]]
    class_labels = metadata["parameters"].get("class_labels")
    inputs = []
    for name, (datatype, array) in columns(metadata, records).items():
        tensor = InferInput(name, list(array.shape), datatype)
        tensor.set_data_from_numpy(array)  # binary_data=True by default
        inputs.append(tensor)
    requested = [RequestedOutput(name, parameters={"binary_data": True}) for name in names]
    client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=30))
    try:
        headers: dict[str, str] = {}
        response = await client.infer(
            server.url,
            InferRequest(model, inputs, request_outputs=requested),
            model_name=model,
            response_headers=headers,
        )
    finally:
        await client.close()
    assert headers["content-type"] == "application/octet-stream"
    assert response.model_name == model
    outputs = {output.name: output.as_numpy() for output in response.outputs}
    assert_same_as_v1(v1, outputs, class_labels)


def test_binary_answers_follow_a_hot_swap(
    scoring_registry: Registry, start_server: type[ScoringServer], tmp_path: Path
) -> None:
    server = start_server(tmp_path / "server", server_env(scoring_registry, tmp_path / "server"))
    server.start()
    client = triton.InferenceServerClient(url=f"127.0.0.1:{server.port}")
    try:
        metadata = client.get_model_metadata("credit")
        records = records_with_missing()
        arrays = columns(metadata, records)
        names = ["label", "probabilities"]
        before = triton_infer(client, "credit", arrays)
        assert before.get_response()["model_version"] == "1"
        assert_same_as_v1(v1_answers(server, "credit", records), triton_outputs(before, names), [0, 1])
        scoring_registry.set_alias("credit", "champion", 2)
        assert httpx.post(f"{server.url}/v1/models/credit/reload").json()["outcome"] == "swapped"
        after = triton_infer(client, "credit", arrays)
        assert after.get_response()["model_version"] == "2"
        assert_same_as_v1(v1_answers(server, "credit", records), triton_outputs(after, names), [0, 1])
        assert after.as_numpy("probabilities").tolist() != before.as_numpy("probabilities").tolist()
        pinned = triton_infer(client, "credit", arrays, version="1")  # a pinned version, loaded beside
        assert pinned.as_numpy("probabilities").tolist() == before.as_numpy("probabilities").tolist()
    finally:
        client.close()
