"""The SQLite file itself: migrations, refusing files it must not use, locking, durability across reopen and kill.

These tests use the stdlib ``sqlite3`` module directly to build or inspect files; the package keeps it in
``trio_chat/server/store/sqlite.py`` only.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from trio_chat.server.history import ChannelRecord, MsgidRef, StoredMessage, StoreError
from trio_chat.server.store.sqlite import MIGRATIONS, SCHEMA_VERSION, SQLiteHistory


def make(n: int, target: str = "#Lobby", time_ms: int | None = None, text: str | None = None) -> StoredMessage:
    return StoredMessage(
        seq=0,
        msgid=f"m{n}",
        time_ms=n * 1000 if time_ms is None else time_ms,
        target=target,
        folded=target.lower(),
        source="alice!a@host",
        account=None,
        command="PRIVMSG",
        text=f"text {n}" if text is None else text,
    )


def user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]
        return version
    finally:
        conn.close()


def refused(path: Path) -> str:
    """Open ``path``, expect a StoreError, return its message (which must be one line naming the file)."""
    with pytest.raises(StoreError) as info:
        SQLiteHistory.open(str(path))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"cannot open history database {path}: ")
    return message


def test_a_new_file_gets_the_current_schema(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    store = SQLiteHistory.open(str(path))
    store.append_many([make(1)])
    store.close()
    assert user_version(path) == SCHEMA_VERSION
    conn = sqlite3.connect(path)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert {"messages", "channels"} <= tables


def test_an_empty_file_is_migrated_from_version_0(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    SQLiteHistory.open(str(path)).close()
    assert user_version(path) == SCHEMA_VERSION


def build_version(path: Path, version: int) -> sqlite3.Connection:
    """A file at schema ``version``, as that version of trio-chat left it (the pattern for future migrations:
    build the old version from MIGRATIONS[:version], fill it as that version did, open it, check)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    for statements in MIGRATIONS[:version]:
        for statement in statements:
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {version:d}")
    return conn


def test_a_version_1_file_is_migrated_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    conn = build_version(path, 1)
    conn.execute(
        "INSERT INTO messages (msgid, time_ms, folded, target, source, account, command, text, tags)"
        " VALUES ('old1', 1000, '#lobby', '#Lobby', 'a!b@c', NULL, 'PRIVMSG', 'from version 1', '')"
    )
    conn.execute(
        "INSERT INTO channels (folded, name, created, topic, topic_by, topic_time, modes, key, user_limit, bans)"
        " VALUES ('#lobby', '#Lobby', 5, 'topic', 'a', 6, 'nt', NULL, NULL, '[[\"*!*@x\",\"a\",7]]')"
    )
    conn.close()
    store = SQLiteHistory.open(str(path))
    try:
        (old,) = store.latest("#lobby", 10)
        assert (old.msgid, old.text, old.tags) == ("old1", "from version 1", ())
        assert store.load_channels() == [
            ChannelRecord(name="#Lobby", folded="#lobby", created=5, topic="topic", topic_by="a", topic_time=6,
                          modes="nt", bans=(("*!*@x", "a", 7),))
        ]  # fmt: skip
        (new,) = store.append_many([make(2)])
        assert new.seq > old.seq
    finally:
        store.close()
    assert user_version(path) == SCHEMA_VERSION


def test_a_version_3_file_is_migrated_and_its_channels_get_metadata(tmp_path: Path) -> None:
    path = tmp_path / "v3.db"
    conn = build_version(path, 3)
    conn.execute(
        "INSERT INTO channels VALUES ('#old', '#Old', 1, 'a topic', 'x', 2, 'nt', NULL, NULL, '[]', 'Alice', 3,"
        " '[\"bob\"]')"
    )
    conn.close()
    store = SQLiteHistory.open(str(path))
    try:
        [old] = store.load_channels()
        assert old == ChannelRecord("#Old", "#old", 1, "a topic", "x", 2, "nt", founder="Alice", registered=3,
                                    ops=("bob",))  # fmt: skip
        assert old.metadata == ()
        store.save_channel(replace(old, metadata=(("url", "https://example.org/ \U0001f49c"), ("avatar", "a.png"))))
    finally:
        store.close()
    assert user_version(path) == SCHEMA_VERSION
    again = SQLiteHistory.open(str(path))
    try:
        [new] = again.load_channels()
        assert new.metadata == (("url", "https://example.org/ \U0001f49c"), ("avatar", "a.png"))
        assert (new.topic, new.founder, new.ops) == ("a topic", "Alice", ("bob",))
    finally:
        again.close()


def test_a_file_from_a_newer_trio_chat_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    build_version(path, SCHEMA_VERSION).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1:d}")
    conn.close()
    message = refused(path)
    assert "written by a newer trio-chat" in message
    assert user_version(path) == SCHEMA_VERSION + 1


def test_another_programs_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE accounts (id INTEGER)")
    conn.close()
    assert "database of something else" in refused(path)


@pytest.mark.parametrize("size", [10, 4096, 100_000])
def test_a_corrupt_file_is_refused(tmp_path: Path, size: int) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(os.urandom(size))
    assert refused(path).endswith("the file is not a database (corrupt?)")


def test_a_missing_directory_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "h.db"
    assert "does not exist" in refused(path)


def _set_immutable(paths: list[Path], on: bool) -> bool:
    """``chattr +i`` / ``-i``: read-only even for root (Linux, ext4 and the like).  False if unavailable."""
    chattr = shutil.which("chattr")
    if chattr is None:
        return False
    result = subprocess.run([chattr, "+i" if on else "-i", *map(str, paths)], capture_output=True, check=False)
    return result.returncode == 0


@pytest.mark.parametrize("what", ["file", "directory"])
def test_a_read_only_file_or_directory_is_refused(tmp_path: Path, what: str) -> None:
    path = tmp_path / "ro" / "h.db"
    path.parent.mkdir()
    SQLiteHistory.open(str(path)).close()
    frozen = [path, path.parent] if what == "file" else [path.parent]
    if what == "file":
        path.chmod(0o444)
    path.parent.chmod(0o555)
    immutable = False
    try:
        if any(os.access(p, os.W_OK) for p in frozen):
            # Root ignores file modes; the immutable attribute still stops it.
            immutable = _set_immutable(frozen, True)
            if not immutable:
                pytest.skip("running as root and chattr +i is unavailable: cannot make a file read-only")
        message = refused(path)
        if what == "file":
            assert message.endswith(": read-only")
        else:
            assert f": read-only (directory {path.parent} is not writable" in message
    finally:
        if immutable:
            _set_immutable(frozen, False)
        path.parent.chmod(0o755)
        path.chmod(0o644)


def test_a_second_open_of_the_same_file_is_refused_as_locked(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    first = SQLiteHistory.open(str(path))
    try:
        first.append_many([make(1)])
        assert refused(path).endswith("it is locked by another process")
    finally:
        first.close()
    second = SQLiteHistory.open(str(path))  # the lock went with the first connection
    try:
        # Opening an up-to-date file writes nothing, and takes the lock all the same.
        assert refused(path).endswith("it is locked by another process")
        assert [m.msgid for m in second.latest("#lobby", 5)] == ["m1"]
    finally:
        second.close()


def test_another_process_cannot_open_the_file_while_the_server_has_it(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    store = SQLiteHistory.open(str(path))
    try:
        script = textwrap.dedent(
            f"""
            from trio_chat.server.history import StoreError
            from trio_chat.server.store.sqlite import SQLiteHistory
            try:
                SQLiteHistory.open({str(path)!r})
            except StoreError as exc:
                print(exc)
            """
        )
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
        assert result.stdout.strip() == f"cannot open history database {path}: it is locked by another process"
    finally:
        store.close()


def test_data_survives_close_and_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "h.db")
    store = SQLiteHistory.open(path)
    first = store.append_many([make(n) for n in range(1, 4)])
    store.save_channel(ChannelRecord(name="#Lobby", folded="#lobby", created=1, topic="hello", modes="nt"))
    assert store.redact("#lobby", "m3")
    store.close()
    store = SQLiteHistory.open(path)
    try:
        assert store.latest("#lobby", 10) == first[:2]
        assert store.load_channels()[0].topic == "hello"
        (more,) = store.append_many([make(4)])
        assert more.seq > first[-1].seq  # seqs are not reused, across restarts either
        assert [m.msgid for m in store.after("#lobby", MsgidRef("m1"), 5)] == ["m2", "m4"]
    finally:
        store.close()


@pytest.mark.parametrize("size", [1, 2, 15, 16, 17, 33, 100, 1023, 1024, 1025, 3000])
def test_every_batch_size_stores_rows_in_order_with_the_seqs_returned(tmp_path: Path, size: int) -> None:
    store = SQLiteHistory.open(str(tmp_path / "h.db"))
    try:
        store.append_many([make(0)])
        stored = store.append_many([make(n) for n in range(1, size + 1)])
        assert [m.msgid for m in stored] == [f"m{n}" for n in range(1, size + 1)]
        assert store.after("#lobby", MsgidRef("m0"), size + 10) == stored
    finally:
        store.close()


def test_batches_larger_than_one_insert_are_one_transaction(tmp_path: Path) -> None:
    store = SQLiteHistory.open(str(tmp_path / "h.db"))
    store._max_rows = 3  # several INSERT statements per batch
    try:
        stored = store.append_many([make(n) for n in range(1, 8)])
        assert [m.seq for m in stored] == list(range(1, 8))
        assert store.latest("#lobby", 10) == stored
        # A duplicate in the last statement undoes the earlier ones.
        with pytest.raises(ValueError):
            store.append_many([make(n) for n in range(8, 14)] + [make(1)])
        assert store.latest("#lobby", 20) == stored
        (next_one,) = store.append_many([make(20)])
        assert next_one.seq > stored[-1].seq
    finally:
        store.close()


def test_memory_database_works(tmp_path: Path) -> None:
    store = SQLiteHistory.open(":memory:")
    store.append_many([make(1)])
    assert len(store.latest("#lobby", 5)) == 1
    store.close()


def test_disk_full_is_a_store_error_and_the_store_recovers(tmp_path: Path) -> None:
    """A real SQLITE_FULL: the database may not grow beyond its current size (``max_page_count``)."""
    store = SQLiteHistory.open(str(tmp_path / "h.db"))
    try:
        store.append_many([make(1)])
        store._conn.execute("PRAGMA max_page_count = 1")  # clamped to the current size
        with pytest.raises(StoreError, match=r"history database .*h\.db: disk full$"):
            store.append_many([make(n, text="x" * 20_000) for n in range(2, 12)])
        assert [m.msgid for m in store.latest("#lobby", 50)] == ["m1"]  # all or nothing
        store._conn.execute("PRAGMA max_page_count = 1000000")
        stored = store.append_many([make(n, text="x" * 20_000) for n in range(2, 12)])
        assert len(stored) == 10 and len(store.latest("#lobby", 50)) == 11
    finally:
        store.close()


def test_using_a_closed_store_is_a_store_error(tmp_path: Path) -> None:
    store = SQLiteHistory.open(str(tmp_path / "h.db"))
    store.close()
    with pytest.raises(StoreError):
        store.latest("#lobby", 5)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_committed_messages_survive_sigkill(tmp_path: Path) -> None:
    """The durability promise: once append_many has returned, killing the process loses nothing."""
    path = str(tmp_path / "h.db")
    script = textwrap.dedent(
        f"""
        import sys
        from trio_chat.server.history import StoredMessage
        from trio_chat.server.store.sqlite import SQLiteHistory
        store = SQLiteHistory.open({path!r})
        n = 0
        while True:
            batch = [StoredMessage(0, f"m{{n + i}}", n + i, "#a", "#a", "s!u@h", None, "PRIVMSG", "x" * 100)
                     for i in range(10)]
            store.append_many(batch)
            n += 10
            print(n, flush=True)
        """
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    confirmed = 0
    try:
        for line in process.stdout:
            confirmed = int(line)
            if confirmed >= 3000:
                break
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    store = SQLiteHistory.open(path)
    try:
        stored = store.latest("#a", 10**6)
        assert len(stored) >= confirmed
        assert [m.msgid for m in stored[:confirmed]] == [f"m{i}" for i in range(confirmed)]
    finally:
        store.close()
