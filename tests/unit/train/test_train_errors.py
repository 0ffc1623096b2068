"""Every clear-error case of the issue: the message names the column (or the file) and the reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from train_helpers import credit_frame

from driftloop.errors import ConfigError, DataError, DriftloopError
from driftloop.registry import Registry
from driftloop.train.config import TrainConfig
from driftloop.train.run import train_file

QUICK = TrainConfig(max_trials=1, folds=3)


def _train(path: Path, target: str, **overrides: object) -> None:
    train_file(path, target, config=QUICK.with_overrides(**overrides))


def test_missing_target_column(write_csv) -> None:  # type: ignore[no-untyped-def]
    path = write_csv(credit_frame(100))
    with pytest.raises(DataError, match=r"target column 'defaulted' is not in the data") as caught:
        _train(path, "defaulted")
    assert caught.value.details == {"column": "defaulted"}
    assert "default" in caught.value.message  # lists the columns there are


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.csv is empty"):
        _train(path, "default")


def test_header_without_rows(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("a,b,default\n")
    with pytest.raises(DataError, match=r"has no data rows"):
        _train(path, "default")


def test_one_class_target(write_csv) -> None:  # type: ignore[no-untyped-def]
    frame = credit_frame(200)
    frame["default"] = 1
    with pytest.raises(DataError, match=r"target column 'default' has a single class"):
        _train(write_csv(frame), "default")


def test_entirely_empty_column(write_csv) -> None:  # type: ignore[no-untyped-def]
    frame = credit_frame(200)
    frame["notes"] = np.nan
    with pytest.raises(DataError, match=r"column 'notes' is entirely empty") as caught:
        _train(write_csv(frame), "default")
    assert caught.value.details == {"column": "notes"}


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("missing.csv", None, r"no such file"),
        ("garbage.parquet", b"\x00\x01 not parquet at all", r"cannot read .*garbage\.parquet"),
        ("table.xlsx", b"PK\x03\x04", r"expected a \.csv, \.tsv or \.parquet file"),
    ],
)
def test_unreadable_file(tmp_path: Path, name: str, content: bytes | None, expected: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=expected):
        _train(path, "default")


def test_task_that_does_not_fit_the_target(write_csv) -> None:  # type: ignore[no-untyped-def]
    frame = credit_frame(300)
    path = write_csv(frame)
    with pytest.raises(DataError, match=r"task 'regression' needs a numeric target, but 'purpose'"):
        _train(path, "purpose", task="regression")
    with pytest.raises(DataError, match=r"task 'binary' needs 2 classes, but 'purpose' has 5"):
        _train(path, "purpose", task="binary")
    with pytest.raises(DataError, match=r"needs class labels, but 'interest_rate' holds continuous numbers"):
        _train(path, "interest_rate", task="binary")


def test_metric_that_does_not_fit_the_task(write_csv) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=r"metric 'rmse' does not fit a binary task"):
        _train(write_csv(credit_frame(200)), "default", metric="rmse")


def test_class_too_rare_to_hold_out(write_csv) -> None:  # type: ignore[no-untyped-def]
    frame = credit_frame(200)
    frame.loc[frame.index[:2], "purpose"] = "yacht"
    with pytest.raises(DataError, match=r"class 'yacht' of target 'purpose' has 2 rows"):
        _train(write_csv(frame), "purpose")


def test_no_candidate_passing_parity_registers_nothing(tmp_path: Path, write_csv) -> None:  # type: ignore[no-untyped-def]
    # A tolerance below float32 resolution: every candidate's graph differs by more than that,
    # so the gate must refuse all of them and say by how much, and on which rows.
    registry = Registry(tmp_path / "registry")
    config = TrainConfig(max_trials=3, folds=3, parity_tolerance=1e-15, families=["linear", "knn", "mlp"])
    with pytest.raises(DriftloopError, match=r"no candidate passed the ONNX parity gate") as caught:
        train_file(write_csv(credit_frame(400)), "default", config=config, name="credit", registry=registry)
    message = caught.value.message
    checked = caught.value.details["candidates"]
    assert checked, "at least one candidate reached the gate"
    for candidate in checked:
        assert candidate["parity"] == "failed"
        assert f"trial {candidate['trial']} {candidate['family']}: failed: max difference" in message
        assert candidate["parity_report"]["max_abs_diff"] > 1e-15
        assert candidate["parity_report"]["worst_rows"]
    assert "worst rows [" in message
    assert caught.value.status_code == 422
    assert registry.versions("credit") == []
    assert not list((tmp_path / "registry").glob("*/.staging-*"))


def test_rows_without_a_target_are_left_out(write_csv) -> None:  # type: ignore[no-untyped-def]
    frame = credit_frame(300)
    frame["default"] = frame["default"].astype(float)
    frame.loc[frame.index[:20], "default"] = np.nan
    result = train_file(write_csv(frame), "default", config=QUICK)
    sweep = result.documents["metrics"]["sweep"]
    assert sweep["train_rows"] + sweep["holdout_rows"] == 280


def test_boolean_and_text_columns_train(write_csv) -> None:  # type: ignore[no-untyped-def]
    frame = credit_frame(300)
    frame["has_guarantor"] = np.where(frame["age"] > 40, "yes", "no")
    frame["customer_id"] = [f"c{i:05d}" for i in range(len(frame))]
    result = train_file(write_csv(frame), "default", config=QUICK)
    assert result.contract.column("has_guarantor").kind == "boolean"
    guarantor = result.documents["profile"]["columns"]["has_guarantor"]
    assert guarantor["kind"] == "boolean"
    assert sum(guarantor["frequencies"].values()) == pytest.approx(1.0)
    assert "customer_id" in result.contract.dropped_columns
    assert pd.api.types.is_float_dtype(np.asarray(result.documents["profile"]["columns"]["age"]["edges"]))
