"""The history store on disk: :class:`SQLiteHistory`, a :class:`~trio_chat.server.history.HistoryStore` on stdlib
``sqlite3`` (the only module of trio-chat that imports it).

How the file is used
--------------------
* **One process at a time.**  The connection sets ``locking_mode=EXCLUSIVE`` before entering WAL mode and then
  writes (the migration transaction), so it holds an exclusive lock on the file until it is closed.  A second
  trio-chat (or the ``sqlite3`` shell) on the same file fails at open with "it is locked by another process",
  instead of two servers interleaving writes.  With the lock held no ``-shm`` file is used.  The lock belongs
  to the process: SIGKILL releases it.
* **Durability.**  WAL mode with ``synchronous=NORMAL``: a COMMIT appends the transaction to the ``-wal`` file
  with ``write()`` and returns without ``fsync``.  The data is then in the operating system's page cache, which
  belongs to the kernel, not to the process, so it survives the server being killed (SIGKILL, OOM killer, a
  crash) at any moment after the COMMIT returned; the next open replays the WAL.  That is the promise the
  server makes to senders ("a message whose echo was sent survives SIGKILL").  It does NOT survive an operating
  system crash or power loss: the last transactions before the last checkpoint's ``fsync`` may be lost (the
  database stays consistent).  ``synchronous=FULL`` would fsync every commit and cost far more than the
  messages themselves.
* **Threads.**  The connection is opened with ``check_same_thread=False`` because it is created on the trio
  thread at start-up (so a bad file stops the server with a clear message before it accepts anyone) and then
  used only by the store's worker thread.  The object is not thread-safe: one thread at a time.
* **Schema.**  Versioned with ``PRAGMA user_version``.  :data:`MIGRATIONS` is an ordered list; opening applies,
  in one transaction, those the file has not seen yet (from 0, an empty file).  A file whose version is newer
  than this code is refused.  To change the schema, append a migration, never edit an old one.
* **Few round trips through the GIL.**  The ``sqlite3`` module releases the GIL around every step of a
  statement (every row inserted or fetched, every BEGIN and COMMIT).  A worker thread that gave the GIL away can
  wait a long time to get it back from a busy event loop: CPython forces a switch only after 5 ms without any,
  and trio releases and retakes the GIL at every scheduler pass (``epoll``), so the waiter keeps losing the race.
  Row by row, a 500-message commit took seconds under load.  So a batch is ONE ``INSERT … SELECT … FROM
  (VALUES …)`` (up to :data:`MAX_ROWS_PER_INSERT` rows; in autocommit mode that statement is its own
  transaction, no BEGIN/COMMIT), and message queries return their rows as ONE JSON value
  (``json_group_array``).  JSON cannot carry NUL characters out of SQLite, so strings with NUL are refused (IRC
  forbids NUL anyway).

Every query is parameterised; the only SQL built at run time is chosen among fixed fragments (``seq > ?``,
``time_ms < ?``, ``ASC``/``DESC``, repetitions of the row placeholder ``(?, ?, …)``), and ``PRAGMA user_version``
(which takes no parameters) gets an integer from :data:`MIGRATIONS`' length.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import update_wrapper
from typing import Any, Concatenate, ParamSpec, TypeVar

from ..accounts import AccountRecord
from ..history import (
    ChannelRecord,
    MsgidRef,
    ReadMarker,
    Ref,
    StoredMessage,
    StoreError,
    TimeRef,
    UnknownReference,
    around_split,
    check_limit,
    check_messages,
    time_key,
)

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "SQLiteHistory"]

BUSY_TIMEOUT = 0.1
"""Seconds to wait for a lock.  We hold our own lock for good, so waiting only delays reporting that another
process has the file."""

JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024
"""The WAL is truncated to this size after a checkpoint, so one burst does not leave a huge file behind."""

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # Version 1: the first schema.
    (
        # AUTOINCREMENT: a seq is never reused, even after the newest message is redacted or pruned, so
        # seq is strictly increasing over the life of the file (and append_many can compute the seqs of a
        # batch from the last one: see there).
        """
        CREATE TABLE messages (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            msgid TEXT NOT NULL UNIQUE,
            time_ms INTEGER NOT NULL,
            folded TEXT NOT NULL,
            target TEXT NOT NULL,
            source TEXT NOT NULL,
            account TEXT,
            command TEXT NOT NULL,
            text TEXT NOT NULL,
            tags TEXT NOT NULL DEFAULT ''
        )
        """,
        "CREATE INDEX messages_by_target_seq ON messages (folded, seq)",
        "CREATE INDEX messages_by_target_time ON messages (folded, time_ms)",
        """
        CREATE TABLE channels (
            folded TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            created INTEGER NOT NULL,
            topic TEXT NOT NULL,
            topic_by TEXT NOT NULL,
            topic_time INTEGER NOT NULL,
            modes TEXT NOT NULL,
            key TEXT,
            user_limit INTEGER,
            bans TEXT NOT NULL
        ) WITHOUT ROWID
        """,
    ),
    # Version 2: accounts (name as registered, password hash, creation time, certificate fingerprints as JSON).
    (
        """
        CREATE TABLE accounts (
            folded TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            created INTEGER NOT NULL,
            certfps TEXT NOT NULL
        ) WITHOUT ROWID
        """,
    ),
    # Version 3: registered channels (founder, registration time, the accounts opped on join as JSON) and
    # read markers (draft/read-marker) per account and target.
    (
        "ALTER TABLE channels ADD COLUMN founder TEXT",
        "ALTER TABLE channels ADD COLUMN registered INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE channels ADD COLUMN ops TEXT NOT NULL DEFAULT '[]'",
        """
        CREATE TABLE read_markers (
            account TEXT NOT NULL,
            target TEXT NOT NULL,
            time_ms INTEGER NOT NULL,
            PRIMARY KEY (account, target)
        ) WITHOUT ROWID
        """,
    ),
    # Version 4: channel metadata (draft/metadata-3), a JSON list of [key, value] in the order they were set.
    ("ALTER TABLE channels ADD COLUMN metadata TEXT NOT NULL DEFAULT '[]'",),
)
"""Schema migrations: ``MIGRATIONS[i]`` takes a file from version ``i`` to ``i + 1``."""

SCHEMA_VERSION = len(MIGRATIONS)
"""The schema version this code writes."""

_COLUMNS = "seq, msgid, time_ms, target, folded, source, account, command, text, tags"
_SELECT = f"SELECT {_COLUMNS} FROM messages"
# A batch goes in as ONE statement (see the module docstring): rows of (ordinal, the 9 columns) in a VALUES list,
# padded with NULL rows to a size among a few (exactly 1..16, then powers of two up to MAX_ROWS_PER_INSERT), so
# that only a couple of dozen statements are ever compiled and cached; the padding is filtered out and the
# ordinal keeps the rows (and so their seqs) in batch order.
_INSERT_HEAD = (
    "INSERT INTO messages (msgid, time_ms, folded, target, source, account, command, text, tags)"
    " SELECT column2, column3, column4, column5, column6, column7, column8, column9, column10 FROM (VALUES "
)
_INSERT_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_INSERT_TAIL = ") WHERE column1 IS NOT NULL ORDER BY column1"
_INSERT_WIDTH = 10
_PADDING: tuple[None, ...] = (None,) * _INSERT_WIDTH
MAX_ROWS_PER_INSERT = 1024
"""Rows per INSERT statement (fewer if the SQLite build allows fewer parameters); larger batches take several."""


def _insert_size(rows: int) -> int:
    """The statement size that takes ``rows`` rows: exact up to 16, then the next power of two."""
    return rows if rows <= 16 else 1 << (rows - 1).bit_length()


_P = ParamSpec("_P")
_R = TypeVar("_R")

Row = tuple[Any, ...]


def _reason(exc: sqlite3.Error, path: str) -> str:
    """What is wrong, in words a user can act on (the part after "cannot open history database PATH: ")."""
    name: str = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith("SQLITE_FULL"):
        return "disk full"
    if name.startswith("SQLITE_NOTADB"):
        return "the file is not a database (corrupt?)"
    if name.startswith("SQLITE_CORRUPT"):
        return "the database is corrupt"
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return "it is locked by another process"
    if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH", "SQLITE_IOERR")):
        # A read-only file is opened read-only and then fails in several ways (SQLITE_READONLY on a write,
        # SQLITE_IOERR_LOCK when taking the exclusive lock): look at the file system to say which.
        problem = _file_problem(path)
        if problem is not None:
            return problem
        if name.startswith("SQLITE_READONLY"):
            return "read-only"
        if name.startswith("SQLITE_IOERR"):
            return f"I/O error ({name})"
        return "cannot open the file"
    return str(exc).rstrip(".") or name or type(exc).__name__


def _file_problem(path: str) -> str | None:
    """Why ``path`` cannot be a writable database, as far as the file system tells, or None."""
    if path == ":memory:":
        return None
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        return f"directory {directory} does not exist"
    if os.path.isdir(path):
        return "it is a directory"
    if os.path.exists(path) and not os.access(path, os.W_OK):
        return "read-only"
    if not os.access(directory, os.W_OK):
        return f"read-only (directory {directory} is not writable, and the write-ahead log is created there)"
    return None


def _translated(
    method: Callable[Concatenate[SQLiteHistory, _P], _R],
) -> Callable[Concatenate[SQLiteHistory, _P], _R]:
    """Turn sqlite3 exceptions into :class:`StoreError` (or :class:`ValueError` for a duplicate msgid)."""

    def wrapper(self: SQLiteHistory, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.IntegrityError as exc:
            raise ValueError(f"cannot store message: {exc}") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"history database {self.path}: {_reason(exc, self.path)}") from exc

    update_wrapper(wrapper, method)
    return wrapper


def _encode_tags(tags: tuple[tuple[str, str], ...]) -> str:
    return json.dumps(tags, ensure_ascii=False, separators=(",", ":")) if tags else ""


def _decode_tags(text: str) -> tuple[tuple[str, str], ...]:
    if not text:
        return ()
    return tuple((str(key), str(value)) for key, value in json.loads(text))


def _message(row: Row) -> StoredMessage:
    seq, msgid, time_ms, target, folded, source, account, command, text, tags = row
    return StoredMessage(seq, msgid, time_ms, target, folded, source, account, command, text, _decode_tags(tags))


def _migrate(conn: sqlite3.Connection, path: str) -> None:
    """Bring the file to :data:`SCHEMA_VERSION` in one write transaction (which also takes the exclusive lock)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"cannot open history database {path}: it was written by a newer trio-chat "
                f"(schema version {version}; this version knows up to {SCHEMA_VERSION})"
            )
        if version == 0:
            tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
            if tables:
                raise StoreError(
                    f"cannot open history database {path}: it is a database of something else "
                    f"(it has tables but no trio-chat schema version)"
                )
        for statements in MIGRATIONS[version:]:
            for statement in statements:
                conn.execute(statement)
        if version != SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise


class SQLiteHistory:
    """A :class:`~trio_chat.server.history.HistoryStore` in an SQLite file (see the module docstring).

    Create it with :meth:`open`.  Every method raises :class:`StoreError` when the database fails.
    """

    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        """Wrap an open, migrated connection; use :meth:`open` instead."""
        self._conn = conn
        self.path = path
        rows = min(MAX_ROWS_PER_INSERT, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // _INSERT_WIDTH)
        self._max_rows = 1 << (max(rows, 1).bit_length() - 1)  # a power of two, so that chunks need no padding

    @classmethod
    def open(cls, path: str) -> SQLiteHistory:
        """Open (creating if need be) and migrate the database at ``path`` (``":memory:"`` for a throwaway one).

        Raises :class:`StoreError` with one clear line when the file cannot be used: locked by another process,
        read-only, not a database, written by a newer trio-chat, directory missing, disk full.
        """
        try:
            conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open history database {path}: {_reason(exc, path)}") from exc
        try:
            # Exclusive before WAL: the WAL index then lives in our memory (no -shm file) and no other
            # connection can open the file while we have it.
            conn.execute("PRAGMA locking_mode = EXCLUSIVE")
            mode = str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
            if mode != "wal" and path != ":memory:":
                raise StoreError(f"cannot open history database {path}: it cannot use write-ahead logging ({mode})")
            # See the module docstring: survives the death of the process, not of the operating system.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT:d}")
            _migrate(conn, path)
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(f"cannot open history database {path}: {_reason(exc, path)}") from exc
        except BaseException:
            conn.close()
            raise
        return cls(conn, path)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed if the block succeeds, rolled back if anything fails (COMMIT too)."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise

    # -- writing --

    @_translated
    def append_many(self, messages: Sequence[StoredMessage]) -> list[StoredMessage]:
        if not messages:
            return []
        check_messages(messages)
        last = 0
        if len(messages) <= self._max_rows:
            # One statement in autocommit mode is one transaction: all rows or none.
            last = self._insert(messages)
        else:
            with self._transaction():
                for start in range(0, len(messages), self._max_rows):
                    last = self._insert(messages[start : start + self._max_rows])
        # AUTOINCREMENT gives each row one more than the largest seq ever used, the rows go in in batch order, and
        # nothing else writes meanwhile (one connection, one thread): the batch got consecutive seqs.
        first = last - len(messages) + 1
        return [
            StoredMessage(
                first + i, m.msgid, m.time_ms, m.target, m.folded, m.source, m.account, m.command, m.text, m.tags
            )
            for i, m in enumerate(messages)
        ]

    def _insert(self, messages: Sequence[StoredMessage]) -> int:
        """One INSERT statement for up to ``_max_rows`` messages; returns the seq of the last one."""
        size = _insert_size(len(messages))
        values: list[object] = []
        for ordinal, m in enumerate(messages):
            values += (ordinal, m.msgid, m.time_ms, m.folded, m.target, m.source, m.account, m.command, m.text)
            values.append(_encode_tags(m.tags))
        values += _PADDING * (size - len(messages))
        cursor = self._conn.execute(_INSERT_HEAD + ", ".join([_INSERT_ROW] * size) + _INSERT_TAIL, values)
        if cursor.rowcount != len(messages) or cursor.lastrowid is None:
            raise StoreError(f"history database {self.path}: inserted {cursor.rowcount} of {len(messages)} rows")
        return cursor.lastrowid

    @_translated
    def redact(self, folded: str, msgid: str) -> bool:
        with self._transaction() as conn:
            deleted = conn.execute("DELETE FROM messages WHERE folded = ? AND msgid = ?", (folded, msgid)).rowcount
            # The other lines of a multiline message: msgids ``msgid/1``, ``msgid/2``… (history.line_msgid), the
            # strings between ``msgid/`` and ``msgid0`` ("0" follows "/"): a range of the msgid index, which the
            # ``+`` keeps the planner on (it would otherwise scan the channel's messages through its index).
            deleted += conn.execute(
                "DELETE FROM messages WHERE msgid > ? AND msgid < ? AND +folded = ?", (msgid + "/", msgid + "0", folded)
            ).rowcount
            return deleted > 0

    @_translated
    def prune(self, max_messages: int, max_age_ms: int, now_ms: int) -> int:
        if max_messages < 0 or max_age_ms < 0:
            raise ValueError("retention limits must be 0 (no limit) or more")
        if not max_messages and not max_age_ms:
            return 0
        deleted = 0
        with self._transaction() as conn:
            targets = [row[0] for row in conn.execute("SELECT DISTINCT folded FROM messages")]
            for folded in targets:
                # Age first, then count, in that order in every store (they differ if clocks went backwards).
                if max_age_ms:
                    deleted += conn.execute(
                        "DELETE FROM messages WHERE folded = ? AND time_ms < ?", (folded, now_ms - max_age_ms)
                    ).rowcount
                if max_messages:
                    deleted += conn.execute(
                        "DELETE FROM messages WHERE folded = ? AND seq <= "
                        "(SELECT seq FROM messages WHERE folded = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                        (folded, folded, max_messages),
                    ).rowcount
        return deleted

    # -- reading --

    def _resolve(self, folded: str, msgid: str) -> tuple[int, int]:
        """``(time_ms, seq)`` of a msgid in ``folded``, or :class:`UnknownReference`."""
        row = self._conn.execute(
            "SELECT time_ms, seq FROM messages WHERE msgid = ? AND folded = ?", (msgid, folded)
        ).fetchone()
        if row is None:
            raise UnknownReference(msgid)
        return (row[0], row[1])

    def _bound(self, folded: str, ref: Ref, *, after: bool) -> tuple[str, int]:
        """An SQL condition (fixed text) and its parameter: messages after (or before) ``ref``, exclusive."""
        if isinstance(ref, TimeRef):
            return ("time_ms > ?" if after else "time_ms < ?"), ref.time_ms
        _, seq = self._resolve(folded, ref.msgid)
        return ("seq > ?" if after else "seq < ?"), seq

    def _select(self, folded: str, conditions: Sequence[tuple[str, int]], *, newest: bool, limit: int) -> list[Row]:
        """Rows of ``folded`` meeting every condition: the ``limit`` oldest or newest, oldest first.

        The rows come back as one JSON array (one step, see the module docstring), sorted here by seq.
        """
        if limit == 0:
            return []
        where = "".join(f" AND {sql}" for sql, _ in conditions)
        order = "DESC" if newest else "ASC"
        (text,) = self._conn.execute(
            f"SELECT json_group_array(json_array({_COLUMNS})) FROM"
            f" ({_SELECT} WHERE folded = ?{where} ORDER BY seq {order} LIMIT ?)",
            (folded, *(param for _, param in conditions), limit),
        ).fetchone()
        rows: list[Row] = [tuple(row) for row in json.loads(text)]
        rows.sort(key=lambda row: int(row[0]))
        return rows

    @_translated
    def latest(self, folded: str, limit: int, after: Ref | None = None) -> list[StoredMessage]:
        check_limit(limit)
        conditions = [] if after is None else [self._bound(folded, after, after=True)]
        return [_message(row) for row in self._select(folded, conditions, newest=True, limit=limit)]

    @_translated
    def before(self, folded: str, ref: Ref, limit: int) -> list[StoredMessage]:
        check_limit(limit)
        conditions = [self._bound(folded, ref, after=False)]
        return [_message(row) for row in self._select(folded, conditions, newest=True, limit=limit)]

    @_translated
    def after(self, folded: str, ref: Ref, limit: int) -> list[StoredMessage]:
        check_limit(limit)
        conditions = [self._bound(folded, ref, after=True)]
        return [_message(row) for row in self._select(folded, conditions, newest=False, limit=limit)]

    @_translated
    def around(self, folded: str, ref: Ref, limit: int) -> list[StoredMessage]:
        check_limit(limit)
        middle: list[Row] = []
        if isinstance(ref, MsgidRef):
            _, seq = self._resolve(folded, ref.msgid)
            if limit == 0:
                return []
            budget = limit - 1
            middle = self._conn.execute(f"{_SELECT} WHERE seq = ?", (seq,)).fetchall()
            earlier_cond, later_cond = ("seq < ?", seq), ("seq > ?", seq)
        else:
            budget = limit
            earlier_cond, later_cond = ("time_ms < ?", ref.time_ms), ("time_ms >= ?", ref.time_ms)
        earlier = self._select(folded, [earlier_cond], newest=True, limit=budget)
        later = self._select(folded, [later_cond], newest=False, limit=budget)
        take_before, take_after = around_split(len(earlier), len(later), budget)
        rows = earlier[len(earlier) - take_before :] + middle + later[:take_after]
        return [_message(row) for row in rows]

    @_translated
    def between(self, folded: str, start: Ref, end: Ref, limit: int) -> list[StoredMessage]:
        check_limit(limit)
        forward = time_key(start, lambda m: self._resolve(folded, m)) <= time_key(
            end, lambda m: self._resolve(folded, m)
        )
        low, high = (start, end) if forward else (end, start)
        conditions = [self._bound(folded, low, after=True), self._bound(folded, high, after=False)]
        return [_message(row) for row in self._select(folded, conditions, newest=not forward, limit=limit)]

    @_translated
    def targets(self, start: TimeRef, end: TimeRef, limit: int) -> list[tuple[str, int]]:
        check_limit(limit)
        if limit == 0:
            return []
        forward = start.time_ms <= end.time_ms
        low, high = sorted((start.time_ms, end.time_ms))
        order = "ASC" if forward else "DESC"
        # With a single MAX() aggregate, SQLite takes the bare columns (target, time_ms) from the row holding
        # the maximum: the latest message of each target (of all, so a target with messages after the window is
        # left out), then kept if inside the window.  One JSON array, as in _select.
        (text,) = self._conn.execute(
            "SELECT json_group_array(json_array(target, time_ms, last)) FROM ("
            " SELECT target, time_ms, last FROM (SELECT target, time_ms, MAX(seq) AS last FROM messages"
            " GROUP BY folded) WHERE time_ms > ? AND time_ms < ?"
            f" ORDER BY time_ms {order}, last {order} LIMIT ?)",
            (low, high, limit),
        ).fetchone()
        rows = sorted(json.loads(text), key=lambda row: (int(row[1]), int(row[2])))
        return [(str(row[0]), int(row[1])) for row in rows]

    @_translated
    def conversations(self, account: str, start: TimeRef, end: TimeRef, limit: int) -> list[tuple[str, int]]:
        check_limit(limit)
        if limit == 0:
            return []
        forward = start.time_ms <= end.time_ms
        low, high = sorted((start.time_ms, end.time_ms))
        order = "ASC" if forward else "DESC"
        # A conversation key is "a b" (two folded account names, sorted): the account is its first or its last
        # word.  Compared with substr, not LIKE, since nicks may contain LIKE's wildcard "_".
        first, last = account + " ", " " + account
        (text,) = self._conn.execute(
            "SELECT json_group_array(json_array(folded, time_ms, last)) FROM ("
            " SELECT folded, time_ms, last FROM (SELECT folded, time_ms, MAX(seq) AS last FROM messages"
            " WHERE substr(folded, 1, ?) = ? OR substr(folded, -?) = ? GROUP BY folded)"
            f" WHERE time_ms > ? AND time_ms < ? ORDER BY time_ms {order}, last {order} LIMIT ?)",
            (len(first), first, len(last), last, low, high, limit),
        ).fetchone()
        rows = sorted(json.loads(text), key=lambda row: (int(row[1]), int(row[2])))
        return [(str(row[0]), int(row[1])) for row in rows]

    @_translated
    def find(self, msgid: str) -> StoredMessage | None:
        row = self._conn.execute(f"{_SELECT} WHERE msgid = ?", (msgid,)).fetchone()
        return None if row is None else _message(row)

    @_translated
    def targets_with_history(self) -> list[str]:
        return [row[0] for row in self._conn.execute("SELECT DISTINCT folded FROM messages ORDER BY folded")]

    # -- channels --

    @_translated
    def save_channel(self, record: ChannelRecord) -> None:
        with self._transaction() as conn:
            _write_channel(conn, record)

    @_translated
    def delete_channel(self, folded: str) -> None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM channels WHERE folded = ?", (folded,))

    @_translated
    def rename_channel(self, old: str, record: ChannelRecord) -> None:
        with self._transaction() as conn:
            conn.execute(
                "UPDATE messages SET folded = ?, target = ? WHERE folded = ?", (record.folded, record.name, old)
            )
            conn.execute("UPDATE OR REPLACE read_markers SET target = ? WHERE target = ?", (record.folded, old))
            conn.execute("DELETE FROM channels WHERE folded = ?", (old,))
            _write_channel(conn, record)

    @_translated
    def load_channels(self) -> list[ChannelRecord]:
        rows = self._conn.execute(
            "SELECT folded, name, created, topic, topic_by, topic_time, modes, key, user_limit, bans,"
            " founder, registered, ops, metadata FROM channels ORDER BY folded"
        ).fetchall()
        return [
            ChannelRecord(
                name=name,
                folded=folded,
                created=created,
                topic=topic,
                topic_by=topic_by,
                topic_time=topic_time,
                modes=modes,
                key=key,
                limit=limit,
                **_mask_lists(bans),
                founder=founder,
                registered=registered,
                ops=tuple(str(op) for op in json.loads(ops)),
                metadata=tuple((str(key), str(value)) for key, value in json.loads(metadata)),
            )
            for (
                folded,
                name,
                created,
                topic,
                topic_by,
                topic_time,
                modes,
                key,
                limit,
                bans,
                founder,
                registered,
                ops,
                metadata,
            ) in rows
        ]

    # -- accounts --

    @_translated
    def save_account(self, record: AccountRecord) -> None:
        certfps = json.dumps(record.certfps, separators=(",", ":"))
        with self._transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO accounts (folded, name, password_hash, created, certfps)"
                " VALUES (?, ?, ?, ?, ?)",
                (record.folded, record.name, record.password_hash, record.created, certfps),
            )

    @_translated
    def delete_account(self, folded: str) -> None:
        with self._transaction() as conn:
            conn.execute("DELETE FROM accounts WHERE folded = ?", (folded,))
            conn.execute("DELETE FROM read_markers WHERE account = ?", (folded,))

    @_translated
    def load_accounts(self) -> list[AccountRecord]:
        rows = self._conn.execute(
            "SELECT folded, name, password_hash, created, certfps FROM accounts ORDER BY folded"
        ).fetchall()
        return [
            AccountRecord(
                name=name,
                folded=folded,
                password_hash=password_hash,
                created=created,
                certfps=tuple(str(fp) for fp in json.loads(certfps)),
            )
            for folded, name, password_hash, created, certfps in rows
        ]

    # -- read markers --

    @_translated
    def save_marker(self, account: str, target: str, time_ms: int) -> None:
        with self._transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO read_markers (account, target, time_ms) VALUES (?, ?, ?)",
                (account, target, time_ms),
            )

    @_translated
    def load_markers(self) -> list[ReadMarker]:
        rows = self._conn.execute("SELECT account, target, time_ms FROM read_markers ORDER BY account, target")
        return [(str(a), str(t), int(ms)) for a, t, ms in rows]

    def close(self) -> None:
        """Close the connection (checkpointing the WAL into the database file and releasing the lock)."""
        try:
            self._conn.close()
        except sqlite3.Error as exc:
            raise StoreError(f"history database {self.path}: {_reason(exc, self.path)}") from exc


MaskEntry = tuple[str, str, int]


def _mask_lists_json(record: ChannelRecord) -> str:
    """A channel's ``+b``, ``+e`` and ``+I`` lists in its ``bans`` column: ``[mask, by, when]`` for a ban (as
    schema 1 wrote them, so files need no migration), ``[mask, by, when, "e"]`` or ``[…, "I"]`` for the others."""
    entries: list[list[str | int]] = [[*ban] for ban in record.bans]
    entries += [[*entry, "e"] for entry in record.excepts]
    entries += [[*entry, "I"] for entry in record.invexes]
    return json.dumps(entries, ensure_ascii=False, separators=(",", ":"))


def _mask_lists(text: str) -> dict[str, tuple[MaskEntry, ...]]:
    """The ``bans`` column back into :class:`ChannelRecord` fields (``bans``, ``excepts``, ``invexes``)."""
    lists: dict[str, list[MaskEntry]] = {"b": [], "e": [], "I": []}
    for mask, by, when, *kind in json.loads(text):
        lists[str(kind[0]) if kind else "b"].append((str(mask), str(by), int(when)))
    return {"bans": tuple(lists["b"]), "excepts": tuple(lists["e"]), "invexes": tuple(lists["I"])}


def _write_channel(conn: sqlite3.Connection, record: ChannelRecord) -> None:
    """Insert or replace a channel's record, inside the caller's transaction."""
    conn.execute(
        "INSERT OR REPLACE INTO channels (folded, name, created, topic, topic_by, topic_time, modes, key,"
        " user_limit, bans, founder, registered, ops, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            record.folded,
            record.name,
            record.created,
            record.topic,
            record.topic_by,
            record.topic_time,
            record.modes,
            record.key,
            record.limit,
            _mask_lists_json(record),
            record.founder,
            record.registered,
            json.dumps(record.ops, ensure_ascii=False, separators=(",", ":")),
            json.dumps(record.metadata, ensure_ascii=False, separators=(",", ":")),
        ),
    )
