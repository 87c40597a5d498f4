"""The prompt_toolkit UI with a pipe for a keyboard and a dummy screen; assertions are on the model and buffers.

These tests are plain (synchronous) test functions that run their own asyncio loop, because prompt_toolkit is
asyncio-native; the full-stack ones run the client core and the real server as trio's guest on that loop,
exactly as ``trio-chat join`` does.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from datetime import UTC, datetime

import pytest
import trio
import trio.testing
from prompt_toolkit.application import create_app_session
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.input.base import PipeInput
from prompt_toolkit.output import DummyOutput

from tests.helpers import FAST, texts
from tests.ircclient import IRCClient
from trio_chat.client.core import ChatClient, ClientConfig
from trio_chat.client.model import HISTORY_BEGINNING, ChatModel, ConnectionState, Line, LineKind
from trio_chat.server.app import Server
from trio_chat.ui.app import (
    UsageError,
    add_join_arguments,
    config_from_args,
    exit_notes,
    run_client,
    run_with_guest,
)
from trio_chat.ui.render import line_fragments, plain, wrap_fragments
from trio_chat.ui.view import ChatUI, MessagePane, status_fragments

NOW = datetime(2024, 5, 1, 12, 34, tzinfo=UTC)
ALT = "\x1b"
CTRL_N = "\x0e"
CTRL_P = "\x10"
CTRL_C = "\x03"
CTRL_D = "\x04"
TAB = "\t"
UP = "\x1b[A"
DOWN = "\x1b[B"
PAGE_UP = "\x1b[5~"
PAGE_DOWN = "\x1b[6~"
HINT = "Press Ctrl-C again to quit (or Ctrl-D, or /quit)."


class FakeClient:
    """Records what the UI hands to the core."""

    def __init__(self) -> None:
        self.submitted: list[str] = []
        self.quits: list[str | None] = []
        self.fetches: list[str] = []

    def submit(self, text: str) -> None:
        self.submitted.append(text)

    def quit(self, reason: str | None = None) -> None:
        self.quits.append(reason)

    def fetch_older(self, name: str) -> bool:
        self.fetches.append(name)
        return True


@contextmanager
def pipe_session() -> Iterator[PipeInput]:
    with create_pipe_input() as pipe, create_app_session(input=pipe, output=DummyOutput()):
        yield pipe


async def until(predicate: Callable[[], bool], what: str = "condition") -> None:
    """Yield to the loop until ``predicate()`` holds (no sleeping: key input arrives through the selector)."""
    try:
        async with asyncio.timeout(10):
            # Keys arrive through the loop's selector, not as an event we could wait on: yield until handled.
            while not predicate():  # noqa: ASYNC110
                await asyncio.sleep(0)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


@asynccontextmanager
async def running(ui: ChatUI) -> AsyncIterator[None]:
    task = asyncio.ensure_future(ui.application.run_async())
    await until(lambda: ui.application.is_running, "the application to start")
    try:
        yield
    finally:
        ui.exit()
        await task


def chat_model() -> ChatModel:
    model = ChatModel("alice")
    lobby = model.open("#lobby", switch=True)
    lobby.joined = True
    for nick in ("alice", "bob", "bobby", "carol"):
        lobby.add_member(nick)
    model.open("#dev")
    model.open("dave")
    return model


def test_typing_a_line_hands_it_to_the_client_and_clears_the_input() -> None:
    async def main() -> None:
        model = chat_model()
        client = FakeClient()
        with pipe_session() as pipe:
            ui = ChatUI(model, client)
            async with running(ui):
                pipe.send_text("hello world\r")
                await until(lambda: client.submitted == ["hello world"], "the line to be submitted")
                assert ui.input_buffer.text == ""
                assert model.history.entries == ["hello world"]

    asyncio.run(main())


def test_incoming_lines_never_touch_a_half_typed_line() -> None:
    async def main() -> None:
        model = chat_model()
        client = FakeClient()
        with pipe_session() as pipe:
            ui = ChatUI(model, client)
            async with running(ui):
                pipe.send_text("I was just typing th")
                await until(lambda: ui.input_buffer.text == "I was just typing th", "typing")
                for i in range(200):
                    model.add(model.current, Line(NOW, LineKind.MESSAGE, f"interruption {i}", nick="bob"))
                    model.add(model.find("#dev"), Line(NOW, LineKind.MESSAGE, "elsewhere", nick="eve"))  # type: ignore[arg-type]
                await asyncio.sleep(0)
                assert ui.input_buffer.text == "I was just typing th"
                assert ui.input_buffer.cursor_position == len("I was just typing th")
                pipe.send_text("is\r")
                await until(lambda: client.submitted == ["I was just typing this"], "the completed line")

    asyncio.run(main())


def test_buffer_switching_keys() -> None:
    async def main() -> None:
        model = chat_model()
        model.add(model.find("#dev"), Line(NOW, LineKind.MESSAGE, "unread", nick="eve"))  # type: ignore[arg-type]
        assert model.find("#dev").unread == 1  # type: ignore[union-attr]
        client = FakeClient()
        with pipe_session() as pipe:
            ui = ChatUI(model, client)
            async with running(ui):
                pipe.send_text(ALT + "3")
                await until(lambda: model.current.name == "#dev", "Alt-3")
                assert model.current.unread == 0
                pipe.send_text(CTRL_N)
                await until(lambda: model.current.name == "dave", "Ctrl-N")
                pipe.send_text(CTRL_N)
                await until(lambda: model.current.name == "server", "Ctrl-N wraps around")
                pipe.send_text(CTRL_P)
                await until(lambda: model.current.name == "dave", "Ctrl-P")
                pipe.send_text(ALT + "1")
                await until(lambda: model.current.name == "server", "Alt-1")

    asyncio.run(main())


def test_tab_completes_nicks_and_commands_and_cycles() -> None:
    async def main() -> None:
        model = chat_model()
        model.add(model.current, Line(NOW, LineKind.MESSAGE, "hi", nick="bobby"))
        client = FakeClient()
        with pipe_session() as pipe:
            ui = ChatUI(model, client)
            async with running(ui):
                pipe.send_text("bo" + TAB)
                await until(lambda: ui.input_buffer.text == "bobby: ", "nick completion")
                pipe.send_text(TAB)
                await until(lambda: ui.input_buffer.text == "bob: ", "the next candidate")
                pipe.send_text("see you, ca" + TAB)
                await until(lambda: ui.input_buffer.text == "bob: see you, carol ", "mid-line completion")
                pipe.send_text(CTRL_C)
                await until(lambda: ui.input_buffer.text == "", "Ctrl-C clears the line")
                pipe.send_text("/wh" + TAB)
                await until(lambda: ui.input_buffer.text == "/who ", "command completion")
                pipe.send_text(TAB)
                await until(lambda: ui.input_buffer.text == "/whois ", "the next command")

    asyncio.run(main())


def test_history_scrolling_and_nicklist_keys() -> None:
    async def main() -> None:
        model = chat_model()
        for i in range(100):
            model.add(model.current, Line(NOW, LineKind.MESSAGE, f"line {i}", nick="bob"))
        client = FakeClient()
        with pipe_session() as pipe:
            ui = ChatUI(model, client)
            async with running(ui):
                pipe.send_text("first\r")
                pipe.send_text("second\r")
                await until(lambda: len(client.submitted) == 2, "two lines")
                pipe.send_text("draft" + UP)
                await until(lambda: ui.input_buffer.text == "second", "Up")
                pipe.send_text(UP)
                await until(lambda: ui.input_buffer.text == "first", "Up again")
                pipe.send_text(DOWN + DOWN)
                await until(lambda: ui.input_buffer.text == "draft", "Down back to the draft")
                pipe.send_text(PAGE_UP)
                await until(lambda: model.current.scroll > 0, "PageUp")
                pipe.send_text(PAGE_DOWN)
                await until(lambda: model.current.scroll == 0, "PageDown")
                assert ui.show_nicklist
                pipe.send_text("\x1bOQ")  # F2
                await until(lambda: not ui.show_nicklist, "F2")

    asyncio.run(main())


def visible(ui: ChatUI) -> list[str]:
    """The message pane's rows as the last frame drew them."""
    content = ui.pane.create_content(ui.pane.width, ui.pane.height)
    return [plain(content.get_line(i)) for i in range(content.line_count)]


def test_page_up_past_the_top_asks_for_older_history_and_keeps_the_view() -> None:
    async def main() -> None:
        model = chat_model()
        lobby = model.current
        for i in range(100):
            model.add(lobby, Line(NOW, LineKind.MESSAGE, f"line {i}", nick="bob"))
        client = FakeClient()
        with pipe_session() as pipe:
            ui = ChatUI(model, client)
            async with running(ui):
                await until(lambda: ui.pane.height > 0, "the first frame")
                pipe.send_text(PAGE_UP)
                await until(lambda: lobby.scroll > 0, "PageUp")
                assert client.fetches == [], "the top is not reached yet: nothing asked"
                while not client.fetches:
                    pipe.send_text(PAGE_UP)
                    await until(lambda: bool(client.fetches) or lobby.scroll >= 100 - ui.pane.height, "PageUp")
                assert client.fetches == ["#lobby"]
                assert lobby.scroll == 100 - ui.pane.height, "the view stops at the oldest line"
                before = visible(ui)
                assert before[0].endswith("<bob> line 0")
                older = [
                    Line(NOW, LineKind.MESSAGE, f"old {i}", nick="carol", history=True, msgid=f"o{i}")
                    for i in range(60)
                ]
                model.add_older(lobby, older)
                assert visible(ui) == before, "what was on screen stays on screen"
                pipe.send_text(PAGE_UP)
                await until(lambda: any("old 59" in row for row in visible(ui)), "the older page above")
                assert len(client.fetches) == 1, "more of the page is above: nothing asked yet"
                model.switch(0)
                pipe.send_text(PAGE_UP)
                await until(lambda: model.server.scroll == 0 and len(model.server.lines) < ui.pane.height, "PageUp")
                assert client.fetches == ["#lobby"], "the server buffer has no history to ask for"

    asyncio.run(main())


def test_ctrl_d_and_double_ctrl_c_quit() -> None:
    async def main() -> None:
        client = FakeClient()
        clock = [100.0]
        with pipe_session() as pipe:
            ui = ChatUI(chat_model(), client, clock=lambda: clock[0])
            async with running(ui):
                pipe.send_text(CTRL_C)
                await until(lambda: texts(ui.model)[-1:] == [HINT], "the hint")
                clock[0] += 10
                pipe.send_text(CTRL_C)
                await until(lambda: len(texts(ui.model)) == 2, "a second hint after a pause")
                assert client.quits == []
                pipe.send_text(CTRL_C)
                await until(lambda: client.quits == [None], "quit on the second Ctrl-C")
                pipe.send_text(CTRL_D)
                await until(lambda: client.quits == [None, None], "quit on Ctrl-D")

    asyncio.run(main())


def test_message_pane_wraps_at_spaces_and_aligns_to_the_bottom() -> None:
    model = ChatModel("alice")
    model.add(model.server, Line(NOW, LineKind.MESSAGE, "word " * 6 + "x" * 30, nick="bob"))
    pane = MessagePane(model)
    content = pane.create_content(width=20, height=8)
    rows = [plain(content.get_line(i)) for i in range(content.line_count)]
    assert rows == [
        "",
        "",
        "12:34 <bob> word ",
        "      word word word",
        "      word word ",
        "      xxxxxxxxxxxxxx",
        "      xxxxxxxxxxxxxx",
        "      xx",
    ], "few lines sit at the bottom, like a chat; words are not cut; continuation rows are indented"
    model.server.scroll = 1000
    content = pane.create_content(width=20, height=2)
    rows = [plain(content.get_line(i)) for i in range(content.line_count)]
    assert rows == ["12:34 <bob> word ", "      word word word"], "scrolling stops at the top"
    assert model.server.scroll == 1000, "drawing does not change the model"


def _seen(model: ChatModel) -> list[object]:
    """Everything about the model that drawing could disturb."""
    buffers = [
        (b.name, b.unread, b.highlights, b.scroll, b.held, b.new_below, list(b.lines), b.topic, b.nicks())
        for b in model.buffers
    ]
    return [buffers, model.current_index, model.nick, model.state, model.lag]


def test_drawing_the_screen_leaves_the_model_as_it_is() -> None:
    async def main() -> None:
        model = chat_model()
        lobby, dev = model.current, model.find("#dev")
        assert dev is not None
        for i in range(60):
            model.add(lobby, Line(NOW, LineKind.MESSAGE, f"line {i} " * 8, nick="bob"))
        model.add(dev, Line(NOW, LineKind.MESSAGE, "alice: look", nick="carol", highlight=True))
        lobby.scroll, lobby.held, lobby.new_below = 1000, 3, 3  # scrolled past the top, lines came meanwhile
        before = _seen(model)
        changes: list[None] = []
        model.add_listener(lambda: changes.append(None))
        with pipe_session():
            ui = ChatUI(model, FakeClient())
            async with running(ui):
                for _ in range(3):
                    drawn = ui.application.render_counter

                    def redrawn(drawn: int = drawn) -> bool:
                        return ui.application.render_counter > drawn

                    ui.application.invalidate()
                    await until(redrawn, "a redraw")
        assert _seen(model) == before, "unread counts, the scroll position and the lines stay as they were"
        assert changes == [], "drawing does not announce a change (which would draw again)"
        assert (dev.unread, dev.highlights) == (1, 1)

    asyncio.run(main())


def test_scrolled_up_the_view_stays_put_and_the_status_line_counts_new_lines() -> None:
    async def main() -> None:
        model = chat_model()
        lobby = model.current
        for i in range(100):
            model.add(lobby, Line(NOW, LineKind.MESSAGE, f"line {i}", nick="bob"))
        with pipe_session() as pipe:
            ui = ChatUI(model, FakeClient())
            async with running(ui):
                await until(lambda: ui.pane.height > 0, "the first frame")
                pipe.send_text(PAGE_UP)
                await until(lambda: lobby.scroll > 0, "PageUp")
                before = visible(ui)
                assert "line 99" not in " ".join(before)
                model.add(lobby, Line(NOW, LineKind.MESSAGE, "a long line " * 20, nick="carol"))
                model.add(lobby, Line(NOW, LineKind.JOIN, "dave joined #lobby", nick="dave"))
                assert visible(ui) == before, "new lines (one of them wrapped) do not move the view"
                status = "".join(text for _style, text, *_ in status_fragments(model))
                assert "-- 2 new lines below (PageDown) --" in status
                pipe.send_text(PAGE_UP)
                await until(lambda: visible(ui) != before, "PageUp again")
                assert lobby.new_below == 2, "still below"
                for _ in range(100):
                    if not lobby.scrolled:
                        break
                    was = lobby.scroll
                    pipe.send_text(PAGE_DOWN)
                    await until(lambda was=was: lobby.scroll < was, "PageDown")  # type: ignore[misc]
                await until(lambda: visible(ui)[-1].endswith("dave joined #lobby"), "the bottom")
                assert lobby.new_below == 0
                assert "below" not in "".join(text for _style, text, *_ in status_fragments(model))
                model.add(lobby, Line(NOW, LineKind.MESSAGE, "followed", nick="bob"))
                assert visible(ui)[-1].endswith("<bob> followed"), "at the bottom, new lines show"

    asyncio.run(main())


def test_timestamp_format_and_nicklist_width_settings_are_drawn() -> None:
    model = ChatModel("alice")
    model.settings.timestamp_format = "[%H:%M:%S]"
    model.add(model.server, Line(NOW, LineKind.MESSAGE, "word " * 6, nick="bob"))
    pane = MessagePane(model)
    content = pane.create_content(width=30, height=2)
    rows = [plain(content.get_line(i)) for i in range(content.line_count)]
    assert rows == ["[12:34:00] <bob> word word ", "           word word word word"], "continued under the text"
    ui = ChatUI(chat_model(), FakeClient())
    ui.model.settings.nicklist_width = 10
    lobby = ui.model.current
    lobby.add_member("averyveryverylongnick")
    assert all(len(row) <= 10 for row in plain(ui._nicklist_fragments()).splitlines())


def test_line_rendering_by_kind() -> None:
    text = {kind: plain(line_fragments(Line(NOW, kind, "x", nick="bob"))) for kind in LineKind}
    assert text[LineKind.MESSAGE] == "12:34 <bob> x"
    assert text[LineKind.ACTION] == "12:34  * bob x"
    assert text[LineKind.NOTICE] == "12:34 -bob- x"
    assert text[LineKind.JOIN] == "12:34 --> x"
    assert text[LineKind.PART] == text[LineKind.QUIT] == "12:34 <-- x"
    assert text[LineKind.ERROR] == "12:34 !!! x"
    assert text[LineKind.SEPARATOR] == text[LineKind.DAY] == "      ─── x ───"
    wide = wrap_fragments([("", "日本語日本語")], 7, indent=0)
    assert [plain(r) for r in wide] == ["日本語", "日本語"]


def test_history_is_drawn_dimmed_with_its_own_time() -> None:
    then = datetime(2023, 11, 14, 22, 13, tzinfo=UTC)
    live = Line(NOW, LineKind.MESSAGE, "now", nick="bob")
    old = Line(then, LineKind.MESSAGE, "then", nick="bob", history=True, msgid="m1")
    assert plain(line_fragments(old)) == "22:13 <bob> then"
    assert all("class:history" in style for style, *_ in line_fragments(old))
    assert not any("class:history" in style for style, *_ in line_fragments(live))
    action = Line(then, LineKind.ACTION, "waves", nick="alice", own=True, history=True)
    assert plain(line_fragments(action)) == "22:13  * alice waves"


def test_status_line_shows_state_lag_and_activity() -> None:
    model = chat_model()
    model.set_state(ConnectionState.CONNECTED)
    model.lag = 0.25
    model.add(model.find("dave"), Line(NOW, LineKind.MESSAGE, "psst", nick="dave", highlight=True))  # type: ignore[arg-type]
    status = "".join(t for _s, t, *_ in status_fragments(model))
    assert "[alice]" in status and "2:#lobby" in status and "connected" in status and "lag 0.25s" in status
    assert "Act: 4:dave(1!)" in status
    model.set_state(ConnectionState.WAITING, "in 4 s")
    assert "reconnecting in 4 s" in "".join(t for _s, t, *_ in status_fragments(model))
    model.current.history_loading = True
    assert "loading older messages" in "".join(t for _s, t, *_ in status_fragments(model))


def test_join_arguments_and_config() -> None:
    parser = argparse.ArgumentParser()
    add_join_arguments(parser)
    config = config_from_args(parser.parse_args(["alice", "--channel", "dev", "--channel", "#a,#b", "--tls"]))
    assert config.channels == ("#dev", "#a", "#b")
    assert config.port == 6697 and config.tls
    default = config_from_args(parser.parse_args(["bob"]))
    assert (default.host, default.port, default.channels, default.tls) == ("127.0.0.1", 6667, ("#lobby",), False)
    with pytest.raises(UsageError):
        config_from_args(parser.parse_args(["9lives"]))


def test_tls_insecure_and_fatal_errors_are_said_on_the_terminal_after_exit() -> None:
    parser = argparse.ArgumentParser()
    add_join_arguments(parser)
    insecure = config_from_args(parser.parse_args(["alice", "--tls-insecure", "--host", "irc.example"]))
    notes = exit_notes(insecure, "Wrong password")
    assert len(notes) == 2 and notes[1] == "Wrong password"
    assert notes[0].startswith("Warning: --tls-insecure: the certificate of irc.example:6697 is not checked")
    assert exit_notes(config_from_args(parser.parse_args(["alice", "--tls"])), None) == []


def test_no_terminal_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_join_arguments(parser)
    assert run_client(parser.parse_args(["alice"])) == 2  # pytest captures stdout: it is not a terminal
    assert "not a terminal" in capsys.readouterr().err


# -- the whole stack: keys -> UI -> trio core (guest) -> real server -> another user -------------------------------


def test_full_stack_chat_and_quit_through_the_ui() -> None:
    server = Server(FAST, clock=lambda: 1_700_000_000.0)
    model = ChatModel("alice")
    seen_by_bob: list[str] = []
    bob_ready = trio.Event()
    nursery_box: list[trio.Nursery] = []

    async def open_stream() -> trio.abc.Stream:
        client_end, server_end = trio.testing.memory_stream_pair()
        nursery_box[0].start_soon(server.handle_connection, server_end)
        return client_end

    client = ChatClient(ClientConfig("alice"), model, open_stream=open_stream)

    async def bob() -> None:
        client_end, server_end = trio.testing.memory_stream_pair()
        nursery_box[0].start_soon(server.handle_connection, server_end)
        irc = IRCClient(client_end, "bob")
        await irc.register("bob")
        await irc.send("JOIN #lobby")
        await irc.expect(" 366 ")
        bob_ready.set()
        while True:
            msg = await irc.next_message()
            seen_by_bob.append(msg.to_line())
            if msg.command == "PRIVMSG" and msg.params[1] == "ping":
                await irc.send("PRIVMSG #lobby :pong from bob")

    async def trio_main() -> None:
        async with trio.open_nursery() as nursery:
            nursery_box.append(nursery)
            await nursery.start(server.run_services)
            nursery.start_soon(bob)
            await bob_ready.wait()
            await client.run()
            nursery.cancel_scope.cancel()

    async def main() -> int:
        with pipe_session() as pipe:
            ui = ChatUI(model, client)
            session = asyncio.ensure_future(run_with_guest(ui, trio_main, client.cancel))
            lobby_joined = lambda: model.find("#lobby") is not None and model.find("#lobby").joined  # type: ignore[union-attr]  # noqa: E731
            await until(lobby_joined, "joining #lobby")
            pipe.send_text("hal")
            await until(lambda: ui.input_buffer.text == "hal", "typing")
            pipe.send_text("f a line" + "\x1b[D" * 7 + ALT + "1")
            await until(lambda: model.current is model.server, "switching while typing")
            pipe.send_text(ALT + "2" + "\x1b[F\r")  # End, Enter
            await until(lambda: any("half a line" in s for s in seen_by_bob), "bob to get the line")
            pipe.send_text("ping\r")
            await until(lambda: any(line.text == "pong from bob" for line in model.current.lines), "bob's answer")
            mine = [line.text for line in model.current.lines if line.own and line.kind is LineKind.MESSAGE]
            assert mine == ["half a line", "ping"], "own lines appear once each (echo-message)"
            pipe.send_text("/quit see you\r")
            return await session

    assert asyncio.run(main()) == 0
    assert any("QUIT :Quit: see you" in s or "QUIT :see you" in s for s in seen_by_bob), seen_by_bob[-3:]
    assert model.state is ConnectionState.DISCONNECTED


def test_full_stack_page_up_brings_older_history_from_the_server() -> None:
    server = Server(replace(FAST, history_replay=5, chathistory_limit=20), clock=lambda: 1_700_000_000.0)
    model = ChatModel("alice")
    nursery_box: list[trio.Nursery] = []
    said = [f"message {i}" for i in range(60)]

    async def open_stream() -> trio.abc.Stream:
        client_end, server_end = trio.testing.memory_stream_pair()
        nursery_box[0].start_soon(server.handle_connection, server_end)
        return client_end

    client = ChatClient(ClientConfig("alice"), model, open_stream=open_stream)

    async def trio_main() -> None:
        async with trio.open_nursery() as nursery:
            nursery_box.append(nursery)
            await nursery.start(server.run_services)
            client_end, server_end = trio.testing.memory_stream_pair()
            nursery.start_soon(server.handle_connection, server_end)
            bob = IRCClient(client_end, "bob")
            await bob.register("bob", caps="echo-message")
            await bob.send("JOIN #lobby")
            await bob.expect(" 366 ")
            for text in said:
                await bob.send(f"PRIVMSG #lobby :{text}")
                await bob.expect(f"PRIVMSG #lobby :{text}$")
            await client.run()
            nursery.cancel_scope.cancel()

    async def main() -> int:
        with pipe_session() as pipe:
            ui = ChatUI(model, client)
            session = asyncio.ensure_future(run_with_guest(ui, trio_main, client.cancel))
            await until(lambda: client.can_fetch_older("#lobby"), "joining #lobby")
            lobby = model.current
            assert [line.text for line in lobby.lines if line.history and line.msgid] == said[-5:]
            for _ in range(40):
                if lobby.history_complete:
                    break
                seen = (lobby.scroll, len(lobby.lines))
                pipe.send_text(PAGE_UP)
                moved = lambda seen=seen: (lobby.scroll, len(lobby.lines)) != seen or lobby.history_loading  # noqa: E731
                await until(moved, "PageUp")
                await until(lambda: not lobby.history_loading, "older history")
            assert lobby.history_complete
            assert [line.text for line in lobby.lines if line.msgid] == said, "all of it, once, in order"
            assert lobby.lines[0].text == HISTORY_BEGINNING
            top = f"─── {HISTORY_BEGINNING} ───"
            assert top not in [row.strip() for row in visible(ui)], "the view stays where it was"
            pipe.send_text(PAGE_UP)
            await until(lambda: visible(ui)[0].strip() == top, "PageUp to show the beginning")
            assert lobby.unread == 0
            pipe.send_text("/quit\r")
            return await session

    assert asyncio.run(main()) == 0
