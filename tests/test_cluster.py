"""Several nodes, one network: servers in one trio run sharing a real redis-server (persistence off).

Redis is real I/O, so these tests run on trio's real clock; the waits on other nodes are bounded by
``expect``'s timeout, never by sleeps.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from typing import Any

import coredis
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import FAST, InProcessNetwork, drain, join, running_server
from tests.redis_server import RedisServer
from trio_chat.server.cluster.node import Node
from trio_chat.server.cluster.replica import Replica, encode
from trio_chat.server.passwords import hash_password

CLUSTER = replace(FAST, node_timeout=1.0, snapshot_interval=3600.0)


@asynccontextmanager
async def node(redis: RedisServer, name: str, **overrides: Any) -> AsyncIterator[InProcessNetwork]:
    async with running_server(CLUSTER, server_name=name, redis_url=redis.url, clock=time.time, **overrides) as net:
        yield net


@asynccontextmanager
async def nodes(redis: RedisServer, *names: str) -> AsyncIterator[list[InProcessNetwork]]:
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(node(redis, name)) for name in names]


def cluster_node(net: InProcessNetwork) -> Node:
    assert net.server.node is not None
    return net.server.node


def view(replica: Replica) -> dict[str, Any]:
    """What a replica holds, comparable across nodes: users and channels with their members and state."""
    network = replica.network
    return {
        "users": sorted((u.nick, u.username, u.host, u.realname, u.account, u.away) for u in network.users.values()),
        "channels": sorted(
            (
                c.name,
                c.topic,
                "".join(sorted(c.modes)),
                c.key,
                c.limit,
                sorted((m.nick, s) for m, s in c.members.items()),
            )
            for c in network.channels.values()
        ),
    }


async def test_two_nodes_chat_as_one_network(redis: RedisServer) -> None:
    async with nodes(redis, "a.test", "b.test") as (a, b):
        alice = await a.client("alice")
        bob = await b.client("bob")
        await join(alice, "alice", "#lobby")
        names = await join(bob, "bob", "#lobby")
        assert any(" 353 " in m.to_line() and "@alice" in m.to_line() for m in names)
        await alice.expect(r":bob!\S+ JOIN #lobby")
        await alice.send("PRIVMSG #lobby :hello from a")
        await bob.expect(r":alice!\S+ PRIVMSG #lobby :hello from a")
        await bob.send("PRIVMSG #lobby :hi from b")
        await alice.expect(r":bob!\S+ PRIVMSG #lobby :hi from b")
        await bob.send("PRIVMSG alice :psst")
        await alice.expect(r":bob!\S+ PRIVMSG alice :psst")
        await alice.send("NICK alicia")
        await bob.expect(r":alice!\S+ NICK :?alicia")
        await alice.send("TOPIC #lobby :a topic")
        await bob.expect(r":alicia!\S+ TOPIC #lobby :a topic")
        await bob.send("TOPIC #lobby :not op")
        await bob.expect(r" 482 bob #lobby ")
        await alice.send("MODE #lobby +v bob")
        await bob.expect(r":alicia!\S+ MODE #lobby \+v bob")
        await bob.send("AWAY :lunch")
        await bob.expect(r" 306 bob ")
        # alice's node may not have applied bob's AWAY yet: a command of hers that goes through the log after it
        # (AWAY with nothing: she was not away) is answered once her node has applied everything before it.
        await alice.send("AWAY")
        await alice.expect(r" 305 alicia ")
        await alice.send("PRIVMSG bob :there?")
        await alice.expect(r" 301 alicia bob :lunch")
        # The queries answer for the whole network.
        await alice.send("WHOIS bob")
        await alice.expect(r" 311 alicia bob ")
        await alice.send("ISON bob nobody")
        await alice.expect(r" 303 alicia :bob$")
        await alice.send("LUSERS")
        await alice.expect(r" 251 alicia :There are 2 users")
        await alice.send("WHO #lobby")
        await alice.expect(r" 352 alicia #lobby \S+ \S+ \S+ bob ")
        await bob.send("LIST")
        await bob.expect(r" 322 bob #lobby 2 :.*a topic")
        await bob.send("QUIT :bye")
        await alice.expect(r":bob!\S+ QUIT :Quit: bye")
        await alice.send("WHOIS bob")
        await alice.expect(r" 401 alicia bob ")


async def test_one_of_two_taking_the_same_nick_at_once_gets_it(redis: RedisServer) -> None:
    async with nodes(redis, "a.test", "b.test") as (a, b):
        first, second = await a.connect("first"), await b.connect("second")
        # Both nodes see the nick free; the log decides.
        await first.send("NICK alice", "USER a 0 * :A")
        await second.send("NICK alice", "USER b 0 * :B")
        outcomes = []
        for client in (first, second):
            reply = await client.expect(r" (001|433) ")
            outcomes.append(reply.command)
        assert sorted(outcomes) == ["001", "433"]
        loser = second if outcomes[1] == "433" else first
        await loser.send("NICK alice2")
        await loser.expect(r" 001 alice2 ")
        # Registered users racing for one nick: one changes, the other gets 433.
        winner = first if loser is second else second
        await winner.send("NICK carol")
        await loser.send("NICK carol")
        replies = [(await c.expect(r"( 433 |NICK :?carol)")).command for c in (winner, loser)]
        assert sorted(replies) == ["433", "NICK"]


async def test_a_commands_replies_come_before_the_next_commands(redis: RedisServer) -> None:
    async with nodes(redis, "a.test", "b.test") as (a, b):
        bob = await b.client("bob")
        await join(bob, "bob", "#x")
        alice = await a.client("alice", caps="echo-message")
        await alice.send("JOIN #x", "PRIVMSG #x :first", "PART #x", "PRIVMSG #x :outside")
        lines = [m.to_line() for m in await alice.collect_until(r" (404|403) alice #x ")]
        kinds = [
            next(k for k in ("JOIN", " 366 ", "PRIVMSG", "PART", " 404 ", " 403 ") if k in line)
            for line in lines
            if any(k in line for k in ("JOIN", " 366 ", "PRIVMSG", "PART", " 404 ", " 403 "))
        ]
        assert kinds[:4] == ["JOIN", " 366 ", "PRIVMSG", "PART"]
        await bob.expect(r":alice!\S+ JOIN #x")
        await bob.expect(r":alice!\S+ PRIVMSG #x :first")
        await bob.expect(r":alice!\S+ PART #x")


async def test_a_node_reads_only_the_channels_it_has_members_in(redis: RedisServer) -> None:
    async with nodes(redis, "a.test", "b.test", "c.test") as (a, b, c):
        alice, bob, carol = await a.client("alice"), await b.client("bob"), await c.client("carol")
        await join(alice, "alice", "#ab")
        await join(bob, "bob", "#ab")
        await join(carol, "carol", "#c")
        await alice.send("PRIVMSG #ab :only for a and b")
        await bob.expect(r"PRIVMSG #ab :only for a and b")
        assert "ch:#ab" in cluster_node(a).following and "ch:#ab" in cluster_node(b).following
        assert "ch:#ab" not in cluster_node(c).following
        # c still knows the channel (NAMES, LIST, WHOIS show the whole network).
        await carol.send("NAMES #ab")
        await carol.expect(r" 353 carol = #ab :(@alice bob|bob @alice)")
        # Once the last member on b leaves, b stops reading #ab (as it applies the PART, before bob hears it).
        await bob.send("PART #ab")
        await bob.expect(r":bob!\S+ PART #ab")
        assert "ch:#ab" not in cluster_node(b).following


async def test_a_node_that_stops_heartbeating_is_split_off(redis: RedisServer) -> None:
    async with node(redis, "a.test") as a:
        alice = await a.client("alice")
        await join(alice, "alice", "#lobby")
        # A node that introduces a user, joins a channel, and then never sends a heartbeat again.
        ghost = "ghost.test/0000"
        client = coredis.Redis.from_url(redis.url)
        async with client:
            record = {
                "k": "i",
                "u": f"{ghost}.1",
                "n": ghost,
                "nick": "casper",
                "user": "~c",
                "host": "h",
                "real": "C",
                "acct": None,
                "modes": "",
                "away": None,
                "oper": None,
                "secure": False,
                "since": 0.0,
                "t": 0,
            }
            await client.xadd("trio-chat:log", {"e": encode(record)})
            await client.xadd("trio-chat:log", {"e": encode({"k": "c", "u": f"{ghost}.1", "t": 0, "l": "JOIN #lobby"})})
            await alice.expect(r":casper!\S+ JOIN #lobby")
            await alice.send("PRIVMSG casper :are you there?")  # to the ghost's stream, which nobody reads
            assert await client.xread({f"trio-chat:to:{ghost}": "0-0"}, block=2000)
            started = time.monotonic()
            await alice.expect(r":casper!\S+ QUIT :\*\.net \*\.split", within=10)
            assert time.monotonic() - started < 3 * CLUSTER.node_timeout + 1
            # What was on its way to the dead node goes with it.
            assert not await client.exists([f"trio-chat:to:{ghost}"])
        await alice.send("WHOIS casper")
        await alice.expect(r" 401 alice casper ")


async def test_a_node_that_starts_later_loads_the_snapshot_and_the_log(redis: RedisServer) -> None:
    async with node(redis, "a.test", password_hash_cost=4) as a, node(redis, "b.test") as b:
        alice, bob = await a.client("alice"), await b.client("bob")
        await join(alice, "alice", "#one")
        await join(bob, "bob", "#one")
        await alice.send(
            "TOPIC #one :the topic",
            "MODE #one +kl key 10",
            "MODE #one +e friend!*@*",
            "AWAY :busy",
            "NS REGISTER sesame12",
        )
        await alice.expect(r"Account created")
        await bob.expect(r"MODE #one \+kl key 10")
        await drain(bob)
        # The log is trimmed behind what every live node has applied (told in their heartbeats).
        await cluster_node(b)._beat()
        await cluster_node(a)._beat()
        assert await cluster_node(a).write_snapshot()
        assert not await cluster_node(b).write_snapshot()  # one snapshot per interval, whoever writes it
        # More after the snapshot: the new node applies the log behind it.
        await join(bob, "bob", "#two")
        await bob.send("NICK robert")
        await bob.expect(r"NICK :?robert")
        async with node(redis, "c.test") as c:
            carol = await c.client("carol")
            await drain(carol)
            await drain(alice)
            # Equal once both have applied the log to its end (a few round trips at most).
            with trio.fail_after(5):
                while view(cluster_node(c).replica) != view(cluster_node(a).replica):
                    await drain(carol)
                    await drain(alice)
            # What only the channel's lists hold came with the snapshot too.
            assert [e.mask for e in c.server.network.channels["#one"].excepts] == ["friend!*@*"]
            # Its database was empty: the account made before the snapshot came with it.
            assert "alice" in c.server.network.accounts
            await carol.send("WHOIS robert")
            await carol.expect(r" 319 carol robert :(@#two #one|#one @#two)")
        client = coredis.Redis.from_url(redis.url)
        async with client:
            assert await client.xlen("trio-chat:log") < cluster_node(a).replica.applied
            # A channel that is gone has its stream deleted with the next snapshot; the others' stay.
            await alice.send("PRIVMSG #one :still here")
            await bob.expect(r"PRIVMSG #one :still here")
            await bob.send("PRIVMSG #two :anyone?", "PART #two")
            await bob.expect(r"PART #two")
            assert await client.exists(["trio-chat:ch:#two"])
            await client.delete(["trio-chat:snaplock"])
            assert await cluster_node(a).write_snapshot()
            assert not await client.exists(["trio-chat:ch:#two"])
            assert await client.exists(["trio-chat:ch:#one"])


class Unplugged:
    """Stands for a node's Redis client once the node is cut off: every call fails as a lost link does."""

    def __getattr__(self, name: str) -> Any:
        raise ConnectionError("unplugged")


def _no_link() -> Any:
    raise ConnectionError("unplugged")


async def unplug(cut: Node) -> None:
    """Cut ``cut`` off Redis: its coredis client, and the writer's and the reader's own connections."""
    cut._redis = Unplugged()
    cut._link = _no_link  # type: ignore[method-assign]
    for link in list(cut.links):
        await link.aclose()


async def test_a_restarted_node_takes_its_old_users_off_at_once(redis: RedisServer) -> None:
    async with node(redis, "a.test") as a:
        alice = await a.client("alice")
        await join(alice, "alice", "#lobby")
        async with node(redis, "b.test") as b:
            bob = await b.client("bob")
            await join(bob, "bob", "#lobby")
            await alice.expect(r":bob!\S+ JOIN #lobby")
            # b dies without a word to the network, as if killed: nothing it does from now on reaches Redis.
            await unplug(cluster_node(b))
        # Its heartbeat has not expired yet, but the node that starts under its name replaces it at once.
        started = time.monotonic()
        async with node(redis, "b.test") as b2:
            await alice.expect(r":bob!\S+ QUIT :\*\.net \*\.split", within=2)
            assert time.monotonic() - started < CLUSTER.node_timeout
            # alice's node applied the split; b2 has too once it has applied a registration appended after it
            # (until then b2 still sees the old bob and would answer 433).
            await b2.client("carol")
            bob = await b2.client("bob")
            await join(bob, "bob", "#lobby")
            await alice.expect(r":bob!\S+ JOIN #lobby")


async def test_redis_restarting_degrades_and_then_resynchronises_the_network(redis: RedisServer) -> None:
    async with nodes(redis, "a.test", "b.test") as (a, b):
        alice, bob = await a.client("alice"), await b.client("bob")
        await join(alice, "alice", "#lobby")
        await join(bob, "bob", "#lobby")
        await alice.expect(r":bob!\S+ JOIN #lobby")
        redis.stop()
        await alice.expect(r"NOTICE alice :\*\*\* This server lost its link to the network", within=10)
        # Local chat goes on; what needs the network is refused with a clear message.
        late = await a.connect("late")
        await late.send("NICK late", "USER l 0 * :L")
        await late.expect(r"FAIL \* TEMPORARILY_UNAVAILABLE :The network is degraded")
        await alice.send("JOIN #other")
        await alice.expect(r"NOTICE alice :The network is degraded")
        redis.start()
        await alice.expect(r"NOTICE alice :\*\*\* This server is linked to the network again", within=15)
        # Redis came back empty: both nodes introduce their users again, and the network is whole.
        with trio.fail_after(10):
            while True:
                await alice.send("NAMES #lobby")
                names = await alice.collect_until(r" 366 ")
                if any("bob" in m.to_line() for m in names if m.command == "353"):
                    break
                await trio.sleep(0.1)
        await bob.send("PRIVMSG #lobby :back")
        await alice.expect(r":bob!\S+ PRIVMSG #lobby :back")
        assert view(cluster_node(a).replica) == view(cluster_node(b).replica)


async def test_stats_n_shows_operators_the_nodes_the_lag_and_the_round_trip(redis: RedisServer) -> None:
    opers = (("boss", hash_password("correct horse", salt=b"0123456789abcdef", log2_n=4)),)
    async with node(redis, "a.test", opers=opers) as a, node(redis, "b.test") as b:
        bob = await b.client("bob")
        await drain(bob)
        boss = await a.client("boss")
        await boss.send("STATS n")
        await boss.expect(r" 481 boss ")
        await boss.send("OPER boss :correct horse")
        await boss.expect(r" 381 boss ")
        await cluster_node(a)._beat()  # the node list as the latest heartbeat read it
        await boss.send("STATS n")
        lines = [m.params[-1] for m in await boss.collect_until(r" 219 ") if m.command == "249"]
        assert any(re.fullmatch(r"node a\.test/\w+ at \d+-\d+ with 1 user\(s\) \(this node\)", x) for x in lines)
        assert any(re.fullmatch(r"node b\.test/\w+ at \d+-\d+ with 1 user\(s\)", x) for x in lines)
        assert re.fullmatch(r"log at \d+-\d+, lag \d+ ms, Redis round trip \d+ us, healthy", lines[-1])


# ---- interleavings (hypothesis) ---------------------------------------------------------------------------

PEOPLE = ["ann", "ben", "cat", "dan"]  # ann and ben on node a, cat and dan on node b
OPERATION = st.tuples(
    st.sampled_from(PEOPLE),
    st.sampled_from(["JOIN", "PART", "SAY", "SAY", "SAY", "NICK", "TOPIC"]),
    st.sampled_from(["#x", "#y"]),
)
"""(who, what, channel); NICK takes a nick by the channel's letter (two people may race for it), TOPIC is
refused to all but the channel's operators."""


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=st.lists(OPERATION, min_size=1, max_size=30))
async def test_interleaved_joins_parts_and_messages_leave_equal_replicas_and_sane_deliveries(
    redis: RedisServer, operations: list[tuple[str, str, str]]
) -> None:
    client = coredis.Redis.from_url(redis.url)
    async with client:
        await client.flushall()
    async with nodes(redis, "a.test", "b.test") as (a, b):
        people = {p: await (a if p in ("ann", "ben") else b).client(p) for p in PEOPLE}
        said: dict[str, list[str]] = {p: [] for p in PEOPLE}
        # Everyone sends their own lines in order, without waiting: the nodes interleave them as they come.
        for number, (person, verb, channel) in enumerate(operations):
            if verb == "SAY":
                text = f"{person}-{number}"
                said[person].append(text)
                line = f"PRIVMSG {channel} :{text}"
            elif verb == "NICK":
                line = f"NICK {channel[1:]}{number % 2}"
            elif verb == "TOPIC":
                line = f"TOPIC {channel} :topic {number}"
            else:
                line = f"{verb} {channel}"
            await people[person].send(line)
        # Read until a whole round brings nobody anything and both nodes agree: everything has been applied.
        heard: dict[str, list[str]] = {p: [] for p in PEOPLE}
        with trio.fail_after(20):
            while True:
                quiet = True
                for person in PEOPLE:
                    lines = await drain(people[person])
                    quiet = quiet and not lines
                    heard[person] += [m.params[1] for m in lines if m.command == "PRIVMSG"]
                if quiet and view(cluster_node(a).replica) == view(cluster_node(b).replica):
                    break
        # What each person heard: no message twice, each sender's messages in the order they were sent.
        for person in PEOPLE:
            texts = heard[person]
            assert len(texts) == len(set(texts))
            for sender in PEOPLE:
                from_sender = [t for t in texts if t.startswith(sender + "-")]
                assert from_sender == [t for t in said[sender] if t in from_sender]


# ---- accounts across nodes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("cost", [4, 11], ids=["hashed-inline", "hashed-in-a-thread"])
async def test_an_account_registered_on_one_node_logs_in_and_owns_its_nick_on_the_other(
    redis: RedisServer, cost: int
) -> None:
    async with node(redis, "a.test", password_hash_cost=cost) as a, node(redis, "b.test", password_hash_cost=cost) as b:
        alice = await a.client("alice")
        await alice.send("PRIVMSG NickServ :REGISTER sesame12")
        await alice.expect(r"NOTICE alice :Account created")
        await alice.send("QUIT")
        await alice.expect_closed()
        # On the other node: SASL with the account made on the first.
        client = await b.connect()
        await client.send("CAP LS 302", "CAP REQ :sasl")
        await client.expect(r" CAP \* ACK :?sasl")
        await client.send("AUTHENTICATE PLAIN")
        await client.expect(r"AUTHENTICATE \+")
        await client.send("NICK alice", "USER alice 0 * :Alice", f"AUTHENTICATE {sasl_plain('alice', 'sesame12')}")
        await client.expect(r" 903 \S+ :SASL authentication successful")
        await client.send("CAP END")
        await client.expect(r" 001 alice ")
        # And the nick is the account's everywhere: someone else taking it on the first node is told to log in.
        impostor = await a.client("bob")
        await client.send("NICK alicia")
        await client.expect(r"NICK :?alicia")
        await impostor.send("NICK alice")
        await impostor.expect(r"NOTICE bob :This nickname is registered to an account|NOTICE alice :This nickname")


def sasl_plain(account: str, password: str) -> str:
    return base64.b64encode(f"\0{account}\0{password}".encode()).decode()


async def test_no_password_ever_reaches_redis_and_what_they_unlock_still_reaches_every_node(
    redis: RedisServer,
) -> None:
    opers = (("boss", hash_password("correct horse", salt=b"0123456789abcdef", log2_n=4)),)
    async with node(redis, "a.test", opers=opers, password_hash_cost=4) as a, node(redis, "b.test") as b:
        alice = await a.client("alice")
        await alice.send(
            "PRIVMSG NickServ :REGISTER sesame12", "NS IDENTIFY alice sesame12", "OPER boss :correct horse"
        )
        await alice.expect(r" 381 alice ")
        await alice.send("NS PASSWD sesame12 opensesame99")
        await alice.expect(r"NOTICE alice :.*[Pp]assword")
        bob = await b.client("bob")
        await bob.send("WHOIS alice")
        whois = [m.command for m in await bob.collect_until(r" 318 ")]
        assert "313" in whois  # an operator
        assert "330" in whois  # logged in to an account
        client = coredis.Redis.from_url(redis.url)
        async with client:
            everything = b""
            async for key in client.scan_iter(match="trio-chat:*"):
                kind = await client.type(key)
                if kind == b"stream":
                    for entry in await client.xrange(key):
                        everything += b"".join(
                            v if isinstance(v, bytes) else v.encode() for v in entry.field_values.values()
                        )
                elif kind == b"string":
                    everything += await client.get(key) or b""
        assert b"alice" in everything  # the check reads what the nodes wrote
        for secret in (b"sesame12", b"opensesame99", b"correct horse"):
            assert secret not in everything


def test_without_coredis_redis_is_refused_in_one_line_that_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from trio_chat.server.app import Server
    from trio_chat.server.config import ConfigError

    monkeypatch.setitem(sys.modules, "coredis", None)  # as if the cluster extra were not installed
    with pytest.raises(ConfigError, match=r"pip install 'trio-chat\[cluster\]'"):
        Server(replace(CLUSTER, redis_url="redis://127.0.0.1:1/0"))


async def test_kick_kill_and_monitor_reach_across_nodes(redis: RedisServer) -> None:
    opers = (("boss", hash_password("correct horse", salt=b"0123456789abcdef", log2_n=4)),)
    async with node(redis, "a.test", opers=opers) as a, node(redis, "b.test") as b:
        boss = await a.client("boss")
        await boss.send("MONITOR + carol")
        await boss.expect(r" 731 boss :carol")
        carol = await b.client("carol")
        await boss.expect(r" 730 boss :carol!\S+")
        await join(boss, "boss", "#room")
        await join(carol, "carol", "#room")
        await boss.send("KICK #room carol :out")
        await carol.expect(r":boss!\S+ KICK #room carol :out")
        await boss.send("OPER boss :correct horse")
        await boss.expect(r" 381 boss ")
        await boss.send("KILL carol :enough")
        closing = [m.to_line() for m in await carol.expect_closed()]
        assert any("ERROR :Killed (boss (enough))" in line for line in closing)
        await boss.expect(r" 731 boss :carol")
        await boss.send("WHOIS carol")
        await boss.expect(r" 401 boss carol ")


async def test_a_multiline_batch_crosses_nodes_line_by_line(redis: RedisServer) -> None:
    """With several nodes a draft/multiline message goes through the ordinary per-message path, each non-blank
    line a message of its own (README), to the channel and to a user on another node."""
    async with nodes(redis, "a.test", "b.test") as (a, b):
        alice = await a.client("alice", caps="draft/multiline batch message-tags echo-message")
        bob = await b.client("bob", caps="draft/multiline batch message-tags")
        await join(alice, "alice", "#lobby")
        await join(bob, "bob", "#lobby")
        await alice.expect(r":bob!\S+ JOIN #lobby")
        await alice.send(
            "BATCH +m draft/multiline #lobby",
            "@batch=m PRIVMSG #lobby :first",
            "@batch=m PRIVMSG #lobby :",
            "@batch=m;draft/multiline-concat PRIVMSG #lobby :second",
            "BATCH -m",
        )
        assert (await bob.expect(r"PRIVMSG #lobby")).params[1] == "first"
        assert (await bob.expect(r"PRIVMSG #lobby")).params[1] == "second"
        await alice.send("BATCH +p draft/multiline bob", "@batch=p PRIVMSG bob :one", "@batch=p PRIVMSG bob two")
        await alice.send("BATCH -p")
        assert (await bob.expect(r"PRIVMSG bob")).params[1] == "one"
        assert (await bob.expect(r"PRIVMSG bob")).params[1] == "two"
