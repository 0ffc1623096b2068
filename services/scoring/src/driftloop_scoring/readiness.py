"""Scoring's readiness, with its reason: no model yet, a model not loaded (and why), the bus not started.

``GET /v2/health/ready`` answers 200 ``{"ready": true, "models": {...}}`` or 503 with ``reason``
``no_model``, ``model_not_loaded`` or ``bus_not_started`` and a message saying what to do; the
chart's readiness probe reads only the status. Each change is logged once (driftloop.http.health).
"""

from __future__ import annotations

from typing import Any

from driftloop.errors import NotFoundError
from driftloop.http.health import Readiness

from .endpoints import model_version
from .service import ScoringService


def readiness(service: ScoringService) -> Readiness:
    store = service.store
    names = store.names()
    expected = sorted(set(names) | set(store.champions))
    models: dict[str, Any] = {}
    for name in expected:
        runtime = store.champions.get(name)
        if runtime is not None:
            models[name] = {"ready": True, "version": runtime.version}
        else:
            models[name] = {"ready": False, "reason": store.refusals.get(name, "not loaded yet")}
    if not store.champions and not store.registry.models():
        root = store.registry.root
        poll = service.settings.registry.poll_interval_s
        when = f"it is loaded within {poll:g} s" if poll > 0 else "restart the service to load it (polling is off)"
        message = (
            f"no model in the registry at {root} yet: register one (driftloop train --registry {root}, "
            f"or the chart's seed.enabled); {when}"
        )
        return Readiness(False, "no_model", message, {"models": {}})
    missing = [name for name, model in models.items() if not model["ready"]]
    if missing:
        message = "; ".join(f"{name}: {models[name]['reason']}" for name in missing)
        return Readiness(False, "model_not_loaded", f"not loaded: {message}", {"models": models})
    if service.settings.telemetry and service.publisher is None:
        message = "the telemetry publisher has not started (see the service log for the bus)"
        return Readiness(False, "bus_not_started", message, {"models": models})
    return Readiness(True, details={"models": models})


def model_is_ready(service: ScoringService, name: str, version: str | None) -> bool:
    """Whether ``name`` (at ``version``, when given) is loaded and serving; NotFoundError if it is not served here."""
    runtime = service.store.champions.get(name)
    if runtime is None and name not in service.store.names():
        raise NotFoundError(f"model {name!r} is not served here")
    return runtime is not None and (version is None or model_version(version) == runtime.version)
