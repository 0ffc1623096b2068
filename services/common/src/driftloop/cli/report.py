"""``driftloop report``: one model's dashboard as a self-contained HTML file (works offline)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from driftloop.cli.common import RegistryOption, err, handle_errors, out, registry_at


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

    url = store or _store_url()
    written = write_report(
        url,
        registry_at(registry),
        model,
        out_path,
        since=parse_time(since, "--since"),
        until=parse_time(until, "--until"),
    )
    err.print(f"report for {model} written ({written.stat().st_size / 1e6:.1f} MB, opens offline)")
    out.print(str(written))


def _store_url() -> str:
    from pydantic_settings import BaseSettings, SettingsConfigDict

    from driftloop.store.settings import StoreSettings

    class _Env(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="DRIFTLOOP_", env_nested_delimiter="__", extra="ignore")
        store: StoreSettings = StoreSettings()

    return _Env().store.url
