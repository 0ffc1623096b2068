"""Rules files: clear errors for every mistake, the packaged defaults, cooldown and hysteresis."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from drift_helpers import CreditModel

from driftloop.datasets import make_credit
from driftloop.drift.compute import WindowData, WindowReport, compute_window, estimate_performance
from driftloop.drift.evaluator import RuleEvaluator
from driftloop.drift.rules import Cooldown, RulesFile, load_rules, parse_rules
from driftloop.errors import ConfigError


def test_the_packaged_defaults_retrain_on_what_is_known_and_alert_on_drift(default_rules: RulesFile) -> None:
    actions = {rule.statistic: (rule.action, rule.when) for rule in default_rules.rules}
    assert actions == {
        "concept_drift": ("retrain", "always"),
        "estimated_performance_drop": ("retrain", "unlabelled"),
        "performance_drop": ("alert", "always"),
        "drift": ("alert", "always"),
        "prediction_drift": ("alert", "always"),
    }
    assert default_rules.window.by == "count"
    assert default_rules.detection.p_value == 0.05
    concept = next(rule for rule in default_rules.rules if rule.statistic == "concept_drift")
    assert concept.cooldown == Cooldown(labels=200)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", Cooldown(seconds=90)),
        ("1h", Cooldown(seconds=3600)),
        (0, Cooldown()),
        ("500 labels", Cooldown(labels=500)),
    ],
)
def test_a_cooldown_is_a_duration_or_a_count_of_labels(text: object, expected: Cooldown) -> None:
    assert Cooldown.parse(text) == expected


def test_an_empty_file_is_valid_and_has_no_rules() -> None:
    rules = parse_rules("")
    assert rules.rules == []
    assert rules.window.size == 1000


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: [name: x", "not valid YAML at line 1"),
        ("- just a list", "must be a mapping"),
        ("rules:\n  - name: r\n    statistic: psy\n", "rules[0] ('r').statistic: unknown statistic 'psy'"),
        ("rules:\n  - name: r\n    statistic: psi\n    treshold: 0.2\n", "rules[0] ('r').treshold: Extra inputs"),
        ("rules:\n  - name: r\n    statistic: psi\n    cooldown: soon\n", "'soon' is not a cooldown"),
        ("rules:\n  - name: r\n    statistic: psi\n    consecutive: 0\n", "consecutive: Input should be greater"),
        ("rules:\n  - name: r\n    statistic: psi\n    action: page\n", "action: Input should be 'retrain' or 'alert'"),
        ("rules:\n  - name: r\n    statistic: missing_rate\n", "no default threshold: set 'threshold'"),
        ("rules:\n  - name: r\n    statistic: performance_drop\n    columns: any\n", "is not per column"),
        ("rules:\n  - {name: r, statistic: psi}\n  - {name: r, statistic: psi}\n", "repeated: ['r']"),
        ("rules:\n  - {name: r, statistic: psi, columns: 3}\n", "columns: 3: use a list of column names"),
        ("rules:\n  - {name: r, statistic: psi, columns: {share: 2}}\n", "columns.share: Input should be less than"),
        ("window:\n  by: hour\n", "window.by: Input should be 'count' or 'time'"),
        ("detection:\n  p_value: 5\n", "detection.p_value: Input should be less than 1"),
    ],
)
def test_invalid_rules_are_refused_with_a_message_naming_the_place(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_rules(text, source="rules.yaml")
    assert message in caught.value.message
    assert caught.value.message.startswith("rules.yaml")
    assert caught.value.status_code == 400


def test_a_missing_rules_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the rules file"):
        load_rules(tmp_path / "absent.yaml")


def _report(model: CreditModel, *, shift: float = 0.0, index: int = 0, end: float = 0.0) -> WindowReport:
    """A real window of 500 credit rows, ``credit_score`` shifted by ``shift`` standard deviations."""
    columns = make_credit(500, seed=1000 + index)
    columns["credit_score"] = columns["credit_score"] + shift * 60
    target = columns.pop("default")
    predicted, probabilities = model.score(columns)
    data = WindowData(
        columns={
            k: (v.astype(np.float32).astype(np.float64) if v.dtype.kind == "f" else v) for k, v in columns.items()
        },
        predictions=np.asarray([int(p) for p in predicted]),
        probabilities=probabilities,
        labels=target.astype(np.float64),
    )
    return compute_window(
        model.reference, data, load_rules().detection, model="credit", version=1, index=index, start=end - 60, end=end
    )


def test_unknown_columns_and_statistics_of_the_wrong_kind_name_the_column(credit_model: CreditModel) -> None:
    report = _report(credit_model)
    unknown = RuleEvaluator(parse_rules("rules:\n  - {name: r, statistic: psi, columns: [credit_score, salary]}"))
    with pytest.raises(ConfigError, match=r"rule 'r' names columns that model 'credit' does not have: \['salary'\]"):
        unknown.evaluate(report)
    wrong = RuleEvaluator(parse_rules("rules:\n  - {name: k, statistic: ks_pvalue, columns: [region]}"))
    with pytest.raises(ConfigError, match=r"'ks_pvalue' applies to numeric columns, not to \['region'\]"):
        wrong.evaluate(report)


RULE = """
rules:
  - name: score-shift
    statistic: psi
    columns: [credit_score]
    threshold: 0.2
    consecutive: 2
    cooldown: 10m
    action: retrain
"""


def test_consecutive_cooldown_and_hysteresis(credit_model: CreditModel) -> None:
    evaluator = RuleEvaluator(parse_rules(RULE))
    drifted = [_report(credit_model, shift=1.0, index=i, end=1000.0 + 60 * i) for i in range(16)]
    calm = _report(credit_model, shift=0.0, index=99, end=0.0)
    assert calm.columns["credit_score"].statistics["psi"] < 0.2 < drifted[0].columns["credit_score"].statistics["psi"]

    def outcome(report: WindowReport) -> str:
        fired = evaluator.evaluate(report)
        (result,) = evaluator.last_outcomes
        assert (result.status == "fired") == bool(fired)
        return result.status

    # One breach is not enough; a calm window resets the count; two in a row fire.
    assert [outcome(r) for r in (drifted[0], calm, drifted[1], drifted[2])] == ["breach", "ok", "breach", "fired"]
    # Still drifting: quiet during the cooldown (10 windows of 60 s) ...
    assert {outcome(r) for r in drifted[3:13]} == {"breach", "suppressed"}
    # ... and after it too, until the retrain has finished (hysteresis).
    assert outcome(drifted[13]) == "suppressed"
    evaluator.retrain_finished("credit", promoted=True)
    assert [outcome(r) for r in (drifted[14], drifted[15])] == ["breach", "fired"]


def test_an_alert_rule_needs_only_its_cooldown(credit_model: CreditModel) -> None:
    evaluator = RuleEvaluator(
        parse_rules(RULE.replace("action: retrain", "action: alert").replace("consecutive: 2", "consecutive: 1"))
    )
    reports = [_report(credit_model, shift=1.0, index=i, end=1000.0 + 300 * i) for i in range(4)]
    fired = [bool(evaluator.evaluate(r)) for r in reports]
    assert fired == [True, False, True, False]  # 10 minutes of cooldown = two 5-minute windows


def test_a_firing_carries_its_evidence_and_a_stable_idempotency_key(credit_model: CreditModel) -> None:
    rules = parse_rules(RULE.replace("consecutive: 2", "consecutive: 1"))
    report = _report(credit_model, shift=1.0, index=3, end=5000.0)
    (first,) = RuleEvaluator(rules).evaluate(report)
    (again,) = RuleEvaluator(rules).evaluate(report)  # e.g. the forwarder restarted and replayed the window
    assert first.id == again.id
    body = first.body()
    assert body["model"] == "credit"
    assert body["version"] == 1
    assert body["rule"]["name"] == "score-shift"
    assert body["window"]["index"] == 3
    assert body["evidence"][0]["column"] == "credit_score"
    assert body["evidence"][0]["value"] > 0.2
    assert body["summary"]["columns"]["credit_score"]["drifted"] is True
    assert "performance" in body["summary"]


def test_a_window_with_too_few_values_is_not_enough_data_not_an_alarm(credit_model: CreditModel) -> None:
    rules = parse_rules(RULE.replace("consecutive: 2", "consecutive: 1") + "    min_samples: 1000\n")
    evaluator = RuleEvaluator(rules)
    assert evaluator.evaluate(_report(credit_model, shift=2.0)) == []
    assert evaluator.last_outcomes[0].status == "not_enough_data"


def test_a_restarted_evaluator_stays_quiet_where_it_was(credit_model: CreditModel) -> None:
    rules = parse_rules(RULE.replace("consecutive: 2", "consecutive: 1"))
    before = RuleEvaluator(rules)
    assert before.evaluate(_report(credit_model, shift=1.0, index=0, end=1000.0))
    after = RuleEvaluator(rules)  # the forwarder restarted; the store kept the snapshot
    after.restore(before.snapshot())
    assert after.evaluate(_report(credit_model, shift=1.0, index=0, end=5000.0)) == []
    assert after.last_outcomes[0].status == "suppressed"  # cooldown over, but the retrain has not finished
    after.retrain_finished("credit", promoted=False)
    assert after.evaluate(_report(credit_model, shift=1.0, index=1, end=5060.0))


def test_estimated_accuracy_follows_the_calibrated_confidence(credit_model: CreditModel) -> None:
    report = _report(credit_model)
    estimated = report.estimated
    assert estimated is not None
    assert estimated.rows == 500
    # On data like the holdout's, the calibrated estimate is close to the holdout's accuracy.
    assert abs(estimated.accuracy - estimated.reference) < 0.05
    # A window of unsure predictions (top probability near 0.5) is estimated far worse.
    unsure = estimate_performance(credit_model.reference, np.full((500, 2), 0.5), min_rows=100)
    assert unsure is not None
    assert unsure.accuracy < estimated.accuracy - 0.1
    assert unsure.drop > 0.1


def test_when_unlabelled_judges_only_windows_without_labels(credit_model: CreditModel) -> None:
    rules = parse_rules(
        "rules:\n  - {name: est, statistic: estimated_performance_drop, threshold: 0.1,"
        " when: unlabelled, action: retrain}"
    )
    report = _report(credit_model)
    assert report.estimated is not None
    worse = replace(report, estimated=replace(report.estimated, drop=0.3))
    labelled, unlabelled = RuleEvaluator(rules), RuleEvaluator(rules)
    assert labelled.evaluate(worse, coverage=0.5) == []
    assert labelled.last_outcomes[0].status == "not_enough_data"
    (firing,) = unlabelled.evaluate(worse, coverage=0.0)
    assert firing.evidence[0].value == 0.3


def test_the_labels_cooldown_counts_from_a_follow_up_too(default_rules: RulesFile) -> None:
    from driftloop.drift.change import ChangeAlarm

    evaluator = RuleEvaluator(default_rules)
    follow_up = evaluator.follow_up(
        "m", 2, since_time=0.0, since_labelled=1000, at_time=1000.0, labelled=5000, window_index=0
    )
    assert [f.rule for f in follow_up] == ["concept-drift"]
    evaluator.retrain_finished("m", promoted=True)

    def alarm(labelled: int) -> list[object]:
        rise = ChangeAlarm("change", "m", 2, labelled, float(labelled), 0, 0.0, 0.1, 0.4, 0.0, 100, 0.05)
        return list(evaluator.alarm(rise, labelled=labelled, window_index=0))

    # The packaged rule's cooldown is 200 labels: counted from the follow-up at 5,000 labels.
    assert alarm(5100) == []
    assert len(alarm(5200)) == 1
