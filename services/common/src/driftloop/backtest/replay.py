"""Replay a labelled history through the loop's own code, in event time, as fast as it runs.

The champion is trained with ``driftloop train``'s sweep on the first ``train_rows`` rows and
registered in a scratch registry; the rest of the history is scored by the serving version's ONNX
graph (what scoring would run) in batches, fed to the drift stage (drift/stage.py: windows,
labelled stream, concept-drift detector, rules, exactly as the telemetry-forwarder runs it), and
each record's label is given ``label_delay`` records later. A ``retrain`` firing is planned as the
retrain-controller plans it (retrain_request.py: the change point's strategy, or the policy's),
its training set is built by the feature-engineering service's own builder, a challenger is
trained with the same sweep, and the controller's gate decides on that holdout whether it
replaces the champion. Nothing waits for a clock: the decisions depend on the data alone. The
backtest therefore needs the retrain-controller and feature-engineering packages installed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from driftloop.contract import DataContract
from driftloop.drift.evaluator import Firing
from driftloop.drift.reference import registry_references
from driftloop.drift.stage import DriftStage
from driftloop.policy import Policy
from driftloop.registry import CHAMPION, Bundle, Registry
from driftloop.train.config import TrainConfig
from driftloop.train.parity import onnx_output, onnx_session
from driftloop.train.run import train_model
from driftloop.trainingset import QualityGate, Strategy

MODEL = "backtest"


@dataclass(frozen=True)
class History:
    """The labelled rows to replay, in event-time order, and their event times (Unix seconds)."""

    frame: pd.DataFrame
    target: str
    times: np.ndarray


@dataclass
class Retrain:
    """One retrain: its trigger, its data and the gate's decision."""

    rule: str
    fired_row: int
    change_row: int | None
    strategy: str
    train_rows: int
    holdout_rows: int
    promoted: bool
    version: int | None
    decision: dict[str, Any]
    seconds: float


@dataclass
class Alarm:
    rule: str
    row: int
    """The newest row scored when it fired."""
    action: str
    labelled: int
    """Labelled rows of the stream given when it fired."""


@dataclass
class ArmResult:
    """What one way of running the model served, record by record."""

    name: str
    predicted: list[Any] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    retrains: list[Retrain] = field(default_factory=list)
    alarms: list[Alarm] = field(default_factory=list)


class Served:
    """The serving version: its bundle, an ONNX session, and the class labels it answers with."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.session = onnx_session(bundle.model_path.read_bytes())
        self.contract: DataContract = bundle.contract

    @property
    def version(self) -> int:
        return self.bundle.version

    def predict(self, frame: pd.DataFrame) -> tuple[list[Any], np.ndarray | None]:
        output = onnx_output(self.session, frame, self.contract)
        if not self.contract.task.is_classification:
            return np.asarray(output, dtype=np.float64).reshape(-1).tolist(), None
        labels = list(self.contract.class_labels or [])
        return [labels[i] for i in np.asarray(output).argmax(axis=1)], np.asarray(output, dtype=np.float64)


Trainer = Callable[[pd.DataFrame, str], Bundle]


def sweep_trainer(registry: Registry, config: TrainConfig, name: str = MODEL) -> Trainer:
    """``driftloop train``'s sweep, registering each version of ``name`` in ``registry``."""

    def train(frame: pd.DataFrame, trigger: str) -> Bundle:
        result = train_model(frame, config.target, config=config, name=name, registry=registry, trigger=trigger)
        assert result.bundle is not None
        return result.bundle

    return train


def train_config(policy: Policy, target: str, **overrides: Any) -> TrainConfig:
    """The sweep of a retrain under ``policy`` (its ``retrain.training`` block), with overrides."""
    training = policy.retrain.training.model_dump(exclude_none=True)
    return TrainConfig(target=target, **{**training, **{k: v for k, v in overrides.items() if v is not None}})


def run_loop(
    history: History,
    *,
    train_rows: int,
    policy: Policy,
    train_config: TrainConfig,
    label_delay: int = 0,
    batch: int = 100,
    registry: Registry,
    champion: Bundle | None = None,
) -> ArmResult:
    """The loop with ``policy`` over the rows after ``train_rows``, from ``champion`` (trained on the
    first ``train_rows`` rows when None) in ``registry``."""
    from driftloop_controller.gate import compare  # the controller's own gate, not a copy of it

    train = sweep_trainer(registry, train_config)
    source = history.frame.iloc[:train_rows]
    served = Served(champion or train(source, "backtest:champion"))
    stage = DriftStage(policy, registry_references(registry))
    arm = ArmResult("loop")
    labelled: list[int] = []  # rows whose label has been given, in the order given
    stream = range(train_rows, len(history.frame))
    for first in range(train_rows, len(history.frame), batch):
        rows = list(stream[first - train_rows : first - train_rows + batch])
        part = history.frame.iloc[rows]
        predicted, probabilities = served.predict(part.drop(columns=[history.target]))
        arm.predicted += predicted
        arm.versions += [served.version] * len(rows)
        request = f"r{first}"
        columns = {name: part[name].to_numpy() for name in part.columns if name != history.target}
        firings = stage.prediction(
            MODEL,
            served.version,
            request,
            columns,
            predicted,
            times=history.times[rows],
            probabilities=probabilities,
        ).firings
        # Labels due: every row at least ``label_delay`` rows older than the newest scored one.
        due_until = rows[-1] - label_delay
        start = labelled[-1] + 1 if labelled else train_rows
        for row in range(start, due_until + 1):
            batch_start = train_rows + ((row - train_rows) // batch) * batch
            actual = history.frame[history.target].iloc[row]
            firings += stage.feedback(MODEL, f"r{batch_start}", row - batch_start, _plain(actual)).firings
            labelled.append(row)
        for firing in firings:
            arm.alarms.append(Alarm(firing.rule, rows[-1], firing.action, len(labelled)))
            if firing.action != "retrain":
                continue
            retrain = _retrain(firing, history, source, labelled, served, train, policy, compare)
            arm.retrains.append(retrain)
            if retrain.promoted and retrain.version is not None:
                registry.set_alias(MODEL, CHAMPION, retrain.version, reason=f"backtest:{firing.rule}")
                served = Served(registry.resolve(MODEL, retrain.version))
            stage.retrain_finished(MODEL, promoted=retrain.promoted)
    return arm


def _retrain(
    firing: Firing,
    history: History,
    source: pd.DataFrame,
    labelled: list[int],
    served: Served,
    train: Trainer,
    policy: Policy,
    compare: Callable[..., dict[str, Any]],
) -> Retrain:
    from driftloop_controller.retrain_request import dataset_plan
    from driftloop_features.datasets import build_training_set

    began = time.monotonic()
    plan = dataset_plan(policy.retrain, firing.body())
    strategy = Strategy.model_validate(plan.body["strategy"])
    quality = QualityGate.model_validate(plan.body["gate"]) if "gate" in plan.body else QualityGate()
    known = history.frame.iloc[labelled].reset_index(drop=True)
    times = pd.Series(pd.to_datetime(history.times[labelled], unit="s", utc=True))

    def source_rows(*, required: bool = True) -> pd.DataFrame:
        return source.reset_index(drop=True)

    built = build_training_set(served.contract, known, times, source_rows, strategy, quality)
    fired_row = labelled[-1] if labelled else len(source)
    since = plan.change_point.time.timestamp() if plan.change_point is not None else None
    change_row = int(np.searchsorted(history.times, since)) if since is not None else None

    def outcome(promoted: bool, version: int | None, decision: dict[str, Any]) -> Retrain:
        return Retrain(
            rule=firing.rule,
            fired_row=fired_row,
            change_row=change_row,
            strategy=strategy.kind,
            train_rows=len(built.train),
            holdout_rows=len(built.holdout),
            promoted=promoted,
            version=version,
            decision=decision,
            seconds=time.monotonic() - began,
        )

    if built.reasons:
        return outcome(False, None, {"outcome": "not_started", "reasons": built.reasons})
    challenger = train(built.train, f"drift:{firing.rule}")
    decision = compare(served.bundle, challenger, built.holdout, policy.retrain.gate, seed=policy.retrain.training.seed)
    return outcome(bool(decision["promote"]), challenger.version, decision)


def _plain(value: Any) -> Any:
    """A label as JSON feedback would carry it."""
    if isinstance(value, np.generic):
        return value.item()
    return value
