"""Tiny real models for the scoring tests: scikit-learn fits exported to ONNX and registered.

Shared by tests/unit/scoring and tests/integration/scoring (which puts this directory on its
path). Models are built once per session; nothing binary is committed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression

from driftloop.contract import DataContract
from driftloop.datasets import make_credit
from driftloop.registry import Bundle, Registry
from driftloop.train.dataset import infer_contract
from driftloop.train.export import export_onnx
from driftloop.train.frame import encode_target, model_frame
from driftloop.train.pipeline import build_pipeline

DOCUMENTS: dict[str, dict[str, Any]] = {"profile": {}, "metrics": {}, "lineage": {"trigger": "test"}}


def credit_frame(n_rows: int = 1500, seed: int = 0) -> pd.DataFrame:
    return pd.DataFrame(make_credit(n_rows, seed=seed))


def train_model(frame: pd.DataFrame, target: str, task: str, *, seed: int = 0) -> tuple[bytes, DataContract]:
    """A fitted pipeline as ONNX bytes with its contract (HistGradientBoosting; logistic for multiclass)."""
    contract = infer_contract(frame, target, task=task)
    estimator: Any
    if task == "regression":
        estimator = HistGradientBoostingRegressor(max_iter=15, random_state=seed)
    elif task == "multiclass":
        estimator = LogisticRegression(max_iter=300)
    else:
        estimator = HistGradientBoostingClassifier(max_iter=15 + seed, random_state=seed)
    pipeline = build_pipeline(contract, estimator, scale=task == "multiclass")
    pipeline.fit(model_frame(frame, contract), encode_target(frame[target], contract))
    return export_onnx(pipeline, contract), contract


def register(registry: Registry, name: str, model: bytes, contract: DataContract) -> Bundle:
    return registry.register(name, model, contract, DOCUMENTS)


def build_registry(root: Path) -> Registry:
    """``credit`` (binary, 2 versions), ``purpose`` (multiclass) and ``rate`` (regression)."""
    registry = Registry(root)
    frame = credit_frame()
    model, contract = train_model(frame, "default", "binary")
    register(registry, "credit", model, contract)
    model, contract = train_model(frame, "default", "binary", seed=1)
    register(registry, "credit", model, contract)  # version 2, not champion
    multiclass = frame.drop(columns=["default"])
    model, contract = train_model(multiclass, "purpose", "multiclass")
    register(registry, "purpose", model, contract)
    regression = frame.drop(columns=["default"])
    model, contract = train_model(regression, "interest_rate", "regression")
    register(registry, "rate", model, contract)
    return registry


def credit_records(n_rows: int = 5, seed: int = 1) -> list[dict[str, Any]]:
    """Records as a caller sends them: JSON values, nulls for missing, without the target."""
    frame = credit_frame(n_rows, seed=seed).drop(columns=["default"])
    records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    return [{key: value for key, value in record.items()} for record in records]
