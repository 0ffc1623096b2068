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
from driftloop.settings import ServiceSettings

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
    return Registry(path if path is not None else ServiceSettings().registry.path)


def print_json(data: Any) -> None:
    # Plain print of one JSON document (no rich markup or wrapping), so pipes can parse it.
    out.print_json(json.dumps(data, default=str), indent=2, highlight=False)


def handle_errors(command: Callable[P, R]) -> Callable[P, R]:
    """A DriftloopError becomes its message on stderr and a non-zero exit, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except DriftloopError as exc:
            err.print(f"[bold red]error:[/] {escape(exc.message)}", soft_wrap=True)
            if kwargs.get("as_json"):
                print_json(exc.to_dict())
            raise typer.Exit(code=2 if exc.status_code == 400 else 1) from None

    return wrapper
