"""Several targets in one command: KICK #chan a,b,c and KICK #a,#b a,b (TARGMAX KICK), NAMES #a,#b (TARGMAX
NAMES), a PRIVMSG target named twice (one copy), and LIST with the ELIST filters M, N, U, C and T."""

from __future__ import annotations

from tests.helpers import canon, drain, join, plain, running_server, settle
from trio_chat.protocol import Message


def listed(messages: list[Message]) -> set[str]:
    return {m.params[1] for m in messages if m.command == "322"}


def isupport(lines: list[Message]) -> dict[str, str]:
    return dict(p.partition("=")[::2] for m in lines if m.command == "005" for p in m.params[1:-1])


async def test_isupport_announces_targmax_and_elist() -> None:
    async with running_server(max_targets=3) as net:
        c = await net.connect()
        await c.send("NICK alice", "USER alice 0 * :Alice")
        tokens = isupport(await c.collect_until(r" 422 "))
        assert tokens["ELIST"] == "CMNTU"
        targmax = dict(item.split(":") for item in tokens["TARGMAX"].split(","))
        assert (targmax["KICK"], targmax["NAMES"], targmax["PRIVMSG"], targmax["WHOIS"]) == ("3", "3", "3", "1")


# ---- KICK ---------------------------------------------------------------------------------------------------


async def test_kick_several_nicks_sends_one_kick_each() -> None:
    async with running_server() as net:
        clients = {nick: await net.client(nick) for nick in ("foo", "bar", "baz", "qux")}
        for nick, client in clients.items():
            await join(client, nick, "#chan")
        await settle(*clients.values())
        await clients["foo"].send("KICK #chan bar,nobody,baz :bye")
        lines = plain(await drain(clients["foo"]))
        assert lines == canon(
            ":foo!~foo@unknown KICK #chan bar :bye",
            ":test.server 441 foo nobody #chan :They aren't on that channel",
            ":foo!~foo@unknown KICK #chan baz :bye",
        )
        assert plain(await drain(clients["qux"])) == [lines[0], lines[2]]
        await clients["foo"].send("NAMES #chan")
        assert (await clients["foo"].expect(r" 353 ")).params[-1] == "@foo qux"


async def test_kick_pairs_channels_with_nicks() -> None:
    async with running_server() as net:
        foo, bar = await net.client("foo"), await net.client("bar")
        for name in ("#a", "#b"):
            await join(foo, "foo", name)
            await join(bar, "bar", name)
        await settle(foo, bar)
        await foo.send("KICK #a,#b bar,bar")
        kicks = canon(":foo!~foo@unknown KICK #a bar :foo", ":foo!~foo@unknown KICK #b bar :foo")
        assert plain(await drain(foo)) == kicks
        assert plain(await drain(bar)) == kicks
        await foo.send("KICK #a,#b bar", "KICK #a ,")
        assert plain(await drain(foo)) == canon(
            ":test.server 461 foo KICK :Not enough parameters",
            ":test.server 461 foo KICK :Not enough parameters",
        )


async def test_kick_drops_nicks_past_targmax_and_refuses_a_channel_once() -> None:
    async with running_server(max_targets=2) as net:
        clients = {nick: await net.client(nick) for nick in ("foo", "a", "b", "c")}
        for nick, client in clients.items():
            await join(client, nick, "#chan")
        await settle(*clients.values())
        await clients["a"].send("KICK #chan foo,b,c")
        assert plain(await drain(clients["a"])) == canon(":test.server 482 a #chan :You're not channel operator"), (
            "one 482 for the channel, not one per nick"
        )
        await clients["foo"].send("KICK #chan a,b,c")
        kicked = [m.params[1] for m in await drain(clients["foo"]) if m.command == "KICK"]
        assert kicked == ["a", "b"], "the third nick is past TARGMAX KICK:2 and dropped silently"
        await clients["foo"].send("KICK #nowhere,#nowhere a,b")
        assert [m.command for m in await drain(clients["foo"])] == ["403"]


# ---- NAMES --------------------------------------------------------------------------------------------------


async def test_names_of_several_channels_ends_once() -> None:
    async with running_server() as net:
        alice, bob = await net.client("alice"), await net.client("bob")
        await join(alice, "alice", "#a")
        await join(alice, "alice", "#b")
        await join(bob, "bob", "#secret")
        await bob.send("MODE #secret +s")
        await settle(alice, bob)
        await alice.send("NAMES #a,#B,#a,#secret,#nowhere")
        assert plain(await drain(alice)) == canon(
            ":test.server 353 alice = #a :@alice",
            ":test.server 353 alice = #b :@alice",
            ":test.server 366 alice #a,#B,#a,#secret,#nowhere :End of /NAMES list",
        )


async def test_names_past_targmax_are_dropped() -> None:
    async with running_server(max_targets=1) as net:
        alice = await net.client("alice")
        await join(alice, "alice", "#a")
        await join(alice, "alice", "#b")
        await alice.send("NAMES #b,#a")
        assert [m.params[2] for m in await drain(alice) if m.command == "353"] == ["#b"]


# ---- PRIVMSG ------------------------------------------------------------------------------------------------


async def test_a_target_named_twice_gets_one_copy() -> None:
    async with running_server() as net:
        alice, bob = await net.client("alice"), await net.client("bob", caps="echo-message")
        await join(alice, "alice", "#a")
        await join(bob, "bob", "#a")
        await settle(alice, bob)
        await bob.send("PRIVMSG alice,ALICE,#a,#A,alice :hi")
        assert plain(await drain(alice)) == canon(
            ":bob!~bob@unknown PRIVMSG alice :hi", ":bob!~bob@unknown PRIVMSG #a :hi"
        )
        assert [m.params[0] for m in await drain(bob)] == ["alice", "#a"], "one echo each"
        await bob.send("PRIVMSG a,b,c,d,A :x")
        assert [m.command for m in await drain(bob)] == ["401"] * 4, "five names, four targets: within TARGMAX"


# ---- LIST ---------------------------------------------------------------------------------------------------


async def test_list_masks_and_negated_masks() -> None:
    async with running_server() as net:
        foo, bar = await net.client("foo"), await net.client("bar")
        for name in ("#chan1", "#chan2", "#other"):
            await join(foo, "foo", name)
        cases = {
            "*an1": {"#chan1"},
            "#c*n2": {"#chan2"},
            "#CH*": {"#chan1", "#chan2"},
            "*an3": set(),
            "#chan1,#other,#nowhere": {"#chan1", "#other"},
            "#other,#ch?n1": {"#chan1", "#other"},
            "!*an1": {"#chan2", "#other"},
            "!#ch*": {"#other"},
            "!#ch*,!#o*": set(),
            "#ch*,!*2": {"#chan1"},
        }
        for query, expected in cases.items():
            await bar.send(f"LIST {query}")
            assert listed(await bar.collect_until(r" 323 ")) == expected, query


async def test_list_by_user_count() -> None:
    async with running_server() as net:
        foo, bar = await net.client("foo"), await net.client("bar")
        await join(foo, "foo", "#one")
        await join(foo, "foo", "#two")
        await join(bar, "bar", "#two")
        cases = {">0": {"#one", "#two"}, "<1": set(), ">1": {"#two"}, "<2": {"#one"}, ">0,<2": {"#one"}}
        for query, expected in cases.items():
            await bar.send(f"LIST {query}")
            assert listed(await bar.collect_until(r" 323 ")) == expected, query


async def test_list_by_creation_and_topic_time() -> None:
    now = [1_700_000_000.0]
    async with running_server(clock=lambda: now[0]) as net:
        foo = await net.client("foo")
        await join(foo, "foo", "#old")
        await foo.send("TOPIC #old :first")
        await drain(foo)
        await join(foo, "foo", "#notopic")
        now[0] += 120
        await join(foo, "foo", "#new")
        await foo.send("TOPIC #new :second")
        await drain(foo)
        now[0] += 60
        # #old and #notopic are 3 minutes old, #new 1 minute; the topics were set 3 and 1 minutes ago.
        cases = {
            "C>2": {"#old", "#notopic"},
            "C<2": {"#new"},
            "C<0": set(),
            "C>0": {"#old", "#notopic", "#new"},
            "C<10": {"#old", "#notopic", "#new"},
            "T>2": {"#old"},
            "T<2": {"#new"},
            "T>0": {"#old", "#new"},
            "T<0": set(),
            "C>2,T>0": {"#old"},
            "C>x,T<x,>y": {"#old", "#notopic", "#new"},
        }
        for query, expected in cases.items():
            await foo.send(f"LIST {query}")
            assert listed(await foo.collect_until(r" 323 ")) == expected, query
