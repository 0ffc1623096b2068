"""The Open Inference Protocol (V2) mapping: one input tensor per contract column, the graph's outputs.

Inputs: BYTES for categorical columns, FP32 for numeric and boolean ones (any numeric V2
datatype is accepted), each of shape ``[N]`` or ``[N, 1]``, data flat or nested (row-major).
Outputs: ``label`` (INT64 ``[N]``, an index into the ``class_labels`` parameter) and
``probabilities`` (FP32 ``[N, C]``) for classifiers, ``variable`` (FP32 ``[N, 1]``) for regressors.
Any input and output may travel as raw bytes instead (the binary tensor data extension, v2_binary).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from driftloop.contract import ColumnKind

from .errors import MalformedRequestError
from .runtime import ModelRuntime, Prediction
from .v2_binary import BinaryInputs, binary_flag
from .validation import V2_NUMERIC_TYPES

_MAX_NESTING = 4


@dataclass(frozen=True)
class InferRequest:
    id: str | None
    tensors: dict[str, list[Any]]
    size: int
    outputs: list[str]
    event_time: Any = None
    """``parameters.event_time`` as sent (driftloop.eventtime reads it once the size is known)."""
    binary_outputs: frozenset[str] = frozenset()
    """The outputs to answer as binary data (v2_binary)."""


def _bad(message: str, **detail: Any) -> MalformedRequestError:
    return MalformedRequestError(message, details=[detail] if detail else None)


def _flatten(data: Any, depth: int = 0) -> list[Any]:
    if type(data) is not list:
        return [data]
    if depth > _MAX_NESTING:
        raise _bad("tensor data is nested too deeply")
    if not any(type(item) is list for item in data):
        return data
    flat: list[Any] = []
    for item in data:
        flat.extend(_flatten(item, depth + 1))
    return flat


def parse_infer_request(payload: Any, runtime: ModelRuntime, binary: memoryview | None = None) -> InferRequest:
    """An inference request's JSON (and the binary data after it, v2_binary.split_body) checked for ``runtime``."""
    if type(payload) is not dict or type(payload.get("inputs")) is not list or not payload["inputs"]:
        raise _bad("the body must be a JSON object with a non-empty 'inputs' list", field="inputs")
    request_id = payload.get("id")
    if request_id is not None and type(request_id) is not str:
        raise _bad("'id' must be a string", field="id")
    kinds = {spec.name: spec.kind for spec in runtime.contract.columns}
    tensors: dict[str, list[Any]] = {}
    size: int | None = None
    binary_inputs = BinaryInputs(binary)
    for position, tensor in enumerate(payload["inputs"]):
        if type(tensor) is not dict:
            raise _bad(f"input {position} must be an object", input=position)
        name, datatype, shape, data = (tensor.get(key) for key in ("name", "datatype", "shape", "data"))
        if type(name) is not str or name not in kinds:
            raise _bad(f"input {position}: {str(name)[:60]!r} is not an input of this model", input=position)
        if name in tensors:
            raise _bad(f"input {name!r} is given twice", input=name)
        expected = "BYTES" if kinds[name] is ColumnKind.CATEGORICAL else "FP32"
        accepted = {"BYTES"} if expected == "BYTES" else V2_NUMERIC_TYPES
        if type(datatype) is not str or datatype not in accepted:
            raise _bad(f"input {name!r} has datatype {str(datatype)[:20]!r}; expected {expected}", input=name)
        if (
            type(shape) is not list
            or not 1 <= len(shape) <= 2
            or any(type(dim) is not int or dim < 0 for dim in shape)
            or (len(shape) == 2 and shape[1] != 1)
        ):
            raise _bad(f"input {name!r} has shape {str(shape)[:40]}; expected [N] or [N, 1]", input=name)
        values = binary_inputs.take(name, datatype, tensor.get("parameters"))
        if values is None:
            if type(data) is not list:
                raise _bad(f"input {name!r} has no 'data' list", input=name)
            values = _flatten(data)
        elif data is not None:
            raise _bad(f"input {name!r} has both 'data' and parameters.binary_data_size", input=name)
        if len(values) != shape[0]:
            raise _bad(f"input {name!r} has {len(values)} values for shape {shape}", input=name)
        if size is not None and shape[0] != size:
            raise _bad(f"input {name!r} has {shape[0]} rows, another input has {size}", input=name)
        size = shape[0]
        tensors[name] = values
    binary_inputs.finish()
    parameters = payload.get("parameters")
    if parameters is not None and type(parameters) is not dict:
        raise _bad("'parameters' must be an object", field="parameters")
    event_time = parameters.get("event_time") if parameters else None
    all_binary = binary_flag(parameters, "binary_data_output", "parameters") or False
    outputs, binary_outputs = _requested_outputs(payload.get("outputs"), runtime, all_binary)
    return InferRequest(request_id, tensors, size or 0, outputs, event_time, binary_outputs)


def _requested_outputs(outputs: Any, runtime: ModelRuntime, all_binary: bool) -> tuple[list[str], frozenset[str]]:
    """The outputs' names, and those to answer as binary data (``binary_data`` overrides ``binary_data_output``)."""
    if outputs is None:
        return runtime.output_names, frozenset(runtime.output_names if all_binary else ())
    if type(outputs) is not list:
        raise _bad("'outputs' must be a list of {\"name\": ...} objects", field="outputs")
    names = []
    binary = set()
    for output in outputs:
        name = output.get("name") if type(output) is dict else None
        if name not in runtime.output_names:
            raise _bad(
                f"{str(name)[:60]!r} is not an output of this model (outputs: {runtime.output_names})", field="outputs"
            )
        if name in names:
            raise _bad(f"output {name!r} is requested twice", field="outputs")
        names.append(name)
        flag = binary_flag(output.get("parameters"), "binary_data", f"output {name!r}")
        if all_binary if flag is None else flag:
            binary.add(name)
    return names, frozenset(binary)


def v2_outputs(
    runtime: ModelRuntime, prediction: Prediction, names: list[str], binary: frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """The output tensors ``names`` as JSON; those in ``binary`` marked ``parameters.binary_data`` (v2_binary)."""
    tensors: dict[str, dict[str, Any]] = {}
    if prediction.labels is not None and prediction.probabilities is not None:
        labels = prediction.labels.reshape(-1)
        tensors["label"] = {"name": "label", "datatype": "INT64", "shape": [len(labels)], "data": labels.tolist()}
        probabilities = prediction.probabilities
        tensors["probabilities"] = {
            "name": "probabilities",
            "datatype": "FP32",
            "shape": list(probabilities.shape),
            "data": probabilities.reshape(-1).tolist(),
        }
    elif prediction.values is not None:
        values = prediction.values.reshape(-1, 1)
        tensors["variable"] = {
            "name": "variable",
            "datatype": "FP32",
            "shape": list(values.shape),
            "data": values.reshape(-1).tolist(),
        }
    if binary:
        for name in binary:
            tensors[name]["parameters"] = {"binary_data": True}
    return [tensors[name] for name in names]


def model_metadata(runtime: ModelRuntime, versions: list[int]) -> dict[str, Any]:
    """``GET /v2/models/{name}``: the contract's columns as input tensors, and the graph's outputs."""
    inputs = [
        {"name": spec.name, "datatype": "BYTES" if spec.kind is ColumnKind.CATEGORICAL else "FP32", "shape": [-1, 1]}
        for spec in runtime.contract.columns
    ]
    if runtime.task.is_classification:
        outputs = [
            {"name": "label", "datatype": "INT64", "shape": [-1]},
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, len(runtime.class_labels)]},
        ]
    else:
        outputs = [{"name": "variable", "datatype": "FP32", "shape": [-1, 1]}]
    metadata: dict[str, Any] = {
        "name": runtime.name,
        "versions": [str(v) for v in versions],
        "platform": "onnxruntime_onnx",
        "inputs": inputs,
        "outputs": outputs,
        "parameters": {"version": str(runtime.version), "task": str(runtime.task)},
    }
    if runtime.class_labels:
        metadata["parameters"]["class_labels"] = runtime.class_labels
    return metadata
