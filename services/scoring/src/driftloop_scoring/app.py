"""Scoring service application (placeholder until its issue lands: health only)."""

from __future__ import annotations

from fastapi import FastAPI

from driftloop import __version__
from driftloop.settings import ServiceSettings


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings or ServiceSettings()
    app = FastAPI(title="driftloop scoring", version=__version__)
    app.state.settings = settings

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
