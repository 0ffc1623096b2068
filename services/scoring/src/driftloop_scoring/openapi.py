"""The OpenAPI document: FastAPI's for the control routes, plus the lean inference routes, with
request schemas and examples generated from the contracts of the models being served.

Every example is built from a served model, so that Swagger UI's "Try it out" sends a request the
service answers 200: the model name and version of the path, a record of its contract, a feedback
``actual`` that is one of its classes (or a number for a regressor). The templated operations
(``/v1/models/{name}/predict``) carry the examples of the model their ``name`` parameter shows, so
that the path and the body always agree; every served model also gets its own operations under a
tag of its name (``/v1/models/purpose/predict``), with its record schema and its examples only.
With API keys configured, a caller without one gets the document without the models (no names,
columns, categories or examples): the routes and their shapes only (driftloop.http.docs).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from driftloop.contract import ColumnKind
from driftloop.telemetry.bounds import MAX_NAME, MAX_RECORD_INDEX

from .runtime import ModelRuntime
from .service import ScoringService
from .v2_binary import HEADER_LENGTH

_ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"description": "Problems, each naming the record index, the column and the reason."},
            },
        }
    },
}
_V2_ERROR = {"type": "object", "properties": {"error": {"type": "string"}}}
_EXAMPLE_TIME = "2026-11-27T12:00:00Z"
EVENT_TIME = "-event-time"  # the key suffix of an example that carries event times
_TIME_VALUE = {
    "anyOf": [
        {"type": "string", "format": "date-time", "example": _EXAMPLE_TIME},
        {"type": "number", "description": "Unix seconds", "example": 1795780800},
    ]
}
_TIME_DESCRIPTION = (
    "When the records happened (driftloop.eventtime): an RFC 3339 / ISO 8601 time (an offset or Z; "
    "without one, UTC) or Unix seconds, years 1 to 9999. Windows, cooldowns, rollups and reports count "
    "in this time. Absent: the time the service answered."
)


def _event_time_schema(per_record: bool) -> dict[str, Any]:
    if not per_record:
        return {**_TIME_VALUE, "description": "When the label became known; absent: when the service took it."}
    return {
        "description": _TIME_DESCRIPTION + " One value for every record, or a list of one value per record.",
        "anyOf": [*_TIME_VALUE["anyOf"], {"type": "array", "items": _TIME_VALUE}],
    }


def _record_schema(runtime: ModelRuntime) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for spec in runtime.contract.columns:
        if spec.kind is ColumnKind.CATEGORICAL:
            schema: dict[str, Any] = {"type": "string", "description": f"seen in training: {spec.categories}"}
        elif spec.kind is ColumnKind.BOOLEAN:
            schema = {"type": "boolean"}
        else:
            schema = {"type": "number", "description": f"training range [{spec.minimum}, {spec.maximum}]"}
        if spec.nullable:
            schema = {"anyOf": [schema, {"type": "null"}], "description": schema.get("description", "")}
        properties[spec.name] = schema
    required = [spec.name for spec in runtime.contract.columns if not spec.nullable]
    return {"type": "object", "title": f"{runtime.name} record", "properties": properties, "required": required}


def _v2_example(runtime: ModelRuntime) -> dict[str, Any]:
    record = runtime.example_record()
    inputs = []
    for spec in runtime.contract.columns:
        datatype = "BYTES" if spec.kind is ColumnKind.CATEGORICAL else "FP32"
        value = record[spec.name]
        inputs.append(
            {
                "name": spec.name,
                "datatype": datatype,
                "shape": [1, 1],
                "data": [float(value) if datatype == "FP32" else value],
            }
        )
    return {"id": "example-1", "inputs": inputs}


def _operation(
    summary: str, schema: dict[str, Any], examples: dict[str, Any], error: dict[str, Any], tag: str
) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {"description": "Answered"}}
    for status, meaning in [
        ("400", "Malformed request"),
        ("401", "Missing or invalid API key"),
        ("404", "Unknown model or version"),
        ("413", "Too many records or too large a body"),
        ("422", "Records that do not satisfy the contract"),
        ("503", "Model not loaded yet"),
    ]:
        responses[status] = {"description": meaning, "content": {"application/json": {"schema": error}}}
    return {
        "tags": [tag],
        "summary": summary,
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema, "examples": examples}}},
        "responses": responses,
    }


_BINARY_BODY = {
    "schema": {
        "type": "string",
        "format": "binary",
        "description": (
            "The binary tensor data extension: the request's JSON (its size in the "
            f"{HEADER_LENGTH} header), then the raw bytes of each input that has "
            "parameters.binary_data_size, in the order of the inputs (docs/scoring.md)."
        ),
    }
}
_HEADER_LENGTH_PARAMETER = {
    "name": HEADER_LENGTH,
    "in": "header",
    "required": False,
    "description": "Size in bytes of the JSON at the start of the body; binary tensor data follows it.",
    "schema": {"type": "integer", "minimum": 0},
}


def _name_parameters(with_version: bool, example: ModelRuntime | None) -> list[dict[str, Any]]:
    name: dict[str, Any] = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
    version: dict[str, Any] = {
        "name": "version",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9]{1,9}$"},
    }
    if example is not None:
        name["example"] = example.name
        version["example"] = str(example.version)
    return [name, version] if with_version else [name]


def _feedback_example(runtime: ModelRuntime) -> dict[str, Any]:
    actual = runtime.contract.example_label()
    return {
        "summary": f"the true {'class' if runtime.class_labels else 'value'} of a {runtime.name} prediction",
        "value": {"request_id": "<request_id of a prediction>", "record_index": 0, "actual": actual},
    }


def scoring_document(app: FastAPI, service: ScoringService, *, with_models: bool = True) -> dict[str, Any]:
    """The whole document; ``with_models=False`` leaves out everything the served models' contracts show."""
    # Built on every call, not cached: the models (and their contracts) change at runtime.
    document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    runtimes = list(service.store.champions.values()) if with_models else []
    example = runtimes[0] if runtimes else None
    record_schemas = [_record_schema(runtime) for runtime in runtimes] or [{"type": "object"}]
    predict_schema: dict[str, Any] = {
        "type": "object",
        "required": ["records"],
        "properties": {
            "records": {
                "type": "array",
                "minItems": 1,
                "maxItems": service.settings.limits.max_records,
                "items": {"anyOf": record_schemas},
            },
            "event_time": _event_time_schema(per_record=True),
        },
    }
    predict_examples: dict[str, Any] = {}
    infer_examples: dict[str, Any] = {}
    for r in runtimes:
        predict_examples[r.name] = {"summary": f"one {r.name} record", "value": {"records": [r.example_record()]}}
        predict_examples[f"{r.name}{EVENT_TIME}"] = {
            "summary": f"two {r.name} records that happened earlier, each with its time",
            "value": {"records": [r.example_record()] * 2, "event_time": [_EXAMPLE_TIME, 1795780860]},
        }
        infer_examples[r.name] = {"summary": f"one {r.name} row", "value": _v2_example(r)}
        infer_examples[f"{r.name}{EVENT_TIME}"] = {
            "summary": f"one {r.name} row with its event time",
            "value": {**_v2_example(r), "parameters": {"event_time": _EXAMPLE_TIME}},
        }
    infer_schema = {
        "type": "object",
        "properties": {
            "parameters": {"type": "object", "properties": {"event_time": _event_time_schema(per_record=True)}}
        },
    }
    feedback_schema = {
        "anyOf": [
            {
                "type": "object",
                "required": ["request_id", "actual"],
                "properties": {
                    "request_id": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
                    "record_index": {"type": "integer", "minimum": 0, "maximum": MAX_RECORD_INDEX},
                    "actual": {},
                    "event_time": _event_time_schema(per_record=False),
                },
            },
            {"type": "array", "items": {"type": "object"}},
        ]
    }
    feedback_examples: dict[str, Any] = {}
    for r in runtimes:
        label = _feedback_example(r)
        feedback_examples[r.name] = label
        feedback_examples[f"{r.name}{EVENT_TIME}"] = {
            "summary": f"{label['summary']}, known at a given time",
            "value": {**label["value"], "event_time": _EXAMPLE_TIME},
        }
    paths = document.setdefault("paths", {})
    shown = {example.name} if example is not None else set()

    def of(examples: dict[str, Any], names: set[str]) -> dict[str, Any]:
        return {key: value for key, value in examples.items() if key.removesuffix(EVENT_TIME) in names}

    for versioned in (False, True):
        prefix = "/v1/models/{name}/versions/{version}" if versioned else "/v1/models/{name}"
        v2_prefix = "/v2/models/{name}/versions/{version}" if versioned else "/v2/models/{name}"
        predict = _operation("Score records (v1 JSON API)", predict_schema, of(predict_examples, shown), _ERROR, "v1")
        infer = _operation(
            "Inference (Open Inference Protocol V2)", infer_schema, of(infer_examples, shown), _V2_ERROR, "v2"
        )
        infer["requestBody"]["content"]["application/octet-stream"] = _BINARY_BODY
        for path, operation in ((f"{prefix}/predict", predict), (f"{v2_prefix}/infer", infer)):
            operation["parameters"] = _name_parameters(versioned, example)
            paths[path] = {"post": operation}
        infer["parameters"].append(_HEADER_LENGTH_PARAMETER)
    feedback = _operation(
        "Ground truth for earlier predictions", feedback_schema, of(feedback_examples, shown), _ERROR, "v1"
    )
    feedback["parameters"] = _name_parameters(False, example)
    paths["/v1/models/{name}/feedback"] = {"post": feedback}
    for r in runtimes:
        # "Try it out" on these sends the model's own name: no path parameter to pick apart from the body.
        own = {r.name}
        tag = f"model {r.name}"
        record = {**predict_schema["properties"]["records"], "items": _record_schema(r)}
        own_predict = {**predict_schema, "properties": {**predict_schema["properties"], "records": record}}
        operations = {
            f"/v1/models/{r.name}/predict": _operation(
                f"Score {r.name} records", own_predict, of(predict_examples, own), _ERROR, tag
            ),
            f"/v2/models/{r.name}/infer": _operation(
                f"{r.name} inference (V2)", infer_schema, of(infer_examples, own), _V2_ERROR, tag
            ),
            f"/v1/models/{r.name}/feedback": _operation(
                f"Ground truth for {r.name} predictions", feedback_schema, of(feedback_examples, own), _ERROR, tag
            ),
        }
        for path, operation in operations.items():
            paths[path] = {"post": {**operation, "parameters": []}}
    return document
