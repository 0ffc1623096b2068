"""``driftloop train``: a CSV or Parquet file to a registered ONNX bundle, with a live sweep display."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from driftloop.cli.common import RegistryOption, err, handle_errors, out, print_json, registry_at
from driftloop.cli.render import holdout_table, leaderboard_table, versions_table
from driftloop.contract import Task
from driftloop.errors import DataError
from driftloop.registry import Registry


class SweepDisplay:
    """A progress bar over the time budget (or the trial count) with the candidate and best so far."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.fields[stage]}"),
            BarColumn(),
            TextColumn("{task.fields[trials]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[best]}"),
            console=console,
            transient=False,
        )
        self.task_id = self.progress.add_task("sweep", total=1.0, stage="starting", trials="", best="")

    def __enter__(self) -> SweepDisplay:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, event: Any) -> None:  # a driftloop.train.sweep.SweepEvent
        fields: dict[str, Any] = {}
        if event.kind == "stage":
            self.progress.update(self.task_id, completed=1.0, stage=event.message)
            return
        if event.max_trials:
            done = min(1.0, max(event.completed / event.max_trials, event.elapsed / event.budget))
        else:
            done = min(1.0, event.elapsed / event.budget)
        fields["trials"] = f"{event.completed} trials" + (f"/{event.max_trials}" if event.max_trials else "")
        if event.trial is not None and event.kind == "trial_started":
            fields["stage"] = f"trial {event.trial.index} {event.trial.family}"
        if event.best is not None:
            fields["best"] = f"best {event.best.cv_mean:.4f} ({event.best.family} #{event.best.index})"
        self.progress.update(self.task_id, completed=done, **fields)


TaskOption = Annotated[Task | None, typer.Option(help="binary, multiclass or regression (default: detected).")]


@handle_errors
def train(
    data: Annotated[Path, typer.Option("--data", help="CSV, TSV or Parquet file.")],
    target: Annotated[str | None, typer.Option(help="Target column (or 'target' in --config).")] = None,
    name: Annotated[str | None, typer.Option(help="Model name in the registry (default: the file's stem).")] = None,
    task: TaskOption = None,
    time_budget: Annotated[float | None, typer.Option(help="Seconds of search (default 60).")] = None,
    metric: Annotated[str | None, typer.Option(help="roc_auc, log_loss, f1 | r2, rmse, mae.")] = None,
    registry: RegistryOption = None,
    config: Annotated[Path | None, typer.Option(help="YAML training configuration.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of splits, candidates and estimators.")] = None,
    max_trials: Annotated[int | None, typer.Option(help="Stop after this many trials.")] = None,
    n_jobs: Annotated[int | None, typer.Option(help="CPU threads per fit (default 1).")] = None,
    as_json: Annotated[bool, typer.Option("--json/--no-json", help="Print the result as JSON (no tables).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet/--no-quiet", "-q", help="No progress display.")] = False,
) -> None:
    """Sweep candidate pipelines, gate the best on ONNX parity and register it."""
    from driftloop.train.config import load_config
    from driftloop.train.run import train_file

    require_file(data, "--data")
    settings = load_config(config).with_overrides(
        task=task, time_budget=time_budget, metric=metric, seed=seed, max_trials=max_trials, n_jobs=n_jobs
    )
    store = registry_at(registry)
    model_name = name or data.stem.split(".")[0]
    if quiet or as_json:
        result = train_file(data, target, config=settings, name=model_name, registry=store, trigger="cli")
    else:
        with SweepDisplay(err) as display:
            result = train_file(
                data, target, config=settings, name=model_name, registry=store, trigger="cli", progress=display
            )
    if as_json:
        print_json(training_summary(result))
        return
    if not quiet:
        show_training(result.documents["metrics"], store, model_name, result.bundle.version if result.bundle else None)
    else:
        out.print(f"{model_name}@{result.bundle.version if result.bundle else '?'}")


def require_file(path: Path, option: str) -> None:
    """Checked before any work starts (and before a progress display draws over the error)."""
    if not path.is_file():
        raise DataError(f"{option} {path}: no such file", details={"field": option.lstrip("-")})


def show_training(metrics: dict[str, Any], store: Registry, name: str, version: int | None) -> None:
    out.print(leaderboard_table(metrics))
    out.print(holdout_table(metrics))
    if version is not None:
        out.print(f"registered [bold]{name}@{version}[/] in {store.root}")
        out.print(versions_table(store, name))


def training_summary(result: Any) -> dict[str, Any]:
    """The JSON of ``--json``: where the bundle is, the winner, holdout and parity, the leaderboard."""
    metrics = result.documents["metrics"]
    bundle = result.bundle
    return {
        "model": bundle.name if bundle else None,
        "version": bundle.version if bundle else None,
        "path": str(bundle.path) if bundle else None,
        "task": metrics["task"],
        "metric": metrics["metric"],
        "winner": metrics["winner"],
        "holdout": metrics["holdout"],
        "parity": metrics["parity"],
        "sweep": metrics["sweep"],
        "leaderboard": metrics["leaderboard"],
    }
