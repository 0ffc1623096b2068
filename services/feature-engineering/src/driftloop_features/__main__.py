"""``python -m driftloop_features``: serve the feature-engineering service (what its container image runs).

Settings come from the environment (``DRIFTLOOP_*``, see ``driftloop_features.settings``); the port
defaults to the service's own, 8081, so the four services can share one machine untouched.
"""

from __future__ import annotations

import uvicorn

from driftloop.logging import configure_logging
from driftloop_features.app import create_app
from driftloop_features.settings import FeaturesSettings


def main() -> None:
    settings = FeaturesSettings()
    configure_logging("feature-engineering", settings.log.level, settings.log.json_logs)
    # log_config=None keeps the JSON logging configured above instead of uvicorn's own.
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
