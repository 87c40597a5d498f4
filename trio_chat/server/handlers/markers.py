"""``MARKREAD`` (IRCv3 ``draft/read-marker``): the last message an account has read in each target, so that
its other devices know.

Markers belong to accounts (a nick proves nothing): ``MARKREAD`` needs a login, and each account has one
marker per target (folded channel name or nick), kept in the store and loaded at start-up.  A marker only moves
forward, and never past the present: a set older than (or equal to) the stored one is answered with the stored
one and changes nothing; a change is sent to every connection of the account that negotiated the capability
(and always to the one that asked).  On JOIN a client with the capability gets ``MARKREAD #chan
timestamp=…`` (or ``*``) right after its JOIN, before the names.
"""

from __future__ import annotations

from ...protocol import caps
from ...protocol.casemap import casefold
from ...protocol.message import Message
from ...protocol.names import is_valid_channel, is_valid_nick
from ..context import Context
from ..state import Channel, Network, User
from .history import parse_time


def marker_line(network: Network, account: str | None, target: str) -> bytes:
    """``:server MARKREAD <target> timestamp=…`` (``*`` when the account has no marker there, or no account)."""
    ms = network.read_marker(casefold(account), casefold(target)) if account is not None else None
    shown = "*" if ms is None else "timestamp=" + network.format_time(ms)
    return Message("MARKREAD", (target, shown), network.config.server_name).to_bytes()


def marker_on_join(network: Network, user: User, channel: Channel) -> None:
    """After the JOIN, for a client that negotiated ``draft/read-marker``."""
    if caps.READ_MARKER in user.caps:
        network.deliver(user, marker_line(network, user.account, channel.name))


def _fail(ctx: Context, code: str, *params: str) -> None:
    shown = [p if p and p[0] != ":" and " " not in p else "*" for p in params[:-1]]
    ctx.server_message("FAIL", "MARKREAD", code, *shown, params[-1])


def handle_markread(ctx: Context, msg: Message) -> None:
    """``MARKREAD <target>`` (get) and ``MARKREAD <target> timestamp=…`` (set)."""
    network, user = ctx.network, ctx.user
    if not msg.params or not msg.params[0]:
        _fail(ctx, "NEED_MORE_PARAMS", "Missing parameters")
        return
    target = msg.params[0]
    if not (is_valid_channel(target, ctx.config.channellen) or is_valid_nick(target, ctx.config.nicklen)):
        _fail(ctx, "INVALID_PARAMS", target, "Invalid target")
        return
    if user.account is None:
        _fail(ctx, "ACCOUNT_REQUIRED", target, "You must be logged in to use read markers")
        return
    if len(msg.params) < 2:
        network.deliver(user, marker_line(network, user.account, target))
        return
    kind, _, value = msg.params[1].partition("=")
    ms = parse_time(value) if kind == "timestamp" and value else None
    if ms is None:
        _fail(ctx, "INVALID_PARAMS", msg.params[1], "Invalid timestamp")
        return
    # Never past the present: a client cannot mark as read what has not been said yet.
    ms = min(ms, int(network.clock() * 1000))
    account = casefold(user.account)
    line = None
    if network.mark_read(account, casefold(target), ms):
        line = marker_line(network, user.account, target)
        for other in network.sessions_of(account):
            if other is not user and caps.READ_MARKER in other.caps:
                network.deliver(other, line)
    network.deliver(user, line or marker_line(network, user.account, target))
