"""IRCv3 metadata (``draft/metadata-3``, as ergo and irctest implement it): key/value pairs on users and channels.

``METADATA <target> GET|LIST|SET|CLEAR|SYNC …`` reads and changes them; ``METADATA * SUB|UNSUB|SUBS …`` manages the
keys this connection is told about when they change (``RPL_KEYVALUE`` / ``RPL_KEYNOTSET`` with ``*`` for a nick),
when it joins a channel (the channel's and its members' values, in a ``metadata`` batch) and in WHOIS (760).

Who may do what: anyone may read a user's metadata; a channel's is read by its members (and IRC operators), so an
invite-only or secret channel does not leak it; a user changes their own, a channel operator the channel's, an
IRC operator anything.  Before registration a client may set its own (``before-connect``); the values are shown
to it in a ``metadata`` batch after the welcome burst.  Errors are ``FAIL METADATA <code>`` with ergo's codes:
``INVALID_TARGET``, ``INVALID_KEY``, ``KEY_NO_PERMISSION``, ``INVALID_VALUE``, ``LIMIT_REACHED`` (too many
keys), ``TOO_MANY_SUBS``, ``INVALID_PARAMS`` (an unknown subcommand).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ...protocol import caps
from ...protocol import numerics as N
from ...protocol.message import Message
from ...protocol.names import is_channel_name
from ..context import Context
from ..state import Channel, User
from .history import in_batch

KEY_RE = re.compile(r"[a-z0-9_./-]{1,50}")
"""A valid key: lower-case letters, digits and ``_./-`` (the spec's set), at most 50 characters so that a key,
a value of ``metadata_max_value_bytes`` and the rest of ``RPL_KEYVALUE`` fit on one line."""
SYNC_ALL = "*ALL"
"""``METADATA *ALL SYNC``: everything subscribed to, of the user, their channels and everyone in them."""
PARAMS_PER_LINE_BYTES = 400
"""Room for the keys of one 770/771/772 line, leaving the rest of 512 bytes to the source, numeric and nick."""

SUBCOMMANDS = frozenset({"GET", "LIST", "SET", "CLEAR", "SYNC", "SUB", "UNSUB", "SUBS"})


def handle_metadata(ctx: Context, msg: Message) -> None:
    """``METADATA <target> <subcommand> [params…]``: before registration too (``before-connect``)."""
    sub = msg.params[1].upper()
    if sub not in SUBCOMMANDS:
        _fail(ctx, "INVALID_PARAMS", _safe(msg.params[1]), "Invalid subcommand")
        return
    if sub in ("GET", "SET", "SUB", "UNSUB") and len(msg.params) < 3:
        ctx.need_more_params("METADATA")
        return
    if sub in ("SUB", "UNSUB", "SUBS"):
        _subscriptions(ctx, sub, msg.params[2:])
    elif not ctx.user.registered:
        _before_registration(ctx, sub, msg.params)
    else:
        _registered(ctx, sub, msg.params)


def _fail(ctx: Context, code: str, *params: str) -> None:
    ctx.server_message("FAIL", "METADATA", code, *params)


def _safe(param: str) -> str:
    """A word echoed in an error that can stand before the last parameter (``*`` otherwise)."""
    return param if param and param[0] != ":" and " " not in param else "*"


def _valid_key(ctx: Context, key: str) -> bool:
    if KEY_RE.fullmatch(key):
        return True
    _fail(ctx, "INVALID_KEY", _safe(key), "Invalid key name")
    return False


def _value_too_long(ctx: Context, key: str, value: str) -> bool:
    if len(value.encode("utf-8", "surrogateescape")) <= ctx.config.metadata_max_value_bytes:
        return False
    _fail(ctx, "INVALID_VALUE", key, "Value is too long")
    return True


def _too_many_keys(ctx: Context, target: User | Channel, name: str, key: str) -> bool:
    limit = ctx.config.metadata_max_keys
    if key in target.metadata or len(target.metadata) < limit:
        return False
    _fail(ctx, "LIMIT_REACHED", name, str(limit), "Too many metadata keys")
    return True


def _no_permission(ctx: Context, target: str, key: str) -> None:
    _fail(ctx, "KEY_NO_PERMISSION", target, key, "You do not have permission to perform this action")


def _may_edit(user: User, target: User | Channel) -> bool:
    if user.oper is not None:
        return True
    if isinstance(target, Channel):
        return target.is_op(user)
    return target is user


def _may_see(user: User, target: User | Channel) -> bool:
    if isinstance(target, Channel):
        return user in target.members or user.oper is not None
    return True


def _batch(ctx: Context, target: str, lines: Iterable[Message]) -> None:
    """``lines`` to the user in a ``metadata`` batch for ``target`` (without one for clients without batch)."""
    messages = list(lines)

    def build(batch_id: str | None) -> list[bytes]:
        if batch_id is None:
            return [m.to_bytes() for m in messages]
        return [Message(m.command, m.params, m.source, {"batch": batch_id}).to_bytes() for m in messages]

    for line in in_batch(ctx.network, ctx.user, ("metadata", target), build):
        ctx.network.deliver(ctx.user, line)


def _keyvalue(ctx: Context, nick: str, target: str, key: str, value: str) -> Message:
    return Message(N.RPL_KEYVALUE, (nick, target, key, "*", value), ctx.server_name)


def _keynotset(ctx: Context, nick: str, target: str, key: str, text: str) -> Message:
    return Message(N.RPL_KEYNOTSET, (nick, target, key, text), ctx.server_name)


def _registered(ctx: Context, sub: str, params: tuple[str, ...]) -> None:
    user = ctx.user
    network = ctx.network
    given = params[0]
    if sub == "SYNC" and given.upper() == SYNC_ALL:
        _sync_all(ctx)
        return
    target: User | Channel | None
    if given == "*":
        target = user
    elif is_channel_name(given):
        target = network.find_channel(given)
    else:
        target = network.find_user(given)
    if target is None:
        _fail(ctx, "INVALID_TARGET", _safe(given), "Invalid metadata target")
        return
    name = target.name if isinstance(target, Channel) else target.nick
    if sub == "SET":
        key = params[2]
        if not _valid_key(ctx, key):
            return
        if not _may_edit(user, target):
            _no_permission(ctx, name, key)
            return
        value = params[3] if len(params) > 3 and params[3] else None
        if value is None:
            network.set_metadata(user, target, name, key, None)
            ctx.reply(N.RPL_KEYNOTSET, name, key, "Key deleted")
            return
        if _value_too_long(ctx, key, value) or _too_many_keys(ctx, target, name, key):
            return
        network.set_metadata(user, target, name, key, value)
        ctx.reply(N.RPL_KEYVALUE, name, key, "*", value)
    elif sub == "CLEAR":
        if not _may_edit(user, target):
            _no_permission(ctx, name, "*")
            return
        cleared = network.clear_metadata(user, target, name)
        _batch(ctx, name, (_keynotset(ctx, user.nick, name, key, "Key deleted") for key in cleared))
    elif not _may_see(user, target):
        _no_permission(ctx, name, "*")
    elif sub == "GET":
        lines: list[Message] = []
        for key in params[2:]:
            if not KEY_RE.fullmatch(key):
                fail = ("METADATA", "INVALID_KEY", _safe(key), "Invalid key name")
                lines.append(Message("FAIL", fail, ctx.server_name))
            elif key in target.metadata:
                lines.append(_keyvalue(ctx, user.nick, name, key, target.metadata[key]))
            else:
                lines.append(_keynotset(ctx, user.nick, name, key, "Key is not set"))
        _batch(ctx, name, lines)
    elif sub == "LIST":
        _batch(ctx, name, (_keyvalue(ctx, user.nick, name, k, v) for k, v in target.metadata.items()))
    elif isinstance(target, Channel):  # SYNC of a channel
        send_channel_sync(ctx, target)
    else:  # SYNC of a user
        _batch(ctx, name, _subscribed(ctx, [(name, target.metadata)]))


def _subscribed(ctx: Context, sources: Iterable[tuple[str, dict[str, str]]]) -> list[Message]:
    """``RPL_KEYVALUE`` (``*`` for a nick, as in notifications) for each subscribed key of each target."""
    subs = ctx.user.metadata_subs
    return [_keyvalue(ctx, "*", name, k, v) for name, values in sources for k, v in values.items() if k in subs]


def send_channel_sync(ctx: Context, channel: Channel) -> None:
    """The subscribed metadata of ``channel`` and of its members, in one ``metadata`` batch."""
    sources = [(channel.name, channel.metadata), *((m.nick, m.metadata) for m in channel.members)]
    _batch(ctx, channel.name, _subscribed(ctx, sources))


def sync_on_join(ctx: Context, channel: Channel) -> None:
    """After a JOIN, to a client with the capability and subscriptions: what it subscribed to of the channel and
    its members (nothing when none of it is set)."""
    user = ctx.user
    if caps.METADATA not in user.caps or not user.metadata_subs:
        return
    sources = [(channel.name, channel.metadata), *((m.nick, m.metadata) for m in channel.members)]
    lines = _subscribed(ctx, sources)
    if lines:
        _batch(ctx, channel.name, lines)


def _sync_all(ctx: Context) -> None:
    user = ctx.user
    sources: list[tuple[str, dict[str, str]]] = [(user.nick, user.metadata)]
    seen = {user}
    for channel in user.channels.values():
        sources.append((channel.name, channel.metadata))
        for member in channel.members:
            if member not in seen:
                seen.add(member)
                sources.append((member.nick, member.metadata))
    _batch(ctx, SYNC_ALL, _subscribed(ctx, sources))


def _before_registration(ctx: Context, sub: str, params: tuple[str, ...]) -> None:
    """Before registration only the client's own metadata (``*``) can be set, listed and cleared."""
    user = ctx.user
    if params[0] != "*":
        _fail(ctx, "KEY_NO_PERMISSION", _safe(params[0]), "*", "Only your own metadata before registration")
        return
    if sub == "SET":
        key = params[2]
        if not _valid_key(ctx, key):
            return
        value = params[3] if len(params) > 3 and params[3] else None
        if value is None:
            user.metadata.pop(key, None)
            ctx.reply(N.RPL_KEYNOTSET, "*", key, "Key deleted")
            return
        if _value_too_long(ctx, key, value) or _too_many_keys(ctx, user, "*", key):
            return
        user.metadata[key] = value
        ctx.reply(N.RPL_KEYVALUE, "*", key, "*", value)
    elif sub == "LIST":
        _batch(ctx, "*", (_keyvalue(ctx, "*", "*", k, v) for k, v in user.metadata.items()))
    elif sub == "CLEAR":
        cleared = dict(user.metadata)
        user.metadata.clear()
        _batch(ctx, "*", (_keynotset(ctx, "*", "*", key, "Key deleted") for key in cleared))
    elif sub == "GET":
        lines = [
            _keyvalue(ctx, "*", "*", key, user.metadata[key])
            if key in user.metadata
            else _keynotset(ctx, "*", "*", key, "Key is not set")
            for key in params[2:]
        ]
        _batch(ctx, "*", lines)
    else:  # SYNC: there is nothing to synchronise with yet
        ctx.reply(N.RPL_METADATASYNCLATER, "*", "60")


def after_registration(ctx: Context) -> None:
    """End of the welcome burst: the metadata the client set before registering, in a ``metadata`` batch."""
    user = ctx.user
    if caps.METADATA not in user.caps or not user.metadata:
        return
    _batch(ctx, user.nick, (_keyvalue(ctx, user.nick, user.nick, k, v) for k, v in user.metadata.items()))


def _chunks(keys: list[str]) -> list[list[str]]:
    """``keys`` in groups that fit on one line each."""
    out: list[list[str]] = []
    size = 0
    for key in keys:
        if not out or size + len(key) + 1 > PARAMS_PER_LINE_BYTES:
            out.append([])
            size = 0
        out[-1].append(key)
        size += len(key) + 1
    return out


def _subscriptions(ctx: Context, sub: str, keys: tuple[str, ...]) -> None:
    """``SUB`` / ``UNSUB`` / ``SUBS``: this connection's subscriptions, before or after registration."""
    user = ctx.user
    subs = user.metadata_subs
    if sub == "SUBS":
        for chunk in _chunks(sorted(subs)):
            ctx.reply(N.RPL_METADATASUBS, *chunk)
        return
    for key in keys:
        if not _valid_key(ctx, key):
            return
    wanted = list(dict.fromkeys(keys))
    if sub == "UNSUB":
        subs.difference_update(wanted)
        for chunk in _chunks(wanted):
            ctx.reply(N.RPL_METADATAUNSUBOK, *chunk)
        return
    limit = ctx.config.metadata_max_subs
    added: list[str] = []
    refused: str | None = None
    for key in wanted:
        if key not in subs and len(subs) >= limit:
            refused = key
            break
        subs.add(key)
        added.append(key)
    if refused is not None:
        _fail(ctx, "TOO_MANY_SUBS", refused, str(limit), "Too many subscriptions")
    for chunk in _chunks(added):
        ctx.reply(N.RPL_METADATASUBOK, *chunk)
    if user.registered and added:
        # As ergo: what is already set is not sent here; the client asks with METADATA *ALL SYNC.
        ctx.reply(N.RPL_METADATASYNCLATER, SYNC_ALL, "0")


def whois_lines(ctx: Context, target: User) -> None:
    """760 RPL_WHOISKEYVALUE for each of ``target``'s keys, to a client with the capability."""
    if caps.METADATA not in ctx.user.caps:
        return
    for key, value in target.metadata.items():
        ctx.reply(N.RPL_WHOISKEYVALUE, target.nick, key, "*", value)
