"""A real credit model, its reference profile (the training side's builder) and synthetic streams.

Shared by the drift tests and by bench/drift_windows.py. The model is a scikit-learn logistic
regression on the credit data (a real fit, under a second); the profile and holdout metrics are
what training writes to profile.json and metrics.json.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from driftloop.contract import DataContract
from driftloop.datasets import TARGET, make_credit
from driftloop.drift.compute import WindowReport
from driftloop.drift.evaluator import Firing, RuleEvaluator
from driftloop.drift.reference import ReferenceProfile, parse_profile
from driftloop.drift.rules import RulesFile
from driftloop.drift.window import DriftMonitor
from driftloop.train.dataset import infer_contract
from driftloop.train.frame import encode_target, model_frame
from driftloop.train.metrics import task_metrics
from driftloop.train.pipeline import build_pipeline
from driftloop.train.profile import build_profile, errors_profile

Columns = dict[str, np.ndarray]
Shift = Callable[[Columns, np.random.Generator], Columns]


@dataclass(frozen=True)
class CreditModel:
    contract: DataContract
    pipeline: Pipeline
    profile: dict[str, Any]
    metrics: dict[str, Any]
    reference: ReferenceProfile

    def score(self, columns: Columns) -> tuple[list[str], np.ndarray]:
        """Predicted class labels and class probabilities of raw columns."""
        frame = model_frame(pd.DataFrame(columns), self.contract)
        probabilities = self.pipeline.predict_proba(frame)
        labels = [str(label) for label in self.contract.class_labels or []]
        return [labels[i] for i in probabilities.argmax(axis=1)], probabilities


def fit_credit_model(rows: int = 10_000, seed: int = 0) -> CreditModel:
    frame = pd.DataFrame(make_credit(rows, seed=seed))
    contract = infer_contract(frame, TARGET)
    x, y = model_frame(frame, contract), encode_target(frame[TARGET], contract)
    cut = int(rows * 0.8)
    pipeline = build_pipeline(contract, LogisticRegression(max_iter=1000), scale=True).fit(x.iloc[:cut], y[:cut])
    holdout_output = pipeline.predict_proba(x.iloc[cut:])
    profile = build_profile(x.iloc[:cut], contract, holdout_output, seed=seed)
    profile["errors"] = errors_profile(contract, holdout_output, y[cut:])
    holdout = task_metrics(contract.task, y[cut:], holdout_output)
    metrics = {"task": contract.task.value, "metric": "roc_auc", "holdout": {"rows": rows - cut, **holdout}}
    labels = [str(label) for label in contract.class_labels or []]
    reference = parse_profile(profile, metrics, task=contract.task, labels=labels)
    return CreditModel(contract, pipeline, profile, metrics, reference)


# Shifts injected at a known point of a stream. Each keeps the rest of the world unchanged.
def mean_shift(column: str, stds: float) -> Shift:
    def shift(columns: Columns, rng: np.random.Generator) -> Columns:
        values = columns[column]
        return {**columns, column: values + stds * np.nanstd(values)}

    return shift


def dominant_category(column: str, category: str, share: float = 0.6) -> Shift:
    def shift(columns: Columns, rng: np.random.Generator) -> Columns:
        values = columns[column].copy()
        values[rng.random(len(values)) < share] = category
        return {**columns, column: values}

    return shift


def inverted_labels(column: str = "utilization", above: float = 0.5) -> Shift:
    """The label relationship changes, the inputs do not: past ``above``, defaults invert."""

    def shift(columns: Columns, rng: np.random.Generator) -> Columns:
        labels = columns[TARGET].copy()
        flipped = columns[column] > above
        labels[flipped] = 1 - labels[flipped]
        return {**columns, TARGET: labels}

    return shift


def selection(column: str, quantile: float) -> Shift:
    """Covariate shift only: the rows whose ``column`` is above its ``quantile``, resampled; each
    row keeps its own label, so how inputs relate to the target does not change."""

    def shift(columns: Columns, rng: np.random.Generator) -> Columns:
        values = columns[column]
        chosen = np.flatnonzero(values > np.nanquantile(values, quantile))
        rows = rng.choice(chosen, size=len(values), replace=True)
        return {name: array[rows] for name, array in columns.items()}

    return shift


def concept(columns: Columns, rng: np.random.Generator) -> Columns:
    """Not a shift of these rows: a marker to draw the drifted rows from make_credit(drift="concept")."""
    return columns


@dataclass(frozen=True)
class StreamResult:
    reports: list[WindowReport]
    firings: list[Firing]
    drift_window: int | None

    def first_detection(self, rule: str) -> int | None:
        """Windows from the shift to the first firing of ``rule`` (0: the shifted window itself)."""
        for firing in self.firings:
            start = self.drift_window or 0
            if firing.rule == rule and firing.window["index"] >= start:
                return int(firing.window["index"]) - start
        return None

    def false_alarms(self) -> list[Firing]:
        end = self.drift_window if self.drift_window is not None else len(self.reports)
        return [f for f in self.firings if f.window["index"] < end]


def stream_batches(
    model: CreditModel,
    windows: int,
    window_size: int,
    *,
    seed: int,
    drift_at: int | None = None,
    shift: Shift | None = None,
    batch_size: int = 100,
) -> Iterator[tuple[Columns, list[str], np.ndarray, np.ndarray]]:
    """Scored batches of a credit stream; rows from window ``drift_at`` on are shifted."""
    rows = windows * window_size
    rng = np.random.default_rng(seed)
    columns: Columns = make_credit(rows, seed=seed)
    if drift_at is not None and shift is not None:
        cut = drift_at * window_size
        drifted = make_credit(rows - cut, seed=seed + 1, drift="concept") if shift is concept else None
        tail = drifted if drifted is not None else {name: values[cut:] for name, values in columns.items()}
        tail = shift(tail, rng)
        columns = {name: np.concatenate([columns[name][:cut], tail[name]]) for name in columns}
    predicted, probabilities = model.score({k: v for k, v in columns.items() if k != TARGET})
    for start in range(0, rows, batch_size):
        part = slice(start, start + batch_size)
        yield (
            {k: v[part] for k, v in columns.items() if k != TARGET},
            predicted[part],
            probabilities[part],
            columns[TARGET][part],
        )


def run_stream(
    model: CreditModel,
    rules: RulesFile,
    *,
    windows: int,
    seed: int,
    drift_at: int | None = None,
    shift: Shift | None = None,
    label_share: float = 1.0,
) -> StreamResult:
    """Feed a stream through a count-windowed monitor and the rules; labels on ``label_share`` of rows."""
    monitor = DriftMonitor(rules.window, rules.detection, lambda name, version: model.reference)
    evaluator = RuleEvaluator(rules)
    reports: list[WindowReport] = []
    firings: list[Firing] = []
    rng = np.random.default_rng(seed + 7)
    size = rules.window.size
    for i, (columns, predicted, probabilities, labels) in enumerate(
        stream_batches(model, windows, size, seed=seed, drift_at=drift_at, shift=shift)
    ):
        known = rng.random(len(labels)) < label_share
        feedback = [str(int(v)) if k else None for v, k in zip(labels, known, strict=True)]
        for report in monitor.add(
            "credit", 1, columns, predicted, probabilities=probabilities, labels=feedback, time=1_700_000_000.0 + i
        ):
            reports.append(report)
            firings += evaluator.evaluate(report)
    return StreamResult(reports, firings, drift_at)
