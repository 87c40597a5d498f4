"""MONITOR (IRCv3 monitor) and extended-monitor: 730-734, the MONITOR ISUPPORT limit, notifications on
registration, nick change and quit, the index cleaned when a watcher leaves, and AWAY/ACCOUNT/SETNAME for
monitored nicks to watchers that negotiated extended-monitor and the matching capability."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.helpers import FAST, InProcessNetwork, drain, running_server
from tests.ircclient import IRCClient
from trio_chat.protocol import Message

ACCOUNTS = replace(FAST, password_hash_cost=4)


def replies(messages: list[Message]) -> list[tuple[str, tuple[str, ...]]]:
    return [(m.command, m.params) for m in messages]


async def _quit(client: IRCClient) -> None:
    await client.send("QUIT :bye")
    await client.expect_closed()


async def test_isupport_advertises_the_limit() -> None:
    async with running_server() as net:
        alice = await net.connect("alice")
        await alice.send("NICK alice", "USER alice 0 * :Alice")
        lines = await alice.collect_until(r" 376 | 422 ")
        tokens = [p for m in lines if m.command == "005" for p in m.params[1:-1]]
        assert "MONITOR=100" in tokens
    async with running_server(monitor_limit=7) as net:
        bob = await net.connect("bob")
        await bob.send("NICK bob", "USER bob 0 * :Bob")
        lines = await bob.collect_until(r" 376 | 422 ")
        assert "MONITOR=7" in [p for m in lines if m.command == "005" for p in m.params[1:-1]]


async def test_offline_then_online_then_offline() -> None:
    async with running_server() as net:
        foo = await net.client("foo")
        await foo.send("MONITOR + bar")
        assert replies(await drain(foo)) == [("731", ("foo", "bar"))]
        bar = await net.client("bar")
        online = await foo.expect_next(r" 730 ")
        assert online.params == ("foo", "bar!~bar@unknown")
        assert online.source == "test.server"
        await _quit(bar)
        assert replies([await foo.expect_next(r" 731 ")]) == [("731", ("foo", "bar"))]
        assert await drain(foo) == []


async def test_adding_online_and_offline_nicks_at_once() -> None:
    async with running_server() as net:
        foo = await net.client("foo")
        await net.client("bar")
        await foo.send("MONITOR + BAR,baz")
        assert replies(await drain(foo)) == [("730", ("foo", "bar!~bar@unknown")), ("731", ("foo", "baz"))]
        # Adding a nick again does not add it twice; its status is given again.
        await foo.send("MONITOR + bar", "MONITOR L")
        assert replies(await drain(foo)) == [
            ("730", ("foo", "bar!~bar@unknown")),
            ("732", ("foo", "BAR,baz")),
            ("733", ("foo", "End of MONITOR list")),
        ]


async def test_remove_clear_list_and_status() -> None:
    async with running_server() as net:
        foo = await net.client("foo")
        await net.client("bar")
        await foo.send("MONITOR L")
        assert replies(await drain(foo)) == [("733", ("foo", "End of MONITOR list"))]
        await foo.send("MONITOR + qux,bar,bazbat")
        await drain(foo)
        await foo.send("MONITOR S")
        assert replies(await drain(foo)) == [("730", ("foo", "bar!~bar@unknown")), ("731", ("foo", "qux,bazbat"))]
        await foo.send("MONITOR - QUX,nobody")
        assert await drain(foo) == [], "MONITOR - answers nothing"
        await foo.send("MONITOR l")
        assert replies(await drain(foo))[0] == ("732", ("foo", "bar,bazbat"))
        await foo.send("MONITOR C")
        assert await drain(foo) == [], "MONITOR C answers nothing"
        await foo.send("MONITOR L", "MONITOR S")
        assert replies(await drain(foo)) == [("733", ("foo", "End of MONITOR list"))]
        assert net.server.network.monitors == {}


async def test_unmonitored_and_removed_nicks_are_not_announced() -> None:
    async with running_server() as net:
        foo = await net.client("foo")
        other = await net.client("other")
        await foo.send("MONITOR + qux")
        await other.send("MONITOR + qux")
        await drain(foo)
        await drain(other)
        await other.send("MONITOR - qux")
        assert await drain(other) == []
        qux = await net.client("qux")
        await foo.expect_next(r" 730 foo :?qux!")
        assert await drain(other) == []
        await other.send("MONITOR + qux", "MONITOR - qux")
        await drain(other)
        await _quit(qux)
        await foo.expect_next(r" 731 foo :?qux$")
        assert await drain(other) == []


async def test_nick_changes_are_offline_and_online() -> None:
    async with running_server() as net:
        bar = await net.client("bar")
        await bar.send("MONITOR + qux")
        await drain(bar)
        baz = await net.client("baz")
        assert await drain(bar) == []
        await baz.send("NICK qux")
        await baz.expect(r" NICK ")
        assert replies(await drain(bar)) == [("730", ("bar", "qux!~baz@unknown"))]
        await baz.send("NICK QUX")
        await baz.expect(r" NICK ")
        assert await drain(bar) == [], "a change of case is the same nick"
        await baz.send("NICK bazbat")
        await baz.expect(r" NICK ")
        assert replies(await drain(bar)) == [("731", ("bar", "QUX"))], "the offline nick as it was spelt"


async def test_monitoring_your_own_nick_is_quiet_about_yourself() -> None:
    async with running_server() as net:
        foo = await net.client("foo")
        await foo.send("MONITOR + foo,next")
        assert replies(await drain(foo)) == [("730", ("foo", "foo!~foo@unknown")), ("731", ("foo", "next"))]
        await foo.send("NICK next")
        await foo.expect(r" NICK ")
        assert await drain(foo) == []


async def test_masks_and_invalid_nicks_are_refused_with_432() -> None:
    async with running_server() as net:
        foo = await net.client("foo")
        await foo.send("MONITOR + *!username@localhost,bar,9lives")
        assert replies(await drain(foo)) == [
            ("432", ("foo", "*!username@localhost", "Erroneous nickname")),
            ("432", ("foo", "9lives", "Erroneous nickname")),
            ("731", ("foo", "bar")),
        ]
        await net.client("username")
        assert replies(await drain(foo)) == []
        await foo.send("MONITOR L")
        assert replies(await drain(foo))[0] == ("732", ("foo", "bar"))


async def test_a_full_list_gets_734_with_the_targets_not_added() -> None:
    async with running_server(monitor_limit=2) as net:
        foo = await net.client("foo")
        await foo.send("MONITOR + a,b,c,d")
        assert replies(await drain(foo)) == [
            ("734", ("foo", "2", "c,d", "Monitor list is full.")),
            ("731", ("foo", "a,b")),
        ]
        # Nicks already listed do not count against the limit; new ones still do.
        await foo.send("MONITOR + B", "MONITOR + e")
        assert replies(await drain(foo)) == [
            ("731", ("foo", "B")),
            ("734", ("foo", "2", "e", "Monitor list is full.")),
        ]
        await foo.send("MONITOR - a", "MONITOR + e", "MONITOR L")
        assert replies(await drain(foo)) == [
            ("731", ("foo", "e")),
            ("732", ("foo", "b,e")),
            ("733", ("foo", "End of MONITOR list")),
        ]


async def test_bad_subcommands_and_missing_parameters() -> None:
    async with running_server() as net:
        foo = await net.client("foo")
        await foo.send("MONITOR", "MONITOR +", "MONITOR - :", "MONITOR X", "MONITOR + ,,")
        assert replies(await drain(foo)) == [
            ("461", ("foo", "MONITOR", "Not enough parameters")),
            ("461", ("foo", "MONITOR", "Not enough parameters")),
            ("461", ("foo", "MONITOR", "Not enough parameters")),
            ("421", ("foo", "MONITOR", "Unknown MONITOR subcommand")),
        ]
        unregistered = await net.connect("early")
        await unregistered.send("MONITOR + foo")
        await unregistered.expect_next(r" 451 ")


async def test_long_lists_are_split_to_fit_a_line() -> None:
    async with running_server(monitor_limit=200) as net:
        foo = await net.client("foo")
        nicks = [f"someone{i:03d}xxxxxxxxxx" for i in range(60)]
        for i in range(0, 60, 20):
            await foo.send(f"MONITOR + {','.join(nicks[i : i + 20])}")
        await drain(foo)
        for query, numeric in (("S", "731"), ("L", "732")):
            await foo.send(f"MONITOR {query}")
            lines = [m for m in await drain(foo) if m.command != "733"]
            assert {m.command for m in lines} == {numeric}
            assert len(lines) > 1
            assert all(len(m.to_bytes()) <= 512 for m in lines)
            assert [n for m in lines for n in m.params[1].split(",")] == nicks


async def test_the_index_is_cleaned_when_a_watcher_leaves() -> None:
    async with running_server() as net:
        foo = await net.client("foo")
        keep = await net.client("keep")
        await foo.send("MONITOR + bar,baz")
        await keep.send("MONITOR + bar")
        await drain(foo)
        await drain(keep)
        network = net.server.network
        assert set(network.monitors) == {"bar", "baz"}
        await _quit(foo)
        await drain(keep)
        assert set(network.monitors) == {"bar"}
        assert [u.nick for u in network.monitors["bar"]] == ["keep"]
        await keep.send("MONITOR - bar")
        await drain(keep)
        assert network.monitors == {}
        assert network.users["keep"].monitoring is None


# ---- extended-monitor -------------------------------------------------------------------------------------


async def _watch(net: InProcessNetwork, watcher_caps: str, *, before: bool) -> tuple[IRCClient, IRCClient]:
    """foo (with ``watcher_caps``) monitors bar, before or after bar connects; both drained."""
    foo = await net.client("foo", caps=watcher_caps)
    if before:
        await foo.send("MONITOR + bar")
        await drain(foo)
        bar = await net.client("bar")
    else:
        bar = await net.client("bar")
        await foo.send("MONITOR + bar")
    await foo.expect_next(r" 730 ")
    assert await drain(foo) == []
    return foo, bar


@pytest.mark.parametrize("cap", ["extended-monitor", "draft/extended-monitor"])
@pytest.mark.parametrize("before", [True, False])
async def test_extended_monitor_tells_away_to_those_with_away_notify(cap: str, before: bool) -> None:
    async with running_server() as net:
        foo, bar = await _watch(net, f"{cap} away-notify", before=before)
        await bar.send("AWAY :afk")
        await bar.expect(r" 306 ")
        away = await foo.expect_next(r" AWAY ")
        assert away.source == "bar!~bar@unknown" and away.params == ("afk",)
        await bar.send("AWAY")
        await bar.expect(r" 305 ")
        assert (await foo.expect_next(r" AWAY")).params == ()
        assert await drain(foo) == []


@pytest.mark.parametrize("watcher_caps", ["away-notify", "extended-monitor", ""])
async def test_without_both_caps_monitored_away_is_not_told(watcher_caps: str) -> None:
    async with running_server() as net:
        foo, bar = await _watch(net, watcher_caps, before=True)
        await bar.send("AWAY :afk")
        await bar.expect(r" 306 ")
        assert await drain(foo) == []


async def test_a_monitored_neighbour_hears_once() -> None:
    async with running_server() as net:
        foo, bar = await _watch(net, "extended-monitor away-notify", before=False)
        await foo.send("JOIN #a")
        await bar.send("JOIN #a")
        await bar.expect(r" 366 ")
        await drain(foo)
        await bar.send("AWAY :afk")
        await bar.expect(r" 306 ")
        assert [m.command for m in await drain(foo)] == ["AWAY"]


@pytest.mark.parametrize("watcher_caps", ["extended-monitor account-notify", "account-notify", "extended-monitor"])
async def test_extended_monitor_tells_account_changes(watcher_caps: str) -> None:
    async with running_server(ACCOUNTS) as net:
        foo, bar = await _watch(net, watcher_caps, before=True)
        await bar.send("PRIVMSG NickServ :REGISTER sesame12")
        await bar.expect("Account created")
        lines = await drain(foo)
        if watcher_caps == "extended-monitor account-notify":
            assert replies(lines) == [("ACCOUNT", ("bar",))]
            assert lines[0].source == "bar!~bar@unknown"
        else:
            assert lines == []


async def test_extended_monitor_tells_setname_to_those_with_setname() -> None:
    async with running_server() as net:
        foo, bar = await _watch(net, "extended-monitor setname", before=True)
        other = await net.client("other", caps="extended-monitor")
        await other.send("MONITOR + bar")
        await drain(other)
        await bar.send("SETNAME :new name")
        await drain(bar)
        lines = await drain(foo)
        assert replies(lines) == [("SETNAME", ("new name",))]
        assert lines[0].source == "bar!~bar@unknown"
        assert await drain(other) == []
