"""Hot swap under continuous load on a real server: zero failed requests, every answer names its version."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from scoring_bundles import credit_frame, credit_records, register, train_model
from scoring_server import ScoringServer, server_env

from driftloop.registry import Registry

pytestmark = pytest.mark.anyio
CONCURRENCY = 8
RESPONSES_BETWEEN_MOVES = 40


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Answer:
    sent: float
    status: int
    version: int | None
    probabilities: list[float] | None


class Load:
    """Workers posting predict requests back to back until stopped, recording every answer."""

    def __init__(self, url: str, body: dict[str, Any]) -> None:
        self.url = url
        self.body = body
        self.answers: list[Answer] = []
        self.errors: list[str] = []
        self._stop = asyncio.Event()
        self._progress = asyncio.Condition()

    async def worker(self, client: httpx.AsyncClient) -> None:
        while not self._stop.is_set():
            sent = time.monotonic()
            try:
                response = await client.post(f"{self.url}/v1/models/credit/predict", json=self.body)
                answer = response.json() if response.status_code == 200 else {}
                probabilities = [p["probabilities"]["1"] for p in answer.get("predictions", [])] or None
                self.answers.append(Answer(sent, response.status_code, answer.get("version"), probabilities))
            except httpx.HTTPError as exc:
                self.errors.append(repr(exc))
            async with self._progress:
                self._progress.notify_all()

    async def wait_for(self, more: int) -> None:
        """Until ``more`` further answers have arrived."""
        target = len(self.answers) + more
        async with self._progress:
            await asyncio.wait_for(
                self._progress.wait_for(lambda: len(self.answers) >= target or bool(self.errors)), 30
            )

    def stop(self) -> None:
        self._stop.set()


async def test_alias_moves_under_load_lose_no_request(
    start_server: type[ScoringServer], scoring_registry: Registry, tmp_path: Path
) -> None:
    model, contract = train_model(credit_frame(), "default", "binary", seed=2)
    register(scoring_registry, "credit", model, contract)  # version 3
    broken = register(scoring_registry, "credit", b"\x00 not a graph", contract)  # version 4
    server = start_server(tmp_path / "server", server_env(scoring_registry, tmp_path / "server"))
    server.start()
    body = {"records": credit_records(2)}
    load = Load(server.url, body)
    moves = [2, broken.version, 3, 1, 2, 3]
    reloads = []
    async with httpx.AsyncClient(timeout=10) as client:
        # What each version answers for the load's records, asked of that version explicitly.
        expected = {}
        for version in (1, 2, 3):
            pinned = await client.post(f"{server.url}/v1/models/credit/versions/{version}/predict", json=body)
            expected[version] = [p["probabilities"]["1"] for p in pinned.json()["predictions"]]
        assert len({tuple(values) for values in expected.values()}) == 3  # the versions are told apart
        workers = [asyncio.create_task(load.worker(client)) for _ in range(CONCURRENCY)]
        await load.wait_for(RESPONSES_BETWEEN_MOVES)
        for version in moves:
            scoring_registry.set_alias("credit", "champion", version)
            response = await client.post(f"{server.url}/v1/models/credit/reload")
            reloads.append((version, response.status_code, response.json()))
            await load.wait_for(RESPONSES_BETWEEN_MOVES)
        final_swap_done = time.monotonic()
        await load.wait_for(RESPONSES_BETWEEN_MOVES)
        load.stop()
        await asyncio.gather(*workers)

    assert load.errors == []
    assert [answer.status for answer in load.answers if answer.status != 200] == []
    assert {answer.version for answer in load.answers} == {1, 2, 3}
    # Every answer names the version that produced it: its probabilities are that version's.
    assert all(answer.version and answer.probabilities == expected[answer.version] for answer in load.answers)
    # The broken bundle was refused and version 2 kept serving; every good move swapped.
    assert [(version, status) for version, status, _ in reloads] == [
        (2, 200),
        (4, 409),
        (3, 200),
        (1, 200),
        (2, 200),
        (3, 200),
    ]
    assert "refused credit version 4" in server.log
    after = [answer.version for answer in load.answers if answer.sent > final_swap_done]
    assert len(after) >= RESPONSES_BETWEEN_MOVES - CONCURRENCY
    assert set(after) == {3}


async def test_the_watcher_follows_the_alias_without_a_reload_call(
    start_server: type[ScoringServer], scoring_registry: Registry, tmp_path: Path
) -> None:
    env = server_env(scoring_registry, tmp_path / "server", DRIFTLOOP_REGISTRY__POLL_INTERVAL_S="0.1")
    server = start_server(tmp_path / "server", env)
    server.start()
    body = {"records": credit_records(1)}
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.post(f"{server.url}/v1/models/credit/predict", json=body)).json()["version"] == 1
        scoring_registry.set_alias("credit", "champion", 2)
        deadline = time.monotonic() + 20
        versions = []
        while time.monotonic() < deadline:  # every answer is a 200 while the watcher swaps
            response = await client.post(f"{server.url}/v1/models/credit/predict", json=body)
            assert response.status_code == 200
            versions.append(response.json()["version"])
            if versions[-1] == 2:
                break
        assert versions[-1] == 2
        assert set(versions) <= {1, 2}
