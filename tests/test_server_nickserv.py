"""NickServ: REGISTER, IDENTIFY, DROP, INFO, CERT, PASSWD, GHOST, REGAIN, HELP, with ergo's wording, and each
refusal's NOTICE.  In process, with a tiny scrypt cost."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.helpers import FAST, InProcessNetwork, drain, running_server
from tests.ircclient import IRCClient

ACCOUNTS = replace(FAST, password_hash_cost=4)
FP = "ab" * 32


async def ns_all(client: IRCClient, text: str) -> list[str]:
    """Send ``text`` to NickServ; the texts of all its NOTICEs back (the notice that a nick taken earlier is
    registered, tested in test_server_accounts.py, is skipped)."""
    await client.send(f"PRIVMSG NickServ :{text}", "PING :ns-sync")
    lines = await client.collect_until(r" PONG \S+ :?ns-sync$")
    return [
        m.params[1]
        for m in lines
        if m.source == "NickServ!NickServ@services."
        and m.command == "NOTICE"
        and not m.params[1].startswith("This nickname is registered")
    ]


async def ns(client: IRCClient, text: str) -> str:
    """Send ``text`` to NickServ; the text of its first NOTICE back."""
    return (await ns_all(client, text))[0]


async def registered(net: InProcessNetwork, nick: str = "alice", password: str = "sesame12") -> IRCClient:
    client = await net.client(nick)
    assert await ns(client, f"REGISTER {password}") == "Account created"
    return client


async def test_register_creates_the_account_and_logs_in() -> None:
    async with running_server(ACCOUNTS) as net:
        alice = await net.client("alice")
        await alice.send("PRIVMSG NickServ :REGISTER sesame12")
        await alice.expect_next(r"^:NickServ!NickServ@services\. NOTICE alice :Account created$")
        await alice.expect_next(r"NOTICE alice :You're now logged in as alice$")
        await alice.expect_next(r" 900 alice \S+ alice ")
        record = net.server.network.find_account("ALICE")
        assert record is not None and record.name == "alice"
        assert record.password_hash.startswith("scrypt$4$") and "sesame12" not in record.password_hash
        assert net.server.store.load_accounts() == [record]
        assert await ns(alice, "REGISTER another1") == "You're already logged into an account"


async def test_register_refusals() -> None:
    async with running_server(ACCOUNTS) as net:
        alice = await registered(net)
        await alice.send("QUIT")
        await alice.expect_closed()
        bob = await net.client("bob")
        assert await ns(bob, "REGISTER") == "Syntax: REGISTER <password>"
        assert await ns(bob, "REGISTER abc") == "Passwords must be at least 6 characters long"
        assert await ns(bob, "REGISTER " + "x" * 301) == "Passwords must be at most 300 bytes long"
        await bob.send("NICK alice")
        await bob.expect(r" NICK :?alice")
        assert (await ns(bob, "REGISTER sesame12")) == "Account already exists"


async def test_identify_with_and_without_an_account_name() -> None:
    async with running_server(ACCOUNTS) as net:
        alice = await registered(net)
        await alice.send("QUIT")
        await alice.expect_closed()
        again = await net.client("alice")
        assert (await ns(again, "IDENTIFY sesame12")) == "You're now logged in as alice"
        other = await net.client("other")
        assert await ns(other, "IDENTIFY alice sesame12") == "You're now logged in as alice"
        assert await ns(other, "IDENTIFY alice sesame12") == "You're already logged into an account"
        assert net.server.network.find_user("other").account == "alice"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("line", "answer"),
    [
        ("IDENTIFY alice wrongpass", "Authentication failed: Invalid account credentials"),
        ("IDENTIFY nobody sesame12", "Authentication failed: Account does not exist"),
        ("IDENTIFY", "Syntax: IDENTIFY [account] <password>"),
        ("FROB", "Unknown command. To see the available commands, run: /NS HELP"),
    ],
)
async def test_identify_refusals(line: str, answer: str) -> None:
    async with running_server(ACCOUNTS) as net:
        await registered(net)
        bob = await net.client("bob")
        assert await ns(bob, line) == answer
        assert net.server.network.find_user("bob").account is None  # type: ignore[union-attr]


async def test_the_ns_command_is_nickserv() -> None:
    async with running_server(ACCOUNTS) as net:
        alice = await net.client("alice")
        await alice.send("NS REGISTER sesame12")
        await alice.expect("NOTICE alice :Account created")
        await alice.send("NICKSERV INFO")
        assert (await alice.expect("NOTICE alice :Account")).params[1] == "Account: alice"


async def test_nickserv_cannot_be_taken_or_messaged_as_a_user() -> None:
    async with running_server(ACCOUNTS) as net:
        bob = await net.client("bob")
        await bob.send("NICK NickServ")
        await bob.expect_next(r" 433 bob NickServ ")
        await bob.send("NOTICE NickServ :hello")  # no answer to a NOTICE
        assert await drain(bob) == []


async def test_drop_own_account_only_with_the_password() -> None:
    async with running_server(ACCOUNTS) as net:
        await registered(net, "bob", "bobsecret")
        alice = await registered(net)
        assert await ns(alice, "DROP bob bobsecret") == "You can only drop your own account"
        assert net.server.network.find_account("bob") is not None
        assert await ns(alice, "DROP wrongpass") == "Password incorrect"
        assert await ns(alice, "DROP") == "Syntax: DROP <password>"
        await alice.send("PRIVMSG NickServ :DROP alice sesame12")
        await alice.expect_next(r" 901 alice \S+ :You are now logged out")
        await alice.expect_next("NOTICE alice :Successfully unregistered account alice")
        assert net.server.network.find_account("alice") is None
        assert [a.name for a in net.server.store.load_accounts()] == ["bob"]
        carol = await net.client("carol")
        assert await ns(carol, "DROP sesame12") == "You're not logged into an account"


async def test_info() -> None:
    async with running_server(ACCOUNTS) as net:
        alice = await registered(net)
        assert await ns_all(alice, "INFO") == [
            "Account: alice",
            "Registered at: Tue, 14 Nov 2023 22:13:20 GMT",
            "Certificate fingerprints: 0",
        ]
        bob = await net.client("bob")
        assert await ns(bob, "INFO ALICE") == "Account: alice"
        assert await ns(bob, "INFO nobody") == "Account does not exist"
        assert await ns(bob, "INFO") == "You're not logged into an account"


async def test_cert_add_list_del() -> None:
    async with running_server(ACCOUNTS) as net:
        alice = await registered(net)
        assert await ns(alice, "CERT ADD") == "You must be connected with TLS and a client certificate to do this"
        assert await ns(alice, "CERT ADD nothex") == "Invalid certificate fingerprint"
        colons = ":".join(["AB"] * 32)
        assert await ns(alice, f"CERT ADD {colons}") == "Certificate fingerprint successfully added"
        assert await ns(alice, f"CERT ADD {FP}") == "That certificate fingerprint was already authorized"
        user = net.server.network.find_user("alice")
        assert user is not None
        user.certfp = "cd" * 32  # as if connected with that certificate
        assert await ns(alice, "CERT ADD") == "Certificate fingerprint successfully added"
        assert await ns_all(alice, "CERT LIST") == [
            "There are 2 certificate fingerprint(s) authorized for account alice.",
            f"- {FP}",
            "- " + "cd" * 32,
        ]
        assert await ns(alice, "CERT DEL " + "ef" * 32) == "Certificate fingerprint not found"
        assert await ns(alice, f"CERT DEL {FP}") == "Certificate fingerprint successfully removed"
        assert await ns(alice, "CERT FROB") == "Invalid parameters"
        assert net.server.store.load_accounts()[0].certfps == ("cd" * 32,)
        bob = await registered(net, "bob")
        assert (
            await ns(bob, "CERT ADD " + "cd" * 32)
            == "That certificate fingerprint is already associated with another account"
        )
        # IDENTIFY <account> with the certificate needs no password.
        carol = await net.client("carol")
        carol_user = net.server.network.find_user("carol")
        assert carol_user is not None
        carol_user.certfp = "cd" * 32
        assert await ns(carol, "IDENTIFY alice") == "You're now logged in as alice"


async def test_passwd() -> None:
    async with running_server(ACCOUNTS) as net:
        alice = await registered(net)
        assert await ns(alice, "PASSWD wrongpass newsecret") == "Password incorrect"
        assert await ns(alice, "PASSWD sesame12 abc") == "Passwords must be at least 6 characters long"
        assert await ns(alice, "PASSWD sesame12") == "Syntax: PASSWD <old password> <new password>"
        assert await ns(alice, "PASSWD sesame12 newsecret") == "Password changed"
        bob = await net.client("bob")
        assert await ns(bob, "IDENTIFY alice sesame12") == "Authentication failed: Invalid account credentials"
        assert await ns(bob, "IDENTIFY alice newsecret") == "You're now logged in as alice"


async def test_ghost_and_regain() -> None:
    async with running_server(ACCOUNTS) as net:
        alice = await registered(net)
        await alice.send("QUIT")
        await alice.expect_closed()
        squatter = await net.client("alice")
        owner = await net.client("owner")
        assert await ns(owner, "GHOST alice") == "You don't own that nick"
        assert await ns(owner, "IDENTIFY alice sesame12") == "You're now logged in as alice"
        assert await ns(owner, "GHOST nobody") == "No such nick"
        assert await ns(owner, "GHOST owner") == "You can't GHOST yourself (try /QUIT instead)"
        assert await ns(owner, "GHOST alice") == "alice has been ghosted"
        assert (await squatter.expect_closed())[-1].params == ("GHOSTed by owner",)
        squatter = await net.client("alice")
        await owner.send("PRIVMSG NickServ :REGAIN alice")
        await owner.expect(r"^:owner!\S+ NICK :?alice$")
        await squatter.expect_closed()
        assert net.server.network.find_user("alice").account == "alice"  # type: ignore[union-attr]


async def test_help() -> None:
    async with running_server(ACCOUNTS) as net:
        alice = await net.client("alice")
        lines = await ns_all(alice, "HELP")
        assert any("REGISTER <password>" in line for line in lines)
        assert await ns(alice, "HELP cert") == "Syntax: CERT LIST | CERT ADD [fingerprint] | CERT DEL <fingerprint>"
        assert (await ns(alice, "HELP frob")).startswith("Unknown command")
