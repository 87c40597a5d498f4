"""The terminal client and accounts: ``--sasl`` (SASL PLAIN before registration, on every reconnect),
``/register`` and ``/identify`` (their passwords never shown nor remembered), and who is logged in as what.

Against the real server in-process (scrypt cost 4: hashes are computed inline, see server/handlers/accounts.py),
and against scripted servers for what ours never does (no sasl offered, no account-registration).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
from dataclasses import replace
from typing import Any, cast

import pytest
import trio
import trio.testing
from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.layout.processors import TransformationInput

from tests.helpers import FAST, texts
from tests.test_client_core import Net, has_line, joined, network, scripted, wait_until
from tests.test_ui import FakeClient, chat_model, pipe_session, running, until
from trio_chat.client.commands import (
    Identify,
    InputContext,
    Register,
    ShowError,
    is_secret,
    mask_service_text,
    parse_input,
    secret_start,
)
from trio_chat.client.core import ChatClient, ClientConfig, sasl_plain_lines
from trio_chat.client.model import ChatModel, ConnectionState, LineKind, Member
from trio_chat.protocol import Message
from trio_chat.server.app import Server
from trio_chat.ui.app import PASSWORD_ENV, UsageError, add_join_arguments, config_from_args, read_password, run_client
from trio_chat.ui.describe import line_text
from trio_chat.ui.view import ChatUI, MaskSecret, nicklist_entry, status_fragments

ACCOUNTS = replace(FAST, password_hash_cost=4)
PASSWORD = "sesame12"


async def register_account(net: Net, nick: str, password: str = PASSWORD) -> None:
    """Register ``nick`` through NickServ on a raw connection of its own, then leave."""
    owner = await net.raw_client(nick)
    await owner.send(f"PRIVMSG NickServ :REGISTER {password}")
    await owner.expect(r"NOTICE \S+ :Account created")
    await owner.send("QUIT")
    await owner.expect_closed()


def everything_shown(model: ChatModel) -> list[str]:
    """Every line of every buffer, with its nick."""
    return [f"{line.nick} {line_text(line)}" for buf in model.buffers for line in buf.lines]


def server_account(net: Net, nick: str) -> str | None:
    user = net.server.network.find_user(nick)
    assert user is not None
    return user.account


# -- SASL -------------------------------------------------------------------------------------------------------


def test_sasl_plain_payload_is_chunked_at_400() -> None:
    [short] = sasl_plain_lines("alice", "sesame12")
    assert base64.b64decode(short) == b"alice\0alice\0sesame12"
    # 300 bytes of payload are exactly 400 base64 characters: a "+" says that was all.
    exact = sasl_plain_lines("bob", "x" * (300 - len("bob\0bob\0")))
    assert [len(c) for c in exact] == [400, 1] and exact[-1] == "+"
    longer = sasl_plain_lines("bob", "y" * 400)
    assert [len(c) for c in longer[:-1]] == [400] and 0 < len(longer[-1]) < 400
    assert base64.b64decode("".join(longer)) == b"bob\0bob\0" + b"y" * 400


async def test_sasl_login_before_registration_and_again_after_a_reconnect(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with network(ACCOUNTS) as net:
        await register_account(net, "alice")
        client, model = await net.start_client("alice", sasl_account="alice", sasl_password=PASSWORD)
        await wait_until(model, joined(model, "#lobby"))
        assert "sasl" in client.caps
        assert model.account == "alice" and model.nick == "alice"
        assert "Logged in as alice" in texts(model, model.server)
        assert server_account(net, "alice") == "alice"
        assert model.current.members["alice"].account == "alice"
        assert "[alice ✓]" in "".join(text for _style, text, *_ in status_fragments(model))
        assert PASSWORD not in repr(client.config), "the password stays out of reprs (and so of tracebacks)"

        net.drop_everyone()
        await wait_until(model, lambda: model.state is ConnectionState.WAITING)
        assert model.account is None
        await wait_until(model, lambda: client.connections == 2 and joined(model, "#lobby")(), within=60)
        assert texts(model, model.server).count("Logged in as alice") == 2
        assert server_account(net, "alice") == "alice", "the reconnect logged in with the password kept in memory"
        assert model.nick == "alice", "logged in before registering: the reserved nick is ours at once"
        assert not any(PASSWORD in text for text in everything_shown(model))
        client.quit()


async def test_wrong_password_ends_the_client_without_retrying(autojump_clock: trio.testing.MockClock) -> None:
    async with network(ACCOUNTS) as net:
        await register_account(net, "alice")
        model = ChatModel("alice")
        config = ClientConfig("alice", sasl_account="alice", sasl_password="not-it")
        client = ChatClient(config, model, open_stream=net.opener())
        with trio.fail_after(600):
            await client.run()  # returns by itself: the same password would fail again
        assert model.state is ConnectionState.FAILED
        assert client.fatal_error is not None
        assert "Logging in as alice failed: wrong password" in client.fatal_error
        assert "SASL authentication failed" in client.fatal_error
        assert len(net.attempts) == 1, "a refused login is not retried"
        assert not client.registered.is_set(), "never registered, so never in the channel unauthenticated"
        # An account that does not exist is refused the same way.
        other_config = ClientConfig("zed", sasl_password="whatever1", sasl_account="zed")
        other = ChatClient(other_config, ChatModel("zed"), open_stream=net.opener())
        await other.run()
        assert other.fatal_error is not None and "no account zed" in other.fatal_error
        assert len(net.attempts) == 2


async def test_a_server_without_sasl_is_not_joined_unauthenticated() -> None:
    async with scripted(sasl_account="alice", sasl_password=PASSWORD) as (client, model, server):
        await server.expect("USER")
        await server.send(":s CAP * LS :server-time echo-message")
        await wait_until(model, lambda: model.state is ConnectionState.FAILED)
        assert client.fatal_error is not None
        assert "does not offer SASL" in client.fatal_error
        sent = []
        with pytest.raises(EOFError):
            while True:
                sent.append(await server.recv())
        assert Message("CAP", ("END",)) not in sent, "registration is never completed"
        assert not any(m.command == "AUTHENTICATE" for m in sent)


async def test_a_server_without_cap_or_plain_is_refused_too() -> None:
    async with scripted(sasl_account="alice", sasl_password=PASSWORD) as (client, model, server):
        await server.expect("USER")
        await server.send(":old.server 421 alice CAP :Unknown command")
        await wait_until(model, lambda: model.state is ConnectionState.FAILED)
        assert client.fatal_error is not None and "does not support capability negotiation" in client.fatal_error
    async with scripted(sasl_account="alice", sasl_password=PASSWORD) as (client, model, server):
        await server.expect("USER")
        await server.send(":s CAP * LS :sasl=EXTERNAL server-time")
        await wait_until(model, lambda: model.state is ConnectionState.FAILED)
        assert client.fatal_error is not None and "does not offer SASL PLAIN (only EXTERNAL)" in client.fatal_error
    async with scripted(sasl_account="alice", sasl_password=PASSWORD) as (client, model, server):
        await server.expect("USER")
        await server.send(":s CAP * LS :sasl", ":s 001 alice :Welcome")  # registered us without waiting
        await wait_until(model, lambda: model.state is ConnectionState.FAILED)
        assert client.fatal_error is not None and "without the SASL login" in client.fatal_error


async def test_sasl_exchange_on_the_wire_with_a_long_password() -> None:
    password = "p" * (600 - len("alice\0alice\0"))  # 600 bytes: 800 base64 characters, two full chunks
    async with scripted(sasl_account="alice", sasl_password=password) as (client, model, server):
        await server.expect("USER")
        await server.send(":s CAP * LS * :server-time sasl=PLAIN,EXTERNAL", ":s CAP * LS :echo-message")
        req = await server.expect("CAP")
        assert req.params == ("REQ", "server-time echo-message sasl")
        await server.send(":s CAP alice ACK :server-time echo-message sasl")
        assert (await server.recv()) == Message("AUTHENTICATE", ("PLAIN",))
        await server.send("AUTHENTICATE +")
        chunks = [(await server.recv()).params[0] for _ in range(3)]
        assert [len(c) for c in chunks] == [400, 400, 1] and chunks[-1] == "+"
        assert base64.b64decode("".join(chunks[:2])) == f"alice\0alice\0{password}".encode()
        await server.send(
            ":s 900 alice alice!a@h alice :You are now logged in as alice",
            ":s 903 alice :SASL authentication successful",
        )
        assert (await server.recv()) == Message("CAP", ("END",))
        await server.send(":s 001 alice :Welcome")
        await wait_until(model, lambda: client.connected)
        assert model.account == "alice"
        assert "Logged in as alice" in texts(model, model.server)
        assert not any(password in text for text in everything_shown(model))


# -- /register and /identify --------------------------------------------------------------------------------------


def test_register_and_identify_commands() -> None:
    ctx = InputContext("alice", "#lobby")
    assert parse_input("/register hunter22", ctx) == [Register("hunter22")]
    assert parse_input("/register a@example.org hunter22", ctx) == [Register("hunter22", email="a@example.org")]
    assert parse_input("/identify hunter22", ctx) == [Identify("hunter22")]
    assert parse_input("/identify alice hunter22", ctx) == [Identify("hunter22", account="alice")]
    assert parse_input("/login hunter22", ctx) == [Identify("hunter22")]
    for bad in ("/register", "/register one two three", "/identify", "/identify a b c", "/register alice hunter22"):
        [error] = parse_input(bad, ctx)
        assert isinstance(error, ShowError) and "hunter22" not in error.text
    assert "hunter22" not in repr(Register("hunter22", email="a@b")) + repr(Identify("hunter22", "alice"))


def test_passwords_are_recognised_and_masked() -> None:
    lobby, ns = InputContext("alice", "#lobby"), InputContext("alice", "NickServ")
    secret = [
        "/register hunter22",
        "/identify alice hunter22",
        "/login hunter22",
        "/msg NickServ IDENTIFY hunter22",
        "/msg nickserv register hunter22",
        "/query NickServ PASSWD old new",
        "/quote PRIVMSG NickServ :IDENTIFY alice hunter22",
        "/quote NS IDENTIFY hunter22",
        "/quote PASS hunter22",
        "/quote AUTHENTICATE abc",
    ]
    for text in secret:
        assert is_secret(text, lobby), text
    assert is_secret("IDENTIFY hunter22", ns), "typed in a query with NickServ"
    for text in ("hello", "/msg bob IDENTIFY x", "/msg NickServ INFO", "/quote PRIVMSG #a :hi", "IDENTIFY x"):
        assert not is_secret(text, lobby), text
    assert mask_service_text("IDENTIFY alice hunter22") == "IDENTIFY alice ********"
    assert mask_service_text("identify hunter22") == "identify ********"
    assert mask_service_text("REGISTER hunter22 a@b.c") == "REGISTER ********"
    assert mask_service_text("SET PASSWORD hunter22") == "SET PASSWORD ********"
    assert mask_service_text("GHOST alice") is None and mask_service_text("INFO alice") is None
    assert secret_start("/register a@b pw") == len("/register ")
    assert secret_start("/REGISTER") is None and secret_start("/msg x") is None and secret_start("hi") is None


def test_the_input_line_shows_a_password_as_stars() -> None:
    def shown(text: str) -> str:
        fragments: StyleAndTextTuples = [("", text[:5]), ("class:x", text[5:])]
        given = TransformationInput(cast(Any, None), Document(text), 0, lambda i: i, fragments, 80, 1)
        return "".join(t for _style, t, *_ in MaskSecret().apply_transformation(given).fragments)

    assert shown("/identify alice hunter22") == "/identify ***** ********"
    assert shown("/register pw") == "/register **"
    assert shown("/msg bob hi") == "/msg bob hi"


def test_secret_lines_are_not_kept_in_the_input_history() -> None:
    async def main() -> None:
        model = chat_model()
        client = FakeClient()
        with pipe_session() as pipe:
            ui = ChatUI(model, client)
            async with running(ui):
                for line in ("hello", "/register hunter22", "/identify alice hunter22", "/msg NickServ ID pw2"):
                    pipe.send_text(line + "\r")
                await until(lambda: len(client.submitted) == 4, "four lines")
                assert model.history.entries == ["hello"]
                pipe.send_text("\x1b[A")  # Up brings back the last line that may be remembered
                await until(lambda: ui.input_buffer.text == "hello", "history")

    asyncio.run(main())


async def test_register_with_account_registration_and_the_password_is_nowhere() -> None:
    async with network(ACCOUNTS) as net:
        client, model = await net.start_client("carol")
        await wait_until(model, joined(model, "#lobby"))
        client.submit("/register carol@example.org hunter22")
        await wait_until(model, has_line(model, "server", "Account carol registered"))
        await wait_until(model, lambda: model.account == "carol")
        assert "Registering the account carol…" in texts(model, model.current), "what is happening, where you are"
        assert "Account carol registered" in texts(model, model.current)
        assert server_account(net, "carol") == "carol"
        assert model.current.members["carol"].account == "carol"
        client.submit("/register hunter22")
        assert "You are already logged in as carol" in texts(model)
        assert not any("hunter22" in text for text in everything_shown(model))
        assert model.find("NickServ") is None
        client.quit()

    async with network(ACCOUNTS) as net:
        await register_account(net, "dave")
        client, model = await net.start_client("dave_")
        await wait_until(model, joined(model, "#lobby"))
        client.submit("/nick dave")
        await wait_until(model, lambda: model.nick == "dave")
        client.submit("/register hunter22")
        await wait_until(model, has_line(model, "server", "Registration failed"))
        failure = next(line for line in model.server.lines if "Registration failed" in line_text(line))
        assert failure.kind is LineKind.ERROR and "ACCOUNT_EXISTS" in line_text(failure)
        client.quit()


async def test_register_through_nickserv_when_the_server_has_no_account_registration() -> None:
    async with scripted("erin") as (client, model, server):
        await server.expect("USER")
        await server.send(":s CAP * LS :echo-message server-time")
        await server.expect("CAP")
        await server.send(":s CAP erin ACK :echo-message server-time", ":s 001 erin :Welcome")
        await wait_until(model, lambda: client.connected)
        client.submit("/register erin@example.org hunter22")
        sent = await server.expect("PRIVMSG")
        assert sent.params == ("NickServ", "REGISTER hunter22 erin@example.org")
        await server.send(
            ":erin!e@h PRIVMSG NickServ :REGISTER hunter22 erin@example.org",  # the echo: not shown
            ":NickServ!NickServ@services. NOTICE erin :Account created",
            ":s 900 erin erin!e@h erin :You are now logged in as erin",
        )
        await wait_until(model, lambda: model.account == "erin")
        assert "Account created" in texts(model, model.server)
        assert "You are now logged in as erin" in texts(model, model.server)
        assert model.find("NickServ") is None
        assert not any("hunter22" in text for text in everything_shown(model))
        # Typed by hand, the message to NickServ is shown, its password masked.
        client.submit("/msg NickServ IDENTIFY erin hunter22")
        assert (await server.expect("PRIVMSG")).params == ("NickServ", "IDENTIFY erin hunter22")
        await server.send(":erin!e@h PRIVMSG NickServ :IDENTIFY erin hunter22")
        await wait_until(model, has_line(model, "NickServ", "IDENTIFY erin ********"))
        assert not any("hunter22" in text for text in everything_shown(model))


async def test_identify_through_nickserv() -> None:
    async with network(ACCOUNTS) as net:
        await register_account(net, "alice")
        client, model = await net.start_client("alice")
        await wait_until(model, joined(model, "#lobby"))
        client.submit("/identify wrong-one")
        await wait_until(model, has_line(model, "server", "Authentication failed"))
        assert model.account is None
        client.submit("/identify alice sesame12")
        await wait_until(model, lambda: model.account == "alice")
        await wait_until(model, has_line(model, "#lobby", "You're now logged in as alice"))
        assert "You're now logged in as alice" in texts(model, model.server), "NickServ answers in the server buffer"
        assert server_account(net, "alice") == "alice"
        assert model.find("NickServ") is None, "the echo of the IDENTIFY is not shown"
        assert not any(PASSWORD in text or "wrong-one" in text for text in everything_shown(model))
        client.quit()


def test_full_stack_register_leaves_no_password_on_screen_or_in_history() -> None:
    server = Server(ACCOUNTS, clock=lambda: 1_700_000_000.0)
    model = ChatModel("alice")
    nursery_box: list[trio.Nursery] = []

    async def open_stream() -> trio.abc.Stream:
        client_end, server_end = trio.testing.memory_stream_pair()
        nursery_box[0].start_soon(server.handle_connection, server_end)
        return client_end

    client = ChatClient(ClientConfig("alice"), model, open_stream=open_stream)

    async def trio_main() -> None:
        async with trio.open_nursery() as nursery:
            nursery_box.append(nursery)
            await nursery.start(server.run_services)
            await client.run()
            nursery.cancel_scope.cancel()

    async def main() -> int:
        from trio_chat.ui.app import run_with_guest

        with pipe_session() as pipe:
            ui = ChatUI(model, client)
            session = asyncio.ensure_future(run_with_guest(ui, trio_main, client.cancel))
            await until(joined(model, "#lobby"), "joining #lobby")
            pipe.send_text("/register hunter22\r")
            await until(lambda: model.account == "alice", "the account")
            assert model.history.entries == []
            assert not any("hunter22" in text for text in everything_shown(model))
            pipe.send_text("/quit\r")
            return await session

    assert asyncio.run(main()) == 0
    assert "alice" in server.network.accounts


# -- who is logged in as what ---------------------------------------------------------------------------------------


async def test_accounts_are_shown_in_the_nick_list_joins_whois_and_changes() -> None:
    async with network(ACCOUNTS) as net:
        await register_account(net, "alice")
        await register_account(net, "carol")
        early = await net.raw_client("early")
        await early.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}", "JOIN #lobby")
        await early.expect(" 366 ")
        bob, model = await net.start_client("bob")
        await wait_until(model, joined(model, "#lobby"))
        lobby = model.find("#lobby")
        assert lobby is not None and {"account-notify", "account-tag", "extended-join"} <= bob.caps
        assert lobby.members["early"].account is None, "NAMES does not say"
        await early.send("PRIVMSG #lobby :hi all")
        await wait_until(model, lambda: lobby.members["early"].account == "early")  # account-tag

        alice, amodel = await net.start_client("alice", sasl_account="alice", sasl_password=PASSWORD)
        await wait_until(model, lambda: lobby.has_member("alice"))
        assert lobby.members["alice"].account == "alice"  # extended-join
        assert any(
            t.startswith("alice (~alice@") and t.endswith(", account alice) joined #lobby") for t in lobby_texts(model)
        )
        assert amodel.find("#lobby").members["alice"].account == "alice"  # type: ignore[union-attr]

        carol = await net.raw_client("carol")
        await carol.send("JOIN #lobby")
        await carol.expect(" 366 ")
        await wait_until(model, lambda: lobby.has_member("carol"))
        assert lobby.members["carol"].account is None
        await carol.send(f"PRIVMSG NickServ :IDENTIFY {PASSWORD}")
        await wait_until(model, has_line(model, "#lobby", "carol is now logged in as carol"))  # account-notify
        assert lobby.members["carol"].account == "carol"
        line = next(line for line in lobby.lines if line_text(line) == "carol is now logged in as carol")
        assert line.kind is LineKind.ACCOUNT
        await wait_until(amodel, has_line(amodel, "#lobby", "carol is now logged in as carol"))

        bob.submit("/whois alice")
        await wait_until(model, has_line(model, "#lobby", "alice is logged in as alice"))  # 330

        await carol.send(f"PRIVMSG NickServ :DROP {PASSWORD}")
        await wait_until(model, has_line(model, "#lobby", "carol is now logged out"))
        assert lobby.members["carol"].account is None
        assert nicklist_entry(lobby.members["alice"]) == " alice ✓"
        assert nicklist_entry(lobby.members["carol"]) == " carol"
        alice.quit()
        bob.quit()


def lobby_texts(model: ChatModel) -> list[str]:
    return texts(model, model.find("#lobby"))


def test_nick_list_and_status_marks() -> None:
    assert nicklist_entry(Member("alice", "@", account="alice")) == "@alice ✓"
    assert nicklist_entry(Member("bob", "", account="robert")) == " bob ✓robert"
    assert nicklist_entry(Member("carol")) == " carol"
    long = nicklist_entry(Member("averyveryverylongnick", "+", account="x"))
    assert long.endswith(" ✓") and len(long) == 18
    model = ChatModel("alice")
    model.account = "alice"
    model.away = True
    assert status_fragments(model)[0][1] == " [alice ✓ (away)] "


# -- the command line -----------------------------------------------------------------------------------------------


def test_sasl_option_takes_no_password_and_defaults_to_the_nick() -> None:
    parser = argparse.ArgumentParser()
    add_join_arguments(parser)
    args = parser.parse_args(["alice", "--sasl"])
    config = config_from_args(args, sasl_password="hunter22")
    assert (config.sasl_account, config.sasl_password) == ("alice", "hunter22")
    assert "hunter22" not in repr(config)
    named = config_from_args(parser.parse_args(["alice", "--sasl", "alicia"]), sasl_password="pw")
    assert named.sasl_account == "alicia"
    assert config_from_args(parser.parse_args(["alice"])).sasl_account is None
    with pytest.raises(UsageError):
        config_from_args(args)  # --sasl with no password
    with pytest.raises(SystemExit):
        parser.parse_args(["alice", "--sasl", "alice", "hunter22"])  # no place for a password on the command line


def test_password_from_the_environment_or_asked_for() -> None:
    asked: list[str] = []

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return "typed-pw"

    assert read_password("alice", environ={PASSWORD_ENV: "env-pw"}, ask=ask) == "env-pw"
    assert asked == []
    assert read_password("alice", environ={}, ask=ask) == "typed-pw"
    assert asked == ["Password for account alice: "]
    with pytest.raises(UsageError, match="empty password"):
        read_password("alice", environ={}, ask=lambda _p: "")

    def interrupted(_prompt: str) -> str:
        raise KeyboardInterrupt

    with pytest.raises(UsageError, match="no password"):
        read_password("alice", environ={}, ask=interrupted)


def test_no_terminal_exits_2_before_asking_for_a_password(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_join_arguments(parser)
    assert run_client(parser.parse_args(["alice", "--sasl"])) == 2
    assert "not a terminal" in capsys.readouterr().err
