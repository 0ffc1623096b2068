"""The gRPC server of the scoring service: grpc.aio on uvicorn's event loop, in the same process.

Started in the app's lifespan when ``DRIFTLOOP_GRPC_PORT`` is set (docs/scoring.md, "gRPC"), after
the models are loaded, and stopped before the telemetry publisher, so that calls still in flight
finish and their events are flushed. The RPC table is read from the proto's own descriptor:
every method of ``inference.GRPCInferenceService``, and nothing else (other methods, such as
Triton's repository API, get UNIMPLEMENTED from grpc itself).
"""

from __future__ import annotations

import logging

import grpc

from ..auth import KeyChecker
from ..service import ScoringService
from . import grpc_predict_v2_pb2 as pb
from .servicer import InferenceServicer

log = logging.getLogger(__name__)

SERVICE = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]
STOP_GRACE_S = 5.0
"""How long calls in flight may take to finish at shutdown before they are cancelled."""


def rpc_handlers(servicer: InferenceServicer) -> grpc.GenericRpcHandler:
    """One unary handler per method of the proto's service, each (de)serialising its own messages."""
    methods = {}
    for method in SERVICE.methods:
        request_class = getattr(pb, method.input_type.name)
        response_class = getattr(pb, method.output_type.name)
        methods[method.name] = grpc.unary_unary_rpc_method_handler(
            getattr(servicer, method.name),
            request_deserializer=request_class.FromString,
            response_serializer=response_class.SerializeToString,
        )
    return grpc.method_handlers_generic_handler(SERVICE.full_name, methods)


class GrpcServer:
    """``inference.GRPCInferenceService`` on ``host:port``; ``start()`` binds (failing loudly), ``stop()`` drains."""

    def __init__(self, service: ScoringService, keys: KeyChecker, *, host: str, port: int, workers: int = 1) -> None:
        self.address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self._server = grpc.aio.server(
            options=[
                # The same limit as an HTTP body (a bigger message gets RESOURCE_EXHAUSTED from grpc).
                ("grpc.max_receive_message_length", service.settings.limits.max_body_bytes),
                # uvicorn's worker processes each bind the port and the kernel spreads the calls;
                # one process alone must fail on a port already taken rather than share it.
                ("grpc.so_reuseport", 1 if workers > 1 else 0),
            ]
        )
        self._server.add_generic_rpc_handlers((rpc_handlers(InferenceServicer(service, keys)),))

    async def start(self) -> None:
        try:
            self._server.add_insecure_port(self.address)
        except RuntimeError as exc:
            raise RuntimeError(f"gRPC cannot listen on {self.address}: {exc}") from exc
        await self._server.start()
        log.info("gRPC (inference.GRPCInferenceService) listening on %s", self.address)

    async def stop(self) -> None:
        await self._server.stop(STOP_GRACE_S)
        log.info("gRPC server on %s stopped", self.address)
