"""``driftloop serve SERVICE``: run one service in the foreground, configured by ``DRIFTLOOP_*``.

The services are separate packages (the scoring image carries no scikit-learn), so each is
imported only when asked for, and a missing one is a clear error rather than an ImportError.
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
def serve(service: Annotated[Service, typer.Argument(help="Which service to run.")]) -> None:
    """Run a service (host and port from DRIFTLOOP_HOST / DRIFTLOOP_PORT)."""
    module_name, distribution = PACKAGES[service]
    try:
        module = importlib.import_module(f"{module_name}.__main__")
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise ConfigError(f"the {service} service is not installed: pip install {distribution}") from None
    module.main()
