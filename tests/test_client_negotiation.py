"""Registering one connection without I/O (trio_chat/client/negotiation.py): CAP, SASL PLAIN, nick collisions
and refusals, fed server lines directly; what the client would send is kept in a list."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from trio_chat.client import events as ev
from trio_chat.client.config import ClientConfig
from trio_chat.client.model import ChatModel, LineKind
from trio_chat.client.negotiation import NEGOTIATION_HANDLERS, Negotiation, sasl_plain_lines
from trio_chat.client.translate import LinkState, Translator
from trio_chat.protocol import Message, parse_line

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class Registration:
    def __init__(self, **config: Any) -> None:
        self.model = ChatModel("alice")
        self.sent: list[str] = []
        self.translator = Translator(self.model, self.send, now=lambda: NOW, clock=lambda: 0.0, nick="alice")
        self.state = LinkState()
        self.translator.link = self.state
        self.n = Negotiation(ClientConfig("alice", **config), self.state, self.translator, self.send)

    def send(self, message: Message) -> bool:
        self.sent.append(message.to_line())
        return True

    def feed(self, *lines: str) -> None:
        for line in lines:
            message = parse_line(line.encode())
            NEGOTIATION_HANDLERS[message.command.upper()](self.n, message)

    def said(self) -> list[ev.Event | None]:
        return [line.event for line in self.model.server.lines]


def test_only_offered_capabilities_are_asked_for_and_cap_end_follows_the_answer() -> None:
    r = Registration()
    r.feed(":s CAP * LS * :server-time multi-prefix sasl=PLAIN", ":s CAP * LS :batch unknown-cap echo-message")
    assert r.sent == ["CAP REQ :server-time echo-message multi-prefix batch"], "one request, after the last LS line"
    r.feed(":s CAP alice ACK :server-time echo-message multi-prefix batch")
    assert r.state.caps == {"server-time", "echo-message", "multi-prefix", "batch"}
    assert r.sent[-1] == "CAP END" and r.n.ended
    r.feed(":s CAP alice NEW :account-notify", ":s CAP alice DEL :batch")
    assert r.sent[-1] == "CAP REQ account-notify", "cap-notify: new ones are asked for"
    assert "batch" not in r.state.caps
    assert r.sent.count("CAP END") == 1


def test_a_sasl_login_holds_registration_until_it_succeeds() -> None:
    r = Registration(sasl_account="alice", sasl_password="p" * 300)
    r.feed(":s CAP * LS :sasl=PLAIN,EXTERNAL server-time")
    assert r.sent == ["CAP REQ :server-time sasl"]
    r.feed(":s CAP alice ACK :server-time sasl")
    assert r.sent[-1] == "AUTHENTICATE PLAIN" and "CAP END" not in r.sent
    r.feed("AUTHENTICATE +")
    assert r.sent[2:] == [f"AUTHENTICATE {chunk}" for chunk in sasl_plain_lines("alice", "p" * 300)]
    assert "CAP END" not in r.sent, "not registered before the login is done"
    r.feed(":s 900 alice alice!a@h alice :You are now logged in as alice", ":s 903 alice :SASL successful")
    assert r.sent[-1] == "CAP END"
    assert r.model.account == "alice"
    assert r.said() == [ev.LoggedIn("alice", by_sasl=True)], "said once: by 903, not by 900 as well"
    assert r.n.fatal is None and not r.n.registered_too_early()


def test_a_refused_login_or_a_server_without_sasl_ends_the_connection() -> None:
    r = Registration(sasl_account="alice", sasl_password="wrong")
    r.feed(":s CAP * LS :sasl server-time", ":s CAP alice ACK :server-time sasl", "AUTHENTICATE +")
    r.feed(":s 904 alice :SASL authentication failed")
    assert r.n.fatal == (
        "Logging in as alice failed: wrong password, or no account alice (the server said: SASL authentication failed)"
    )
    assert "CAP END" not in r.sent

    r = Registration(sasl_account="alice", sasl_password="pw")
    r.feed(":s CAP * LS :server-time sasl=EXTERNAL")
    assert r.n.fatal == "127.0.0.1:6667 does not offer SASL PLAIN (only EXTERNAL); cannot log in"
    assert r.sent == []

    r = Registration(sasl_account="alice", sasl_password="pw")
    r.n.no_cap_support()
    assert r.n.fatal == (
        "127.0.0.1:6667 does not support capability negotiation, so --sasl cannot log in; not connecting without it"
    )


def test_a_taken_nick_is_answered_with_another_until_there_are_no_more() -> None:
    r = Registration(max_nick_attempts=5)
    for taken in ("alice", "alice_", "alice__", "alice___", "alice4"):
        r.feed(f":s 433 * {taken} :Nickname is already in use")
    assert r.sent == ["NICK alice_", "NICK alice__", "NICK alice___", "NICK alice4", "NICK alice5"]
    assert r.said()[:2] == [ev.NickInUse("alice", "alice_"), ev.NickInUse("alice_", "alice__")]
    assert all(line.kind is LineKind.ERROR for line in r.model.server.lines)
    assert r.n.fatal is None
    r.feed(":s 433 * alice5 :Nickname is already in use")
    assert r.n.fatal == "Every nick tried is in use (last: alice5); try another nick"


def test_once_registered_a_taken_nick_is_news_unless_it_was_the_quiet_retry() -> None:
    r = Registration()
    r.state.registered = True
    r.state.nick_retry = "alice"
    r.feed(":s 433 alice_ alice :Nickname is already in use")
    assert r.said() == [] and r.state.nick_retry is None, "asked again later, without a word"
    r.feed(":s 433 alice_ bob :Nickname is already in use")
    assert r.said() == [ev.NickInUse("bob")]
    assert r.sent == [] and r.n.fatal is None


def test_a_wrong_password_or_a_ban_ends_the_connection_with_the_reason() -> None:
    r = Registration(password="secret")
    r.feed(":s 464 * :Password incorrect")
    assert r.n.fatal == "Wrong password for 127.0.0.1:6667 (the server said: Password incorrect)"
    r = Registration()
    r.feed(":s 464 * :Password required")
    assert r.n.fatal == "127.0.0.1:6667 needs a password: use --password"
    r = Registration()
    r.feed(":s 465 * :You are banned")
    assert r.n.fatal == "You are banned from 127.0.0.1:6667: You are banned"
