"""Helpers of the forwarder drift tests: a real model's scored stream, a signed-webhook receiver, a running forwarder.

A module of its own because test modules cannot import a conftest.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import onnxruntime as ort
import orjson
import pandas as pd
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine, text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from driftloop import webhook
from driftloop.datasets import TARGET, make_credit
from driftloop.errors import UnauthorizedError
from driftloop.registry import Bundle
from driftloop.telemetry.bus import open_producer
from driftloop.telemetry.bus.base import Message
from driftloop.telemetry.events import feedback_event, prediction_event
from driftloop.telemetry.settings import BusSettings
from driftloop.train.frame import model_frame, onnx_feeds
from driftloop_forwarder.app import create_app
from driftloop_forwarder.settings import ForwarderSettings

SECRET = "drift-webhook-secret"
WINDOW = 300
PER_EVENT = 50

# The packaged default rules with 300-record windows, so that a test sees many windows quickly.
RULES_YAML = """
window: {by: count, size: 300}
rules:
  - {name: feature-drift, statistic: drift, columns: any, consecutive: 2, cooldown: 1h, action: retrain}
  - {name: prediction-drift, statistic: prediction_drift, consecutive: 2, cooldown: 1h, action: alert}
  - {name: performance-drop, statistic: performance_drop, threshold: 0.1, consecutive: 2, cooldown: 1h,
     action: retrain}
"""


@dataclass
class Scorer:
    """Scores raw credit records with the bundle's ONNX graph, as the scoring service does."""

    bundle: Bundle

    def __post_init__(self) -> None:
        self.contract = self.bundle.contract
        self.session = ort.InferenceSession(str(self.bundle.model_path), providers=["CPUExecutionProvider"])
        self.labels = [str(label) for label in self.contract.class_labels or []]

    def events(
        self, frame: pd.DataFrame, *, version: int | None = None, at: float | None = None, feedback_first: bool = False
    ) -> list[dict[str, Any]]:
        """Prediction events of ``PER_EVENT`` records each, every one followed (or, with
        ``feedback_first``, preceded) by its records' feedback."""
        label, probabilities = self.session.run(
            ["label", "probabilities"], onnx_feeds(model_frame(frame, self.contract), self.contract)
        )
        columns = [spec.name for spec in self.contract.columns]
        records = frame[columns].astype(object).where(frame[columns].notna(), None).to_dict("records")
        events: list[dict[str, Any]] = []
        for first in range(0, len(frame), PER_EVENT):
            part = slice(first, first + PER_EVENT)
            request = uuid.uuid4().hex
            scored = (
                prediction_event(
                    "drift-test",
                    model="credit",
                    version=version or self.bundle.version,
                    request_id=request,
                    records=records[part],
                    predictions=[self.labels[i] for i in np.ravel(label[part])],
                    probabilities=probabilities[part].tolist(),
                    class_labels=self.labels,
                    latency_ms=1.0,
                ),
            )
            feedback = [
                feedback_event(
                    "drift-test", model="credit", request_id=request, record_index=index,
                    actual=str(actual), known_request=True,
                )
                for index, actual in enumerate(frame[TARGET].to_numpy()[part])
            ]  # fmt: skip
            events += [*feedback, *scored] if feedback_first else [*scored, *feedback]
        if at is not None:  # events stamped at another time: the windows' clock, which cooldowns use
            stamp = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            for event in events:
                event["time"] = stamp
        return events


def credit_frame(windows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """``windows`` windows of credit records; ``shift``: credit_score moved by that many standard deviations."""
    frame = pd.DataFrame(make_credit(windows * WINDOW, seed=seed))
    if shift:
        frame["credit_score"] = frame["credit_score"] + shift * frame["credit_score"].std()
    return frame


async def publish(settings: BusSettings, events: list[dict[str, Any]]) -> None:
    producer = open_producer(settings)
    await producer.start()
    try:
        for first in range(0, len(events), 500):
            await producer.send_batch([Message(b"credit", orjson.dumps(e)) for e in events[first : first + 500]])
    finally:
        await producer.stop()


@dataclass
class Receiver:
    """The retrain webhook's receiving end: verifies the signature, honours the idempotency key."""

    secret: str = SECRET
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    duplicates: int = 0
    refused: int = 0

    def app(self) -> Starlette:
        async def retrain(request: Request) -> JSONResponse:
            body = await request.body()
            try:
                webhook.verify(self.secret, dict(request.headers), body)
            except UnauthorizedError as exc:
                self.refused += 1
                return JSONResponse({"error": str(exc)}, status_code=401)
            key = request.headers[webhook.IDEMPOTENCY_HEADER]
            if key in self.accepted:
                self.duplicates += 1
                return JSONResponse({"job": key, "duplicate": True})
            self.accepted[key] = orjson.loads(body)
            return JSONResponse({"job": key}, status_code=202)

        return Starlette(routes=[Route("/v1/retrain", retrain, methods=["POST"])])


@contextmanager
def serving(app: Starlette, port: int) -> Iterator[str]:
    """``app`` under uvicorn on 127.0.0.1:``port`` until the block ends."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:  # uvicorn's own readiness flag
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the receiver did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@asynccontextmanager
async def forwarder(settings: ForwarderSettings) -> AsyncIterator[FastAPI]:
    """The forwarder service with its lifespan (consume loop, drift watch, webhook sender)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


async def wait_until(condition: Callable[[], Any], what: str, within_s: float = 60.0) -> None:
    deadline = time.monotonic() + within_s
    while not await asyncio.to_thread(condition):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within_s:.0f}s waiting for {what}")
        await asyncio.sleep(0.05)  # the forwarder runs on this loop meanwhile


def scalar(engine: Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as connection:
        return connection.execute(text(sql), params).scalar()


def rows(engine: Engine, sql: str, **params: Any) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(text(sql), params).all())
