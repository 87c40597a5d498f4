"""An in-memory store served on the trio thread: ``--db :memory:``, and the in-process tests.

:class:`InlineStoreWorker` has :class:`~.worker.StoreWorker`'s interface without its thread: appends are
committed by one task in the next scheduler batch (so ``on_commit`` comes later, as it does with SQLite), and
queries commit what is queued first.  No thread means tests on trio's MockClock see no time pass while the
store works.
"""

from __future__ import annotations

from collections.abc import Callable

import trio

from ..accounts import AccountRecord
from ..history import ChannelRecord, HistoryStore, Ref, StoredMessage, TimeRef
from .worker import OnCommit, StoreStats

__all__ = ["InlineStoreWorker"]


class InlineStoreWorker:
    """Runs a synchronous in-memory ``store`` on the trio thread, batching appends once per scheduler batch."""

    def __init__(self, store: HistoryStore) -> None:
        self._store = store
        self.stats = StoreStats()
        self._queued: list[tuple[StoredMessage, OnCommit | None]] = []
        self._wakeup = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup = trio.Event()
                self._commit()
        finally:
            self._commit()

    def append(self, message: StoredMessage, on_commit: OnCommit | None = None) -> None:
        if not self._queued:
            self._wakeup.set()
        self._queued.append((message, on_commit))

    def _commit(self) -> None:
        queued, self._queued = self._queued, []
        if not queued:
            return
        stored = self._store.append_many([message for message, _ in queued])
        self.stats.messages += len(stored)
        self.stats.transactions += 1
        self.stats.largest_batch = max(self.stats.largest_batch, len(stored))
        for (_, on_commit), message in zip(queued, stored, strict=True):
            if on_commit is not None:
                on_commit(message)

    def _now(self, fn: Callable[[], list[StoredMessage]]) -> list[StoredMessage]:
        self._commit()
        return fn()

    def save_channel_nowait(self, record: ChannelRecord) -> None:
        self._store.save_channel(record)

    def delete_channel_nowait(self, folded: str) -> None:
        self._store.delete_channel(folded)

    def rename_channel_nowait(self, old: str, record: ChannelRecord) -> None:
        self._commit()  # the messages appended before are renamed too
        self._store.rename_channel(old, record)

    def save_account_nowait(self, record: AccountRecord) -> None:
        self._store.save_account(record)

    def delete_account_nowait(self, folded: str) -> None:
        self._store.delete_account(folded)

    def save_marker_nowait(self, account: str, target: str, time_ms: int) -> None:
        self._store.save_marker(account, target, time_ms)

    async def latest(self, folded: str, limit: int, after: Ref | None = None) -> list[StoredMessage]:
        return self._now(lambda: self._store.latest(folded, limit, after))

    async def before(self, folded: str, ref: Ref, limit: int) -> list[StoredMessage]:
        return self._now(lambda: self._store.before(folded, ref, limit))

    async def after(self, folded: str, ref: Ref, limit: int) -> list[StoredMessage]:
        return self._now(lambda: self._store.after(folded, ref, limit))

    async def around(self, folded: str, ref: Ref, limit: int) -> list[StoredMessage]:
        return self._now(lambda: self._store.around(folded, ref, limit))

    async def between(self, folded: str, start: Ref, end: Ref, limit: int) -> list[StoredMessage]:
        return self._now(lambda: self._store.between(folded, start, end, limit))

    async def targets(self, start: TimeRef, end: TimeRef, limit: int) -> list[tuple[str, int]]:
        self._commit()
        return self._store.targets(start, end, limit)

    async def conversations(self, account: str, start: TimeRef, end: TimeRef, limit: int) -> list[tuple[str, int]]:
        self._commit()
        return self._store.conversations(account, start, end, limit)

    async def redact(self, folded: str, msgid: str) -> bool:
        self._commit()
        return self._store.redact(folded, msgid)

    async def find(self, msgid: str) -> StoredMessage | None:
        self._commit()
        return self._store.find(msgid)

    async def prune(self, max_messages: int, max_age_ms: int, now_ms: int) -> int:
        self._commit()
        return self._store.prune(max_messages, max_age_ms, now_ms)
