"""What every service's ``__main__`` shares: settings from the environment, warnings, one-line failures.

``python -m driftloop_<x>`` (what a container runs) and ``driftloop serve <x>`` both call the
service's ``main(host, port, workers)``: the options override ``DRIFTLOOP_HOST``, ``DRIFTLOOP_PORT``
and (scoring) ``DRIFTLOOP_WORKERS``. No typer here: the images run these without the CLI.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from driftloop.errors import ConfigError, DriftloopError
from driftloop.logging import configure_logging
from driftloop.settings import ServiceSettings, known_setting_names, load_settings, unknown_variables

logger = logging.getLogger(__name__)
SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


def service_settings(cls: type[SettingsT], service: str) -> SettingsT:
    """The service's settings from the environment, its logging configured, unknown variables warned about."""
    settings = load_settings(cls)
    configure_logging(service, settings.log.level, settings.log.json_logs)
    for warning in unknown_variables(known_setting_names(cls)):
        logger.warning(warning)
    return settings


def serve_one_process(
    cls: type[SettingsT],
    service: str,
    create_app: Callable[[SettingsT], Any],
    *,
    host: str | None,
    port: int | None,
    workers: int | None,
    why_one_process: str,
) -> None:
    """Run a service that keeps its state in one process: ``workers`` above 1 is refused, saying why."""
    if workers is not None and workers > 1:
        raise ConfigError(f"--workers {workers}: the {service} service runs as one process: {why_one_process}")
    settings = service_settings(cls, service)
    import uvicorn

    # log_config=None keeps the JSON logging configured above instead of uvicorn's own.
    uvicorn.run(
        create_app(settings),
        host=settings.host if host is None else host,
        port=settings.port if port is None else port,
        log_config=None,
        access_log=False,
    )


def exit_on_error(main: Callable[[], None]) -> None:
    """``python -m`` entry: a DriftloopError (bad settings, refused options) is one line and exit status 2 or 1."""
    try:
        main()
    except DriftloopError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        sys.exit(2 if exc.status_code == 400 else 1)
