"""The V2 binary tensor data extension, and NaN/Infinity as missing values, in process (docs/scoring.md).

Bodies are built here with numpy and struct, independently of the service's own encoder, and
every answer is compared with the v1 API's answer on the same records.
"""

from __future__ import annotations

import contextlib
import math
import struct
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scoring_bundles import credit_frame, credit_records, register, train_model
from scoring_client import bus_events, started_client

from driftloop.registry import Registry
from driftloop.telemetry.settings import BusSettings
from driftloop_scoring.app import create_app
from driftloop_scoring.settings import AuthSettings, ScoringRegistrySettings, ScoringSettings

pytestmark = pytest.mark.anyio

HEADER = "Inference-Header-Content-Length"
NUMPY = {
    "BOOL": np.dtype(np.bool_),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
MODELS = ["credit", "purpose", "rate"]
RECORDS = credit_records(8)  # records 6 and 7 hold missing values (years_employed, employment_type, credit_score)


def raw(datatype: str, values: list[Any]) -> bytes:
    if datatype == "BYTES":
        return b"".join(struct.pack("<I", len(text.encode())) + text.encode() for text in values)
    return np.asarray(values, dtype=NUMPY[datatype]).tobytes()


def column(records: list[dict[str, Any]], name: str, datatype: str) -> list[Any]:
    """A column as a numpy user sends it: NaN for a missing number, "" for a missing category."""
    values = [record[name] for record in records]
    if datatype == "BYTES":
        return ["" if value is None else value for value in values]
    return [math.nan if value is None else value for value in values]


def binary_request(
    metadata: dict[str, Any],
    records: list[dict[str, Any]],
    *,
    datatypes: dict[str, str] | None = None,
    **fields: Any,
) -> tuple[bytes, dict[str, str]]:
    """Every input as binary data; ``fields`` added to the JSON (``outputs``, ``parameters``)."""
    inputs, blobs = [], []
    for tensor in metadata["inputs"]:
        name = tensor["name"]
        datatype = (datatypes or {}).get(name, tensor["datatype"])
        blob = raw(datatype, column(records, name, datatype))
        shape = [len(records), 1]
        inputs.append(
            {"name": name, "datatype": datatype, "shape": shape, "parameters": {"binary_data_size": len(blob)}}
        )
        blobs.append(blob)
    header = orjson.dumps({"id": "binary-1", "inputs": inputs, **fields})
    headers = {HEADER: str(len(header)), "content-type": "application/octet-stream"}
    return header + b"".join(blobs), headers


def read_response(response: httpx.Response) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The JSON part and the outputs (binary ones decoded, JSON ones as arrays)."""
    assert response.status_code == 200, response.text
    length = int(response.headers.get(HEADER, len(response.content)))
    header = orjson.loads(response.content[:length])
    offset = length
    outputs = {}
    for output in header["outputs"]:
        dtype = NUMPY[output["datatype"]]
        if "binary_data_size" in output.get("parameters", {}):
            assert "data" not in output
            end = offset + output["parameters"]["binary_data_size"]
            outputs[output["name"]] = np.frombuffer(response.content[offset:end], dtype=dtype).reshape(output["shape"])
            offset = end
        else:
            outputs[output["name"]] = np.asarray(output["data"], dtype=dtype).reshape(output["shape"])
    assert offset == len(response.content)
    return header, outputs


async def v1_answers(client: httpx.AsyncClient, model: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = await client.post(f"/v1/models/{model}/predict", json={"records": records})
    assert response.status_code == 200, response.text
    return response.json()["predictions"]  # type: ignore[no-any-return]


def assert_same_as_v1(header: dict[str, Any], outputs: dict[str, np.ndarray], v1: list[dict[str, Any]]) -> None:
    """Exactly the v1 answer: the same class labels and float32 probabilities, or the same values."""
    if "variable" in outputs:
        assert outputs["variable"].reshape(-1).tolist() == [p["prediction"] for p in v1]
        return
    labels = header["parameters"]["class_labels"]
    assert [labels[i] for i in outputs["label"].tolist()] == [p["prediction"] for p in v1]
    keys = [str(label) for label in labels]
    assert outputs["probabilities"].tolist() == [[p["probabilities"][k] for k in keys] for p in v1]


@pytest.mark.parametrize("model", MODELS)
async def test_binary_inputs_and_outputs_give_the_v1_answer(client: httpx.AsyncClient, model: str) -> None:
    metadata = (await client.get(f"/v2/models/{model}")).json()
    body, headers = binary_request(metadata, RECORDS, parameters={"binary_data_output": True})
    response = await client.post(f"/v2/models/{model}/infer", content=body, headers=headers)
    assert response.headers["content-type"] == "application/octet-stream"
    header, outputs = read_response(response)
    assert (header["model_name"], header["id"]) == (model, "binary-1")
    assert all("binary_data_size" in output["parameters"] for output in header["outputs"])
    assert_same_as_v1(header, outputs, await v1_answers(client, model, RECORDS))


async def test_each_output_chooses_binary_or_json(client: httpx.AsyncClient) -> None:
    metadata = (await client.get("/v2/models/credit")).json()
    v1 = await v1_answers(client, "credit", RECORDS)
    # binary_data on an output overrides the request's binary_data_output.
    outputs = [{"name": "label"}, {"name": "probabilities", "parameters": {"binary_data": False}}]
    body, headers = binary_request(metadata, RECORDS, outputs=outputs, parameters={"binary_data_output": True})
    header, decoded = read_response(await client.post("/v2/models/credit/infer", content=body, headers=headers))
    label, probabilities = header["outputs"]
    assert label["parameters"] == {"binary_data_size": 8 * len(RECORDS)}  # INT64
    assert "parameters" not in probabilities
    assert len(probabilities["data"]) == 2 * len(RECORDS)
    assert_same_as_v1(header, decoded, v1)
    # Binary inputs, JSON outputs: a plain JSON answer.
    body, headers = binary_request(metadata, RECORDS)
    response = await client.post("/v2/models/credit/infer", content=body, headers=headers)
    assert (response.headers["content-type"], HEADER.lower() in response.headers) == ("application/json", False)
    assert_same_as_v1(*read_response(response), v1)
    # JSON inputs, a binary output.
    json_inputs = [
        {"name": t["name"], "datatype": t["datatype"], "shape": [len(RECORDS)], "data": [r[t["name"]] for r in RECORDS]}
        for t in metadata["inputs"]
    ]
    request = {"inputs": json_inputs, "outputs": [{"name": "label", "parameters": {"binary_data": True}}]}
    header, decoded = read_response(await client.post("/v2/models/credit/infer", json=request))
    assert decoded["label"].tolist() == [p["prediction"] for p in v1]  # class labels 0 and 1 are their indices


@pytest.mark.parametrize("datatype", [t for t in NUMPY if t != "BOOL"])
async def test_every_numeric_datatype_reads_the_same_numbers(client: httpx.AsyncClient, datatype: str) -> None:
    # Whole, small, non-negative counts: exact in every numeric type.
    metadata = (await client.get("/v2/models/credit")).json()
    counts = {"open_accounts": datatype, "delinquencies_2y": datatype, "loan_term_months": datatype}
    body, headers = binary_request(metadata, RECORDS[:6], datatypes=counts, parameters={"binary_data_output": True})
    header, outputs = read_response(await client.post("/v2/models/credit/infer", content=body, headers=headers))
    assert_same_as_v1(header, outputs, await v1_answers(client, "credit", RECORDS[:6]))


@pytest.fixture(scope="module")
def flag_registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """One binary classifier with a boolean column (BOOL tensors)."""
    registry = Registry(tmp_path_factory.mktemp("flag-registry"))
    frame = credit_frame(600)
    frame["cosigned"] = [i % 3 == 0 for i in range(len(frame))]
    register(registry, "cosign", *train_model(frame, "default", "binary"))
    return registry


@pytest.fixture
async def flag_client(flag_registry: Registry, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = ScoringSettings(
        registry=ScoringRegistrySettings(path=flag_registry.root, poll_interval_s=0),
        bus=BusSettings(url=f"sqlite:///{tmp_path}/bus.db", spill_path=tmp_path / "spill"),
        auth=AuthSettings(),
    )
    async for client in started_client(create_app(settings)):
        yield client


async def test_bool_tensors_for_a_boolean_column(flag_client: httpx.AsyncClient) -> None:
    records = [{**record, "cosigned": i % 2 == 0} for i, record in enumerate(RECORDS)]
    metadata = (await flag_client.get("/v2/models/cosign")).json()
    body, headers = binary_request(
        metadata, records, datatypes={"cosigned": "BOOL"}, parameters={"binary_data_output": True}
    )
    header, outputs = read_response(await flag_client.post("/v2/models/cosign/infer", content=body, headers=headers))
    assert_same_as_v1(header, outputs, await v1_answers(flag_client, "cosign", records))
    # A BOOL element is one byte, 0 or 1.
    position = body.index(raw("BOOL", [r["cosigned"] for r in records]))
    response = await flag_client.post(
        "/v2/models/cosign/infer", content=body[:position] + b"\x02" + body[position + 1 :], headers=headers
    )
    assert (response.status_code, response.json()) == (
        400,
        {"error": "input 'cosigned': BOOL element 0 is 2, not 0 or 1"},
    )


def _mutate_input(body: bytes, headers: dict[str, str], name: str, **changes: Any) -> tuple[bytes, dict[str, str]]:
    """Change one input's JSON (``parameters``, ``data``, ...), keeping the binary part as it is."""
    length = int(headers[HEADER])
    request = orjson.loads(body[:length])
    for tensor in request["inputs"]:
        if tensor["name"] == name:
            tensor.update(changes)
    header = orjson.dumps(request)
    return header + body[length:], {**headers, HEADER: str(len(header))}


def _categories(*values: bytes) -> bytes:
    return b"".join(values)


# (how the valid two-record body is broken, the error); region is BYTES, age FP32.
MALFORMED = [
    (lambda b, h: (b, {**h, HEADER: "12abc"}), "the Inference-Header-Content-Length header must be a number of bytes"),
    (lambda b, h: (b, {**h, HEADER: str(len(b) + 1)}), "the Inference-Header-Content-Length header gives"),
    (lambda b, h: (b[:-1], h),  # employment_type is the last input
     "input 'employment_type': parameters.binary_data_size is 24 bytes, but only 23 bytes of binary data are left"),
    (lambda b, h: (b + b"\x00", h), "the body has 1 bytes of binary data after the inputs'"),
    (lambda b, h: _mutate_input(b, h, "age", parameters={"binary_data_size": 7}),
     "input 'age': 7 bytes of FP32 data are not a whole number of 4-byte elements"),
    (lambda b, h: _mutate_input(b, h, "age", parameters={"binary_data_size": 4}),
     "input 'age' has 1 values for shape [2, 1]"),
    (lambda b, h: _mutate_input(b, h, "age", parameters={"binary_data_size": -8}),
     "input 'age': parameters.binary_data_size must be a number of bytes"),
    (lambda b, h: _mutate_input(b, h, "age", parameters={"binary_data_size": True}),
     "input 'age': parameters.binary_data_size must be a number of bytes"),
    (lambda b, h: _mutate_input(b, h, "age", data=[1, 2]),
     "input 'age' has both 'data' and parameters.binary_data_size"),
    (lambda b, h: _mutate_input(b, h, "age", datatype="BF16"), "input 'age' has datatype 'BF16'; expected FP32"),
    (lambda b, h: _mutate_input(b, h, "region", datatype="FP32"), "input 'region' has datatype 'FP32'; expected BYTES"),
    (lambda b, h: (b, {k: v for k, v in h.items() if k != HEADER}), "the body is not valid JSON"),
    (lambda b, h: _mutate_input(b, h, "age", parameters=[1]), "input 'age': 'parameters' must be an object"),
]  # fmt: skip


@pytest.mark.parametrize(("breaks", "message"), MALFORMED)
async def test_a_malformed_binary_body_is_a_400_naming_the_input(
    client: httpx.AsyncClient, breaks: Any, message: str
) -> None:
    metadata = (await client.get("/v2/models/credit")).json()
    body, headers = breaks(*binary_request(metadata, RECORDS[:2]))
    response = await client.post("/v2/models/credit/infer", content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"\x05\x00\x00", "input 'region': BYTES element 0 is cut off in its 4-byte length"),
        (
            struct.pack("<I", 9) + b"north",
            "input 'region': BYTES element 0 has length 9, more than the 5 bytes left in the tensor",
        ),
        (struct.pack("<I", 2) + b"\xff\xfe", "input 'region': BYTES element 0 is not UTF-8 text"),
    ],
)
async def test_malformed_bytes_elements(client: httpx.AsyncClient, blob: bytes, message: str) -> None:
    metadata = (await client.get("/v2/models/credit")).json()
    only_region = {"inputs": [t for t in metadata["inputs"] if t["name"] == "region"]}
    body, headers = binary_request(only_region, RECORDS[:1])
    length = int(headers[HEADER])
    body, headers = _mutate_input(body[:length] + blob, headers, "region", parameters={"binary_data_size": len(blob)})
    response = await client.post("/v2/models/credit/infer", content=body, headers=headers)
    assert (response.status_code, response.json()) == (400, {"error": message})


async def test_binary_data_needs_the_header_and_output_flags_are_booleans(client: httpx.AsyncClient) -> None:
    metadata = (await client.get("/v2/models/credit")).json()
    tensor = {"name": "age", "datatype": "FP32", "shape": [1], "parameters": {"binary_data_size": 4}}
    response = await client.post("/v2/models/credit/infer", json={"inputs": [tensor]})
    assert response.json() == {
        "error": "input 'age' has parameters.binary_data_size but the request has no binary data "
        "(no Inference-Header-Content-Length header)"
    }
    body, headers = binary_request(metadata, RECORDS[:1], outputs=[{"name": "label", "parameters": {"binary_data": 1}}])
    response = await client.post("/v2/models/credit/infer", content=body, headers=headers)
    assert response.json() == {"error": "output 'label': parameters.binary_data must be true or false"}
    body, headers = binary_request(metadata, RECORDS[:1], parameters={"binary_data_output": "yes"})
    response = await client.post("/v2/models/credit/infer", content=body, headers=headers)
    assert response.json() == {"error": "parameters: parameters.binary_data_output must be true or false"}
    body, headers = binary_request(metadata, RECORDS[:1], outputs=[{"name": "label"}, {"name": "label"}])
    response = await client.post("/v2/models/credit/infer", content=body, headers=headers)
    assert response.json() == {"error": "output 'label' is requested twice"}


async def test_octet_stream_is_accepted_by_v2_infer_only(client: httpx.AsyncClient) -> None:
    metadata = (await client.get("/v2/models/credit")).json()
    body, headers = binary_request(metadata, RECORDS[:1])
    assert (await client.post("/v2/models/credit/infer", content=body, headers=headers)).status_code == 200
    refused = await client.post(
        "/v2/models/credit/infer", content=body, headers={**headers, "content-type": "text/plain"}
    )
    assert (refused.status_code, refused.json()) == (
        415,
        {"error": "Content-Type 'text/plain' is not accepted: send application/json or application/octet-stream"},
    )
    v1 = await client.post(
        "/v1/models/credit/predict", content=b'{"records": []}', headers={"content-type": "application/octet-stream"}
    )
    assert (v1.status_code, v1.json()["error"]["code"]) == (415, "unsupported_media_type")


def _v2_json_body(metadata: dict[str, Any], records: list[dict[str, Any]], literal: dict[str, bytes]) -> bytes:
    """A V2 JSON body written by hand, with a literal (``NaN``, ``Infinity``) for some columns of record 0."""
    inputs = []
    for tensor in metadata["inputs"]:
        values = [orjson.dumps(record[tensor["name"]]) for record in records]
        if tensor["name"] in literal:
            values[0] = literal[tensor["name"]]
        data = b"[" + b",".join(values) + b"]"
        head = orjson.dumps({"name": tensor["name"], "datatype": tensor["datatype"], "shape": [len(records)]})
        inputs.append(head[:-1] + b',"data":' + data + b"}")
    return b'{"inputs":[' + b",".join(inputs) + b"]}"


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
async def test_nan_and_infinity_are_missing_where_the_column_is_nullable(
    client: httpx.AsyncClient, literal: bytes
) -> None:
    metadata = (await client.get("/v2/models/credit")).json()
    records = RECORDS[:3]
    as_null = [{**records[0], "income": None, "credit_score": None}, *records[1:]]
    v1 = await v1_answers(client, "credit", as_null)
    body = _v2_json_body(metadata, records, {"income": literal, "credit_score": literal})
    header, outputs = read_response(
        await client.post("/v2/models/credit/infer", content=body, headers={"content-type": "application/json"})
    )
    assert_same_as_v1(header, outputs, v1)
    # v1 reads the same constants the same way.
    v1_body = orjson.dumps({"records": as_null}).replace(b'"income":null', b'"income":' + literal, 1)
    response = await client.post(
        "/v1/models/credit/predict", content=v1_body, headers={"content-type": "application/json"}
    )
    assert response.json()["predictions"] == [{**p, "id": response.json()["request_id"] + p["id"][-2:]} for p in v1]


@pytest.mark.parametrize(("literal", "name"), [(b"NaN", "NaN"), (b"Infinity", "Infinity"), (b"-Infinity", "-Infinity")])
async def test_nan_and_infinity_are_refused_where_the_column_is_required(
    client: httpx.AsyncClient, literal: bytes, name: str
) -> None:
    reason = f"may not be {name}, which stands for a missing value, and the column is required"
    metadata = (await client.get("/v2/models/credit")).json()
    body = _v2_json_body(metadata, RECORDS[:2], {"age": literal})
    response = await client.post("/v2/models/credit/infer", content=body, headers={"content-type": "application/json"})
    assert (response.status_code, response.json()) == (400, {"error": f"record 0, column 'age': {reason}"})
    v1_body = orjson.dumps({"records": RECORDS[:1]}).replace(b'"age":46.0', b'"age":' + literal, 1)
    response = await client.post(
        "/v1/models/credit/predict", content=v1_body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"] == [{"record": 0, "column": "age", "reason": reason}]
    # The same in a binary FP32 tensor.
    records = [{**RECORDS[0], "age": float(name.replace("Infinity", "inf"))}]
    body, headers = binary_request(metadata, records)
    response = await client.post("/v2/models/credit/infer", content=body, headers=headers)
    assert (response.status_code, response.json()) == (400, {"error": f"record 0, column 'age': {reason}"})


async def test_the_events_carry_binary_values_and_nan_as_missing(settings: ScoringSettings) -> None:
    async for client in started_client(create_app(settings)):
        metadata = (await client.get("/v2/models/credit")).json()
        records = [{**RECORDS[0], "income": None, "employment_type": None}]
        body, headers = binary_request(metadata, records)
        assert (await client.post("/v2/models/credit/infer", content=body, headers=headers)).status_code == 200
    (event,) = [e for e in await bus_events(settings) if e["type"] == "driftloop.prediction"]
    (record,) = event["data"]["records"]
    assert record["income"] is None  # NaN in the tensor: missing in the event
    assert record["employment_type"] == ""  # the contract's missing category
    assert (record["age"], record["region"]) == (RECORDS[0]["age"], RECORDS[0]["region"])
    # An FP32 tensor's value is recorded as the shortest decimal of its float32: what the client wrote.
    assert record["interest_rate"] == RECORDS[0]["interest_rate"] == 14.34
    assert float(np.float32(14.34)) != 14.34


BinaryPost = Callable[[bytes, str], httpx.Response]
FUZZED = [("age", "FP32"), ("region", "BYTES"), ("income", "FP64"), ("purpose", "BYTES"), ("savings", "INT8")]


@pytest.fixture(scope="module")
def post_binary(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BinaryPost]:
    """A blocking ``post(body, header_length)`` into one running app (hypothesis drives synchronous tests)."""
    home: Path = tmp_path_factory.mktemp("binary-fuzz")
    app = create_app(
        ScoringSettings(
            registry=ScoringRegistrySettings(path=registry.root, poll_interval_s=0),
            bus=BusSettings(url=f"sqlite:///{home}/bus.db", spill_path=home / "spill"),
        )
    )

    @contextlib.asynccontextmanager
    async def running() -> AsyncIterator[httpx.AsyncClient]:
        async for client in started_client(app):
            yield client

    with anyio.from_thread.start_blocking_portal() as portal, portal.wrap_async_context_manager(running()) as client:

        def post(body: bytes, length: str) -> httpx.Response:
            headers = {HEADER: length, "content-type": "application/octet-stream"}
            return portal.call(lambda: client.post("/v2/models/credit/infer", content=body, headers=headers))

        yield post


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    sizes=st.lists(st.integers(-1, 24) | st.none(), min_size=1, max_size=len(FUZZED)),
    rows=st.integers(0, 3),
    tail=st.binary(max_size=48),
    length=st.none() | st.integers(0, 600).map(str) | st.sampled_from(["", "-1", "1e3", " 12", "9" * 30]),
)
def test_generated_binary_bodies_are_never_a_5xx(
    post_binary: BinaryPost, sizes: list[int | None], rows: int, tail: bytes, length: str | None
) -> None:
    inputs = []
    for (name, datatype), size in zip(FUZZED, sizes, strict=False):
        tensor: dict[str, Any] = {"name": name, "datatype": datatype, "shape": [rows, 1]}
        tensor["parameters"] = {"binary_data_size": size} if size is not None else {}
        inputs.append(tensor)
    header = orjson.dumps({"inputs": inputs, "parameters": {"binary_data_output": True}})
    response = post_binary(header + tail, str(len(header)) if length is None else length)
    assert response.status_code in (200, 400, 413), response.text
    if response.status_code != 200:
        assert list(response.json()) == ["error"]


async def test_non_ascii_and_empty_categories_read_as_v1_reads_them(client: httpx.AsyncClient) -> None:
    # "nörth" and "南" are unseen categories (scored, counted as drift); "" is the missing category.
    records = [{**RECORDS[0], "region": "nörth"}, {**RECORDS[1], "region": "南"}, {**RECORDS[2], "employment_type": ""}]
    metadata = (await client.get("/v2/models/credit")).json()
    body, headers = binary_request(metadata, records, parameters={"binary_data_output": True})
    header, outputs = read_response(await client.post("/v2/models/credit/infer", content=body, headers=headers))
    assert_same_as_v1(header, outputs, await v1_answers(client, "credit", records))
