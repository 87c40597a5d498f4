"""Messages as modern.ircdocs.horse and the IRCv3 specs describe them: PRIVMSG, NOTICE and TAGMSG to channels
and nicks, their errors, AWAY, the message-tags family (server-time, msgid, client tags, echo-message), and nick
changes and quits reaching every affected person exactly once."""

from __future__ import annotations

import re

import pytest

from tests.helpers import canon, drain, join, plain, running_server, settle

SERVER_TIME = "2023-11-14T22:13:20.000Z"
"""The test server's clock (1_700_000_000) as an IRCv3 server-time value."""


# ---- PRIVMSG and NOTICE -------------------------------------------------------------------------------------


@pytest.mark.parametrize("verb", ["PRIVMSG", "NOTICE"])
async def test_channel_message_reaches_every_other_member_once(verb: str) -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        carol = await net.client("carol")
        outsider = await net.client("dave")
        for c, nick in ((alice, "alice"), (bob, "bob"), (carol, "carol")):
            await join(c, nick, "#a")
        await settle(alice, bob, carol)
        await alice.send(f"{verb} #a :hello, room")
        expected = canon(f":alice!~alice@unknown {verb} #a :hello, room")
        assert plain(await drain(bob)) == expected
        assert plain(await drain(carol)) == expected
        assert await drain(alice) == [], "no copy to the sender without echo-message"
        assert await drain(outsider) == []


@pytest.mark.parametrize("verb", ["PRIVMSG", "NOTICE"])
async def test_private_message_reaches_the_nick_only(verb: str) -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        carol = await net.client("carol")
        await alice.send(f"{verb} BOB :just between us")
        assert plain(await drain(bob)) == canon(f":alice!~alice@unknown {verb} bob :just between us")
        assert await drain(alice) == []
        assert await drain(carol) == []


async def test_targets_are_named_as_their_owners_spell_them() -> None:
    async with running_server() as net:
        alice = await net.client("alice", caps="echo-message")
        bob = await net.client("Bob")
        await join(bob, "Bob", "#Lobby")
        await alice.send("JOIN #lobby")
        await alice.expect(r" 366 alice #Lobby ")
        await settle(alice, bob)
        await alice.send("PRIVMSG #LOBBY :hi room", "PRIVMSG BOB :hi you", "PRIVMSG @#LOBBY :hi ops")
        expected = canon(
            ":alice!~alice@unknown PRIVMSG #Lobby :hi room",
            ":alice!~alice@unknown PRIVMSG Bob :hi you",
            ":alice!~alice@unknown PRIVMSG @#Lobby :hi ops",
        )
        # alice first: her drain returns once all three were handled (each waits for its commit: the echo is
        # her receipt), so bob's drain then sees all three.
        assert plain(await drain(alice)) == expected
        assert plain(await drain(bob)) == expected


async def test_several_targets_each_get_their_copy() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        carol = await net.client("carol")
        await join(alice, "alice", "#a")
        await join(carol, "carol", "#a")
        await settle(alice, carol)
        await alice.send("PRIVMSG #a,bob,carol :to all of you")
        assert plain(await drain(bob)) == canon(":alice!~alice@unknown PRIVMSG bob :to all of you")
        assert plain(await drain(carol)) == canon(
            ":alice!~alice@unknown PRIVMSG #a :to all of you",
            ":alice!~alice@unknown PRIVMSG carol :to all of you",
        )
        assert await drain(alice) == []


async def test_an_error_for_one_target_does_not_stop_the_others() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await alice.send("PRIVMSG nobody,#nowhere,bob :hi")
        assert plain(await drain(alice)) == canon(
            ":test.server 401 alice nobody :No such nick/channel",
            ":test.server 403 alice #nowhere :No such channel",
        )
        assert plain(await drain(bob)) == canon(":alice!~alice@unknown PRIVMSG bob :hi")


async def test_privmsg_errors() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await join(bob, "bob", "#closed")
        await alice.send("PRIVMSG nobody :hi")
        assert (await alice.expect_next(r" 401 ")).params == ("alice", "nobody", "No such nick/channel")
        await alice.send("PRIVMSG #nowhere :hi")
        assert (await alice.expect_next(r" 403 ")).params == ("alice", "#nowhere", "No such channel")
        await alice.send("PRIVMSG #closed :hi")
        assert (await alice.expect_next(r" 404 ")).params == ("alice", "#closed", "Cannot send to channel")
        await alice.send("PRIVMSG")
        assert (await alice.expect_next(r" 411 ")).params == ("alice", "No recipient given (PRIVMSG)")
        await alice.send("PRIVMSG ,, :hi")
        assert (await alice.expect_next(r" 411 ")).params == ("alice", "No recipient given (PRIVMSG)")
        await alice.send("PRIVMSG bob")
        assert (await alice.expect_next(r" 412 ")).params == ("alice", "No text to send")
        await alice.send("PRIVMSG bob :")
        assert (await alice.expect_next(r" 412 ")).params == ("alice", "No text to send")
        await alice.send("PRIVMSG a,b,c,d,e :hi")
        reply = await alice.expect_next(r" 407 ")
        assert reply.params[:2] == ("alice", "a,b,c,d,e")
        assert await drain(bob) == []


async def test_four_targets_are_within_targmax() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        others = [await net.client(nick) for nick in ("b1", "b2", "b3", "b4")]
        await alice.send("PRIVMSG b1,b2,b3,b4 :hi")
        for c in others:
            assert (await c.expect(r"PRIVMSG")).params[1] == "hi"
        assert await drain(alice) == []


@pytest.mark.parametrize(
    "line",
    ["NOTICE nobody :hi", "NOTICE #nowhere :hi", "NOTICE #closed :hi", "NOTICE", "NOTICE bob", "NOTICE a,b,c,d,e :x"],
)
async def test_notice_never_gets_an_error_reply(line: str) -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await join(bob, "bob", "#closed")
        await alice.send(line)
        assert await drain(alice) == []


async def test_away_reply_for_privmsg_but_not_for_notice() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await bob.send("AWAY :gone fishing")
        assert (await bob.expect_next(r" 306 ")).params == ("bob", "You have been marked as being away")
        await alice.send("PRIVMSG bob :are you there?")
        assert (await alice.expect_next(r" 301 ")).params == ("alice", "bob", "gone fishing")
        await alice.send("NOTICE bob :fyi")
        assert await drain(alice) == []
        assert [m.command for m in await drain(bob)] == ["PRIVMSG", "NOTICE"]
        await bob.send("AWAY")
        assert (await bob.expect_next(r" 305 ")).params == ("bob", "You are no longer marked as being away")
        await alice.send("PRIVMSG bob :back?")
        assert await drain(alice) == []


async def test_away_message_is_cut_to_awaylen() -> None:
    async with running_server(awaylen=5) as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await bob.send("AWAY :far far away")
        await bob.expect(r" 306 ")
        await alice.send("PRIVMSG bob :hi")
        assert (await alice.expect_next(r" 301 ")).params == ("alice", "bob", "far f")


async def test_status_message_reaches_only_operators() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        carol = await net.client("carol")
        dave = await net.client("dave")
        for c, nick in ((alice, "alice"), (bob, "bob"), (carol, "carol"), (dave, "dave")):
            await join(c, nick, "#a")
        await alice.send("MODE #a +o-v+v bob dave carol")
        await settle(alice, bob, carol, dave)
        await dave.send("PRIVMSG @#a :ops only")
        expected = canon(":dave!~dave@unknown PRIVMSG @#a :ops only")
        assert plain(await drain(alice)) == expected
        assert plain(await drain(bob)) == expected
        assert await drain(carol) == []
        assert await drain(dave) == []
        await dave.send("NOTICE +#a :voiced and up")
        expected = canon(":dave!~dave@unknown NOTICE +#a :voiced and up")
        for c in (alice, bob, carol):
            assert plain(await drain(c)) == expected
        assert await drain(dave) == []


# ---- echo-message, server-time, msgid, client tags ----------------------------------------------------------


async def test_echo_message_returns_the_senders_own_message_once() -> None:
    async with running_server() as net:
        alice = await net.client("alice", caps="echo-message")
        bob = await net.client("bob")
        await join(alice, "alice", "#a")
        await join(bob, "bob", "#a")
        await settle(alice, bob)
        await alice.send("PRIVMSG #a :echo me", "NOTICE bob :and me", "PRIVMSG alice :note to self")
        # To oneself: the delivery and the echo, as ergo sends them (irctest's labeled-response and
        # CHATHISTORY tests count both).
        assert plain(await drain(alice)) == canon(
            ":alice!~alice@unknown PRIVMSG #a :echo me",
            ":alice!~alice@unknown NOTICE bob :and me",
            ":alice!~alice@unknown PRIVMSG alice :note to self",
            ":alice!~alice@unknown PRIVMSG alice :note to self",
        )
        assert plain(await drain(bob)) == canon(
            ":alice!~alice@unknown PRIVMSG #a :echo me", ":alice!~alice@unknown NOTICE bob :and me"
        )


async def test_a_labeled_message_to_oneself_labels_the_echo_and_not_the_delivery() -> None:
    async with running_server() as net:
        alice = await net.client("alice", caps="echo-message batch labeled-response")
        await alice.send("@label=12345 PRIVMSG alice :hi")
        lines = [m.to_line() for m in await drain(alice)]
        assert sorted(lines) == sorted(
            ["@label=12345 :alice!~alice@unknown PRIVMSG alice :hi", ":alice!~alice@unknown PRIVMSG alice :hi"]
        )


async def test_a_message_to_oneself_without_echo_arrives_once() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        await alice.send("PRIVMSG alice :note to self")
        assert plain(await drain(alice)) == canon(":alice!~alice@unknown PRIVMSG alice :note to self")


async def test_failed_message_is_not_echoed() -> None:
    async with running_server() as net:
        alice = await net.client("alice", caps="echo-message")
        await alice.send("PRIVMSG nobody :hi")
        assert [m.command for m in await drain(alice)] == ["401"]


async def test_server_time_and_msgid_tags() -> None:
    async with running_server() as net:
        timed = await net.client("alice", caps="server-time echo-message")
        tagged = await net.client("bob", caps="message-tags server-time")
        bare = await net.client("carol")
        for c, nick in ((timed, "alice"), (tagged, "bob"), (bare, "carol")):
            await join(c, nick, "#a")
        await settle(timed, tagged, bare)
        await bare.send("PRIVMSG #a :what time is it")
        [to_timed] = await drain(timed)
        assert dict(to_timed.tags) == {"time": SERVER_TIME}
        [to_tagged] = await drain(tagged)
        assert set(to_tagged.tags) == {"time", "msgid"}
        assert to_tagged.tags["time"] == SERVER_TIME
        assert to_tagged.tags["msgid"]
        assert to_timed.params == ("#a", "what time is it")
        await bare.send("PRIVMSG #a :again")
        [second] = await drain(tagged)
        assert second.tags["msgid"] != to_tagged.tags["msgid"], "every message gets its own msgid"


async def test_echo_carries_the_same_msgid_the_recipients_see() -> None:
    async with running_server() as net:
        alice = await net.client("alice", caps="message-tags echo-message")
        bob = await net.client("bob", caps="message-tags")
        await alice.send("PRIVMSG bob :hi")
        [echo] = await drain(alice)
        [delivered] = await drain(bob)
        assert echo.tags["msgid"] == delivered.tags["msgid"]
        assert "time" not in delivered.tags


async def test_non_message_events_carry_server_time_too() -> None:
    async with running_server() as net:
        alice = await net.client("alice", caps="server-time")
        bob = await net.client("bob")
        await join(alice, "alice", "#a")
        await settle(alice)
        await join(bob, "bob", "#a")
        [joined] = await drain(alice)
        assert joined.command == "JOIN"
        assert joined.tags["time"] == SERVER_TIME


async def test_client_only_tags_reach_only_message_tags_clients() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        tagged = await net.client("bob", caps="message-tags")
        bare = await net.client("carol", caps="server-time")
        for c, nick in ((alice, "alice"), (tagged, "bob"), (bare, "carol")):
            await join(c, nick, "#a")
        await settle(alice, tagged, bare)
        await alice.send(r"@+draft/reply=abc;+example.com/note=a\sb;label=x;time=2000-01-01T00:00:00Z PRIVMSG #a :hi")
        [got] = await drain(tagged)
        assert {k: v for k, v in got.tags.items() if k != "msgid"} == {
            "+draft/reply": "abc",
            "+example.com/note": "a b",
        }
        [plain_copy] = await drain(bare)
        assert dict(plain_copy.tags) == {"time": SERVER_TIME}, "clients cannot forge server tags"
        assert plain_copy.params == ("#a", "hi")


async def test_tagmsg_reaches_only_message_tags_clients() -> None:
    async with running_server() as net:
        alice = await net.client("alice", caps="message-tags echo-message")
        tagged = await net.client("bob", caps="message-tags")
        bare = await net.client("carol")
        for c, nick in ((alice, "alice"), (tagged, "bob"), (bare, "carol")):
            await join(c, nick, "#a")
        await settle(alice, tagged, bare)
        await alice.send("@+typing=active TAGMSG #a")
        [got] = await drain(tagged)
        assert got.command == "TAGMSG"
        assert got.params == ("#a",)
        assert got.source == "alice!~alice@unknown"
        assert got.tags["+typing"] == "active"
        assert await drain(bare) == []
        [echo] = await drain(alice)
        assert echo.command == "TAGMSG"
        await alice.send("@+typing=paused TAGMSG bob,carol")
        [direct] = await drain(tagged)
        assert (direct.command, direct.params, direct.tags["+typing"]) == ("TAGMSG", ("bob",), "paused")
        assert await drain(bare) == []


async def test_tagmsg_errors() -> None:
    async with running_server() as net:
        alice = await net.client("alice", caps="message-tags")
        await alice.send("@+typing=active TAGMSG nobody")
        assert (await alice.expect_next(r" 401 ")).params == ("alice", "nobody", "No such nick/channel")
        await alice.send("@+typing=active TAGMSG")
        assert (await alice.expect_next(r" 411 ")).params == ("alice", "No recipient given (TAGMSG)")


# ---- nick changes, quits, away-notify -----------------------------------------------------------------------


async def test_nick_change_reaches_everyone_affected_exactly_once() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        carol = await net.client("carol")
        dave = await net.client("dave")
        for name in ("#a", "#b"):
            await join(alice, "alice", name)
            await join(bob, "bob", name)
        await join(carol, "carol", "#b")
        await settle(alice, bob, carol, dave)
        await alice.send("NICK alicia")
        expected = canon(":alice!~alice@unknown NICK alicia")
        assert plain(await drain(alice)) == expected
        assert plain(await drain(bob)) == expected, "sharing two channels, bob hears it once"
        assert plain(await drain(carol)) == expected
        assert await drain(dave) == []
        await bob.send("PRIVMSG alicia :found you", "PRIVMSG alice :old name")
        assert (await bob.expect_next(r" 401 ")).params[1] == "alice"
        assert (await alice.expect_next(r"PRIVMSG")).params == ("alicia", "found you")


async def test_nick_change_without_channels_reaches_only_oneself() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await alice.send("NICK alicia")
        assert plain(await drain(alice)) == canon(":alice!~alice@unknown NICK alicia")
        assert await drain(bob) == []


async def test_quit_reaches_everyone_affected_exactly_once() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        carol = await net.client("carol")
        dave = await net.client("dave")
        for name in ("#a", "#b"):
            await join(alice, "alice", name)
            await join(bob, "bob", name)
        await join(carol, "carol", "#b")
        await settle(alice, bob, carol, dave)
        await alice.send("QUIT :see you tomorrow")
        closing = await alice.expect_closed()
        assert plain(closing) == canon("ERROR :Quit: see you tomorrow")
        expected = canon(":alice!~alice@unknown QUIT :Quit: see you tomorrow")
        assert plain(await drain(bob)) == expected
        assert plain(await drain(carol)) == expected
        assert await drain(dave) == []
        await bob.send("NAMES #a")
        assert (await bob.expect_next(r" 353 ")).params[3] == "bob"


async def test_quit_without_a_reason_and_dropped_connection() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        carol = await net.client("carol")
        for c, nick in ((alice, "alice"), (bob, "bob"), (carol, "carol")):
            await join(c, nick, "#a")
        await settle(alice, bob, carol)
        await alice.send("QUIT")
        assert plain(await alice.expect_closed()) == canon("ERROR :Quit: Client quit")
        assert plain(await drain(bob)) == canon(":alice!~alice@unknown QUIT :Quit: Client quit")
        await carol.stream.aclose()
        [gone] = await bob.collect_until(r" QUIT ")
        assert gone.source == "carol!~carol@unknown"
        assert await drain(bob) == []


async def test_away_notify_tells_channel_neighbours_who_asked() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        notified = await net.client("bob", caps="away-notify")
        plain_client = await net.client("carol")
        stranger = await net.client("dave", caps="away-notify")
        for name in ("#a", "#b"):
            await join(alice, "alice", name)
            await join(notified, "bob", name)
        await join(plain_client, "carol", "#a")
        await settle(alice, notified, plain_client, stranger)
        await alice.send("AWAY :lunch")
        await alice.expect_next(r" 306 ")
        assert plain(await drain(notified)) == canon(":alice!~alice@unknown AWAY :lunch")
        assert await drain(plain_client) == []
        assert await drain(stranger) == []
        await alice.send("AWAY")
        assert plain(await drain(notified)) == canon(":alice!~alice@unknown AWAY")
        await alice.send("AWAY")
        assert (await alice.expect_next(r" 305 ")).params[0] == "alice"
        assert await drain(notified) == [], "coming back without having been away is no news"


async def test_away_notify_on_join_of_an_away_user() -> None:
    async with running_server() as net:
        notified = await net.client("bob", caps="away-notify")
        await join(notified, "bob", "#a")
        alice = await net.client("alice")
        await alice.send("AWAY :brb")
        await alice.expect(r" 306 ")
        await join(alice, "alice", "#a")
        assert plain(await drain(notified)) == canon(":alice!~alice@unknown JOIN #a", ":alice!~alice@unknown AWAY :brb")


# ---- ordering -----------------------------------------------------------------------------------------------


async def test_a_burst_of_messages_arrives_in_order() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await join(alice, "alice", "#a")
        await join(bob, "bob", "#a")
        await settle(bob)
        await alice.send(*(f"PRIVMSG #a :{i}" for i in range(50)), "NICK alicia", "PRIVMSG #a :after")
        lines = await drain(bob)
        assert [m.params[-1] for m in lines] == [*map(str, range(50)), "alicia", "after"]


@pytest.mark.parametrize(
    ("line", "last_reply"),
    [
        ("PRIVMSG bob :x", r" PRIVMSG bob :?x$"),
        ("PRIVMSG nobody :x", r" 401 "),
        ("NOTICE #a :x", r" NOTICE #a :?x$"),
        ("@+typing=active TAGMSG #a", r" TAGMSG #a$"),
        ("AWAY :afk", r" 306 "),
        ("AWAY", r" 305 "),
        ("NICK alicia", r" NICK :?alicia$"),
    ],
)
async def test_each_messaging_command_is_answered_before_the_next(line: str, last_reply: str) -> None:
    async with running_server() as net:
        alice = await net.client("alice", caps="echo-message message-tags")
        bob = await net.client("bob")
        await join(alice, "alice", "#a")
        await join(bob, "bob", "#a")
        await settle(alice)
        await alice.send(line, "PING :order")
        lines = await alice.collect_until(r"PONG \S+ :?order$")
        assert any(re.search(last_reply, m.to_line()) for m in lines[:-1]), plain(lines)
        assert await drain(alice) == []
