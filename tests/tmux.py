"""A private tmux server for end-to-end tests in a real terminal: start programs, type, read the screen."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import time
import uuid

DEADLINE = 15.0
"""Seconds a screen may take to show what a test waits for (real time: real programs in a real terminal)."""


class Tmux:
    """A private tmux server (its own socket), so nothing outside this test is touched."""

    def __init__(self) -> None:
        self.socket = f"trio-chat-test-{uuid.uuid4().hex[:8]}"

    def run(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], check=True, capture_output=True, text=True, timeout=10
        )
        return result.stdout

    def start(self, name: str, command: list[str], width: int = 100, height: int = 24) -> None:
        """Run ``command`` in a new window; the shell around it reports its exit status on the screen.

        (tmux can drop a dying pane's last output, so the shell stays, waiting on ``read``, until we close.)
        """
        env = f"TERM=xterm-256color PYTHONPATH={shlex.quote(os.getcwd())}"
        script = f'env {env} {shlex.join(command)}; echo "[exited $?]"; read _'
        self.run("new-session", "-d", "-s", name, "-x", str(width), "-y", str(height), shlex.join(["sh", "-c", script]))

    def keys(self, name: str, *keys: str) -> None:
        self.run("send-keys", "-t", name, *keys)

    def type(self, name: str, text: str) -> None:
        self.run("send-keys", "-t", name, "-l", text)

    def screen(self, name: str) -> str:
        return self.run("capture-pane", "-p", "-t", name)

    def wait_for(self, name: str, pattern: str) -> str:
        """Poll the screen until ``pattern`` (a regex) shows, within the deadline; return the screen."""
        deadline = time.monotonic() + DEADLINE
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen(name)
            if re.search(pattern, screen):
                return screen
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} never appeared on {name}'s screen:\n{screen}")

    def exit_status(self, name: str) -> int:
        return int(re.findall(r"\[exited (\d+)\]", self.wait_for(name, r"\[exited \d+\]"))[-1])

    def close(self) -> None:
        try:
            pid = int(self.run("display-message", "-p", "#{pid}").strip())
        except (subprocess.CalledProcessError, ValueError):
            return
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], check=False, capture_output=True, timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # only if it is somehow still there: it is the tmux server we started
