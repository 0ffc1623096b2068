"""Helpers of the feature-engineering tests: a registered credit model and a store filled with labelled traffic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sqlalchemy import Engine

from driftloop.datasets import make_credit
from driftloop.registry import Bundle, Registry
from driftloop.store import StoreSettings, make_engine, upgrade, write_batch
from driftloop.telemetry.parse import FeedbackData, ParsedBatch, ParsedEvent, PredictionData
from driftloop.train.dataset import infer_contract
from driftloop.train.export import export_onnx
from driftloop.train.frame import encode_target, model_frame
from driftloop.train.pipeline import build_pipeline

MODEL = "credit"
TARGET = "default"
SOURCE_ROWS = 1500
LABELLED_ROWS = 1000
DERIVED: list[dict[str, Any]] = [
    {"kind": "ratio", "name": "loan_to_income", "numerator": "loan_amount", "denominator": "income"},
    {"kind": "log1p", "name": "log_savings", "column": "savings"},
    {"kind": "bucketize", "name": "age_band", "column": "age", "edges": [25, 35, 50, 65]},
    {"kind": "cross", "name": "purpose_region", "left": "purpose", "right": "region"},
]
START = datetime(2026, 1, 1, tzinfo=UTC)


def credit_frame(rows: int, *, seed: int, drift: str = "none") -> pd.DataFrame:
    return pd.DataFrame(make_credit(rows, seed=seed, drift=drift))  # type: ignore[arg-type]


def register_credit(
    registry_path: Path, source: pd.DataFrame, derived: list[dict[str, Any]] | None = DERIVED
) -> Bundle:
    """A real (small) logistic-regression champion whose lineage declares ``derived`` features."""
    contract = infer_contract(source, TARGET)
    pipeline = build_pipeline(contract, LogisticRegression(max_iter=200), scale=True)
    pipeline.fit(model_frame(source, contract), encode_target(source[TARGET], contract))
    documents: dict[str, dict[str, Any]] = {
        "profile": {},
        "metrics": {},
        "lineage": {"parameters": {"target": TARGET, "derived": derived}},
    }
    return Registry(registry_path).register(MODEL, export_onnx(pipeline, contract), contract, documents)


def store_engine(path: Path) -> Engine:
    engine = make_engine(StoreSettings(url=f"sqlite:///{path}"))
    upgrade(engine)
    return engine


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    return None if isinstance(value, float) and np.isnan(value) else value


def fill_store(
    engine: Engine, records: pd.DataFrame, *, start: datetime = START, batch: int = 50, prefix: str = "req"
) -> None:
    """Each chunk of ``batch`` records is one scored request, a minute apart; every record gets its own label."""
    events: list[ParsedEvent] = []
    for number, first in enumerate(range(0, len(records), batch)):
        chunk = records.iloc[first : first + batch]
        request_id = f"{prefix}-{number}"
        time = start + timedelta(minutes=number)
        rows = [{k: _plain(v) for k, v in row.items() if k != TARGET} for row in chunk.to_dict(orient="records")]
        prediction = PredictionData.model_validate(
            {
                "schema": 1,
                "model": MODEL,
                "request_id": request_id,
                "version": 1,
                "records": rows,
                "predictions": [0] * len(rows),
                "latency_ms": 1.0,
            }
        )
        events.append(ParsedEvent(f"{request_id}-p", "test", "driftloop.prediction", time, prediction))
        for index, label in enumerate(chunk[TARGET]):
            feedback = FeedbackData.model_validate(
                {"schema": 1, "model": MODEL, "request_id": request_id, "record_index": index, "actual": _plain(label)}
            )
            events.append(
                ParsedEvent(f"{request_id}-f{index}", "test", "driftloop.feedback", time + timedelta(hours=1), feedback)
            )
    write_batch(engine, ParsedBatch(events=events))
