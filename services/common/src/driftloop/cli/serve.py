"""``driftloop serve SERVICE [--host] [--port] [--workers]``: run one service in the foreground.

The services are separate packages (the scoring image carries no scikit-learn), so each is
imported only when asked for, and a missing one is a clear error rather than an ImportError.
Each service's ``main(host, port, workers)`` reads its ``DRIFTLOOP_*`` settings, warns about
unknown variables in its own log format, and lets the options given here win over the environment.
"""

from __future__ import annotations

import importlib
from enum import StrEnum
from typing import Annotated

import typer

from driftloop.cli.common import handle_errors
from driftloop.errors import ConfigError


class Service(StrEnum):
    scoring = "scoring"
    features = "features"
    forwarder = "forwarder"
    controller = "controller"


PACKAGES = {
    Service.scoring: ("driftloop_scoring", "driftloop-scoring"),
    Service.features: ("driftloop_features", "driftloop-features"),
    Service.forwarder: ("driftloop_forwarder", "driftloop-forwarder"),
    Service.controller: ("driftloop_controller", "driftloop-controller"),
}


@handle_errors
def serve(
    service: Annotated[Service, typer.Argument(help="Which service to run.")],
    host: Annotated[
        str | None, typer.Option("--host", help="Address to listen on (overrides $DRIFTLOOP_HOST; default 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            min=0,
            max=65535,
            help="Port to listen on (overrides $DRIFTLOOP_PORT; default: scoring 8080, features 8081, "
            "forwarder 8082, controller 8083).",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="Worker processes (overrides $DRIFTLOOP_WORKERS; default 1). Scoring only: "
            "the other services keep their state in one process and refuse more.",
        ),
    ] = None,
) -> None:
    """Run a service in the foreground; options override the DRIFTLOOP_* environment."""
    module_name, distribution = PACKAGES[service]
    try:
        module = importlib.import_module(f"{module_name}.__main__")
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise ConfigError(f"the {service} service is not installed: pip install {distribution}") from None
    module.main(host=host, port=port, workers=workers)
