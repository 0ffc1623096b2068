"""Where a scoring request's time goes, stage by stage, in process (no HTTP): prints microseconds.

    .venv/bin/python bench/scoring_request_path.py [--requests 20000] [--profile]

Builds the benchmark's model shape (HistGradientBoosting on the 16 credit columns), starts the
scoring app's lifespan (embedded bus in a temporary directory) and times, for a 1-record request:
JSON parsing, validation, onnxruntime, the metrics and event, the whole core call (with the
publisher draining its buffer between requests, as in a server, and without publishing), and the
whole ASGI app call (data-plane routing, endpoint, orjson). ``--profile`` adds a cProfile of the ASGI
calls. Figures only; nothing is asserted. The HTTP comparison with the baselines is bench/scoring.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import tempfile
import time
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier

from driftloop.datasets import TARGET, make_credit
from driftloop.registry import Registry
from driftloop.telemetry.settings import BusSettings
from driftloop.train.dataset import infer_contract
from driftloop.train.export import export_onnx
from driftloop.train.frame import encode_target, model_frame
from driftloop.train.pipeline import build_pipeline
from driftloop_scoring.app import create_app
from driftloop_scoring.service import _answers
from driftloop_scoring.settings import ScoringRegistrySettings, ScoringSettings


def build(root: Path) -> bytes:
    frame = pd.DataFrame(make_credit(20_000, seed=0))
    contract = infer_contract(frame, TARGET)
    pipeline = build_pipeline(contract, HistGradientBoostingClassifier(random_state=0), scale=False)
    pipeline.fit(model_frame(frame, contract), encode_target(frame[TARGET], contract))
    Registry(root / "registry").register("credit", export_onnx(pipeline, contract), contract,
                                         {"profile": {}, "metrics": {}, "lineage": {}})  # fmt: skip
    record = frame.drop(columns=[TARGET]).iloc[[1]].astype(object)
    return orjson.dumps({"records": record.where(record.notna(), None).to_dict(orient="records")})


def per_call(n: int, call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - start) / n * 1e6


async def main(n: int, profile: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="scoring-path-") as directory:
        await measure(Path(directory), n, profile)


async def measure(home: Path, n: int, profile: bool) -> None:
    body = build(home)
    settings = ScoringSettings(
        registry=ScoringRegistrySettings(path=home / "registry", poll_interval_s=0),
        bus=BusSettings(url=f"sqlite:///{home}/bus.db", spill_path=home / "spill"),
    )
    settings.log.json_logs = False
    app = create_app(settings)
    service = app.state.service
    async with app.router.lifespan_context(app):
        runtime = service.store.champions["credit"]
        payload = orjson.loads(body)
        batch = runtime.validator.validate(payload["records"])
        prediction = runtime.predict(batch.feeds)
        answers, probabilities = _answers(runtime, prediction)
        stages = {
            "orjson.loads": per_call(n, lambda: orjson.loads(body)),
            "validation (records -> feeds)": per_call(n, lambda: runtime.validator.validate(payload["records"])),
            "onnxruntime run": per_call(n, lambda: runtime.predict(batch.feeds)),
            "metrics + event + publish": per_call(
                n,
                lambda: service._answered(
                    runtime, "predict", "r", payload["records"], batch, prediction, answers, probabilities, 0.0
                ),
            ),
        }
        start = time.perf_counter()
        for i in range(n):
            await service.predict("credit", None, payload, f"r{i}", time.perf_counter())
            await asyncio.sleep(0)  # let the publisher drain, as it does between requests in a server
        stages["core: ScoringService.predict"] = (time.perf_counter() - start) / n * 1e6
        publisher, service.publisher = service.publisher, None
        start = time.perf_counter()
        for i in range(n):
            await service.predict("credit", None, payload, f"r{i}", time.perf_counter())
            await asyncio.sleep(0)
        stages["core, no events published"] = (time.perf_counter() - start) / n * 1e6
        service.publisher = publisher

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            return None

        scope = {"type": "http", "method": "POST", "path": "/v1/models/credit/predict", "headers": [],
                 "query_string": b"", "root_path": ""}  # fmt: skip
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        start = time.perf_counter()
        for _ in range(n):
            await app(dict(scope), receive, send)
            await asyncio.sleep(0)
        stages["ASGI app call (no HTTP server)"] = (time.perf_counter() - start) / n * 1e6
        if profiler:
            profiler.disable()
    for stage, micros in stages.items():
        print(f"{stage:40s} {micros:8.1f} µs")
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.profile))
