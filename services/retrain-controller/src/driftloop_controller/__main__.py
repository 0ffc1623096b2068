"""``python -m driftloop_controller``: serve the retrain-controller (what its container image runs).

Settings come from the environment (``DRIFTLOOP_*``); the port defaults to the service's own, 8083.
``driftloop serve controller --host --port`` overrides the address.
"""

from __future__ import annotations

from driftloop.cli.launch import exit_on_error, serve_one_process
from driftloop_controller.app import create_app
from driftloop_controller.settings import ControllerSettings

WHY_ONE_PROCESS = "it runs retrain jobs one at a time from a queue in its own process"


def main(host: str | None = None, port: int | None = None, workers: int | None = None) -> None:
    serve_one_process(
        ControllerSettings,
        "retrain-controller",
        create_app,
        host=host,
        port=port,
        workers=workers,
        why_one_process=WHY_ONE_PROCESS,
    )


if __name__ == "__main__":
    exit_on_error(main)
