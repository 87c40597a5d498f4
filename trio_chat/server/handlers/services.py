"""What the built-in services (NickServ, ChanServ) share: reading a command from a message, and HELP."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..context import Context

ServiceCommand = Callable[[Context, list[str]], None]
Notice = Callable[[Context, str], None]


def run_command(ctx: Context, text: str, commands: Mapping[str, ServiceCommand], notice: Notice, short: str) -> None:
    """``text`` sent to a service: its first word picks the command (any case), the rest are its arguments;
    nothing at all shows the help."""
    words = text.split()
    if not words:
        commands["HELP"](ctx, [])
        return
    command = commands.get(words[0].upper())
    if command is None:
        notice(ctx, f"Unknown command. To see the available commands, run: /{short} HELP")
        return
    command(ctx, words[1:])


def show_help(
    ctx: Context,
    args: list[str],
    table: Mapping[str, tuple[str, str]],
    notice: Notice,
    *,
    name: str,
    short: str,
    intro: str,
) -> None:
    """``HELP``: every command's syntax, or one command's syntax and description."""
    if args:
        entry = table.get(args[0].upper())
        if entry is None:
            notice(ctx, f"Unknown command. To see the available commands, run: /{short} HELP")
            return
        notice(ctx, f"Syntax: {entry[0]}")
        notice(ctx, entry[1])
        return
    notice(ctx, intro)
    for syntax, _ in table.values():
        notice(ctx, f"  {syntax}")
    notice(ctx, f"For details: /msg {name} HELP <command>")
