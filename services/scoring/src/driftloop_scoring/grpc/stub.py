"""A client stub for ``inference.GRPCInferenceService`` built from the proto's descriptor (tests, bench/).

protoc's ``_pb2_grpc`` module is not generated (the server builds its handlers from the same
descriptor, server.rpc_handlers): ``InferenceStub(channel).ModelInfer(request, metadata=...)``.
"""

from __future__ import annotations

from typing import Any

from . import grpc_predict_v2_pb2 as pb
from .server import SERVICE


class InferenceStub:
    """One unary-unary callable per RPC, on a ``grpc.Channel`` or ``grpc.aio.Channel``."""

    def __init__(self, channel: Any) -> None:
        for method in SERVICE.methods:
            request_class = getattr(pb, method.input_type.name)
            response_class = getattr(pb, method.output_type.name)
            call = channel.unary_unary(
                f"/{SERVICE.full_name}/{method.name}",
                request_serializer=request_class.SerializeToString,
                response_deserializer=response_class.FromString,
            )
            setattr(self, method.name, call)

    def __getattr__(self, name: str) -> Any:  # the RPCs are set in __init__; this tells mypy they exist
        raise AttributeError(name)
