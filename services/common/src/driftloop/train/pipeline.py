"""scikit-learn pipelines built from a contract: the preprocessing each estimator family needs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from skl2onnx.sklapi import CastTransformer
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from driftloop.contract import ColumnKind, DataContract
from driftloop.features import DerivedFeature, derived_transformer  # importing registers the converters


def build_pipeline(
    contract: DataContract,
    estimator: BaseEstimator,
    *,
    scale: bool,
    derived: Sequence[DerivedFeature] = (),
) -> Pipeline:
    """Imputation, optional scaling, one-hot encoding, the ``derived`` features and ``estimator``, raw columns in.

    Trees get unscaled numerics (they are scale-invariant, and a scaled value computed in
    float64 by scikit-learn and in float32 by onnxruntime can land on the other side of a
    threshold). Every numeric path ends in a float32 cast, so scikit-learn fits on the same
    float32 values that the ONNX graph will compute. Derived features sit beside the
    preprocessing in a ``FeatureUnion`` (unscaled, float32), so they are part of the exported
    graph and of the parity gate.
    """
    numeric = contract.columns_of(ColumnKind.NUMERIC) + contract.columns_of(ColumnKind.BOOLEAN)
    categorical = contract.columns_of(ColumnKind.CATEGORICAL)
    transformers = []
    if numeric:
        steps: list[tuple[str, BaseEstimator]] = [("impute", SimpleImputer(strategy="median"))]
        if scale:
            steps.append(("scale", StandardScaler()))
        steps.append(("float32", CastTransformer(dtype=np.float32)))
        transformers.append(("numeric", Pipeline(steps), numeric))
    if categorical:
        # Missing categories arrive as "" (see driftloop.contract), a category like any other;
        # categories never seen in training encode as all zeros instead of failing.
        transformers.append(("categorical", OneHotEncoder(handle_unknown="ignore", dtype=np.float32), categorical))
    preprocess = ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)
    if not derived:
        return Pipeline([("preprocess", preprocess), ("model", estimator)])
    features = FeatureUnion([("preprocess", preprocess), ("derived", derived_transformer(derived, contract))])
    return Pipeline([("features", features), ("model", estimator)])
