"""The drift stage end to end on a real model: concept changes retrain, covariate shift alerts,
a rejected challenger is followed by a second attempt once new labels arrive, batching changes nothing."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pytest
from drift_helpers import CreditModel, concept, selection, stream_batches

from driftloop.drift.evaluator import Firing
from driftloop.drift.rules import RulesFile
from driftloop.drift.stage import DriftStage, StageOutput
from driftloop.policy import parse_policy

T0 = 1_700_000_000.0
WINDOW = 1000


@dataclass
class Run:
    stage: DriftStage
    out: StageOutput = field(default_factory=StageOutput)
    rows: int = 0

    def retrains(self) -> list[Firing]:
        return [f for f in self.out.firings if f.action == "retrain"]


def replay(
    run: Run, model: CreditModel, *, windows: int, seed: int, drift_at: int | None, shift, batch: int, version: int = 1
) -> Run:
    """Score a credit stream through the stage, each record's label sent right after its request."""
    for i, (columns, predicted, probabilities, labels) in enumerate(
        stream_batches(model, windows, WINDOW, seed=seed, drift_at=drift_at, shift=shift, batch_size=batch)
    ):
        request = f"{seed}-{i}"
        times = T0 + run.rows + np.arange(len(predicted), dtype=np.float64)
        run.rows += len(predicted)
        run.out.extend(
            run.stage.prediction(
                "credit", version, request, columns, predicted, times=times, probabilities=probabilities
            )
        )
        for index, label in enumerate(labels):
            run.out.extend(run.stage.feedback("credit", request, index, str(int(label))))
    return run


def new_run(model: CreditModel, policy: RulesFile) -> Run:
    return Run(DriftStage(policy, lambda name, version: model.reference))


def row_of(firing: Firing) -> float:
    assert firing.change_point is not None
    return datetime.fromisoformat(firing.change_point["time"]).timestamp() - T0


def test_a_concept_change_fires_one_retrain_at_the_change(credit_model: CreditModel, default_rules: RulesFile) -> None:
    run = replay(
        new_run(credit_model, default_rules), credit_model, windows=8, seed=4, drift_at=3, shift=concept, batch=100
    )
    (retrain,) = run.retrains()  # awaiting its outcome, the rule stays quiet
    assert retrain.rule == "concept-drift"
    # The credit concept change raises the error rate by ~12 points (0.28 -> 0.40): a small change,
    # found within about a window of labels; larger ones are found sooner (test_change.py).
    fired_row = retrain.fired_at - T0
    assert 3 * WINDOW <= fired_row <= 3 * WINDOW + 1500
    assert abs(row_of(retrain) - 3 * WINDOW) <= 250
    assert retrain.body()["change_point"] == retrain.change_point


def test_batching_does_not_change_the_firings(credit_model: CreditModel, default_rules: RulesFile) -> None:
    def firings(batch: int) -> list[tuple[str, str, object]]:
        run = replay(
            new_run(credit_model, default_rules),
            credit_model,
            windows=6,
            seed=5,
            drift_at=3,
            shift=concept,
            batch=batch,
        )
        return [(f.rule, f.id, f.change_point) for f in run.out.firings]

    one_by_one, in_bulk = firings(10), firings(250)
    assert any(rule == "concept-drift" for rule, _, _ in one_by_one)
    assert one_by_one == in_bulk


def test_a_rejected_challenger_then_new_labels_lead_to_a_second_attempt(
    credit_model: CreditModel, default_rules: RulesFile
) -> None:
    run = replay(
        new_run(credit_model, default_rules), credit_model, windows=5, seed=6, drift_at=3, shift=concept, batch=100
    )
    (first,) = run.retrains()
    run.stage.retrain_finished("credit", promoted=False)  # rejected: version 1 still serves
    labelled_at_first = run.stage.labelled("credit")
    replay(run, credit_model, windows=3, seed=7, drift_at=0, shift=concept, batch=100)
    second = run.retrains()[1]
    assert second.rule == "concept-drift"
    assert second.id != first.id
    # The follow-up trains on everything since the change, not only since the first alarm.
    assert row_of(second) <= row_of(first)
    assert run.stage.labelled("credit") - labelled_at_first >= 200


def test_each_rejection_in_a_row_doubles_the_new_evidence_a_next_attempt_needs(
    credit_model: CreditModel, default_rules: RulesFile
) -> None:
    run = replay(
        new_run(credit_model, default_rules), credit_model, windows=5, seed=6, drift_at=3, shift=concept, batch=100
    )
    labelled_at = [run.stage.labelled("credit")]
    for attempt in range(3):
        run.stage.retrain_finished("credit", promoted=False)
        fired = len(run.retrains())
        seed = 50 + attempt
        while len(run.retrains()) == fired:  # more of the changed world until the rule fires again
            replay(run, credit_model, windows=1, seed=seed, drift_at=0, shift=concept, batch=100)
            seed += 10
        labelled_at.append(int(run.retrains()[-1].fired_at - T0) + 1)
    gaps = [b - a for a, b in itertools.pairwise(labelled_at[1:])]
    # 200 labels after the first rejection, 400 after the second, 800 after the third.
    assert all(gap >= 200 * 2 ** (i + 1) for i, gap in enumerate(gaps))


def test_covariate_shift_with_steady_performance_alerts_and_does_not_retrain(
    credit_model: CreditModel, default_rules: RulesFile
) -> None:
    run = replay(
        new_run(credit_model, default_rules),
        credit_model,
        windows=8,
        seed=8,
        drift_at=3,
        shift=selection("age", 0.5),
        batch=100,
    )
    assert any(f.rule == "feature-drift" and f.action == "alert" for f in run.out.firings)
    assert run.retrains() == []


@pytest.mark.parametrize("seed", range(3))
def test_a_stationary_stream_fires_no_retrain(credit_model: CreditModel, default_rules: RulesFile, seed: int) -> None:
    run = replay(
        new_run(credit_model, default_rules),
        credit_model,
        windows=8,
        seed=20 + seed,
        drift_at=None,
        shift=None,
        batch=100,
    )
    assert run.retrains() == []
    assert run.out.alarms == []


def test_after_a_promotion_the_replaced_version_asks_for_nothing_more(
    credit_model: CreditModel, default_rules: RulesFile
) -> None:
    run = replay(
        new_run(credit_model, default_rules), credit_model, windows=5, seed=6, drift_at=3, shift=concept, batch=100
    )
    assert len(run.retrains()) == 1
    run.stage.retrain_finished("credit", promoted=True)
    # Scoring has not swapped yet: version 1 keeps answering, its detector keeps seeing the change.
    replay(run, credit_model, windows=3, seed=60, drift_at=0, shift=concept, batch=100)
    assert len(run.retrains()) == 1


def test_after_a_promotion_follow_ups_wait_for_the_floor_then_for_the_records_to_double(
    credit_model: CreditModel,
) -> None:
    floor = 3000  # a training set's floor above what the first challenger had after the change
    policy = parse_policy(f"retrain:\n  dataset:\n    min_rows: {floor}\n")
    run = replay(new_run(credit_model, policy), credit_model, windows=5, seed=6, drift_at=3, shift=concept, batch=100)
    (first,) = run.retrains()
    assert first.change_point is not None
    since = datetime.fromisoformat(first.change_point["time"]).timestamp()
    assert 2 * first.change_point["labelled"] < floor  # records the first challenger had since the change
    assert run.stage.labelled_since("credit", since) > 2 * first.change_point["labelled"]
    run.stage.retrain_finished("credit", promoted=True)
    follow_ups: list[int] = []
    version, seed = 2, 70
    while len(follow_ups) < 2:  # each promoted version serves a stream it fits: only the schedule fires
        fired = len(run.retrains())
        replay(run, credit_model, windows=1, seed=seed, drift_at=None, shift=concept, batch=100, version=version)
        seed += 1
        if len(run.retrains()) > fired:
            (firing,) = run.retrains()[fired:]
            assert firing.summary["alarm"] == "follow_up"
            follow_ups.append(int(firing.summary["labelled_records_after"]))
            run.stage.retrain_finished("credit", promoted=True)
            version += 1
    # Not when the post-change records have doubled, but once they alone fill the floor; then each
    # time they double.
    assert floor <= follow_ups[0] < floor + WINDOW
    assert 2 * follow_ups[0] <= follow_ups[1] < 2 * follow_ups[0] + WINDOW
