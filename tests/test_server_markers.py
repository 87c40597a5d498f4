"""MARKREAD (IRCv3 ``draft/read-marker``): per account, forward only, fanned out to the account's other
connections, sent after JOIN, kept in the store; without a login, per connection, in memory for its life.  In
process, with a tiny scrypt cost; the server's clock is fixed at 2023-11-14T22:13:20Z."""

from __future__ import annotations

from dataclasses import replace

from tests.helpers import FAST, InProcessNetwork, drain, join, running_server
from tests.ircclient import IRCClient
from trio_chat.server.app import Server
from trio_chat.server.handlers.markers import GUEST_MARKERS
from trio_chat.server.history import MemoryHistory

ACCOUNTS = replace(FAST, password_hash_cost=4)
CAP = "draft/read-marker"
T1 = "2023-11-14T10:00:00.000Z"
T2 = "2023-11-14T11:00:00.000Z"
NOW = "2023-11-14T22:13:20.000Z"


async def logged_in(net: InProcessNetwork, nick: str, *, account: str | None = None, caps: str = CAP) -> IRCClient:
    client = await net.client(nick, caps=caps)
    if account is None:
        await client.send("PRIVMSG NickServ :REGISTER sesame12")
    else:
        await client.send(f"PRIVMSG NickServ :IDENTIFY {account} sesame12")
    await client.expect(r" 900 ")
    await drain(client)
    return client


async def markers(client: IRCClient) -> list[tuple[str, ...]]:
    """The MARKREAD lines the server queued for ``client`` so far."""
    return [m.params for m in await drain(client) if m.command == "MARKREAD"]


async def test_the_capability_is_advertised() -> None:
    async with running_server() as net:
        client = await net.connect()
        await client.send("CAP LS 302")
        ls = await client.expect(r" CAP \* LS ")
        assert CAP in ls.params[-1].split()


async def test_refusals() -> None:
    async with running_server(ACCOUNTS) as net:
        alice = await logged_in(net, "alice")
        await alice.send("MARKREAD")
        await alice.expect(r"^:test.server FAIL MARKREAD NEED_MORE_PARAMS :Missing parameters$")
        await alice.send("MARKREAD #chan yesterday")
        await alice.expect(r"FAIL MARKREAD INVALID_PARAMS yesterday :Invalid timestamp$")
        await alice.send("MARKREAD #chan *")
        await alice.expect(r"FAIL MARKREAD INVALID_PARAMS \* :Invalid timestamp$")
        await alice.send("MARKREAD #chan timestamp=")
        await alice.expect(r"FAIL MARKREAD INVALID_PARAMS timestamp= :Invalid timestamp$")
        await alice.send("MARKREAD bad,target")
        await alice.expect(r"FAIL MARKREAD INVALID_PARAMS bad,target :Invalid target$")
        # The same refusals without a login.
        guest = await net.client("guest", caps=CAP)
        await guest.send("MARKREAD #chan *", "MARKREAD #chan timestamp=not-a-timestamp", "MARKREAD")
        await guest.expect(r"^:test.server FAIL MARKREAD INVALID_PARAMS \* :Invalid timestamp$")
        await guest.expect(r"^:test.server FAIL MARKREAD INVALID_PARAMS timestamp=not-a-timestamp :Invalid timestamp$")
        await guest.expect(r"^:test.server FAIL MARKREAD NEED_MORE_PARAMS :Missing parameters$")
        await guest.send("MARKREAD #chan")
        assert await markers(guest) == [("#chan", "*")]


async def test_get_and_set_forward_only_and_fanned_out_to_the_accounts_other_connections() -> None:
    async with running_server(ACCOUNTS) as net:
        laptop = await logged_in(net, "alice")
        phone = await logged_in(net, "alice_phone", account="alice")
        old_client = await logged_in(net, "alice_old", account="alice", caps="")
        bob = await logged_in(net, "bob")
        await laptop.send("MARKREAD #Chan")
        assert await markers(laptop) == [("#Chan", "*")]
        await laptop.send(f"MARKREAD #Chan timestamp={T2}")
        assert await markers(laptop) == [("#Chan", f"timestamp={T2}")]
        assert await markers(phone) == [("#Chan", f"timestamp={T2}")]
        assert await markers(old_client) == []  # did not negotiate the capability
        assert await markers(bob) == []  # another account
        # Backwards (or the same): answered with the stored value, nobody else told.
        for earlier in (T1, T2):
            await phone.send(f"MARKREAD #chan timestamp={earlier}")
            assert await markers(phone) == [("#chan", f"timestamp={T2}")]
            assert await markers(laptop) == []
        # Never past the present.
        await phone.send("MARKREAD #chan timestamp=2030-01-01T00:00:00.000Z")
        assert await markers(phone) == [("#chan", f"timestamp={NOW}")]
        assert await markers(laptop) == [("#chan", f"timestamp={NOW}")]
        # A client without the capability may still ask (the reply is to its own command).
        await old_client.send("MARKREAD #CHAN")
        assert await markers(old_client) == [("#CHAN", f"timestamp={NOW}")]
        # Nick targets too; each account has its own markers.
        await bob.send(f"MARKREAD alice timestamp={T1}", "MARKREAD #chan")
        assert await markers(bob) == [("alice", f"timestamp={T1}"), ("#chan", "*")]
        assert net.server.store.load_markers() == [
            ("alice", "#chan", 1_700_000_000_000),
            ("bob", "alice", 1699956000000),
        ]


async def test_join_sends_the_marker_after_the_join_and_before_the_names() -> None:
    async with running_server(ACCOUNTS) as net:
        alice = await logged_in(net, "alice")
        lines = await join(alice, "alice", "#chan")
        commands = [m.command for m in lines]
        assert commands[0] == "JOIN" and commands[1] == "MARKREAD" and commands[-1] == "366"
        assert lines[1].params == ("#chan", "*")
        await alice.send(f"MARKREAD #chan timestamp={T1}", "PART #chan")
        await drain(alice)
        lines = await join(alice, "alice", "#chan")
        assert [m.params for m in lines if m.command == "MARKREAD"] == [("#chan", f"timestamp={T1}")]
        # Without the capability, nothing; without an account, "*".
        plain = await logged_in(net, "plain", caps="")
        assert not [m for m in await join(plain, "plain", "#chan") if m.command == "MARKREAD"]
        guest = await net.client("guest", caps=CAP)
        assert [m.params for m in await join(guest, "guest", "#chan") if m.command == "MARKREAD"] == [("#chan", "*")]


async def test_without_a_login_markers_belong_to_the_connection_for_its_life() -> None:
    async with running_server(ACCOUNTS) as net:
        guest = await net.client("guest", caps=CAP)
        other = await net.client("other", caps=CAP)
        await guest.send("MARKREAD #Chan", f"MARKREAD #Chan timestamp={T2}", "MARKREAD #chan")
        assert await markers(guest) == [("#Chan", "*"), ("#Chan", f"timestamp={T2}"), ("#chan", f"timestamp={T2}")]
        # Forward only, never past the present; nick targets too.
        await guest.send(f"MARKREAD #chan timestamp={T1}", "MARKREAD #chan timestamp=2030-01-01T00:00:00.000Z")
        assert await markers(guest) == [("#chan", f"timestamp={T2}"), ("#chan", f"timestamp={NOW}")]
        await guest.send(f"MARKREAD Other timestamp={T1}", "MARKREAD other")
        assert await markers(guest) == [("Other", f"timestamp={T1}"), ("other", f"timestamp={T1}")]
        # Shown on JOIN, after a PART too.
        lines = await join(guest, "guest", "#chan")
        assert [m.params for m in lines if m.command == "MARKREAD"] == [("#chan", f"timestamp={NOW}")]
        await guest.send("PART #chan")
        await drain(guest)
        lines = await join(guest, "guest", "#chan")
        assert [m.params for m in lines if m.command == "MARKREAD"] == [("#chan", f"timestamp={NOW}")]
        # Nobody else's: another connection without a login, a new connection of the same nick.
        assert await markers(other) == []
        await other.send("MARKREAD #chan")
        assert await markers(other) == [("#chan", "*")]
        await guest.send("QUIT")
        await guest.expect(r"^ERROR ")
        again = await net.client("guest", caps=CAP)
        await again.send("MARKREAD #chan")
        assert await markers(again) == [("#chan", "*")]
        # Never stored; once logged in, the account's markers are the ones shown.
        assert net.server.store.load_markers() == []
        await other.send("PRIVMSG NickServ :REGISTER sesame12")
        await other.expect(r" 900 ")
        await drain(other)
        await other.send("MARKREAD #chan")
        assert await markers(other) == [("#chan", "*")]


async def test_a_connection_without_a_login_keeps_a_bounded_number_of_markers() -> None:
    async with running_server(ACCOUNTS) as net:
        guest = await net.client("guest", caps=CAP)
        for n in range(GUEST_MARKERS + 1):
            await guest.send(f"MARKREAD #c{n} timestamp={T1}")
            await drain(guest)
        await guest.send("MARKREAD #c0", "MARKREAD #c1", f"MARKREAD #c{GUEST_MARKERS}")
        assert await markers(guest) == [
            ("#c0", "*"),
            ("#c1", f"timestamp={T1}"),
            (f"#c{GUEST_MARKERS}", f"timestamp={T1}"),
        ]


def test_markers_are_loaded_at_start_up() -> None:
    store = MemoryHistory()
    store.save_marker("alice", "#chan", 1234)
    server = Server(FAST, store=store)
    assert server.network.read_marker("alice", "#chan") == 1234
    assert server.network.read_marker("alice", "#other") is None
