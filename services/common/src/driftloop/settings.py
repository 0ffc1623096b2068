"""Settings shared by every service: pydantic-settings, env prefix ``DRIFTLOOP_``, groups with ``__``.

Each service defines its own ``Settings`` subclass with its groups; embedded defaults need no
configuration at all. Settings are built in ``create_app`` (or by the command line), never at
import time, so that tests pass their own.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_HOME = Path(".driftloop")


class RegistrySettings(BaseModel):
    path: Path = Field(default=DEFAULT_HOME / "registry")
    """Directory of the model registry (a shared volume in a cluster)."""


class LogSettings(BaseModel):
    level: str = "INFO"
    """Log level of the service."""
    json_logs: bool = True
    """One JSON object per log line (off: plain text for a terminal)."""


class ServiceSettings(BaseSettings):
    """Base of every service's settings."""

    model_config = SettingsConfigDict(env_prefix="DRIFTLOOP_", env_nested_delimiter="__", extra="ignore")

    host: str = "127.0.0.1"
    """Address the service listens on."""
    port: int = 8000
    """Port the service listens on."""
    registry: RegistrySettings = Field(default_factory=RegistrySettings)
    """Where model bundles are read from and written to."""
    log: LogSettings = Field(default_factory=LogSettings)
    """Logging."""
