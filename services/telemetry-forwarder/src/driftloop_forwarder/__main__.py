"""``python -m driftloop_forwarder``: serve the telemetry forwarder (what its container image runs).

Settings come from the environment (``DRIFTLOOP_*``); the port defaults to 8082.
``driftloop serve forwarder --host --port`` overrides the address.
"""

from __future__ import annotations

from driftloop.cli.launch import exit_on_error, serve_one_process
from driftloop_forwarder.app import create_app
from driftloop_forwarder.settings import ForwarderSettings

WHY_ONE_PROCESS = "its drift windows and rules live in its memory, and several consumers would each see part of the bus"


def main(host: str | None = None, port: int | None = None, workers: int | None = None) -> None:
    serve_one_process(
        ForwarderSettings,
        "telemetry-forwarder",
        create_app,
        host=host,
        port=port,
        workers=workers,
        why_one_process=WHY_ONE_PROCESS,
    )


if __name__ == "__main__":
    exit_on_error(main)
