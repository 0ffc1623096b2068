"""``python -m driftloop_controller``: serve the retrain-controller (what its container image runs).

Settings come from the environment (``DRIFTLOOP_*``); the port defaults to the service's own, 8083.
"""

from __future__ import annotations

import uvicorn

from driftloop.logging import configure_logging
from driftloop_controller.app import create_app
from driftloop_controller.settings import ControllerSettings


def main() -> None:
    settings = ControllerSettings()
    configure_logging("retrain-controller", settings.log.level, settings.log.json_logs)
    # log_config=None keeps the JSON logging configured above instead of uvicorn's own.
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
