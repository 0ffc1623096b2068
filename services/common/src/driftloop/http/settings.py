"""Settings groups of the HTTP edge that every service shares (``DRIFTLOOP_LIMITS__*``, ``DRIFTLOOP_AUTH__*``)."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

from .auth import split_keys

DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024


class BodyLimits(BaseModel):
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1024)
    """Largest request body accepted (bigger bodies get a 413, refused while they are read)."""


class ApiKeys(BaseModel):
    api_keys: SecretStr = SecretStr("")
    """Comma-separated API keys for the data routes and the OpenAPI document (empty: open)."""

    @property
    def api_key_list(self) -> list[str]:
        return split_keys(self.api_keys.get_secret_value())
