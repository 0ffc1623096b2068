"""The command group every ``driftloop`` command runs in: plain help, one-line usage errors, strict flags.

What the tools next to it do (git, kubectl, pip): a mistake is one line on stderr and exit status 2,
and a boolean option is a flag (``--json`` / ``--no-json``) that takes no value, so
``--json true`` is refused instead of taking ``true`` as the next argument.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from rich.markup import escape
from typer import _click as click  # typer's own copy of click, the one its commands are built on
from typer.core import TyperGroup
from typer.exceptions import Abort

from driftloop.cli.common import err

BOOLEAN_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "1", "0", "y", "n", "t", "f"})


class DriftloopGroup(TyperGroup):
    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None and not isinstance(command, TyperGroup):
            refuse_flag_values(command, rest, f"{ctx.command_path} {name}")
        return name, command, rest

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        try:
            result = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()  # a bare `driftloop` or `driftloop registry`: the help, exit status 2
            sys.exit(exc.exit_code)
        except click.exceptions.UsageError as exc:
            hint = f" (see: {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
            _error(exc.format_message() + hint)
            sys.exit(exc.exit_code)
        except click.exceptions.ClickException as exc:
            _error(exc.format_message())
            sys.exit(exc.exit_code)
        except Abort:
            _error("aborted")
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


def refuse_flag_values(command: Any, args: list[str], command_path: str) -> None:
    """A usage error when a flag is followed by a boolean word (``--json true``)."""
    options = {name: param for param in command.params if param.param_type_name == "option"
               for name in (*param.opts, *param.secondary_opts)}  # fmt: skip
    position = 0
    while position < len(args) and args[position] != "--":
        param = options.get(args[position])
        following = args[position + 1] if position + 1 < len(args) else None
        if param is not None and not param.is_flag:
            position += 2  # the option and its value, whatever the value looks like
            continue
        if param is not None and following is not None and following.lower() in BOOLEAN_WORDS:
            spelled = " or ".join((*param.opts, *param.secondary_opts))
            raise click.exceptions.UsageError(
                f"{args[position]} is a flag and takes no value (got {following!r}): write {spelled} "
                f"(see: {command_path} --help)"
            )
        position += 1


def _error(message: str) -> None:
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
