"""Conversation logs: where they go, what a line looks like, and the client writing them as it chats."""

from __future__ import annotations

import argparse
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

from tests.test_client_core import has_line, joined, network, wait_until
from trio_chat.client.chatlog import ChatLog, default_log_dir, format_line, safe_file_name
from trio_chat.client.model import Line, LineKind
from trio_chat.ui.app import add_join_arguments, config_from_args

NOW = datetime(2024, 5, 1, 12, 34, 56, tzinfo=UTC)


def test_the_log_directory_follows_xdg_data_home() -> None:
    assert default_log_dir({"XDG_DATA_HOME": "/data", "HOME": "/home/a"}) == Path("/data/trio-chat/logs")
    assert default_log_dir({"HOME": "/home/a"}) == Path("/home/a/.local/share/trio-chat/logs")
    assert default_log_dir({"XDG_DATA_HOME": "relative", "HOME": "/home/a"}) == Path(
        "/home/a/.local/share/trio-chat/logs"
    ), "a relative XDG_DATA_HOME is ignored, as the XDG spec says"
    parser = argparse.ArgumentParser()
    add_join_arguments(parser)
    on = config_from_args(parser.parse_args(["alice"]), environ={"XDG_DATA_HOME": "/x"})
    assert on.log_dir == "/x/trio-chat/logs", "on by default"
    assert config_from_args(parser.parse_args(["alice", "--no-log"]), environ={"XDG_DATA_HOME": "/x"}).log_dir is None


def test_lines_and_file_names() -> None:
    assert format_line(Line(NOW, LineKind.MESSAGE, "\x02hi\x02 there", "bob")) == "2024-05-01 12:34:56 <bob> hi there"
    assert format_line(Line(NOW, LineKind.ACTION, "waves", "bob")) == "2024-05-01 12:34:56  * bob waves"
    assert format_line(Line(NOW, LineKind.NOTICE, "psst", "bob")) == "2024-05-01 12:34:56 -bob- psst"
    assert format_line(Line(NOW, LineKind.JOIN, "bob joined #a", "bob")) == "2024-05-01 12:34:56 --> bob joined #a"
    assert format_line(Line(NOW, LineKind.TOPIC, "Topic: x")) == "2024-05-01 12:34:56 -- Topic: x"
    assert safe_file_name("#Lobby") == "#lobby"
    assert safe_file_name("../etc/passwd") == "___etc_passwd"
    assert safe_file_name("") == "_"


def test_a_failing_disk_turns_logging_off_and_says_so_once(tmp_path: Path) -> None:
    said: list[str] = []
    (tmp_path / "logs").write_text("a file where the directory should be")
    chatlog = ChatLog(tmp_path / "logs", "host", on_failure=said.append)
    chatlog.set_network("net")
    chatlog.write("#a", Line(NOW, LineKind.MESSAGE, "one", "bob"))
    chatlog.write("#a", Line(NOW, LineKind.MESSAGE, "two", "bob"))
    assert len(said) == 1 and said[0].startswith("Logging stopped: cannot write ")
    assert not chatlog.enabled


async def test_the_client_logs_each_buffer_under_the_network_name(tmp_path: Path) -> None:
    async with network() as net:
        bob, bmodel = await net.start_client("bob")
        await wait_until(bmodel, joined(bmodel, "#lobby"))
        bob.submit("said before alice came")
        alice, model = await net.start_client("alice", log_dir=str(tmp_path))
        await wait_until(model, joined(model, "#lobby"))
        await wait_until(model, has_line(model, "#lobby", "history above"))
        bob.submit("hi \x02alice\x02")
        bob.submit("/msg alice psst")
        await wait_until(model, has_line(model, "bob", "psst"))
        alice.submit("/me waves")
        await wait_until(model, has_line(model, "#lobby", "waves"))
        alice.quit()
        bob.quit()
    directory = tmp_path / "triochat"
    assert sorted(p.name for p in directory.iterdir()) == ["#lobby.log", "bob.log", "server.log"]
    lobby = (directory / "#lobby.log").read_text().splitlines()
    assert lobby[0].startswith("--- Log opened ")
    assert [line[20:] for line in lobby[1:]] == [
        "--> You joined #lobby",
        "-- 2 people in #lobby: @bob alice",
        "<bob> hi alice",
        " * alice waves",
    ], "history replayed on joining is not logged again; formatting is stripped"
    assert (directory / "bob.log").read_text().splitlines()[1].endswith(" <bob> psst")
    server = (directory / "server.log").read_text()
    assert "Connected to 127.0.0.1:6667" in server, "what came before the network was named is there too"
    assert stat.S_IMODE(os.stat(directory / "bob.log").st_mode) == 0o600, "conversations are private"
