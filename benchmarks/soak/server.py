"""The server under test: ``trio-chat serve`` as a child process, its configuration, and its stderr log.

It is started on port 0 (the port comes from its first log line), stopped by its PID (SIGTERM, then SIGKILL only
if it does not exit) and its log is read by a thread the whole time, so the server never blocks on a full pipe.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

HOST = "127.0.0.1"
OPER_NAME = "soak"
SERVER_NAME = "soak.trio-chat.local"
REGISTRATION_TIMEOUT = 20
SENDQ_LINES = 512
FLOOD_BURST = 5
FLOOD_RATE = 2.0


def raise_nofile_limit() -> int:
    """Raise RLIMIT_NOFILE to the hard limit (inherited by the server); returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def server_command() -> list[str]:
    """How to start the server: the ``trio-chat`` script next to this Python, or ``python -m trio_chat.cli``."""
    script = Path(sys.executable).parent / "trio-chat"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "trio_chat.cli"]


def write_config(directory: Path, oper_password: str) -> Path:
    """The server's TOML configuration: an operator account, no connection limits, the default flood control of
    5 lines then 2 lines/s, a SendQ of 512 lines, a 20 s registration timeout, history in ``directory``."""
    from trio_chat.server.passwords import hash_password

    path = directory / "soak.toml"
    path.write_text(
        "\n".join(
            [
                "[server]",
                f'host = "{HOST}"',
                f'server_name = "{SERVER_NAME}"',
                "max_clients = 0",
                "max_per_ip = 0",
                f"flood_burst = {FLOOD_BURST}",
                f"flood_limit = {FLOOD_RATE}",
                f"sendq = {SENDQ_LINES}",
                f"registration_timeout = {REGISTRATION_TIMEOUT}",
                f'db = "{directory / "soak.db"}"',
                'log_level = "INFO"',
                "",
                "[opers]",
                f'{OPER_NAME} = "{hash_password(oper_password)}"',
                "",
            ]
        ),
        encoding="utf-8",
    )
    return path


class ServerProcess:
    """``trio-chat serve`` as a child process; its stderr is drained by a thread so it never blocks."""

    def __init__(self, config: Path, command: list[str]) -> None:
        self.config = config
        self.command = command
        self.proc: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.listening = threading.Event()
        self.log_lines = 0
        self.tracebacks = 0
        self.warnings = 0
        self.tail: list[str] = []
        self.log_counts: Counter[str] = Counter()
        """Disconnection reasons in the server's log."""
        self.exit_code: int | None = None
        self.stop_seconds: float | None = None
        self._thread: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self, timeout: float = 20.0) -> int:
        """Start the server on port 0; returns the port it listens on."""
        cmd = [*self.command, "serve", "--port", "0", "--config", str(self.config)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._thread = threading.Thread(target=self._drain, name="server-stderr", daemon=True)
        self._thread.start()
        if not self.listening.wait(timeout) or self.port is None:
            raise RuntimeError(f"the server did not say where it listens within {timeout:.0f} s: {self.tail[-5:]}")
        return self.port

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            self.log_lines += 1
            self.tail = [*self.tail[-40:], line]
            if "Traceback" in line or "internal error" in line:
                self.tracebacks += 1
            if " WARNING " in line or " ERROR " in line or " CRITICAL " in line:
                self.warnings += 1
            if "] disconnected (" in line and "): " in line:
                reason = line.split("): ", 1)[1]
                self.log_counts["Quit: ..." if reason.startswith("Quit:") else reason] += 1
            if self.port is None and "listening on" in line and " port " in line:
                with contextlib.suppress(ValueError):
                    self.port = int(line.rsplit(" port ", 1)[1].split()[0])
                    self.listening.set()
        self.listening.set()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM to our child's PID, wait; SIGKILL only if it does not exit."""
        proc = self.proc
        if proc is None:
            return
        started = time.monotonic()
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(5)
        self.stop_seconds = time.monotonic() - started
        self.exit_code = proc.returncode
        if self._thread is not None:
            self._thread.join(5)
