"""What the loop is compared with: no retraining, periodic retraining, and an oracle.

Every baseline serves the same champion first and retrains with the same trainer as the loop, so
that the comparison is about *when* and *on what* to retrain, not about the model. Each sees a
label only ``label_delay`` rows after its record, as the loop does.
"""

from __future__ import annotations

import pandas as pd

from driftloop.backtest.replay import ArmResult, History, Retrain, Served, Trainer


def no_retraining(history: History, champion: Served, train_rows: int) -> ArmResult:
    arm = ArmResult("none")
    stream = history.frame.iloc[train_rows:].drop(columns=[history.target])
    arm.predicted, _ = champion.predict(stream)
    arm.versions = [champion.version] * len(stream)
    return arm


def periodic(
    history: History, champion: Served, train: Trainer, train_rows: int, *, every: int, last: int, label_delay: int
) -> ArmResult:
    """Retrain every ``every`` rows on the newest ``last`` labelled rows, and always serve the result."""
    return _scheduled(
        history,
        champion,
        train,
        train_rows,
        f"periodic {every}/{last}",
        [(at, max(train_rows, at - label_delay - last)) for at in range(train_rows + every, len(history.frame), every)],
        label_delay,
    )


def oracle(
    history: History, champion: Served, train: Trainer, train_rows: int, *, change_at: int, wait: int, label_delay: int
) -> ArmResult:
    """Retrain once, ``wait`` labelled rows after the true change, on the rows since the change."""
    return _scheduled(
        history, champion, train, train_rows, "oracle", [(change_at + wait + label_delay, change_at)], label_delay
    )


def _scheduled(
    history: History,
    champion: Served,
    train: Trainer,
    train_rows: int,
    name: str,
    schedule: list[tuple[int, int]],
    label_delay: int,
) -> ArmResult:
    """Serve ``champion``, and at each (row, first row) of ``schedule`` a model trained on the
    labelled rows from ``first row`` to ``row - label_delay``."""
    arm = ArmResult(name)
    served, position = champion, train_rows
    features = history.frame.drop(columns=[history.target])
    for at, first in [*schedule, (len(history.frame), None)]:
        at = min(at, len(history.frame))
        if at > position:
            predicted, _ = served.predict(features.iloc[position:at])
            arm.predicted += predicted
            arm.versions += [served.version] * (at - position)
            position = at
        if first is None or at >= len(history.frame):
            continue
        rows: pd.DataFrame = history.frame.iloc[first : max(first, at - label_delay)]
        if len(rows) < 50:
            continue
        bundle = train(rows, name)
        served = Served(bundle)
        arm.retrains.append(Retrain(name, at, None, name, len(rows), 0, True, bundle.version, {}, 0.0))
    return arm
