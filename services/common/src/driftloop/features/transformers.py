"""scikit-learn transformers for the derived features, computing exactly what their ONNX graphs compute.

Each takes its input columns as one ``[N, k]`` block (as a ``ColumnTransformer`` hands them over),
computes in float32 with the same operations, in the same order, as the converter in
``driftloop.features.converters``, and returns float32 ``[N, outputs]``. They need no fitting:
everything they know comes from the definition and the contract, so the same object serves
training, the transform API and the ONNX export.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer

from driftloop.contract import DataContract
from driftloop.features.definitions import (
    Bucketize,
    Clip,
    Cross,
    DerivedFeature,
    Log1p,
    Ratio,
    check_definitions,
    cross_pairs,
)


class _Derived(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    def fit(self, X: Any, y: Any = None) -> _Derived:
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.array(self._names(), dtype=object)

    def _names(self) -> list[str]:
        return ["value"]


def _floats(X: Any) -> np.ndarray:
    return np.asarray(X, dtype=np.float64).astype(np.float32)


def _replace(values: np.ndarray, bad: np.ndarray, missing: float) -> np.ndarray:
    return np.where(bad, np.float32(missing), values).astype(np.float32)


class RatioFeature(_Derived):
    def __init__(self, missing: float = 0.0) -> None:
        self.missing = missing

    def transform(self, X: Any) -> np.ndarray:
        x = _floats(X)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = x[:, 0:1] / x[:, 1:2]
        return _replace(ratio, ~np.isfinite(ratio), self.missing)


class Log1pFeature(_Derived):
    def __init__(self, missing: float = 0.0) -> None:
        self.missing = missing

    def transform(self, X: Any) -> np.ndarray:
        # log(x + 1) rather than np.log1p: ONNX has no Log1p, and both sides must do the same sum.
        x = _floats(X)
        with np.errstate(divide="ignore", invalid="ignore"):
            result = np.log(x + np.float32(1.0))
        return _replace(result, ~np.isfinite(result), self.missing)


class ClipFeature(_Derived):
    def __init__(self, lower: float | None = None, upper: float | None = None, missing: float = 0.0) -> None:
        self.lower = lower
        self.upper = upper
        self.missing = missing

    def transform(self, X: Any) -> np.ndarray:
        x = _floats(X)
        result = x
        if self.lower is not None:
            result = np.maximum(result, np.float32(self.lower))
        if self.upper is not None:
            result = np.minimum(result, np.float32(self.upper))
        return _replace(result, np.isnan(x) | ~np.isfinite(result), self.missing)


class BucketizeFeature(_Derived):
    def __init__(self, edges: Sequence[float] = (0.0,), missing: float = -1.0) -> None:
        self.edges = edges
        self.missing = missing

    def transform(self, X: Any) -> np.ndarray:
        x = _floats(X)
        edges = np.asarray(self.edges, dtype=np.float32).reshape(1, -1)
        buckets = (x >= edges).astype(np.float32).sum(axis=1, keepdims=True, dtype=np.float32)
        return _replace(buckets, np.isnan(x), self.missing)


class CrossFeature(_Derived):
    """One-hot of (left, right) over ``left_categories`` x ``right_categories``; unknown -> zeros."""

    def __init__(self, left_categories: Sequence[str] = (), right_categories: Sequence[str] = ()) -> None:
        self.left_categories = left_categories
        self.right_categories = right_categories

    def transform(self, X: Any) -> np.ndarray:
        values = np.asarray(X, dtype=object)
        left = {c: i + 1 for i, c in enumerate(self.left_categories)}
        right = {c: i + 1 for i, c in enumerate(self.right_categories)}
        # Index 0 is "unknown"; (index_left * (n_right + 1) + index_right) is unique per pair.
        left_index = np.array([left.get(str(v), 0) for v in values[:, 0]], dtype=np.int64)
        right_index = np.array([right.get(str(v), 0) for v in values[:, 1]], dtype=np.int64)
        codes = (left_index * (len(self.right_categories) + 1) + right_index).reshape(-1, 1)
        one_hot: np.ndarray = (codes == self.pair_codes().reshape(1, -1)).astype(np.float32)
        return one_hot

    def pair_codes(self) -> np.ndarray:
        stride = len(self.right_categories) + 1
        return np.array(
            [
                (i + 1) * stride + (j + 1)
                for i in range(len(self.left_categories))
                for j in range(len(self.right_categories))
            ],
            dtype=np.int64,
        )

    def _names(self) -> list[str]:
        return [f"{a}|{b}" for a in self.left_categories for b in self.right_categories]


def feature_transformer(definition: DerivedFeature, contract: DataContract) -> _Derived:
    """The transformer of one definition."""
    if isinstance(definition, Ratio):
        return RatioFeature(missing=definition.missing)
    if isinstance(definition, Log1p):
        return Log1pFeature(missing=definition.missing)
    if isinstance(definition, Clip):
        return ClipFeature(lower=definition.lower, upper=definition.upper, missing=definition.missing)
    if isinstance(definition, Bucketize):
        return BucketizeFeature(edges=list(definition.edges), missing=definition.missing)
    pairs = cross_pairs(definition, contract)
    return CrossFeature(
        left_categories=list(dict.fromkeys(a for a, _ in pairs)),
        right_categories=list(dict.fromkeys(b for _, b in pairs)),
    )


def derived_transformer(definitions: Sequence[DerivedFeature], contract: DataContract) -> ColumnTransformer:
    """All derived features of a model as one transformer: model-frame columns in, float32 ``[N, k]`` out.

    Fit it (a no-op apart from recording the input columns) on a model frame; skl2onnx converts
    it once ``driftloop.features`` is imported (which registers the converters).
    """
    check_definitions(definitions, contract)
    return ColumnTransformer(
        [(d.name, feature_transformer(d, contract), d.inputs) for d in definitions],
        remainder="drop",
        sparse_threshold=0.0,
    )


def derived_feature_names(definitions: Sequence[DerivedFeature], contract: DataContract) -> list[str]:
    """Output column names, in order: the feature's name, or ``name=left|right`` per cross pair."""
    names: list[str] = []
    for definition in definitions:
        if isinstance(definition, Cross):
            names += [f"{definition.name}={a}|{b}" for a, b in cross_pairs(definition, contract)]
        else:
            names.append(definition.name)
    return names
