"""Hot swap under continuous gRPC load on a real server: no failed call, every answer names its version."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pytest
from integration_servers import free_port
from scoring_bundles import credit_frame, credit_records, register, train_model
from scoring_server import ScoringServer, server_env

from driftloop.registry import Registry
from driftloop_scoring.grpc import grpc_predict_v2_pb2 as pb
from driftloop_scoring.grpc.stub import InferenceStub

pytestmark = pytest.mark.anyio
CONCURRENCY = 8
ANSWERS_BETWEEN_MOVES = 40


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def infer_request(inputs: list[dict[str, Any]], records: list[dict[str, Any]], version: str = "") -> Any:
    request = pb.ModelInferRequest(model_name="credit", model_version=version)
    for tensor in inputs:
        added = request.inputs.add(name=tensor["name"], datatype=tensor["datatype"], shape=[len(records), 1])
        values = [record[tensor["name"]] for record in records]
        if tensor["datatype"] == "BYTES":
            added.contents.bytes_contents.extend(b"" if v is None else v.encode() for v in values)
        else:
            added.contents.fp32_contents.extend(math.nan if v is None else v for v in values)
    return request


class Load:
    """Workers calling ModelInfer back to back until stopped, recording every answer and every failure."""

    def __init__(self, stub: InferenceStub, request: Any) -> None:
        self.stub = stub
        self.request = request
        self.answers: list[tuple[int, list[float]]] = []
        self.failures: list[str] = []
        self._stop = asyncio.Event()
        self._progress = asyncio.Condition()

    async def worker(self) -> None:
        while not self._stop.is_set():
            try:
                response = await self.stub.ModelInfer(self.request)
                probabilities = list(response.outputs[1].contents.fp32_contents)
                self.answers.append((int(response.model_version), probabilities))
            except grpc.aio.AioRpcError as exc:
                self.failures.append(f"{exc.code()}: {exc.details()}")
            async with self._progress:
                self._progress.notify_all()

    async def wait_for(self, more: int) -> None:
        target = len(self.answers) + more
        async with self._progress:
            await asyncio.wait_for(
                self._progress.wait_for(lambda: len(self.answers) >= target or bool(self.failures)), 30
            )

    def stop(self) -> None:
        self._stop.set()


async def test_alias_moves_under_grpc_load_fail_no_call(
    start_server: type[ScoringServer], scoring_registry: Registry, tmp_path: Path
) -> None:
    model, contract = train_model(credit_frame(), "default", "binary", seed=2)
    register(scoring_registry, "credit", model, contract)  # version 3
    broken = register(scoring_registry, "credit", b"\x00 not a graph", contract)  # version 4
    grpc_port = free_port()
    env = server_env(scoring_registry, tmp_path / "server", DRIFTLOOP_GRPC_PORT=str(grpc_port))
    server = start_server(tmp_path / "server", env)
    server.start()
    records = credit_records(2)
    async with httpx.AsyncClient(timeout=10) as http, grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        inputs = (await http.get(f"{server.url}/v2/models/credit")).json()["inputs"]
        stub = InferenceStub(channel)
        expected = {}
        for version in (1, 2, 3):  # what each version answers, asked of that version explicitly
            pinned = await stub.ModelInfer(infer_request(inputs, records, str(version)))
            expected[version] = list(pinned.outputs[1].contents.fp32_contents)
        assert len({tuple(values) for values in expected.values()}) == 3
        load = Load(stub, infer_request(inputs, records))
        workers = [asyncio.create_task(load.worker()) for _ in range(CONCURRENCY)]
        await load.wait_for(ANSWERS_BETWEEN_MOVES)
        reloads = []
        for version in [2, broken.version, 3, 1, 2, 3]:
            scoring_registry.set_alias("credit", "champion", version)
            reloads.append((version, (await http.post(f"{server.url}/v1/models/credit/reload")).status_code))
            swapped_at = len(load.answers)
            await load.wait_for(ANSWERS_BETWEEN_MOVES)
        load.stop()
        await asyncio.gather(*workers)

    assert load.failures == []
    assert reloads == [(2, 200), (4, 409), (3, 200), (1, 200), (2, 200), (3, 200)]
    assert {version for version, _ in load.answers} == {1, 2, 3}
    # Every answer names the version that produced it: its probabilities are that version's.
    assert all(probabilities == expected[version] for version, probabilities in load.answers)
    # Once the last swap has answered, only the calls already in flight (one per worker at most)
    # may still finish on version 2; every later call gets version 3.
    after = [version for version, _ in load.answers[swapped_at:]]
    assert set(after) <= {2, 3}
    assert sum(version == 2 for version in after) <= CONCURRENCY
    assert np.isfinite(np.asarray([p for _, p in load.answers])).all()
