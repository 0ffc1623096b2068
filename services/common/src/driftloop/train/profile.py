"""The reference profile (``profile.json``): what drift detection compares production data with.

Plain JSON that numpy alone can use; the format is documented in ``docs/training.md``. Numeric
bins: ``edges`` are the inner cut points, bin ``i`` of a value ``x`` is
``numpy.searchsorted(edges, x, side="right")`` (so there are ``len(edges) + 1`` bins, the outer
ones open-ended), and ``frequencies[i]`` is the share of non-missing training values in it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from driftloop.contract import MISSING_CATEGORY, ColumnKind, DataContract

PROFILE_SCHEMA_VERSION = 1
QUANTILE_BINS = 10
SAMPLE_SIZE = 1000


def numeric_summary(values: np.ndarray, rng: np.random.Generator, *, bins: int = QUANTILE_BINS) -> dict[str, Any]:
    """Quantile bins, frequencies, moments and a seeded sample of the non-missing ``values``."""
    present = values[~np.isnan(values)]
    if present.size == 0:
        return {"edges": [], "frequencies": [], "sample": [], "count": 0}
    quantiles = np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1])
    edges = np.unique(quantiles)
    counts = np.bincount(np.searchsorted(edges, present, side="right"), minlength=len(edges) + 1)
    sample_size = min(SAMPLE_SIZE, present.size)
    sample = rng.choice(present, size=sample_size, replace=False)
    return {
        "edges": edges.tolist(),
        "frequencies": (counts / present.size).tolist(),
        "count": int(present.size),
        "min": float(present.min()),
        "max": float(present.max()),
        "mean": float(present.mean()),
        "std": float(present.std()),
        "sample": sample.tolist(),
    }


def frequencies(values: pd.Series) -> dict[str, float]:
    shares = values.value_counts(normalize=True, sort=False)
    return {str(key): float(share) for key, share in sorted(shares.items(), key=lambda item: str(item[0]))}


def build_profile(
    frame: pd.DataFrame, contract: DataContract, holdout_output: np.ndarray, *, seed: int
) -> dict[str, Any]:
    """Profile of the training split (``frame``, a model frame) and of the holdout's predictions."""
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for spec in contract.columns:
        series = frame[spec.name]
        if spec.kind is ColumnKind.CATEGORICAL:
            missing = series == MISSING_CATEGORY
            columns[spec.name] = {
                "kind": spec.kind.value,
                "missing_rate": float(missing.mean()),
                "frequencies": frequencies(series[~missing]),
            }
            continue
        values = series.to_numpy(dtype=np.float64)
        missing_rate = float(np.isnan(values).mean())
        if spec.kind is ColumnKind.BOOLEAN:
            present = values[~np.isnan(values)]
            shares = (
                {"false": float(np.mean(present == 0)), "true": float(np.mean(present == 1))} if present.size else {}
            )
            columns[spec.name] = {"kind": spec.kind.value, "missing_rate": missing_rate, "frequencies": shares}
        else:
            columns[spec.name] = {"kind": spec.kind.value, "missing_rate": missing_rate, **numeric_summary(values, rng)}
    return {
        "schema_version": PROFILE_SCHEMA_VERSION,
        "rows": len(frame),
        "columns": columns,
        "predictions": prediction_profile(contract, holdout_output, rng),
    }


def prediction_profile(contract: DataContract, output: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
    """The holdout's prediction distribution: class shares (and binary scores), or value bins."""
    if not contract.task.is_classification:
        return {"kind": "value", "rows": len(output), **numeric_summary(np.asarray(output, dtype=np.float64), rng)}
    labels = [str(label) for label in contract.class_labels or []]
    predicted = output.argmax(axis=1)
    shares = np.bincount(predicted, minlength=len(labels)) / max(len(predicted), 1)
    profile: dict[str, Any] = {
        "kind": "class",
        "rows": len(output),
        "class_frequencies": dict(zip(labels, shares.tolist(), strict=True)),
    }
    if len(labels) == 2:
        # The positive-class score moves before the labels do: it is the sharper drift signal.
        profile["positive_score"] = numeric_summary(output[:, 1].astype(np.float64), rng)
    return profile


CALIBRATION_KNOTS = 50


def errors_profile(contract: DataContract, output: np.ndarray, y_true: np.ndarray) -> dict[str, Any]:
    """How often the shipped model is wrong on the holdout, for the concept-drift detector, and
    (classifiers) how its confidence maps to being right, for estimating accuracy without labels.

    ``loss`` is the per-record loss the detector watches (drift/change.py): a wrong class, or an
    absolute error above ``loss_threshold`` (the holdout's median absolute error), measured on ``rows``
    holdout rows (the level test's bound widens when they are few). ``calibration``
    is an isotonic fit of "the predicted class was right" on the top probability, as knots."""
    if not contract.task.is_classification:
        errors = np.abs(np.asarray(output, dtype=np.float64).reshape(-1) - np.asarray(y_true, dtype=np.float64))
        threshold = float(np.median(errors)) if errors.size else 0.0
        return {
            "loss": float(np.mean(errors > threshold)) if errors.size else None,
            "loss_threshold": threshold,
            "rows": int(errors.size),
        }
    from sklearn.isotonic import IsotonicRegression

    probabilities = np.asarray(output, dtype=np.float64)
    confidence = probabilities.max(axis=1)
    correct = (probabilities.argmax(axis=1) == np.asarray(y_true)).astype(np.float64)
    if not correct.size:
        return {"loss": None}
    fit = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(confidence, correct)
    knots_x = np.quantile(confidence, np.linspace(0, 1, CALIBRATION_KNOTS))
    return {
        "loss": float(1.0 - correct.mean()),
        "rows": int(correct.size),
        "calibration": {"confidence": knots_x.tolist(), "accuracy": fit.predict(knots_x).tolist()},
    }
