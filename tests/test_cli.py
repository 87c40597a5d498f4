"""``trio-chat serve`` as a process: start-up, Ctrl-C, a port in use, the config file."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from trio_chat.cli import build_parser, server_config
from trio_chat.server.config import ConfigError

SERVE = [sys.executable, "-m", "trio_chat.cli", "serve"]


@contextmanager
def server_process(*args: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """Run ``trio-chat serve --port 0 …`` in a scratch directory (where its ``trio-chat.db`` goes); yield it and
    the port it logged; always end it (by its PID)."""
    scratch = tempfile.TemporaryDirectory()
    proc = subprocess.Popen([*SERVE, "--port", "0", *args], stderr=subprocess.PIPE, text=True, cwd=scratch.name)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = re.search(r"listening on \S+ port (\d+)", line)
        assert match, f"unexpected first log line: {line!r}"
        yield proc, int(match.group(1))
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()
        scratch.cleanup()


def _register(port: int, nick: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(f"NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n".encode())
    data = b""
    while b" 376 " not in data and b" 422 " not in data:
        chunk = sock.recv(65536)
        assert chunk, "server closed the connection during registration"
        data += chunk
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_tells_clients_and_exits_zero(signum: int) -> None:
    with server_process() as (proc, port):
        sock = _register(port, "alice")
        os.kill(proc.pid, signum)
        assert proc.wait(timeout=10) == 0
        assert b"ERROR :Server shutting down\r\n" in _read_until_closed(sock)
        sock.close()
        assert proc.stderr is not None
        log = proc.stderr.read()
        assert "Traceback" not in log
        assert "registered as alice" in log


def test_port_in_use_is_one_line_and_exit_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*SERVE, "--port", str(port), "--db", ":memory:"], check=False, capture_output=True, text=True, timeout=30
        )
    assert result.returncode == 1
    assert result.stderr.strip() == f"trio-chat: port {port} on 127.0.0.1 is already in use"


def test_message_bodies_are_not_logged_at_info() -> None:
    with server_process() as (proc, port):
        alice = _register(port, "alice")
        bob = _register(port, "bob")
        alice.sendall(b"PRIVMSG bob :the-secret-body\r\nQUIT :bye\r\n")
        assert b"the-secret-body" in bob.recv(65536) or b"the-secret-body" in bob.recv(65536)
        _read_until_closed(alice)
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert proc.stderr is not None
        log = proc.stderr.read()
        assert "the-secret-body" not in log
        assert "disconnected (alice): Quit: bye" in log
        alice.close()
        bob.close()


def test_config_file_then_command_line(tmp_path: Path) -> None:
    path = tmp_path / "chat.toml"
    path.write_text(
        '[server]\nport = 7000\nserver_name = "from.file"\nping_timeout = 30\nplaintext = false\n'
        '[opers]\nboss = "scrypt$14$8$1$c2FsdA==$aGFzaA=="\n'
    )
    args = build_parser().parse_args(["serve", "--config", str(path), "--port", "7001"])
    config = server_config(args)
    assert (config.port, config.server_name, config.ping_timeout) == (7001, "from.file", 30.0)
    assert config.plaintext is False
    assert config.opers == (("boss", "scrypt$14$8$1$c2FsdA==$aGFzaA=="),)


@pytest.mark.parametrize(
    ("text", "message"),
    [("port = 'x'", "wants a whole number"), ("no_such = 1", "unknown setting"), ("port = [", "not valid TOML")],
)
def test_bad_config_file_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        server_config(build_parser().parse_args(["serve", "--config", str(path)]))


def test_bad_config_exits_2_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [*SERVE, "--config", str(tmp_path / "missing.toml")], check=False, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert result.stderr.startswith("trio-chat: cannot read config file")


def test_shutdown_under_load_tells_everyone_and_a_restart_reuses_the_port() -> None:
    """Forty clients talking at full speed when SIGTERM comes: all get ERROR, exit 0, no traceback; the same
    port can be listened on again at once."""
    with server_process("--flood-limit", "0") as (proc, port):
        clients = [_register(port, f"user{i}") for i in range(40)]
        for sock in clients:
            sock.sendall(b"JOIN #busy\r\n")
        for sock in clients[:10]:  # ten talkers keep the server's queues full
            sock.sendall(b"".join(b"PRIVMSG #busy :load %d\r\n" % i for i in range(200)))
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        for sock in clients:
            assert _read_until_closed(sock).endswith(b"ERROR :Server shutting down\r\n")
            sock.close()
        assert proc.stderr is not None
        assert "Traceback" not in proc.stderr.read()
    with server_process("--port", str(port)) as (again, new_port):
        assert new_port == port
        _register(port, "back").close()
        os.kill(again.pid, signal.SIGTERM)
        assert again.wait(timeout=10) == 0
