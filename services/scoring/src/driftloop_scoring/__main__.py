"""``python -m driftloop_scoring``: serve with uvicorn, uvloop and httptools (what the container image runs)."""

from __future__ import annotations

import logging

import uvicorn

from .settings import ScoringSettings


class _NoHealthProbes(logging.Filter):
    """Mutes access-log lines of the health probes (Kubernetes calls them every few seconds)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "/v2/health/" not in record.getMessage()


def main() -> None:
    settings = ScoringSettings()
    logging.getLogger("uvicorn.access").addFilter(_NoHealthProbes())
    uvicorn.run(
        "driftloop_scoring.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=settings.access_log,
    )


if __name__ == "__main__":
    main()
