"""Settings shared by every service: pydantic-settings, env prefix ``DRIFTLOOP_``, groups with ``__``.

Each service defines its own ``Settings`` subclass with its groups; embedded defaults need no
configuration at all. Settings are built in ``create_app`` (or by the command line), never at
import time, so that tests pass their own. A ``DRIFTLOOP_*`` variable that no setting reads (a typo,
a renamed setting) is warned about at start (``unknown_variables``).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from driftloop.errors import ConfigError

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


# -- reading the environment ----------------------------------------------------------------

ENV_PREFIX = "DRIFTLOOP_"
NESTED_DELIMITER = "__"
SettingsT = TypeVar("SettingsT", bound=BaseSettings)


@dataclass(frozen=True)
class SettingNames:
    """The ``DRIFTLOOP_*`` names some settings read (upper case, as pydantic-settings ignores case)."""

    names: frozenset[str]
    """Every field and every group (a group may also be set whole, as JSON)."""
    open_prefixes: frozenset[str] = frozenset()
    """Prefixes under which any name is read: a mapping field takes its keys (``…__SOURCES__CREDIT``)."""

    def __or__(self, other: SettingNames) -> SettingNames:
        return SettingNames(self.names | other.names, self.open_prefixes | other.open_prefixes)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self.names or name.startswith(tuple(self.open_prefixes)))


def setting_names(model: type[BaseModel], prefix: str = ENV_PREFIX) -> SettingNames:
    """What ``model`` reads from the environment, nested groups included (``DRIFTLOOP_BUS__URL``)."""
    names: set[str] = set()
    open_prefixes: set[str] = set()
    for field_name, field in model.model_fields.items():
        name = f"{prefix}{field_name}".upper()
        names.add(name)
        annotation = field.annotation
        union = get_origin(annotation) in (Union, UnionType)
        for candidate in get_args(annotation) if union else (annotation,):  # X | None: look at X
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                inner = setting_names(candidate, name + NESTED_DELIMITER)
                names |= inner.names
                open_prefixes |= inner.open_prefixes
            elif get_origin(candidate) is dict or candidate is dict:
                open_prefixes.add(name + NESTED_DELIMITER)
    return SettingNames(frozenset(names), frozenset(open_prefixes))


def known_setting_names(model: type[BaseModel]) -> SettingNames:
    """What ``model`` reads, plus what every other driftloop service reads (``settings_catalogue``).

    The services share one configuration (the chart's ConfigMap, Compose's common block) but ship
    as separate images, so a name only another service reads is known, not a typo.
    """
    from driftloop import settings_catalogue

    return setting_names(model) | settings_catalogue.KNOWN


def unknown_variables(known: SettingNames, environ: Mapping[str, str] | None = None) -> list[str]:
    """One warning per ``DRIFTLOOP_*`` variable that no setting reads, with the closest known name."""
    environ = os.environ if environ is None else environ
    warnings = []
    for variable in sorted(environ):
        name = variable.upper()
        if not name.startswith(ENV_PREFIX) or name in known:
            continue
        close = difflib.get_close_matches(name, known.names, n=1, cutoff=0.8)
        hint = f"; did you mean {close[0]}?" if close else ""
        warnings.append(f"{variable} is set but no driftloop setting reads it{hint}")
    return warnings


def load_settings(cls: type[SettingsT]) -> SettingsT:
    """``cls()`` from the environment; an invalid value is a ConfigError naming the variable, not a traceback."""
    try:
        return cls()
    except ValidationError as exc:
        problems = [
            f"{ENV_PREFIX}{NESTED_DELIMITER.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors(include_url=False)
        ]
        raise ConfigError("invalid setting: " + "; ".join(problems), details={"errors": problems}) from None
    except SettingsError as exc:  # a group or a list set whole, as JSON that does not parse
        found = re.search(r'field "(\w+)"', str(exc))
        name = f"{ENV_PREFIX}{found.group(1).upper()}" if found else "a DRIFTLOOP_* variable"
        raise ConfigError(f"invalid setting: {name}: not valid JSON") from None
