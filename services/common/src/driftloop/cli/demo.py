"""``driftloop demo``: for now, the training step of the loop on the bundled credit data.

``train_demo_model`` is the step the full demo (scoring, drift, retraining) calls first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from driftloop.cli.common import RegistryOption, err, handle_errors, out, registry_at
from driftloop.cli.render import models_table
from driftloop.cli.train import SweepDisplay, show_training
from driftloop.registry import Registry
from driftloop.settings import DEFAULT_HOME

DEMO_MODEL = "credit"
DEMO_ROWS = 10_000


def train_demo_model(
    registry: Registry,
    *,
    home: Path = DEFAULT_HOME,
    time_budget: float = 30.0,
    seed: int = 0,
    console: Console | None = None,
) -> Any:
    """Write the sample credit CSV under ``home``, train it and register ``credit``; returns the TrainResult."""
    from driftloop.datasets import TARGET, write_credit_csv
    from driftloop.train.config import TrainConfig
    from driftloop.train.run import train_file

    data = write_credit_csv(home / "credit.csv", DEMO_ROWS, seed=seed)
    config = TrainConfig(target=TARGET, time_budget=time_budget, seed=seed)
    if console is None:
        return train_file(data, config=config, name=DEMO_MODEL, registry=registry, trigger="demo")
    console.print(f"[bold]1. Training[/] {DEMO_MODEL} on {data} ({DEMO_ROWS:,} rows, budget {time_budget:.0f} s)")
    with SweepDisplay(console) as display:
        return train_file(data, config=config, name=DEMO_MODEL, registry=registry, trigger="demo", progress=display)


@handle_errors
def demo(
    time_budget: Annotated[float, typer.Option(help="Seconds of search.")] = 30.0,
    registry: RegistryOption = None,
) -> None:
    """Train the sample credit model, then show the leaderboard and the registry."""
    store = registry_at(registry)
    result = train_demo_model(store, time_budget=time_budget, console=err)
    show_training(result.documents["metrics"], store, DEMO_MODEL, result.bundle.version if result.bundle else None)
    out.print(models_table(store))
