"""The one model every server in the benchmark serves, and the request bodies they all get.

A HistGradientBoosting pipeline on 16 raw credit columns (12 numeric, 4 categorical), fitted
once and written in the forms each server reads: a registry bundle (driftloop), the ONNX graph
(the minimal FastAPI endpoint), a pickle (Flask) and a joblib dump (MLServer's scikit-learn
runtime). The expected probabilities of the request records come from the fitted pipeline, so
that every server's answer can be checked before it is loaded.
"""

from __future__ import annotations

import json
import pickle
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from driftloop.contract import ColumnKind, DataContract
from driftloop.datasets import TARGET, make_credit
from driftloop.registry import Registry
from driftloop.train.dataset import infer_contract
from driftloop.train.export import export_onnx
from driftloop.train.frame import encode_target, model_frame
from driftloop.train.pipeline import build_pipeline

MODEL_NAME = "credit"
N_ROWS = 50_000
SEED = 0


@dataclass(frozen=True)
class Artifacts:
    """Where the model lives in each server's format, and the records to send."""

    directory: Path
    registry: Path
    onnx: Path
    pickle: Path
    joblib: Path
    contract: DataContract
    records: list[dict[str, Any]]
    """Complete records (no missing values) taken from the data, in JSON-ready Python types."""
    expected: list[float]
    """The fitted pipeline's probability of class 1 for each record, in the same order."""
    fit_seconds: float

    @property
    def contract_path(self) -> Path:
        return self.directory / "contract.json"


def build(directory: Path, *, n_rows: int = N_ROWS, n_records: int = 10) -> Artifacts:
    """Generate the data, fit the pipeline and write every form of the model under ``directory``."""
    frame = pd.DataFrame(make_credit(n_rows, seed=SEED))
    contract = infer_contract(frame, TARGET)
    features = model_frame(frame, contract)
    target = encode_target(frame[TARGET], contract)
    pipeline = build_pipeline(contract, HistGradientBoostingClassifier(random_state=SEED), scale=False)
    started = time.perf_counter()
    # One OpenMP thread: on 2 shared cores, more threads spin against other work and the fit
    # took from 1 to 50 s; the model is the same either way.
    with threadpool_limits(limits=1):
        pipeline.fit(features, target)
    fit_seconds = time.perf_counter() - started

    directory.mkdir(parents=True, exist_ok=True)
    onnx_bytes = export_onnx(pipeline, contract)
    paths = {"onnx": directory / "model.onnx", "pickle": directory / "model.pkl", "joblib": directory / "model.joblib"}
    paths["onnx"].write_bytes(onnx_bytes)
    paths["pickle"].write_bytes(pickle.dumps(pipeline))
    joblib.dump(pipeline, paths["joblib"])
    contract.save(directory / "contract.json")

    registry = directory / "registry"
    lineage = {"dataset": f"make_credit(n_rows={n_rows}, seed={SEED})", "rows": n_rows, "trigger": "benchmark"}
    Registry(registry).register(
        MODEL_NAME,
        onnx_bytes,
        contract,
        {"profile": {}, "metrics": {"estimator": "HistGradientBoostingClassifier"}, "lineage": lineage},
        reason="benchmark",
    )

    complete = frame[contract.column_names].dropna().head(n_records)
    records = [_json_record(row, contract) for row in complete.to_dict(orient="records")]
    probabilities = pipeline.predict_proba(model_frame(pd.DataFrame(records), contract))[:, 1]
    return Artifacts(
        directory=directory,
        registry=registry,
        onnx=paths["onnx"],
        pickle=paths["pickle"],
        joblib=paths["joblib"],
        contract=contract,
        records=records,
        expected=[float(p) for p in probabilities],
        fit_seconds=fit_seconds,
    )


def _json_record(row: dict[str, Any], contract: DataContract) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for spec in contract.columns:
        value = row[spec.name]
        record[spec.name] = str(value) if spec.kind is ColumnKind.CATEGORICAL else float(np.float64(value))
    return record


def dump(body: Any, path: Path) -> Path:
    """Write a request body as compact JSON (what wrk sends)."""
    path.write_text(json.dumps(body, separators=(",", ":")))
    return path
