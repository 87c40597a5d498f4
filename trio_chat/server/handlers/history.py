"""History for clients: replay on JOIN, ``CHATHISTORY`` (IRCv3 ``draft/chathistory``) and ``REDACT`` (IRCv3
``draft/message-redaction``).

Stored messages are played back as they were sent, with the msgid and time they had, inside a ``chathistory``
batch for clients that negotiated ``batch``.  A client that did not gets replay as NOTICEs from the server
with a readable time prefix, so plain IRC clients show it as history and not as live talk.

Who may read a channel's history: its members (as ergo does).  Private messages are stored only between two
users who are both logged in, under a key made of the two account names (``conversation_key``), and only those
two accounts can read them: ``CHATHISTORY … <nick>`` answers the asker's conversation with that nick's account.

Who may redact a channel message: a member of the channel who is its original sender or one of its operators.
Until accounts exist, "original sender" means the same ``nick!user@host`` as stored (compared without case):
someone who quit and came back with the same full mask counts as the sender; the same person under another nick
(or from another host) does not.  A redacted message is deleted from the store and the replay ring, so no later
replay or CHATHISTORY answer contains it (a multiline message: all its lines, see ``history.line_msgid``);
members that negotiated ``draft/message-redaction`` are sent the ``REDACT``, under the msgid it named, as ergo
does; the others nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from ...protocol import caps
from ...protocol.casemap import casefold
from ...protocol.message import Message, format_tags
from ...protocol.names import is_channel_name
from ..context import Context
from ..history import (
    MsgidRef,
    Ref,
    StoredMessage,
    StoreError,
    TimeRef,
    UnknownReference,
    conversation_key,
    conversation_parties,
)
from ..state import Channel, Network, User

log = logging.getLogger(__name__)

SUBCOMMANDS = ("LATEST", "BEFORE", "AFTER", "AROUND", "BETWEEN", "TARGETS")

REDACT_FAILS = {
    "INVALID_TARGET": "You cannot delete messages from {target}",
    "UNKNOWN_MSGID": "This message does not exist or is too old",
    "REDACT_FORBIDDEN": "You are not authorised to delete this message",
    "UNKNOWN_ERROR": "The message could not be deleted: history is unavailable, try again later",
}
"""``FAIL REDACT`` codes (the first three are the spec's) and their descriptions."""


def parse_time(text: str) -> int | None:
    """``2026-12-01T12:00:05.123Z`` as Unix milliseconds; None if it is not such a time."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def parse_ref(text: str) -> Ref | None:
    """``msgid=ID`` or ``timestamp=TIME`` as a reference; None for anything else."""
    kind, _, value = text.partition("=")
    if not value:
        return None
    if kind == "msgid":
        return MsgidRef(value)
    if kind == "timestamp":
        ms = parse_time(value)
        return None if ms is None else TimeRef(ms)
    return None


def message_line(network: Network, user: User, stored: StoredMessage, batch_id: str | None) -> bytes:
    """A stored message as ``user`` would have received it live, plus the batch tag."""
    tags: dict[str, str] = {}
    if batch_id is not None:
        tags["batch"] = batch_id
    if user.has(caps.SERVER_TIME):
        tags["time"] = network.format_time(stored.time_ms)
    if user.has(caps.MESSAGE_TAGS):
        tags["msgid"] = stored.msgid
        tags.update(stored.tags)
    if stored.account and user.has(caps.ACCOUNT_TAG):
        tags["account"] = stored.account
    params = (stored.target,) if stored.command == "TAGMSG" else (stored.target, stored.text)
    body = Message(stored.command, params, stored.source).to_bytes()
    return b"@" + format_tags(tags).encode() + b" " + body if tags else body


def readable_time(stored: StoredMessage) -> str:
    """When ``stored`` was said, for people: ``2026-12-01 09:15:02 UTC``."""
    return datetime.fromtimestamp(stored.time_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def action_text(stored: StoredMessage) -> str | None:
    """The text of a CTCP ACTION (``/me waves`` -> ``waves``), or None for any other message."""
    text = stored.text
    return text[8:-1] if text.startswith("\x01ACTION ") and text.endswith("\x01") else None


def notice_line(network: Network, channel_name: str, stored: StoredMessage) -> bytes:
    """Replay for clients without ``batch``: a NOTICE from the server, time and speaker in the text."""
    nick = stored.source.split("!", 1)[0]
    action = action_text(stored)
    if stored.command == "NOTICE":
        shown = f"-{nick}- {stored.text}"
    elif action is not None:
        shown = f"* {nick} {action}"
    else:
        shown = f"<{nick}> {stored.text}"
    text = f"[{readable_time(stored)}] {shown}"
    return Message("NOTICE", (channel_name, text), network.config.server_name).to_bytes()


def in_batch(
    network: Network, user: User, params: tuple[str, ...], build: Callable[[str | None], Iterable[bytes]]
) -> list[bytes]:
    """The lines ``build(batch_id)`` makes, inside a batch of ``params`` (its type and arguments) for a client
    that negotiated ``batch``; ``build(None)`` and no batch for the others."""
    if not user.has(caps.BATCH):
        return list(build(None))
    server = network.config.server_name
    batch_id = network.next_batch_id()
    return [
        Message("BATCH", ("+" + batch_id, *params), server).to_bytes(),
        *build(batch_id),
        Message("BATCH", ("-" + batch_id,), server).to_bytes(),
    ]


def batch_lines(
    network: Network, user: User, target: str, messages: Sequence[StoredMessage], *, batch_type: str = "chathistory"
) -> list[bytes]:
    """``messages`` for ``user``, in a batch when they negotiated ``batch``."""

    def build(batch_id: str | None) -> list[bytes]:
        return [message_line(network, user, m, batch_id) for m in messages]

    return in_batch(network, user, (batch_type, target), build)


def replay_on_join(ctx: Context, channel: Channel) -> None:
    """The channel's latest messages to a client that just joined it, before any live traffic.

    They come from the network's ring of recent messages, in the same command as the JOIN, so nothing said
    after the join can come before them and nothing is sent twice.
    """
    recent = ctx.network.recent.get(channel.folded)
    if not recent or ctx.config.history_replay <= 0:
        return
    user = ctx.user
    network = ctx.network
    messages = list(recent)
    if user.has(caps.BATCH) and user.has(caps.SERVER_TIME):
        lines = batch_lines(network, user, channel.name, messages)
    else:
        lines = [notice_line(network, channel.name, m) for m in messages]
    for line in lines:
        network.deliver(user, line)


def handle_chathistory(ctx: Context, msg: Message) -> None:
    """``CHATHISTORY LATEST|BEFORE|AFTER|AROUND|BETWEEN target refs… limit`` and ``TARGETS t1 t2 limit``."""
    sub = msg.params[0].upper()
    if sub not in SUBCOMMANDS:
        _fail(ctx, "INVALID_PARAMS", sub, "Unknown subcommand")
        return
    needed = 4 if sub == "BETWEEN" else 3
    if len(msg.params) < needed + 1:
        _fail(ctx, "NEED_MORE_PARAMS", sub, "Insufficient parameters")
        return
    args = msg.params[1:]
    try:
        limit = int(args[-1])
    except ValueError:
        limit = -1
    if limit < 0:
        _fail(ctx, "INVALID_PARAMS", sub, args[-1], "Invalid limit")
        return
    limit = min(limit, ctx.config.chathistory_limit) if limit else ctx.config.chathistory_limit
    history = ctx.network.history
    if sub == "TARGETS":
        bounds = [parse_ref(text) for text in args[:2]]
        if not (isinstance(bounds[0], TimeRef) and isinstance(bounds[1], TimeRef)):
            _fail(ctx, "INVALID_PARAMS", sub, "Invalid timestamp")
            return
        start, end = sorted((bounds[0].time_ms, bounds[1].time_ms))
        _defer_targets(ctx, start, end, limit)
        return
    target = args[0]
    if is_channel_name(target):
        channel = ctx.network.find_channel(target)
        if history is None or channel is None or ctx.user not in channel.members:
            _fail(ctx, "INVALID_TARGET", sub, target, "Messages could not be retrieved")
            return
        folded, name = channel.folded, channel.name
    else:
        conversation = private_conversation(ctx, target)
        if conversation is None:
            _fail(ctx, "INVALID_TARGET", sub, target, "Messages could not be retrieved")
            return
        key, name = conversation
        if key is None or history is None:
            # Not a conversation between two accounts: nothing is kept, an empty answer and not an error.
            for line in batch_lines(ctx.network, ctx.user, name, []):
                ctx.network.deliver(ctx.user, line)
            return
        folded = key
    refs: list[Ref | None] = []
    for text in args[1:-1]:
        ref = None if (sub == "LATEST" and text == "*") else parse_ref(text)
        if ref is None and not (sub == "LATEST" and text == "*"):
            _fail(ctx, "INVALID_PARAMS", sub, text, "Invalid message reference")
            return
        refs.append(ref)

    async def fetch() -> list[StoredMessage]:
        assert history is not None
        if sub == "LATEST":
            return await history.latest(folded, limit, refs[0])
        first = refs[0]
        assert first is not None
        if sub == "BEFORE":
            return await history.before(folded, first, limit)
        if sub == "AFTER":
            return await history.after(folded, first, limit)
        if sub == "AROUND":
            return await history.around(folded, first, limit)
        second = refs[1]
        assert second is not None
        return await history.between(folded, first, second, limit)

    network, user = ctx.network, ctx.user

    async def answer() -> list[bytes]:
        try:
            messages = await fetch()
        except UnknownReference:
            return [_fail_line(network, "INVALID_PARAMS", sub, "Unknown message reference")]
        except StoreError:
            return [_fail_line(network, "MESSAGE_ERROR", sub, name, "Messages could not be retrieved")]
        return batch_lines(network, user, name, messages)

    ctx.defer(answer)


def private_conversation(ctx: Context, target: str) -> tuple[str | None, str] | None:
    """The history key of the user's private conversation with ``target`` (a nick) and the name to show.

    The key is None (nothing is kept: an empty answer) when either side is not logged in.  A nick nobody uses
    now still names the conversation with the account of that name, for a user who is logged in; otherwise
    None: no such target.
    """
    network, user = ctx.network, ctx.user
    person = network.find_user(target)
    mine = casefold(user.account) if user.account is not None else None
    if person is not None:
        if mine is None or person.account is None:
            return None, person.nick
        return conversation_key(mine, casefold(person.account)), person.nick
    record = network.find_account(target)
    if record is None or mine is None:
        return None
    return conversation_key(mine, record.folded), record.name


def _defer_targets(ctx: Context, start: int, end: int, limit: int) -> None:
    network, user = ctx.network, ctx.user
    history = network.history

    async def answer() -> list[bytes]:
        listed: list[tuple[str, int]] = []
        if history is not None:
            try:
                # Ask for more than shown: channels the user is not in are left out.
                found = await history.targets(TimeRef(start), TimeRef(end), limit + len(network.channels))
            except StoreError:
                return [_fail_line(network, "MESSAGE_ERROR", "TARGETS", "Messages could not be retrieved")]
            mine = {c.folded for c in user.channels.values()}
            listed = [(name, ms) for name, ms in found if casefold(name) in mine]
            if user.account is not None:
                me = casefold(user.account)
                try:
                    keys = await history.conversations(me, TimeRef(start), TimeRef(end), limit)
                except StoreError:
                    return [_fail_line(network, "MESSAGE_ERROR", "TARGETS", "Messages could not be retrieved")]
                for key, ms in keys:
                    parties = conversation_parties(key)
                    assert parties is not None
                    other = parties[1] if parties[0] == me else parties[0]
                    record = network.accounts.get(other)
                    listed.append((record.name if record is not None else other, ms))
                listed.sort(key=lambda item: item[1])
        server = network.config.server_name

        def build(batch_id: str | None) -> list[bytes]:
            tags = {"batch": batch_id} if batch_id is not None else {}
            return [
                Message("CHATHISTORY", ("TARGETS", name, network.format_time(ms)), server, tags).to_bytes()
                for name, ms in listed[:limit]
            ]

        return in_batch(network, user, ("draft/chathistory-targets",), build)

    ctx.defer(answer)


def _fail_line(network: Network, code: str, *params: str) -> bytes:
    return Message("FAIL", ("CHATHISTORY", code, *params), network.config.server_name).to_bytes()


def _fail(ctx: Context, code: str, *params: str) -> None:
    ctx.network.deliver(ctx.user, _fail_line(ctx.network, code, *params))


def handle_redact(ctx: Context, msg: Message) -> None:
    """``REDACT <channel> <msgid> [:reason]``: delete a channel message, tell the members who can understand it.

    The sender's membership is checked at once; the message may have to be looked up in the store, so the rest
    (who sent it, may this user delete it, the deletion and the broadcast) is finished in :meth:`Context.defer`,
    checking again that the channel still exists and the user is still in it.
    """
    network, user = ctx.network, ctx.user
    target, msgid = msg.params[0], msg.params[1]
    reason = msg.params[2] if len(msg.params) > 2 and msg.params[2] else None
    channel = network.find_channel(target) if is_channel_name(target) else None
    if channel is None or user not in channel.members:
        network.deliver(user, _redact_fail(network, "INVALID_TARGET", target))
        return
    history = network.history
    if history is None:
        network.deliver(user, _redact_fail(network, "UNKNOWN_MSGID", target, msgid))
        return
    folded = channel.folded

    async def answer() -> list[bytes]:
        stored = network.recent_message(folded, msgid)
        if stored is None:
            try:
                stored = await history.find(msgid)
            except StoreError:
                return [_redact_fail(network, "UNKNOWN_ERROR", target, msgid)]
            if stored is not None and stored.folded != folded:
                stored = None  # a message of another channel is not in this one's history
        if stored is None:
            return [_redact_fail(network, "UNKNOWN_MSGID", target, msgid)]
        # The store may have taken a while: the channel or the user's place in it may have changed meanwhile.
        now = network.channels.get(folded)
        if now is None or user.gone or user not in now.members:
            return [_redact_fail(network, "INVALID_TARGET", target)]
        if casefold(stored.source) != casefold(user.source) and not now.is_op(user):
            return [_redact_fail(network, "REDACT_FORBIDDEN", target, msgid)]
        # Out of the replay ring before the store is asked: no JOIN from now on replays it.
        in_ring = network.forget(folded, msgid)
        try:
            deleted = await history.redact(folded, msgid)
        except StoreError:
            return [_redact_fail(network, "UNKNOWN_ERROR", target, msgid)]
        if not (deleted or in_ring):
            return [_redact_fail(network, "UNKNOWN_MSGID", target, msgid)]  # someone redacted it first
        log.info("[%d] %s redacted message %s of %s in %s", user.id, user.nick, msgid, stored.source, target)
        return _announce_redaction(network, user, target=target, folded=folded, msgid=msgid, reason=reason)

    ctx.defer(answer)


def _announce_redaction(
    network: Network, user: User, *, target: str, folded: str, msgid: str, reason: str | None
) -> list[bytes]:
    """``:user REDACT #chan msgid [:reason]`` to the members with the capability; the user's own copy is returned
    (it is sent as a reply to their command)."""
    channel = network.channels.get(folded)  # it may have gone while the store deleted the message
    name = channel.name if channel is not None else target
    params = (name, msgid, reason) if reason else (name, msgid)
    relay = network.relay(Message("REDACT", params, user.source), msgid=True)
    if channel is not None:
        network.deliver_all([m for m in channel.members if caps.MESSAGE_REDACTION in m.caps], relay, skip=user)
        # This runs after the command, outside dispatch: disconnect here whoever that overflowed.
        network.reap()
    return [relay.line(user.tag_variant)] if caps.MESSAGE_REDACTION in user.caps else []


def _redact_fail(network: Network, code: str, target: str, msgid: str | None = None) -> bytes:
    # A parameter a client sent is shown as ``*`` where it could not stand as a middle parameter.
    shown = [p if p and p[0] != ":" and " " not in p else "*" for p in (target, msgid) if p is not None]
    description = REDACT_FAILS[code].format(target=shown[0])
    return Message("FAIL", ("REDACT", code, *shown, description), network.config.server_name).to_bytes()
