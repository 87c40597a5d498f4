"""Queries as modern.ircdocs.horse describes them: WHO, WHOIS, WHOWAS, ISON, USERHOST, VERSION, TIME, INFO and
ADMIN, with invisible (+i) users hidden from strangers and 402 for server names that are not ours."""

from __future__ import annotations

import re

import pytest

from tests.helpers import drain, join, running_server, settle
from trio_chat import __version__
from trio_chat.protocol import Message

SIGNON = "1700000000"
"""The test server's clock: every timestamp it hands out."""


def replies(messages: list[Message]) -> list[tuple[str, tuple[str, ...]]]:
    return [(m.command, m.params) for m in messages]


# ---- WHO ----------------------------------------------------------------------------------------------------


async def test_who_channel_lists_members_with_flags() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await join(alice, "alice", "#a")
        await join(bob, "bob", "#a")
        await bob.send("AWAY :out")
        await bob.expect(r" 306 ")
        await settle(alice)
        await alice.send("WHO #a")
        lines = await alice.collect_until(r" 315 ")
        assert sorted(replies(lines[:-1])) == [
            ("352", ("alice", "#a", "~alice", "unknown", "test.server", "alice", "H@", "0 Alice Person")),
            ("352", ("alice", "#a", "~bob", "unknown", "test.server", "bob", "G", "0 Bob Person")),
        ]
        assert replies(lines[-1:]) == [("315", ("alice", "#a", "End of WHO list"))]


async def test_who_flags_follow_multi_prefix() -> None:
    async with running_server() as net:
        alice = await net.client("alice", caps="multi-prefix")
        await join(alice, "alice", "#a")
        await alice.send("MODE #a +v alice")
        await alice.expect(r" MODE ")
        await alice.send("WHO #a")
        assert (await alice.expect_next(r" 352 ")).params[6] == "H@+"


async def test_who_of_an_unknown_channel_or_mask_is_just_the_end() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        await alice.send("WHO #nowhere", "WHO zz*")
        assert replies(await drain(alice)) == [
            ("315", ("alice", "#nowhere", "End of WHO list")),
            ("315", ("alice", "zz*", "End of WHO list")),
        ]


async def test_who_hides_invisible_users_from_strangers() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        hidden = await net.client("carol")
        stranger = await net.client("dave")
        await hidden.send("MODE carol +i")
        await hidden.expect(r" MODE ")
        await join(alice, "alice", "#a")
        await join(hidden, "carol", "#a")
        await stranger.send("WHO #a")
        lines = await stranger.collect_until(r" 315 ")
        assert [m.params[5] for m in lines if m.command == "352"] == ["alice"]
        await alice.send("WHO #a")
        lines = await alice.collect_until(r" 315 ")
        assert sorted(m.params[5] for m in lines if m.command == "352") == ["alice", "carol"]
        # Mask queries: carol is found by those who share a channel with her, and by her exact nick.
        await stranger.send("WHO car*")
        assert [m.command for m in await stranger.collect_until(r" 315 ")] == ["315"]
        await alice.send("WHO car*")
        assert (await alice.expect_next(r" 352 ")).params[5] == "carol"
        await alice.expect_next(r" 315 alice car\* ")
        await stranger.send("WHO carol")
        assert (await stranger.expect_next(r" 352 ")).params[5] == "carol"


async def test_who_mask_matches_nick_host_and_realname() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        await net.client("bob")
        await net.client("bobby")
        await alice.send("WHO bob*")
        lines = await alice.collect_until(r" 315 ")
        assert sorted(m.params[5] for m in lines if m.command == "352") == ["bob", "bobby"]
        assert all(m.params[1] == "*" for m in lines if m.command == "352"), "no channel in common: '*'"
        await alice.send("WHO *Person")
        lines = await alice.collect_until(r" 315 ")
        assert sorted(m.params[5] for m in lines if m.command == "352") == ["alice", "bob", "bobby"]


async def test_who_mask_does_not_name_a_secret_channel() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await join(bob, "bob", "#secret")
        await bob.send("MODE #secret +s")
        await bob.expect(r" MODE ")
        await join(bob, "bob", "#public")
        await alice.send("WHO bob")
        assert (await alice.expect_next(r" 352 ")).params[1:2] == ("#public",)
        await alice.expect_next(r" 315 ")
        await bob.send("PART #public")
        await bob.expect(r" PART ")
        await alice.send("WHO bob")
        reply = await alice.expect_next(r" 352 ")
        assert reply.params[1] == "*"
        assert reply.params[6] == "H", "no status from a channel the asker cannot see"


# ---- WHOIS --------------------------------------------------------------------------------------------------


async def test_whois_gives_user_channels_server_idle_and_end() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await join(bob, "bob", "#a")
        await join(alice, "alice", "#b")
        await join(bob, "bob", "#b")
        await settle(alice)
        await alice.send("WHOIS bob")
        lines = await alice.collect_until(r" 318 ")
        assert replies(lines) == [
            ("311", ("alice", "bob", "~bob", "unknown", "*", "Bob Person")),
            ("319", ("alice", "bob", "@#a #b")),
            ("312", ("alice", "bob", "test.server", "TrioChat")),
            ("317", ("alice", "bob", "0", SIGNON, "seconds idle, signon time")),
            ("318", ("alice", "bob", "End of /WHOIS list")),
        ]


async def test_whois_shows_away_and_hides_secret_channels() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await join(bob, "bob", "#hidden")
        await bob.send("MODE #hidden +s", "AWAY :busy")
        await bob.expect(r" 306 ")
        await alice.send("WHOIS BOB")
        lines = await alice.collect_until(r" 318 ")
        commands = [m.command for m in lines]
        assert "319" not in commands
        assert ("301", ("alice", "bob", "busy")) in replies(lines)
        assert lines[-1].params == ("alice", "bob", "End of /WHOIS list")
        await bob.send("WHOIS bob")
        lines = await bob.collect_until(r" 318 ")
        assert ("319", ("bob", "bob", "@#hidden")) in replies(lines)


async def test_whois_with_a_server_parameter_and_unknown_nick() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        await net.client("bob")
        await alice.send("WHOIS test.server bob")
        assert (await alice.expect_next(r" 311 ")).params[1] == "bob"
        await alice.expect(r" 318 ")
        await alice.send("WHOIS nobody")
        assert replies(await alice.collect_until(r" 318 ")) == [
            ("401", ("alice", "nobody", "No such nick/channel")),
            ("318", ("alice", "nobody", "End of /WHOIS list")),
        ]


# ---- WHOWAS -------------------------------------------------------------------------------------------------


async def test_whowas_remembers_quits_and_nick_changes() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await bob.send("NICK robert")
        await bob.expect(r" NICK ")
        await bob.send("QUIT :bye")
        await bob.expect_closed()
        await alice.send("WHOWAS bob")
        assert replies(await alice.collect_until(r" 369 ")) == [
            ("314", ("alice", "bob", "~bob", "unknown", "*", "Bob Person")),
            ("312", ("alice", "bob", "test.server", "Tue Nov 14 22:13:20 2023")),
            ("369", ("alice", "bob", "End of WHOWAS")),
        ]
        await alice.send("WHOWAS ROBERT")
        lines = await alice.collect_until(r" 369 ")
        assert [m.command for m in lines] == ["314", "312", "369"]
        assert lines[0].params[1] == "robert"
        assert lines[-1].params == ("alice", "ROBERT", "End of WHOWAS")


async def test_whowas_count_limits_the_entries() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        for _ in range(3):
            c = await net.client("bob")
            await c.send("QUIT")
            await c.expect_closed()
        await alice.send("WHOWAS bob")
        assert [m.command for m in await alice.collect_until(r" 369 ")].count("314") == 3
        await alice.send("WHOWAS bob 2")
        assert [m.command for m in await alice.collect_until(r" 369 ")].count("314") == 2


async def test_whowas_of_a_nick_never_seen_is_406() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        await alice.send("WHOWAS ghost")
        assert replies(await alice.collect_until(r" 369 ")) == [
            ("406", ("alice", "ghost", "There was no such nickname")),
            ("369", ("alice", "ghost", "End of WHOWAS")),
        ]


# ---- ISON and USERHOST --------------------------------------------------------------------------------------


async def test_ison_lists_the_nicks_that_are_online() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        await net.client("Bob")
        await alice.send("ISON bob nobody ALICE")
        assert (await alice.expect_next(r" 303 ")).params == ("alice", "Bob alice")
        await alice.send("ISON :nobody bob")
        assert (await alice.expect_next(r" 303 ")).params == ("alice", "Bob")
        await alice.send("ISON nobody")
        assert (await alice.expect_next(r" 303 ")).params == ("alice", "")


async def test_userhost_shows_host_and_away_state() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await bob.send("AWAY :gone")
        await bob.expect(r" 306 ")
        await alice.send("USERHOST alice BOB nobody")
        assert (await alice.expect_next(r" 302 ")).params == ("alice", "alice=+~alice@unknown bob=-~bob@unknown")
        await alice.send("USERHOST nobody")
        assert (await alice.expect_next(r" 302 ")).params == ("alice", "")


# ---- server queries -----------------------------------------------------------------------------------------


async def test_version_gives_351_then_isupport() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        await alice.send("VERSION")
        lines = await drain(alice)
        assert lines[0].command == "351"
        assert lines[0].params[:3] == ("alice", f"trio-chat-{__version__}", "test.server")
        assert lines[1:]
        assert all(m.command == "005" for m in lines[1:])
        assert any("CASEMAPPING=rfc1459" in m.params for m in lines[1:])


async def test_time_gives_391() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        await alice.send("TIME")
        reply = await alice.expect_next(r" 391 ")
        assert reply.params[:2] == ("alice", "test.server")
        assert "2023" in reply.params[-1]
        assert "22:13:20" in reply.params[-1]


async def test_info_gives_371_lines_then_374() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        await alice.send("INFO")
        lines = await drain(alice)
        assert [m.command for m in lines[:-1]] == ["371"] * (len(lines) - 1)
        assert len(lines) >= 2
        assert lines[-1].params == ("alice", "End of INFO list")


async def test_admin_gives_256_to_259() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        await alice.send("ADMIN")
        lines = await drain(alice)
        assert [m.command for m in lines] == ["256", "257", "258", "259"]
        assert lines[0].params == ("alice", "test.server", "Administrative info")
        assert all(m.params[0] == "alice" for m in lines)


@pytest.mark.parametrize("verb", ["VERSION", "TIME", "INFO", "ADMIN", "MOTD"])
async def test_other_server_names_get_402(verb: str) -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        await alice.send(f"{verb} irc.elsewhere.example")
        assert replies(await drain(alice)) == [("402", ("alice", "irc.elsewhere.example", "No such server"))]
        await alice.send(f"{verb} test.server")
        assert (await drain(alice))[0].command != "402"


# ---- ordering -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "last_reply"),
    [
        ("WHO #a", r" 315 "),
        ("WHOIS bob", r" 318 "),
        ("WHOWAS bob", r" 369 "),
        ("ISON bob", r" 303 "),
        ("USERHOST bob", r" 302 "),
        ("VERSION", r" 005 "),
        ("TIME", r" 391 "),
        ("INFO", r" 374 "),
        ("ADMIN", r" 259 "),
        ("VERSION nowhere.example", r" 402 "),
    ],
)
async def test_each_query_is_answered_before_the_next(line: str, last_reply: str) -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await join(alice, "alice", "#a")
        await join(bob, "bob", "#a")
        await settle(alice)
        await alice.send(line, "PING :order")
        lines = await alice.collect_until(r"PONG \S+ :?order$")
        assert any(re.search(last_reply, m.to_line()) for m in lines[:-1]), lines
        assert await drain(alice) == []
