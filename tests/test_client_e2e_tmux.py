"""End to end in a real terminal: ``trio-chat serve`` and two ``trio-chat join`` clients in tmux.

Keys go in with ``send-keys``; what a person would see comes out with ``capture-pane``.  Only this test polls
with real sleeps (a bounded deadline per step).  Everything started here is ended here, by PID or by our own
private tmux socket.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.tmux import Tmux
from trio_chat.cli import build_parser

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


@functools.cache
def _cli_has_join() -> bool:
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            build_parser().parse_args(["join", "x"])
    except SystemExit:
        return False
    return True


def join_command(nick: str, port: int) -> list[str]:
    """``trio-chat join NICK --port PORT --no-log`` (no logs in the home directory of whoever runs the tests),
    through the CLI once it knows ``join``."""
    if _cli_has_join():
        return [sys.executable, "-m", "trio_chat.cli", "join", nick, "--port", str(port), "--no-log"]
    snippet = (
        "import argparse, sys; from trio_chat.ui.app import add_join_arguments, run_client; "
        "p = argparse.ArgumentParser(); add_join_arguments(p); sys.exit(run_client(p.parse_args(sys.argv[1:])))"
    )
    return [sys.executable, "-c", snippet, nick, "--port", str(port), "--no-log"]


@contextmanager
def chat_server(*options: str) -> Iterator[int]:
    """``trio-chat serve --port 0``: the port it picked is read from its first log line, so no port can race.
    It runs in a scratch directory, where its history database goes."""
    scratch = tempfile.TemporaryDirectory()
    proc = subprocess.Popen(
        [sys.executable, "-m", "trio_chat.cli", "serve", "--port", "0", *options],
        stderr=subprocess.PIPE,
        text=True,
        cwd=scratch.name,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = re.search(r"listening on \S+ port (\d+)", line)
        assert match, f"unexpected first log line: {line!r}"
        yield int(match.group(1))
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()
        scratch.cleanup()


def input_line(screen: str) -> str:
    return screen.rstrip("\n").splitlines()[-1]


def test_two_people_chat_in_two_terminals(tmux: Tmux) -> None:
    with chat_server() as port:
        tmux.start("alice", join_command("alice", port))
        tmux.wait_for("alice", r"You joined #lobby")
        tmux.start("bob", join_command("bob", port), width=80, height=20)
        tmux.wait_for("bob", r"You joined #lobby")
        screen = tmux.wait_for("alice", r"--> bob \(~bob@\S+\) joined #lobby")
        assert re.search(r"\[alice\] 2:#lobby +connected", screen), screen

        # Alice starts typing and completes bob's nick; bob talks meanwhile: her line stays as it was.
        tmux.type("alice", "hi bo")
        tmux.keys("alice", "Tab")
        tmux.wait_for("alice", r"(?m)^\[#lobby\] hi bob\s*$")
        tmux.type("bob", "hello alice, anyone here?")
        tmux.keys("bob", "Enter")
        screen = tmux.wait_for("alice", r"<bob> hello alice, anyone here\?")
        assert input_line(screen).rstrip() == "[#lobby] hi bob", screen
        tmux.type("alice", "welcome!")
        tmux.keys("alice", "Enter")
        screen = tmux.wait_for("bob", r"<alice> hi bob welcome!")
        assert screen.count("hi bob welcome!") == 1
        alice_screen = tmux.wait_for("alice", r"<alice> hi bob welcome!")
        assert alice_screen.count("hi bob welcome!") == 1, "your own line shows once"

        # An action, a private message (a new buffer with activity in the status line), switching to it.
        tmux.type("bob", "/me waves")
        tmux.keys("bob", "Enter")
        tmux.wait_for("alice", r" \* bob waves")
        tmux.type("bob", "/msg alice psst, a secret")
        tmux.keys("bob", "Enter")
        tmux.wait_for("alice", r"Act: 3:bob\(1!\)")
        tmux.keys("alice", "M-3")
        screen = tmux.wait_for("alice", r"\[alice\] 3:bob ")
        assert "<bob> psst, a secret" in screen
        assert "Act:" not in screen

        # Someone joining later sees what was said in the channel as history: in order, once each, above a
        # separator and the line saying they joined.
        tmux.start("carol", join_command("carol", port))
        rows = tmux.wait_for("carol", r"history above").splitlines()
        shown = ["hello alice, anyone here?", "hi bob welcome!", " * bob waves", "history above", "You joined #lobby"]
        where = [next((i for i, row in enumerate(rows) if text in row), -1) for text in shown]
        assert -1 not in where and where == sorted(where), rows
        assert sum("hi bob welcome!" in row for row in rows) == 1, rows
        tmux.keys("carol", "C-d")
        assert tmux.exit_status("carol") == 0

        # /help in a narrow terminal wraps instead of cutting.
        tmux.type("bob", "/help")
        tmux.keys("bob", "Enter")
        screen = tmux.wait_for("bob", r"/whois nick")
        assert all(len(line) <= 80 for line in screen.splitlines())

        tmux.type("alice", "/quit off to lunch")
        tmux.keys("alice", "Enter")
        assert tmux.exit_status("alice") == 0
        tmux.wait_for("bob", r"<-- alice quit \(Quit: off to lunch\)|<-- alice quit \(off to lunch\)")
        tmux.keys("bob", "C-d")
        assert tmux.exit_status("bob") == 0


def test_refused_connection_is_explained_and_ctrl_c_twice_quits(tmux: Tmux) -> None:
    with chat_server() as port:
        pass  # the server is gone again: nothing listens on this port now
    tmux.start("alice", join_command("alice", port))
    screen = tmux.wait_for("alice", r"Connection refused by 127\.0\.0\.1:\d+ \(is the server running\?\)")
    assert re.search(r"reconnecting in \d+ s", screen), screen
    tmux.keys("alice", "C-c")
    tmux.wait_for("alice", r"Press Ctrl-C again to quit")
    tmux.keys("alice", "C-c")
    assert tmux.exit_status("alice") == 0


def test_wrong_password_is_said_plainly_and_exits_1(tmux: Tmux) -> None:
    with chat_server("--password", "sesame") as port:
        tmux.start("alice", [*join_command("alice", port), "--password", "wrong"])
        assert tmux.exit_status("alice") == 1
        screen = tmux.wait_for("alice", r"trio-chat join: Wrong password for 127\.0\.0\.1:\d+")
        assert "Password incorrect" in screen


def message_rows(screen: str) -> list[str]:
    """The message pane (with the nick list): every row but the topic bar, the status line and the input line."""
    return screen.rstrip("\n").splitlines()[1:-2]


def test_scrollback_stays_put_and_formatting_is_drawn(tmux: Tmux) -> None:
    with chat_server("--flood-limit", "0") as port:
        tmux.start("alice", join_command("alice", port), width=80, height=16)
        tmux.wait_for("alice", r"You joined #lobby")
        tmux.start("bob", join_command("bob", port))
        tmux.wait_for("bob", r"You joined #lobby")
        for n in range(30):
            tmux.type("bob", f"line {n}")
            tmux.keys("bob", "Enter")
        tmux.wait_for("alice", r"<bob> line 29")

        tmux.keys("alice", "PageUp")
        screen = tmux.wait_for("alice", r"-- more below \(PageDown\) --")
        before = message_rows(screen)
        assert not any("line 29" in row for row in before)
        # Bob types bold (Ctrl-B) and red (Ctrl-K 4) text; alice, scrolled up, keeps her view.
        tmux.keys("bob", "C-b")
        tmux.type("bob", "bold")
        tmux.keys("bob", "C-b")
        tmux.type("bob", " and ")
        tmux.keys("bob", "C-k")
        tmux.type("bob", "4red")
        tmux.keys("bob", "Enter")
        tmux.wait_for("bob", r"<bob> bold and red")
        screen = tmux.wait_for("alice", r"-- 1 new line below \(PageDown\) --")
        assert message_rows(screen) == before, "the new line did not move the view"

        tmux.keys("alice", "PageDown")
        tmux.keys("alice", "PageDown")
        screen = tmux.wait_for("alice", r"<bob> bold and red")
        assert "below" not in screen
        styled = tmux.run("capture-pane", "-e", "-p", "-t", "alice")
        row = next(r for r in styled.splitlines() if "and" in r and "red" in r and "bob" in r)
        assert re.search(r"\x1b\[[0-9;]*\b1m[^\x1b]*bold", row), repr(row)
        assert re.search(r"\x1b\[[0-9;]*\b(91|31|38;5;9|38;5;1)m[^\x1b]*red", row), repr(row)
        tmux.keys("alice", "C-d")
        tmux.keys("bob", "C-d")
        assert tmux.exit_status("alice") == 0
