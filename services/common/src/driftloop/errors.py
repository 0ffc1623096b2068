"""The one error root of driftloop.

Every error a user can cause carries an HTTP status and a machine-readable code, so that one
handler per service renders ``{"error": {"code", "message", "details"}}`` and the command line
prints the same message without a stack trace.
"""

from __future__ import annotations

from typing import Any


class DriftloopError(Exception):
    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return {"error": body}


class InvalidInputError(DriftloopError):
    """A request or a file that does not satisfy its contract."""

    status_code = 422
    code = "invalid_input"


class DataError(InvalidInputError):
    """A training dataset that cannot be used as it is (names the column and the reason)."""

    code = "invalid_data"


class ConfigError(DriftloopError):
    status_code = 400
    code = "invalid_config"


class NotFoundError(DriftloopError):
    status_code = 404
    code = "not_found"


class ConflictError(DriftloopError):
    status_code = 409
    code = "conflict"


class TrainingError(DriftloopError):
    """Training could not produce a model that may be registered (e.g. every candidate failed parity)."""

    status_code = 422
    code = "training_failed"


class MalformedRequestError(DriftloopError):
    """A body that is not JSON, or not the JSON shape a route expects."""

    status_code = 400
    code = "malformed_request"


class UnauthorizedError(DriftloopError):
    status_code = 401
    code = "unauthorized"


class PayloadTooLargeError(DriftloopError):
    """A body, or a batch, over the service's configured limit."""

    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaTypeError(DriftloopError):
    """A body that is not declared ``application/json`` on a JSON route."""

    status_code = 415
    code = "unsupported_media_type"


class UnavailableError(DriftloopError):
    status_code = 503
    code = "unavailable"
