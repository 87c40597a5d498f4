"""A real irssi in tmux against a real ``trio-chat serve``: it logs in with SASL, and replay reads sensibly.

irssi negotiates neither ``batch`` nor ``draft/chathistory``, so it gets replay as server notices that say when
and who; it does SASL PLAIN from its network settings.  Skipped where irssi or tmux is not installed (CI
installs both).
"""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

import pytest

from tests.test_cli import server_process
from tests.tmux import Tmux

pytestmark = pytest.mark.skipif(
    shutil.which("irssi") is None or shutil.which("tmux") is None, reason="irssi or tmux is not installed"
)


def _say(port: int, lines: list[str]) -> None:
    """A scripted client: register, send ``lines``, wait for the server to answer a PING, quit."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall("".join(line + "\r\n" for line in [*lines, "PING :done"]).encode())
        data = b""
        deadline = time.monotonic() + 10
        while b"PONG" not in data and time.monotonic() < deadline:
            data += sock.recv(65536)
        assert b"PONG" in data, data[-500:]
        sock.sendall(b"QUIT :bye\r\n")


def test_irssi_logs_in_with_sasl_and_shows_the_replay(tmux: Tmux, tmp_path: Path) -> None:
    with server_process("--db", str(tmp_path / "chat.db"), "--flood-limit", "0") as (_, port):
        _say(
            port,
            [
                "NICK alice",
                "USER alice 0 * :Alice",
                "PRIVMSG NickServ :REGISTER correct-horse",
                "JOIN #team",
                "TOPIC #team :Release on Friday",
                "PRIVMSG #team :morning all",
                "PRIVMSG #team :\x01ACTION ships it\x01",
            ],
        )
        home = tmp_path / "irssi"
        home.mkdir()
        (home / "config").write_text(
            'chatnets = { trio = { type = "IRC"; sasl_mechanism = "PLAIN"; sasl_username = "alice"; '
            'sasl_password = "correct-horse"; }; };\n'
            f'servers = ( {{ address = "127.0.0.1"; chatnet = "trio"; port = "{port}"; use_tls = "no"; '
            'autoconnect = "yes"; } );\n'
            'settings = { core = { nick = "alice"; real_name = "Alice"; user_name = "alice"; }; };\n',
            encoding="utf-8",
        )
        tmux.start("irssi", ["irssi", f"--home={home}"], width=120, height=30)
        tmux.wait_for("irssi", r"SASL authentication succeeded")
        tmux.type("irssi", "/join #team")
        tmux.keys("irssi", "Enter")
        screen = tmux.wait_for("irssi", r"\* alice ships it")
        assert "Topic for #team: Release on Friday" in screen
        assert screen.index("<alice> morning all") < screen.index("* alice ships it")
        assert screen.count("morning all") == 1
        # WHOIS answers land in irssi's status window (window 1).  irssi paces its own commands (one per 2.2 s
        # after a burst), so this comes a few seconds later.
        tmux.type("irssi", "/window 1")
        tmux.keys("irssi", "Enter")
        tmux.type("irssi", "/whois alice")
        tmux.keys("irssi", "Enter")
        tmux.wait_for("irssi", r"account\s*: alice")
