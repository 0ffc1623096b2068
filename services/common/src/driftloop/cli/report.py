"""``driftloop report``: one model's dashboard as a self-contained HTML file (works offline).

A report only reads: with no store, or a store the forwarder never wrote, it says so in one line
and creates nothing (opening a missing SQLite file would create an empty one).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from driftloop.cli.common import RegistryOption, err, handle_errors, out, registry_at
from driftloop.errors import ConfigError, NotFoundError

if TYPE_CHECKING:
    from sqlalchemy import Engine

STORE_WRITER = "the telemetry forwarder writes it (driftloop up, or driftloop serve forwarder); or pass --store URL"


@handle_errors
def report(
    model: Annotated[str, typer.Option("--model", help="The model to report on.")],
    out_path: Annotated[Path, typer.Option("--out", help="The HTML file to write.")] = Path("report.html"),
    since: Annotated[
        str | None,
        typer.Option(help="Start: ISO 8601 time or a duration back from now (6h, 7d); default: first prediction."),
    ] = None,
    until: Annotated[str | None, typer.Option(help="End: ISO 8601 time; default: last prediction.")] = None,
    store: Annotated[
        str | None,
        typer.Option("--store", help="Store URL (default: $DRIFTLOOP_STORE__URL, else sqlite:///.driftloop/store.db)."),
    ] = None,
    registry: RegistryOption = None,
) -> None:
    """Write one model's charts (traffic, latency, predictions, drift, performance, versions) to an HTML file."""
    from driftloop.report import parse_time, write_report

    start, end = parse_time(since, "--since"), parse_time(until, "--until")
    models = registry_at(registry)
    if not models.versions(model):
        raise NotFoundError(f"model {model!r} is not in the registry at {models.root}", details={"field": "model"})
    engine = open_store(store or _store_url())
    try:
        written = write_report(engine, models, model, out_path, since=start, until=end)
    finally:
        engine.dispose()
    err.print(f"report for {model} written ({written.stat().st_size / 1e6:.1f} MB, opens offline)")
    out.print(str(written))


def open_store(url: str) -> Engine:
    """An engine on an existing store with driftloop's schema, or a one-line error; nothing is created."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from driftloop.store.engine import make_engine
    from driftloop.store.migrate import current_revision
    from driftloop.store.settings import StoreSettings

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"--store {url!r} is not a database URL", details={"field": "store"}) from None
    shown = parsed.render_as_string(hide_password=True)
    database = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if database is not None and database != ":memory:" and not Path(database).is_file():
        raise NotFoundError(f"no store at {database}: {STORE_WRITER}", details={"field": "store"})
    engine = make_engine(StoreSettings(url=url))
    try:
        revision = current_revision(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise ConfigError(f"cannot read the store at {shown}: {reason}", details={"field": "store"}) from None
    if revision is None:
        engine.dispose()
        raise NotFoundError(f"the store at {shown} has no driftloop tables: {STORE_WRITER}", details={"field": "store"})
    return engine


def _store_url() -> str:
    from pydantic_settings import BaseSettings, SettingsConfigDict

    from driftloop.settings import load_settings
    from driftloop.store.settings import StoreSettings

    class _Env(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="DRIFTLOOP_", env_nested_delimiter="__", extra="ignore")
        store: StoreSettings = StoreSettings()

    return load_settings(_Env).store.url
