"""The estimator families of the sweep, their search spaces and the deterministic trial sequence.

Only estimators that skl2onnx converts faithfully are here. Each family says whether it needs
scaled inputs (distance- and gradient-based ones do; trees must not get them, see
``driftloop.train.pipeline``). The trial sequence depends on the seed alone, never on the clock:
trial ``i`` is the same family with the same parameters on every machine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.neural_network import MLPClassifier, MLPRegressor

from driftloop.contract import Task

Params = dict[str, Any]


@dataclass(frozen=True)
class Family:
    name: str
    scale: bool
    """Whether the numeric inputs are standardised before the estimator."""
    weight: float
    """Share of the random trials (after each family's default trial)."""
    defaults: Params
    sample: Callable[[np.random.Generator], Params]
    make: Callable[[Task, Params, int, int], BaseEstimator]


@dataclass(frozen=True)
class TrialSpec:
    index: int
    family: str
    params: Params


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _log_int(rng: np.random.Generator, low: int, high: int) -> int:
    return round(_log_uniform(rng, low, high))


def _linear(task: Task, params: Params, seed: int, n_jobs: int) -> BaseEstimator:
    if task.is_classification:
        return LogisticRegression(C=params["C"], max_iter=2000)
    return Ridge(alpha=params["alpha"])


def _hgb(task: Task, params: Params, seed: int, n_jobs: int) -> BaseEstimator:
    # Early stopping picks max_iter on an internal validation split (seeded, so reproducible).
    common = {
        "learning_rate": params["learning_rate"],
        "max_leaf_nodes": params["max_leaf_nodes"],
        "min_samples_leaf": params["min_samples_leaf"],
        "l2_regularization": params["l2_regularization"],
        "max_features": params["max_features"],
        "max_iter": 1000,
        "early_stopping": True,
        "validation_fraction": 0.1,
        "n_iter_no_change": 20,
        "random_state": seed,
    }
    if task.is_classification:
        return HistGradientBoostingClassifier(**common)
    return HistGradientBoostingRegressor(**common)


def _forest_params(params: Params, seed: int, n_jobs: int) -> Params:
    return {
        "n_estimators": params["n_estimators"],
        "max_features": params["max_features"],
        "min_samples_leaf": params["min_samples_leaf"],
        "max_depth": params["max_depth"],
        "n_jobs": n_jobs,
        "random_state": seed,
    }


def _random_forest(task: Task, params: Params, seed: int, n_jobs: int) -> BaseEstimator:
    kwargs = _forest_params(params, seed, n_jobs)
    return RandomForestClassifier(**kwargs) if task.is_classification else RandomForestRegressor(**kwargs)


def _extra_trees(task: Task, params: Params, seed: int, n_jobs: int) -> BaseEstimator:
    kwargs = _forest_params(params, seed, n_jobs)
    return ExtraTreesClassifier(**kwargs) if task.is_classification else ExtraTreesRegressor(**kwargs)


def _knn(task: Task, params: Params, seed: int, n_jobs: int) -> BaseEstimator:
    kwargs = {"n_neighbors": params["n_neighbors"], "weights": params["weights"]}
    return KNeighborsClassifier(**kwargs) if task.is_classification else KNeighborsRegressor(**kwargs)


def _mlp(task: Task, params: Params, seed: int, n_jobs: int) -> BaseEstimator:
    kwargs = {
        "hidden_layer_sizes": tuple(params["hidden_layer_sizes"]),
        "alpha": params["alpha"],
        "learning_rate_init": params["learning_rate_init"],
        "max_iter": 300,
        "early_stopping": True,
        "random_state": seed,
    }
    return MLPClassifier(**kwargs) if task.is_classification else MLPRegressor(**kwargs)


def _forest_sample(rng: np.random.Generator) -> Params:
    return {
        # Bounded trees, depth and features: one fold of 300 unbounded trees on 40,000 rows took
        # longer than a whole 120 s budget; bounded depth also keeps the exported graph small.
        "n_estimators": int(rng.choice([100, 150, 200])),
        "max_features": ["sqrt", 0.2, 0.3, 0.5][int(rng.integers(4))],
        "min_samples_leaf": _log_int(rng, 1, 30),
        "max_depth": int(rng.choice([8, 12, 16, 20])),
    }


FAMILIES: dict[str, Family] = {
    family.name: family
    for family in [
        Family(
            "linear",
            scale=True,
            weight=0.05,
            defaults={"C": 1.0, "alpha": 1.0},
            sample=lambda rng: {"C": _log_uniform(rng, 1e-3, 1e2), "alpha": _log_uniform(rng, 1e-3, 1e3)},
            make=_linear,
        ),
        Family(
            "hist_gradient_boosting",
            scale=False,
            weight=0.55,
            defaults={
                "learning_rate": 0.1,
                "max_leaf_nodes": 31,
                "min_samples_leaf": 20,
                "l2_regularization": 0.0,
                "max_features": 1.0,
            },
            sample=lambda rng: {
                "learning_rate": _log_uniform(rng, 0.015, 0.25),
                "max_leaf_nodes": _log_int(rng, 4, 128),
                "min_samples_leaf": _log_int(rng, 5, 200),
                "l2_regularization": float(rng.choice([0.0, _log_uniform(rng, 1e-3, 10.0)])),
                "max_features": float(rng.choice([0.5, 0.7, 0.85, 1.0])),
            },
            make=_hgb,
        ),
        Family(
            "extra_trees",
            scale=False,
            weight=0.1,
            defaults={"n_estimators": 150, "max_features": 0.5, "min_samples_leaf": 2, "max_depth": 16},
            sample=_forest_sample,
            make=_extra_trees,
        ),
        Family(
            "random_forest",
            scale=False,
            weight=0.1,
            defaults={"n_estimators": 150, "max_features": "sqrt", "min_samples_leaf": 2, "max_depth": 16},
            sample=_forest_sample,
            make=_random_forest,
        ),
        Family(
            "knn",
            scale=True,
            weight=0.08,
            defaults={"n_neighbors": 15, "weights": "distance"},
            sample=lambda rng: {
                "n_neighbors": _log_int(rng, 3, 100),
                "weights": str(rng.choice(["uniform", "distance"])),
            },
            make=_knn,
        ),
        Family(
            "mlp",
            scale=True,
            weight=0.12,
            defaults={"hidden_layer_sizes": [64], "alpha": 1e-4, "learning_rate_init": 1e-3},
            sample=lambda rng: {
                "hidden_layer_sizes": [[32], [64], [128], [64, 32]][int(rng.integers(4))],
                "alpha": _log_uniform(rng, 1e-5, 1e-1),
                "learning_rate_init": _log_uniform(rng, 3e-4, 1e-2),
            },
            make=_mlp,
        ),
    ]
}


def trial_sequence(families: list[str], seed: int) -> Iterator[TrialSpec]:
    """Each family's default first (in the order given), then seeded random trials, forever.

    Trial ``i``'s family and parameters come from ``seed`` and ``i`` only.
    """
    chosen = [FAMILIES[name] for name in families]
    for index, family in enumerate(chosen):
        yield TrialSpec(index, family.name, _task_free(family.defaults))
    weights = np.array([family.weight for family in chosen])
    weights = weights / weights.sum()
    index = len(chosen)
    while True:
        rng = np.random.default_rng([seed, index])
        family = chosen[int(rng.choice(len(chosen), p=weights))]
        yield TrialSpec(index, family.name, _task_free(family.sample(rng)))
        index += 1


def make_estimator(family: str, task: Task, params: Params, seed: int, n_jobs: int = 1) -> BaseEstimator:
    return FAMILIES[family].make(task, params, seed, n_jobs)


def task_params(family: str, task: Task, params: Params) -> Params:
    """The parameters that matter for ``task`` (the linear family samples both C and alpha)."""
    if family == "linear":
        return {"C": params["C"]} if task.is_classification else {"alpha": params["alpha"]}
    return params


def _task_free(params: Params) -> Params:
    # Four significant digits: readable on the leaderboard, and the same on every platform.
    return {key: (float(f"{value:.4g}") if isinstance(value, float) else value) for key, value in params.items()}
