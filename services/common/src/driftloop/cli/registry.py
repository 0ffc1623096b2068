"""``driftloop registry list | show | promote | rollback``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from driftloop.cli.common import RegistryOption, handle_errors, out, print_json, registry_at
from driftloop.cli.group import DriftloopGroup
from driftloop.cli.render import bundle_table, models_table, versions_table
from driftloop.errors import NotFoundError
from driftloop.registry import CHAMPION, Bundle, Registry

app = typer.Typer(
    cls=DriftloopGroup, help="Registered model versions and their aliases.", no_args_is_help=True, rich_markup_mode=None
)

JsonOption = Annotated[bool, typer.Option("--json/--no-json", help="Print JSON instead of tables.")]


@app.command("list")
@handle_errors
def list_models(
    name: Annotated[str | None, typer.Argument(help="A model: list its versions.")] = None,
    registry: RegistryOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every model with its champion, or every version of one model."""
    store = registry_at(registry)
    if name is not None:
        _require_model(store, name)
        if as_json:
            print_json({"model": name, "aliases": store.aliases(name), "versions": _versions(store, name)})
        else:
            out.print(versions_table(store, name))
        return
    if as_json:
        print_json({"registry": str(store.root), "models": [_model(store, model) for model in store.models()]})
    elif not store.models():
        out.print(f"no models in {store.root} yet: train one with `driftloop train --data FILE --target COLUMN`")
    else:
        out.print(models_table(store))


@app.command()
@handle_errors
def show(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@VERSION or NAME@ALIAS (default alias: champion).")],
    registry: RegistryOption = None,
    as_json: JsonOption = False,
) -> None:
    """One version: contract, winner, holdout metrics, parity, lineage."""
    store = registry_at(registry)
    bundle = store.get(ref)
    if as_json:
        print_json(_bundle(store, bundle))
    else:
        out.print(bundle_table(store, bundle))


@app.command()
@handle_errors
def promote(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[int, typer.Argument(help="Version to point the alias at.")],
    alias: Annotated[str, typer.Option(help="Alias to move.")] = CHAMPION,
    registry: RegistryOption = None,
    as_json: JsonOption = False,
) -> None:
    """Point an alias (champion by default) at a version."""
    store = _require_model(registry_at(registry), name)
    previous = store.set_alias(name, alias, version, reason="promote (cli)")
    _report_move(name, alias, previous, version, as_json)


@app.command()
@handle_errors
def rollback(
    name: Annotated[str, typer.Argument(help="Model name.")],
    alias: Annotated[str, typer.Option(help="Alias to move back.")] = CHAMPION,
    registry: RegistryOption = None,
    as_json: JsonOption = False,
) -> None:
    """Move an alias back to the version it pointed at before."""
    store = _require_model(registry_at(registry), name)
    current = store.aliases(name).get(alias)
    version = store.rollback(name, alias, reason="rollback (cli)")
    _report_move(name, alias, current, version, as_json)


def _require_model(store: Registry, name: str) -> Registry:
    # Checked first: moving an alias of a model that is not there would leave its directory behind.
    if not store.versions(name):
        raise NotFoundError(f"model {name!r} is not in the registry at {store.root}", details={"field": "name"})
    return store


def _report_move(name: str, alias: str, previous: int | None, version: int, as_json: bool) -> None:
    if as_json:
        print_json({"model": name, "alias": alias, "previous": previous, "version": version})
    else:
        before = f" (was {previous})" if previous is not None else ""
        out.print(f"{name}@{alias} → version {version}{before}")


def _model(store: Registry, name: str) -> dict[str, Any]:
    return {"model": name, "aliases": store.aliases(name), "versions": store.versions(name)}


def _versions(store: Registry, name: str) -> list[dict[str, Any]]:
    return [_bundle(store, store.resolve(name, version), documents=False) for version in store.versions(name)]


def _bundle(store: Registry, bundle: Bundle, *, documents: bool = True) -> dict[str, Any]:
    metrics, lineage = bundle.document("metrics"), bundle.document("lineage")
    data: dict[str, Any] = {
        "model": bundle.name,
        "version": bundle.version,
        "aliases": sorted(a for a, v in store.aliases(bundle.name).items() if v == bundle.version),
        "path": str(bundle.path),
        "task": metrics.get("task"),
        "metric": metrics.get("metric"),
        "winner": {k: metrics["winner"].get(k) for k in ("trial", "family", "params", "cv_mean", "cv_std")},
        "holdout": metrics.get("holdout"),
        "parity": metrics.get("parity"),
        "lineage": lineage,
    }
    if documents:
        data["contract"] = bundle.contract.model_dump(mode="json")
    return data
