"""Readiness that says why: ``{"ready": false, "reason": <code>, "message": <what to do>, ...}`` with a 503.

A probe only sees the status (200 ready, 503 not); a person reading the body or the log sees the
reason, a stable code for it, and what to do about it. :class:`ReadinessLog` writes one WARNING
line each time the answer changes (not ready for a new reason, or ready again), so that the log
says when and why a pod left or joined its Service without a line per probe.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from fastapi.responses import JSONResponse


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reason: str = ""
    """A stable code for why not (``no_model``, ``model_not_loaded``, ...); empty when ready."""
    message: str = ""
    """What is missing and what to do about it."""
    details: dict[str, Any] = field(default_factory=dict)
    """More fields of the body (e.g. ``models``)."""

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ready": self.ready}
        if not self.ready:
            body["reason"] = self.reason
            body["message"] = self.message
        return {**body, **self.details}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=200 if self.ready else 503)


class ReadinessLog:
    """Logs one WARNING line on each change of the readiness (``(ready, reason)``), none per probe."""

    def __init__(self, logger: logging.Logger, service: str) -> None:
        self.logger = logger
        self.service = service
        self._last: tuple[bool, str] | None = None

    def observe(self, readiness: Readiness) -> Readiness:
        state = (readiness.ready, readiness.reason)
        if state != self._last:
            first = self._last is None
            self._last = state
            if not readiness.ready:
                self.logger.warning("%s is not ready (%s): %s", self.service, readiness.reason, readiness.message)
            elif not first:
                self.logger.warning("%s is ready again", self.service)
        return readiness
