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


def _next_line_with(sock: socket.socket, marker: bytes) -> bytes:
    """The first whole line (without its CRLF) from ``sock`` that contains ``marker``."""
    data = b""
    while True:
        lines = data.split(b"\r\n")
        for line in lines[:-1]:
            if marker in line:
                return line
        data = lines[-1]
        chunk = sock.recv(65536)
        assert chunk, f"the connection closed before a line with {marker!r}"
        data += chunk


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
        assert re.fullmatch(rb":alice!\S+ PRIVMSG bob :the-secret-body", _next_line_with(bob, b" PRIVMSG "))
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


def _refused(args: list[str], cwd: Path) -> str:
    """Run ``trio-chat serve ARGS``, which must refuse its settings: exit 2, one line on stderr, no traceback."""
    result = subprocess.run([*SERVE, *args], check=False, capture_output=True, text=True, timeout=30, cwd=cwd)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert {p.name for p in cwd.iterdir()} <= {"chat.toml"}  # refused before any database is created
    return result.stderr.strip()


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--port", "70000"], "trio-chat: port must be from 1 to 65535 (or 0 for any free port), not 70000"),
        (["--port", "-1"], "trio-chat: port must be from 1 to 65535 (or 0 for any free port), not -1"),
        (["--tls-port", "65536"], "trio-chat: tls_port must be from 1 to 65535 (or 0 for any free port), not 65536"),
        (
            ["--max-per-ip-exempt", "127.0.0.0/8,10.0.0.0/33"],
            "trio-chat: max_per_ip_exempt: '10.0.0.0/33' is not an address range (CIDR, like 10.0.0.0/8 or fd00::/8)",
        ),
    ],
)
def test_bad_option_values_are_one_line_and_exit_2(tmp_path: Path, args: list[str], line: str) -> None:
    assert _refused(args, tmp_path) == line


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("port = 70000", "port must be from 1 to 65535 (or 0 for any free port), not 70000"),
        ("[server]\ntls_port = -5", "tls_port must be from 1 to 65535 (or 0 for any free port), not -5"),
        ("flood_limt = 0", "unknown setting 'flood_limt' (did you mean 'flood_limit'?)"),
        ("sendqq = 10", "unknown setting 'sendqq' (did you mean 'sendq'?)"),
        ("max_per_ip_exempt = ['::1/200']", "max_per_ip_exempt: '::1/200' is not an address range"),
    ],
)
def test_bad_config_file_values_name_the_file_and_exit_2(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "chat.toml").write_text(text + "\n")
    assert _refused(["--config", "chat.toml"], tmp_path).startswith(f"trio-chat: config file chat.toml: {message}")


def test_new_config_keys_and_old_aliases_start_the_server(tmp_path: Path) -> None:
    config = tmp_path / "new.toml"
    config.write_text("flood_limit = 0\nsendq = 100\nmax_per_ip_exempt = ['127.0.0.0/8']\n")
    with server_process("--config", str(config), "--db", ":memory:") as (proc, port):
        _register(port, "alice").close()
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    config.write_text("flood_rate = 0\nsendq_lines = 100\n")
    with server_process("--config", str(config), "--db", ":memory:") as (proc, port):
        _register(port, "bob").close()
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
