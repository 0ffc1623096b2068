"""Derived features and sample weights in training: ``driftloop train --config`` with derived features
registers a parity-checked graph that computes them, and the feature-engineering service's
``/v1/transform`` gives the same values as that graph."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
import yaml
from train_helpers import credit_frame
from typer.testing import CliRunner

from driftloop.cli.main import app as cli
from driftloop.errors import DataError
from driftloop.features import derived_feature_names, parse_definitions
from driftloop.registry import Bundle, Registry
from driftloop.store import StoreSettings
from driftloop.train.config import TrainConfig
from driftloop.train.frame import model_frame, onnx_feeds
from driftloop.train.run import train_model
from driftloop_features.app import create_app
from driftloop_features.settings import FeaturesGroup, FeaturesSettings

DERIVED: list[dict[str, Any]] = [
    {"kind": "ratio", "name": "loan_to_income", "numerator": "loan_amount", "denominator": "income"},
    {"kind": "log1p", "name": "log_savings", "column": "savings"},
    {"kind": "clip", "name": "utilization_capped", "column": "utilization", "lower": 0, "upper": 0.9},
    {"kind": "bucketize", "name": "age_band", "column": "age", "edges": [25, 35, 50, 65]},
    {"kind": "cross", "name": "purpose_region", "left": "purpose", "right": "region"},
]


@pytest.fixture(scope="module")
def derived_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``credit`` trained through the command line with derived features in its --config."""
    root = tmp_path_factory.mktemp("derived")
    data = root / "credit.csv"
    credit_frame(900, seed=3).to_csv(data, index=False)
    config = root / "train.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "target": "default",
                "families": ["hist_gradient_boosting"],
                "max_trials": 1,
                "folds": 3,
                "derived": DERIVED,
            }
        )
    )
    args = ["train", "--data", str(data), "--config", str(config), "--registry", str(root / "registry"), "--json"]
    result = CliRunner().invoke(cli, [*args, "--name", "credit"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["winner"]["parity"] == "passed"
    return root / "registry"


@pytest.fixture(scope="module")
def derived_bundle(derived_registry: Path) -> Bundle:
    return Registry(derived_registry).resolve("credit")


def graph_derived_output(bundle: Bundle, frame: pd.DataFrame) -> np.ndarray:
    """The derived block inside the registered graph: the second input of the FeatureUnion's Concat."""
    model = onnx.load_from_string(bundle.model_path.read_bytes())
    union = [node for node in model.graph.node if node.op_type == "Concat" and node.output[0] == "union"]
    assert len(union) == 1, "the exported graph has no FeatureUnion"
    derived_name = union[0].input[1]
    model.graph.output.append(onnx.helper.make_tensor_value_info(derived_name, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = onnx_feeds(model_frame(frame, bundle.contract), bundle.contract)
    (derived,) = session.run([derived_name], feeds)
    return np.asarray(derived)


def test_training_records_the_derived_features_and_exports_them_in_the_graph(derived_bundle: Bundle) -> None:
    lineage = derived_bundle.document("lineage")
    assert parse_definitions(lineage["parameters"]["derived"]) == parse_definitions(DERIVED)
    metrics = derived_bundle.document("metrics")
    assert metrics["parity"]["passed"] is True
    assert metrics["sweep"]["derived"] == len(DERIVED)
    graph = graph_derived_output(derived_bundle, credit_frame(50, seed=9))
    names = derived_feature_names(parse_definitions(DERIVED), derived_bundle.contract)
    assert graph.shape == (50, len(names))


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_transform_service_and_the_graph_agree(
    derived_registry: Path, derived_bundle: Bundle, tmp_path: Path
) -> None:
    records = credit_frame(200, seed=11).drop(columns=["default"])
    records.loc[::7, "income"] = np.nan  # missing inputs take the definitions' missing values on both sides
    records.loc[::5, "loan_amount"] = 0.0
    records.loc[::9, "purpose"] = None
    settings = FeaturesSettings(
        registry={"path": derived_registry},
        store=StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}"),
        features=FeaturesGroup(sources={}, datasets_dir=tmp_path / "datasets"),
        log={"json_logs": False},
    )
    service = create_app(settings)
    plain = records.astype(object).where(records.notna(), None).to_dict(orient="records")
    async with service.router.lifespan_context(service):
        transport = httpx.ASGITransport(app=service)
        async with httpx.AsyncClient(transport=transport, base_url="http://features") as http:
            response = await http.post("/v1/transform", json={"model": "credit", "records": plain})
    assert response.status_code == 200, response.text
    body = response.json()
    served = pd.DataFrame(body["records"], columns=body["columns"])[body["derived"]].to_numpy(dtype=np.float64)

    graph = graph_derived_output(derived_bundle, records)

    assert served.shape == graph.shape
    assert np.abs(served[:, :4]).max() > 0
    assert graph[:, 4:].sum() > 0
    np.testing.assert_allclose(served, graph, rtol=1e-6, atol=1e-6)


def test_the_weight_column_is_a_sample_weight_not_an_input() -> None:
    frame = credit_frame(700, seed=4)
    frame["sample_weight"] = np.where(np.arange(len(frame)) >= 500, 3.0, 1.0)
    config = TrainConfig(families=["hist_gradient_boosting", "knn"], max_trials=2, folds=3, seed=1)

    result = train_model(frame, "default", config=config)

    assert "sample_weight" not in result.contract.column_names
    assert result.documents["metrics"]["sweep"]["sample_weight"] == "sample_weight"
    # k-NN cannot take weights: it is a failed trial on the leaderboard, not silently unweighted.
    knn = next(t for t in result.leaderboard if t.family == "knn")
    assert knn.status == "failed"
    assert "sample weights" in (knn.error or "")
    assert result.winner.family == "hist_gradient_boosting"
    assert result.parity.passed


def test_weights_change_the_fit() -> None:
    frame = credit_frame(700, seed=4)
    config = TrainConfig(families=["linear"], max_trials=1, folds=3, seed=1)
    unweighted = train_model(frame, "default", config=config)
    frame["sample_weight"] = np.where(frame["default"] == 1, 5.0, 1.0)
    weighted = train_model(frame, "default", config=config)
    # Up-weighting the positive class moves the predicted default rate on the same holdout.
    assert weighted.holdout_metrics != unweighted.holdout_metrics


def test_bad_weights_are_refused_naming_the_column() -> None:
    frame = credit_frame(300, seed=4)
    frame["sample_weight"] = 1.0
    frame.loc[3, "sample_weight"] = -1.0
    with pytest.raises(DataError, match="sample weight column 'sample_weight'") as caught:
        train_model(frame, "default", config=TrainConfig(families=["linear"], max_trials=1, folds=3))
    assert caught.value.details == {"column": "sample_weight"}
