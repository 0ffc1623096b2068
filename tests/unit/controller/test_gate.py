"""The promotion gate on real ONNX models: paired bootstrap CI, margin, guardrail."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from controller_support import TINY
from sklearn.metrics import roc_auc_score

from driftloop.datasets import make_credit
from driftloop.errors import DataError
from driftloop.policy import GatePolicy
from driftloop.registry import Registry
from driftloop.train.run import train_model
from driftloop_controller.gate import _auc, compare

FAST = GatePolicy(bootstrap=300)


@pytest.fixture(scope="module")
def drifted_registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """credit@1: champion from before a concept shift; @2: trained after it; @3: trained on shuffled labels."""
    registry = Registry(tmp_path_factory.mktemp("gate-registry"))
    train_model(pd.DataFrame(make_credit(1000, seed=1)), config=TINY, name="credit", registry=registry)
    after = pd.DataFrame(make_credit(2500, seed=2, drift="concept"))
    train_model(after, config=TINY, name="credit", registry=registry)
    shuffled = after.assign(default=np.random.default_rng(0).permutation(after["default"].to_numpy()))
    train_model(shuffled, config=TINY, name="credit", registry=registry)
    return registry


@pytest.fixture(scope="module")
def holdout() -> pd.DataFrame:
    return pd.DataFrame(make_credit(800, seed=3, drift="concept"))


def test_auc_matches_scikit_learn_with_ties() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    scores = rng.integers(0, 10, 500) / 10.0  # many ties
    output = np.column_stack([1 - scores, scores])
    assert _auc(y, output) == pytest.approx(roc_auc_score(y, scores))


def test_a_better_challenger_after_a_concept_shift_is_promoted(
    drifted_registry: Registry, holdout: pd.DataFrame
) -> None:
    decision = compare(drifted_registry.resolve("credit", 1), drifted_registry.resolve("credit", 2), holdout, FAST)
    assert decision["promote"]
    assert decision["outcome"] == "promoted"
    assert decision["challenger_score"] > decision["champion_score"]
    low, high = decision["ci"]
    assert 0 < low <= decision["gain"] <= high
    assert decision["guardrail"]["passed"]
    assert decision["metric"] == "roc_auc"
    assert decision["holdout_rows"] == 800
    assert decision["resamples"] == 300


def test_a_challenger_trained_on_shuffled_labels_is_rejected(drifted_registry: Registry, holdout: pd.DataFrame) -> None:
    decision = compare(drifted_registry.resolve("credit", 2), drifted_registry.resolve("credit", 3), holdout, FAST)
    assert not decision["promote"]
    assert decision["outcome"] == "rejected"
    assert decision["ci"][1] < 0
    assert any("no lower bound exceeds the margin" in reason for reason in decision["reasons"])
    assert any("significantly worse on roc_auc" in reason for reason in decision["reasons"])
    assert any("guardrail log_loss got worse" in reason for reason in decision["reasons"])


def test_a_margin_above_the_gain_rejects_a_better_challenger(drifted_registry: Registry, holdout: pd.DataFrame) -> None:
    settings = GatePolicy(bootstrap=300, margin=0.5)
    decision = compare(drifted_registry.resolve("credit", 1), drifted_registry.resolve("credit", 2), holdout, settings)
    assert not decision["promote"]
    low, high = decision["served_metric"]["ci"]
    assert decision["reasons"] == [
        f"the 95% CI of the roc_auc gain is [{decision['ci'][0]:.4f}, {decision['ci'][1]:.4f}], "
        f"accuracy's [{low:.4f}, {high:.4f}]: no lower bound exceeds the margin 0.5"
    ]


def test_the_champion_against_itself_gains_nothing_on_either_metric(
    drifted_registry: Registry, holdout: pd.DataFrame
) -> None:
    champion = drifted_registry.resolve("credit", 2)
    decision = compare(champion, champion, holdout, FAST)
    assert decision["gain"] == 0.0
    assert decision["served_metric"]["gain"] == 0.0
    assert not decision["promote"]


def test_the_same_model_is_never_promoted_over_itself(drifted_registry: Registry, holdout: pd.DataFrame) -> None:
    bundle = drifted_registry.resolve("credit", 1)
    decision = compare(bundle, bundle, holdout, FAST)
    assert not decision["promote"]
    assert decision["ci"] == [0.0, 0.0]


def test_the_bootstrap_is_seeded(drifted_registry: Registry, holdout: pd.DataFrame) -> None:
    one, two = (drifted_registry.resolve("credit", v) for v in (1, 2))
    assert compare(one, two, holdout, FAST, seed=7)["ci"] == compare(one, two, holdout, FAST, seed=7)["ci"]


def test_a_holdout_without_labels_is_refused(drifted_registry: Registry, holdout: pd.DataFrame) -> None:
    one, two = (drifted_registry.resolve("credit", v) for v in (1, 2))
    with pytest.raises(DataError, match="at least 10 are needed"):
        compare(one, two, holdout.assign(default=None), FAST)


def test_registry_files_are_not_touched_by_a_comparison(drifted_registry: Registry, holdout: pd.DataFrame) -> None:
    aliases = Path(drifted_registry.root / "credit" / "aliases.json").read_bytes()
    compare(drifted_registry.resolve("credit", 1), drifted_registry.resolve("credit", 2), holdout, FAST)
    assert Path(drifted_registry.root / "credit" / "aliases.json").read_bytes() == aliases


def test_a_holdout_of_one_class_is_refused(drifted_registry: Registry, holdout: pd.DataFrame) -> None:
    one, two = (drifted_registry.resolve("credit", v) for v in (1, 2))
    with pytest.raises(DataError, match="cannot tell the models apart on roc_auc"):
        compare(one, two, holdout[holdout["default"] == 1], FAST)


def test_regressors_are_compared_on_rmse_with_mae_as_guardrail(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    frame = pd.DataFrame(make_credit(1200, seed=4)).drop(columns=["default"])
    config = TINY.model_copy(update={"target": "interest_rate"})
    train_model(frame, config=config, name="rate", registry=registry)
    shuffled = frame.assign(interest_rate=np.random.default_rng(0).permutation(frame["interest_rate"].to_numpy()))
    train_model(shuffled, config=config, name="rate", registry=registry)
    holdout = pd.DataFrame(make_credit(400, seed=5)).drop(columns=["default"])
    decision = compare(registry.resolve("rate", 1), registry.resolve("rate", 2), holdout, FAST)
    assert decision["metric"] == "rmse"
    assert decision["greater_is_better"] is False
    assert decision["challenger_score"] > decision["champion_score"]  # a higher RMSE: worse
    assert decision["ci"][1] < 0
    assert decision["guardrail"]["metric"] == "mae"
    assert not decision["guardrail"]["passed"]
    assert decision["outcome"] == "rejected"


def test_after_a_concept_change_the_newest_post_change_labels_promote_a_challenger_that_learnt_it(
    tmp_path: Path,
) -> None:
    """The holdout since_change hands out (the newest post-change labels) with the policy's default gate:
    a challenger trained on the earlier post-change rows wins by a clear margin, one that learnt the old
    concept again does not."""
    registry = Registry(tmp_path / "registry")
    train_model(pd.DataFrame(make_credit(1000, seed=1)), config=TINY, name="credit", registry=registry)
    after = pd.DataFrame(make_credit(1500, seed=21, drift="concept"))
    newest, earlier = after.iloc[-300:], after.iloc[:-300]
    learnt = train_model(earlier, config=TINY, name="credit", registry=registry).bundle
    old_again = train_model(pd.DataFrame(make_credit(1200, seed=22)), config=TINY, name="credit", registry=registry)
    champion = registry.resolve("credit", 1)
    assert learnt is not None
    assert old_again.bundle is not None

    clear = GatePolicy(margin=0.02)  # the default bootstrap (1,000) and confidence
    promoted = compare(champion, learnt, newest, clear)
    rejected = compare(champion, old_again.bundle, newest, clear)

    assert promoted["outcome"] == "promoted", promoted["reasons"]
    assert promoted["ci"][0] > 0.02
    assert rejected["outcome"] == "rejected"
    assert rejected["ci"][0] <= 0.02
