"""The demo's parts that need no running service: rules, traffic records, ROC AUC, the supervisor's
failure report, and the concept drift of the bundled data (real scikit-learn fits)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from driftloop.datasets import CATEGORICAL_COLUMNS, TARGET, make_credit
from driftloop.demo.loop import LoopConfig, loop_environment, policy_yaml
from driftloop.demo.supervisor import Ports, ServiceFailed, ServiceSpec, Supervisor, service_specs
from driftloop.demo.traffic import credit_records, roc_auc
from driftloop.policy import load_policy


def test_the_demo_policy_parses_and_retrains_with_the_packaged_rules(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(policy_yaml(LoopConfig(home=tmp_path, window=300, retrain_budget=7, seed=3)))
    policy = load_policy(path)
    assert policy.window.size == 300
    assert policy.rules == load_policy().rules  # the demo shows the defaults, not rules tuned to it
    retrain = [rule.name for rule in policy.rules if rule.action == "retrain"]
    assert retrain == ["concept-drift", "estimated-performance-drop"]
    assert (policy.retrain.dataset.kind, policy.retrain.dataset.recent, policy.retrain.dataset.holdout) == (
        "recent",
        450,
        150,
    )
    assert (policy.retrain.training.time_budget, policy.retrain.training.seed) == (7, 3)


def test_services_are_wired_to_each_other_and_share_the_secret(tmp_path: Path) -> None:
    config = LoopConfig(home=tmp_path, ports=Ports(9080, 9081, 9082, 9083))
    specs = {s.name: s for s in service_specs(tmp_path, config.ports, extra=loop_environment(config, "s3cret"))}
    assert specs["forwarder"].env["DRIFTLOOP_WEBHOOK__URL"] == "http://127.0.0.1:9083/v1/retrain"
    assert specs["controller"].env["DRIFTLOOP_FEATURES__URL"] == "http://127.0.0.1:9081"
    assert specs["forwarder"].env["DRIFTLOOP_WEBHOOK__SECRET"] == specs["controller"].env["DRIFTLOOP_WEBHOOK__SECRET"]
    # One policy file for what the forwarder watches and what the controller retrains with.
    assert specs["forwarder"].env["DRIFTLOOP_POLICY"] == specs["controller"].env["DRIFTLOOP_POLICY"]
    assert specs["controller"].env["DRIFTLOOP_POLICY"] == str(tmp_path.resolve() / "policy.yaml")
    stores = {s.env["DRIFTLOOP_STORE__URL"] for s in specs.values()}
    assert stores == {f"sqlite:///{tmp_path.resolve() / 'store.db'}"}


def test_traffic_records_are_json_ready_with_missing_values_as_none() -> None:
    pairs = list(credit_records(300, seed=3, drift="none"))
    assert len(pairs) == 300
    assert all(label in (0, 1) for _, label in pairs)
    values = [v for record, _ in pairs for v in record.values()]
    assert None in values
    assert not any(isinstance(v, float) and math.isnan(v) for v in values)
    assert all(isinstance(v, float | str) or v is None for v in values)


def test_roc_auc_matches_scikit_learn_with_ties() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 500)
    scores = np.round(rng.random(500) + 0.3 * labels, 1)  # rounding makes ties
    assert roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert roc_auc(np.zeros(5, dtype=int), np.arange(5.0)) is None


def test_a_service_that_dies_while_starting_is_reported_with_its_log(tmp_path: Path) -> None:
    spec = ServiceSpec("broken", "driftloop_no_such_service", 9, "/healthz")
    supervisor = Supervisor([spec], tmp_path)
    with pytest.raises(
        ServiceFailed, match=r"(?s)broken exited with code 1; its log:.*No module named driftloop_no_such_service"
    ):
        supervisor.start(timeout_s=30)
    assert all(p.poll() is not None for p in supervisor.processes.values())


def _frame(columns: dict[str, np.ndarray]) -> tuple[pd.DataFrame, np.ndarray]:
    frame = pd.DataFrame(columns)
    for name in CATEGORICAL_COLUMNS:
        frame[name] = frame[name].astype("category")
    return frame.drop(columns=[TARGET]), frame[TARGET].to_numpy()


@pytest.mark.slow
def test_concept_drift_hurts_the_old_model_and_retraining_recovers() -> None:
    old_x, old_y = _frame(make_credit(6000, seed=0))
    new_x, new_y = _frame(make_credit(3000, seed=1, drift="concept"))
    test_x, test_y = _frame(make_credit(3000, seed=2, drift="concept"))
    same_x, same_y = _frame(make_credit(3000, seed=3))

    def fit(x: pd.DataFrame, y: np.ndarray) -> HistGradientBoostingClassifier:
        model = HistGradientBoostingClassifier(categorical_features="from_dtype", max_iter=100, random_state=0)
        return model.fit(x, y)

    old = fit(old_x, old_y)
    before = roc_auc_score(same_y, old.predict_proba(same_x)[:, 1])
    after = roc_auc_score(test_y, old.predict_proba(test_x)[:, 1])
    retrained = roc_auc_score(test_y, fit(new_x, new_y).predict_proba(test_x)[:, 1])
    assert before - after > 0.1, (before, after)
    assert retrained - after > 0.1, (after, retrained)
    # The inputs themselves did not move: only the relationship did.
    assert abs(np.nanmean(old_x["credit_score"]) - np.nanmean(test_x["credit_score"])) < 5
