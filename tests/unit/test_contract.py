"""Contract inference from data, the YAML-style overrides, and the contract's JSON round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftloop.contract import ColumnKind, DataContract, Task
from driftloop.datasets import make_credit
from driftloop.errors import DataError
from driftloop.train.dataset import infer_contract


@pytest.fixture(scope="module")
def credit() -> pd.DataFrame:
    return pd.DataFrame(make_credit(500, seed=3))


def test_kinds_missingness_categories_and_ranges(credit: pd.DataFrame) -> None:
    contract = infer_contract(credit, "default")
    assert contract.task is Task.BINARY
    assert contract.class_labels == [0, 1]
    assert len(contract.columns) == 16
    income = contract.column("income")
    assert income.kind is ColumnKind.NUMERIC
    assert income.nullable
    assert 0 < income.missing_rate < 0.15
    assert income.minimum is not None
    assert income.maximum is not None
    assert income.minimum < income.maximum
    purpose = contract.column("purpose")
    assert purpose.kind is ColumnKind.CATEGORICAL
    assert purpose.categories == sorted(["car", "education", "home_improvement", "medical", "debt_consolidation"])
    assert not contract.column("age").nullable


def test_task_detection() -> None:
    frame = pd.DataFrame({"x": np.arange(60.0), "y": np.tile([0, 1, 2], 20)})
    assert infer_contract(frame, "y").task is Task.MULTICLASS
    frame["y"] = np.linspace(0, 1, 60)
    assert infer_contract(frame, "y").task is Task.REGRESSION
    frame["y"] = np.arange(60)  # more integers than plausible classes: a count, regressed
    assert infer_contract(frame, "y").task is Task.REGRESSION
    frame["y"] = np.tile(["yes_", "no_"], 30)
    assert infer_contract(frame, "y").task is Task.BINARY
    assert infer_contract(frame.assign(y=np.tile([1, 2, 3], 20)), "y", task="regression").task is Task.REGRESSION


def test_overrides_identifiers_and_timestamps(credit: pd.DataFrame) -> None:
    frame = credit.assign(
        loan_id=[f"L{i}" for i in range(len(credit))],
        applied=pd.date_range("2024-01-01", periods=len(credit), freq="h").astype(str),
        flag=np.where(credit["age"] > 40, "true", "false"),
    )
    contract = infer_contract(frame, "default", drop=["region"], kinds={"loan_term_months": "categorical"})
    assert {"region", "loan_id", "applied"} <= set(contract.dropped_columns)
    assert "region" not in contract.column_names
    assert contract.column("loan_term_months").kind is ColumnKind.CATEGORICAL
    assert contract.column("flag").kind is ColumnKind.BOOLEAN
    with pytest.raises(DataError, match=r"names column 'nonexistent'"):
        infer_contract(frame, "default", drop=["nonexistent"])
    with pytest.raises(DataError, match=r"column 'purpose' is configured as numeric but holds text"):
        infer_contract(frame, "default", kinds={"purpose": "numeric"})


def test_contract_round_trips_through_json(credit: pd.DataFrame, tmp_path: Path) -> None:
    contract = infer_contract(credit, "default")
    contract.save(tmp_path / "contract.json")
    assert DataContract.load(tmp_path / "contract.json") == contract
