"""Training sets after a concept change: ``since_change`` against ``source+recent``.

Run from the repository root: ``.venv/bin/python bench/change_following_sets.py``. Prints Markdown
for docs/benchmarks.md (## Training sets that follow the change); asserts nothing.

A champion is trained on 5,000 source rows from before a concept change (``make_credit``). The
SQL store holds 2,000 labelled production records from before the change and then N after it
(each record's stored time is its prediction's). For each N and strategy the real ``Datasets``
builds the set, ``train_model`` trains a challenger on it (linear and gradient boosting, 4
trials), and the controller's gate compares it with the champion on the set's holdout. Every
challenger is also scored on 3,000 fresh post-change rows that no set saw: that is what the
challenger would face in production. One run; the build time is the median of 3.
"""

from __future__ import annotations

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from driftloop.datasets import make_credit  # noqa: E402
from driftloop.policy import GatePolicy  # noqa: E402
from driftloop.registry import Registry  # noqa: E402
from driftloop.store import StoreSettings, make_engine, upgrade, write_batch  # noqa: E402
from driftloop.telemetry.parse import FeedbackData, ParsedBatch, ParsedEvent, PredictionData  # noqa: E402
from driftloop.train.config import TrainConfig  # noqa: E402
from driftloop.train.run import train_model  # noqa: E402
from driftloop_controller.gate import compare, model_output  # noqa: E402
from driftloop_features.datasets import Datasets  # noqa: E402
from driftloop_features.strategy import DatasetRequest, QualityGate  # noqa: E402

START = datetime(2026, 1, 1, tzinfo=UTC)
CHANGE = START + timedelta(days=7)
CONFIG = TrainConfig(target="default", time_budget=30, max_trials=4, families=["linear", "hist_gradient_boosting"])


def _frame(rows: int, seed: int, drift: str = "none") -> pd.DataFrame:
    return pd.DataFrame(make_credit(rows, seed=seed, drift=drift))  # type: ignore[arg-type]


def _fill(engine: Any, frame: pd.DataFrame, start: datetime, prefix: str) -> None:
    plain = frame.drop(columns=["default"]).astype(object)
    records = plain.where(plain.notna(), None).to_dict(orient="records")
    events = []
    for number, first in enumerate(range(0, len(frame), 50)):
        chunk, request = records[first : first + 50], f"{prefix}{number}"
        at = start + timedelta(minutes=number)
        data = {"schema": 1, "model": "credit", "request_id": request, "version": 1, "records": chunk}
        prediction = PredictionData.model_validate({**data, "predictions": [0] * len(chunk), "latency_ms": 1.0})
        events.append(ParsedEvent(f"{request}p", "bench", "driftloop.prediction", at, prediction))
        for index in range(len(chunk)):
            label = {"schema": 1, "model": "credit", "request_id": request, "record_index": index}
            feedback = FeedbackData.model_validate({**label, "actual": int(frame["default"].iloc[first + index])})
            events.append(ParsedEvent(f"{request}f{index}", "bench", "driftloop.feedback", at, feedback))
    write_batch(engine, ParsedBatch(events=events))


def run(root: Path) -> None:
    source = _frame(5_000, seed=1)
    source.to_csv(root / "credit.csv", index=False)
    registry = Registry(root / "registry")
    train_model(source, config=CONFIG, name="credit", registry=registry)
    champion = registry.resolve("credit", 1)
    fresh = _frame(3_000, seed=99, drift="concept")
    labels = (fresh["default"].to_numpy() == (champion.contract.class_labels or [0, 1])[1]).astype(int)
    champion_auc = roc_auc_score(labels, model_output(champion, fresh, champion.contract.class_labels)[:, 1])

    print(f"Champion (trained before the change) on 3,000 fresh post-change rows: ROC AUC {champion_auc:.3f}.\n")
    print(
        "| post-change labels | strategy | train rows (post-change / older) | holdout | build s | gate "
        "| challenger AUC on fresh post-change rows |"
    )
    print("| ---: | --- | --- | --- | ---: | --- | ---: |")
    for after in (300, 1_000, 3_000):
        engine = make_engine(StoreSettings(url=f"sqlite:///{root / f'store-{after}.db'}"))
        upgrade(engine)
        _fill(engine, _frame(2_000, seed=2), START, "b")
        _fill(engine, _frame(after, seed=3, drift="concept"), CHANGE, "a")
        holdout = max(100, after // 5)
        strategies = {
            "source+recent": {"kind": "source+recent", "holdout": holdout},
            "since_change": {"kind": "since_change", "since": CHANGE.isoformat(), "holdout": holdout},
        }
        for name, strategy in strategies.items():
            sources = {"credit": root / "credit.csv"}
            datasets = Datasets(registry, engine, sources, root / f"sets-{after}", QualityGate())
            request = DatasetRequest.model_validate({"model": "credit", "strategy": strategy})
            times = []
            for _ in range(3):
                began = time.perf_counter()
                manifest = datasets.create(request)
                times.append(time.perf_counter() - began)
            rows, origin = manifest["quality"]["rows"], manifest["quality"]["holdout_origin"]
            train = pd.read_parquet(manifest["train_path"])
            if name == "since_change":  # the floor fill is what carries a weight below 1
                older = int((train["sample_weight"] < 1).sum()) if "sample_weight" in train else 0
            else:  # everything but the post-change records after the holdout
                older = rows["train"] - (after - rows["holdout"])
            post = rows["train"] - older
            result = train_model(train, config=CONFIG, name="credit", registry=registry, trigger=f"bench {name}")
            assert result.bundle is not None
            decision = compare(champion, result.bundle, pd.read_parquet(manifest["holdout_path"]), GatePolicy())
            challenger_auc = roc_auc_score(
                labels, model_output(result.bundle, fresh, champion.contract.class_labels)[:, 1]
            )
            gate = f"{decision['outcome']} (gain {decision['gain']:+.3f}, CI low {decision['ci'][0]:+.3f})"
            build = statistics.median(times)
            print(
                f"| {after:,} | `{name}` | {post:,} / {older:,} | {rows['holdout']} {origin} | {build:.2f} "
                f"| {gate} | {challenger_auc:.3f} |"
            )
        engine.dispose()
    print(f"\n(machine: {os.cpu_count()} cores, shared with other jobs; numpy {np.__version__})")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="driftloop-change-bench-") as workdir:
        run(Path(workdir))


if __name__ == "__main__":
    main()
