"""One closed window against its model version's reference: every statistic, as plain data.

The inputs are column arrays (``WindowData``), so the work is a few numpy/scipy calls per column
and none per record. The report is what the rules read, what the store writes to ``drift_metrics``
(``WindowReport.metric_rows``) and what the Prometheus gauges show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftloop.contract import MISSING_CATEGORY, Task
from driftloop.drift import stats
from driftloop.drift.config import DetectionConfig
from driftloop.drift.performance import TASK_METRICS, classification_metrics, degradation, regression_metrics
from driftloop.drift.reference import CategoricalReference, NumericReference, ReferenceProfile

PREDICTIONS = "__predictions__"
PERFORMANCE = "__performance__"


@dataclass
class WindowData:
    """The records of one window as columns; labels are NaN where no feedback has arrived."""

    columns: dict[str, np.ndarray]
    predictions: np.ndarray
    """Class indices (classification) or predicted values (regression)."""
    probabilities: np.ndarray | None = None
    labels: np.ndarray | None = None
    """Class indices or values as float64, NaN where unlabelled."""

    @property
    def rows(self) -> int:
        return len(self.predictions)


@dataclass(frozen=True)
class Verdict:
    """The sample-size-aware judgement of one column or of the predictions."""

    method: str
    """``ks``, ``chi2`` (p-values) or ``wasserstein``, ``jensen_shannon`` (distances); ``none`` without data."""
    score: float
    threshold: float
    drifted: bool | None
    """None: not enough data for a verdict."""


@dataclass(frozen=True)
class EstimatedPerformance:
    """Confidence-based performance estimation (CBPE, as NannyML names it): a calibrated classifier
    that says 0.9 is right nine times in ten, so the mean calibrated top probability of a window
    estimates its accuracy before any label arrives. The calibration is fitted on the holdout at
    training time (train/profile.py); it holds while the concept does, so CBPE sees covariate shift
    into regions where the model is unsure, not a change of concept."""

    rows: int
    accuracy: float
    reference: float
    """The holdout's accuracy."""
    drop: float
    """Relative: (reference - estimated) / reference; positive = worse."""


@dataclass(frozen=True)
class ColumnReport:
    column: str
    kind: str
    n: int
    statistics: dict[str, float]
    verdict: Verdict


@dataclass(frozen=True)
class PerformanceReport:
    labelled: int
    coverage: float
    metrics: dict[str, float]
    holdout: dict[str, float]
    degradation: dict[str, float]
    """Per metric, how much worse than the holdout (relative; positive = worse)."""
    primary_metric: str
    enough_data: bool


@dataclass
class WindowReport:
    model: str
    version: int
    index: int
    start: float
    end: float
    rows: int
    columns: dict[str, ColumnReport]
    predictions: ColumnReport | None
    performance: PerformanceReport | None
    known_columns: dict[str, str] = field(default_factory=dict)
    """Every column of the reference and its kind, whether or not this window had values for it."""
    estimated: EstimatedPerformance | None = None
    """Accuracy estimated from the predicted probabilities, without labels (classifiers)."""

    @property
    def drift_share(self) -> float:
        """Share of the columns with a verdict that drifted (NaN when none has enough data)."""
        verdicts = [c.verdict.drifted for c in self.columns.values() if c.verdict.drifted is not None]
        return float(np.mean(verdicts)) if verdicts else float("nan")

    def metric_rows(self) -> list[dict[str, Any]]:
        """One row per (column, statistic): the ``drift_metrics`` table's rows."""
        key = {"model": self.model, "version": self.version, "window": self.index, "start": self.start, "end": self.end}
        rows: list[dict[str, Any]] = []
        for report in [*self.columns.values(), *([self.predictions] if self.predictions else [])]:
            values = {**report.statistics, "drift_score": report.verdict.score}
            if report.verdict.drifted is not None:
                values["drifted"] = float(report.verdict.drifted)
            rows += [{**key, "column": report.column, "statistic": s, "value": v} for s, v in values.items()]
        if self.performance:
            perf = self.performance
            values = {"labelled": float(perf.labelled), "label_coverage": perf.coverage, **perf.metrics}
            values |= {f"{m}_degradation": d for m, d in perf.degradation.items()}
            rows += [{**key, "column": PERFORMANCE, "statistic": s, "value": v} for s, v in values.items()]
        if self.estimated:
            estimated = {"estimated_accuracy": self.estimated.accuracy, "estimated_drop": self.estimated.drop}
            rows += [{**key, "column": PERFORMANCE, "statistic": s, "value": v} for s, v in estimated.items()]
        rows.append({**key, "column": "", "statistic": "drift_share", "value": self.drift_share})
        return rows


def estimate_performance(
    reference: ReferenceProfile, probabilities: np.ndarray | None, min_rows: int
) -> EstimatedPerformance | None:
    if probabilities is None or reference.errors.loss is None or len(probabilities) < min_rows:
        return None
    present = probabilities[~np.isnan(probabilities).any(axis=1)]
    if len(present) < min_rows:
        return None
    accuracy = float(np.mean(reference.errors.expected_accuracy(present.max(axis=1))))
    baseline = 1.0 - reference.errors.loss
    drop = (baseline - accuracy) / baseline if baseline > 0 else float("nan")
    return EstimatedPerformance(rows=len(present), accuracy=accuracy, reference=baseline, drop=drop)


def compute_window(
    reference: ReferenceProfile,
    data: WindowData,
    config: DetectionConfig,
    *,
    model: str,
    version: int,
    index: int,
    start: float,
    end: float,
) -> WindowReport:
    columns: dict[str, ColumnReport] = {}
    tested = len(reference.numeric) + len(reference.categorical)
    alpha = config.p_value / tested if config.bonferroni and tested else config.p_value
    for name, numeric in reference.numeric.items():
        if name in data.columns:
            columns[name] = _numeric_column(name, data.columns[name], numeric, reference.rows, config, alpha)
    for name, categorical in reference.categorical.items():
        if name in data.columns:
            columns[name] = _categorical_column(name, data.columns[name], categorical, reference.rows, config, alpha)
    return WindowReport(
        model=model,
        version=version,
        index=index,
        start=start,
        end=end,
        rows=data.rows,
        columns=columns,
        predictions=_prediction_drift(reference, data, config) if reference.predictions else None,
        performance=_performance(reference, data, config),
        estimated=estimate_performance(reference, data.probabilities, config.min_samples),
        known_columns={name: "numeric" for name in reference.numeric}
        | {name: "categorical" for name in reference.categorical},
    )


def _small(n: int, reference_rows: int, config: DetectionConfig) -> bool:
    return min(n, reference_rows or n) <= config.distance_above


def _numeric_column(
    name: str, values: np.ndarray, ref: NumericReference, reference_rows: int, config: DetectionConfig, alpha: float
) -> ColumnReport:
    drift = stats.numeric_drift(
        np.asarray(values, dtype=np.float64),
        edges=ref.edges,
        reference_counts=ref.frequencies,
        reference_sample_sorted=ref.sample_sorted,
        reference_std=ref.std,
        reference_range=(ref.minimum, ref.maximum),
    )
    statistics = {
        "psi": drift.psi,
        "ks_statistic": drift.ks_statistic,
        "ks_pvalue": drift.ks_pvalue,
        "wasserstein": drift.wasserstein,
        "out_of_range_share": drift.out_of_range_share,
        "missing_rate": drift.missing_rate,
    }
    if drift.n < config.min_samples:
        verdict = Verdict("none", float("nan"), float("nan"), None)
    elif _small(drift.n, reference_rows, config):
        verdict = Verdict("ks", drift.ks_pvalue, alpha, bool(drift.ks_pvalue < alpha))
    else:
        verdict = Verdict(
            "wasserstein", drift.wasserstein, config.wasserstein, bool(drift.wasserstein >= config.wasserstein)
        )
    return ColumnReport(name, "numeric", drift.n, statistics, verdict)


def _categorical_column(
    name: str, values: np.ndarray, ref: CategoricalReference, reference_rows: int, config: DetectionConfig, alpha: float
) -> ColumnReport:
    values = np.asarray(values, dtype=object)
    present = values[(values != MISSING_CATEGORY) & (values != None)]  # noqa: E711 (elementwise)
    counts = _category_counts(present, ref.categories)
    n = len(present)
    if reference_rows:  # the reference is a sample too: a test of homogeneity, not of fit
        chi2, pvalue = stats.chi_square_two_sample(ref.frequencies * reference_rows, counts)
    else:
        chi2, pvalue = stats.chi_square(ref.frequencies, counts)
    statistics = {
        "psi": stats.psi(ref.frequencies, counts) if n else float("nan"),
        "jensen_shannon": stats.jensen_shannon(ref.frequencies, counts) if n else float("nan"),
        "chi2_statistic": chi2,
        "chi2_pvalue": pvalue,
        "unseen_share": float(counts[-1] / n) if n else 0.0,
        "missing_rate": float(1 - n / len(values)) if len(values) else 0.0,
    }
    if n < config.min_samples:
        verdict = Verdict("none", float("nan"), float("nan"), None)
    elif _small(n, reference_rows, config):
        verdict = Verdict("chi2", pvalue, alpha, bool(pvalue < alpha))
    else:
        js = statistics["jensen_shannon"]
        verdict = Verdict("jensen_shannon", js, config.jensen_shannon, bool(js >= config.jensen_shannon))
    return ColumnReport(name, "categorical", n, statistics, verdict)


def _category_counts(present: np.ndarray, categories: list[str]) -> np.ndarray:
    """Counts per reference category plus a last one for unseen categories."""
    # Python touches each distinct value once, not each value: a window has few distinct values.
    distinct, counts = np.unique(present.astype(str), return_counts=True)
    lookup = {category: i for i, category in enumerate(categories)}
    codes = np.array([lookup.get(v, len(categories)) for v in distinct], dtype=np.int64)
    return np.bincount(codes, weights=counts, minlength=len(categories) + 1)


def _prediction_drift(reference: ReferenceProfile, data: WindowData, config: DetectionConfig) -> ColumnReport:
    """Predicted values (regression) or the positive-class score (binary) as a numeric column, when the
    profile has them: the score moves before the predicted classes do. Otherwise the class shares."""
    ref = reference.predictions
    assert ref is not None
    if ref.values is not None and reference.task is Task.REGRESSION:
        values: np.ndarray | None = np.asarray(data.predictions, dtype=np.float64)
    elif ref.values is not None and data.probabilities is not None and data.probabilities.shape[1] == 2:
        values = data.probabilities[:, 1]
    else:
        values = None
    if values is not None and ref.values is not None:
        report = _numeric_column(PREDICTIONS, values, ref.values, ref.rows, config, config.p_value)
        return ColumnReport(PREDICTIONS, "predictions", report.n, report.statistics, report.verdict)
    predicted = np.asarray(data.predictions, dtype=np.int64)
    counts = np.bincount(
        predicted[(predicted >= 0) & (predicted < len(ref.frequencies))], minlength=len(ref.frequencies)
    )
    n = int(counts.sum())
    if ref.rows:
        chi2, pvalue = stats.chi_square_two_sample(ref.frequencies * ref.rows, counts)
    else:
        chi2, pvalue = stats.chi_square(ref.frequencies, counts) if n else (float("nan"), float("nan"))
    js = stats.jensen_shannon(ref.frequencies, counts) if n else float("nan")
    statistics = {
        "psi": stats.psi(ref.frequencies, counts) if n else float("nan"),
        "jensen_shannon": js,
        "chi2_statistic": chi2,
        "chi2_pvalue": pvalue,
    }
    if n < config.min_samples:
        verdict = Verdict("none", float("nan"), float("nan"), None)
    elif _small(n, ref.rows, config):
        verdict = Verdict("chi2", pvalue, config.p_value, bool(pvalue < config.p_value))
    else:
        verdict = Verdict("jensen_shannon", js, config.jensen_shannon, bool(js >= config.jensen_shannon))
    return ColumnReport(PREDICTIONS, "predictions", n, statistics, verdict)


def _performance(reference: ReferenceProfile, data: WindowData, config: DetectionConfig) -> PerformanceReport | None:
    if data.labels is None:
        return None
    labelled = ~np.isnan(data.labels)
    count = int(labelled.sum())
    primary = reference.primary_metric or TASK_METRICS[reference.task][0]
    metrics: dict[str, float] = {}
    if count:
        y_true = data.labels[labelled]
        if reference.task is Task.REGRESSION:
            metrics = regression_metrics(y_true, np.asarray(data.predictions, dtype=np.float64)[labelled])
        else:
            probabilities = data.probabilities[labelled] if data.probabilities is not None else None
            predicted = np.asarray(data.predictions, dtype=np.int64)[labelled]
            metrics = classification_metrics(y_true.astype(np.int64), predicted, probabilities)
    changes = {
        metric: degradation(metric, reference.holdout_metrics[metric], value)
        for metric, value in metrics.items()
        if metric in reference.holdout_metrics
    }
    return PerformanceReport(
        labelled=count,
        coverage=count / data.rows if data.rows else 0.0,
        metrics=metrics,
        holdout={k: v for k, v in reference.holdout_metrics.items() if k in metrics or k == primary},
        degradation=changes,
        primary_metric=primary,
        enough_data=count >= config.min_labelled,
    )
