"""The exported graph: the contract's column names as inputs, parity measured row by row."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from driftloop.train.dataset import infer_contract
from driftloop.train.export import export_onnx
from driftloop.train.frame import encode_target, model_frame
from driftloop.train.parity import check_parity, onnx_session
from driftloop.train.pipeline import build_pipeline
from driftloop.train.sweep import predict_output


def _fitted(frame: pd.DataFrame, target: str, estimator, *, scale: bool):  # type: ignore[no-untyped-def]
    contract = infer_contract(frame, target)
    x = model_frame(frame, contract)
    pipeline = build_pipeline(contract, estimator, scale=scale).fit(x, encode_target(frame[target], contract))
    return contract, x, pipeline


def test_column_names_with_spaces_stay_the_graph_input_names() -> None:
    frame = load_breast_cancer(as_frame=True).frame  # "mean radius", "worst concave points", ...
    contract, x, pipeline = _fitted(frame, "target", LogisticRegression(max_iter=3000), scale=True)
    session = onnx_session(export_onnx(pipeline, contract))
    assert [i.name for i in session.get_inputs()] == contract.column_names
    assert "mean radius" in contract.column_names
    report = check_parity(predict_output(pipeline, x, contract.task, 2), session, x, contract, 1e-4)
    assert report.passed
    assert report.label_flips == 0


def test_parity_report_points_at_the_rows_that_differ() -> None:
    frame = load_breast_cancer(as_frame=True).frame
    contract, x, pipeline = _fitted(frame, "target", HistGradientBoostingClassifier(max_iter=20), scale=False)
    session = onnx_session(export_onnx(pipeline, contract))
    reference = predict_output(pipeline, x, contract.task, 2)
    # Pretend scikit-learn said otherwise on two rows: the report must name exactly those rows,
    # the flipped one first, and fail the gate.
    tampered = reference.copy()
    flipped_row, shifted_row = 10, 20
    tampered[flipped_row] = tampered[flipped_row][::-1]
    tampered[shifted_row] = np.clip(tampered[shifted_row] + [0.01, -0.01], 0, 1)
    report = check_parity(tampered, session, x, contract, 1e-4)
    assert not report.passed
    assert report.label_flips == 1
    assert report.unexplained_flips == 1
    assert report.worst_rows[0] == x.index[flipped_row]
    assert x.index[shifted_row] in report.worst_rows
    assert report.max_abs_diff >= 0.01 - 1e-6
    assert "1 label flips" in report.describe()
