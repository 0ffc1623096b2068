"""Baseline (a): the way the replaced system served models.

A Flask app that unpickles the fitted scikit-learn pipeline once at start and, per request,
builds a DataFrame from the posted records and calls ``predict_proba``. Served by gunicorn with
one sync worker and ``OMP_NUM_THREADS=1``.

The records go to the pipeline as they arrive (no canonical model frame): the benchmark's
records are complete, and the pipeline casts numerics to float32 itself, so the answers are
the same and the baseline is as fast as it can honestly be.

Run: ``gunicorn 'flask_app:create_app()'`` with BENCH_PICKLE and BENCH_CONTRACT set (in
bench/.venv-flask: Flask, gunicorn, scikit-learn, pandas and skl2onnx, whose CastTransformer
is a step of the pickled pipeline).
"""

from __future__ import annotations

import json
import os
import pickle
from typing import Any

import pandas as pd
from flask import Flask, request


def create_app() -> Flask:
    with open(os.environ["BENCH_CONTRACT"]) as handle:
        columns = [column["name"] for column in json.load(handle)["columns"]]
    with open(os.environ["BENCH_PICKLE"], "rb") as handle:
        pipeline = pickle.load(handle)
    app = Flask(__name__)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/predict")
    def predict() -> dict[str, Any]:
        records = request.get_json()["records"]
        frame = pd.DataFrame(records, columns=columns)
        return {"probabilities": pipeline.predict_proba(frame).tolist()}

    return app
