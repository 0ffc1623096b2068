"""The committed gRPC code is what tools/grpc_codegen.py generates from the committed proto."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from driftloop_scoring.grpc import grpc_predict_v2_pb2 as pb
from driftloop_scoring.grpc.server import SERVICE

ROOT = Path(__file__).resolve().parents[3]


def test_the_committed_code_matches_the_proto() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "grpc_codegen.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_the_service_is_the_protocol_s_six_rpcs_in_a_private_pool() -> None:
    assert SERVICE.full_name == "inference.GRPCInferenceService"
    assert [method.name for method in SERVICE.methods] == [
        "ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata", "ModelInfer",
    ]  # fmt: skip
    # Not in protobuf's default pool, where kserve and tritonclient.grpc put their own inference.* messages.
    from google.protobuf import descriptor_pool

    assert pb.DESCRIPTOR.pool is not descriptor_pool.Default()
