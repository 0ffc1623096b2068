"""Derived features: scikit-learn's transform and the converted ONNX graph agree on every kind."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pandas as pd
import pytest
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import FeatureUnion, Pipeline

from driftloop.contract import ColumnKind, ColumnSpec, DataContract, Task
from driftloop.datasets import make_credit
from driftloop.errors import ConfigError
from driftloop.features import derived_feature_names, derived_transformer, parse_definitions
from driftloop.train.dataset import infer_contract
from driftloop.train.export import export_onnx
from driftloop.train.frame import encode_target, model_frame, onnx_feeds
from driftloop.train.pipeline import build_pipeline

CONTRACT = DataContract(
    columns=[
        ColumnSpec(name="debt", kind=ColumnKind.NUMERIC, nullable=True),
        ColumnSpec(name="income", kind=ColumnKind.NUMERIC, nullable=True),
        ColumnSpec(name="owner", kind=ColumnKind.BOOLEAN, nullable=True),
        ColumnSpec(name="purpose", kind=ColumnKind.CATEGORICAL, nullable=True, categories=["car", "home", "study"]),
        ColumnSpec(name="region", kind=ColumnKind.CATEGORICAL, nullable=True, categories=["north", "south"]),
    ],
    target="default",
    task=Task.BINARY,
    class_labels=[0, 1],
)

DEFINITIONS = {
    "ratio": {"kind": "ratio", "name": "debt_ratio", "numerator": "debt", "denominator": "income", "missing": -9},
    "log1p": {"kind": "log1p", "name": "log_income", "column": "income"},
    "clip": {"kind": "clip", "name": "debt_clipped", "column": "debt", "lower": -5, "upper": 1000.5, "missing": -1},
    "clip_upper": {"kind": "clip", "name": "owner_capped", "column": "owner", "upper": 0.5},
    "bucketize": {"kind": "bucketize", "name": "income_band", "column": "income", "edges": [0, 10.5, 1000, 1e5]},
    "cross": {"kind": "cross", "name": "purpose_region", "left": "purpose", "right": "region"},
}


def _raw(rows: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "debt": rng.normal(300, 500, rows),
            "income": rng.lognormal(6, 3, rows) * rng.choice([1, -1, 0], rows, p=[0.8, 0.1, 0.1]),
            "owner": rng.choice([0.0, 1.0], rows),
            "purpose": rng.choice(np.array(["car", "home", "study", "boat", None], dtype=object), rows),
            "region": rng.choice(np.array(["north", "south", "west", None], dtype=object), rows),
        }
    )
    # The edges of every computation: missing values, zero and negative denominators, exact
    # bucket edges, log1p at and below -1, unseen and missing categories together.
    edges = pd.DataFrame(
        {
            "debt": [np.nan, 0.0, 5.0, -3.0, 1000.5, 1e9, 7.0, np.nan],
            "income": [1.0, 0.0, 0.0, -1.0, 10.5, -2.0, np.nan, np.nan],
            "owner": [1.0, np.nan, 0.0, 1.0, 0.0, 1.0, np.nan, 0.0],
            "purpose": ["car", None, "boat", "home", "", "study", "car", None],
            "region": ["south", "north", "north", None, "west", "south", None, None],
        }
    )
    return pd.concat([frame, edges], ignore_index=True)


def _onnx_transform(transformer: object, frame: pd.DataFrame) -> np.ndarray:
    initial_types = [
        (s.name, StringTensorType([None, 1]) if s.kind is ColumnKind.CATEGORICAL else FloatTensorType([None, 1]))
        for s in CONTRACT.columns
    ]
    model = convert_sklearn(transformer, initial_types=initial_types)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {i.name: v for i, v in zip(session.get_inputs(), onnx_feeds(frame, CONTRACT).values(), strict=True)}
    output: np.ndarray = session.run(None, feeds)[0]
    return output


@pytest.mark.parametrize("kinds", [[k] for k in DEFINITIONS] + [list(DEFINITIONS)], ids=lambda k: "+".join(k))
def test_scikit_learn_and_onnx_agree(kinds: list[str]) -> None:
    definitions = parse_definitions([DEFINITIONS[k] for k in kinds])
    frame = model_frame(_raw(), CONTRACT)
    transformer = derived_transformer(definitions, CONTRACT).fit(frame)

    expected = transformer.transform(frame)
    actual = _onnx_transform(transformer, frame)

    assert expected.dtype == np.float32
    assert actual.shape == expected.shape == (len(frame), len(derived_feature_names(definitions, CONTRACT)))
    assert np.isfinite(expected).all()
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-6)


def test_values_follow_the_definitions() -> None:
    definitions = parse_definitions(list(DEFINITIONS.values()))
    frame = model_frame(_raw(0), CONTRACT)
    out = pd.DataFrame(
        derived_transformer(definitions, CONTRACT).fit(frame).transform(frame),
        columns=derived_feature_names(definitions, CONTRACT),
    )
    assert out["debt_ratio"].tolist() == [-9, -9, -9, 3.0, pytest.approx(1000.5 / 10.5), -5e8, -9, -9]
    assert out["log_income"].iloc[:4].tolist() == [pytest.approx(np.log(2)), 0.0, 0.0, 0.0]  # -1 -> missing
    assert out["debt_clipped"].tolist() == [-1, 0, 5, -3, 1000.5, 1000.5, 7, -1]
    assert out["income_band"].tolist() == [1, 1, 1, 0, 2, 0, -1, -1]  # an edge belongs to the bucket above
    pairs = out.filter(like="purpose_region=")
    assert pairs.sum(axis=1).tolist() == [1, 0, 0, 0, 0, 1, 0, 0]  # unseen or missing -> all zeros
    assert out.loc[0, "purpose_region=car|south"] == 1


def test_definitions_are_checked_against_the_contract() -> None:
    with pytest.raises(ConfigError, match="'salary', which the model does not have"):
        derived_transformer(parse_definitions([{"kind": "log1p", "name": "x", "column": "salary"}]), CONTRACT)
    with pytest.raises(ConfigError, match="cannot use categorical column 'purpose'"):
        derived_transformer(parse_definitions([{"kind": "log1p", "name": "x", "column": "purpose"}]), CONTRACT)
    with pytest.raises(ConfigError, match="clashes"):
        derived_transformer(parse_definitions([{"kind": "log1p", "name": "debt", "column": "income"}]), CONTRACT)
    with pytest.raises(ConfigError, match="strictly increasing"):
        parse_definitions([{"kind": "bucketize", "name": "b", "column": "income", "edges": [3, 1]}])
    with pytest.raises(ConfigError, match="kind"):
        parse_definitions([{"kind": "sqrt", "name": "s", "column": "income"}])


def test_wired_in_front_of_a_model_the_whole_graph_agrees() -> None:
    """The wiring docs/features.md gives the training pipeline: a FeatureUnion of the preprocessing
    and the derived features, exported by the training package's own export_onnx."""
    frame = pd.DataFrame(make_credit(1500, seed=3))  # type: ignore[arg-type]
    contract = infer_contract(frame, "default")
    definitions = parse_definitions(
        [
            {"kind": "ratio", "name": "loan_to_income", "numerator": "loan_amount", "denominator": "income"},
            {"kind": "log1p", "name": "log_savings", "column": "savings"},
            {"kind": "clip", "name": "utilization_capped", "column": "utilization", "upper": 0.9},
            {"kind": "bucketize", "name": "age_band", "column": "age", "edges": [25, 35, 50, 65]},
            {"kind": "cross", "name": "purpose_region", "left": "purpose", "right": "region"},
        ]
    )
    estimator = HistGradientBoostingClassifier(max_iter=40, random_state=0)
    preprocess = build_pipeline(contract, estimator, scale=False).steps[0][1]
    features = FeatureUnion([("preprocess", preprocess), ("derived", derived_transformer(definitions, contract))])
    pipeline = Pipeline([("features", features), ("model", estimator)])
    inputs = model_frame(frame, contract)
    pipeline.fit(inputs, encode_target(frame["default"], contract))

    session = ort.InferenceSession(export_onnx(pipeline, contract), providers=["CPUExecutionProvider"])
    label, probabilities = session.run(None, onnx_feeds(inputs, contract))

    assert (label == pipeline.predict(inputs)).all()
    np.testing.assert_allclose(probabilities, pipeline.predict_proba(inputs), atol=1e-5)
    derived_columns = len(derived_feature_names(definitions, contract))
    assert estimator.n_features_in_ == preprocess.transform(inputs).shape[1] + derived_columns
