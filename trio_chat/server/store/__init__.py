"""Where history lives on disk and how the event loop reaches it without waiting on the disk.

* :mod:`.sqlite`: :class:`SQLiteHistory`, the :class:`~trio_chat.server.history.HistoryStore` on SQLite;
* :mod:`.worker`: :class:`StoreWorker`, which runs a store in one dedicated thread, with group commit.

The interface and the in-memory store are in :mod:`trio_chat.server.history`.
"""

from .sqlite import SQLiteHistory
from .worker import StoreStats, StoreWorker

__all__ = ["SQLiteHistory", "StoreStats", "StoreWorker"]
