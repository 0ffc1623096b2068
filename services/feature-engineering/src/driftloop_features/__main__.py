"""``python -m driftloop_features``: serve the feature-engineering service (what its container image runs).

Settings come from the environment (``DRIFTLOOP_*``, see ``driftloop_features.settings``); the port
defaults to the service's own, 8081, so the four services can share one machine untouched.
``driftloop serve features --host --port`` overrides the address.
"""

from __future__ import annotations

from driftloop.cli.launch import exit_on_error, serve_one_process
from driftloop_features.app import create_app
from driftloop_features.settings import FeaturesSettings

WHY_ONE_PROCESS = "its store migration at start is not safe to run from several processes at once"


def main(host: str | None = None, port: int | None = None, workers: int | None = None) -> None:
    serve_one_process(
        FeaturesSettings,
        "feature-engineering",
        create_app,
        host=host,
        port=port,
        workers=workers,
        why_one_process=WHY_ONE_PROCESS,
    )


if __name__ == "__main__":
    exit_on_error(main)
