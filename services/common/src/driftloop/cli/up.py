"""``driftloop up``: the four services on 127.0.0.1 under one home directory, until Ctrl-C."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from driftloop.cli.common import err, handle_errors, out
from driftloop.demo.supervisor import Ports, Supervisor, service_specs, stop_on_sigterm
from driftloop.registry import Registry
from driftloop.settings import DEFAULT_HOME

WATCH_INTERVAL_S = 1.0


@handle_errors
def up(
    home: Annotated[
        Path, typer.Option(help="Home directory: registry, bus.db, store.db, datasets, logs.")
    ] = DEFAULT_HOME,
    time_budget: Annotated[float, typer.Option(help="Training budget if no model is registered yet.")] = 20.0,
    base_port: Annotated[int, typer.Option(help="Scoring's port; the others follow it (+1, +2, +3).")] = 8080,
) -> None:
    """Start scoring, feature-engineering, telemetry-forwarder and retrain-controller; stop on Ctrl-C."""
    from driftloop.cli.demo import DEMO_MODEL, train_demo_model

    home = home.resolve()
    registry = Registry(home / "registry")
    if DEMO_MODEL not in registry.models():
        train_demo_model(registry, home=home, time_budget=time_budget, console=err)
    extra = {"features": {"DRIFTLOOP_FEATURES__SOURCES": json.dumps({DEMO_MODEL: str(home / "credit.csv")})}}
    supervisor = Supervisor(
        service_specs(home, Ports(base_port, base_port + 1, base_port + 2, base_port + 3), extra=extra), home
    )
    stop_on_sigterm()
    err.print(f"Starting the services under {home} (logs in {supervisor.logs_dir}) ...")
    try:
        supervisor.start()
        for name, url in supervisor.urls().items():
            out.print(f"  [bold]{name:<11}[/] {url}")
        err.print("Ready. Ctrl-C stops them all.")
        while True:
            supervisor.check()  # a service that dies is reported with its log, and the rest stopped
            time.sleep(WATCH_INTERVAL_S)  # a watch loop over child processes: nothing to wait on
    except KeyboardInterrupt:
        err.print("Stopping ...")
    finally:
        supervisor.stop()
