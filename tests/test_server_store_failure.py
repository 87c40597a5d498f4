"""The store failing while the server runs: the chat goes on, CHATHISTORY says so, and storing resumes.

A real SQLite file behind the real store thread; only the failure is injected (a disk that fills up cannot be
had on every machine): while ``failing`` is set, its commits raise the StoreError a full disk gives.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
import trio

from tests.helpers import FAST, join, pipe_stream_pair
from tests.ircclient import IRCClient
from trio_chat.server.app import Server
from trio_chat.server.history import StoredMessage, StoreError
from trio_chat.server.store import SQLiteHistory

CAPS = "batch server-time message-tags echo-message draft/chathistory"


class FillingDisk(SQLiteHistory):
    """The SQLite store, on a disk that is full while ``failing`` is set."""

    failing = False

    def append_many(self, messages: Sequence[StoredMessage]) -> list[StoredMessage]:
        if self.failing:
            raise StoreError(f"cannot write history database {self.path}: the disk is full")
        return super().append_many(messages)


async def _client(server: Server, nursery: trio.Nursery, nick: str) -> IRCClient:
    client_end, server_end = pipe_stream_pair()
    nursery.start_soon(server.handle_connection, server_end)
    client = IRCClient(client_end, nick)
    await client.register(nick, caps=CAPS)
    return client


async def _history(client: IRCClient) -> list[str]:
    await client.send("CHATHISTORY LATEST #room * 50")
    lines = await client.collect_until(r"^(@\S+ )?:\S+ (BATCH -|FAIL )")
    if lines[-1].command == "FAIL":
        return ["FAIL " + " ".join(lines[-1].params[:3])]
    return [m.params[1] for m in lines if m.command == "PRIVMSG"]


async def test_a_full_disk_keeps_the_chat_going_and_storing_resumes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = str(tmp_path / "chat.db")
    store = FillingDisk.open(path)
    assert isinstance(store, FillingDisk)
    server = Server(replace(FAST, db=path), store=store)
    async with trio.open_nursery() as nursery:
        await nursery.start(server.run_services)
        alice = await _client(server, nursery, "alice")
        bob = await _client(server, nursery, "bob")
        await join(alice, "alice", "#room")
        await join(bob, "bob", "#room")
        await alice.send("PRIVMSG #room :before")
        await alice.expect("PRIVMSG #room :?before")

        store.failing = True
        with caplog.at_level(logging.ERROR, logger="trio_chat.store"):
            await alice.send("PRIVMSG #room :while full")
            # Fanned out and echoed all the same: the chat goes on.
            await bob.expect("PRIVMSG #room :?while full")
            await alice.expect("PRIVMSG #room :?while full")
        assert any("echoes are no longer receipts" in r.getMessage() for r in caplog.records)
        assert server.history.stats.healthy is False
        assert await _history(alice) == ["FAIL CHATHISTORY MESSAGE_ERROR LATEST"]

        store.failing = False
        await alice.send("PRIVMSG #room :after")
        await alice.expect("PRIVMSG #room :?after")
        # The message that failed was kept and stored with the next commit, in order.
        assert await _history(alice) == ["before", "while full", "after"]
        assert server.history.stats.healthy and server.history.stats.lost == 0
        nursery.cancel_scope.cancel()
