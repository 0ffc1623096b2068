"""Feature engineering: time to materialise a training set, and transform throughput.

Run from the repository root: ``.venv/bin/python bench/feature_datasets.py``. Prints a Markdown
table for docs/benchmarks.md (## Feature engineering); asserts nothing. The core objects are timed
directly (no HTTP): ``Datasets.create`` on a real SQLite store filled with labelled predictions,
and ``Transformer.transform`` on JSON-like records, median of repeats (a dataset's first run writes
its snapshot; the repeats build the same set and find the snapshot there, so they skip the writes).
"""

from __future__ import annotations

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from driftloop.datasets import make_credit  # noqa: E402
from driftloop.registry import Registry  # noqa: E402
from driftloop.store import StoreSettings, make_engine, upgrade, write_batch  # noqa: E402
from driftloop.telemetry.parse import FeedbackData, ParsedBatch, ParsedEvent, PredictionData  # noqa: E402
from driftloop.train.dataset import infer_contract  # noqa: E402
from driftloop.train.export import export_onnx  # noqa: E402
from driftloop.train.frame import encode_target, model_frame  # noqa: E402
from driftloop.train.pipeline import build_pipeline  # noqa: E402
from driftloop_features.datasets import Datasets  # noqa: E402
from driftloop_features.strategy import DatasetRequest, QualityGate  # noqa: E402
from driftloop_features.transform import Transformer  # noqa: E402

DERIVED = [
    {"kind": "ratio", "name": "loan_to_income", "numerator": "loan_amount", "denominator": "income"},
    {"kind": "log1p", "name": "log_savings", "column": "savings"},
    {"kind": "bucketize", "name": "age_band", "column": "age", "edges": [25, 35, 50, 65]},
    {"kind": "cross", "name": "purpose_region", "left": "purpose", "right": "region"},
]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    plain = frame.drop(columns=["default"]).astype(object)
    return plain.where(plain.notna(), None).to_dict(orient="records")  # type: ignore[no-any-return]


def _fill(engine: Any, frame: pd.DataFrame) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    events = []
    records = _records(frame)
    labels = frame["default"].tolist()
    for number, first in enumerate(range(0, len(frame), 100)):
        chunk = records[first : first + 100]
        request = f"r{number}"
        data = {"schema": 1, "model": "credit", "request_id": request, "version": 1, "records": chunk}
        prediction = PredictionData.model_validate({**data, "predictions": [0] * len(chunk), "latency_ms": 1.0})
        events.append(
            ParsedEvent(f"{request}p", "bench", "driftloop.prediction", start + timedelta(minutes=number), prediction)
        )
        for index in range(len(chunk)):
            label = {"schema": 1, "model": "credit", "request_id": request, "record_index": index}
            feedback = FeedbackData.model_validate({**label, "actual": int(labels[first + index])})
            events.append(ParsedEvent(f"{request}f{index}", "bench", "driftloop.feedback", start, feedback))
    write_batch(engine, ParsedBatch(events=events))


def _median(action: Callable[[], object], repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="driftloop-features-bench-") as workdir:
        run(Path(workdir))


def run(root: Path) -> None:
    source = pd.DataFrame(make_credit(10_000, seed=1))  # type: ignore[arg-type]
    source.to_csv(root / "credit.csv", index=False)
    contract = infer_contract(source, "default")
    pipeline = build_pipeline(contract, LogisticRegression(max_iter=200), scale=True)
    pipeline.fit(model_frame(source, contract), encode_target(source["default"], contract))
    registry = Registry(root / "registry")
    lineage = {"parameters": {"derived": DERIVED}}
    registry.register(
        "credit", export_onnx(pipeline, contract), contract, {"profile": {}, "metrics": {}, "lineage": lineage}
    )

    print("| operation | rows | median seconds |")
    print("| --- | --- | --- |")
    for labelled_rows in (5_000, 20_000):
        engine = make_engine(StoreSettings(url=f"sqlite:///{root / f'store-{labelled_rows}.db'}"))
        upgrade(engine)
        _fill(engine, pd.DataFrame(make_credit(labelled_rows, seed=2, drift="concept")))  # type: ignore[arg-type]
        for kind in ("recent", "source+recent"):
            datasets = Datasets(
                registry, engine, {"credit": root / "credit.csv"}, root / f"sets-{labelled_rows}", QualityGate()
            )
            request = DatasetRequest.model_validate({"model": "credit", "strategy": {"kind": kind, "weight": 2}})
            seconds = _median(partial(datasets.create, request), repeats=3)
            rows = datasets.create(request)["rows"]  # the snapshot exists: handed out again, same rows
            sizes = f"{rows['train']:,} + {rows['holdout']:,}"
            print(f"| dataset `{kind}`, 10,000 source + {labelled_rows:,} labelled | {sizes} | {seconds:.2f} |")
        engine.dispose()
    transformer = Transformer(registry, {})
    for size in (100, 1_000, 10_000):
        records = _records(pd.DataFrame(make_credit(size, seed=3)))  # type: ignore[arg-type]
        seconds = _median(partial(transformer.transform, "credit", records))
        rate = f"{seconds:.4f} ({size / seconds:,.0f} records/s)"
        print(f"| transform ({len(DERIVED)} derived features) | {size:,} | {rate} |")
    print(f"\n(machine: {os.cpu_count()} cores, shared with other jobs; numpy {np.__version__})")


if __name__ == "__main__":
    main()
