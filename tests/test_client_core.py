"""The client core against the real server in-process (memory streams) and against scripted fake servers."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
import trio
import trio.testing
import trustme

from tests.helpers import FAST, texts
from tests.ircclient import IRCClient
from trio_chat.client.commands import text_budget
from trio_chat.client.core import (
    ChatClient,
    ClientConfig,
    OpenStream,
    backoff_delay,
    connect_error_is_final,
    default_opener,
    describe_connect_error,
    looks_like_tls,
)
from trio_chat.client.model import BufferKind, ChatModel, ConnectionState, LineKind
from trio_chat.protocol import LineBuffer, Message, parse_line
from trio_chat.server.app import Server
from trio_chat.server.config import ServerConfig
from trio_chat.ui.describe import line_text

FIXED_NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


async def wait_until(model: ChatModel, predicate: Callable[[], bool], within: float = 10.0) -> None:
    """Wait, without sleeping, until ``predicate()`` holds after some model change."""
    event = trio.Event()

    def wake() -> None:
        event.set()

    model.add_listener(wake)
    with trio.fail_after(within):
        while not predicate():
            await event.wait()
            event = trio.Event()


class Net:
    """A real server in-process; each client connection is a memory stream pair served in the nursery."""

    def __init__(self, server: Server, nursery: trio.Nursery) -> None:
        self.server = server
        self.nursery = nursery
        self.refuse = 0
        self.attempts: list[float] = []

    def opener(self) -> OpenStream:
        async def open_stream() -> trio.abc.Stream:
            self.attempts.append(trio.current_time())
            if self.refuse:
                self.refuse -= 1
                refused = ConnectionRefusedError(111, "Connection refused")
                raise OSError("all attempts failed") from ExceptionGroup("all attempts failed", [refused])
            client_end, server_end = trio.testing.memory_stream_pair()
            self.nursery.start_soon(self.server.handle_connection, server_end)
            return client_end

        return open_stream

    async def start_client(self, nick: str, **config: Any) -> tuple[ChatClient, ChatModel]:
        model = ChatModel(nick)
        client = ChatClient(
            ClientConfig(nick, **config), model, open_stream=self.opener(), now=lambda: FIXED_NOW, describe=line_text
        )
        self.nursery.start_soon(client.run)
        return client, model

    async def raw_client(self, nick: str, *, caps: str = "") -> IRCClient:
        client_end, server_end = trio.testing.memory_stream_pair()
        self.nursery.start_soon(self.server.handle_connection, server_end)
        irc = IRCClient(client_end, nick)
        await irc.register(nick, caps=caps)
        return irc

    def drop_everyone(self) -> None:
        for session in list(self.server.sessions):
            session.close("Dropped by the test")


@asynccontextmanager
async def network(
    config: ServerConfig = FAST, *, clock: Callable[[], float] | None = None, **overrides: Any
) -> AsyncIterator[Net]:
    """A server in-process; its wall clock (server-time) is 2023-11-14T22:13:20Z unless ``clock`` is given."""
    server = Server(replace(config, **overrides), clock=clock or (lambda: 1_700_000_000.0))
    async with trio.open_nursery() as nursery:
        await nursery.start(server.run_services)
        yield Net(server, nursery)
        nursery.cancel_scope.cancel()


def joined(model: ChatModel, channel: str) -> Callable[[], bool]:
    def check() -> bool:
        buf = model.find(channel)
        return buf is not None and buf.joined and model.state is ConnectionState.CONNECTED

    return check


def has_line(model: ChatModel, buffer: str, fragment: str) -> Callable[[], bool]:
    def check() -> bool:
        buf = model.find(buffer)
        return buf is not None and any(fragment in line_text(line) for line in buf.lines)

    return check


# -- against the real server ------------------------------------------------------------------------------------


async def test_registers_negotiates_caps_and_joins_channels() -> None:
    async with network() as net:
        client, model = await net.start_client("alice", channels=("#lobby", "#dev"))
        await wait_until(model, joined(model, "#dev"))
        await wait_until(model, joined(model, "#lobby"))
        assert {"server-time", "echo-message", "message-tags", "multi-prefix"} <= client.caps
        assert {"batch", "draft/chathistory"} <= client.caps
        assert model.current.name == "#lobby", "the first channel is shown, the others join quietly"
        assert model.find("#lobby") is not None
        assert [b.name for b in model.buffers] == ["server", "#lobby", "#dev"]
        assert model.find("#lobby").has_member("alice")  # type: ignore[union-attr]
        client.quit()


async def test_two_clients_chat_and_own_lines_appear_once() -> None:
    async with network() as net:
        alice, amodel = await net.start_client("alice")
        await wait_until(amodel, joined(amodel, "#lobby"))
        bob, bmodel = await net.start_client("bob")
        await wait_until(bmodel, joined(bmodel, "#lobby"))
        await wait_until(amodel, lambda: amodel.current.has_member("bob"))
        alice.submit("hello bob, how are you?")
        await wait_until(bmodel, has_line(bmodel, "#lobby", "hello bob"))
        await wait_until(amodel, has_line(amodel, "#lobby", "hello bob"))
        alice.submit("second line")
        await wait_until(bmodel, has_line(bmodel, "#lobby", "second line"))
        await wait_until(amodel, has_line(amodel, "#lobby", "second line"))
        own = [line for line in amodel.current.lines if line.kind is LineKind.MESSAGE]
        assert [(line.nick, line.text, line.own) for line in own] == [
            ("alice", "hello bob, how are you?", True),
            ("alice", "second line", True),
        ]
        seen = [line for line in bmodel.current.lines if line.kind is LineKind.MESSAGE]
        assert seen[0].nick == "alice" and seen[0].highlight, "bob was mentioned"
        assert seen[1].highlight is False
        assert seen[0].time.year == 2023, "the server-time tag is used when present"
        bob.submit("/me waves")
        await wait_until(amodel, lambda: any(line.kind is LineKind.ACTION for line in amodel.current.lines))
        # A private message opens a query buffer on the other side, counted as unread and highlighted.
        bob.submit("/msg alice psst")
        await wait_until(amodel, has_line(amodel, "bob", "psst"))
        query = amodel.find("bob")
        assert query is not None and query.kind is BufferKind.QUERY
        assert query.unread == 1 and query.highlights == 1
        assert amodel.activity() == [(3, query)]
        alice.quit("bye now")
        await wait_until(bmodel, has_line(bmodel, "#lobby", "alice quit"))
        assert "bye now" in texts(bmodel)[-1]
        bob.quit()


async def test_commands_reach_the_server() -> None:
    async with network() as net:
        alice, amodel = await net.start_client("alice")
        await wait_until(amodel, joined(amodel, "#lobby"))
        bob, bmodel = await net.start_client("bob")
        await wait_until(bmodel, joined(bmodel, "#lobby"))
        alice.submit("/topic Welcome to the lobby")
        await wait_until(bmodel, lambda: bmodel.current.topic == "Welcome to the lobby")
        alice.submit("/nick alicia")
        await wait_until(bmodel, has_line(bmodel, "#lobby", "alice is now known as alicia"))
        assert amodel.nick == "alicia"
        assert bmodel.current.has_member("alicia") and not bmodel.current.has_member("alice")
        alice.submit("/whois bob")
        await wait_until(amodel, has_line(amodel, "#lobby", "bob is ~bob@"))
        alice.submit("/names")
        await wait_until(amodel, has_line(amodel, "#lobby", "2 people in #lobby"))
        alice.submit("/mode +v bob")
        await wait_until(bmodel, lambda: bmodel.current.members["bob"].prefixes == "+")
        bob.submit("/part #lobby see you")
        await wait_until(amodel, has_line(amodel, "#lobby", "bob left #lobby (see you)"))
        assert not bmodel.current.joined
        alice.submit("/join #dev")
        await wait_until(amodel, joined(amodel, "#dev"))
        assert amodel.current.name == "#dev", "a channel you /join is shown"
        alice.submit("/quote PRIVMSG #lobby :raw hello")
        alice.submit("/unknowncommand")
        assert "Unknown command /unknowncommand" in texts(amodel)[-1]
        alice.quit()
        bob.quit()


async def test_nick_in_use_falls_back_to_an_underscore() -> None:
    async with network() as net:
        await net.raw_client("alice")
        client, model = await net.start_client("alice")
        await wait_until(model, joined(model, "#lobby"))
        assert model.nick == "alice_"
        assert any("alice is in use; trying alice_" in t for t in texts(model, model.server))
        client.quit()


async def test_wrong_password_is_reported_and_not_retried(autojump_clock: trio.testing.MockClock) -> None:
    async with network(password="sesame") as net:
        model = ChatModel("alice")
        client = ChatClient(ClientConfig("alice", password="wrong"), model, open_stream=net.opener())
        await client.run()  # returns by itself: retrying cannot help
        assert model.state is ConnectionState.FAILED
        assert "Wrong password" in model.state_detail
        assert len(net.attempts) == 1
        model2 = ChatModel("bob")
        await ChatClient(ClientConfig("bob"), model2, open_stream=net.opener()).run()
        assert "needs a password: use --password" in model2.state_detail
        ok, ok_model = await net.start_client("carol", password="sesame")
        await wait_until(ok_model, joined(ok_model, "#lobby"))
        ok.quit()


async def test_reconnects_with_backoff_rejoins_and_restores_nick(autojump_clock: trio.testing.MockClock) -> None:
    async with network() as net:
        client, model = await net.start_client("alice", channels=("#lobby",), reconnect_initial=1, reconnect_max=8)
        await wait_until(model, joined(model, "#lobby"))
        client.submit("/join #dev")
        await wait_until(model, joined(model, "#dev"))
        client.submit("/part #lobby")
        client.submit("/join #ops")
        await wait_until(model, joined(model, "#ops"))
        client.submit("/nick alicia")
        await wait_until(model, lambda: model.nick == "alicia")
        model.switch(0)

        net.refuse = 5
        start = trio.current_time()
        net.drop_everyone()
        await wait_until(model, lambda: model.state is ConnectionState.WAITING)
        assert not model.find("#dev").joined  # type: ignore[union-attr]
        assert "Dropped by the test" in " ".join(texts(model, model.server))
        await wait_until(model, joined(model, "#ops"), within=120)
        await wait_until(model, joined(model, "#dev"))
        assert model.nick == "alicia"
        assert not model.find("#lobby").joined, "a channel you left stays left"  # type: ignore[union-attr]
        assert model.current is model.server, "rejoining does not steal the view"
        delays = [round(b - a) for a, b in zip([start, *net.attempts[1:]], net.attempts[1:], strict=False)]
        assert delays == [1, 2, 4, 8, 8, 8]
        assert len(net.attempts) == 7
        assert client.connections == 2
        assert any("Connection refused by 127.0.0.1:6667" in t for t in texts(model, model.server))
        client.quit()


async def test_tls_insecure_warns_in_the_server_buffer_at_every_connect(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with network() as net:
        client, model = await net.start_client("alice", port=6697, tls=True, tls_insecure=True)
        await wait_until(model, joined(model, "#lobby"))
        net.drop_everyone()
        await wait_until(model, lambda: client.connections == 2 and joined(model, "#lobby")())
        warnings = [line for line in model.server.lines if "--tls-insecure" in line.text]
        assert len(warnings) == 2, "once per connection"
        assert all(w.kind is LineKind.ERROR for w in warnings)
        assert "the certificate of 127.0.0.1:6697 is not checked" in warnings[0].text
        client.quit()
    async with network() as net:
        secure, smodel = await net.start_client("bob", tls=True)
        await wait_until(smodel, joined(smodel, "#lobby"))
        assert not any("--tls-insecure" in t for t in texts(smodel, smodel.server))
        secure.quit()


async def test_a_tls_record_on_a_plaintext_connection_ends_the_client() -> None:
    async with scripted() as (client, model, server):
        await server.expect("USER")
        await server.stream.send_all(b"\x15\x03\x03\x00\x02\x02\x46")  # a TLS alert: protocol_version
        await wait_until(model, lambda: model.state is ConnectionState.FAILED)
        assert client.fatal_error == "127.0.0.1:6667 speaks TLS, not plaintext: use --tls"
        assert looks_like_tls(b"\x16\x03\x01\x02\x00") and not looks_like_tls(b":irc.example NOTICE")


def everything(model: ChatModel) -> list[str]:
    return [line_text(line) for buf in model.buffers for line in buf.lines]


async def test_ctcp_requests_and_replies_are_shown_once_and_own_ones_not_as_someone_elses() -> None:
    async with network() as net:
        alice, amodel = await net.start_client("alice")
        await wait_until(amodel, joined(amodel, "#lobby"))
        bob, bmodel = await net.start_client("bob")
        await wait_until(bmodel, joined(bmodel, "#lobby"))
        bob.submit("/version alice")
        await wait_until(bmodel, has_line(bmodel, "#lobby", "VERSION reply from alice: trio-chat"))
        bob.submit("/ctcp #lobby time")
        await wait_until(bmodel, has_line(bmodel, "#lobby", "TIME reply from alice: "))
        bob.submit("/msg alice sync")
        await wait_until(amodel, has_line(amodel, "bob", "sync"))
        assert [t for t in everything(amodel) if "VERSION" in t or "TIME" in t] == [
            "bob asked for your VERSION",
            "bob asked for #lobby's TIME",
        ], "each request once, in the server buffer; the replies alice's client sent are not shown to her"
        assert [line.nick for line in amodel.server.lines if "asked for" in line_text(line)] == ["bob", "bob"]
        assert [t for t in everything(bmodel) if "VERSION" in t] == [
            "CTCP VERSION sent to alice",
            "VERSION reply from alice: trio-chat",
        ], "bob's own request is said once (its echo is not shown again)"
        alice.quit()
        bob.quit()


async def test_ignore_clear_and_set() -> None:
    async with scripted() as (client, model, server):
        await server.expect("USER")
        await server.send(":s 001 alice :Welcome", ":alice!a@h JOIN #c", ":s 366 alice #c :End")
        await wait_until(model, joined(model, "#c"))
        client.submit("/ignore Bob")
        client.submit("/ignore *!*@spam.example")
        assert model.ignores == ["bob!*@*", "*!*@spam.example"]
        await server.send(
            ":bob!b@h PRIVMSG #c :you cannot see me",
            ":bob!b@h PRIVMSG alice :\x01VERSION\x01",
            ":bob!b@h INVITE alice #trap",
            ":eve!e@spam.example PRIVMSG alice :buy now",
            ":carol!c@h PRIVMSG #c :carol is seen",
        )
        await wait_until(model, has_line(model, "#c", "carol is seen"))
        shown = everything(model)
        assert not any("you cannot see me" in t or "buy now" in t or "#trap" in t or "VERSION" in t for t in shown)
        assert model.find("bob") is None and model.find("eve") is None
        client.submit("/unignore bob")
        client.submit("/ignore")
        assert texts(model)[-1] == "Ignoring: *!*@spam.example"
        await server.send(":bob!b@h PRIVMSG #c :back in sight")
        await wait_until(model, has_line(model, "#c", "back in sight"))

        client.submit("/set highlight_words release,deploy")
        await server.send(":carol!c@h PRIVMSG #c :the Release is out", ":carol!c@h PRIVMSG #c :releases")
        await wait_until(model, has_line(model, "#c", "releases"))
        assert [line.highlight for line in model.current.lines if line.nick == "carol"] == [False, True, False]
        client.submit("/set timestamp_format %H:%M:%S")
        client.submit("/set nicklist_width 12")
        client.submit("/set nicklist_width 500")
        client.submit("/set colour blue")
        assert model.settings.timestamp_format == "%H:%M:%S"
        assert model.settings.nicklist_width == 12
        assert texts(model)[-2:] == ["nicklist_width: a number from 8 to 40", "No setting colour; /set lists them"]
        client.submit("/set")
        assert texts(model)[-3:] == [
            "timestamp_format = %H:%M:%S",
            "nicklist_width = 12",
            "highlight_words = release,deploy",
        ]
        client.submit("/clear")
        assert texts(model) == []


async def test_replies_land_where_they_belong() -> None:
    async with network() as net:
        bob, bmodel = await net.start_client("bob")
        await wait_until(bmodel, joined(bmodel, "#lobby"))
        bob.submit("/away gone to lunch")
        await wait_until(bmodel, lambda: bmodel.away)
        alice, model = await net.start_client("alice")
        await wait_until(model, joined(model, "#lobby"))
        assert "No message of the day" in texts(model, model.server)
        assert not any(line.kind is LineKind.ERROR for buf in model.buffers for line in buf.lines)

        alice.submit("/query bob are you there?")
        await wait_until(model, has_line(model, "bob", "bob is away: gone to lunch"))
        alice.submit("hello?")
        await wait_until(bmodel, has_line(bmodel, "alice", "hello?"))
        alice.submit("/msg bob sync")
        await wait_until(bmodel, has_line(bmodel, "alice", "sync"))
        assert texts(model, model.find("bob")).count("bob is away: gone to lunch") == 1, "once, in the query"

        model.switch(model.index_of(model.find("#lobby")))  # type: ignore[arg-type]
        alice.submit("/whois bob")
        await wait_until(model, has_line(model, "#lobby", "End of /WHOIS list"))
        whois = texts(model)[texts(model).index("─── whois bob ───") :]
        created = datetime.fromtimestamp(1_700_000_000).astimezone().strftime("%Y-%m-%d %H:%M")
        assert whois == [
            "─── whois bob ───",
            "bob is ~bob@unknown (trio-chat user)",
            "bob is in @#lobby",
            "bob is on test.server (TrioChat)",
            "bob is away: gone to lunch",
            f"bob has been idle 0 s, connected since {created}",
            "bob End of /WHOIS list",
        ], "in the current buffer, under a header, the away message included"

        alice.submit("/mode")
        await wait_until(model, has_line(model, "#lobby", "#lobby was created on "))
        assert f"#lobby was created on {created}" in texts(model)
        assert any(t.startswith("#lobby modes: +") for t in texts(model))
        alice.quit()
        bob.quit()


async def test_ctcp_ping_reply_is_timed(autojump_clock: trio.testing.MockClock) -> None:
    async with scripted() as (client, model, server):
        await server.expect("USER")
        await server.send(":s 001 alice :Welcome")
        await wait_until(model, lambda: client.connected)
        client.submit("/ping bob")
        request = await server.expect("PRIVMSG")
        assert request.params[0] == "bob"
        token = request.params[1].strip("\x01").removeprefix("PING ")
        await trio.sleep(0.12)
        await server.send(f":bob!b@h NOTICE alice :\x01PING {token}\x01", ":bob!b@h NOTICE alice :\x01PING 12345\x01")
        await wait_until(model, has_line(model, "server", "PING reply from bob: 12345"))
        assert "PING reply from bob: 0.12 s" in texts(model, model.server)
        await server.send(":bob!b@h PRIVMSG alice :\x01PING 99 1\x01", ":bob!b@h PRIVMSG alice :\x01FINGER\x01")
        assert (await server.expect("NOTICE")).params == ("bob", "\x01PING 99 1\x01")
        await wait_until(model, has_line(model, "server", "bob asked for your FINGER"))
        assert "bob asked for your PING" in texts(model, model.server)


async def test_reconnect_keeps_the_username_channel_keys_and_regains_a_ghosted_nick(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with network() as net:
        op = await net.raw_client("op")
        await op.send("JOIN #k", "MODE #k +k secret")
        await op.expect(r" MODE #k \+k")
        client, model = await net.start_client("alice", reconnect_initial=5, nick_retry_interval=15)
        await wait_until(model, joined(model, "#lobby"))
        client.submit("/join #k secret")
        await wait_until(model, joined(model, "#k"))
        client.submit("/nick alicia")
        await wait_until(model, lambda: model.nick == "alicia")
        model.switch(0)

        for session in list(net.server.sessions):
            if session.user.nick == "alicia":
                session.close("Ping timeout")
        # Before the client is back, its nick is taken: as by the ghost of a connection the server has not
        # noticed is dead yet.
        ghost = await net.raw_client("alicia")
        await wait_until(model, lambda: client.connections == 2 and joined(model, "#k")() and model.nick == "alicia_")
        assert joined(model, "#lobby")()
        await op.send("WHOIS alicia_")
        assert (await op.expect(" 311 ")).params[1:3] == ("alicia_", "~alice"), "the user name stays alice"

        await trio.sleep(40)  # the ghost lingers; the client asks for its nick twice meanwhile, quietly
        assert model.nick == "alicia_"
        assert not any("already in use" in t for t in everything(model))
        await ghost.send("QUIT :ghost gone")
        await wait_until(model, lambda: model.nick == "alicia", within=30)
        assert "Got the nick alicia back" in texts(model, model.server)
        client.quit()


async def test_lag_is_measured(autojump_clock: trio.testing.MockClock) -> None:
    async with network() as net:
        client, model = await net.start_client("alice", ping_interval=5)
        await wait_until(model, joined(model, "#lobby"))
        await wait_until(model, lambda: model.lag is not None)
        assert model.lag is not None and model.lag < 1
        client.quit()


async def test_long_messages_are_split_to_fit_the_line_limit() -> None:
    async with network() as net:
        alice, amodel = await net.start_client("alice")
        await wait_until(amodel, joined(amodel, "#lobby"))
        bob = await net.raw_client("bob")
        await bob.send("JOIN #lobby")
        await bob.expect(" 366 ")
        text = ("ünïcödé 日本語 " * 60) + "x" * 700
        alice.submit(text)
        pieces: list[str] = []
        while "".join(pieces).replace(" ", "") != text.replace(" ", ""):
            msg = await bob.expect("PRIVMSG #lobby")
            assert len(msg.to_bytes()) <= 512
            assert len(msg.params[1].encode()) <= text_budget("alice", "#lobby")
            pieces.append(msg.params[1])
        assert len(pieces) > 3
        alice.quit()


async def test_quit_while_disconnected_ends_at_once(autojump_clock: trio.testing.MockClock) -> None:
    async with network() as net:
        net.refuse = 100
        model = ChatModel("alice")
        client = ChatClient(ClientConfig("alice"), model, open_stream=net.opener())
        async with trio.open_nursery() as nursery:
            nursery.start_soon(client.run)
            await wait_until(model, lambda: model.state is ConnectionState.WAITING)
            client.submit("hello?")
            client.submit("/quit")
        assert model.state is ConnectionState.DISCONNECTED
        assert "Connection refused by 127.0.0.1:6667 (is the server running?)" in texts(model, model.server)
        assert any("server buffer" in t for t in texts(model))


# -- against scripted servers: behaviour our server does not exercise ------------------------------------------------


class FakeServer:
    """The server end of one memory stream, driven line by line by the test."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.buffer = LineBuffer(1 << 16)
        self.pending: list[Message] = []

    async def recv(self) -> Message:
        with trio.fail_after(5):
            while not self.pending:
                data = await self.stream.receive_some()
                if not data:
                    raise EOFError
                self.pending += [parse_line(line) for line in self.buffer.feed(data)]
        return self.pending.pop(0)

    async def expect(self, command: str) -> Message:
        while True:
            msg = await self.recv()
            if msg.command == command:
                return msg

    async def send(self, *lines: str) -> None:
        await self.stream.send_all("".join(line + "\r\n" for line in lines).encode())


@asynccontextmanager
async def scripted(nick: str = "alice", **config: Any) -> AsyncIterator[tuple[ChatClient, ChatModel, FakeServer]]:
    client_end, server_end = trio.testing.memory_stream_pair()

    async def open_stream() -> trio.abc.Stream:
        return client_end

    model = ChatModel(nick)
    client = ChatClient(ClientConfig(nick, **config), model, open_stream=open_stream, now=lambda: FIXED_NOW)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.run)
        yield client, model, FakeServer(server_end)
        client.cancel()


async def test_server_without_capabilities() -> None:
    async with scripted() as (client, model, server):
        cap = await server.recv()
        assert cap == Message("CAP", ("LS", "302"))
        await server.expect("USER")
        await server.send(":old.server 421 alice CAP :Unknown command", ":old.server 001 alice :Welcome")
        await server.expect("JOIN")
        assert client.caps == frozenset()
        await server.send(":alice!a@h JOIN #lobby", ":old.server 353 alice = #lobby :@alice bob")
        await server.send(":old.server 366 alice #lobby :End")
        await wait_until(model, joined(model, "#lobby"))
        client.submit("hi there")
        msg = await server.expect("PRIVMSG")
        assert msg.params == ("#lobby", "hi there")
        assert [(line.nick, line.text) for line in model.current.lines if line.kind is LineKind.MESSAGE] == [
            ("alice", "hi there")
        ], "without echo-message our line is shown locally"
        assert model.current.nicks() == ["alice", "bob"]
        assert not any("does not know" in t for t in texts(model, model.server))
        assert not client.fetch_older("#lobby"), "no history to ask a server without chathistory for"


async def test_multiline_cap_ls_and_cap_notify() -> None:
    async with scripted() as (client, model, server):
        await server.expect("USER")
        await server.send(":s CAP * LS * :server-time sasl=PLAIN", ":s CAP * LS :echo-message cap-notify unknown")
        req = await server.expect("CAP")
        assert req.params == ("REQ", "server-time echo-message cap-notify")
        await server.send(":s CAP alice ACK :server-time echo-message cap-notify")
        assert (await server.expect("CAP")).params == ("END",)
        await server.send(":s 001 alice :Welcome")
        await wait_until(model, lambda: client.connected)
        await server.send(":s CAP alice NEW :away-notify")
        assert (await server.expect("CAP")).params == ("REQ", "away-notify")
        await server.send(":s CAP alice ACK :away-notify", ":s CAP alice DEL :echo-message", "PING :sync")
        await server.expect("PONG")
        assert client.caps == {"server-time", "cap-notify", "away-notify"}


async def test_answers_ping_and_reports_server_error_then_reconnects(autojump_clock: trio.testing.MockClock) -> None:
    async with scripted(reconnect_initial=3) as (_client, model, server):
        await server.expect("USER")
        await server.send("PING :abc")
        assert (await server.expect("PONG")).params == ("abc",)
        await server.send("ERROR :Closing link (too many bananas)")
        await server.stream.aclose()
        await wait_until(model, lambda: model.state is ConnectionState.WAITING)
        assert "Server closed the link: Closing link (too many bananas)" in texts(model, model.server)
        assert model.state_detail == "in 3 s"


async def test_silent_server_is_dropped(autojump_clock: trio.testing.MockClock) -> None:
    async with scripted(ping_interval=10, ping_timeout=30) as (_client, model, server):
        await server.expect("USER")
        await wait_until(model, lambda: model.state is ConnectionState.WAITING, within=100)
        assert any("No reply from 127.0.0.1:6667 for 30 s" in t for t in texts(model, model.server))


# -- pieces ----------------------------------------------------------------------------------------------------------


def test_backoff_grows_and_is_capped() -> None:
    assert [backoff_delay(n, 1, 60) for n in range(9)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert backoff_delay(10_000, 0.5, 30) == 30


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (OSError("x"), "Cannot connect to h:1: x"),
        (ConnectionRefusedError(111, "refused"), "Connection refused by h:1 (is the server running?)"),
        (trio.TooSlowError(), "Connecting to h:1 timed out"),
        (ssl.SSLError(1, "WRONG_VERSION_NUMBER"), "TLS failure with h:1"),
    ],
)
def test_connect_errors_are_explained(exc: BaseException, expected: str) -> None:
    assert describe_connect_error(exc, ClientConfig("a", host="h", port=1)).startswith(expected)


def test_certificate_errors_suggest_tls_insecure() -> None:
    cert_error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    cert_error.verify_message = "self-signed certificate"
    wrapped = trio.BrokenResourceError("handshake")
    wrapped.__cause__ = cert_error
    text = describe_connect_error(wrapped, ClientConfig("a", host="h", port=1, tls=True))
    assert "self-signed certificate" in text and "--tls-insecure" in text


# -- real sockets: what the default opener reports --------------------------------------------------------------------


async def test_refused_connection_on_a_real_socket() -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    for listener in listeners:
        await listener.aclose()  # nothing listens on that port any more
    config = ClientConfig("alice", port=port)
    with pytest.raises(OSError) as info:
        await default_opener(config)()
    expected = f"Connection refused by 127.0.0.1:{port} (is the server running?)"
    assert describe_connect_error(info.value, config) == expected


async def test_tls_failure_and_tls_insecure_on_a_real_socket() -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("irc.example").configure_cert(server_context)
    listeners = await trio.open_ssl_over_tcp_listeners(0, server_context, host="127.0.0.1")
    transport = listeners[0].transport_listener
    assert isinstance(transport, trio.SocketListener)
    port = transport.socket.getsockname()[1]

    async def greet(stream: trio.SSLStream[trio.SocketStream]) -> None:
        with contextlib.suppress(trio.BrokenResourceError):
            await stream.send_all(b":irc.example NOTICE * :hello over TLS\r\n")
            await stream.aclose()

    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, greet, listeners)
        strict = ClientConfig("alice", port=port, tls=True)
        with pytest.raises((trio.BrokenResourceError, ssl.SSLError)) as info:
            await default_opener(strict)()
        text = describe_connect_error(info.value, strict)
        assert text.startswith(f"TLS failure with 127.0.0.1:{port}: certificate not trusted"), text
        assert "--tls-insecure" in text
        assert connect_error_is_final(info.value)
        insecure = ClientConfig("alice", port=port, tls=True, tls_insecure=True)
        stream = await default_opener(insecure)()
        assert b"hello over TLS" in await stream.receive_some()
        await stream.aclose()

        # The whole client: an untrusted certificate is said once and ends it, without a retry.
        model = ChatModel("alice")
        client = ChatClient(strict, model)
        with trio.fail_after(10):
            await client.run()
        assert client.fatal_error == text
        assert model.state is ConnectionState.FAILED
        assert client.connections == 0
        assert [t for t in texts(model, model.server) if "TLS failure" in t] == [text]
        assert not any("Reconnecting" in t for t in texts(model, model.server))

        # Plaintext to the TLS port: the server drops us without a word; the client says to use --tls.
        model = ChatModel("alice")
        client = ChatClient(ClientConfig("alice", port=port), model)
        with trio.fail_after(10):
            await client.run()
        assert client.fatal_error == (
            f"127.0.0.1:{port} closed the connection without answering: if it is a TLS port, use --tls "
            "(TLS ports are usually 6697)"
        )
        assert model.state is ConnectionState.FAILED
        nursery.cancel_scope.cancel()


async def test_tls_to_a_plaintext_port_says_to_leave_out_tls() -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]

    async def plaintext_irc(stream: trio.SocketStream) -> None:
        with contextlib.suppress(trio.BrokenResourceError):
            await stream.send_all(b":irc.example NOTICE * :*** Looking up your hostname...\r\n")
            await stream.receive_some()
            await stream.aclose()

    async with trio.open_nursery() as nursery:
        await nursery.start(trio.serve_listeners, plaintext_irc, listeners)
        model = ChatModel("alice")
        client = ChatClient(ClientConfig("alice", port=port, tls=True), model)
        with trio.fail_after(10):
            await client.run()
        assert client.fatal_error is not None
        assert client.fatal_error.startswith(f"TLS failure with 127.0.0.1:{port}: the server does not speak TLS")
        assert client.fatal_error.endswith("it is a plaintext port: leave out --tls")
        assert model.state is ConnectionState.FAILED
        nursery.cancel_scope.cancel()
