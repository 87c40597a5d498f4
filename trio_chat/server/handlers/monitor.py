"""MONITOR (IRCv3): tell a client when the nicks it watches come online or go offline.

The index lives in the network (``Network.monitors``, folded nick -> watchers) so that registration, nick changes
and quits find the watchers of a nick in one look-up; the notifications themselves are sent from there.
"""

from __future__ import annotations

from collections.abc import Iterable

from ...protocol import numerics as N
from ...protocol.casemap import casefold
from ...protocol.message import Message
from ...protocol.names import is_valid_nick
from ..context import Context

LIST_BUDGET = 400
"""Characters of targets per 730-732 line: with the prefix, the numeric and the nick it stays under 512 bytes."""


def handle_monitor(ctx: Context, msg: Message) -> None:
    sub = msg.params[0]
    if sub in ("+", "-"):
        if len(msg.params) < 2 or not msg.params[1]:
            ctx.need_more_params("MONITOR")
            return
        targets = [t for t in msg.params[1].split(",") if t]
        if sub == "+":
            _add(ctx, targets)
        else:
            for target in targets:
                ctx.network.monitor_remove(ctx.user, target)
    elif sub.upper() == "C":
        ctx.network.monitor_clear(ctx.user)
    elif sub.upper() == "L":
        listed = ctx.user.monitoring or {}
        _lists(ctx, N.RPL_MONLIST, listed.values())
        ctx.reply(N.RPL_ENDOFMONLIST, "End of MONITOR list")
    elif sub.upper() == "S":
        _status(ctx, list((ctx.user.monitoring or {}).values()))
    else:
        ctx.reply(N.ERR_UNKNOWNCOMMAND, "MONITOR", "Unknown MONITOR subcommand")


def _add(ctx: Context, targets: list[str]) -> None:
    """``MONITOR + a,b``: add each valid nick while the list has room, then say which are online and offline.

    A target that is not a nick (a mask) gets 432 and is not added; past ``monitor_limit`` the rest of the
    targets, as the client sent them, get one 734 and nothing more is added.
    """
    user, network = ctx.user, ctx.network
    limit = ctx.config.monitor_limit
    added: list[str] = []
    for i, target in enumerate(targets):
        if not is_valid_nick(target, ctx.config.nicklen):
            ctx.reply(N.ERR_ERRONEUSNICKNAME, target, "Erroneous nickname")
            continue
        present = user.monitoring is not None and casefold(target) in user.monitoring
        if not present and len(user.monitoring or ()) >= limit:
            ctx.reply(N.ERR_MONLISTFULL, str(limit), ",".join(targets[i:]), "Monitor list is full.")
            break
        network.monitor_add(user, target)
        added.append(target)
    _status(ctx, added)


def _status(ctx: Context, nicks: list[str]) -> None:
    """730 for the nicks online (as ``nick!user@host``), 731 for those offline (as given)."""
    online: list[str] = []
    offline: list[str] = []
    for nick in nicks:
        found = ctx.network.find_user(nick)
        if found is not None:
            online.append(found.source)
        else:
            offline.append(nick)
    _lists(ctx, N.RPL_MONONLINE, online)
    _lists(ctx, N.RPL_MONOFFLINE, offline)


def _lists(ctx: Context, numeric: str, items: Iterable[str]) -> None:
    """``numeric`` with ``items`` joined by commas, as many lines as it takes to stay within LIST_BUDGET."""
    chunk: list[str] = []
    size = 0
    for item in items:
        if chunk and size + len(item) + 1 > LIST_BUDGET:
            ctx.reply(numeric, ",".join(chunk))
            chunk, size = [], 0
        chunk.append(item)
        size += len(item) + 1
    if chunk:
        ctx.reply(numeric, ",".join(chunk))
