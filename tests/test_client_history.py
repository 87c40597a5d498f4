"""The client and the server's history: replay on joining shown as history, older pages fetched by scrolling up.

Against the real server in-process (``network()`` of test_client_core.py), on MockClock; the server's wall clock
(server-time) is a list the tests move forward.  What is asserted is what the person would see in the model.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import trio
import trio.testing

from tests.helpers import texts
from tests.ircclient import IRCClient
from tests.test_client_core import FIXED_NOW, Net, has_line, joined, network, scripted, wait_until
from trio_chat.client.core import ChatClient, ClientConfig
from trio_chat.client.model import (
    HISTORY_BEGINNING,
    HISTORY_SEPARATOR,
    Buffer,
    ChatModel,
    ConnectionState,
    Line,
    LineKind,
    day_line,
)
from trio_chat.protocol import LineBuffer, Message, parse_line
from trio_chat.ui.describe import line_text

START = 1_700_000_000.0
"""2023-11-14T22:13:20Z, the server's clock unless a test moves it."""
WHEN = datetime.fromtimestamp(START, UTC)


class Tap(trio.abc.Stream):
    """A client's end of the connection that keeps every line the client sends (what the server was asked)."""

    def __init__(self, inner: trio.abc.Stream, sent: list[Message]) -> None:
        self.inner = inner
        self.sent = sent
        self._lines = LineBuffer(1 << 16)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self.sent.extend(parse_line(line) for line in self._lines.feed(bytes(data)))
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self.inner.aclose()


def start_tapped(net: Net, nick: str, sent: list[Message], **config: Any) -> tuple[ChatClient, ChatModel]:
    opener = net.opener()

    async def open_stream() -> trio.abc.Stream:
        return Tap(await opener(), sent)

    model = ChatModel(nick)
    client = ChatClient(ClientConfig(nick, **config), model, open_stream=open_stream, now=lambda: FIXED_NOW)
    net.nursery.start_soon(client.run)
    return client, model


async def say(bob: IRCClient, channel: str, *texts: str, clock: list[float] | None = None) -> list[Message]:
    """``bob`` (with echo-message) says each text, the server's clock a minute on for each when given one;
    returns the echoes, which come once the message is stored."""
    echoes = []
    for text in texts:
        if clock is not None:
            clock[0] += 60
        await bob.send(f"PRIVMSG {channel} :{text}")
        echoes.append(await bob.expect(rf" PRIVMSG {re.escape(channel)} :?{re.escape(text)}$"))
    return echoes


def chat(buf: Buffer) -> list[Line]:
    return [line for line in buf.lines if line.kind in (LineKind.MESSAGE, LineKind.ACTION, LineKind.NOTICE)]


def has_separator(model: ChatModel, channel: str) -> Callable[[], bool]:
    return has_line(model, channel, HISTORY_SEPARATOR)


def requests(sent: list[Message]) -> list[tuple[str, ...]]:
    return [m.params for m in sent if m.command == "CHATHISTORY"]


async def test_joining_shows_the_latest_messages_as_history_above_the_join() -> None:
    async with network() as net:
        bob = await net.raw_client("bob", caps="echo-message")
        await bob.send("JOIN #room")
        await bob.expect(" 366 ")
        await say(bob, "#room", "one", "alice: are you there?", "\x01ACTION waves\x01")
        await bob.send("NOTICE #room :a notice")
        await bob.sync()
        client, model = await net.start_client("alice", channels=("#lobby", "#room"))
        await wait_until(model, has_separator(model, "#room"))
        await wait_until(model, joined(model, "#lobby"))
        room = model.find("#room")
        assert room is not None and model.current.name == "#lobby"
        shown = [(line.kind, line_text(line)) for line in room.lines]
        assert shown == [
            (LineKind.DAY, day_line(WHEN.astimezone()).text),
            (LineKind.MESSAGE, "one"),
            (LineKind.MESSAGE, "alice: are you there?"),
            (LineKind.ACTION, "waves"),
            (LineKind.NOTICE, "a notice"),
            (LineKind.SEPARATOR, HISTORY_SEPARATOR),
            (LineKind.JOIN, "You joined #room"),
            (LineKind.INFO, "2 people in #room: @bob alice"),
        ], "history, the separator, then the join: in the order it happened"
        history = chat(room)
        assert all(line.history and line.msgid and not line.own and line.nick == "bob" for line in history)
        assert {line.time for line in history} == {WHEN}, "each at the time it was said (server-time)"
        assert not any(line.highlight for line in history)
        assert (room.unread, room.highlights) == (0, 0), "history is not news"
        assert model.activity() == []

        await say(bob, "#room", "alice: now live")
        await wait_until(model, has_line(model, "#room", "now live"))
        live = room.lines[-1]
        assert not live.history and live.highlight and live.msgid
        assert (room.unread, room.highlights) == (1, 1)
        client.quit()


async def test_own_replayed_lines_are_history_and_a_new_line_shows_once() -> None:
    async with network() as net:
        bob = await net.raw_client("bob")
        await bob.send("JOIN #lobby")
        await bob.expect(" 366 ")
        first, model = await net.start_client("alice")
        await wait_until(model, joined(model, "#lobby"))
        first.submit("from my last visit")
        await bob.expect("from my last visit")
        first.quit()
        await bob.expect(" QUIT ")

        client, model = await net.start_client("alice")
        await wait_until(model, has_separator(model, "#lobby"))
        client.submit("back again")
        await wait_until(model, has_line(model, "#lobby", "back again"))
        await bob.sync()
        mine = [(line.text, line.own, line.history) for line in chat(model.current)]
        assert mine == [("from my last visit", True, True), ("back again", True, False)], "each once"
        assert texts(model).index("from my last visit") < texts(model).index("You joined #lobby")
        assert texts(model)[-1] == "back again"
        client.quit()


async def test_a_rejoin_after_a_drop_adds_only_what_was_missed(autojump_clock: trio.testing.MockClock) -> None:
    clock = [START]
    async with network(clock=lambda: clock[0]) as net:
        bob = await net.raw_client("bob", caps="echo-message")
        await bob.send("JOIN #lobby")
        await bob.expect(" 366 ")
        client, model = await net.start_client("alice", reconnect_initial=5)
        await wait_until(model, joined(model, "#lobby"))
        await say(bob, "#lobby", "before the drop", clock=clock)
        await wait_until(model, has_line(model, "#lobby", "before the drop"))

        for session in list(net.server.sessions):
            if session.user.nick == "alice":
                session.close("Dropped by the test")
        await wait_until(model, lambda: model.state is ConnectionState.WAITING)
        await say(bob, "#lobby", "while you were away", clock=clock)
        await wait_until(model, has_separator(model, "#lobby"), within=30)
        await wait_until(model, joined(model, "#lobby"))

        lobby = model.current
        assert [(line.text, line.history) for line in chat(lobby)] == [
            ("before the drop", False),
            ("while you were away", True),
        ], "what was seen live is not replayed again"
        shown = texts(model)
        assert shown.index("while you were away") < shown.index(HISTORY_SEPARATOR) < len(shown) - 2
        assert shown[shown.index(HISTORY_SEPARATOR) + 1] == "You joined #lobby"
        assert lobby.unread == 0
        client.quit()


async def test_scrolling_up_fetches_older_pages_until_the_beginning(autojump_clock: trio.testing.MockClock) -> None:
    clock = [START]
    async with network(clock=lambda: clock[0], history_replay=5, chathistory_limit=10) as net:
        bob = await net.raw_client("bob", caps="echo-message message-tags")
        await bob.send("JOIN #room")
        await bob.expect(" 366 ")
        texts = [f"m{i}" for i in range(25)]
        echoes = []
        for text in texts:
            clock[0] += 3600  # an hour apart: the history spans two days
            echoes += await say(bob, "#room", text)
        ids = {e.params[1]: e.tags["msgid"] for e in echoes}
        sent: list[Message] = []
        client, model = start_tapped(net, "alice", sent, channels=("#lobby", "#room"))
        await wait_until(model, has_separator(model, "#room"))
        room = model.find("#room")
        assert room is not None and model.current is not room
        assert [line.text for line in chat(room)] == texts[-5:]
        await wait_until(model, lambda: client.can_fetch_older("#room"))

        assert client.fetch_older("#room")
        assert room.history_loading
        assert not client.fetch_older("#room"), "one request at a time"
        await wait_until(model, lambda: not room.history_loading)
        assert [line.text for line in chat(room)] == texts[-15:], "the older page above, in order"
        assert client.fetch_older("#room")
        await wait_until(model, lambda: not room.history_loading)
        assert client.fetch_older("#room")
        await wait_until(model, lambda: not room.history_loading)
        assert room.history_complete, "an empty page: the beginning of history"
        assert not client.fetch_older("#room"), "nothing more is asked for"
        assert requests(sent) == [
            ("BEFORE", "#room", f"msgid={ids['m20']}", "10"),  # the page is capped by ISUPPORT CHATHISTORY=10
            ("BEFORE", "#room", f"msgid={ids['m10']}", "10"),
            ("BEFORE", "#room", f"msgid={ids['m0']}", "10"),
        ]

        lines = list(room.lines)
        history = chat(room)
        assert [line.text for line in history] == texts, "every message once, oldest first"
        assert all(line.history for line in history)
        assert [line.time for line in history] == sorted(line.time for line in history)
        assert lines[0].text == HISTORY_BEGINNING
        days = [line for line in lines if line.kind is LineKind.DAY]
        assert [d.text for d in days] == list(dict.fromkeys(day_line(line.time).text for line in history))
        assert len(days) == 2, "one date line per day, also where pages meet"
        assert (room.unread, room.highlights) == (0, 0)

        await say(bob, "#room", "live")
        await wait_until(model, has_line(model, "#room", "live"))
        assert not room.lines[-1].history and room.unread == 1
        client.quit()


async def test_asking_for_history_in_a_channel_without_messages_asks_for_the_latest() -> None:
    async with network(history_replay=0) as net:
        bob = await net.raw_client("bob", caps="echo-message")
        await bob.send("JOIN #room")
        await bob.expect(" 366 ")
        await say(bob, "#room", "said before alice came")
        sent: list[Message] = []
        client, model = start_tapped(net, "alice", sent, channels=("#room",))
        await wait_until(model, joined(model, "#room"))
        await wait_until(model, lambda: client.can_fetch_older("#room"))
        assert chat(model.current) == [], "replay is off on this server"
        assert client.fetch_older("#room")
        await wait_until(model, lambda: not model.current.history_loading)
        assert requests(sent) == [("LATEST", "#room", "*", "50")]
        assert [(line.text, line.history) for line in chat(model.current)] == [("said before alice came", True)]
        assert texts(model).index("said before alice came") < texts(model).index("You joined #room")
        client.quit()


async def test_when_the_oldest_message_was_redacted_older_history_is_asked_for_by_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    clock = [START]
    async with network(clock=lambda: clock[0], history_replay=3) as net:
        bob = await net.raw_client("bob", caps="echo-message message-tags draft/message-redaction")
        await bob.send("JOIN #room")
        await bob.expect(" 366 ")
        echoes = await say(bob, "#room", *(f"m{i}" for i in range(6)), clock=clock)
        sent: list[Message] = []
        client, model = start_tapped(net, "alice", sent, channels=("#room",))
        await wait_until(model, lambda: client.can_fetch_older("#room"))
        assert [line.text for line in chat(model.current)] == ["m3", "m4", "m5"]
        m3 = echoes[3].tags["msgid"]
        await bob.send(f"REDACT #room {m3}")
        await bob.expect(" REDACT ")

        assert client.fetch_older("#room")
        await wait_until(model, lambda: not model.current.history_loading)
        said = datetime.fromtimestamp(START + 4 * 60, UTC)  # m3's time; "before" a millisecond later takes it in
        assert requests(sent) == [
            ("BEFORE", "#room", f"msgid={m3}", "50"),
            ("BEFORE", "#room", f"timestamp={said:%Y-%m-%dT%H:%M:%S}.001Z", "50"),
        ]
        assert [line.text for line in chat(model.current)] == ["m0", "m1", "m2", "m3", "m4", "m5"]
        assert not any(line.kind is LineKind.ERROR for line in model.current.lines)
        client.quit()


async def test_history_requests_that_fail_are_retried_by_time_or_reported() -> None:
    caps = "batch draft/chathistory message-tags server-time"
    async with scripted() as (client, model, server):
        await server.expect("USER")
        await server.send(f":s CAP * LS :{caps} echo-message")
        req = await server.expect("CAP")
        assert set(req.params[1].split()) == {*caps.split(), "echo-message"}
        await server.send(f":s CAP alice ACK :{caps}")
        await server.expect("CAP")
        await server.send(":s 001 alice :Welcome", ":s 005 alice CHATHISTORY=20 :are supported")
        await server.expect("JOIN")
        await server.send(":alice!a@h JOIN #c", ":s 353 alice = #c :alice bob", ":s 366 alice #c :End")
        await server.send(
            ":s BATCH +r1 chathistory #c",
            "@batch=r1;msgid=a1;time=2023-11-14T22:13:20.250Z :bob!b@h PRIVMSG #c :first",
            "@batch=r1;msgid=a2;time=2023-11-14T22:13:21.000Z :bob!b@h PRIVMSG #c :\x01VERSION\x01",
            "@batch=r1;msgid=a3;time=2023-11-14T22:13:22.000Z :bob!b@h PRIVMSG #c :second",
            ":s BATCH -r1",
        )
        await wait_until(model, has_separator(model, "#c"))
        assert [(line.text, line.history) for line in chat(model.current)] == [("first", True), ("second", True)]
        # The client pings when its JOIN comes; until the answer, a history batch is taken for the replay.
        sync = await server.expect("PING")
        while not sync.params[0].startswith("sync"):
            sync = await server.expect("PING")
        assert not client.fetch_older("#c"), "not before everything the server had for the JOIN has come"
        await server.send(f":s PONG s :{sync.params[0]}")
        await wait_until(model, lambda: client.can_fetch_older("#c"))
        assert client.fetch_older("#c")
        assert (await server.expect("CHATHISTORY")).params == ("BEFORE", "#c", "msgid=a1", "20")
        # The oldest message was deleted from the server's history meanwhile: asked again from its time.
        await server.send(":s FAIL CHATHISTORY INVALID_PARAMS BEFORE :Unknown message reference")
        again = await server.expect("CHATHISTORY")
        assert again.params == ("BEFORE", "#c", "timestamp=2023-11-14T22:13:20.251Z", "20")
        assert model.current.history_loading
        await server.send(":s FAIL CHATHISTORY MESSAGE_ERROR BEFORE #c :Messages could not be retrieved")
        await wait_until(model, has_line(model, "#c", "Could not load older messages: Messages could not be retrieved"))
        assert not model.current.history_loading and not model.current.history_complete
        assert client.fetch_older("#c"), "PageUp again tries again"
        assert (await server.expect("CHATHISTORY")).params == ("BEFORE", "#c", "msgid=a1", "20")
        await server.send(":s BATCH +p chathistory #c", ":s BATCH -p")
        await wait_until(model, lambda: model.current.history_complete)
        assert texts(model)[0] == HISTORY_BEGINNING
        assert not any("BATCH" in text for text in texts(model, model.server))
