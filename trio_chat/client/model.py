"""What the client knows, with no I/O: buffers, scrollback, nick lists, unread counts, input history, completion.

Everything here is plain synchronous Python (no trio, no prompt_toolkit, no clock): the core feeds it, the UI
draws it, and the tests poke it directly.  Names of channels and nicks are compared case-folded (rfc1459).
"""

from __future__ import annotations

import enum
import fnmatch
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from trio_chat.protocol.casemap import casefold
from trio_chat.protocol.names import is_channel_name

from .events import Event

SCROLLBACK_LINES = 5000
"""Lines kept per buffer; older ones are dropped so memory stays bounded in a long-running session."""
HISTORY_ENTRIES = 500
"""Input lines remembered for Up/Down."""
SERVER_BUFFER = "server"
"""The name of the buffer that holds the server's notices, MOTD and replies with no better home."""

NICK_COLOURS = 12
"""How many distinct colours the UI has for nicks; :func:`nick_colour` picks one of them."""
HISTORY_SEPARATOR = "history above"
"""The text of the line that ends history replayed on joining, where what was said while we watched begins."""
HISTORY_BEGINNING = "beginning of history"
"""The text of the line at the top of a buffer once the server has no older history for it."""


class LineKind(enum.Enum):
    """What a line in a buffer records; the UI marks and colours each kind differently."""

    MESSAGE = "message"
    ACTION = "action"
    NOTICE = "notice"
    JOIN = "join"
    PART = "part"
    QUIT = "quit"
    KICK = "kick"
    NICK = "nick"
    TOPIC = "topic"
    MODE = "mode"
    ERROR = "error"
    INFO = "info"
    SEPARATOR = "separator"
    """A rule between history and live lines, or at the beginning of history; ``text`` says which."""
    DAY = "day"
    """A rule naming the date of the history lines under it (replayed lines can be days old)."""
    ACCOUNT = "account"
    """Someone logged in to an account or out of one (account-notify)."""


CHAT_KINDS = frozenset({LineKind.MESSAGE, LineKind.ACTION, LineKind.NOTICE})
"""Kinds that count as activity in a buffer you are not looking at; joins and parts do not."""


@dataclass(frozen=True, slots=True)
class Line:
    """One line of scrollback.  ``nick`` is the speaker (or the subject of an event), ``text`` what was said (or
    the client's own words: help, errors, connection news); a line recording an event has the ``event`` and no
    text of its own (the interface says it in words)."""

    time: datetime
    kind: LineKind
    text: str
    nick: str | None = None
    own: bool = False
    highlight: bool = False
    history: bool = False
    """Replayed from the server's history, not said while we watched: never unread, drawn dimmed."""
    msgid: str | None = None
    """The server's id for the message (IRCv3 ``msgid``): history fetched twice is recognised by it."""
    event: Event | None = None
    """What happened, for a join, a kick, a WHOIS answer…: the interface describes it."""


class BufferKind(enum.Enum):
    SERVER = "server"
    CHANNEL = "channel"
    QUERY = "query"


@dataclass(slots=True)
class Member:
    """A nick in a channel's list, with its status prefixes (``@``, ``+``…) as the server reported them."""

    nick: str
    prefixes: str = ""
    away: bool = False
    account: str | None = None
    """The account they are logged in to, when the server said so (extended-join, account-notify, account-tag,
    WHOIS); ``None`` when they are not logged in or it is not known."""


@dataclass(eq=False)
class Buffer:
    """One window onto the conversation: the server, a channel, or a private query."""

    name: str
    kind: BufferKind
    lines: deque[Line] = field(default_factory=lambda: deque(maxlen=SCROLLBACK_LINES))
    members: dict[str, Member] = field(default_factory=dict)
    topic: str = ""
    joined: bool = False
    unread: int = 0
    highlights: int = 0
    scroll: int = 0
    """Rows scrolled up from the bottom (0 = following new lines), as of the last scroll; the UI clamps it to
    what exists."""
    held: int = 0
    """Lines added at the bottom since the last scroll while scrolled up: the view is ``scroll`` rows plus these
    lines' rows above the bottom, so new lines do not move it (the UI folds them into ``scroll`` when scrolling,
    knowing how many rows they take)."""
    new_below: int = 0
    """Lines that came while scrolled up, not yet seen by scrolling back down (the status line counts them)."""
    recent_speakers: list[str] = field(default_factory=list)
    """Case-folded nicks, most recent speaker first: completion offers them before the others."""
    history_loading: bool = False
    """Older history was asked for and has not come yet: no second request meanwhile."""
    history_complete: bool = False
    """The server has nothing older than the top line: scrolling past it asks no more."""

    @property
    def key(self) -> str:
        return casefold(self.name)

    @property
    def scrolled(self) -> bool:
        """Whether the view is above the bottom (new lines then stay out of sight, and are counted)."""
        return self.scroll > 0 or self.held > 0

    def follow(self) -> None:
        """Back at the bottom, following new lines."""
        self.scroll = 0
        self.held = 0
        self.new_below = 0

    def nicks(self) -> list[str]:
        """Member nicks sorted the way nick lists show them: by highest prefix, then by name."""
        return [m.nick for m in self.sorted_members()]

    def sorted_members(self, prefix_order: str = "~&@%+") -> list[Member]:
        def rank(m: Member) -> tuple[int, str]:
            best = min((prefix_order.find(p) for p in m.prefixes if p in prefix_order), default=len(prefix_order))
            return best, casefold(m.nick)

        return sorted(self.members.values(), key=rank)

    def has_member(self, nick: str) -> bool:
        return casefold(nick) in self.members

    def add_member(self, nick: str, prefixes: str = "", account: str | None = None) -> None:
        self.members[casefold(nick)] = Member(nick, prefixes, account=account)

    def remove_member(self, nick: str) -> bool:
        folded = casefold(nick)
        if folded in self.recent_speakers:
            self.recent_speakers.remove(folded)
        return self.members.pop(folded, None) is not None

    def rename_member(self, old: str, new: str) -> bool:
        member = self.members.pop(casefold(old), None)
        if member is None:
            return False
        member.nick = new
        self.members[casefold(new)] = member
        self.recent_speakers = [casefold(new) if n == casefold(old) else n for n in self.recent_speakers]
        return True

    @property
    def full(self) -> bool:
        """Whether the scrollback holds all it can: older history would push the newest lines out."""
        return self.lines.maxlen is not None and len(self.lines) >= self.lines.maxlen

    def oldest_message(self) -> Line | None:
        """The oldest message in the buffer that has a msgid: older history is asked for from there."""
        return next((line for line in self.lines if line.msgid and line.kind in CHAT_KINDS), None)

    def msgids(self) -> set[str]:
        return {line.msgid for line in self.lines if line.msgid}

    def note_speaker(self, nick: str) -> None:
        folded = casefold(nick)
        if folded in self.recent_speakers:
            self.recent_speakers.remove(folded)
        self.recent_speakers.insert(0, folded)
        del self.recent_speakers[50:]


class ConnectionState(enum.Enum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    REGISTERING = "registering"
    CONNECTED = "connected"
    WAITING = "reconnecting"
    FAILED = "failed"


def nick_colour(nick: str, colours: int = NICK_COLOURS) -> int:
    """A colour index for ``nick`` that is the same in every run and every buffer (crc32, not ``hash()``)."""
    return zlib.crc32(casefold(nick).encode("utf-8")) % colours


def day_line(when: datetime) -> Line:
    """The rule above history lines of the day ``when`` falls on (in its own time zone)."""
    return Line(when, LineKind.DAY, f"{when:%A} {when.day} {when:%B %Y}", history=True)


def with_days(lines: Sequence[Line]) -> list[Line]:
    """``lines`` (oldest first) with a :func:`day_line` before the first and wherever the date changes."""
    out: list[Line] = []
    day = None
    for line in lines:
        if line.time.date() != day:
            day = line.time.date()
            out.append(day_line(line.time))
        out.append(line)
    return out


def _fresh(lines: Sequence[Line], known: set[str]) -> list[Line]:
    """The lines whose msgid is not in ``known`` (nor earlier in ``lines``); lines without one are all kept."""
    seen = set(known)
    out: list[Line] = []
    for line in lines:
        if line.msgid is not None:
            if line.msgid in seen:
                continue
            seen.add(line.msgid)
        out.append(line)
    return out


def mentions(text: str, nick: str) -> bool:
    """Whether ``text`` mentions ``nick`` as a word (case-folded): such a line is a highlight."""
    if not nick:
        return False
    folded_text = casefold(text)
    folded_nick = casefold(nick)
    start = 0
    while True:
        pos = folded_text.find(folded_nick, start)
        if pos == -1:
            return False
        end = pos + len(folded_nick)
        before = folded_text[pos - 1] if pos else " "
        after = folded_text[end] if end < len(folded_text) else " "
        if not _is_nick_char(before) and not _is_nick_char(after):
            return True
        start = pos + 1


def _is_nick_char(ch: str) -> bool:
    return ch.isalnum() or ch in "[]\\`_^{|}-"


class InputHistory:
    """Lines typed earlier, walked with Up/Down; the half-typed line is kept as a draft while walking."""

    def __init__(self, limit: int = HISTORY_ENTRIES) -> None:
        self._entries: deque[str] = deque(maxlen=limit)
        self._pos: int | None = None
        self._draft = ""

    @property
    def entries(self) -> list[str]:
        return list(self._entries)

    def add(self, text: str) -> None:
        """Remember a submitted line (not blank ones, nor a repeat of the last) and stop walking."""
        self._pos = None
        self._draft = ""
        if text.strip() and (not self._entries or self._entries[-1] != text):
            self._entries.append(text)

    def skip(self) -> None:
        """A line was submitted that must not be remembered (it holds a password): stop walking, keep nothing."""
        self._pos = None
        self._draft = ""

    def previous(self, current: str) -> str | None:
        """The entry before the one shown (Up); ``None`` when there is nothing older."""
        if not self._entries:
            return None
        if self._pos is None:
            self._draft = current
            self._pos = len(self._entries) - 1
        elif self._pos > 0:
            self._pos -= 1
        else:
            return None
        return self._entries[self._pos]

    def next(self) -> str | None:
        """The entry after the one shown (Down), the draft after the newest; ``None`` when not walking."""
        if self._pos is None:
            return None
        self._pos += 1
        if self._pos >= len(self._entries):
            self._pos = None
            return self._draft
        return self._entries[self._pos]


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    cursor: int


class TabCompleter:
    """Tab completion of nicks (``nick: `` at the start of a line), channels and ``/commands``.

    Pressing Tab again right after a completion cycles through the other candidates; any edit starts over.
    """

    def __init__(self) -> None:
        self._candidates: list[str] = []
        self._index = 0
        self._start = 0
        self._head = ""
        self._tail = ""
        self._last: Completion | None = None

    def reset(self) -> None:
        self._last = None

    def complete(
        self, text: str, cursor: int, nicks: Sequence[str], commands: Sequence[str], channels: Sequence[str] = ()
    ) -> Completion | None:
        if self._last is not None and self._last == Completion(text, cursor) and len(self._candidates) > 1:
            self._index = (self._index + 1) % len(self._candidates)
            return self._apply()
        start = cursor
        while start > 0 and text[start - 1] != " ":
            start -= 1
        word = text[start:cursor]
        if start == 0 and word.startswith("/") and not word.startswith("//"):
            stem = word[1:].lower()
            candidates = [f"/{c} " for c in sorted(commands) if c.startswith(stem)]
        elif word and word[0] in "#&":
            stem = casefold(word)
            candidates = [f"{c} " for c in channels if casefold(c).startswith(stem)]
        elif word:
            stem = casefold(word)
            suffix = ": " if start == 0 else " "
            candidates = [f"{n}{suffix}" for n in nicks if casefold(n).startswith(stem)]
        else:
            candidates = []
        if not candidates:
            self._last = None
            return None
        self._candidates = candidates
        self._index = 0
        self._start = start
        self._head = text[:start]
        tail = text[cursor:]
        # Completing in the middle of a line: do not double the space that already follows.
        self._tail = tail[1:] if tail.startswith(" ") else tail
        return self._apply()

    def _apply(self) -> Completion:
        choice = self._candidates[self._index]
        text = self._head + choice + self._tail
        self._last = Completion(text, len(self._head) + len(choice))
        return self._last


@dataclass(slots=True)
class Settings:
    """What ``/set`` changes: how lines look and what counts as a mention."""

    timestamp_format: str = "%H:%M"
    """strftime format of the time before each line."""
    nicklist_width: int = 18
    highlight_words: tuple[str, ...] = ()
    """Words that make a line a highlight, as your nick does (compared case-folded, as whole words)."""


NICKLIST_WIDTHS = range(8, 41)
"""Nick list widths ``/set nicklist_width`` accepts."""


def ignore_mask(who: str) -> str:
    """A nick as an ignore mask (``bob`` -> ``bob!*@*``), case-folded; a mask stays a mask."""
    mask = who if any(c in who for c in "!@*?") else f"{who}!*@*"
    return casefold(mask)


class ChatModel:
    """All buffers and the session's visible state; the UI listens for changes and redraws."""

    def __init__(self, nick: str) -> None:
        self.nick = nick
        self.buffers: list[Buffer] = [Buffer(SERVER_BUFFER, BufferKind.SERVER)]
        self.current_index = 0
        self.state = ConnectionState.DISCONNECTED
        self.state_detail = ""
        self.lag: float | None = None
        self.away = False
        self.account: str | None = None
        """The account we are logged in to (900), ``None`` when not logged in."""
        self.prefix_order = "~&@%+"
        self.history = InputHistory()
        self.settings = Settings()
        self.ignores: list[str] = []
        """Case-folded ``nick!user@host`` globs whose messages are not shown (``/ignore``)."""
        self.completer = TabCompleter()
        self._listeners: list[Callable[[], None]] = []
        self._line_listeners: list[Callable[[Buffer, Line], None]] = []

    # -- change notification -------------------------------------------------------------------------------

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after every change (the UI passes its ``invalidate``)."""
        self._listeners.append(listener)

    def add_line_listener(self, listener: Callable[[Buffer, Line], None]) -> None:
        """Call ``listener(buffer, line)`` for every line added at the bottom of a buffer (the log writes them)."""
        self._line_listeners.append(listener)

    def changed(self) -> None:
        for listener in self._listeners:
            listener()

    # -- buffers ---------------------------------------------------------------------------------------------

    @property
    def server(self) -> Buffer:
        return self.buffers[0]

    @property
    def current(self) -> Buffer:
        return self.buffers[self.current_index]

    def find(self, name: str) -> Buffer | None:
        key = casefold(name)
        if key == SERVER_BUFFER:
            return self.server
        for buf in self.buffers[1:]:
            if buf.key == key:
                return buf
        return None

    def index_of(self, buf: Buffer) -> int:
        return self.buffers.index(buf)

    def open(self, name: str, *, switch: bool = False) -> Buffer:
        """The buffer for a channel or nick, created (at the end of the list) when it does not exist yet."""
        buf = self.find(name)
        if buf is None:
            kind = BufferKind.CHANNEL if is_channel_name(name) else BufferKind.QUERY
            buf = Buffer(name, kind)
            self.buffers.append(buf)
        if switch:
            self.switch(self.index_of(buf))
        self.changed()
        return buf

    def close(self, name: str) -> bool:
        buf = self.find(name)
        if buf is None or buf is self.server:
            return False
        current = self.current
        self.buffers.remove(buf)
        if current is buf:
            self.current_index = min(self.current_index, len(self.buffers) - 1)
        else:
            self.current_index = self.index_of(current)
        self.changed()
        return True

    def rename(self, old: str, new: str) -> None:
        """A query partner changed nick: their buffer follows them (unless one for the new nick exists)."""
        buf = self.find(old)
        if buf is not None and buf.kind is BufferKind.QUERY and self.find(new) is None:
            buf.name = new

    def switch(self, index: int) -> bool:
        """Show buffer ``index`` (0 = server); its unread and highlight counts are cleared."""
        if not 0 <= index < len(self.buffers):
            return False
        self.current_index = index
        buf = self.current
        buf.unread = 0
        buf.highlights = 0
        self.completer.reset()
        self.changed()
        return True

    def switch_next(self) -> None:
        self.switch((self.current_index + 1) % len(self.buffers))

    def switch_previous(self) -> None:
        self.switch((self.current_index - 1) % len(self.buffers))

    def channels(self) -> list[Buffer]:
        return [b for b in self.buffers if b.kind is BufferKind.CHANNEL]

    def joined_channels(self) -> list[str]:
        return [b.name for b in self.channels() if b.joined]

    def buffers_with(self, nick: str) -> Iterator[Buffer]:
        """Channels where ``nick`` is a member, and the query with ``nick`` if there is one."""
        for buf in self.buffers[1:]:
            in_channel = buf.kind is BufferKind.CHANNEL and buf.has_member(nick)
            if in_channel or (buf.kind is BufferKind.QUERY and buf.key == casefold(nick)):
                yield buf

    def set_account(self, nick: str, account: str | None) -> list[Buffer]:
        """``nick`` is logged in to ``account`` (``None``: to none) in every channel list they are in; returns the
        channels where that is news."""
        changed: list[Buffer] = []
        for buf in self.channels():
            member = buf.members.get(casefold(nick))
            if member is not None and member.account != account:
                member.account = account
                changed.append(buf)
        if changed:
            self.changed()
        return changed

    # -- lines -----------------------------------------------------------------------------------------------

    def add(self, buf: Buffer, line: Line) -> None:
        """Append a line; a chat line in a buffer you are not looking at counts as unread (or a highlight)."""
        buf.lines.append(line)
        for listener in self._line_listeners:
            listener(buf, line)
        if line.kind in CHAT_KINDS and line.nick and not line.own:
            buf.note_speaker(line.nick)
        if buf is not self.current and not line.own:
            if line.kind in CHAT_KINDS:
                buf.unread += 1
            if line.highlight:
                buf.highlights += 1
        if buf.scrolled:
            if line.own:
                buf.follow()  # you said something: follow the conversation again
            else:
                buf.held += 1  # the view stays on what it shows
                buf.new_below += 1
        self.changed()

    def add_history(self, buf: Buffer, lines: Sequence[Line]) -> int:
        """History replayed on joining: what ``buf`` does not hold yet (by msgid), each day under its date, then a
        separator, all above the line saying we joined (at the end when there is none).  Returns how many
        messages were new.  History never counts as unread or as a highlight.
        """
        new = _fresh(lines, buf.msgids())
        if not new:
            return 0
        block = [*with_days(new), Line(new[-1].time, LineKind.SEPARATOR, HISTORY_SEPARATOR, history=True)]
        items = list(buf.lines)
        at = next(
            (i for i in range(len(items) - 1, -1, -1) if items[i].kind is LineKind.JOIN and items[i].own),
            len(items),
        )
        items[at:at] = block
        buf.lines.clear()
        buf.lines.extend(items)  # a full buffer drops its oldest lines, as it does for live ones
        for line in new:
            if line.kind in CHAT_KINDS and line.nick and not line.own:
                buf.note_speaker(line.nick)
        self.changed()
        return len(new)

    def add_older(self, buf: Buffer, lines: Sequence[Line], *, complete: bool = False) -> int:
        """An older page of history, above everything in ``buf``: the answer to a request made while
        ``history_loading`` was set, which this clears.  ``complete``: the server has nothing older (it sent an
        empty page), so a "beginning of history" line goes on top and nothing more is asked for.

        Lines ``buf`` already holds (by msgid) are left out; a page with nothing new ends the asking too, or the
        same request would be made again and again.  A buffer never grows past its scrollback limit this way:
        the newest lines of the page are kept, and nothing below is pushed out.  The view is counted in rows from
        the bottom, so it stays on what it showed.  Returns how many messages were added.
        """
        buf.history_loading = False
        new = _fresh(lines, buf.msgids())
        room = (SCROLLBACK_LINES if buf.lines.maxlen is None else buf.lines.maxlen) - len(buf.lines)
        keep = min(len(new), room)
        block = with_days(new[len(new) - keep :]) if keep > 0 else []
        while len(block) > room:
            keep -= len(block) - room
            block = with_days(new[len(new) - keep :]) if keep > 0 else []
        top = buf.lines[0] if buf.lines else None
        if block and top is not None and top.kind is LineKind.DAY and top.time.date() == block[-1].time.date():
            buf.lines.popleft()  # the page ends on the day the buffer began with: one date line for both
        if complete and len(block) < room and (block or buf.lines):
            first = block[0] if block else buf.lines[0]
            block.insert(0, Line(first.time, LineKind.SEPARATOR, HISTORY_BEGINNING, history=True))
        buf.history_complete = buf.history_complete or complete or not new
        buf.lines.extendleft(reversed(block))
        self.changed()
        return keep

    def clear(self, buf: Buffer) -> None:
        """Empty ``buf``'s scrollback (``/clear``); nothing is asked of the server."""
        buf.lines.clear()
        buf.follow()
        self.changed()

    def ignored(self, source: str | None) -> bool:
        """Whether a message from ``source`` (``nick!user@host``) is hidden by ``/ignore``."""
        if not self.ignores or not source or "!" not in source:
            return False
        folded = casefold(source)
        return any(fnmatch.fnmatchcase(folded, mask) for mask in self.ignores)

    def set_history_loading(self, buf: Buffer, loading: bool) -> None:
        buf.history_loading = loading
        self.changed()

    def add_to(self, name: str | None, line: Line) -> Buffer:
        """Append to the named buffer (created if needed), or to the server buffer for ``None``."""
        buf = self.server if name is None else self.open(name)
        self.add(buf, line)
        return buf

    def info(self, text: str, *, time: datetime, kind: LineKind = LineKind.INFO, buf: Buffer | None = None) -> None:
        """A line from the client itself (help, errors, connection news) in ``buf`` or the current buffer."""
        self.add(buf if buf is not None else self.current, Line(time, kind, text))

    def set_state(self, state: ConnectionState, detail: str = "") -> None:
        self.state = state
        self.state_detail = detail
        if state is not ConnectionState.CONNECTED:
            self.lag = None
        self.changed()

    # -- what the status line and completion need ----------------------------------------------------------------

    def activity(self) -> list[tuple[int, Buffer]]:
        """Other buffers with unread lines, numbered from 1 as Alt-1..9 and ``/buffer N`` count them."""
        return [(i + 1, b) for i, b in enumerate(self.buffers) if b is not self.current and (b.unread or b.highlights)]

    def completion_nicks(self, buf: Buffer | None = None) -> list[str]:
        """Nicks to offer in ``buf``: recent speakers first, then the rest alphabetically, never yourself."""
        buf = buf if buf is not None else self.current
        me = casefold(self.nick)
        if buf.kind is BufferKind.QUERY:
            return [buf.name]
        names = {key: m.nick for key, m in buf.members.items() if key != me}
        recent = [names[k] for k in buf.recent_speakers if k in names]
        seen = set(map(casefold, recent))
        rest = sorted((n for k, n in names.items() if k not in seen), key=casefold)
        return recent + rest

    def channel_names(self) -> list[str]:
        return [b.name for b in self.channels()]

    def lines(self, buf: Buffer | None = None) -> list[Line]:
        return list((buf if buf is not None else self.current).lines)
