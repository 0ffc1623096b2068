"""Drift per column, Evidently-style: the latest drift window of the range against its reference.

For the newest window ending in the range: each column's reference distribution (the bundle's
profile.json bins: quantile bins of a numeric column, the categories of a categorical one) next
to the window's own (its records, read back from ``predictions`` by model version and event
time, binned with the same edges), the test that gave the verdict (as the forwarder chose it in
driftloop.drift.compute: KS or chi-squared p-values on small samples, Wasserstein or
Jensen–Shannon distances on large ones), its score and threshold, and the PSI. The window's
verdicts are the stored ones (``drift_metrics``), not recomputed: the page shows what the rules
acted on. On top, the dataset-level verdict: the share of the columns with a verdict that
drifted, against the share threshold (the policy's ``drift_share`` rule, else 0.5 as Evidently).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import numpy as np
from sqlalchemy import Engine, select

from driftloop.contract import MISSING_CATEGORY
from driftloop.drift.compute import WindowData
from driftloop.drift.reference import CategoricalReference, NumericReference, ReferenceProfile
from driftloop.drift.stats import bin_counts
from driftloop.drift.window import to_window_data
from driftloop.errors import InvalidInputError
from driftloop.registry import Registry
from driftloop.report.drift import has_drift_tables
from driftloop.report.timerange import TimeRange
from driftloop.store.drift_read import window, windows
from driftloop.store.drift_rollup import PREDICTIONS
from driftloop.store.models import Prediction

logger = logging.getLogger(__name__)
MAX_RECORDS = 20_000  # a window is a few thousand records; a bound against a very long time window

# The verdict's method, told by which of the column's statistics its score is (compute.py copies it).
TESTS = {
    "ks_pvalue": ("KS test", "p-value", "below"),
    "chi2_pvalue": ("chi-squared test", "p-value", "below"),
    "wasserstein": ("Wasserstein distance (normed)", "distance", "above"),
    "jensen_shannon": ("Jensen-Shannon distance", "distance", "above"),
}


@dataclass(frozen=True)
class DatasetRule:
    """When the dataset as a whole counts as drifted: at least ``share`` of its judged columns."""

    share: float
    rule: str | None
    """The policy's rule on ``drift_share`` that sets it (None: Evidently's default, 0.5)."""


def columns(
    engine: Engine, registry: Registry, model: str, rng: TimeRange, dataset_rule: DatasetRule
) -> dict[str, Any]:
    empty = {**rng.to_dict(), "window": None, "dataset": None, "columns": []}
    if not has_drift_tables(engine):
        return empty
    latest = windows(engine, model, since=rng.since, until=rng.until - timedelta(microseconds=1), limit=1)
    if not latest:
        return empty
    found = window(engine, model, latest[0]["version"], latest[0]["index"])
    assert found is not None  # just listed
    reference = ReferenceProfile.from_bundle(registry.resolve(model, found["version"]))
    current = _window_data(engine, model, found, reference)
    judged = [v for v in found["columns"].values() if v["drifted"] is not None]
    drifted = sum(1 for v in judged if v["drifted"])
    share = drifted / len(judged) if judged else None
    entries = [
        _column(name, verdict, found["statistics"].get(name, {}), reference, current)
        for name, verdict in found["columns"].items()
    ]
    if found["predictions"] is not None:
        entries.append(
            _column(PREDICTIONS, found["predictions"], found["statistics"].get(PREDICTIONS, {}), reference, current)
        )
    entries.sort(key=lambda e: (not e["drifted"], e["column"] == PREDICTIONS, -(e["psi"] or 0.0), e["column"]))
    return {
        **rng.to_dict(),
        "window": {k: found[k] for k in ("version", "index", "start", "end", "rows")},
        "dataset": {
            "columns": len(found["columns"]),
            "judged": len(judged),
            "drifted_columns": drifted,
            "share": None if share is None else round(share, 4),
            "threshold": dataset_rule.share,
            "rule": dataset_rule.rule,
            "drifted": None if share is None else share >= dataset_rule.share,
        },
        "columns": entries,
    }


def _window_data(engine: Engine, model: str, found: dict[str, Any], reference: ReferenceProfile) -> WindowData | None:
    """The window's records and predictions as the forwarder's column arrays (read by version and event time)."""
    query = (
        select(Prediction.record, Prediction.prediction, Prediction.probabilities)
        .where(
            Prediction.model == model,
            Prediction.version == found["version"],
            Prediction.time >= datetime.fromisoformat(found["start"]),
            Prediction.time <= datetime.fromisoformat(found["end"]),
        )
        .order_by(Prediction.time)
        .limit(MAX_RECORDS)
    )
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    if not rows:
        return None
    probabilities = [row[2] for row in rows]
    with_probabilities = reference.task.is_classification and all(p is not None for p in probabilities)
    try:
        return to_window_data(
            reference,
            [row[0] or {} for row in rows],
            [row[1] for row in rows],
            probabilities=probabilities if with_probabilities else None,
        )
    except InvalidInputError:  # rows the forwarder could not have read either: show the reference alone
        logger.warning("the records of %s window %s cannot be read as its reference's columns", model, found["index"])
        return None


def _column(
    name: str,
    verdict: dict[str, Any],
    statistics: dict[str, float | None],
    reference: ReferenceProfile,
    current: WindowData | None,
) -> dict[str, Any]:
    test, score_kind, direction = _test(verdict.get("score"), statistics)
    bins, ref_shares, cur_shares = _distributions(name, reference, current)
    return {
        "column": name,
        "kind": _kind(name, reference),
        "n": verdict.get("n"),
        "test": test,
        "score_kind": score_kind,
        "direction": direction,
        "score": _round(verdict.get("score")),
        "threshold": _round(verdict.get("threshold")),
        "drifted": verdict.get("drifted"),
        "psi": _round(statistics.get("psi")),
        "missing_rate": _round(statistics.get("missing_rate")),
        "bins": bins,
        "reference": ref_shares,
        "current": cur_shares,
    }


def _test(score: float | None, statistics: dict[str, float | None]) -> tuple[str, str | None, str | None]:
    if score is None or score != score:  # NaN: fewer values than min_samples
        return "not enough data", None, None
    for statistic, (test, kind, direction) in TESTS.items():
        if statistics.get(statistic) == score:
            return test, kind, direction
    return "verdict score", None, None


def _kind(name: str, reference: ReferenceProfile) -> str:
    if name == PREDICTIONS:
        return "predictions"
    if name in reference.boolean:
        return "boolean"
    return "numeric" if name in reference.numeric else "categorical"


Distributions = tuple[list[str], list[float], list[float]]
"""Bin labels, the reference's shares and the window's shares."""


def _distributions(name: str, reference: ReferenceProfile, current: WindowData | None) -> Distributions:
    if name == PREDICTIONS:
        return _prediction_distributions(reference, current)
    values = current.columns.get(name) if current is not None else None
    if name in reference.numeric:
        return _numeric(reference.numeric[name], values)
    if name in reference.categorical:
        return _categorical(reference.categorical[name], values)
    return [], [], []


def _numeric(ref: NumericReference, values: np.ndarray | None) -> Distributions:
    edges = ref.edges
    labels = [f"<{_short(edges[0])}"] if len(edges) else ["all"]
    labels += [f"{_short(low)}-{_short(high)}" for low, high in pairwise(edges)]
    labels += [f"≥{_short(edges[-1])}"] if len(edges) else []
    counts = bin_counts(values, edges) if values is not None else np.zeros(len(edges) + 1)
    return labels, _shares(ref.frequencies), _shares(counts)


def _categorical(ref: CategoricalReference, values: np.ndarray | None) -> Distributions:
    labels = [*ref.categories, "(unseen)"]
    counts = np.zeros(len(labels))
    if values is not None:
        index = {category: i for i, category in enumerate(ref.categories)}
        for value in values:
            if value is not None and value != MISSING_CATEGORY:
                counts[index.get(str(value), len(ref.categories))] += 1
    return labels, _shares(ref.frequencies), _shares(counts)


def _prediction_distributions(reference: ReferenceProfile, data: WindowData | None) -> Distributions:
    ref = reference.predictions
    if ref is None:
        return [], [], []
    if ref.values is not None:  # regression values, or the binary positive-class score
        values = None
        if data is not None:
            if reference.task.is_classification and data.probabilities is not None:
                values = data.probabilities[:, -1]
            elif not reference.task.is_classification:
                values = np.asarray(data.predictions, dtype=np.float64)
        return _numeric(ref.values, values)
    labels = [f"class {label}" for label in ref.labels or []]
    predicted = np.asarray(data.predictions if data is not None else [], dtype=np.int64)
    counts = np.bincount(predicted[(predicted >= 0) & (predicted < len(labels))], minlength=len(labels))
    return labels, _shares(ref.frequencies), _shares(counts)


def _short(value: float) -> str:
    """A bin edge as a short tick label: 3 significant digits, k and M for thousands and millions."""
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def _shares(counts: Any) -> list[float]:
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    return [round(float(c / total), 4) if total else 0.0 for c in counts]


def _round(value: Any) -> float | None:
    if value is None or value != value:
        return None
    return float(f"{float(value):.4g}")
