"""What every command shares: consoles, the registry location, and errors without stack traces."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from driftloop.errors import DriftloopError
from driftloop.registry import Registry
from driftloop.settings import ServiceSettings, known_setting_names, load_settings, unknown_variables

P = ParamSpec("P")
R = TypeVar("R")

# Results go to stdout (tables, or JSON with --json); progress and errors go to stderr, so that
# `driftloop train --json ... | jq` sees only the result.
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


REGISTRY_HELP = "Registry directory (default: $DRIFTLOOP_REGISTRY__PATH, else .driftloop/registry)."
RegistryOption = Annotated[Path | None, typer.Option("--registry", help=REGISTRY_HELP)]


def registry_at(path: Path | None) -> Registry:
    """``--registry`` if given, else DRIFTLOOP_REGISTRY__PATH, else .driftloop/registry."""
    return Registry(path if path is not None else load_settings(ServiceSettings).registry.path)


def warn_about_environment() -> None:
    """A warning on stderr for each ``DRIFTLOOP_*`` variable that no driftloop setting reads."""
    for warning in unknown_variables(known_setting_names(ServiceSettings)):
        err.print(f"[bold yellow]warning:[/] {escape(warning)}", soft_wrap=True)


def print_json(data: Any) -> None:
    # Plain print of one JSON document (no rich markup or wrapping), so pipes can parse it.
    out.print_json(json.dumps(data, default=str), indent=2, highlight=False)


def handle_errors(command: Callable[P, R]) -> Callable[P, R]:
    """A DriftloopError becomes its message on stderr and a non-zero exit, never a traceback.

    So does an OSError (a file that cannot be read or written, a port in use): its message names
    the path. Anything else is a bug and keeps its traceback.
    """

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except DriftloopError as exc:
            _fail(exc.message, exc.to_dict() if kwargs.get("as_json") else None)
            raise typer.Exit(code=2 if exc.status_code == 400 else 1) from None
        except OSError as exc:
            _fail(str(exc), {"error": {"code": "os_error", "message": str(exc)}} if kwargs.get("as_json") else None)
            raise typer.Exit(code=1) from None

    return wrapper


def _fail(message: str, as_json: dict[str, Any] | None) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    if as_json is not None:
        print_json(as_json)
