"""SASL: the ``sasl`` capability, AUTHENTICATE PLAIN (chunked) and EXTERNAL (TLS client certificates), and
every refusal's numeric (904-908).

In process with a tiny scrypt cost (hashes inline, see handlers/accounts.py); EXTERNAL over a real TLS listener.
"""

from __future__ import annotations

import base64
import ssl
from dataclasses import replace
from pathlib import Path

import pytest
import trio
import trustme

from tests.helpers import FAST, running_server
from tests.ircclient import IRCClient
from trio_chat.server.app import Server, listener_port, serve
from trio_chat.server.config import ServerConfig

ACCOUNTS = replace(FAST, password_hash_cost=4)


def plain(authcid: str, password: str, authzid: str = "") -> str:
    return base64.b64encode(f"{authzid}\0{authcid}\0{password}".encode()).decode()


async def _registered_account(net: object, nick: str = "alice", password: str = "sesame12") -> None:
    """Register ``nick`` through NickServ on a connection of its own, then leave."""
    from tests.helpers import InProcessNetwork

    assert isinstance(net, InProcessNetwork)
    owner = await net.client(nick)
    await owner.send(f"PRIVMSG NickServ :REGISTER {password}")
    await owner.expect(r"NOTICE \S+ :Account created")
    await owner.send("QUIT")
    await owner.expect_closed()


async def _start_sasl(client: IRCClient, mechanism: str = "PLAIN") -> None:
    await client.send("CAP LS 302", "CAP REQ :sasl")
    await client.expect(r" CAP \* ACK :?sasl")
    await client.send(f"AUTHENTICATE {mechanism}")
    await client.expect_next(r"^:\S+ AUTHENTICATE \+$")


async def test_the_capability_lists_the_mechanisms() -> None:
    async with running_server(ACCOUNTS) as net:
        client = await net.connect()
        await client.send("CAP LS 302")
        ls = await client.expect(r" CAP \* LS ")
        tokens = ls.params[-1].split()
        assert "sasl=PLAIN,EXTERNAL" in tokens
        assert "draft/account-registration=before-connect" in tokens
        assert {"account-tag", "account-notify"} <= set(tokens)
        await client.send("CAP LS 301")
        assert "sasl" in (await client.expect(r" CAP \* LS ")).params[-1].split()


async def test_plain_before_registration_logs_in_and_registration_follows() -> None:
    async with running_server(ACCOUNTS) as net:
        await _registered_account(net)
        client = await net.connect()
        await _start_sasl(client)
        await client.send("NICK alice", "USER alice 0 * :Alice")
        await client.send(f"AUTHENTICATE {plain('alice', 'sesame12')}")
        logged = await client.expect_next(r" 900 ")
        assert logged.params[2:] == ("alice", "You are now logged in as alice")
        await client.expect_next(r" 903 \S+ :SASL authentication successful")
        await client.send("CAP END")
        await client.expect(r" 001 alice ")
        await client.expect(r" (376|422) ")
        await client.send("WHOIS alice")
        assert (await client.expect(r" 330 ")).params[1:3] == ("alice", "alice")
        user = net.server.network.find_user("alice")
        assert user is not None and user.account == "alice"


async def test_plain_after_registration_and_a_second_attempt_is_refused() -> None:
    async with running_server(ACCOUNTS) as net:
        await _registered_account(net)
        client = await net.client("someone")
        await client.send("AUTHENTICATE PLAIN")
        await client.expect_next(r"AUTHENTICATE \+")
        await client.send(f"AUTHENTICATE {plain('ALICE', 'sesame12', authzid='alice')}")
        await client.expect_next(r" 900 someone someone!\S+ alice ")
        await client.expect_next(r" 903 ")
        await client.send("AUTHENTICATE PLAIN")
        await client.expect_next(r" 907 someone :You have already authenticated using SASL")


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (plain("alice", "wrong-password"), "wrong password"),
        (plain("nobody", "sesame12"), "unknown account"),
        (plain("alice", "sesame12", authzid="bob"), "authzid is someone else"),
        (base64.b64encode(b"alice\0sesame12").decode(), "two fields"),
        ("not base64!", "malformed base64"),
        (base64.b64encode(b"\0alice\0\xff\xfe").decode(), "not UTF-8"),
        ("+", "empty"),
    ],
)
async def test_plain_failures_answer_904(payload: str, why: str) -> None:
    async with running_server(ACCOUNTS) as net:
        await _registered_account(net)
        client = await net.connect()
        await _start_sasl(client)
        await client.send(f"AUTHENTICATE {payload}")
        await client.expect_next(r" 904 \* :SASL authentication failed"), why
        # The exchange is over: a new one can start.
        await client.send("AUTHENTICATE PLAIN")
        await client.expect_next(r"AUTHENTICATE \+")


async def test_an_unknown_mechanism_lists_the_mechanisms() -> None:
    async with running_server(ACCOUNTS) as net:
        client = await net.connect()
        await client.send("AUTHENTICATE SCRAM-SHA-256")
        await client.expect_next(r" 908 \* PLAIN,EXTERNAL :are available SASL mechanisms")
        await client.expect_next(r" 904 ")


async def test_external_without_a_certificate_fails() -> None:
    async with running_server(ACCOUNTS) as net:
        client = await net.connect()
        await client.send("AUTHENTICATE EXTERNAL")
        await client.expect_next(r" 904 ")


async def test_abort_and_missing_parameter() -> None:
    async with running_server(ACCOUNTS) as net:
        client = await net.connect()
        await _start_sasl(client)
        await client.send("AUTHENTICATE *")
        await client.expect_next(r" 906 \* :SASL authentication aborted")
        await client.send("AUTHENTICATE")
        await client.expect_next(r" 461 \* AUTHENTICATE ")


async def test_a_payload_in_400_byte_chunks_ends_with_a_plus() -> None:
    password = "p" * 400
    payload = plain("alice", password)
    assert len(payload) > 400
    async with running_server(replace(ACCOUNTS, password_max_length=500)) as net:
        await _registered_account(net, password=password)
        client = await net.connect()
        await _start_sasl(client)
        chunks = [payload[i : i + 400] for i in range(0, len(payload), 400)]
        if len(chunks[-1]) == 400:
            chunks.append("+")
        for chunk in chunks[:-1]:
            await client.send(f"AUTHENTICATE {chunk}")
        await client.send(f"AUTHENTICATE {chunks[-1]}")
        await client.expect_next(r" 900 ")
        await client.expect_next(r" 903 ")

        # Exactly 400 characters needs the "+" to end it.
        other = await net.connect()
        await _start_sasl(other)
        exact = base64.b64encode(b"\0alice\0" + b"x" * 293).decode()
        assert len(exact) == 400
        await other.send(f"AUTHENTICATE {exact}")
        await other.send("AUTHENTICATE +")
        await other.expect_next(r" 904 ")


async def test_a_too_long_chunk_answers_905_and_an_endless_exchange_904() -> None:
    async with running_server(ACCOUNTS) as net:
        client = await net.connect()
        await _start_sasl(client)
        await client.send("AUTHENTICATE " + "A" * 401)
        await client.expect_next(r" 905 \* :SASL message too long")
        await _start_sasl(client)
        for _ in range(21):
            await client.send("AUTHENTICATE " + "A" * 400)
        await client.expect(r" 904 \* :SASL authentication failed")


async def test_the_password_never_reaches_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    async with running_server(ACCOUNTS) as net:
        await _registered_account(net, password="hunter2-secret")
        client = await net.connect()
        await _start_sasl(client)
        await client.send(f"AUTHENTICATE {plain('alice', 'hunter2-wrong')}")
        await client.expect_next(r" 904 ")
    assert "failed login to account alice" in caplog.text
    assert "hunter2" not in caplog.text


# ---- EXTERNAL over TLS ---------------------------------------------------------------------------------------


async def test_external_logs_in_with_a_certificate_added_to_the_account(tmp_path: Path) -> None:
    ca = trustme.CA()
    server_cert = ca.issue_cert("localhost", "127.0.0.1")
    cert_path, key_path, ca_path = tmp_path / "server.pem", tmp_path / "server.key", tmp_path / "ca.pem"
    server_cert.private_key_and_cert_chain_pem.write_to_path(str(cert_path))
    server_cert.private_key_pem.write_to_path(str(key_path))
    ca.cert_pem.write_to_path(str(ca_path))
    client_cert = ca.issue_cert("alice@example.org")
    config = ServerConfig(
        db=":memory:",
        port=0,
        tls_port=0,
        tls_cert=str(cert_path),
        tls_key=str(key_path),
        tls_client_ca=str(ca_path),
        flood_rate=0.0,
        password_hash_cost=4,
    )

    def context(with_cert: bool) -> ssl.SSLContext:
        ctx = ssl.create_default_context()
        ca.configure_trust(ctx)
        if with_cert:
            client_cert.configure_cert(ctx)
        return ctx

    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(serve, config)
        port = dict(listener_port(listener) for listener in server.listeners)["tls"]

        async def connect(with_cert: bool) -> IRCClient:
            stream = await trio.open_ssl_over_tcp_stream(
                "127.0.0.1", port, ssl_context=context(with_cert), https_compatible=False
            )
            return IRCClient(stream)

        alice = await connect(with_cert=True)
        await alice.register("alice")
        await alice.send("PRIVMSG NickServ :REGISTER sesame12")
        await alice.expect("Account created")
        await alice.send("PRIVMSG NickServ :CERT ADD")
        await alice.expect("Certificate fingerprint successfully added")
        await alice.send("QUIT")
        await alice.expect_closed()

        again = await connect(with_cert=True)
        await again.send("CAP LS 302", "CAP REQ sasl", "NICK alice", "USER a 0 * :A", "AUTHENTICATE EXTERNAL")
        await again.expect(r"AUTHENTICATE \+")
        await again.send("AUTHENTICATE +")
        await again.expect(r" 900 \S+ \S+ alice ")
        await again.expect(r" 903 ")
        await again.send("CAP END")
        await again.expect(" 001 alice ")

        # Without a certificate (requested, not required: the handshake succeeds) EXTERNAL fails.
        anonymous = await connect(with_cert=False)
        await anonymous.send("AUTHENTICATE EXTERNAL")
        await anonymous.expect(r" 904 ")
        server.shutdown()
        for client in (alice, again, anonymous):
            await client.stream.aclose()
