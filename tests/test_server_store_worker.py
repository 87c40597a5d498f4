"""StoreWorker: group commit, reads in queue order, stopping with its nursery, failure and recovery.

No sleeps: tests wait for on_commit callbacks, trio Events, or (for the worker thread's own retries) a
threading.Event set by the store.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
import trio
import trio.testing

from trio_chat.server.history import (
    ChannelRecord,
    MemoryHistory,
    MsgidRef,
    StoredMessage,
    StoreError,
    TimeRef,
    UnknownReference,
    line_msgid,
)
from trio_chat.server.store.sqlite import SQLiteHistory
from trio_chat.server.store.worker import StoreWorker

TIMEOUT = 20.0


def make(n: int, target: str = "#Lobby", text: str | None = None, msgid: str | None = None) -> StoredMessage:
    return StoredMessage(
        seq=0,
        msgid=f"m{n}" if msgid is None else msgid,
        time_ms=1_700_000_000_000 + n,
        target=target,
        folded=target.lower(),
        source="alice!a@host",
        account=None,
        command="PRIVMSG",
        text=f"text {n}" if text is None else text,
    )


async def commit(worker: StoreWorker, message: StoredMessage) -> StoredMessage | None:
    """Append ``message`` and wait for its on_commit."""
    results: list[StoredMessage | None] = []
    done = trio.Event()

    def on_commit(result: StoredMessage | None) -> None:
        results.append(result)
        done.set()

    worker.append(message, on_commit)
    with trio.fail_after(TIMEOUT):
        await done.wait()
    return results[0]


def msgids(messages: Sequence[StoredMessage]) -> list[str]:
    return [m.msgid for m in messages]


class FlakyHistory(MemoryHistory):
    """A MemoryHistory whose appends fail with StoreError while ``failing`` is set (a stand-in for a full disk)."""

    def __init__(self) -> None:
        super().__init__()
        self.failing = False
        self.calls = 0
        self.succeeded = threading.Event()
        """Set by each successful append (from the worker thread)."""

    def append_many(self, messages: Sequence[StoredMessage]) -> list[StoredMessage]:
        self.calls += 1
        if self.failing:
            raise StoreError("history database flaky.db: disk full")
        stored = super().append_many(messages)
        self.succeeded.set()
        return stored


def store_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "trio_chat.store" and r.levelno >= logging.ERROR]


def our_threads(worker: StoreWorker) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == worker.thread_name]


# -- Group commit and ordering ------------------------------------------------------------------------------


async def test_group_commit_puts_many_messages_in_each_transaction(tmp_path: Path) -> None:
    worker = StoreWorker(SQLiteHistory.open(str(tmp_path / "h.db")))
    results: list[StoredMessage | None] = []
    all_done = trio.Event()

    def on_commit(result: StoredMessage | None) -> None:
        results.append(result)
        if len(results) == 1000:
            all_done.set()

    async with trio.open_nursery() as nursery:
        await nursery.start(worker.run)
        for n in range(1000):  # synchronously, as the server's state code does in a burst
            worker.append(make(n), on_commit)
        with trio.fail_after(TIMEOUT):
            await all_done.wait()
        await worker.aclose()

    assert all(r is not None for r in results)
    stored = [r for r in results if r is not None]
    assert msgids(stored) == [f"m{n}" for n in range(1000)]  # callbacks in append order
    seqs = [m.seq for m in stored]
    assert seqs[0] > 0 and seqs == sorted(set(seqs))  # strictly increasing
    stats = worker.stats
    assert stats.messages == 1000
    assert stats.transactions <= 20, stats  # far fewer transactions than messages
    assert stats.largest_batch >= 50 and stats.messages_per_transaction >= 50
    assert stats.healthy and stats.failures == 0


async def test_reads_see_the_appends_queued_before_them(tmp_path: Path) -> None:
    worker = StoreWorker(SQLiteHistory.open(str(tmp_path / "h.db")))
    async with trio.open_nursery() as nursery:
        await nursery.start(worker.run)
        for n in range(1, 6):
            worker.append(make(n))  # no callback, no waiting
        assert msgids(await worker.latest("#lobby", 10)) == ["m1", "m2", "m3", "m4", "m5"]
        worker.append(make(6))
        found = await worker.find("m6")
        assert found is not None and found.seq > 0
        assert msgids(await worker.before("#lobby", MsgidRef("m3"), 5)) == ["m1", "m2"]
        assert msgids(await worker.after("#lobby", MsgidRef("m3"), 2)) == ["m4", "m5"]
        assert msgids(await worker.around("#lobby", MsgidRef("m3"), 3)) == ["m2", "m3", "m4"]
        assert msgids(await worker.between("#lobby", MsgidRef("m6"), MsgidRef("m1"), 2)) == ["m4", "m5"]
        assert await worker.targets(TimeRef(0), TimeRef(2**50), 5) == [("#Lobby", found.time_ms)]
        assert await worker.targets_with_history() == ["#lobby"]
        await worker.aclose()


async def test_other_writes_go_through_the_worker(tmp_path: Path) -> None:
    worker = StoreWorker(SQLiteHistory.open(str(tmp_path / "h.db")))
    record = ChannelRecord(name="#Lobby", folded="#lobby", created=1, topic="hi", modes="nt", key="k", limit=5)
    async with trio.open_nursery() as nursery:
        await nursery.start(worker.run)
        for n in range(1, 6):
            worker.append(make(n))
        assert await worker.redact("#lobby", "m2")
        assert not await worker.redact("#lobby", "m2")
        assert await worker.prune(max_messages=2, max_age_ms=0, now_ms=0) == 2
        assert msgids(await worker.latest("#lobby", 10)) == ["m4", "m5"]
        await worker.save_channel(record)
        assert await worker.load_channels() == [record]
        await worker.delete_channel("#lobby")
        assert await worker.load_channels() == []
        worker.save_channel_nowait(record)  # queued in order: the next read sees it
        assert await worker.load_channels() == [record]
        worker.delete_channel_nowait("#lobby")
        assert await worker.load_channels() == []
        await worker.aclose()


async def test_store_errors_of_queries_reach_the_caller(tmp_path: Path) -> None:
    worker = StoreWorker(MemoryHistory())
    async with trio.open_nursery() as nursery:
        await nursery.start(worker.run)
        with pytest.raises(UnknownReference):
            await worker.before("#lobby", MsgidRef("nope"), 5)
        with pytest.raises(ValueError):
            await worker.latest("#lobby", -1)
        assert await worker.latest("#lobby", 5) == []  # the worker carries on
        await worker.aclose()


# -- Stopping -----------------------------------------------------------------------------------------------


async def test_cancelling_the_nursery_finishes_queued_work_and_stops_the_thread(tmp_path: Path) -> None:
    path = str(tmp_path / "h.db")
    worker = StoreWorker(SQLiteHistory.open(path))
    # trio runs to_thread functions on cached threads that idle for a while after their job: warm the cache
    # so that the worker reuses an idle thread and the count of threads is comparable.
    await trio.to_thread.run_sync(lambda: None)
    threads_before = threading.active_count()
    results: list[StoredMessage | None] = []

    async with trio.open_nursery() as nursery:
        await nursery.start(worker.run)
        assert len(our_threads(worker)) == 1
        for n in range(100):
            worker.append(make(n), results.append)
        nursery.cancel_scope.cancel()

    # run() returned only once the thread had committed what was queued and reported it.
    assert len(results) == 100 and all(r is not None for r in results)
    assert our_threads(worker) == []
    assert threading.active_count() <= threads_before
    # The thread closed the store: the file is not locked any more, and everything is in it.
    store = SQLiteHistory.open(path)
    assert len(store.latest("#lobby", 1000)) == 100
    store.close()
    # A closed worker refuses work without blocking anyone.
    worker.append(make(101), results.append)
    assert worker.stats.refused == 1 and len(results) == 100
    with pytest.raises(StoreError):
        await worker.latest("#lobby", 5)


async def test_cancelled_while_starting(tmp_path: Path) -> None:
    path = str(tmp_path / "h.db")
    worker = StoreWorker(SQLiteHistory.open(path))
    with trio.fail_after(TIMEOUT), trio.CancelScope() as scope:
        scope.cancel()
        await worker.run()
    assert our_threads(worker) == []
    SQLiteHistory.open(path).close()  # the store was closed although the thread never ran


async def test_aclose_stops_run(tmp_path: Path) -> None:
    worker = StoreWorker(MemoryHistory())
    async with trio.open_nursery() as nursery:
        await nursery.start(worker.run)
        worker.append(make(1))
        await worker.aclose()
    assert worker.stats.messages == 1
    assert our_threads(worker) == []


async def test_aclose_before_run_closes_the_store(tmp_path: Path) -> None:
    path = str(tmp_path / "h.db")
    worker = StoreWorker(SQLiteHistory.open(path))
    await worker.aclose()
    SQLiteHistory.open(path).close()  # not locked: closed


# -- Failure and recovery ----------------------------------------------------------------------------------


async def test_failure_then_recovery(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="trio_chat.store")
    store = FlakyHistory()
    worker = StoreWorker(store, retry_interval=3600)
    async with trio.open_nursery() as nursery:
        await nursery.start(worker.run)
        first = await commit(worker, make(1))
        assert first is not None and worker.stats.healthy

        store.failing = True
        assert await commit(worker, make(2)) is None
        assert await commit(worker, make(3)) is None
        stats = worker.stats
        assert not stats.healthy
        assert stats.failures == 2 and stats.backlog == 2 and stats.lost == 0
        assert stats.last_error == "history database flaky.db: disk full"
        assert len(store_errors(caplog)) == 1  # logged once, not per message
        with pytest.raises(StoreError, match="disk full"):
            await worker.latest("#lobby", 10)  # an answer now would miss m2 and m3

        store.failing = False
        fourth = await commit(worker, make(4))
        assert fourth is not None
        assert stats.healthy and stats.backlog == 0 and stats.lost == 0
        # The failed messages were stored first, in order.
        assert msgids(await worker.latest("#lobby", 10)) == ["m1", "m2", "m3", "m4"]
        assert any("recovered" in r.getMessage() for r in caplog.records if r.name == "trio_chat.store")
        await worker.aclose()


async def test_backlog_is_bounded_and_drops_the_oldest(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="trio_chat.store")
    store = FlakyHistory()
    store.failing = True
    worker = StoreWorker(store, max_backlog=3, retry_interval=3600)
    async with trio.open_nursery() as nursery:
        await nursery.start(worker.run)
        for n in range(1, 6):
            assert await commit(worker, make(n)) is None
        assert worker.stats.backlog == 3 and worker.stats.lost == 2
        assert sum("backlog full" in r.getMessage() for r in store_errors(caplog)) == 1
        store.failing = False
        assert await commit(worker, make(6)) is not None
        assert msgids(await worker.latest("#lobby", 10)) == ["m3", "m4", "m5", "m6"]
        await worker.aclose()


async def test_the_backlog_is_retried_without_new_messages() -> None:
    store = FlakyHistory()
    store.failing = True
    worker = StoreWorker(store, retry_interval=0.01)
    async with trio.open_nursery() as nursery:
        await nursery.start(worker.run)
        assert await commit(worker, make(1)) is None
        store.failing = False
        # The worker thread retries on its own; wait for the store to see the successful append.
        assert await trio.to_thread.run_sync(store.succeeded.wait, TIMEOUT)
        assert msgids(await worker.latest("#lobby", 10)) == ["m1"]  # queued after the retry: healthy again
        assert worker.stats.healthy
        await worker.aclose()


async def test_redacting_a_message_still_in_the_backlog() -> None:
    store = FlakyHistory()
    store.failing = True
    worker = StoreWorker(store, retry_interval=3600)
    async with trio.open_nursery() as nursery:
        await nursery.start(worker.run)
        assert await commit(worker, make(1)) is None
        assert await commit(worker, make(2)) is None
        assert await worker.redact("#lobby", "m1")
        store.failing = False
        assert await commit(worker, make(3)) is not None
        assert msgids(await worker.latest("#lobby", 10)) == ["m2", "m3"]
        await worker.aclose()


async def test_redacting_a_multiline_message_whose_lines_wait_in_the_backlog() -> None:
    """All its lines leave the backlog (its first line never reached the store, so neither did the others)."""
    store = FlakyHistory()
    store.failing = True
    worker = StoreWorker(store, retry_interval=3600)
    async with trio.open_nursery() as nursery:
        await nursery.start(worker.run)
        assert await commit(worker, make(1)) is None
        for i in (1, 2):
            assert await commit(worker, make(1, msgid=line_msgid("m1", i))) is None
        assert await commit(worker, make(2)) is None
        assert await worker.redact("#lobby", "m1")
        assert worker.stats.backlog == 1
        store.failing = False
        assert await commit(worker, make(3)) is not None
        assert msgids(await worker.latest("#lobby", 10)) == ["m2", "m3"]
        await worker.aclose()


async def test_redacting_a_multiline_message_stored_in_part() -> None:
    """A first line already committed and later lines still waiting: both places are cleared."""
    store = FlakyHistory()
    worker = StoreWorker(store, retry_interval=3600)
    async with trio.open_nursery() as nursery:
        await nursery.start(worker.run)
        assert await commit(worker, make(1)) is not None
        store.failing = True
        assert await commit(worker, make(1, msgid=line_msgid("m1", 1))) is None
        assert await commit(worker, make(2)) is None
        store.failing = False  # the store answers again; the backlog waits for the next append
        assert await worker.redact("#lobby", "m1")
        assert await commit(worker, make(3)) is not None
        assert msgids(await worker.latest("#lobby", 10)) == ["m2", "m3"]
        await worker.aclose()


async def test_a_full_disk_on_a_real_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """SQLITE_FULL for real: the database may not grow (``max_page_count``), then it may again."""
    caplog.set_level(logging.WARNING, logger="trio_chat.store")
    store = SQLiteHistory.open(str(tmp_path / "h.db"))
    worker = StoreWorker(store, retry_interval=3600)
    big = "x" * 50_000
    async with trio.open_nursery() as nursery:
        await nursery.start(worker.run)
        assert await commit(worker, make(1)) is not None
        # Test-only access to the connection, run on the worker thread like everything else.
        await worker._call(lambda _: store._conn.execute("PRAGMA max_page_count = 1"), read=False)
        assert await commit(worker, make(2, text=big)) is None
        assert await commit(worker, make(3, text=big)) is None
        assert not worker.stats.healthy and worker.stats.backlog == 2
        assert worker.stats.last_error is not None and worker.stats.last_error.endswith("h.db: disk full")
        assert len(store_errors(caplog)) == 1
        await worker._call(lambda _: store._conn.execute("PRAGMA max_page_count = 1000000"), read=False)
        assert await commit(worker, make(4)) is not None
        assert worker.stats.healthy
        assert msgids(await worker.latest("#lobby", 10)) == ["m1", "m2", "m3", "m4"]
        await worker.aclose()


async def test_unsaved_messages_at_shutdown_are_counted_as_lost(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="trio_chat.store")
    store = FlakyHistory()
    store.failing = True
    worker = StoreWorker(store, retry_interval=3600)
    async with trio.open_nursery() as nursery:
        await nursery.start(worker.run)
        assert await commit(worker, make(1)) is None
        assert await commit(worker, make(2)) is None
        nursery.cancel_scope.cancel()
    assert worker.stats.lost == 2 and worker.stats.backlog == 0
    assert any("lost at shutdown" in r.getMessage() for r in store_errors(caplog))


# -- Bugs do not take the worker down ---------------------------------------------------------------------


async def test_a_rejected_message_does_not_take_its_batch_with_it(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="trio_chat.store")
    worker = StoreWorker(MemoryHistory())
    results: dict[str, StoredMessage | None] = {}
    both = trio.Event()

    def record(name: str) -> None:
        def on_commit(result: StoredMessage | None) -> None:
            results[name] = result
            if len(results) == 2:
                both.set()

        worker.append(make(0, msgid="m1" if name == "duplicate" else "m2"), on_commit)

    async with trio.open_nursery() as nursery:
        await nursery.start(worker.run)
        assert await commit(worker, make(1)) is not None
        record("duplicate")  # a bug upstream: the same msgid twice
        record("good")
        with trio.fail_after(TIMEOUT):
            await both.wait()
        assert results["duplicate"] is None
        assert results["good"] is not None and results["good"].msgid == "m2"
        assert worker.stats.healthy and worker.stats.lost == 1
        assert msgids(await worker.latest("#lobby", 10)) == ["m1", "m2"]
        await worker.aclose()


async def test_a_failing_callback_is_logged_and_the_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="trio_chat.store")
    worker = StoreWorker(MemoryHistory())

    def explode(_: StoredMessage | None) -> None:
        raise RuntimeError("boom")

    async with trio.open_nursery() as nursery:
        await nursery.start(worker.run)
        worker.append(make(1), explode)
        assert await commit(worker, make(2)) is not None
        assert any("on_commit callback failed" in r.getMessage() for r in caplog.records)
        await worker.aclose()


async def test_closing_a_worker_that_never_ran_answers_what_was_queued() -> None:
    worker = StoreWorker(MemoryHistory())
    results: list[StoredMessage | None] = []
    worker.append(make(1), results.append)
    errors: list[BaseException] = []

    async def query() -> None:
        try:
            await worker.latest("#lobby", 5)
        except StoreError as exc:
            errors.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(query)
        await trio.testing.wait_all_tasks_blocked()
        await worker.aclose()
    assert results == [None] and worker.stats.lost == 1
    assert len(errors) == 1
