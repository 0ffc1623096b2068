"""Errors of the scoring service, all under driftloop's one error root (status code + code)."""

from __future__ import annotations

from driftloop.errors import (
    DriftloopError,
    InvalidInputError,
    MalformedRequestError,
    PayloadTooLargeError,
    UnavailableError,
)

__all__ = [
    "BundleRefusedError",
    "MalformedRequestError",
    "ModelNotReadyError",
    "PayloadTooLargeError",
    "RecordValidationError",
]


class RecordValidationError(InvalidInputError):
    """Records that do not satisfy the model's contract; ``details`` name record, column and reason."""

    code = "invalid_records"


class ModelNotReadyError(UnavailableError):
    code = "model_not_ready"


class BundleRefusedError(DriftloopError):
    """A bundle that failed to load or whose contract is incompatible: the old model keeps serving."""

    status_code = 409
    code = "bundle_refused"
