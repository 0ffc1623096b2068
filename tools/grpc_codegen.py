"""Generate the Python code of the scoring service's gRPC proto (``make grpc-proto``), or check it.

    python tools/grpc_codegen.py           # rewrite grpc_predict_v2_pb2.py and .pyi from the .proto
    python tools/grpc_codegen.py --check   # exit 1 if the committed files differ from a fresh run

protoc comes from grpcio-tools, pinned in requirements/dev.txt: another version writes other
bytes (and another runtime-version check), so the check names the version it expects.

One change to protoc's output: the descriptors go into a private descriptor pool instead of
protobuf's default one. The proto's package is ``inference``, as the protocol requires (the
service's wire name is ``inference.GRPCInferenceService``), and kserve and tritonclient.grpc each
register their own ``inference.*`` messages in the default pool; two registrations of one
symbol make the second import fail ("duplicate symbol 'inference.ServerLiveRequest'"). In a
private pool the scoring service imports beside either of them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "services" / "scoring" / "src" / "driftloop_scoring" / "grpc"
PROTO = "grpc_predict_v2.proto"
OUTPUTS = ("grpc_predict_v2_pb2.py", "grpc_predict_v2_pb2.pyi")
GRPCIO_TOOLS = "1.81.1"  # keep in step with requirements/dev.txt
DEFAULT_POOL = "DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile("
PRIVATE_POOL = (
    "# driftloop: a private pool, so that kserve's or Triton's own inference.* messages can be imported too.\n"
    "_pool = _descriptor_pool.DescriptorPool()\n"
    "DESCRIPTOR = _pool.AddSerializedFile("
)


def generate() -> dict[str, bytes]:
    """File name -> content, as protoc writes them for the committed .proto (plus the private pool)."""
    from grpc_tools import protoc

    installed = version("grpcio-tools")
    if installed != GRPCIO_TOOLS:
        raise SystemExit(f"grpc_codegen: grpcio-tools {GRPCIO_TOOLS} is pinned, {installed} is installed")
    with tempfile.TemporaryDirectory() as out:
        args = ["protoc", f"-I{PACKAGE}", f"--python_out={out}", f"--pyi_out={out}", str(PACKAGE / PROTO)]
        if protoc.main(args) != 0:
            raise SystemExit(f"grpc_codegen: protoc failed on {PACKAGE / PROTO}")
        files = {name: (Path(out) / name).read_bytes() for name in OUTPUTS}
    code = files[OUTPUTS[0]].decode()
    if code.count(DEFAULT_POOL) != 1:
        raise SystemExit("grpc_codegen: protoc's output no longer has the one default-pool line this script replaces")
    files[OUTPUTS[0]] = code.replace(DEFAULT_POOL, PRIVATE_POOL).encode()
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed files, write nothing")
    check = parser.parse_args().check
    stale = []
    for name, content in generate().items():
        target = PACKAGE / name
        if check:
            if not target.exists() or target.read_bytes() != content:
                stale.append(name)
        else:
            target.write_bytes(content)
    if stale:
        print(f"out of date with {PROTO}: {', '.join(stale)}; run `make grpc-proto`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
