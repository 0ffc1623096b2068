"""In-process latency: the exported ONNX graph vs the scikit-learn pipeline, raw records to probabilities.

    .venv/bin/python bench/onnx_latency.py [--rows 50000] [--calls 2000]

One HistGradientBoosting pipeline (``build_pipeline(scale=False)``, the sweep's default
configuration) fitted on make_credit (16 columns), exported with ``export_onnx``. Each call
starts from a list of dicts, as a JSON request body decodes, and ends with a probability array:

- scikit-learn: ``pandas.DataFrame(records)`` -> ``model_frame`` -> ``pipeline.predict_proba``;
- ONNX: the records to one ``[N, 1]`` array per column (float32, NaN for missing; strings,
  "" for missing) -> ``InferenceSession.run``.

Batch sizes 1, 10, 100, 1000; median and p99 per call, rows per second, and the ratio. Both run
with one thread (onnxruntime intra-op threads 1; OpenMP/BLAS limited to 1 for scikit-learn).
Prints figures and writes them to bench/results/; asserts nothing.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from driftloop.contract import ColumnKind, DataContract
from driftloop.datasets import make_credit
from driftloop.train.dataset import infer_contract
from driftloop.train.export import export_onnx
from driftloop.train.frame import encode_target, model_frame
from driftloop.train.pipeline import build_pipeline

BATCHES = (1, 10, 100, 1000)


def records_to_feeds(records: list[dict[str, Any]], contract: DataContract) -> dict[str, np.ndarray]:
    """The conversion a server does per request: dict values to the graph's per-column inputs."""
    feeds: dict[str, np.ndarray] = {}
    for spec in contract.columns:
        values = [record.get(spec.name) for record in records]
        if spec.kind is ColumnKind.CATEGORICAL:
            feeds[spec.name] = np.array([("" if v is None else str(v)) for v in values], dtype=object).reshape(-1, 1)
        else:
            feeds[spec.name] = np.array([np.nan if v is None else v for v in values], dtype=np.float32).reshape(-1, 1)
    return feeds


def timed(call: Callable[[], Any], calls: int) -> np.ndarray:
    for _ in range(min(50, calls)):
        call()  # warm-up: first-call allocations and caches
    seconds = np.empty(calls)
    for i in range(calls):
        began = time.perf_counter()
        call()
        seconds[i] = time.perf_counter() - began
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--calls", type=int, default=2000, help="calls at batch size 1 (fewer for larger batches)")
    args = parser.parse_args()

    frame = pd.DataFrame(make_credit(args.rows, seed=0))
    contract = infer_contract(frame, "default")
    pipeline = build_pipeline(contract, HistGradientBoostingClassifier(random_state=0), scale=False)
    with threadpool_limits(limits=1):
        pipeline.fit(model_frame(frame, contract), encode_target(frame["default"], contract))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(export_onnx(pipeline, contract), options, providers=["CPUExecutionProvider"])

    inputs = pd.DataFrame(make_credit(max(BATCHES), seed=1)).drop(columns=["default"])
    all_records = inputs.astype(object).where(inputs.notna(), None).to_dict(orient="records")

    def sklearn_call(records: list[dict[str, Any]]) -> np.ndarray:
        return np.asarray(pipeline.predict_proba(model_frame(pd.DataFrame.from_records(records), contract)))

    def onnx_call(records: list[dict[str, Any]]) -> np.ndarray:
        return np.asarray(session.run(["probabilities"], records_to_feeds(records, contract))[0])

    check = all_records[:100]
    difference = float(np.abs(sklearn_call(check) - onnx_call(check)).max())
    print(
        f"HistGradientBoosting pipeline, {len(contract.columns)} columns;"
        f" ONNX vs scikit-learn max diff {difference:.2g}"
    )
    print(f"{'batch':>5} {'engine':<12} {'median µs':>10} {'p99 µs':>10} {'rows/s':>12} {'speed-up':>9}")
    figures: dict[str, Any] = {"load_average_start": os.getloadavg(), "max_abs_diff": difference, "batches": {}}
    with threadpool_limits(limits=1):
        for batch in BATCHES:
            records = all_records[:batch]
            calls = max(50, args.calls // batch) if batch > 1 else args.calls
            per_engine = {}
            for engine, call in (("scikit-learn", sklearn_call), ("onnxruntime", onnx_call)):
                seconds = timed(functools.partial(call, records), calls)
                median, p99 = float(np.median(seconds)), float(np.percentile(seconds, 99))
                per_engine[engine] = {"median_s": median, "p99_s": p99, "rows_per_s": batch / median, "calls": calls}
            ratio = per_engine["scikit-learn"]["median_s"] / per_engine["onnxruntime"]["median_s"]
            for engine, numbers in per_engine.items():
                speedup = f"{ratio:8.1f}x" if engine == "onnxruntime" else ""
                print(
                    f"{batch:>5} {engine:<12} {numbers['median_s'] * 1e6:10.1f} {numbers['p99_s'] * 1e6:10.1f}"
                    f" {numbers['rows_per_s']:12,.0f} {speedup:>9}"
                )
            figures["batches"][str(batch)] = {**per_engine, "speedup_median": ratio}
    figures["load_average_end"] = os.getloadavg()
    print(f"load average start {figures['load_average_start']}, end {figures['load_average_end']}")
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    path = results / f"onnx-latency-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(figures, indent=2))
    print(f"written {path}")


if __name__ == "__main__":
    main()
