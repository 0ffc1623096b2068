"""The AutoML sweep: a seeded sequence of candidate pipelines, k-fold cross-validated under a time budget.

Trials run one after another in the order of ``families.trial_sequence``. A new trial starts
only while the budget lasts and ``max_trials`` is not reached. A trial still running when the
budget ends stops after its current fold ("timeout") and cannot win, so the budget is overrun by
one fold at most and no score ever comes from fewer folds than configured. A trial whose first
fold is worse than every fold of the best trial so far is stopped there ("pruned"): it cannot
plausibly win, and the time goes to the next candidate instead (successive halving at its
simplest).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import has_fit_parameter
from threadpoolctl import threadpool_limits

from driftloop.contract import DataContract, Task
from driftloop.errors import TrainingError
from driftloop.features import DerivedFeature
from driftloop.train.families import FAMILIES, TrialSpec, make_estimator, task_params, trial_sequence
from driftloop.train.metrics import better, task_metrics
from driftloop.train.parity import ParityReport
from driftloop.train.pipeline import build_pipeline

TrialStatus = Literal["ok", "pruned", "timeout", "failed"]


@dataclass
class Trial:
    """One candidate of the leaderboard."""

    index: int
    family: str
    params: dict[str, Any]
    fold_scores: list[float] = field(default_factory=list)
    fit_seconds: float = 0.0
    status: TrialStatus = "ok"
    error: str | None = None
    parity: ParityReport | None = None
    parity_status: Literal["passed", "failed", "not_checked", "skipped"] = "not_checked"
    """skipped: another trial of the same family failed parity, so this one was not tried."""

    @property
    def cv_mean(self) -> float:
        return float(np.mean(self.fold_scores)) if self.fold_scores else float("nan")

    @property
    def cv_std(self) -> float:
        return float(np.std(self.fold_scores)) if self.fold_scores else float("nan")

    @property
    def eligible(self) -> bool:
        return self.status == "ok" and not np.isnan(self.cv_mean)

    def to_dict(self) -> dict[str, Any]:
        return {
            "trial": self.index,
            "family": self.family,
            "params": self.params,
            "cv_mean": _finite(self.cv_mean),
            "cv_std": _finite(self.cv_std),
            "fold_scores": [_finite(s) for s in self.fold_scores],
            "fit_seconds": round(self.fit_seconds, 3),
            "status": self.status,
            "error": self.error,
            "parity": self.parity_status,
            "parity_report": self.parity.to_dict() if self.parity else None,
        }


@dataclass(frozen=True)
class SweepEvent:
    """What the sweep reports to its caller's progress callback."""

    kind: Literal["trial_started", "trial_finished", "stage"]
    message: str
    elapsed: float
    budget: float
    completed: int
    max_trials: int | None
    trial: Trial | None = None
    best: Trial | None = None


Progress = Callable[[SweepEvent], None]


def cv_splits(y: np.ndarray, task: Task, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    splitter = (
        StratifiedKFold(folds, shuffle=True, random_state=seed)
        if task.is_classification
        else KFold(folds, shuffle=True, random_state=seed)
    )
    return list(splitter.split(np.zeros(len(y)), y))


def predict_output(pipeline: Pipeline, frame: pd.DataFrame, task: Task, n_classes: int) -> np.ndarray:
    """Probabilities ``[N, n_classes]`` (classes a fold never saw get 0) or values ``[N]``."""
    if not task.is_classification:
        return np.asarray(pipeline.predict(frame), dtype=np.float64)
    seen = pipeline.predict_proba(frame)
    probabilities = np.zeros((len(frame), n_classes))
    probabilities[:, np.asarray(pipeline.classes_, dtype=np.int64)] = seen
    return probabilities


def candidate(
    contract: DataContract,
    family: str,
    params: dict[str, Any],
    seed: int,
    n_jobs: int,
    derived: Sequence[DerivedFeature] = (),
) -> Pipeline:
    estimator = make_estimator(family, contract.task, params, seed, n_jobs)
    return build_pipeline(contract, estimator, scale=FAMILIES[family].scale, derived=derived)


def fit_pipeline(
    pipeline: Pipeline,
    frame: pd.DataFrame,
    y: np.ndarray,
    n_jobs: int,
    sample_weight: np.ndarray | None = None,
) -> Pipeline:
    """Fit with at most ``n_jobs`` OpenMP/BLAS threads, ``sample_weight`` going to the estimator."""
    fit_params: dict[str, Any] = {}
    if sample_weight is not None:
        estimator = pipeline.steps[-1][1]
        if not has_fit_parameter(estimator, "sample_weight"):
            # Fitting it unweighted would silently ignore what the training set asks for.
            raise TrainingError(f"{type(estimator).__name__} cannot be fitted with sample weights")
        fit_params["model__sample_weight"] = sample_weight
    with threadpool_limits(limits=n_jobs), warnings.catch_warnings():
        # An MLP or a logistic regression stopped by max_iter is still a candidate: CV judges it.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return pipeline.fit(frame, y, **fit_params)


def run_sweep(
    frame: pd.DataFrame,
    y: np.ndarray,
    contract: DataContract,
    *,
    metric: str,
    families: list[str],
    folds: int,
    seed: int,
    time_budget: float,
    max_trials: int | None,
    n_jobs: int = 1,
    progress: Progress | None = None,
    derived: Sequence[DerivedFeature] = (),
    sample_weight: np.ndarray | None = None,
) -> list[Trial]:
    """Cross-validate candidates until the budget or ``max_trials`` runs out; trials in run order."""
    task = contract.task
    n_classes = len(contract.class_labels or [])
    splits = cv_splits(y, task, folds, seed)
    started = time.monotonic()
    trials: list[Trial] = []
    best: Trial | None = None

    def emit(kind: Literal["trial_started", "trial_finished", "stage"], message: str, trial: Trial | None) -> None:
        if progress is not None:
            elapsed = time.monotonic() - started
            progress(SweepEvent(kind, message, elapsed, time_budget, len(trials), max_trials, trial, best))

    for spec in trial_sequence(families, seed):
        out_of_time = bool(trials) and time.monotonic() - started >= time_budget
        if out_of_time or (max_trials is not None and len(trials) >= max_trials):
            break
        trial = Trial(spec.index, spec.family, task_params(spec.family, task, spec.params))
        emit("trial_started", f"trial {spec.index}: {spec.family}", trial)
        # Until one trial has completed, none is cut short: a tiny budget still yields a model.
        deadline = started + time_budget if best is not None else float("inf")
        _cross_validate(
            trial,
            spec,
            frame,
            y,
            contract,
            splits,
            metric,
            seed,
            n_classes,
            best,
            n_jobs,
            deadline,
            sample_weight=sample_weight,
            derived=derived,
        )
        trials.append(trial)
        if trial.eligible and (best is None or better(metric, trial.cv_mean, best.cv_mean)):
            best = trial
        emit("trial_finished", f"trial {spec.index}: {spec.family} {trial.status}", trial)
    return trials


def _cross_validate(
    trial: Trial,
    spec: TrialSpec,
    frame: pd.DataFrame,
    y: np.ndarray,
    contract: DataContract,
    splits: list[tuple[np.ndarray, np.ndarray]],
    metric: str,
    seed: int,
    n_classes: int,
    best: Trial | None,
    n_jobs: int,
    deadline: float,
    *,
    sample_weight: np.ndarray | None = None,
    derived: Sequence[DerivedFeature] = (),
) -> None:
    began = time.monotonic()
    try:
        for fold, (train_rows, valid_rows) in enumerate(splits):
            pipeline = candidate(contract, spec.family, spec.params, seed, n_jobs, derived)
            weights = None if sample_weight is None else sample_weight[train_rows]
            fit_pipeline(pipeline, frame.iloc[train_rows], y[train_rows], n_jobs, weights)
            with threadpool_limits(limits=n_jobs):
                output = predict_output(pipeline, frame.iloc[valid_rows], contract.task, n_classes)
            # Scored unweighted: the weights say how much to learn from a row, not how to judge.
            score = task_metrics(contract.task, y[valid_rows], output)[metric]
            trial.fold_scores.append(score)
            if fold == 0 and best is not None and _hopeless(metric, score, best):
                trial.status = "pruned"
                break
            if fold < len(splits) - 1 and time.monotonic() >= deadline:
                trial.status = "timeout"
                break
    except Exception as exc:  # a candidate that cannot fit this data is a leaderboard entry, not a crash
        trial.status = "failed"
        trial.error = f"{type(exc).__name__}: {exc}"[:300]
    trial.fit_seconds = time.monotonic() - began


def _hopeless(metric: str, first_fold: float, best: Trial) -> bool:
    worst_of_best = max(best.fold_scores) if metric in {"log_loss", "rmse", "mae"} else min(best.fold_scores)
    return better(metric, worst_of_best, first_fold)


def _finite(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 6)
