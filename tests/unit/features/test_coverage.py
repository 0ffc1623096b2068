"""Which older rows the post-change rows leave uncovered (driftloop_features/coverage.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from driftloop.contract import DataContract
from driftloop.train.dataset import infer_contract
from driftloop_features.coverage import uncovered


def frame(
    rows: int, *, seed: int, low: float = 0.0, high: float = 1.0, kinds: tuple[str, ...] = ("a", "b", "c")
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.uniform(low, high, rows),
            "noise": rng.normal(0, 1, rows),
            "kind": rng.choice(list(kinds), rows),
            "y": rng.integers(0, 2, rows),
        }
    )


@pytest.fixture(scope="module")
def contract() -> DataContract:
    return infer_contract(frame(500, seed=0), "y")


@pytest.mark.parametrize("seed", range(3))
def test_the_older_rows_far_from_where_the_inputs_moved_are_uncovered(contract: DataContract, seed: int) -> None:
    post, older = frame(500, seed=seed, low=0.7), frame(5000, seed=seed + 10)
    kept = uncovered(contract, post, older)
    far, near = older["x"] < 0.4, older["x"] > 0.75
    assert kept[far].mean() > 0.95
    assert kept[near].mean() < 0.02


def test_a_category_the_post_change_rows_never_have_is_uncovered(contract: DataContract) -> None:
    post, older = frame(500, seed=1, kinds=("a",)), frame(5000, seed=2)
    kept = uncovered(contract, post, older)
    assert kept[older["kind"] != "a"].mean() > 0.95
    assert kept[older["kind"] == "a"].mean() < 0.02


@pytest.mark.parametrize("seed", range(5))
def test_when_the_inputs_did_not_move_no_older_row_is_uncovered(contract: DataContract, seed: int) -> None:
    # A change of concept alone: the post-change rows come from where the older ones do.
    post, older = frame(500, seed=seed), frame(10_000, seed=seed + 10)
    assert not uncovered(contract, post, older).any()


def test_nothing_to_compare_keeps_nothing(contract: DataContract) -> None:
    assert uncovered(contract, frame(0, seed=1), frame(100, seed=2)).tolist() == [False] * 100
    assert len(uncovered(contract, frame(100, seed=1), frame(0, seed=2))) == 0


def test_columns_the_older_rows_lack_are_left_out(contract: DataContract) -> None:
    # Source rows without a column (the quality report names it): the others still say where.
    post, older = frame(500, seed=1, low=0.7), frame(5000, seed=2).drop(columns=["kind"])
    kept = uncovered(contract, post, older)
    assert kept[older["x"] < 0.4].mean() > 0.95
    assert not uncovered(contract, post[["y"]], older[["y"]]).any()
