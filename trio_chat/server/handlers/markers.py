"""``MARKREAD`` (IRCv3 ``draft/read-marker``): the last message read in each target, so that other devices know.

A logged-in connection uses its account's markers: one per target (folded channel name or nick), kept in the
store and loaded at start-up, shared by every connection of the account.  A connection that is not logged in
has markers of its own, kept in memory for its life only (at most :data:`GUEST_MARKERS` targets; setting one
more forgets the one set longest ago).  A marker only moves forward, and never past the present: a set older
than (or equal to) the current one is answered with the current one and changes nothing; an account's change is
sent to every connection of the account that negotiated the capability (and always to the one that asked).  On
JOIN a client with the capability gets ``MARKREAD #chan timestamp=…`` (or ``*``) right after its JOIN, before
the names.
"""

from __future__ import annotations

from ...protocol import caps
from ...protocol.casemap import casefold
from ...protocol.message import Message
from ...protocol.names import is_valid_channel, is_valid_nick
from ..context import Context
from ..state import Channel, Network, User
from .history import parse_time

GUEST_MARKERS = 256
"""How many targets a connection that is not logged in may keep a read marker for."""


def read_marker(network: Network, user: User, target: str) -> int | None:
    """The read marker ``user`` sees in ``target`` (folded): its account's, or its own without a login."""
    if user.account is not None:
        return network.read_marker(casefold(user.account), target)
    return None if user.read_markers is None else user.read_markers.get(target)


def marker_line(network: Network, user: User, target: str) -> bytes:
    """``:server MARKREAD <target> timestamp=…`` (``*`` when ``user`` has no marker there)."""
    ms = read_marker(network, user, casefold(target))
    shown = "*" if ms is None else "timestamp=" + network.format_time(ms)
    return Message("MARKREAD", (target, shown), network.config.server_name).to_bytes()


def marker_on_join(network: Network, user: User, channel: Channel) -> None:
    """After the JOIN, for a client that negotiated ``draft/read-marker``."""
    if caps.READ_MARKER in user.caps:
        network.deliver(user, marker_line(network, user, channel.name))


def _mark_read_here(user: User, target: str, ms: int) -> bool:
    """Move the marker of a connection without a login forward; True if it changed."""
    markers = user.read_markers
    if markers is None:
        markers = user.read_markers = {}
    current = markers.get(target)
    if current is not None and ms <= current:
        return False
    if current is None and len(markers) >= GUEST_MARKERS:
        del markers[next(iter(markers))]
    markers.pop(target, None)  # re-inserted last: the most recently set is forgotten last
    markers[target] = ms
    return True


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
    if len(msg.params) < 2:
        network.deliver(user, marker_line(network, user, target))
        return
    kind, _, value = msg.params[1].partition("=")
    ms = parse_time(value) if kind == "timestamp" and value else None
    if ms is None:  # "*" included: only the server may say a target has no marker
        _fail(ctx, "INVALID_PARAMS", msg.params[1], "Invalid timestamp")
        return
    # Never past the present: a client cannot mark as read what has not been said yet.
    ms = min(ms, int(network.clock() * 1000))
    folded = casefold(target)
    if user.account is None:
        _mark_read_here(user, folded, ms)
        network.deliver(user, marker_line(network, user, target))
        return
    account = casefold(user.account)
    line = None
    if network.mark_read(account, folded, ms):
        line = marker_line(network, user, target)
        for other in network.sessions_of(account):
            if other is not user and caps.READ_MARKER in other.caps:
                network.deliver(other, line)
    network.deliver(user, line or marker_line(network, user, target))
