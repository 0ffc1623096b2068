"""Baseline (c): the minimal FastAPI + onnxruntime endpoint, with no validation and no telemetry.

Reads ``{"records": [...]}``, builds one ``[N, 1]`` feed per column, runs the session and returns
the probabilities: the least a FastAPI service can do to serve the same ONNX graph. The session
runs on one thread, as a fair one-worker server on a 2-core machine shared with the load generator.

Run: ``uvicorn --factory onnx_app:create_app`` with BENCH_ONNX_MODEL and BENCH_CONTRACT set.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import onnxruntime as ort
from fastapi import FastAPI, Request


def create_app() -> FastAPI:
    with open(os.environ["BENCH_CONTRACT"]) as handle:
        columns = [(c["name"], c["kind"] == "categorical") for c in json.load(handle)["columns"]]
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(os.environ["BENCH_ONNX_MODEL"], options, providers=["CPUExecutionProvider"])
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/predict")
    async def predict(request: Request) -> dict[str, Any]:
        records = (await request.json())["records"]
        feeds = {}
        for name, categorical in columns:
            if categorical:
                feeds[name] = np.array([[r.get(name) or ""] for r in records], dtype=object)
            else:
                values = [[np.nan if r.get(name) is None else r[name]] for r in records]
                feeds[name] = np.array(values, dtype=np.float32)
        probabilities = session.run(["probabilities"], feeds)[0]
        return {"probabilities": probabilities.tolist()}

    return app
