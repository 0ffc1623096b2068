"""``python -m driftloop_forwarder``: serve the telemetry forwarder (what its container image runs).

Settings come from the environment (``DRIFTLOOP_*``); the port defaults to 8082.
"""

from __future__ import annotations

import uvicorn

from driftloop.logging import configure_logging
from driftloop_forwarder.app import create_app
from driftloop_forwarder.settings import ForwarderSettings


def main() -> None:
    settings = ForwarderSettings()
    configure_logging("telemetry-forwarder", settings.log.level, settings.log.json_logs)
    # log_config=None keeps the JSON logging configured above instead of uvicorn's own.
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
