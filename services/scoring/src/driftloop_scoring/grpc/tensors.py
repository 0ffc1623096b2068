"""Protobuf tensors to and from the V2 JSON shapes the data plane speaks (driftloop_scoring.v2).

A ``ModelInferRequest`` becomes the payload ``v2.parse_infer_request`` reads, so that gRPC
requests are checked by the same code, with the same messages, as V2 JSON ones. Tensor data
arrives either typed (``contents.fp32_contents``, ``bytes_contents``, ...) or raw
(``raw_input_contents``: little-endian, row-major, BYTES elements each behind a 4-byte length),
never both. Floating-point NaN is a missing value, as numpy and pandas write one, and so is an
empty BYTES element: both become the JSON null the data plane reads as missing (refused with
"may not be null" in a column that is not nullable). Infinities go on as they are, and the data
plane reads them as missing too, as it reads V2 JSON's `Infinity`.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np
import orjson

from ..errors import MalformedRequestError
from . import grpc_predict_v2_pb2 as pb

# V2 datatype -> numpy dtype of its raw form.
RAW_DTYPES: dict[str, np.dtype[Any]] = {
    name: np.dtype(code)
    for name, code in {
        "BOOL": "?",
        "INT8": "<i1",
        "INT16": "<i2",
        "INT32": "<i4",
        "INT64": "<i8",
        "UINT8": "<u1",
        "UINT16": "<u2",
        "UINT32": "<u4",
        "UINT64": "<u8",
        "FP16": "<f2",
        "FP32": "<f4",
        "FP64": "<f8",
    }.items()
}
# V2 datatype -> the InferTensorContents field that carries it typed (FP16 has none: raw only).
CONTENTS_FIELDS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}
_LENGTH = struct.Struct("<I")


def _bad(message: str, name: str) -> MalformedRequestError:
    return MalformedRequestError(message, details=[{"input": name}])


def parameter_value(parameter: pb.InferParameter) -> Any:
    """The bool, int or text an ``InferParameter`` holds (None for a kind this proto does not know)."""
    choice = parameter.WhichOneof("parameter_choice")
    return getattr(parameter, choice) if choice else None


def wants_raw_outputs(request: pb.ModelInferRequest) -> bool:
    """``binary_data_output`` when the request sets it, else raw outputs for raw inputs (as KServe and Triton do)."""
    asked = (
        parameter_value(request.parameters["binary_data_output"])
        if "binary_data_output" in request.parameters
        else None
    )
    if isinstance(asked, bool):
        return asked
    per_output = any(
        "binary_data" in output.parameters and parameter_value(output.parameters["binary_data"]) is True
        for output in request.outputs
    )
    return per_output or len(request.raw_input_contents) > 0


def infer_payload(request: pb.ModelInferRequest) -> dict[str, Any]:
    """The request as a V2 JSON inference payload: inputs with flat ``data`` lists, outputs, parameters."""
    if not request.inputs:
        raise MalformedRequestError("the request has no inputs", details=[{"field": "inputs", "reason": "empty"}])
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise MalformedRequestError(
            f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} inputs",
            details=[{"field": "raw_input_contents", "reason": "one entry per input, in the order of 'inputs'"}],
        )
    inputs = []
    for position, tensor in enumerate(request.inputs):
        if raw and tensor.HasField("contents"):
            raise _bad(f"input {tensor.name!r} has contents although raw_input_contents is used", tensor.name)
        shape = list(tensor.shape)
        data = _raw_values(tensor, shape, raw[position]) if raw else _typed_values(tensor)
        inputs.append({"name": tensor.name, "datatype": tensor.datatype, "shape": shape, "data": data})
    payload: dict[str, Any] = {"inputs": inputs}
    if request.id:
        payload["id"] = request.id
    if request.outputs:
        payload["outputs"] = [{"name": output.name} for output in request.outputs]
    if request.parameters:
        payload["parameters"] = {key: parameter_value(value) for key, value in request.parameters.items()}
    return payload


def _raw_values(tensor: pb.ModelInferRequest.InferInputTensor, shape: list[int], content: bytes) -> list[Any]:
    name, datatype = tensor.name, tensor.datatype
    if any(dim < 0 for dim in shape):
        return []  # parse_infer_request names the bad shape
    count = math.prod(shape)
    if datatype == "BYTES":
        texts = _text(_bytes_elements(content, name), name)
        if len(texts) != count:
            raise _bad(f"input {name!r} has {len(texts)} BYTES elements for shape {shape}", name)
        return list(texts)
    dtype = RAW_DTYPES.get(datatype)
    if dtype is None:
        return []  # parse_infer_request names the datatype it expected
    if len(content) != count * dtype.itemsize:
        raise _bad(
            f"input {name!r} has {len(content)} bytes of raw content; shape {shape} of {datatype} "
            f"takes {count * dtype.itemsize}",
            name,
        )
    array = np.frombuffer(content, dtype=dtype)
    values: list[Any] = array.tolist()
    if dtype.kind == "f" and np.isnan(array).any():
        return _missing_for_nan(values)
    return values


def _typed_values(tensor: pb.ModelInferRequest.InferInputTensor) -> list[Any]:
    name, datatype = tensor.name, tensor.datatype
    if datatype == "FP16":
        raise _bad(f"input {name!r}: FP16 has no typed contents field; send it in raw_input_contents", name)
    field = CONTENTS_FIELDS.get(datatype)
    if field is None:
        return []  # parse_infer_request names the datatype it expected
    values: list[Any] = list(getattr(tensor.contents, field))
    if datatype == "BYTES":
        return _text(values, name)
    if datatype in ("FP32", "FP64"):
        return _missing_for_nan(values)
    return values


def _missing_for_nan(values: list[Any]) -> list[Any]:
    return [None if value != value else value for value in values]  # NaN is the one value unequal to itself


def _bytes_elements(content: bytes, name: str) -> list[bytes]:
    """A raw BYTES tensor: each element a 4-byte little-endian length, then that many bytes."""
    elements: list[bytes] = []
    offset, end = 0, len(content)
    while offset < end:
        if offset + 4 > end:
            raise _bad(f"input {name!r}: raw BYTES content ends inside the length of element {len(elements)}", name)
        (length,) = _LENGTH.unpack_from(content, offset)
        offset += 4
        if offset + length > end:
            raise _bad(f"input {name!r}: raw BYTES element {len(elements)} runs past the end of the content", name)
        elements.append(content[offset : offset + length])
        offset += length
    return elements


def _text(elements: list[bytes], name: str) -> list[str | None]:
    """UTF-8 text per element; an empty element is a missing value (there is no null in a BYTES tensor)."""
    values: list[str | None] = []
    for index, element in enumerate(elements):
        try:
            values.append(element.decode() or None)
        except UnicodeDecodeError as exc:
            raise _bad(f"input {name!r} element {index} is not valid UTF-8 ({exc.reason})", name) from None
    return values


def infer_response(answer: dict[str, Any], *, raw: bool) -> pb.ModelInferResponse:
    """A V2 JSON inference response (ScoringService.infer) as a ``ModelInferResponse``, typed or raw.

    Parameters that are not a bool, an int or text (``class_labels``, a list) are sent as JSON text.
    """
    response = pb.ModelInferResponse(
        model_name=answer["model_name"], model_version=answer["model_version"], id=answer["id"]
    )
    for output in answer["outputs"]:
        datatype = output["datatype"]
        tensor = response.outputs.add(name=output["name"], datatype=datatype, shape=output["shape"])
        if raw:
            response.raw_output_contents.append(np.asarray(output["data"], dtype=RAW_DTYPES[datatype]).tobytes())
        else:
            getattr(tensor.contents, CONTENTS_FIELDS[datatype]).extend(output["data"])
    for key, value in answer.get("parameters", {}).items():
        set_parameter(response.parameters[key], value)
    return response


def set_parameter(parameter: pb.InferParameter, value: Any) -> None:
    if isinstance(value, bool):
        parameter.bool_param = value
    elif isinstance(value, int):
        parameter.int64_param = value
    elif isinstance(value, str):
        parameter.string_param = value
    else:
        parameter.string_param = orjson.dumps(value).decode()
