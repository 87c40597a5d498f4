"""The trio side of the history store: :class:`StoreWorker` runs a :class:`HistoryStore` in one dedicated thread.

The event loop never touches the disk.  It hands work to the thread through a ``queue.SimpleQueue``:

* :meth:`StoreWorker.append` is synchronous and never blocks (the server's state code calls it for every
  channel message).  The thread takes everything queued at that moment and commits it in ONE transaction
  (group commit), then calls each message's ``on_commit`` back on the trio thread, in append order, with the
  stored message (``seq`` set) or ``None`` if the commit failed.  The server sends the ``echo-message`` echo
  from that callback, so the echo is the sender's receipt.
* Queries (``await worker.latest(...)`` …) and other writes go through the same queue and are served in
  queue order: a read issued after an append sees it.

Starting and stopping::

    worker = StoreWorker(SQLiteHistory.open(path))   # opening errors (StoreError) are reported at start-up
    async with trio.open_nursery() as nursery:
        await nursery.start(worker.run)
        ...
        await worker.aclose()     # or cancel the nursery: either way queued work is finished first

:meth:`StoreWorker.run` returns once the thread has stopped: after :meth:`StoreWorker.aclose`, or when its
nursery is cancelled (it then puts the stop request on the queue and waits, shielded, for the thread to finish
what was queued, which takes one transaction).  The thread closes the store when it stops.

Failure while running (disk full, file made read-only): the batch's callbacks get ``None``, ``stats.healthy``
becomes False and the error is logged once (logger ``trio_chat.store``).  The failed messages are kept and
retried with the next batch (or after ``retry_interval`` seconds without traffic); beyond ``max_backlog`` the
oldest are dropped and counted in ``stats.lost``.  The first successful commit makes the store healthy again
and logs the recovery.  While unhealthy, queries raise :class:`StoreError` (their answers would miss messages).
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, TypeVar, cast

import trio

from ..accounts import AccountRecord
from ..history import ChannelRecord, HistoryStore, Ref, StoredMessage, StoreError, TimeRef, of_message

__all__ = ["OnCommit", "StoreStats", "StoreWorker"]

log = logging.getLogger("trio_chat.store")

OnCommit = Callable[[StoredMessage | None], None]
"""Called on the trio thread once the message is committed (with ``seq`` set), or with None if that failed."""

_T = TypeVar("_T")


@dataclass(slots=True)
class StoreStats:
    """Counters for STATS and tests.  Written by the worker thread (``refused``, and ``lost`` once it has stopped,
    by the trio thread); each value can be read at any time."""

    messages: int = 0
    """Messages committed."""
    transactions: int = 0
    """Append transactions committed (group commits); ``messages / transactions`` is the batching factor."""
    largest_batch: int = 0
    """The most messages one transaction carried."""
    failures: int = 0
    """Append transactions that failed (each retry that fails counts)."""
    lost: int = 0
    """Messages given up on: backlog overflow, rejected by the store (a bug), unsaved at shutdown."""
    backlog: int = 0
    """Messages that failed to commit and wait to be retried."""
    refused: int = 0
    """Appends made after the worker was closed (not stored; their ``on_commit`` is never called)."""
    last_error: str | None = None
    """The latest error, as one line."""
    healthy: bool = True
    """False from a failed commit until the next successful one."""

    @property
    def messages_per_transaction(self) -> float:
        return self.messages / self.transactions if self.transactions else 0.0


class _Call:
    """A request for the worker thread other than an append: ``fn(store)``, answered through ``done``."""

    __slots__ = ("done", "error", "fn", "read", "result")

    def __init__(self, fn: Callable[[HistoryStore], object], *, read: bool, done: trio.Event | None) -> None:
        self.fn = fn
        self.read = read
        """Refused while the store is unhealthy."""
        self.done = done
        """Set on the trio thread when answered; None for fire-and-forget requests (errors are logged)."""
        self.result: object = None
        self.error: BaseException | None = None


class _Stop:
    """The request that stops the worker thread (after everything queued before it)."""


_STOP: Final = _Stop()

_Append = tuple[StoredMessage, OnCommit | None]
_Request = _Append | _Call | _Stop


class StoreWorker:
    """Runs ``store`` in one dedicated worker thread; see the module docstring."""

    def __init__(
        self,
        store: HistoryStore,
        *,
        max_backlog: int = 100_000,
        retry_interval: float = 5.0,
        close_store: bool = True,
        thread_name: str = "trio-chat store",
    ) -> None:
        """``max_backlog``: unsaved messages kept for retry while the store fails.  ``retry_interval``: seconds
        between retries when no new messages arrive.  ``close_store``: close the store when the thread stops."""
        if max_backlog < 1:
            raise ValueError("max_backlog must be at least 1")
        self._store = store
        self.max_backlog = max_backlog
        self.retry_interval = retry_interval
        self.close_store = close_store
        self.thread_name = thread_name
        self.stats = StoreStats()
        self._queue: queue.SimpleQueue[_Request] = queue.SimpleQueue()
        # Messages whose commit failed, to retry (their callbacks were already called with None).
        self._backlog: list[StoredMessage] = []
        self._overflow_logged = False
        self._started = False
        self._closing = False
        self._running = trio.Event()
        self._stopped = trio.Event()
        # Our own limiter, so the long-lived thread does not hold one of trio's default 40 thread tokens.
        self._limiter = trio.CapacityLimiter(1)

    # -- the trio side --------------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the worker thread until :meth:`aclose` or cancellation; start it with ``nursery.start``.

        ``nursery.start`` returns once the thread is running.  Appends made before are queued, not lost.
        """
        if self._started:
            raise RuntimeError("StoreWorker.run() can only be called once")
        self._started = True
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._host_thread)
            try:
                await self._running.wait()
                task_status.started()
                await self._stopped.wait()
            finally:
                # Cancelled (or the thread ended): ask the thread to stop after what is queued, and wait for it
                # even though we are cancelled, so no thread outlives the nursery.
                self._closing = True
                self._queue.put(_STOP)
                with trio.CancelScope(shield=True):
                    await self._stopped.wait()

    async def _host_thread(self) -> None:
        try:
            # abandon_on_cancel=False: the thread is never abandoned; cancellation goes through the stop request.
            # This task also runs the thread's trio.from_thread.run_sync calls (callbacks, answers).
            await trio.to_thread.run_sync(
                self._thread_main, thread_name=self.thread_name, abandon_on_cancel=False, limiter=self._limiter
            )
        finally:
            # Normally the thread answered everything before it stopped; if it never ran (cancelled first) or
            # died of a bug, answer what is left so that no caller waits forever.
            never_ran = not self._running.is_set()
            self._running.set()
            self._abandon_queue(close_store=never_ran)
            self._stopped.set()

    async def aclose(self) -> None:
        """Finish what is queued, stop the thread and close the store.  Later appends are refused."""
        self._closing = True
        if not self._started:
            self._started = True
            self._abandon_queue(close_store=True)
            self._stopped.set()
            return
        self._queue.put(_STOP)
        await self._stopped.wait()

    def _abandon_queue(self, *, close_store: bool) -> None:
        """No thread will serve the queue: fail what is in it (appends get None, queries raise StoreError)."""
        self._closing = True
        failed: list[tuple[OnCommit, StoredMessage | None]] = []
        while True:
            try:
                request = self._queue.get_nowait()
            except queue.Empty:
                break
            if type(request) is tuple:
                self.stats.lost += 1
                if request[1] is not None:
                    failed.append((request[1], None))
            elif isinstance(request, _Call):
                request.error = StoreError("history store is closed")
                if request.done is not None:
                    request.done.set()
        _call_back(failed)
        if close_store and self.close_store:
            try:
                self._store.close()
            except StoreError as exc:
                log.error("%s", exc)

    def append(self, message: StoredMessage, on_commit: OnCommit | None = None) -> None:
        """Queue ``message`` for the next group commit; never blocks.  See the module docstring.

        ``on_commit`` is called exactly once, on the trio thread, for every append made before :meth:`aclose`
        (or cancellation of :meth:`run`); it must not raise (exceptions are logged and ignored).
        """
        if self._closing:
            self.stats.refused += 1
            if self.stats.refused == 1:
                log.warning("history store is closed: message %s to %s not stored", message.msgid, message.target)
            return
        self._queue.put((message, on_commit))

    async def _call(self, fn: Callable[[HistoryStore], _T], *, read: bool) -> _T:
        if self._closing:
            raise StoreError("history store is closed")
        call = _Call(fn, read=read, done=trio.Event())
        self._queue.put(call)
        assert call.done is not None
        await call.done.wait()
        if call.error is not None:
            raise call.error
        return cast(_T, call.result)  # fn's result: no error

    def _call_nowait(self, fn: Callable[[HistoryStore], object]) -> None:
        if self._closing:
            raise StoreError("history store is closed")
        self._queue.put(_Call(fn, read=False, done=None))

    # Queries: served in queue order; StoreError while the store is unhealthy.

    async def latest(self, folded: str, limit: int, after: Ref | None = None) -> list[StoredMessage]:
        """See :meth:`HistoryStore.latest`."""
        return await self._call(lambda s: s.latest(folded, limit, after), read=True)

    async def before(self, folded: str, ref: Ref, limit: int) -> list[StoredMessage]:
        """See :meth:`HistoryStore.before`."""
        return await self._call(lambda s: s.before(folded, ref, limit), read=True)

    async def after(self, folded: str, ref: Ref, limit: int) -> list[StoredMessage]:
        """See :meth:`HistoryStore.after`."""
        return await self._call(lambda s: s.after(folded, ref, limit), read=True)

    async def around(self, folded: str, ref: Ref, limit: int) -> list[StoredMessage]:
        """See :meth:`HistoryStore.around`."""
        return await self._call(lambda s: s.around(folded, ref, limit), read=True)

    async def between(self, folded: str, start: Ref, end: Ref, limit: int) -> list[StoredMessage]:
        """See :meth:`HistoryStore.between`."""
        return await self._call(lambda s: s.between(folded, start, end, limit), read=True)

    async def targets(self, start: TimeRef, end: TimeRef, limit: int) -> list[tuple[str, int]]:
        """See :meth:`HistoryStore.targets`."""
        return await self._call(lambda s: s.targets(start, end, limit), read=True)

    async def conversations(self, account: str, start: TimeRef, end: TimeRef, limit: int) -> list[tuple[str, int]]:
        """See :meth:`HistoryStore.conversations`."""
        return await self._call(lambda s: s.conversations(account, start, end, limit), read=True)

    async def find(self, msgid: str) -> StoredMessage | None:
        """See :meth:`HistoryStore.find`."""
        return await self._call(lambda s: s.find(msgid), read=True)

    async def targets_with_history(self) -> list[str]:
        """See :meth:`HistoryStore.targets_with_history`."""
        return await self._call(lambda s: s.targets_with_history(), read=True)

    async def load_channels(self) -> list[ChannelRecord]:
        """See :meth:`HistoryStore.load_channels`."""
        return await self._call(lambda s: s.load_channels(), read=True)

    # Other writes: attempted even while unhealthy (they raise StoreError if the store still fails).

    async def redact(self, folded: str, msgid: str) -> bool:
        """Delete a message (also from the retry backlog); False if there is none.  See :meth:`HistoryStore.redact`."""
        return await self._call(lambda s: self._redact(s, folded, msgid), read=False)

    async def prune(self, max_messages: int, max_age_ms: int, now_ms: int) -> int:
        """See :meth:`HistoryStore.prune`."""
        return await self._call(lambda s: s.prune(max_messages, max_age_ms, now_ms), read=False)

    async def save_channel(self, record: ChannelRecord) -> None:
        """See :meth:`HistoryStore.save_channel`."""
        await self._call(lambda s: s.save_channel(record), read=False)

    async def delete_channel(self, folded: str) -> None:
        """See :meth:`HistoryStore.delete_channel`."""
        await self._call(lambda s: s.delete_channel(folded), read=False)

    def save_channel_nowait(self, record: ChannelRecord) -> None:
        """Queue :meth:`save_channel` without waiting (for synchronous handlers); failures are logged."""
        self._call_nowait(lambda s: s.save_channel(record))

    def delete_channel_nowait(self, folded: str) -> None:
        """Queue :meth:`delete_channel` without waiting (for synchronous handlers); failures are logged."""
        self._call_nowait(lambda s: s.delete_channel(folded))

    def rename_channel_nowait(self, old: str, record: ChannelRecord) -> None:
        """Queue :meth:`HistoryStore.rename_channel` without waiting; the appends queued before it are
        committed first (the queue keeps its order).  Failures are logged."""
        self._call_nowait(lambda s: s.rename_channel(old, record))

    def save_account_nowait(self, record: AccountRecord) -> None:
        """Queue :meth:`HistoryStore.save_account` without waiting; failures are logged."""
        self._call_nowait(lambda s: s.save_account(record))

    def delete_account_nowait(self, folded: str) -> None:
        """Queue :meth:`HistoryStore.delete_account` without waiting; failures are logged."""
        self._call_nowait(lambda s: s.delete_account(folded))

    def save_marker_nowait(self, account: str, target: str, time_ms: int) -> None:
        """Queue :meth:`HistoryStore.save_marker` without waiting; failures are logged."""
        self._call_nowait(lambda s: s.save_marker(account, target, time_ms))

    async def load_accounts(self) -> list[AccountRecord]:
        """See :meth:`HistoryStore.load_accounts`."""
        return await self._call(lambda s: s.load_accounts(), read=True)

    # -- the worker thread ----------------------------------------------------------------------------------

    def _thread_main(self) -> None:
        """Serve the queue until the stop request; then retry the backlog once and close the store."""
        get, get_nowait = self._queue.get, self._queue.get_nowait
        trio.from_thread.run_sync(self._running.set)
        try:
            while True:
                try:
                    first = get(timeout=self.retry_interval) if self._backlog else get()
                except queue.Empty:
                    self._commit([])  # retry the backlog although nothing new arrived
                    continue
                # Everything queued at this moment, and no more: draining "until empty" while the event loop
                # keeps appending could go on for as long as the burst lasts, delaying the first message.
                requests = [first]
                for _ in range(self._queue.qsize()):
                    requests.append(get_nowait())
                if self._serve(requests):
                    return
        finally:
            self._finish()

    def _serve(self, requests: Sequence[_Request]) -> bool:
        """Serve requests in order, committing consecutive appends together; True once the stop request is seen."""
        appends: list[_Append] = []
        stopping = False
        for request in requests:
            if type(request) is tuple:
                appends.append(request)
                continue
            if appends:
                self._commit(appends)
                appends = []
            if isinstance(request, _Call):
                if stopping:
                    request.error = StoreError("history store is closed")
                    self._answer(request)
                else:
                    self._run_call(request)
            else:
                stopping = True
        if appends:
            self._commit(appends)
        return stopping

    def _commit(self, appends: Sequence[_Append]) -> None:
        """Commit the backlog and ``appends`` in one transaction, then report to the callbacks."""
        messages = self._backlog + [message for message, _ in appends]
        if not messages:
            return
        stats = self.stats
        try:
            stored: list[StoredMessage | None] = list(self._store.append_many(messages))
        except StoreError as exc:
            self._failed(exc, messages)
            self._deliver([(callback, None) for _, callback in appends if callback is not None])
            return
        except Exception:
            # Not the disk: a message the store rejects (a duplicate msgid is a bug upstream).  Store the
            # messages one by one so that one bad message does not take its whole batch with it.
            log.exception("history store rejected a batch of %d messages; storing them one by one", len(messages))
            one_by_one = self._one_by_one(messages)
            if one_by_one is None:
                # The store failed meanwhile: like a failed batch (some of these may be stored: None is only
                # "not confirmed").
                self._deliver([(callback, None) for _, callback in appends if callback is not None])
                return
            stored = one_by_one
        else:
            stats.transactions += 1
            stats.messages += len(messages)
            stats.largest_batch = max(stats.largest_batch, len(messages))
        self._backlog = []
        stats.backlog = 0
        if not stats.healthy:
            stats.healthy = True
            self._overflow_logged = False
            log.warning(
                "history store recovered: storing messages again (%d stored from the backlog, %d lost so far)",
                len(messages) - len(appends),
                stats.lost,
            )
        results = stored[len(stored) - len(appends) :]
        self._deliver(
            [(callback, result) for (_, callback), result in zip(appends, results, strict=True) if callback is not None]
        )

    def _one_by_one(self, messages: list[StoredMessage]) -> list[StoredMessage | None] | None:
        """Store each message in its own transaction; None (and the backlog set) if the store fails meanwhile."""
        stats = self.stats
        results: list[StoredMessage | None] = []
        for index, message in enumerate(messages):
            try:
                results.extend(self._store.append_many([message]))
            except StoreError as exc:
                self._failed(exc, messages[index:])
                return None
            except Exception as exc:
                log.error("history store rejected message %s to %s: %s", message.msgid, message.target, exc)
                stats.lost += 1
                results.append(None)
            else:
                stats.transactions += 1
                stats.messages += 1
                stats.largest_batch = max(stats.largest_batch, 1)
        return results

    def _failed(self, exc: StoreError, messages: list[StoredMessage]) -> None:
        """Record a failed commit: keep ``messages`` for the retry (bounded), log the first failure."""
        stats = self.stats
        stats.failures += 1
        stats.last_error = str(exc)
        overflow = len(messages) - self.max_backlog
        if overflow > 0:
            if not self._overflow_logged:
                self._overflow_logged = True
                log.error(
                    "history store backlog full (%d messages): dropping the oldest unsaved messages", self.max_backlog
                )
            stats.lost += overflow
            messages = messages[overflow:]
        self._backlog = messages
        stats.backlog = len(messages)
        if stats.healthy:
            stats.healthy = False
            log.error(
                "%s; the chat goes on, but messages are not stored (echoes are no longer receipts) until it recovers",
                exc,
            )

    def _run_call(self, call: _Call) -> None:
        if call.read and not self.stats.healthy:
            call.error = StoreError(f"history is unavailable: {self.stats.last_error}")
        else:
            try:
                call.result = call.fn(self._store)
            except Exception as exc:
                call.error = exc
        self._answer(call)

    def _answer(self, call: _Call) -> None:
        if call.done is not None:
            trio.from_thread.run_sync(call.done.set)
        elif call.error is not None:
            log.error("history store request failed: %s", call.error)

    def _redact(self, store: HistoryStore, folded: str, msgid: str) -> bool:
        """Runs in the thread: remove ``msgid`` (and the other lines of a multiline message) from the backlog (not
        stored yet) and from the store."""
        backlog = self._backlog
        kept = [m for m in backlog if not (m.folded == folded and of_message(m.msgid, msgid))]
        # The lines of a message are appended in order and the backlog only ever grows at its end until a commit
        # empties it: when the message's first line is still in it, so are all the others, and the store (which
        # may be the failing part) need not be asked.  The backlog changes only once the store has answered.
        first_waiting = any(m.msgid == msgid and m.folded == folded for m in backlog)
        in_store = False if first_waiting else store.redact(folded, msgid)
        in_backlog = len(kept) != len(backlog)
        if in_backlog:
            backlog[:] = kept
            self.stats.backlog = len(backlog)
        return in_store or in_backlog

    def _deliver(self, results: list[tuple[OnCommit, StoredMessage | None]]) -> None:
        """Call the callbacks on the trio thread, in order, in one round trip."""
        if results:
            trio.from_thread.run_sync(_call_back, results)

    def _finish(self) -> None:
        """The thread is stopping: one last try for the backlog, then close the store."""
        if self._backlog:
            self._commit([])
            if self._backlog:
                self.stats.lost += len(self._backlog)
                log.error("history store: %d unsaved messages lost at shutdown", len(self._backlog))
                self._backlog = []
                self.stats.backlog = 0
        if self.close_store:
            try:
                self._store.close()
            except StoreError as exc:
                log.error("%s", exc)


def _call_back(results: list[tuple[OnCommit, StoredMessage | None]]) -> None:
    """On the trio thread: run ``on_commit`` callbacks; one that raises is logged and does not stop the others."""
    for callback, result in results:
        try:
            callback(result)
        except Exception:
            log.exception("history on_commit callback failed")
