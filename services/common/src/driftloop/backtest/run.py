"""``driftloop backtest``: the loop and its baselines over one labelled history, and what they served."""

from __future__ import annotations

import itertools
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from driftloop.backtest.baselines import no_retraining, oracle, periodic
from driftloop.backtest.replay import MODEL, ArmResult, History, Served, run_loop, sweep_trainer, train_config
from driftloop.contract import Task
from driftloop.errors import ConfigError, DataError
from driftloop.policy import Policy
from driftloop.registry import Registry
from driftloop.train.dataset import load_table

SYNTHETIC_START = 1_700_000_000.0
SYNTHETIC_STEP = 60.0
"""Without a time column, row i happened at START + i minutes (so durations in a policy mean something)."""
CHUNKS = 40


@dataclass(frozen=True)
class BacktestConfig:
    data: Path
    target: str
    time_column: str | None = None
    label_delay: int = 0
    train_rows: int | None = None
    """Rows the champion is trained on (default: the first 30 %, at most 5,000)."""
    change_at: int | None = None
    """A known change (row index in the file's order): alarms are counted before and after it."""
    batch: int = 100
    time_budget: float | None = None
    max_trials: int | None = None
    families: list[str] | None = None
    periodic: list[tuple[int, int]] = field(default_factory=list)
    """(every, last) schedules; default: three, from the size of the stream."""
    oracle_wait: int = 500
    """Labelled rows after the known change before the oracle retrains."""
    seed: int = 0


def load_history(config: BacktestConfig) -> History:
    frame = load_table(config.data)
    if config.target not in frame.columns:
        raise ConfigError(
            f"column {config.target!r} is not in {config.data}: choose from {list(frame.columns)}",
            details={"field": "target"},
        )
    if config.time_column is None:
        times = SYNTHETIC_START + SYNTHETIC_STEP * np.arange(len(frame), dtype=np.float64)
        return History(frame.reset_index(drop=True), config.target, times)
    if config.time_column not in frame.columns:
        raise ConfigError(f"time column {config.time_column!r} is not in {config.data}", details={"field": "time"})
    raw = frame[config.time_column]
    if pd.api.types.is_numeric_dtype(raw):
        stamps = raw.to_numpy(dtype=np.float64)
    else:
        parsed = pd.to_datetime(raw, utc=True, errors="coerce")
        if parsed.isna().any():
            bad = int(parsed.isna().to_numpy().argmax())
            raise DataError(f"time column {config.time_column!r}: row {bad} is not a time ({raw.iloc[bad]!r})")
        stamps = parsed.astype("int64").to_numpy() / 1e9
    order = np.argsort(stamps, kind="stable")  # event-time order; ties keep the file's order
    return History(frame.drop(columns=[config.time_column]).iloc[order].reset_index(drop=True), config.target,
                   stamps[order])  # fmt: skip


def default_schedules(stream_rows: int) -> list[tuple[int, int]]:
    """Three periodic schedules scaled to the stream: often on little, seldom on much."""
    every = max(100, stream_rows // 16)
    return [(every, 3 * every), (2 * every, 6 * every), (4 * every, 12 * every)]


def run_backtest(config: BacktestConfig, policy: Policy) -> dict[str, Any]:
    began = time.monotonic()
    history = load_history(config)
    rows = len(history.frame)
    train_rows = config.train_rows or min(5000, int(0.3 * rows))
    if not 50 <= train_rows < rows - config.batch:
        raise ConfigError(
            f"--train-rows {train_rows} leaves no stream to replay in {rows} rows", details={"field": "train_rows"}
        )
    if config.change_at is not None and not train_rows <= config.change_at < rows:
        raise ConfigError(f"--change-at {config.change_at} is outside the replayed rows {train_rows}..{rows - 1}",
                          details={"field": "change_at"})  # fmt: skip
    settings = train_config(
        policy, history.target, time_budget=config.time_budget, max_trials=config.max_trials, families=config.families,
        seed=config.seed,
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="driftloop-backtest-") as scratch:
        registry = Registry(Path(scratch) / "registry")
        champion_bundle = sweep_trainer(registry, settings)(history.frame.iloc[:train_rows], "backtest:champion")
        champion = Served(champion_bundle)
        loop = run_loop(
            history, train_rows=train_rows, policy=policy, train_config=settings, label_delay=config.label_delay,
            batch=config.batch, registry=registry, champion=champion_bundle,
        )  # fmt: skip
        loop_seconds = time.monotonic() - began
        arms = [loop, no_retraining(history, champion, train_rows)]
        for every, last in config.periodic or default_schedules(rows - train_rows):
            trainer = sweep_trainer(registry, settings, name=f"periodic-{every}-{last}")
            arms.append(periodic(history, champion, trainer, train_rows, every=every, last=last,
                                 label_delay=config.label_delay))  # fmt: skip
        if config.change_at is not None:
            trainer = sweep_trainer(registry, settings, name="oracle")
            arms.append(oracle(history, champion, trainer, train_rows, change_at=config.change_at,
                               wait=config.oracle_wait, label_delay=config.label_delay))  # fmt: skip
    return summarise(config, history, champion.contract.task, train_rows, arms, loop_seconds, time.monotonic() - began)


def score(task: Task, actual: pd.Series, predicted: list[Any]) -> float:
    """Accuracy (classification) or R² (regression) of served predictions."""
    if not len(predicted):
        return float("nan")
    if task.is_classification:
        return float(np.mean(actual.astype(str).to_numpy() == np.asarray([str(p) for p in predicted])))
    y, p = actual.to_numpy(dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    total = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum((y - p) ** 2)) / total if total else float("nan")


def summarise(
    config: BacktestConfig,
    history: History,
    task: Task,
    train_rows: int,
    arms: list[ArmResult],
    loop_seconds: float,
    seconds: float,
) -> dict[str, Any]:
    actual = history.frame[history.target].iloc[train_rows:].reset_index(drop=True)
    change = config.change_at
    after = slice((change - train_rows) if change is not None else 0, None)
    edges = np.linspace(0, len(actual), CHUNKS + 1).astype(int)
    metric = "accuracy" if task.is_classification else "r2"
    loop = arms[0]
    labelled_before_change = (change - train_rows) if change is not None else None
    alarms = [
        {**asdict(alarm), "before_change": change is not None and alarm.row < change,
         "labelled_since_change": (alarm.labelled - labelled_before_change)
         if labelled_before_change is not None and alarm.row >= change else None}  # type: ignore[operator]
        for alarm in loop.alarms
    ]  # fmt: skip
    first_after = next((a for a in alarms if a["labelled_since_change"] is not None), None)
    return {
        "data": str(config.data),
        "target": history.target,
        "task": task.value,
        "metric": metric,
        "rows": len(history.frame),
        "train_rows": train_rows,
        "label_delay": config.label_delay,
        "change_at": change,
        "seconds": {"loop": round(loop_seconds, 1), "total": round(seconds, 1)},
        "arms": {
            arm.name: {
                "score": score(task, actual, arm.predicted),
                "score_after_change": score(task, actual.iloc[after], arm.predicted[after]),
                "retrains": len(arm.retrains),
                "promotions": sum(r.promoted for r in arm.retrains),
                "over_time": [score(task, actual.iloc[a:b], arm.predicted[a:b]) for a, b in itertools.pairwise(edges)],
            }
            for arm in arms
        },
        "chunks": [int(e) + train_rows for e in edges],
        "alarms": alarms,
        "alarms_before_change": sum(a["before_change"] for a in alarms),
        "first_alarm_labelled_since_change": first_after["labelled_since_change"] if first_after else None,
        "retrains": [asdict(r) for r in loop.retrains],
        "model": MODEL,
    }
