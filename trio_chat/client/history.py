"""IRCv3 history in the translator: ``chathistory`` batches, and asking for older pages.

The messages of a ``chathistory`` batch become lines marked history, at the time they were said.  The batch the
server sends between our JOIN and the answer to a PING sent when that JOIN came is its replay of the channel's
latest messages; one that answers :func:`ask_history` (scrolling up past the top) is an older page.  msgids tell
which messages a buffer already has.  Pure, as the translator is: what is asked goes through its ``send``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, timedelta
from typing import TYPE_CHECKING

from trio_chat.protocol import Message, casefold
from trio_chat.protocol import numerics as rpl
from trio_chat.protocol.caps import BATCH, CHATHISTORY, MESSAGE_TAGS
from trio_chat.protocol.names import split_userhost

from . import events as ev
from .formatting import clean_formatting, strip_formatting
from .model import Buffer, BufferKind, Line, LineKind

if TYPE_CHECKING:
    from .translate import LinkState, Translator

HISTORY_PAGE = 50
"""Messages asked for per ``CHATHISTORY`` request when scrolling up past the top (less if ISUPPORT says so)."""
HISTORY_BATCH_TYPES = frozenset({"chathistory", "draft/chathistory"})
MAX_OPEN_BATCHES = 32
"""Batches a server may have open at once; lines of any more are taken as they come, outside a batch."""
MAX_BATCH_LINES = 5000
"""Messages kept from one history batch (a buffer holds no more); the rest of a longer one is not shown."""


@dataclass
class Batch:
    """An IRCv3 batch the server opened (``BATCH +id type target``); history ones collect their messages."""

    kind: str
    target: str
    replay: bool
    """Opened between our JOIN of the channel and the PONG that follows it: the server's replay on joining."""
    messages: list[Message] = field(default_factory=list)

    @property
    def history(self) -> bool:
        return self.kind in HISTORY_BATCH_TYPES and bool(self.target)


def collect(link: LinkState, msg: Message) -> bool:
    """Keep ``msg`` if it belongs to an open history batch (shown when the batch ends); False if it does not."""
    batch = link.batches.get(msg.tags.get("batch", ""))
    if batch is None or not batch.history:
        return False
    if len(batch.messages) < MAX_BATCH_LINES:
        batch.messages.append(msg)
    return True


# -- history ---------------------------------------------------------------------------------------------


def can_fetch_older(t: Translator, name: str) -> bool:
    """Whether :meth:`ask_history` may ask for channel ``name``: the server offers ``batch``,
    ``draft/chathistory`` and ``message-tags`` (msgids are how a message fetched twice is recognised),
    ``name`` is a joined channel whose JOIN the server has finished answering, no request is in flight, the
    server has not said there is nothing older, and the buffer's scrollback is not full."""
    link = t.link
    buf = t.model.find(name)
    if link is None or not link.registered or buf is None or buf.kind is not BufferKind.CHANNEL:
        return False
    if not buf.joined or buf.key in link.joining or not {BATCH, CHATHISTORY, MESSAGE_TAGS} <= link.caps:
        return False
    return link.history_request is None and not (buf.history_loading or buf.history_complete or buf.full)


def ask_history(t: Translator, buf: Buffer, *, by_time: bool = False) -> bool:
    """``CHATHISTORY BEFORE name msgid=<oldest> <page>`` (by the oldest message's time with ``by_time``), or
    ``LATEST`` when the buffer holds no message yet; the answer goes above everything in the buffer."""
    link = t.link
    if link is None:
        return False
    page = HISTORY_PAGE if link.chathistory_max is None else min(HISTORY_PAGE, link.chathistory_max)
    oldest = buf.oldest_message()
    msgid = oldest.msgid if oldest is not None else None
    if oldest is None:
        ref, sub = "*", "LATEST"
    elif msgid and not by_time and msgid[0] != ":" and not any(c in msgid for c in " \r\n\0"):
        ref, sub = f"msgid={msgid}", "BEFORE"
    else:
        # By time when the server no longer knows the msgid (deleted since) or it cannot be sent.  "Before" is
        # strictly before: a millisecond later takes in messages of the same millisecond too (those we have
        # are left out when the answer comes).
        when = oldest.time.astimezone(UTC) + timedelta(milliseconds=1)
        ref, sub = f"timestamp={when.strftime('%Y-%m-%dT%H:%M:%S.')}{when.microsecond // 1000:03d}Z", "BEFORE"
    if not t.send(Message("CHATHISTORY", (sub, buf.name, ref, str(page)))):
        return False
    link.history_request = buf.key
    link.history_by_time = ref.startswith("timestamp=")
    t.model.set_history_loading(buf, True)
    return True


def on_batch(t: Translator, msg: Message) -> None:
    link = t.link
    if link is None or not msg.params or len(msg.params[0]) < 2:
        return
    ref, batch_id = msg.params[0][0], msg.params[0][1:]
    if ref == "+" and len(link.batches) < MAX_OPEN_BATCHES:
        kind = msg.params[1] if len(msg.params) > 1 else ""
        target = msg.params[2] if len(msg.params) > 2 else ""
        link.batches[batch_id] = Batch(kind, target, replay=casefold(target) in link.joining)
    elif ref == "-":
        batch = link.batches.pop(batch_id, None)
        if batch is not None and batch.history:
            _on_history(t, link, batch)


def _on_history(t: Translator, link: LinkState, batch: Batch) -> None:
    """A ``chathistory`` batch has ended: the replay on joining, or the answer to :meth:`ask_history`."""
    key = casefold(batch.target)
    answer = not batch.replay and link.history_request == key
    if answer:
        link.history_request = None
    buf = t.model.find(batch.target)
    if buf is None or buf.kind is not BufferKind.CHANNEL:
        return
    lines = [line for line in (_history_line(t, m) for m in batch.messages) if line is not None]
    if answer:
        t.model.add_older(buf, lines, complete=not batch.messages)
    elif buf.joined:
        # The replay, or history nobody asked for (a server replaying at another moment): shown the same way.
        t.model.add_history(buf, lines)


def _history_line(t: Translator, msg: Message) -> Line | None:
    """A message from a history batch as a line marked history, at the time it was said; None for others."""
    command = msg.command.upper()
    if command not in ("PRIVMSG", "NOTICE") or len(msg.params) < 2:
        return None
    nick = split_userhost(msg.source or "")[0]
    text = msg.params[1]
    kind = LineKind.NOTICE if command == "NOTICE" else LineKind.MESSAGE
    if text.startswith("\x01"):
        ctcp, _, arg = text.strip("\x01").partition(" ")
        if ctcp.upper() != "ACTION" or kind is LineKind.NOTICE:
            return None  # a CTCP request of long ago: nothing to show, and certainly nothing to answer
        kind, text = LineKind.ACTION, arg
    return Line(
        t.time_of(msg),
        kind,
        clean_formatting(text),
        nick=nick or msg.source,
        own=t.is_me(nick),
        history=True,
        msgid=msg.tags.get("msgid"),
    )


def refused(t: Translator, msg: Message) -> bool:
    """``FAIL CHATHISTORY …`` or 421 for it: the request in flight is over.  True when a FAIL of our request was
    dealt with here (asked again by time, or said in the buffer); a 421 is said by its caller."""
    link = t.link
    if link is None:
        return False
    asked, link.history_request = link.history_request, None
    buf = t.model.find(asked) if asked is not None else None
    if buf is None:
        return False
    if msg.command == rpl.ERR_UNKNOWNCOMMAND:
        buf.history_complete = True  # it will not know the command next time either
        t.model.set_history_loading(buf, False)
        return False
    bad_ref = msg.params[1] in ("INVALID_PARAMS", "INVALID_MSGREFS")
    if bad_ref and not link.history_by_time and ask_history(t, buf, by_time=True):
        return True  # the oldest message was deleted from history since: ask from its time instead
    buf.history_complete = buf.history_complete or bad_ref
    t.model.set_history_loading(buf, False)
    reason = strip_formatting(msg.params[-1])
    t.event(buf, None, ev.HistoryFailed(reason), kind=LineKind.ERROR)
    return True
