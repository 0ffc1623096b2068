"""``driftloop demo``: the whole loop on one machine (what ``make demo`` runs).

Trains the credit model, starts the four services, sends traffic with feedback, injects a concept
drift and tells the story until a retrained model answers (``driftloop.demo.loop``). Exits 1 if
the loop did not close or a scoring request failed. ``train_demo_model`` is its first step, also
used by ``driftloop up``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from driftloop.cli.common import err, handle_errors, out
from driftloop.cli.train import SweepDisplay
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
    home: Annotated[Path, typer.Option(help="Demo home, wiped first.")] = DEFAULT_HOME / "demo",
    time_budget: Annotated[float, typer.Option(help="Seconds of search for the first model.")] = 20.0,
    retrain_budget: Annotated[float, typer.Option(help="Seconds of search for the retrained model.")] = 15.0,
) -> None:
    """Train, serve, drift, retrain, promote: the whole loop on 127.0.0.1, then stop everything."""
    from driftloop.demo.loop import LoopConfig, run_loop
    from driftloop.demo.report import write_demo_report
    from driftloop.demo.supervisor import stop_on_sigterm

    stop_on_sigterm()
    config = LoopConfig(home=home.resolve(), train_budget=time_budget, retrain_budget=retrain_budget)
    started = time.monotonic()
    try:
        outcome = run_loop(config, out)
    except KeyboardInterrupt:
        err.print("[bold red]interrupted:[/] every service was stopped")
        raise typer.Exit(code=130) from None
    report = write_demo_report(config.home, out, outcome.store_url)
    minutes, seconds = divmod(time.monotonic() - started, 60)
    if not outcome.closed:
        err.print(f"[bold red]The loop did not close:[/] {escape(outcome.reason)}")
        for failure in outcome.failures:
            err.print(f"  {escape(failure)}")
        raise typer.Exit(code=1)
    out.print(
        f"[bold green]The loop closed[/] in {int(minutes)} min {seconds:.0f} s: drift detected, "
        f"version {outcome.promoted_version} trained, promoted and serving, 0 failed requests."
        + (f" Report: {report}" if report else "")
    )
