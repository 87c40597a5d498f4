"""History and channels across restarts of a real server process, and the durability promise under SIGKILL.

The promise (README, "History"): a channel message is fanned out at once, and its echo-message echo is sent
only after the message is committed, so the echo is the sender's receipt.  Killing the server with SIGKILL at
any moment loses no message whose echo was sent.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

from tests.test_cli import SERVE, server_process
from trio_chat.protocol import Message, parse_line
from trio_chat.server.history import StoreError
from trio_chat.server.store import SQLiteHistory

CAPS = "batch server-time message-tags echo-message"


class LineClient:
    """A blocking IRC client over a real socket."""

    def __init__(self, port: int, nick: str, caps: str = CAPS) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.buffer = b""
        self.send("CAP LS 302", f"CAP REQ :{caps}", f"NICK {nick}", f"USER {nick} 0 * :{nick}", "CAP END")
        self.until(" 376 ", " 422 ")

    def send(self, *lines: str) -> None:
        self.sock.sendall("".join(line + "\r\n" for line in lines).encode())

    def next(self) -> Message:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("the server closed the connection")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return parse_line(line, max_tag_bytes=1 << 16)

    def until(self, *needles: str) -> list[Message]:
        out = []
        while True:
            message = self.next()
            out.append(message)
            if any(needle in " " + message.to_line() + " " for needle in needles):
                return out

    def close(self) -> None:
        self.sock.close()


def test_restart_keeps_the_conversation_the_topic_and_the_modes(tmp_path: Path) -> None:
    db = str(tmp_path / "chat.db")
    with server_process("--db", db) as (proc, port):
        alice = LineClient(port, "alice")
        alice.send("JOIN #team")
        alice.until(" 366 ")
        alice.send("TOPIC #team :Release on Friday", "MODE #team +m")
        alice.send(*(f"PRIVMSG #team :message {i}" for i in range(5)))
        echoes = [m for m in alice.until("message 4") if m.command == "PRIVMSG"]
        alice.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    with server_process("--db", db) as (_, port):
        bob = LineClient(port, "bob")
        bob.send("JOIN #team")
        lines = bob.until(r"BATCH -")
        topic = next(m for m in lines if m.command == "332")
        assert topic.params[-1] == "Release on Friday"
        replayed = [m for m in lines if m.command == "PRIVMSG"]
        assert [m.params[1] for m in replayed] == [f"message {i}" for i in range(5)]
        assert [m.tags["msgid"] for m in replayed] == [m.tags["msgid"] for m in echoes]
        bob.send("MODE #team")
        assert next(m for m in bob.until(" 324 ") if m.command == "324").params[2] == "+mnt"
        # Nobody walked in as operator of the restored channel.
        assert not [m for m in lines if m.command == "353" and "@bob" in m.params[-1]]
        bob.close()


def test_a_registered_channel_survives_a_restart_with_its_founder_as_operator(tmp_path: Path) -> None:
    db = str(tmp_path / "chat.db")
    with server_process("--db", db) as (proc, port):
        alice = LineClient(port, "alice")
        alice.send("PRIVMSG NickServ :REGISTER sesame12")
        alice.until(" 900 ")
        alice.send("JOIN #team")
        alice.until(" 366 ")
        alice.send("TOPIC #team :Ours", "PRIVMSG ChanServ :REGISTER #team")
        alice.until("successfully registered")
        alice.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    with server_process("--db", db) as (_, port):
        # Someone walks into the restored, empty channel first: not its operator.
        bob = LineClient(port, "bob")
        bob.send("JOIN #team")
        lines = bob.until(" 366 ")
        assert next(m for m in lines if m.command == "332").params[-1] == "Ours"
        assert [m.params[-1] for m in lines if m.command == "353"] == ["bob"]
        alice = LineClient(port, "alice")
        alice.send("PRIVMSG NickServ :IDENTIFY sesame12")
        alice.until(" 900 ")
        alice.send("JOIN #team")
        lines = alice.until(" 366 ")
        assert "@alice" in " ".join(m.params[-1] for m in lines if m.command == "353")
        mode = next(m for m in bob.until(" MODE ") if m.command == "MODE")
        assert mode.params == ("#team", "+o", "alice")
        alice.send("PRIVMSG ChanServ :INFO #team")
        assert any("Founder: alice" in m.params[-1] for m in alice.until("Founder:"))
        alice.close()
        bob.close()


def test_sigkill_mid_stream_loses_no_message_whose_echo_was_sent(tmp_path: Path) -> None:
    """Three kills at different moments of a stream of 3,000 messages, each checked after the restart."""
    db = str(tmp_path / "chat.db")
    for round_, kill_after in enumerate((150, 500, 1200)):
        channel = f"#burst{round_}"
        echoed: list[str] = []
        with server_process("--db", db, "--flood-limit", "0") as (proc, port):
            alice = LineClient(port, "alice")
            alice.send(f"JOIN {channel}")
            alice.until(" 366 ")
            # Far more than is read before the kill: the server dies while messages are still arriving, being
            # fanned out and being committed.
            alice.send(*(f"PRIVMSG {channel} :burst {i}" for i in range(3000)))
            while len(echoed) < kill_after:
                message = alice.next()
                if message.command == "PRIVMSG":
                    echoed.append(message.tags["msgid"])
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)
            try:  # what was already in the socket was sent before the kill: those are receipts too
                while True:
                    message = alice.next()
                    if message.command == "PRIVMSG":
                        echoed.append(message.tags["msgid"])
            except (EOFError, OSError):
                pass
            alice.close()
        store = SQLiteHistory.open(db)
        try:
            kept = {m.msgid for m in store.latest(channel, 10_000)}
        finally:
            store.close()
        missing = [msgid for msgid in echoed if msgid not in kept]
        assert not missing, f"kill after {kill_after}: {len(missing)} echoed messages lost, e.g. {missing[:3]}"


def _serve_once(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SERVE, "--port", "0", *args], check=False, capture_output=True, text=True, timeout=30)


def test_a_corrupt_database_is_one_line_and_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.db"
    bad.write_bytes(b"this is not an SQLite database, it is a note someone saved here" * 100)
    result = _serve_once("--db", str(bad))
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("trio-chat: cannot open history database") and "corrupt" in line


def test_a_database_another_server_uses_is_one_line_and_exit_1(tmp_path: Path) -> None:
    db = str(tmp_path / "shared.db")
    with server_process("--db", db):
        result = _serve_once("--db", db)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "locked by another process" in line


def test_the_store_api_refuses_what_the_server_refuses(tmp_path: Path) -> None:
    """The server reports exactly StoreError's message: the store is the one place that words it."""
    bad = tmp_path / "corrupt.db"
    bad.write_bytes(b"garbage" * 1000)
    try:
        SQLiteHistory.open(str(bad))
    except StoreError as exc:
        message = str(exc)
    else:
        raise AssertionError("a corrupt file was opened")
    assert _serve_once("--db", str(bad)).stderr.strip() == f"trio-chat: {message}"
