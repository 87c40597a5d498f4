"""INVITE without arguments (336/337, the channels one is invited to) and KNOCK (710–714): asking the operators of
a channel one cannot join for an invitation, rate limited per user and channel and per channel."""

from __future__ import annotations

import math

import pytest
import trio
import trio.testing

from tests.helpers import canon, drain, join, plain, running_server, settle
from trio_chat.server.config import ConfigError, ServerConfig


async def test_invite_alone_lists_my_invitations() -> None:
    async with running_server() as net:
        alice, bob = await net.client("alice"), await net.client("bob")
        await join(alice, "alice", "#a")
        await join(alice, "alice", "#b")
        await join(alice, "alice", "#c")
        await bob.send("INVITE")
        assert plain(await drain(bob)) == canon(":test.server 337 bob :End of /INVITE list")
        await alice.send("INVITE bob #a", "INVITE bob #c")
        await settle(alice, bob)
        await bob.send("INVITE")
        assert plain(await drain(bob)) == canon(
            ":test.server 336 bob #a", ":test.server 336 bob #c", ":test.server 337 bob :End of /INVITE list"
        )
        await join(bob, "bob", "#a")
        await bob.send("INVITE")
        assert [m.command for m in await drain(bob)] == ["336", "337"], "an invitation is used up by the JOIN"
        await bob.send("INVITE alice")
        assert plain(await drain(bob)) == canon(":test.server 461 bob INVITE :Not enough parameters")


async def test_knock_tells_the_operators_and_the_knocker(autojump_clock: trio.testing.MockClock) -> None:
    async with running_server() as net:
        alice, voiced, bob = await net.client("alice"), await net.client("voiced"), await net.client("bob")
        await join(alice, "alice", "#club")
        await join(voiced, "voiced", "#club")
        await alice.send("MODE #club +iv voiced")
        await settle(alice, voiced)
        await bob.send("KNOCK #club :let me in please")
        assert plain(await drain(bob)) == canon(":test.server 711 bob #club :Your KNOCK has been delivered")
        assert plain(await drain(alice)) == canon(
            ":test.server 710 #club #club bob!~bob@unknown :has asked for an invite: let me in please"
        )
        assert await drain(voiced) == [], "operators only"
        await bob.send("KNOCK #club")
        assert plain(await drain(bob)) == canon(":test.server 712 bob #club :Too many KNOCKs (user)")
        await trio.sleep(61)
        await bob.send("KNOCK #CLUB")
        assert [m.command for m in await drain(bob)] == ["711"], "a minute later, again"
        assert plain(await drain(alice)) == canon(
            ":test.server 710 #club #club bob!~bob@unknown :has asked for an invite"
        )
        await alice.send("INVITE bob #club")
        await settle(alice)
        await join(bob, "bob", "#club")


async def test_knock_per_channel_limit(autojump_clock: trio.testing.MockClock) -> None:
    async with running_server() as net:
        alice, bob, carol = await net.client("alice"), await net.client("bob"), await net.client("carol")
        await join(alice, "alice", "#club")
        await alice.send("MODE #club +i")
        await settle(alice)
        await bob.send("KNOCK #club")
        await settle(bob)
        await carol.send("KNOCK #club")
        assert plain(await drain(carol)) == canon(":test.server 712 carol #club :Too many KNOCKs (channel)")
        await trio.sleep(11)
        await carol.send("KNOCK #club")
        assert [m.command for m in await drain(carol)] == ["711"]
        assert [m.params[2] for m in await drain(alice)] == ["bob!~bob@unknown", "carol!~carol@unknown"]


async def test_knock_limits_follow_the_settings(autojump_clock: trio.testing.MockClock) -> None:
    """``knock_interval`` and ``knock_channel_interval`` replace the minute and the 10 seconds."""
    async with running_server(knock_interval=120.0, knock_channel_interval=30.0) as net:
        alice, bob, carol = await net.client("alice"), await net.client("bob"), await net.client("carol")
        await join(alice, "alice", "#club")
        await alice.send("MODE #club +i")
        await settle(alice)
        await bob.send("KNOCK #club")
        assert [m.command for m in await drain(bob)] == ["711"]
        await trio.sleep(11)
        await carol.send("KNOCK #club")
        assert plain(await drain(carol)) == canon(":test.server 712 carol #club :Too many KNOCKs (channel)")
        await trio.sleep(20)
        await carol.send("KNOCK #club")
        assert [m.command for m in await drain(carol)] == ["711"], "31 s after the last delivered KNOCK"
        await trio.sleep(40)
        await bob.send("KNOCK #club")
        assert plain(await drain(bob)) == canon(":test.server 712 bob #club :Too many KNOCKs (user)"), "71 s later"
        await trio.sleep(50)
        await bob.send("KNOCK #club")
        assert [m.command for m in await drain(bob)] == ["711"], "two minutes after his first"
        assert [m.params[2] for m in await drain(alice) if m.command == "710"] == [
            "bob!~bob@unknown",
            "carol!~carol@unknown",
            "bob!~bob@unknown",
        ]


async def test_knock_limits_of_zero_turn_them_off(autojump_clock: trio.testing.MockClock) -> None:
    async with running_server(knock_interval=0.0, knock_channel_interval=0.0) as net:
        alice, bob, carol = await net.client("alice"), await net.client("bob"), await net.client("carol")
        await join(alice, "alice", "#club")
        await alice.send("MODE #club +i")
        await settle(alice)
        await bob.send("KNOCK #club", "KNOCK #club")
        await carol.send("KNOCK #club")
        assert [m.command for m in await drain(bob)] == ["711", "711"]
        assert [m.command for m in await drain(carol)] == ["711"]
        assert [m.command for m in await drain(alice)] == ["710", "710", "710"]


@pytest.mark.parametrize("field", ["knock_interval", "knock_channel_interval"])
@pytest.mark.parametrize("value", [-1, 86_401, math.nan, math.inf])
def test_knock_settings_out_of_range_are_refused(field: str, value: float) -> None:
    with pytest.raises(ConfigError, match=rf"^{field} must be from 0 \(no limit\) to 86400 seconds$"):
        ServerConfig().merged({field: value})
    assert getattr(ServerConfig().merged({field: 5}), field) == 5.0


async def test_knock_errors() -> None:
    async with running_server() as net:
        alice, bob = await net.client("alice"), await net.client("bob")
        for name in ("#open", "#full", "#banned", "#secret"):
            await join(alice, "alice", name)
        await alice.send("MODE #full +l 1", "MODE #banned +ib bob", "MODE #secret +is")
        await settle(alice)
        await bob.send(
            "KNOCK",
            "KNOCK #nowhere",
            "KNOCK #open",
            "KNOCK #banned",
            "KNOCK #secret",
            "KNOCK #full",
        )
        assert plain(await drain(bob)) == canon(
            ":test.server 461 bob KNOCK :Not enough parameters",
            ":test.server 403 bob #nowhere :No such channel",
            ":test.server 713 bob #open :Channel is open",
            ":test.server 404 bob #banned :Cannot knock on this channel",
            ":test.server 404 bob #secret :Cannot knock on this channel",
            ":test.server 711 bob #full :Your KNOCK has been delivered",
        )
        await settle(alice)
        await alice.send("KNOCK #open")
        assert plain(await drain(alice)) == canon(":test.server 714 alice #open :You are already on that channel")


async def test_knock_is_in_isupport() -> None:
    async with running_server() as net:
        c = await net.connect()
        await c.send("NICK alice", "USER alice 0 * :Alice")
        lines = await c.collect_until(r" 422 ")
        assert "KNOCK" in [p for m in lines if m.command == "005" for p in m.params[1:-1]]
