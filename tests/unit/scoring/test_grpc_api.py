"""The gRPC data plane in process: a real grpc.aio server on 127.0.0.1, started by the app's lifespan.

Every gRPC answer is checked against the V2 HTTP answer for the same request: the same outputs,
the same refusals (as INVALID_ARGUMENT / NOT_FOUND / UNAUTHENTICATED with the HTTP message) and
the same telemetry events.
"""

from __future__ import annotations

import json
import math
import socket
import struct
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx
import numpy as np
import pytest
from integration_servers import free_port
from scoring_bundles import credit_records
from scoring_client import bus_events, started_client

from driftloop_scoring.app import create_app
from driftloop_scoring.grpc import grpc_predict_v2_pb2 as pb
from driftloop_scoring.grpc.stub import InferenceStub
from driftloop_scoring.settings import AuthSettings, ScoringSettings

pytestmark = pytest.mark.anyio
KEY = "grpc-test-key"
AUTH = (("x-api-key", KEY),)


class Served:
    def __init__(self, http: httpx.AsyncClient, stub: InferenceStub, port: int) -> None:
        self.http = http
        self.stub = stub
        self.port = port


@pytest.fixture
async def served(settings: ScoringSettings) -> AsyncIterator[Served]:
    settings.grpc_port = free_port()
    settings.auth = AuthSettings(api_keys=KEY)
    async for client in started_client(create_app(settings)):
        client.headers["x-api-key"] = KEY
        async with grpc.aio.insecure_channel(f"127.0.0.1:{settings.grpc_port}") as channel:
            yield Served(client, InferenceStub(channel), settings.grpc_port)


async def v2_request(http: httpx.AsyncClient, model: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """The V2 JSON request for ``records``, one [N, 1] tensor per input of the model's metadata."""
    metadata = (await http.get(f"/v2/models/{model}")).json()
    inputs = [
        {
            "name": tensor["name"],
            "datatype": tensor["datatype"],
            "shape": [len(records), 1],
            "data": [record.get(tensor["name"]) for record in records],
        }
        for tensor in metadata["inputs"]
    ]
    return {"id": "same-request", "inputs": inputs}


def typed_request(model: str, body: dict[str, Any]) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name=model, id=body["id"])
    for tensor in body["inputs"]:
        added = request.inputs.add(name=tensor["name"], datatype=tensor["datatype"], shape=tensor["shape"])
        if tensor["datatype"] == "BYTES":
            added.contents.bytes_contents.extend(b"" if v is None else str(v).encode() for v in tensor["data"])
        else:
            added.contents.fp32_contents.extend(math.nan if v is None else v for v in tensor["data"])
    return request


def raw_request(model: str, body: dict[str, Any]) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name=model, id=body["id"])
    for tensor in body["inputs"]:
        request.inputs.add(name=tensor["name"], datatype=tensor["datatype"], shape=tensor["shape"])
        if tensor["datatype"] == "BYTES":
            texts = [b"" if v is None else str(v).encode() for v in tensor["data"]]
            request.raw_input_contents.append(b"".join(struct.pack("<I", len(t)) + t for t in texts))
        else:
            values = [math.nan if v is None else v for v in tensor["data"]]
            request.raw_input_contents.append(np.asarray(values, dtype="<f4").tobytes())
    return request


def output_values(response: pb.ModelInferResponse) -> dict[str, list[Any]]:
    """Each output's values as plain numbers, whether the response was typed or raw."""
    values = {}
    for index, output in enumerate(response.outputs):
        if response.raw_output_contents:
            dtype = "<i8" if output.datatype == "INT64" else "<f4"
            values[output.name] = np.frombuffer(response.raw_output_contents[index], dtype=dtype).tolist()
        elif output.datatype == "INT64":
            values[output.name] = list(output.contents.int64_contents)
        else:
            values[output.name] = list(output.contents.fp32_contents)
    return values


async def rpc_error(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


@pytest.mark.parametrize("model", ["credit", "purpose", "rate"])
@pytest.mark.parametrize("encode", [typed_request, raw_request])
async def test_infer_gives_the_v2_json_answer(served: Served, model: str, encode: Any) -> None:
    records = credit_records(30, seed=4)
    assert any(value is None for record in records for value in record.values())  # missing values included
    body = await v2_request(served.http, model, records)
    expected = (await served.http.post(f"/v2/models/{model}/infer", json=body)).json()
    response = await served.stub.ModelInfer(encode(model, body), metadata=AUTH)
    assert (response.model_name, response.model_version, response.id) == (model, "1", "same-request")
    assert [(o.name, o.datatype, list(o.shape)) for o in response.outputs] == [
        (o["name"], o["datatype"], o["shape"]) for o in expected["outputs"]
    ]
    # Raw inputs get raw outputs (as Triton and KServe answer), typed inputs typed outputs.
    assert bool(response.raw_output_contents) == (encode is raw_request)
    as_float32 = {o["name"]: np.asarray(o["data"], dtype=np.float32).tolist() for o in expected["outputs"]}
    assert output_values(response) == as_float32
    if model != "rate":
        assert response.parameters["class_labels"].string_param.startswith("[")


async def test_outputs_can_be_chosen_and_raw_asked_for(served: Served) -> None:
    body = await v2_request(served.http, "credit", credit_records(3))
    request = typed_request("credit", body)
    request.outputs.add(name="probabilities")
    request.parameters["binary_data_output"].bool_param = True
    response = await served.stub.ModelInfer(request, metadata=AUTH)
    assert [o.name for o in response.outputs] == ["probabilities"]
    assert len(response.raw_output_contents[0]) == 3 * 2 * 4


async def test_health_metadata_and_readiness(served: Served) -> None:
    assert (await served.stub.ServerLive(pb.ServerLiveRequest())).live is True  # open, as over HTTP
    assert (await served.stub.ServerReady(pb.ServerReadyRequest())).ready is True
    server = await served.stub.ServerMetadata(pb.ServerMetadataRequest())
    assert (server.name, server.version) == ("driftloop-scoring", "0.1.0")
    assert (await served.stub.ModelReady(pb.ModelReadyRequest(name="credit"))).ready is True
    assert (await served.stub.ModelReady(pb.ModelReadyRequest(name="credit", version="2"))).ready is False
    missing = await rpc_error(served.stub.ModelReady(pb.ModelReadyRequest(name="nope")))
    assert (missing.code(), missing.details()) == (grpc.StatusCode.NOT_FOUND, "model 'nope' is not served here")
    metadata = await served.stub.ModelMetadata(pb.ModelMetadataRequest(name="credit"), metadata=AUTH)
    expected = (await served.http.get("/v2/models/credit")).json()
    assert list(metadata.versions) == expected["versions"] == ["1", "2"]
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.inputs] == [
        (t["name"], t["datatype"], t["shape"]) for t in expected["inputs"]
    ]
    assert [(t.name, list(t.shape)) for t in metadata.outputs] == [("label", [-1]), ("probabilities", [-1, 2])]
    pinned = await served.stub.ModelMetadata(pb.ModelMetadataRequest(name="credit", version="2"), metadata=AUTH)
    assert pinned.name == "credit"


async def test_credentials_are_the_http_ones(served: Served) -> None:
    body = await v2_request(served.http, "credit", credit_records(1))
    request = typed_request("credit", body)
    for metadata in [(), (("x-api-key", "wrong"),), (("authorization", "Bearer wrong"),)]:
        refused = await rpc_error(served.stub.ModelInfer(request, metadata=metadata))
        assert refused.code() == grpc.StatusCode.UNAUTHENTICATED
        assert refused.details() == "missing or invalid credentials"
    refused = await rpc_error(served.stub.ModelMetadata(pb.ModelMetadataRequest(name="credit")))
    assert refused.code() == grpc.StatusCode.UNAUTHENTICATED
    answered = await served.stub.ModelInfer(request, metadata=(("authorization", f"Bearer {KEY}"),))
    assert len(answered.outputs) == 2


def _with(body: dict[str, Any], target: str, **changes: Any) -> dict[str, Any]:
    inputs = [({**tensor, **changes} if tensor["name"] == target else tensor) for tensor in body["inputs"]]
    return {**body, "inputs": inputs}


async def test_refusals_name_the_input_and_reason_as_v2_http_does(served: Served) -> None:
    body = await v2_request(served.http, "credit", credit_records(2))
    ages = next(tensor["data"] for tensor in body["inputs"] if tensor["name"] == "age")
    infinite = _with(body, "age", data=[math.inf, ages[1]])
    cases = {  # what is sent over gRPC, and the same over V2 HTTP (an infinity as JSON's `Infinity` literal)
        "a null in a column that is not nullable": (_with(body, "age", data=[None, ages[1]]),) * 2,
        "an infinity in a column that is not nullable": (infinite,) * 2,
        "text for a number": (_with(body, "age", datatype="BYTES", data=["old", "young"]),) * 2,
        "an unknown datatype": (_with(body, "age", datatype="COMPLEX"),) * 2,
        "a shape that is not [N, 1]": (_with(body, "age", shape=[1, 2]),) * 2,
        "an input the model does not have": (_with(body, "age", name="shoe_size"),) * 2,
    }
    for case, (bad, over_http) in cases.items():
        text = json.dumps(over_http)  # writes Infinity as tritonclient's JSON writer does
        http = await served.http.post(
            "/v2/models/credit/infer", content=text, headers={"content-type": "application/json"}
        )
        assert http.status_code == 400, case
        for encode in (typed_request, raw_request):
            if case == "an unknown datatype" and encode is typed_request:
                continue  # typed contents cannot carry a datatype this proto does not know
            refused = await rpc_error(served.stub.ModelInfer(encode("credit", bad), metadata=AUTH))
            assert (refused.code(), refused.details()) == (grpc.StatusCode.INVALID_ARGUMENT, http.json()["error"]), case
    unknown = await rpc_error(served.stub.ModelInfer(typed_request("nope", body), metadata=AUTH))
    assert (unknown.code(), unknown.details()) == (grpc.StatusCode.NOT_FOUND, "model 'nope' is not served here")
    version = await rpc_error(served.stub.ModelInfer(pb.ModelInferRequest(model_name="credit", model_version="x")))
    assert version.code() == grpc.StatusCode.UNAUTHENTICATED  # credentials are checked first, as over HTTP


async def test_refusals_of_the_protobuf_encoding_name_the_input(served: Served) -> None:
    body = await v2_request(served.http, "credit", credit_records(2))
    short = raw_request("credit", body)
    short.raw_input_contents[0] = short.raw_input_contents[0][:-1]
    both = raw_request("credit", body)
    both.inputs[0].contents.fp32_contents.append(1.0)
    fewer = raw_request("credit", body)
    del fewer.raw_input_contents[-1]
    cut_text = raw_request("credit", body)
    position = [t.datatype for t in cut_text.inputs].index("BYTES")
    cut_text.raw_input_contents[position] = cut_text.raw_input_contents[position][:-2]
    not_utf8 = typed_request("credit", body)
    not_utf8.inputs[position].contents.bytes_contents[1] = b"\xff\xfe"
    fp16 = typed_request("credit", _with(body, "age", datatype="FP16"))
    expected = {
        "input 'age' has 7 bytes of raw content; shape [2, 1] of FP32 takes 8": short,
        "input 'age' has contents although raw_input_contents is used": both,
        f"raw_input_contents has {len(body['inputs']) - 1} entries for {len(body['inputs'])} inputs": fewer,
        f"input {cut_text.inputs[position].name!r}: raw BYTES element 1 runs past the end of the content": cut_text,
        f"input {not_utf8.inputs[position].name!r} element 1 is not valid UTF-8 (invalid start byte)": not_utf8,
        "input 'age': FP16 has no typed contents field; send it in raw_input_contents": fp16,
        "the request has no inputs": pb.ModelInferRequest(model_name="credit"),
    }
    for message, request in expected.items():
        refused = await rpc_error(served.stub.ModelInfer(request, metadata=AUTH))
        assert (refused.code(), refused.details()) == (grpc.StatusCode.INVALID_ARGUMENT, message)


async def test_fp16_and_integer_raw_inputs_are_scored(served: Served) -> None:
    records = [{**record, "income": 50000.0, "credit_score": 640.0} for record in credit_records(2)]
    body = await v2_request(served.http, "credit", records)
    expected = (await served.http.post("/v2/models/credit/infer", json=body)).json()
    request = raw_request("credit", body)
    for index, tensor in enumerate(request.inputs):
        if tensor.name in ("income", "credit_score"):  # values exact in both types
            tensor.datatype = "INT64" if tensor.name == "income" else "FP16"
            dtype = "<i8" if tensor.name == "income" else "<f2"
            values = [record[tensor.name] for record in records]
            request.raw_input_contents[index] = np.asarray(values, dtype=dtype).tobytes()
    response = await served.stub.ModelInfer(request, metadata=AUTH)
    assert output_values(response)["probabilities"] == np.asarray(expected["outputs"][1]["data"], "f4").tolist()


async def test_the_same_telemetry_events_as_v2_http(settings: ScoringSettings) -> None:
    settings.grpc_port = free_port()
    records = credit_records(3, seed=4)
    async for http in started_client(create_app(settings)):
        body = await v2_request(http, "credit", records)
        assert (await http.post("/v2/models/credit/infer", json=body)).status_code == 200
        async with grpc.aio.insecure_channel(f"127.0.0.1:{settings.grpc_port}") as channel:
            stub = InferenceStub(channel)
            await stub.ModelInfer(raw_request("credit", body), metadata=(("x-request-id", "grpc-raw"),))
            await stub.ModelInfer(typed_request("credit", body))
            await rpc_error(stub.ModelInfer(typed_request("credit", _with(body, "age", data=[None] * 3))))
        metrics = (await http.get("/metrics")).text
    events = await bus_events(settings)
    predictions = [event for event in events if event["type"] == "driftloop.prediction"]
    assert len(predictions) == 3
    same = ("model", "version", "predictions", "probabilities", "class_labels", "unseen")
    first = {key: predictions[0]["data"][key] for key in same}
    assert [{key: event["data"][key] for key in same} for event in predictions[1:]] == [first, first]
    # The records as each transport carried them: FP32 over gRPC is the JSON number rounded to float32.
    as_float32 = [{k: _float32(v) for k, v in record.items()} for record in predictions[0]["data"]["records"]]
    for event in predictions[1:]:
        assert event["data"]["records"] == as_float32
    assert predictions[1]["data"]["request_id"] == "grpc-raw"
    rejected = [event["data"] for event in events if event["type"] == "driftloop.rejected"]
    assert [(r["model"], r["status"], r["error"]["code"]) for r in rejected] == [("credit", 422, "invalid_records")]
    assert 'name: "age"' in rejected[0]["body"]  # the refused request, as protobuf text
    assert 'driftloop_scoring_requests_total{model="credit",route="infer",status="200"} 3.0' in metrics


def _float32(value: Any) -> Any:
    return float(np.float32(value)) if isinstance(value, float) else value


async def test_the_port_is_released_on_shutdown_and_a_taken_port_fails_loudly(settings: ScoringSettings) -> None:
    settings.grpc_port = free_port()
    async for http in started_client(create_app(settings)):
        assert (await http.get("/v2/health/live")).status_code == 200
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", settings.grpc_port))  # free again: the server stopped and let go of it
        probe.listen()
        with pytest.raises(RuntimeError, match=f"gRPC cannot listen on 127.0.0.1:{settings.grpc_port}"):
            async for _ in started_client(create_app(settings)):
                pass
