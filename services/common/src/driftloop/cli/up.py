"""``driftloop up``: the four services on 127.0.0.1 under one home directory, until Ctrl-C.

Which models, and where their source data is (what the feature-engineering service builds
training sets from):

- ``--data CSV --target COL [--name NAME]``: the user's own model. NAME (default: the file's stem)
  is trained from the CSV if the registry has no version of it; its source data is that CSV.
- no ``--data``, models in the registry: every registered model is served, each with the source
  data its lineage records (the file ``driftloop train`` read; retrains' snapshots are skipped).
- an empty registry: the demo's credit model is trained first, as ``driftloop demo`` does.

See docs/demo.md ("driftloop up").
"""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path
from typing import Annotated

import typer

from driftloop.cli.common import err, handle_errors, out
from driftloop.demo.supervisor import Ports, Supervisor, service_specs, stop_on_sigterm
from driftloop.errors import ConfigError, DataError
from driftloop.registry import Registry
from driftloop.settings import DEFAULT_HOME

WATCH_INTERVAL_S = 1.0
RETRAIN_TRIGGER = "retrain job"  # how the controller's retrains start their lineage's trigger


@handle_errors
def up(
    data: Annotated[
        Path | None, typer.Option("--data", help="CSV, TSV or Parquet file of your model (trained if not registered).")
    ] = None,
    target: Annotated[str | None, typer.Option(help="Target column of --data.")] = None,
    name: Annotated[str | None, typer.Option(help="Model name for --data (default: the file's stem).")] = None,
    time_budget: Annotated[float, typer.Option(help="Training budget if the model is not registered yet.")] = 20.0,
    policy: Annotated[
        Path | None, typer.Option(help="Policy YAML for the forwarder and the controller (docs/policy.md).")
    ] = None,
    home: Annotated[
        Path, typer.Option(help="Home directory: registry, bus.db, store.db, datasets, logs.")
    ] = DEFAULT_HOME,
    base_port: Annotated[int, typer.Option(help="Scoring's port; the others follow it (+1, +2, +3).")] = 8080,
) -> None:
    """Start scoring, feature-engineering, telemetry-forwarder and retrain-controller; stop on Ctrl-C."""
    if data is None and (target is not None or name is not None):
        raise ConfigError("--target and --name describe --data: pass --data CSV as well")
    if data is not None and target is None:
        raise ConfigError("--data needs --target: the column the model predicts")
    policy_path = _checked_policy(policy)
    home = home.resolve()
    ports = Ports.from_base(base_port)
    ports.check_free()
    registry = Registry(home / "registry")
    if data is not None:
        assert target is not None
        shown = [_own_model(registry, data, target, name or data.stem.split(".")[0], time_budget)]
        sources = {**_lineage_sources(registry), shown[0]: data.resolve()}
    else:
        if not registry.models():
            from driftloop.cli.demo import DEMO_MODEL, train_demo_model

            err.print(f"The registry under {home} is empty: training the demo model {DEMO_MODEL!r} first.")
            train_demo_model(registry, home=home, time_budget=time_budget, console=err)
        shown = registry.models()
        sources = _lineage_sources(registry)
    for model in registry.models():
        if model not in sources:
            err.print(
                f"note: the lineage of {model!r} names no source file that exists: its retrains can only "
                "use labelled traffic (strategy 'recent')",
                soft_wrap=True,
                markup=False,
            )
    extra: dict[str, dict[str, str]] = {
        "features": {"DRIFTLOOP_FEATURES__SOURCES": json.dumps({model: str(path) for model, path in sources.items()})}
    }
    if policy_path is not None:
        for service in ("forwarder", "controller"):
            extra[service] = {"DRIFTLOOP_POLICY": str(policy_path)}
    supervisor = Supervisor(service_specs(home, ports, extra=extra), home)
    stop_on_sigterm()
    err.print(f"Starting the services under {home} (logs in {supervisor.logs_dir}) ...")
    try:
        supervisor.start()
        for service, url in supervisor.urls().items():
            out.print(f"  [bold]{service:<11}[/] {url}")
        for model in shown:
            out.print(f"Score a record of {model}:")
            out.print(f"  {score_command(registry, model, supervisor.urls()['scoring'])}", markup=False, soft_wrap=True)
        err.print("Ready. Ctrl-C stops them all.")
        while True:
            supervisor.check()  # a service that dies is reported with its log, and the rest stopped
            time.sleep(WATCH_INTERVAL_S)  # a watch loop over child processes: nothing to wait on
    except KeyboardInterrupt:
        err.print("Stopping ...")
    finally:
        supervisor.stop()


def _checked_policy(policy: Path | None) -> Path | None:
    """The policy file's absolute path, validated now so that a mistake is one line here, not a dead service."""
    if policy is None:
        return None
    from driftloop.policy import load_policy

    if not policy.is_file():
        raise ConfigError(f"--policy {policy}: no such file")
    load_policy(policy)
    return policy.resolve()


def _own_model(registry: Registry, data: Path, target: str, name: str, time_budget: float) -> str:
    """Train ``name`` from ``data`` unless the registry has it; either way the data must carry ``target``."""
    from driftloop.cli.train import SweepDisplay
    from driftloop.train.config import TrainConfig
    from driftloop.train.dataset import load_table
    from driftloop.train.run import train_file

    if not data.is_file():
        raise DataError(f"--data {data}: no such file")
    columns = [str(column) for column in load_table(data).columns]
    if target not in columns:
        raise DataError(f"--target {target!r} is not a column of {data}; its columns are: {', '.join(columns)}")
    if registry.versions(name):
        champion = registry.resolve(name)
        if champion.contract.target != target:
            raise ConfigError(
                f"model {name!r} is registered with target {champion.contract.target!r}, not {target!r}: "
                f"pass --name for a new model, or --target {champion.contract.target}"
            )
        err.print(f"{name} is registered (champion: version {champion.version}): serving it.")
        return name
    err.print(f"Training {name} on {data} (target {target!r}, budget {time_budget:.0f} s)")
    with SweepDisplay(err) as display:
        result = train_file(
            data,
            target,
            config=TrainConfig(target=target, time_budget=time_budget),
            name=name,
            registry=registry,
            trigger="up",
            progress=display,
        )
    err.print(f"registered {name}@{result.bundle.version if result.bundle else '?'}")
    return name


def source_data(registry: Registry, name: str) -> Path | None:
    """The file the newest non-retrain version of ``name`` was trained on, if its lineage names one that exists.

    A retrained version's lineage names the training-set snapshot it was trained on (source rows
    plus recent labels): as source data it would count those labels twice, so it is skipped.
    """
    for version in reversed(registry.versions(name)):
        lineage = registry.resolve(name, version).document("lineage")
        if str(lineage.get("trigger", "")).startswith(RETRAIN_TRIGGER):
            continue
        path = (lineage.get("dataset") or {}).get("path")
        if path and Path(path).is_file():
            return Path(path).resolve()
    return None


def _lineage_sources(registry: Registry) -> dict[str, Path]:
    return {model: path for model in registry.models() if (path := source_data(registry, model)) is not None}


def score_command(registry: Registry, model: str, scoring_url: str) -> str:
    """A one-line curl that scores a plausible record of ``model``'s champion (built from its contract)."""
    from driftloop_scoring.runtime import ModelRuntime  # the record the scoring service warms up with

    record = ModelRuntime(registry.resolve(model)).example_record()
    body = json.dumps({"records": [record]})
    url = f"{scoring_url}/v1/models/{model}/predict"
    return f"curl -s {shlex.quote(url)} -H 'content-type: application/json' -d {shlex.quote(body)}"
