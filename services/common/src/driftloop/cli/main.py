"""``driftloop``: train, registry, serve, up, demo, report."""

from __future__ import annotations

import typer

from driftloop.cli import registry
from driftloop.cli.backtest import backtest
from driftloop.cli.demo import demo
from driftloop.cli.report import report
from driftloop.cli.serve import serve
from driftloop.cli.train import train
from driftloop.cli.up import up

app = typer.Typer(
    name="driftloop",
    help="Train tabular models to ONNX, serve them, watch them, retrain them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
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
