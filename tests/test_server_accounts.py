"""Accounts: the store (memory and SQLite, the migration to schema version 2), persistence across a restart,
``REGISTER`` (draft/account-registration), nick ownership with its grace period, account visibility
(account-tag, account-notify, extended-join, WHOIS 330), the brute-force throttle, and operators tied to accounts.
"""

from __future__ import annotations

import base64
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
import trio
import trio.testing

from tests.helpers import FAST, drain, join, running_server
from tests.ircclient import IRCClient
from trio_chat.server.accounts import AccountRecord, LoginThrottle, normalize_certfp
from trio_chat.server.app import Server
from trio_chat.server.history import ChannelRecord, MemoryHistory
from trio_chat.server.passwords import hash_password, verify_password
from trio_chat.server.store.sqlite import MIGRATIONS, SCHEMA_VERSION, SQLiteHistory

ACCOUNTS = replace(FAST, password_hash_cost=4)
ALICE = AccountRecord("Alice", "alice", "scrypt$4$8$1$c2FsdA==$aGFzaA==", 1_700_000_000, ("ab" * 32,))


# ---- the store --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_the_store_saves_replaces_and_deletes_accounts(kind: str, tmp_path: Path) -> None:
    store = MemoryHistory() if kind == "memory" else SQLiteHistory.open(str(tmp_path / "a.db"))
    bob = AccountRecord("bob", "bob", "", 5)
    store.save_account(bob)
    store.save_account(ALICE)
    assert store.load_accounts() == [ALICE, bob]
    changed = replace(ALICE, certfps=())
    store.save_account(changed)
    store.delete_account("bob")
    store.delete_account("nobody")
    assert store.load_accounts() == [changed]
    store.close()


def test_a_version_1_file_is_migrated_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute(
        "INSERT INTO channels VALUES ('#old', '#Old', 1, 'a topic', 'x', 2, 'nt', NULL, NULL, '[]')",
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    assert SCHEMA_VERSION >= 2
    store = SQLiteHistory.open(str(path))
    assert store.load_channels() == [ChannelRecord("#Old", "#old", 1, "a topic", "x", 2, "nt")]
    assert store.load_accounts() == []
    store.save_account(ALICE)
    store.close()
    again = SQLiteHistory.open(str(path))
    assert again.load_accounts() == [ALICE]
    again.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_fingerprints_and_hashes() -> None:
    assert normalize_certfp(":".join(["AB"] * 32)) == "ab" * 32
    assert normalize_certfp("ab" * 31) is None
    stored = hash_password("correct horse", log2_n=4)
    assert stored.startswith("scrypt$4$") and verify_password("correct horse", stored)
    assert not verify_password("wrong", stored)
    with pytest.raises(ValueError):
        hash_password("x", log2_n=30)


def test_the_throttle_refuses_after_the_burst_and_refills() -> None:
    throttle = LoginThrottle(burst=2, rate=1.0)
    assert throttle.allowed("alice", "1.2.3.4", 0.0)
    throttle.failed("alice", "1.2.3.4", 0.0)
    throttle.failed("alice", "1.2.3.4", 0.0)
    assert not throttle.allowed("alice", "5.6.7.8", 0.0)  # per account
    assert not throttle.allowed("bob", "1.2.3.4", 0.0)  # per address
    assert throttle.allowed("bob", "5.6.7.8", 0.0)
    assert throttle.allowed("alice", "1.2.3.4", 1.0)


async def test_accounts_survive_a_restart(tmp_path: Path) -> None:
    config = replace(ACCOUNTS, db=str(tmp_path / "chat.db"))
    async with running_server(config) as net:
        alice = await net.client("alice")
        await alice.send("PRIVMSG NickServ :REGISTER sesame12")
        await alice.expect("Account created")
        await alice.sync()
    async with running_server(config) as net:
        record = net.server.network.find_account("alice")
        assert record is not None and verify_password("sesame12", record.password_hash)
        other = await net.client("bob")
        await other.send("PRIVMSG NickServ :IDENTIFY alice sesame12")
        await other.expect("You're now logged in as alice")


async def test_hashing_runs_in_a_thread_at_a_real_cost() -> None:
    # Cost 11 is above the inline threshold: the hash and the check run in trio.to_thread (real clock here).
    async with running_server(replace(FAST, password_hash_cost=11)) as net:
        alice = await net.client("alice")
        await alice.send("PRIVMSG NickServ :REGISTER sesame12", "PING :after")
        await alice.expect_next("NOTICE alice :Account created")
        await alice.expect_next("You're now logged in as alice")
        await alice.expect_next(" 900 ")
        await alice.expect_next("PONG")  # the next line waited for the hash
        bob = await net.client("bob")
        await bob.send("NS IDENTIFY alice wrongpass", "NS IDENTIFY alice sesame12")
        await bob.expect_next("Authentication failed: Invalid account credentials")
        await bob.expect_next("You're now logged in as alice")


# ---- REGISTER -------------------------------------------------------------------------------------------------


async def test_register_command_after_connection_registration() -> None:
    async with running_server(ACCOUNTS) as net:
        alice = await net.client("alice", caps="draft/account-registration")
        await alice.send("REGISTER * * sesame12")
        await alice.expect_next(r"^:\S+ REGISTER SUCCESS alice :Account successfully registered$")
        await alice.expect_next(r" 900 alice ")
        await alice.send("REGISTER alice * sesame12")
        await alice.expect_next(r" FAIL REGISTER ALREADY_AUTHENTICATED alice ")


async def test_register_before_connection_registration() -> None:
    async with running_server(ACCOUNTS) as net:
        client = await net.connect()
        await client.send("CAP LS 302", "REGISTER * * sesame12")
        await client.expect(r" CAP \* LS ")
        await client.expect_next(r" FAIL REGISTER NEED_NICK \* ")
        await client.send("NICK alice", "REGISTER alice someone@example.org sesame12")
        await client.expect_next(r" REGISTER SUCCESS alice ")
        await client.expect_next(r" 900 alice ")
        await client.send("USER a 0 * :A", "CAP END")
        await client.expect(" 001 alice ")
        lines = await drain(client)
        assert not [m for m in lines if m.command == "NOTICE" and "registered" in m.params[-1]]


async def test_register_cannot_take_a_nick_held_by_someone_else_before_connect() -> None:
    async with running_server(ACCOUNTS) as net:
        holder = await net.client("root")  # connected, not logged in: no account named root exists
        client = await net.connect()
        await client.send("CAP LS 302", "NICK root", "REGISTER * * sesame12")
        await client.expect(r" 433 \* root ")
        await client.expect_next(r"^:\S+ FAIL REGISTER ACCOUNT_EXISTS root :")
        await client.send("REGISTER ROOT * sesame12", "REGISTER other * sesame12", "NICK NickServ", "REGISTER * * x1")
        await client.expect_next(r" FAIL REGISTER ACCOUNT_EXISTS root ")
        await client.expect_next(r" FAIL REGISTER NEED_NICK \* ")  # not the name it asked for
        await client.expect(r" 433 \* NickServ ")
        await client.expect_next(r" FAIL REGISTER BAD_ACCOUNT_NAME NickServ ")
        assert net.server.network.find_account("root") is None
        # Once the holder has gone, the name is free again but still not the client's nick: NEED_NICK.
        await client.send("NICK root")
        await client.expect(r" 433 \* root ")
        await holder.send("QUIT")
        await holder.expect_closed()
        await client.send("REGISTER * * sesame12")
        await client.expect_next(r" FAIL REGISTER NEED_NICK \* ")
        await client.send("NICK root", "REGISTER * * sesame12")
        await client.expect_next(r" REGISTER SUCCESS root ")


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("REGISTER bob * sesame12", "ACCOUNT_NAME_MUST_BE_NICK bob"),
        ("REGISTER * * abc", "WEAK_PASSWORD carol"),
        ("REGISTER * * :", "WEAK_PASSWORD carol"),
        ("REGISTER * * " + "x" * 301, "UNACCEPTABLE_PASSWORD carol"),
    ],
)
async def test_register_refusals(line: str, code: str) -> None:
    async with running_server(ACCOUNTS) as net:
        carol = await net.client("carol")
        await carol.send(line)
        await carol.expect_next(rf" FAIL REGISTER {code} ")
        assert net.server.network.find_account("carol") is None


async def test_register_an_existing_account_and_without_before_connect() -> None:
    async with running_server(ACCOUNTS) as net:
        alice = await net.client("alice")
        await alice.send("REGISTER * * sesame12")
        await alice.expect(" REGISTER SUCCESS ")
        await alice.send("QUIT")
        await alice.expect_closed()
        client = await net.connect()
        await client.send("NICK alice", "REGISTER * * sesame12")
        await client.expect_next(r" FAIL REGISTER ACCOUNT_EXISTS alice ")
        await client.send("REGISTER")
        await client.expect_next(r" 461 ")
    async with running_server(ACCOUNTS, registration_before_connect=False) as net:
        client = await net.connect()
        await client.send("CAP LS 302")
        assert "draft/account-registration" in (await client.expect(" LS ")).params[-1].split()
        await client.send("NICK dave", "REGISTER * * sesame12")
        await client.expect_next(r" FAIL REGISTER COMPLETE_CONNECTION_REQUIRED ")


# ---- nick ownership -------------------------------------------------------------------------------------------


async def _owner_gone(net_client: IRCClient) -> None:
    await net_client.send("PRIVMSG NickServ :REGISTER sesame12")
    await net_client.expect("Account created")
    await net_client.send("QUIT")
    await net_client.expect_closed()


async def test_someone_else_on_a_registered_nick_is_renamed_after_the_grace(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running_server(ACCOUNTS, nick_grace=30.0) as net:
        await _owner_gone(await net.client("alice"))
        watcher = await net.client("watcher")
        await join(watcher, "watcher", "#room")
        impostor = await net.connect("impostor")
        await impostor.send("NICK alice", "USER x 0 * :X")
        await impostor.expect(" 001 alice ")
        notice = await impostor.expect(r"^:NickServ!NickServ@services\. NOTICE alice ")
        assert "IDENTIFY" in notice.params[1] and "30 seconds" in notice.params[1]
        await join(impostor, "alice", "#room")
        start = trio.current_time()
        renamed = await impostor.expect(r"^:alice!\S+ NICK ", within=60)
        assert trio.current_time() - start == pytest.approx(30.0, abs=0.5)
        guest = renamed.params[0]
        assert guest.startswith("Guest") and guest[5:].isdigit()
        assert (await watcher.expect(" NICK ")).params == (guest,)
        assert net.server.network.find_user("alice") is None


async def test_logging_in_within_the_grace_keeps_the_nick(autojump_clock: trio.testing.MockClock) -> None:
    async with running_server(ACCOUNTS) as net:
        await _owner_gone(await net.client("alice"))
        back = await net.client("alice")
        await back.expect("This nickname is registered")
        await trio.sleep(10)
        await back.send("PRIVMSG NickServ :IDENTIFY sesame12")
        await back.expect("You're now logged in as alice")
        await trio.sleep(60)
        assert not [m for m in await drain(back) if m.command == "NICK"]
        # The owner holds the nick now: nobody else can take it.
        bob = await net.client("bob")
        await bob.send("NICK alice")
        await bob.expect(" 433 ")


async def test_changing_to_a_registered_nick_and_away_again(autojump_clock: trio.testing.MockClock) -> None:
    async with running_server(ACCOUNTS, nick_grace=5.0) as net:
        await _owner_gone(await net.client("alice"))
        bob = await net.client("bob")
        await bob.send("NICK alice")
        await bob.expect("This nickname is registered")
        await bob.send("NICK bob")
        await bob.expect(" NICK :?bob")
        await trio.sleep(10)
        assert not [m for m in await drain(bob) if m.command == "NICK"]


# ---- visibility ------------------------------------------------------------------------------------------


async def test_account_tag_notify_extended_join_and_whois() -> None:
    async with running_server(ACCOUNTS) as net:
        watcher = await net.client("watcher", caps="account-tag account-notify extended-join")
        plain = await net.client("plain")
        alice = await net.client("alice")
        for client, nick in ((watcher, "watcher"), (plain, "plain"), (alice, "alice")):
            await join(client, nick, "#room")
        await alice.send("PRIVMSG #room :before")
        before = await watcher.expect("PRIVMSG #room")
        assert "account" not in before.tags
        await alice.send("PRIVMSG NickServ :REGISTER sesame12")
        await alice.expect("Account created")
        account = await watcher.expect(r" ACCOUNT ")
        assert account.source is not None and account.source.startswith("alice!") and account.params == ("alice",)
        await alice.send("PRIVMSG #room :after")
        after = await watcher.expect("PRIVMSG #room")
        assert after.tags["account"] == "alice"
        assert "account" not in (await plain.expect("PRIVMSG #room :?after")).tags
        assert not [m for m in await drain(plain) if m.command == "ACCOUNT"]
        await alice.send("PART #room", "JOIN #room")
        joined = await watcher.expect(r" JOIN #room ")
        assert joined.params == ("#room", "alice", "Alice Person")
        await plain.send("WHOIS alice")
        assert (await plain.expect(" 330 ")).params == ("plain", "alice", "alice", "is logged in as")
        await plain.send("WHOIS watcher")
        lines = await plain.collect_until(" 318 ")
        assert not [m for m in lines if m.command == "330"]
        # Logging out (the account is dropped) is told as ACCOUNT *.
        await alice.send("PRIVMSG NickServ :DROP sesame12")
        assert (await watcher.expect(r" ACCOUNT ")).params == ("*",)


async def test_an_invite_from_a_logged_in_user_carries_the_account_tag() -> None:
    async with running_server(ACCOUNTS) as net:
        tagged = await net.client("tagged", caps="account-tag")
        plain = await net.client("plain")
        oper = await net.client("oper", caps="account-tag invite-notify")
        alice = await net.client("alice")
        await alice.send("PRIVMSG NickServ :REGISTER sesame12")
        await alice.expect("Account created")
        await join(alice, "alice", "#room")
        await join(oper, "oper", "#room")
        await alice.send("MODE #room +o oper")
        await drain(oper)
        await alice.send("INVITE tagged #room", "INVITE plain #room")
        invite = await tagged.expect(r" INVITE tagged #room$")
        assert invite.tags.get("account") == "alice" and invite.source is not None
        assert invite.source.startswith("alice!")
        assert "account" not in (await plain.expect(r" INVITE plain #room$")).tags
        assert (await oper.expect(r" INVITE tagged #room$")).tags.get("account") == "alice"  # invite-notify
        # Without a login, no tag.
        await oper.send("INVITE tagged #room")
        assert "account" not in (await tagged.expect(r" INVITE tagged #room$")).tags


# ---- brute force ---------------------------------------------------------------------------------------------


async def test_failed_logins_are_throttled_and_logged_without_passwords(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    async with running_server(ACCOUNTS, login_failures_burst=3, login_failures_per_minute=6.0) as net:
        owner = await net.client("alice")
        await owner.send("PRIVMSG NickServ :REGISTER Sup3rSecret")
        await owner.expect("Account created")
        attacker = await net.client("mallory")
        for attempt in range(3):
            await attacker.send(f"PRIVMSG NickServ :IDENTIFY alice guess{attempt}")
            await attacker.expect("Authentication failed: Invalid account credentials")
        # Over the limit: even the right password gets the failure reply.
        await attacker.send("PRIVMSG NickServ :IDENTIFY alice Sup3rSecret")
        await attacker.expect("Authentication failed: Invalid account credentials")
        sasl = await net.connect()
        payload = base64.b64encode(b"\0alice\0Sup3rSecret").decode()
        await sasl.send("AUTHENTICATE PLAIN", f"AUTHENTICATE {payload}")
        await sasl.expect(" 904 ")
        await trio.sleep(11)  # one failure's worth refilled (6 a minute)
        await attacker.send("PRIVMSG NickServ :IDENTIFY alice Sup3rSecret")
        await attacker.expect("You're now logged in as alice")
    assert "failed login to account alice" in caplog.text
    assert "too many failed logins" in caplog.text
    assert "guess" not in caplog.text and "Sup3rSecret" not in caplog.text


# ---- operators -----------------------------------------------------------------------------------------------


async def test_an_operator_tied_to_an_account_needs_the_login_not_a_password() -> None:
    opers = (("boss", "account:alice"), ("pw", hash_password("operpass", log2_n=4)))
    async with running_server(ACCOUNTS, opers=opers) as net:
        alice = await net.client("alice")
        await alice.send("OPER boss")
        await alice.expect_next(" 464 ")
        await alice.send("PRIVMSG NickServ :REGISTER sesame12")
        await alice.expect("Account created")
        await alice.send("OPER boss")
        await alice.expect(" 381 alice ")
        bob = await net.client("bob")
        await bob.send("OPER boss anything")
        await bob.expect_next(" 464 ")
        await bob.send("OPER pw")
        await bob.expect_next(" 461 ")
        await bob.send("OPER pw operpass")
        await bob.expect_next(" 381 ")


def test_the_server_loads_accounts_at_start() -> None:
    store = MemoryHistory()
    store.save_account(ALICE)
    server = Server(ACCOUNTS, store=store)
    assert server.network.find_account("ALICE") == ALICE
