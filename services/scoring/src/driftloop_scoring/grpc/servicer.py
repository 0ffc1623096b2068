"""``inference.GRPCInferenceService`` over the scoring core: a thin adapter, like the HTTP endpoints.

Every RPC asks the same objects the HTTP routes ask (ScoringService, the model store, the key
checker, readiness), so a gRPC caller gets the same answers, the same refusals and the same
telemetry events as a V2 JSON caller. A DriftloopError becomes a gRPC status (:func:`status_of`)
with the error's message as its details; a bug becomes INTERNAL with the generic message and a
logged stack trace. As over HTTP, health, readiness and server metadata are open, model metadata
and inference ask for an API key (metadata ``x-api-key`` or ``authorization: Bearer <key>``).
"""

from __future__ import annotations

import logging
import time
from typing import Any, NoReturn, TypeAlias

import grpc
from google.protobuf import text_format

from driftloop import __version__
from driftloop.errors import DriftloopError, UnauthorizedError

from ..auth import KeyChecker
from ..endpoints import INTERNAL_ERROR, model_version, request_id_of
from ..readiness import model_is_ready, readiness
from ..routes import SERVER_NAME
from ..service import ScoringService
from ..v2 import model_metadata
from . import grpc_predict_v2_pb2 as pb
from .tensors import infer_payload, infer_response, wants_raw_outputs

log = logging.getLogger(__name__)

_STATUS = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.FAILED_PRECONDITION,
    413: grpc.StatusCode.INVALID_ARGUMENT,  # a batch over the limit: a bad request, as V2 HTTP's 400
    422: grpc.StatusCode.INVALID_ARGUMENT,
    503: grpc.StatusCode.UNAVAILABLE,
}
# How much of a refused request the rejected event keeps, as protobuf text (the event cuts it further).
_REFUSED_TEXT_CHARS = 16_384

# grpc.aio.ServicerContext; grpcio ships no type information, so mypy sees Any either way.
Context: TypeAlias = Any


def status_of(error: DriftloopError) -> grpc.StatusCode:
    """The gRPC status for a DriftloopError's HTTP status: a bad request of any kind is INVALID_ARGUMENT."""
    return _STATUS.get(error.status_code, grpc.StatusCode.INTERNAL)


def _headers(context: Context) -> list[tuple[bytes, bytes]]:
    """The call's metadata in the shape the HTTP edge reads (lower-case names, bytes)."""
    return [
        (key.encode(), value if isinstance(value, bytes) else value.encode())
        for key, value in context.invocation_metadata() or ()
    ]


class InferenceServicer:
    """The six RPCs of the Open Inference Protocol's gRPC service."""

    def __init__(self, service: ScoringService, keys: KeyChecker) -> None:
        self.service = service
        self.keys = keys

    async def ServerLive(self, request: pb.ServerLiveRequest, context: Context) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request: pb.ServerReadyRequest, context: Context) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=readiness(self.service).ready)

    async def ServerMetadata(self, request: pb.ServerMetadataRequest, context: Context) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(name=SERVER_NAME, version=__version__, extensions=[])

    async def ModelReady(self, request: pb.ModelReadyRequest, context: Context) -> pb.ModelReadyResponse:
        try:
            ready = model_is_ready(self.service, request.name, request.version or None)
        except DriftloopError as exc:
            await _abort(context, exc)
        return pb.ModelReadyResponse(ready=ready)

    async def ModelMetadata(self, request: pb.ModelMetadataRequest, context: Context) -> pb.ModelMetadataResponse:
        try:
            self.keys.check(_headers(context))
            store = self.service.store
            runtime = await store.get(request.name, model_version(request.version or None))
            metadata = model_metadata(runtime, store.registry.versions(request.name))
        except DriftloopError as exc:
            await _abort(context, exc)
        return pb.ModelMetadataResponse(
            name=metadata["name"],
            versions=metadata["versions"],
            platform=metadata["platform"],
            inputs=[pb.ModelMetadataResponse.TensorMetadata(**tensor) for tensor in metadata["inputs"]],
            outputs=[pb.ModelMetadataResponse.TensorMetadata(**tensor) for tensor in metadata["outputs"]],
        )

    async def ModelInfer(self, request: pb.ModelInferRequest, context: Context) -> pb.ModelInferResponse:
        """Auth, the same V2 parsing, validation and telemetry as ``POST /v2/models/{name}/infer``."""
        started = time.perf_counter()
        headers = _headers(context)
        request_id = request_id_of(headers)
        context.set_trailing_metadata((("x-request-id", request_id),))
        name = request.model_name
        try:
            self.keys.check(headers)
            version = model_version(request.model_version or None)
            answer = await self.service.infer(name, version, infer_payload(request), request_id, started)
            return infer_response(answer, raw=wants_raw_outputs(request))
        except DriftloopError as exc:
            error = exc
        except Exception:  # a bug must still answer with a status, and be loud in the log
            log.exception("unexpected error on gRPC ModelInfer for model %s", name, extra={"request_id": request_id})
            error = INTERNAL_ERROR
        # An unauthenticated caller's request is not recorded (ScoringService.refused), so not rendered either.
        body = b"" if isinstance(error, UnauthorizedError) else _as_text(request).encode()
        self.service.refused(name, "infer", request_id, error, body)
        await _abort(context, error, trailing=(("x-request-id", request_id),))


def _as_text(request: pb.ModelInferRequest) -> str:
    text: str = text_format.MessageToString(request, as_one_line=True)
    return text[:_REFUSED_TEXT_CHARS]


async def _abort(context: Context, error: DriftloopError, trailing: tuple[tuple[str, str], ...] = ()) -> NoReturn:
    await context.abort(status_of(error), error.message, trailing_metadata=trailing)
    raise AssertionError("context.abort returned")  # it raises; this line tells mypy so
