"""Two real ``trio-chat serve`` processes on one real redis-server: a node killed with SIGKILL leaves the network
(its users quit on the other node, with ``*.net *.split``) and comes back when it is started again; and a real
irssi on one node chats with our terminal client on the other."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.redis_server import RedisServer, free_port
from tests.test_cli import SERVE, server_process
from tests.test_client_e2e_tmux import join_command
from tests.tmux import Tmux

NODE_TIMEOUT = 2.0


def node_args(redis: RedisServer, name: str, directory: Path) -> list[str]:
    config = directory / f"{name}.toml"
    config.write_text(f"node_timeout = {NODE_TIMEOUT}\nflood_limit = 0\n", encoding="utf-8")
    return ["--redis", redis.url, "--server-name", name, "--config", str(config), "--db", ":memory:"]


class LineClient:
    """A blocking IRC client on a real socket, for scripts that wait for lines."""

    def __init__(self, port: int, nick: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buffer = b""
        self.nick = nick
        self.send(f"NICK {nick}", f"USER {nick} 0 * :{nick}")
        self.expect(r" 001 ")

    def send(self, *lines: str) -> None:
        self.sock.sendall("".join(line + "\r\n" for line in lines).encode())

    def expect(self, pattern: str, within: float = 10.0) -> str:
        regex = re.compile(pattern)
        deadline = time.monotonic() + within
        while True:
            while b"\r\n" in self.buffer:
                line, self.buffer = self.buffer.split(b"\r\n", 1)
                text = line.decode("utf-8", "replace")
                if regex.search(text):
                    return text
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{self.nick}: {pattern!r} not seen"
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(65536)
            assert chunk, f"{self.nick}: connection closed while waiting for {pattern!r}"
            self.buffer += chunk

    def close(self) -> None:
        self.sock.close()


def test_a_node_killed_with_sigkill_leaves_and_comes_back(redis: RedisServer, tmp_path: Path) -> None:
    with server_process(*node_args(redis, "a.test", tmp_path)) as (_, port_a):
        alice = LineClient(port_a, "alice")
        alice.send("JOIN #lobby")
        alice.expect(r" 366 alice #lobby ")
        with server_process(*node_args(redis, "b.test", tmp_path)) as (node_b, port_b):
            bob = LineClient(port_b, "bob")
            bob.send("JOIN #lobby")
            alice.expect(r":bob!\S+ JOIN #lobby")
            bob.send("PRIVMSG #lobby :hi from b")
            alice.expect(r":bob!\S+ PRIVMSG #lobby :hi from b")
            alice.send("PRIVMSG bob :psst")
            bob.expect(r":alice!\S+ PRIVMSG bob :psst")
            os.kill(node_b.pid, signal.SIGKILL)
            node_b.wait(timeout=10)
            killed = time.monotonic()
            alice.expect(r":bob!\S+ QUIT :\*\.net \*\.split", within=3 * NODE_TIMEOUT + 5)
            assert time.monotonic() - killed < 3 * NODE_TIMEOUT + 2
            bob.close()
        alice.send("WHOIS bob")
        alice.expect(r" 401 alice bob ")
        # Started again, the node is part of the network within seconds, and bob can come back.
        with server_process(*node_args(redis, "b.test", tmp_path)) as (_, port_b):
            bob = LineClient(port_b, "bob")
            bob.send("JOIN #lobby")
            alice.expect(r":bob!\S+ JOIN #lobby")
            names = bob.expect(r" 353 bob = #lobby ")
            assert "@alice" in names
            bob.close()
        alice.close()


@pytest.mark.skipif(shutil.which("irssi") is None or shutil.which("tmux") is None, reason="irssi or tmux missing")
def test_irssi_on_one_node_and_our_client_on_the_other(redis: RedisServer, tmp_path: Path, tmux: Tmux) -> None:
    with (
        server_process(*node_args(redis, "a.test", tmp_path)) as (_, port_a),
        server_process(*node_args(redis, "b.test", tmp_path)) as (node_b, port_b),
    ):
        home = tmp_path / "irssi"
        home.mkdir()
        (home / "config").write_text(
            f'servers = ( {{ address = "127.0.0.1"; chatnet = "trio"; port = "{port_a}"; use_tls = "no"; '
            'autoconnect = "yes"; } );\n'
            'chatnets = { trio = { type = "IRC"; }; };\n'
            'settings = { core = { nick = "alice"; real_name = "Alice"; user_name = "alice"; }; };\n',
            encoding="utf-8",
        )
        tmux.start("irssi", ["irssi", f"--home={home}"], width=120, height=30)
        tmux.wait_for("irssi", r"Welcome to the \S+ IRC Network")
        tmux.type("irssi", "/join #lobby")
        tmux.keys("irssi", "Enter")
        tmux.wait_for("irssi", r"alice \S* has joined #lobby")
        tmux.start("bob", join_command("bob", port_b))
        tmux.wait_for("bob", r"You joined #lobby")
        tmux.wait_for("irssi", r"bob \S+ has joined #lobby")
        tmux.type("bob", "hello from node b")
        tmux.keys("bob", "Enter")
        tmux.wait_for("irssi", r"<\s*bob> hello from node b")
        tmux.type("irssi", "hi bob, this is node a")
        tmux.keys("irssi", "Enter")
        tmux.wait_for("bob", r"<alice> hi bob, this is node a")
        tmux.type("irssi", "/topic Two nodes, one network")
        tmux.keys("irssi", "Enter")
        tmux.wait_for("bob", r"Two nodes, one network")
        tmux.type("bob", "/msg alice a private word")
        tmux.keys("bob", "Enter")
        tmux.wait_for("irssi", r"Act: \S*3")  # irssi opens a query window (3) for it
        tmux.type("irssi", "/window 3")
        tmux.keys("irssi", "Enter")
        tmux.wait_for("irssi", r"<bob> a private word")
        tmux.type("irssi", "/window 2")
        tmux.keys("irssi", "Enter")
        tmux.type("bob", "/nick robert")
        tmux.keys("bob", "Enter")
        tmux.wait_for("irssi", r"bob is now known as robert")
        os.kill(node_b.pid, signal.SIGKILL)
        node_b.wait(timeout=10)
        # irssi knows the reason for what it is: a netsplit.
        tmux.wait_for("irssi", r"Netsplit \*\.net <-> \*\.split quits: robert")


def test_a_member_hears_what_is_said_right_after_their_join_from_a_node_that_lags(
    redis: RedisServer, tmp_path: Path
) -> None:
    # Real processes, so that the sending node may really not have applied the JOIN yet when its member speaks
    # (in one trio run the two nodes read the log in step): the new member must hear it, as on a single server.
    with (
        server_process(*node_args(redis, "a.test", tmp_path)) as (_, port_a),
        server_process(*node_args(redis, "b.test", tmp_path)) as (_, port_b),
    ):
        alice, bob = LineClient(port_a, "alice"), LineClient(port_b, "bob")
        for attempt in range(60):
            channel = f"#race{attempt}"
            alice.send(f"JOIN {channel}")
            alice.expect(rf" 366 alice {channel} ")
            bob.send(f"JOIN {channel}")
            bob.expect(rf" 366 bob {channel} ")
            alice.send(f"PRIVMSG {channel} :welcome {attempt}")
            bob.expect(rf":alice!\S+ PRIVMSG {channel} :welcome {attempt}$", within=3)
        alice.close()
        bob.close()


def test_a_redis_that_cannot_be_reached_at_start_is_one_line_and_exit_2(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    result = subprocess.run(
        [*SERVE, "--port", "0", "--db", ":memory:", "--redis", f"redis://127.0.0.1:{port}/0"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"trio-chat: cannot reach Redis at redis://127.0.0.1:{port}/0: "
        f"Unable to establish a connection to 127.0.0.1:{port}"
    ]
