"""``driftloop``: train, registry, serve, up, demo, report, backtest."""

from __future__ import annotations

from typing import Annotated

import typer

from driftloop.cli import registry
from driftloop.cli.backtest import backtest
from driftloop.cli.common import warn_about_environment
from driftloop.cli.demo import demo
from driftloop.cli.group import DriftloopGroup
from driftloop.cli.report import report
from driftloop.cli.serve import serve
from driftloop.cli.train import train
from driftloop.cli.up import up

app = typer.Typer(
    name="driftloop",
    cls=DriftloopGroup,
    help="Train tabular models to ONNX, serve them, watch them, retrain them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
)

# Commands that read no settings, and serve, whose service warns in its own log format.
NO_ENVIRONMENT_CHECK = {"version", "serve"}


def _print_version(value: bool) -> None:
    if value:
        from driftloop import __version__

        typer.echo(f"driftloop {__version__}")
        raise typer.Exit()


@app.callback()
def driftloop(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option("--version", is_eager=True, callback=_print_version, help="Print the version and exit."),
    ] = False,
) -> None:
    """Train tabular models to ONNX, serve them, watch them, retrain them."""
    if ctx.invoked_subcommand not in NO_ENVIRONMENT_CHECK:
        warn_about_environment()


app.command()(train)
app.add_typer(registry.app, name="registry")
app.command()(demo)
app.command()(serve)
app.command()(up)
app.command()(report)
app.command()(backtest)


@app.command()
def version() -> None:
    """Print the driftloop version."""
    from driftloop import __version__

    typer.echo(__version__)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
