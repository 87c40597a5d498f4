"""Message history and persisted channel state: the values, the store interface, and the in-memory store.

The server keeps what was said in channels (for replay on join and IRCv3 ``draft/chathistory``) and what a
channel must remember across a restart (topic, modes, key, limit, bans) in a :class:`HistoryStore`.  Two
implementations exist:

* :class:`MemoryHistory` (here): a bounded ring per target, for tests and ``--db :memory:``;
* :class:`trio_chat.server.store.sqlite.SQLiteHistory`: SQLite on disk, the default.

Store methods are synchronous and not thread-safe: the server calls them from one worker thread
(:class:`trio_chat.server.store.worker.StoreWorker`), never from the event loop.

Query semantics (shared by every implementation, and by the property test that compares them)
---------------------------------------------------------------------------------------------
Messages of a target are ordered by ``seq``, which the store assigns in increasing order.  A reference
(:data:`Ref`) points into one target's history:

* :class:`MsgidRef` is the position of that message.  A msgid that is not in *that target's* history raises
  :class:`UnknownReference` (the CHATHISTORY handler answers ``FAIL ... INVALID_MSGREFS``).
* :class:`TimeRef` ``t`` is a point in time: "before t" means ``time_ms < t`` and "after t" means
  ``time_ms > t``; a message stamped exactly ``t`` is on neither side (IRCv3 bounds are exclusive, as in ergo).

Every query returns messages oldest first.  ``limit`` is the most it returns; 0 returns nothing, a negative
limit is a :class:`ValueError`.  The query methods are:

* ``latest(t, n)``: the newest ``n``; ``latest(t, n, after=ref)``: the newest ``n`` of those after ``ref``
  (``CHATHISTORY LATEST t * n`` and ``LATEST t <ref> n``).
* ``before(t, ref, n)``: the ``n`` messages closest before ``ref``; ``after(t, ref, n)``: the ``n`` closest after.
* ``around(t, ref, n)``: up to ``n`` messages around ``ref``.  A msgid reference includes that message itself;
  the rest is split evenly, the earlier side getting the odd one, and a side with too few messages leaves its
  share to the other.  For a time reference, messages stamped exactly ``t`` count as the later side.
* ``between(t, a, b, n)``: messages strictly between ``a`` and ``b``, in either direction: when ``a`` is the
  later reference the ``n`` closest to ``a`` (the newest) are chosen; the result is still oldest first.  The
  direction compares ``(time_ms, seq)`` of the references (a :class:`TimeRef` has no seq: equal times count as
  forward).
* ``targets(a, b, n)``: targets with messages strictly between two times, each with the time of its latest
  message there (``CHATHISTORY TARGETS``), ordered by that time; ``a`` later than ``b`` selects the newest.
  It lists every target: the caller filters out those the client may not see (so it should ask for more than
  it will show).
* ``prune(n, age, now)``: per target, first drops messages older than ``age`` (``now - time_ms > age``), then
  keeps the newest ``n``; 0 turns either limit off.

:class:`MemoryHistory` also forgets the oldest messages of a target beyond ``max_per_target``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol, TypeAlias, TypeVar

from .accounts import AccountRecord

__all__ = [
    "ChannelRecord",
    "HistoryStore",
    "MemoryHistory",
    "MsgidRef",
    "ReadMarker",
    "Ref",
    "StoreError",
    "StoredMessage",
    "TimeRef",
    "UnknownReference",
]


class UnknownReference(Exception):
    """A msgid reference that is not in the queried target's history (never stored, redacted, or pruned)."""


class StoreError(Exception):
    """The store cannot be used: its message is one line a user can act on.

    Raised at open ("cannot open history database ./trio-chat.db: it is locked by another process") and while
    running (disk full, file became read-only).  Every other exception from a store is a bug.
    """


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One PRIVMSG, NOTICE or TAGMSG to a target, as stored and replayed."""

    seq: int
    """Assigned by the store, strictly increasing across the whole store; 0 until stored."""
    msgid: str
    """The ``msgid`` tag; unique across the store."""
    time_ms: int
    """The ``server-time`` as Unix milliseconds."""
    target: str
    """The target as displayed (``#Lobby``)."""
    folded: str
    """The case-folded target, the key of its history (``#lobby``)."""
    source: str
    """``nick!user@host`` of the sender."""
    account: str | None
    """The sender's account, if logged in."""
    command: str
    """``PRIVMSG``, ``NOTICE`` or ``TAGMSG``."""
    text: str
    """The trailing parameter (empty for TAGMSG)."""
    tags: tuple[tuple[str, str], ...] = ()
    """Client-only tags (``+draft/react``…) in the order they were sent."""

    def with_seq(self, seq: int) -> StoredMessage:
        """This message as stored under ``seq`` (a direct call: ``dataclasses.replace`` costs several times as
        much, and every channel message passes here)."""
        return StoredMessage(
            seq,
            self.msgid,
            self.time_ms,
            self.target,
            self.folded,
            self.source,
            self.account,
            self.command,
            self.text,
            self.tags,
        )


@dataclass(frozen=True, slots=True)
class MsgidRef:
    """A reference to the message with this msgid (``msgid=...`` in CHATHISTORY)."""

    msgid: str


@dataclass(frozen=True, slots=True)
class TimeRef:
    """A reference to a point in time, Unix milliseconds (``timestamp=...`` in CHATHISTORY)."""

    time_ms: int


Ref: TypeAlias = MsgidRef | TimeRef
"""A point in a target's history: a message or a time."""


@dataclass(frozen=True, slots=True)
class ChannelRecord:
    """What a channel keeps across a restart."""

    name: str
    """As displayed."""
    folded: str
    """Case-folded; the key."""
    created: int
    """Creation time, Unix seconds (RPL_CREATIONTIME)."""
    topic: str = ""
    topic_by: str = ""
    topic_time: int = 0
    modes: str = ""
    """Mode letters without parameters (``"nt"``); ``k`` and ``l`` are :attr:`key` and :attr:`limit`."""
    key: str | None = None
    limit: int | None = None
    bans: tuple[tuple[str, str, int], ...] = ()
    """``(mask, set by, Unix seconds)`` in the order they were set."""
    excepts: tuple[tuple[str, str, int], ...] = ()
    """Ban exceptions (``+e``), as :attr:`bans`."""
    invexes: tuple[tuple[str, str, int], ...] = ()
    """Invite exceptions (``+I``), as :attr:`bans`."""
    founder: str | None = None
    """The account that registered it with ChanServ (as registered), or None: not registered."""
    registered: int = 0
    """When it was registered, Unix seconds (0 if it is not)."""
    ops: tuple[str, ...] = ()
    """Folded names of the accounts the founder listed with ``CS AMODE +o``: they get operator status on joining."""
    metadata: tuple[tuple[str, str], ...] = ()
    """IRCv3 metadata (``draft/metadata-3``) set on the channel: ``(key, value)`` in the order they were set."""


ReadMarker: TypeAlias = tuple[str, str, int]
"""``(account folded, target folded, time_ms)``: the last message the account has read in that target
(IRCv3 ``draft/read-marker``)."""


def line_msgid(msgid: str, index: int) -> str:
    """The msgid under which history keeps line ``index`` (1, 2, …) of the multiline message ``msgid``; its
    first line (0) is kept under ``msgid`` itself.  The server's msgids have no ``/``, so no other message's
    msgid has this form, and a REDACT of ``msgid`` finds every line (see :func:`of_message`)."""
    return f"{msgid}/{index}"


def of_message(candidate: str, msgid: str) -> bool:
    """Whether the stored msgid ``candidate`` is the message ``msgid`` or one of its other lines."""
    return candidate == msgid or candidate.startswith(msgid + "/")


def conversation_key(first: str, second: str) -> str:
    """The history key of the private conversation between two accounts (folded names): both names, sorted,
    joined by a space.  No channel or nick contains a space, so the key is never a target anyone can name."""
    a, b = sorted((first, second))
    return f"{a} {b}"


def conversation_parties(key: str) -> tuple[str, str] | None:
    """The two folded account names of a conversation key; None if ``key`` is a channel's."""
    a, sep, b = key.partition(" ")
    return (a, b) if sep else None


class HistoryStore(Protocol):
    """Where history and channel state live.  Synchronous, called from one thread at a time.

    Environmental failures (disk full, read-only, locked, corrupt) raise :class:`StoreError`; a msgid that is
    not in the target raises :class:`UnknownReference`.  See the module docstring for the query semantics.
    """

    def append_many(self, messages: Sequence[StoredMessage]) -> list[StoredMessage]:
        """Store ``messages`` in one transaction and return them with ``seq`` set, in the same order.

        All or nothing.  A msgid already stored (or twice in ``messages``), or a NUL character in any string, is
        a :class:`ValueError`.
        """
        ...

    def latest(self, folded: str, limit: int, after: Ref | None = None) -> list[StoredMessage]:
        """The newest ``limit`` messages of ``folded`` (only those after ``after``, if given)."""
        ...

    def before(self, folded: str, ref: Ref, limit: int) -> list[StoredMessage]:
        """The ``limit`` messages just before ``ref`` (exclusive)."""
        ...

    def after(self, folded: str, ref: Ref, limit: int) -> list[StoredMessage]:
        """The ``limit`` messages just after ``ref`` (exclusive)."""
        ...

    def around(self, folded: str, ref: Ref, limit: int) -> list[StoredMessage]:
        """Up to ``limit`` messages around ``ref``: about half on each side, the msgid's own message included."""
        ...

    def between(self, folded: str, start: Ref, end: Ref, limit: int) -> list[StoredMessage]:
        """Up to ``limit`` messages strictly between ``start`` and ``end``, counted from ``start``."""
        ...

    def targets(self, start: TimeRef, end: TimeRef, limit: int) -> list[tuple[str, int]]:
        """``(target, time_ms of its latest message)`` for the targets whose latest message (of all, not just of
        the window) is strictly between the times: a target that has had messages since ``end`` is not listed.

        The ``limit`` targets nearest ``start`` are chosen; they are listed oldest first either way."""
        ...

    def conversations(self, account: str, start: TimeRef, end: TimeRef, limit: int) -> list[tuple[str, int]]:
        """``(conversation key, time_ms of its latest message)`` for the private conversations of ``account``
        (folded) whose latest message is strictly between the times, as :meth:`targets` chooses, orders and limits
        them."""
        ...

    def find(self, msgid: str) -> StoredMessage | None:
        """The message with this msgid, in any target."""
        ...

    def redact(self, folded: str, msgid: str) -> bool:
        """Delete the message ``msgid`` of ``folded``, with the other lines of a multiline message (see
        :func:`line_msgid`); False if there is none."""
        ...

    def prune(self, max_messages: int, max_age_ms: int, now_ms: int) -> int:
        """Apply retention: keep at most ``max_messages`` per target, none older than ``max_age_ms``.

        0 means no limit.  A message is too old when ``now_ms - time_ms > max_age_ms``.  Returns how many
        messages were deleted.
        """
        ...

    def targets_with_history(self) -> list[str]:
        """The folded names of every target with at least one message, sorted."""
        ...

    def save_channel(self, record: ChannelRecord) -> None:
        """Insert or replace the record of ``record.folded``."""
        ...

    def delete_channel(self, folded: str) -> None:
        """Forget a channel's record (no error if there is none)."""
        ...

    def rename_channel(self, old: str, record: ChannelRecord) -> None:
        """The channel ``old`` (folded) is now ``record.name``: its messages (target and folded name), read
        markers and record move to the new name, in one transaction; ``record`` replaces the old record."""
        ...

    def load_channels(self) -> list[ChannelRecord]:
        """Every saved channel, sorted by folded name."""
        ...

    def save_account(self, record: AccountRecord) -> None:
        """Insert or replace the account ``record.folded`` (see :class:`~.accounts.AccountStore`)."""
        ...

    def delete_account(self, folded: str) -> None:
        """Forget an account and its read markers (no error if there is none)."""
        ...

    def load_accounts(self) -> list[AccountRecord]:
        """Every account, sorted by folded name."""
        ...

    def save_marker(self, account: str, target: str, time_ms: int) -> None:
        """Insert or replace the read marker of ``account`` (folded) in ``target`` (folded)."""
        ...

    def load_markers(self) -> list[ReadMarker]:
        """Every read marker, sorted by account and target."""
        ...

    def close(self) -> None:
        """Release the store (for SQLite: close the connection).  Later calls are errors."""
        ...


# -- Helpers shared by the implementations ------------------------------------------------------------------

_T = TypeVar("_T")


def check_limit(limit: int) -> None:
    """Reject a negative limit (the CHATHISTORY handler validates user input before it gets here)."""
    if limit < 0:
        raise ValueError(f"limit must be 0 or more, not {limit}")


def check_messages(messages: Sequence[StoredMessage]) -> None:
    """Refuse strings with NUL (IRC forbids it; the SQLite store could not keep it): :class:`ValueError`."""
    for m in messages:
        strings = [m.msgid, m.target, m.folded, m.source, m.account or "", m.command, m.text]
        strings += [part for tag in m.tags for part in tag]
        if any("\0" in string for string in strings):
            raise ValueError(f"message {m.msgid!r} contains NUL")


def around_split(before: int, after: int, budget: int) -> tuple[int, int]:
    """How many messages AROUND takes from each side, given how many each side has and the budget.

    Half each, the earlier side getting the odd one; when one side runs short the other fills in.
    """
    take_after = min(after, budget // 2)
    take_before = min(before, budget - take_after)
    take_after = min(after, budget - take_before)
    return take_before, take_after


def time_key(ref: Ref, resolve: Callable[[str], tuple[int, int]]) -> tuple[int, int]:
    """``(time_ms, seq)`` of a reference, to decide which way BETWEEN goes; ``resolve`` maps a msgid."""
    if isinstance(ref, TimeRef):
        return (ref.time_ms, 0)
    return resolve(ref.msgid)


# -- In memory ----------------------------------------------------------------------------------------------


def _newest(items: Iterable[_T], limit: int) -> list[_T]:
    """The last ``limit`` of ``items``, in order."""
    if limit == 0:
        return []
    return list(deque(items, maxlen=limit))


def _oldest(items: Iterable[_T], limit: int) -> list[_T]:
    """The first ``limit`` of ``items``, in order."""
    out: list[_T] = []
    if limit == 0:
        return out
    for item in items:
        out.append(item)
        if len(out) == limit:
            break
    return out


class MemoryHistory:
    """A :class:`HistoryStore` in memory: a bounded ring (``deque``) per target, lost when the process ends.

    Each target keeps its newest ``max_per_target`` messages; older ones fall off as new ones arrive.  Queries
    scan a target's ring, which is fine at this size and keeps the code an obvious reading of the semantics
    (the property test uses it as the reference for :class:`~trio_chat.server.store.sqlite.SQLiteHistory`).
    """

    def __init__(self, max_per_target: int = 10_000) -> None:
        if max_per_target < 1:
            raise ValueError("max_per_target must be at least 1")
        self.max_per_target = max_per_target
        self._rings: dict[str, deque[StoredMessage]] = {}
        self._by_msgid: dict[str, StoredMessage] = {}
        self._channels: dict[str, ChannelRecord] = {}
        self._accounts: dict[str, AccountRecord] = {}
        self._markers: dict[tuple[str, str], int] = {}
        self._next_seq = 1

    # -- writing --

    def append_many(self, messages: Sequence[StoredMessage]) -> list[StoredMessage]:
        check_messages(messages)
        seen: set[str] = set()
        for message in messages:
            if message.msgid in self._by_msgid or message.msgid in seen:
                raise ValueError(f"duplicate msgid {message.msgid!r}")
            seen.add(message.msgid)
        stored: list[StoredMessage] = []
        for message in messages:
            item = message.with_seq(self._next_seq)
            self._next_seq += 1
            ring = self._rings.get(item.folded)
            if ring is None:
                ring = self._rings[item.folded] = deque(maxlen=self.max_per_target)
            if len(ring) == ring.maxlen:
                del self._by_msgid[ring[0].msgid]
            ring.append(item)
            self._by_msgid[item.msgid] = item
            stored.append(item)
        return stored

    def redact(self, folded: str, msgid: str) -> bool:
        ring = self._rings.get(folded)
        if ring is None:
            return False
        doomed = [m for m in ring if of_message(m.msgid, msgid)]
        for message in doomed:
            ring.remove(message)
            del self._by_msgid[message.msgid]
        if not ring:
            del self._rings[folded]
        return bool(doomed)

    def prune(self, max_messages: int, max_age_ms: int, now_ms: int) -> int:
        if max_messages < 0 or max_age_ms < 0:
            raise ValueError("retention limits must be 0 (no limit) or more")
        deleted = 0
        for folded in list(self._rings):
            ring = self._rings[folded]
            keep = list(ring)
            if max_age_ms:
                keep = [m for m in keep if now_ms - m.time_ms <= max_age_ms]
            if max_messages and len(keep) > max_messages:
                keep = keep[-max_messages:]
            if len(keep) == len(ring):
                continue
            kept = {m.msgid for m in keep}
            for message in ring:
                if message.msgid not in kept:
                    del self._by_msgid[message.msgid]
                    deleted += 1
            if keep:
                self._rings[folded] = deque(keep, maxlen=self.max_per_target)
            else:
                del self._rings[folded]
        return deleted

    # -- reading --

    def _ring(self, folded: str) -> deque[StoredMessage]:
        return self._rings.get(folded) or deque()

    def _resolve(self, folded: str, msgid: str) -> StoredMessage:
        message = self._by_msgid.get(msgid)
        if message is None or message.folded != folded:
            raise UnknownReference(msgid)
        return message

    def _is_after(self, folded: str, ref: Ref) -> Callable[[StoredMessage], bool]:
        """A predicate: is a message of ``folded`` after ``ref`` (exclusive)?"""
        if isinstance(ref, TimeRef):
            t = ref.time_ms
            return lambda m: m.time_ms > t
        seq = self._resolve(folded, ref.msgid).seq
        return lambda m: m.seq > seq

    def _is_before(self, folded: str, ref: Ref) -> Callable[[StoredMessage], bool]:
        """A predicate: is a message of ``folded`` before ``ref`` (exclusive)?"""
        if isinstance(ref, TimeRef):
            t = ref.time_ms
            return lambda m: m.time_ms < t
        seq = self._resolve(folded, ref.msgid).seq
        return lambda m: m.seq < seq

    def latest(self, folded: str, limit: int, after: Ref | None = None) -> list[StoredMessage]:
        check_limit(limit)
        if after is None:
            return _newest(self._ring(folded), limit)
        is_after = self._is_after(folded, after)
        return _newest(filter(is_after, self._ring(folded)), limit)

    def before(self, folded: str, ref: Ref, limit: int) -> list[StoredMessage]:
        check_limit(limit)
        is_before = self._is_before(folded, ref)
        return _newest(filter(is_before, self._ring(folded)), limit)

    def after(self, folded: str, ref: Ref, limit: int) -> list[StoredMessage]:
        check_limit(limit)
        is_after = self._is_after(folded, ref)
        return _oldest(filter(is_after, self._ring(folded)), limit)

    def around(self, folded: str, ref: Ref, limit: int) -> list[StoredMessage]:
        check_limit(limit)
        ring = self._ring(folded)
        if isinstance(ref, MsgidRef):
            centre = self._resolve(folded, ref.msgid)
            if limit == 0:
                return []
            budget = limit - 1
            earlier = [m for m in ring if m.seq < centre.seq]
            later = [m for m in ring if m.seq > centre.seq]
            middle = [centre]
        else:
            budget = limit
            earlier = [m for m in ring if m.time_ms < ref.time_ms]
            later = [m for m in ring if m.time_ms >= ref.time_ms]
            middle = []
        take_before, take_after = around_split(len(earlier), len(later), budget)
        return _newest(earlier, take_before) + middle + later[:take_after]

    def between(self, folded: str, start: Ref, end: Ref, limit: int) -> list[StoredMessage]:
        check_limit(limit)

        def resolve(msgid: str) -> tuple[int, int]:
            message = self._resolve(folded, msgid)
            return (message.time_ms, message.seq)

        forward = time_key(start, resolve) <= time_key(end, resolve)
        low, high = (start, end) if forward else (end, start)
        is_after, is_before = self._is_after(folded, low), self._is_before(folded, high)
        inside = [m for m in self._ring(folded) if is_after(m) and is_before(m)]
        return _oldest(inside, limit) if forward else _newest(inside, limit)

    def targets(self, start: TimeRef, end: TimeRef, limit: int) -> list[tuple[str, int]]:
        check_limit(limit)
        low, high = sorted((start.time_ms, end.time_ms))
        # A target's latest message overall decides: one with newer messages after the window is not listed.
        latest = [ring[-1] for ring in self._rings.values() if ring and low < ring[-1].time_ms < high]
        latest.sort(key=lambda m: (m.time_ms, m.seq))
        chosen = _oldest(latest, limit) if start.time_ms <= end.time_ms else _newest(latest, limit)
        return [(m.target, m.time_ms) for m in chosen]

    def conversations(self, account: str, start: TimeRef, end: TimeRef, limit: int) -> list[tuple[str, int]]:
        check_limit(limit)
        low, high = sorted((start.time_ms, end.time_ms))
        latest: list[StoredMessage] = []
        for key, ring in self._rings.items():
            parties = conversation_parties(key)
            if parties is None or account not in parties:
                continue
            if ring and low < ring[-1].time_ms < high:
                latest.append(ring[-1])
        latest.sort(key=lambda m: (m.time_ms, m.seq))
        chosen = _oldest(latest, limit) if start.time_ms <= end.time_ms else _newest(latest, limit)
        return [(m.folded, m.time_ms) for m in chosen]

    def find(self, msgid: str) -> StoredMessage | None:
        return self._by_msgid.get(msgid)

    def targets_with_history(self) -> list[str]:
        return sorted(self._rings)

    # -- channels --

    def save_channel(self, record: ChannelRecord) -> None:
        self._channels[record.folded] = record

    def delete_channel(self, folded: str) -> None:
        self._channels.pop(folded, None)

    def rename_channel(self, old: str, record: ChannelRecord) -> None:
        ring = self._rings.pop(old, None)
        if ring is not None:
            moved = [replace(m, target=record.name, folded=record.folded) for m in ring]
            self._rings[record.folded] = deque(moved, maxlen=ring.maxlen)
            self._by_msgid.update((m.msgid, m) for m in moved)
        for account, target in [k for k in self._markers if k[1] == old]:
            self._markers[(account, record.folded)] = self._markers.pop((account, target))
        self._channels.pop(old, None)
        self._channels[record.folded] = record

    def load_channels(self) -> list[ChannelRecord]:
        return [self._channels[k] for k in sorted(self._channels)]

    # -- accounts --

    def save_account(self, record: AccountRecord) -> None:
        self._accounts[record.folded] = record

    def delete_account(self, folded: str) -> None:
        self._accounts.pop(folded, None)
        for key in [k for k in self._markers if k[0] == folded]:
            del self._markers[key]

    def load_accounts(self) -> list[AccountRecord]:
        return [self._accounts[k] for k in sorted(self._accounts)]

    # -- read markers --

    def save_marker(self, account: str, target: str, time_ms: int) -> None:
        self._markers[(account, target)] = time_ms

    def load_markers(self) -> list[ReadMarker]:
        return [(a, t, self._markers[(a, t)]) for a, t in sorted(self._markers)]

    def close(self) -> None:
        """Nothing to release: the data stays until the object is dropped."""


class HistoryService(Protocol):
    """The store as the server uses it, off the event loop's critical path (``store.StoreWorker`` runs a store in
    a thread; ``store.InlineStoreWorker`` runs an in-memory one on the trio thread).

    ``append`` never blocks: ``on_commit`` is called later, on the trio thread, with the stored message (``seq``
    set) once it is committed, or with None if that failed.  Queries see every append made before them.
    """

    def append(self, message: StoredMessage, on_commit: Callable[[StoredMessage | None], None] | None = None) -> None:
        """Queue ``message`` for the next group commit."""
        ...

    def save_channel_nowait(self, record: ChannelRecord) -> None: ...

    def delete_channel_nowait(self, folded: str) -> None: ...

    def rename_channel_nowait(self, old: str, record: ChannelRecord) -> None:
        """Queue :meth:`HistoryStore.rename_channel` after every append made before; failures are logged."""
        ...

    def save_account_nowait(self, record: AccountRecord) -> None:
        """Queue a write of an account record; failures are logged."""
        ...

    def delete_account_nowait(self, folded: str) -> None: ...

    def save_marker_nowait(self, account: str, target: str, time_ms: int) -> None:
        """Queue a write of a read marker; failures are logged."""
        ...

    async def latest(self, folded: str, limit: int, after: Ref | None = None) -> list[StoredMessage]: ...

    async def before(self, folded: str, ref: Ref, limit: int) -> list[StoredMessage]: ...

    async def after(self, folded: str, ref: Ref, limit: int) -> list[StoredMessage]: ...

    async def around(self, folded: str, ref: Ref, limit: int) -> list[StoredMessage]: ...

    async def between(self, folded: str, start: Ref, end: Ref, limit: int) -> list[StoredMessage]: ...

    async def targets(self, start: TimeRef, end: TimeRef, limit: int) -> list[tuple[str, int]]: ...

    async def conversations(self, account: str, start: TimeRef, end: TimeRef, limit: int) -> list[tuple[str, int]]:
        """See :meth:`HistoryStore.conversations`."""
        ...

    async def find(self, msgid: str) -> StoredMessage | None:
        """The message with this msgid, in any target (REDACT looks up its sender here)."""
        ...

    async def redact(self, folded: str, msgid: str) -> bool: ...

    async def prune(self, max_messages: int, max_age_ms: int, now_ms: int) -> int:
        """Apply retention (see :meth:`HistoryStore.prune`); returns how many messages were deleted."""
        ...
