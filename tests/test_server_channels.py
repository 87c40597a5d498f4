"""Channels as modern.ircdocs.horse describes them: JOIN, PART, TOPIC, NAMES, LIST, KICK, INVITE and MODE."""

from __future__ import annotations

import re

import pytest

from tests.helpers import canon, drain, join, plain, running_server, settle

CREATED = "1700000000"
"""The test server's clock: every timestamp it hands out."""


# ---- JOIN ---------------------------------------------------------------------------------------------------


async def test_first_member_becomes_operator_and_gets_join_names_end() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        lines = await join(alice, "alice", "#lobby")
        assert plain(lines) == canon(
            ":alice!~alice@unknown JOIN #lobby",
            ":test.server 353 alice = #lobby :@alice",
            ":test.server 366 alice #lobby :End of /NAMES list",
        )
        bob = await net.client("bob")
        lines = await join(bob, "bob", "#lobby")
        assert plain(lines)[0] == ":bob!~bob@unknown JOIN #lobby"
        assert lines[1].command == "353"
        assert sorted(lines[1].params[3].split()) == ["@alice", "bob"]
        assert plain(await drain(alice)) == canon(":bob!~bob@unknown JOIN #lobby")
        assert await drain(bob) == []


async def test_join_several_channels_with_keys() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        await join(alice, "alice", "#a")
        await join(alice, "alice", "#b")
        await alice.send("MODE #b +k secret")
        await alice.expect(r"MODE #b \+k secret")
        bob = await net.client("bob")
        await bob.send("JOIN #a,#b,#c ignored,secret")
        lines = await bob.collect_until(r" 366 bob #c ")
        joins = [m.params[0] for m in lines if m.command == "JOIN"]
        ends = [m.params[1] for m in lines if m.command == "366"]
        assert joins == ["#a", "#b", "#c"]
        assert ends == ["#a", "#b", "#c"]
        assert await drain(bob) == []


async def test_join_with_a_wrong_or_missing_key_is_475() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        await join(alice, "alice", "#k")
        await alice.send("MODE #k +k sesame")
        await alice.expect(r"MODE #k \+k sesame")
        bob = await net.client("bob")
        await bob.send("JOIN #k wrong", "JOIN #k")
        for _ in range(2):
            assert (await bob.expect_next(r" 475 ")).params == ("bob", "#k", "Cannot join channel (+k)")
        await join(bob, "bob", "#k", "sesame")
        assert plain(await drain(alice)) == canon(":bob!~bob@unknown JOIN #k")


async def test_joining_a_channel_one_is_in_does_nothing() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        await join(alice, "alice", "#a")
        await alice.send("JOIN #A")
        assert await drain(alice) == []


@pytest.mark.parametrize("bad", ["lobby", "#a,b", "#" + "x" * 50, "#bell\x07"])
async def test_join_of_a_bad_channel_name_is_403(bad: str) -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        await alice.send(f"JOIN {bad}")
        lines = await drain(alice)
        errors = [m for m in lines if m.command == "403"]
        assert errors
        assert errors[0].params[0] == "alice"
        assert errors[0].params[2] == "No such channel"


async def test_join_0_parts_every_channel_once() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        for name in ("#a", "#b"):
            await join(alice, "alice", name)
            await join(bob, "bob", name)
        await settle(alice, bob)
        await bob.send("JOIN 0")
        assert sorted(plain(await drain(bob))) == canon(":bob!~bob@unknown PART #a", ":bob!~bob@unknown PART #b")
        assert sorted(plain(await drain(alice))) == canon(":bob!~bob@unknown PART #a", ":bob!~bob@unknown PART #b")
        await bob.send("WHOIS bob")
        lines = await bob.collect_until(r" 318 ")
        assert "319" not in [m.command for m in lines]


async def test_names_prefixes_with_multi_prefix_and_userhost_in_names() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        await join(alice, "alice", "#a")
        await alice.send("MODE #a +v alice")
        await alice.expect(r"MODE #a \+v alice")
        plain_client = await net.client("bob")
        multi = await net.client("carol", caps="multi-prefix")
        full = await net.client("dave", caps="multi-prefix userhost-in-names")
        lines = await join(plain_client, "bob", "#a")
        assert lines[1].params == ("bob", "=", "#a", "@alice bob")
        lines = await join(multi, "carol", "#a")
        assert lines[1].params == ("carol", "=", "#a", "@+alice bob carol")
        lines = await join(full, "dave", "#a")
        assert lines[1].params == (
            "dave",
            "=",
            "#a",
            "@+alice!~alice@unknown bob!~bob@unknown carol!~carol@unknown dave!~dave@unknown",
        )


async def test_extended_join_shows_account_and_realname_only_to_those_who_asked() -> None:
    async with running_server() as net:
        ext = await net.client("alice", caps="extended-join")
        old = await net.client("bob")
        await join(ext, "alice", "#a")
        await join(old, "bob", "#a")
        await settle(ext, old)
        carol = await net.client("carol")
        await join(carol, "carol", "#a")
        assert plain(await drain(ext)) == canon(":carol!~carol@unknown JOIN #a * :Carol Person")
        assert plain(await drain(old)) == canon(":carol!~carol@unknown JOIN #a")


async def test_join_shows_the_topic_with_who_and_when() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        await join(alice, "alice", "#a")
        await alice.send("TOPIC #a :Welcome all")
        await alice.expect(r"TOPIC #a")
        bob = await net.client("bob")
        lines = await join(bob, "bob", "#a")
        assert [m.command for m in lines] == ["JOIN", "332", "333", "353", "366"]
        assert lines[1].params == ("bob", "#a", "Welcome all")
        assert lines[2].params == ("bob", "#a", "alice!~alice@unknown", CREATED)


async def test_channel_names_fold_under_rfc1459_and_keep_their_first_spelling() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await join(alice, "alice", "#Lobby[1]")
        await settle(alice)
        await bob.send("JOIN #LOBBY{1}")
        lines = await bob.collect_until(r" 366 ")
        assert plain(lines[:1]) == canon(":bob!~bob@unknown JOIN #Lobby[1]")
        assert lines[1].params[2] == "#Lobby[1]"
        assert plain(await drain(alice)) == canon(":bob!~bob@unknown JOIN #Lobby[1]")


# ---- PART ---------------------------------------------------------------------------------------------------


async def test_part_with_a_reason_reaches_everyone_once() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await join(alice, "alice", "#a")
        await join(bob, "bob", "#a")
        await settle(alice, bob)
        await bob.send("PART #a :off to lunch")
        assert plain(await drain(bob)) == canon(":bob!~bob@unknown PART #a :off to lunch")
        assert plain(await drain(alice)) == canon(":bob!~bob@unknown PART #a :off to lunch")
        await alice.send("PART #a")
        assert plain(await drain(alice)) == canon(":alice!~alice@unknown PART #a")
        assert await drain(bob) == []
        await alice.send("LIST")
        assert [m.command for m in await alice.collect_until(r" 323 ")] == ["321", "323"]


async def test_part_errors_403_and_442() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await join(alice, "alice", "#a")
        await bob.send("PART #nowhere", "PART #a")
        assert (await bob.expect_next(r" 403 ")).params == ("bob", "#nowhere", "No such channel")
        assert (await bob.expect_next(r" 442 ")).params == ("bob", "#a", "You're not on that channel")


# ---- TOPIC --------------------------------------------------------------------------------------------------


async def test_topic_query_set_and_protection() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await join(alice, "alice", "#a")
        await join(bob, "bob", "#a")
        await settle(alice, bob)
        await bob.send("TOPIC #a")
        assert (await bob.expect_next(r" 331 ")).params == ("bob", "#a", "No topic is set")
        await bob.send("TOPIC #a :mine now")
        assert (await bob.expect_next(r" 482 ")).params == ("bob", "#a", "You're not channel operator")
        await alice.send("TOPIC #a :Plans for Friday")
        expected = canon(":alice!~alice@unknown TOPIC #a :Plans for Friday")
        assert plain(await drain(alice)) == expected
        assert plain(await drain(bob)) == expected
        await bob.send("TOPIC #a")
        assert (await bob.expect_next(r" 332 ")).params == ("bob", "#a", "Plans for Friday")
        assert (await bob.expect_next(r" 333 ")).params == ("bob", "#a", "alice!~alice@unknown", CREATED)
        await alice.send("MODE #a -t")
        await bob.expect(r"MODE #a -t")
        await bob.send("TOPIC #a :anyone may")
        await alice.expect(r":bob!~bob@unknown TOPIC #a :anyone may")
        await bob.send("TOPIC #a :")
        await alice.expect(r":bob!~bob@unknown TOPIC #a :$")
        await alice.send("TOPIC #a")
        assert (await alice.expect(r" 33\d ")).command == "331"


async def test_topic_errors_and_length_limit() -> None:
    async with running_server(topiclen=10) as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await join(alice, "alice", "#a")
        await bob.send("TOPIC #nowhere", "TOPIC #a :outsider")
        assert (await bob.expect_next(r" 403 ")).params == ("bob", "#nowhere", "No such channel")
        assert (await bob.expect_next(r" 442 ")).params == ("bob", "#a", "You're not on that channel")
        await alice.send("TOPIC #a :0123456789abcdef")
        assert (await alice.expect_next(r" TOPIC ")).params == ("#a", "0123456789")


# ---- NAMES and LIST -----------------------------------------------------------------------------------------


async def test_names_for_a_channel_and_for_none() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await join(alice, "alice", "#a")
        await join(bob, "bob", "#a")
        await settle(alice)
        await alice.send("NAMES #a")
        lines = await alice.collect_until(r" 366 ")
        assert [m.command for m in lines] == ["353", "366"]
        assert lines[0].params[:3] == ("alice", "=", "#a")
        assert sorted(lines[0].params[3].split()) == ["@alice", "bob"]
        assert lines[1].params == ("alice", "#a", "End of /NAMES list")
        await alice.send("NAMES #nowhere")
        assert (await alice.expect_next(r" 366 ")).params == ("alice", "#nowhere", "End of /NAMES list")


async def test_names_hides_invisible_members_from_outsiders() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await bob.send("MODE bob +i")
        await join(alice, "alice", "#a")
        await join(bob, "bob", "#a")
        carol = await net.client("carol")
        await carol.send("NAMES #a")
        assert (await carol.expect_next(r" 353 ")).params == ("carol", "=", "#a", "@alice")
        await alice.send("NAMES #a")
        assert sorted((await alice.expect(r" 353 ")).params[3].split()) == ["@alice", "bob"]


async def test_names_splits_long_lists_within_512_bytes() -> None:
    async with running_server() as net:
        clients = []
        for i in range(40):
            nick = f"member{i:02d}_" + "x" * 18
            c = await net.client(nick)
            await join(c, nick, "#big")
            clients.append(c)
        await clients[0].send("NAMES #big")
        lines = await clients[0].collect_until(r" 366 ")
        assert len(lines) > 2
        names = [n for m in lines if m.command == "353" for n in m.params[3].split()]
        assert len(names) == 40
        assert all(len(m.to_bytes()) <= 512 for m in lines)


async def test_list_shows_channels_counts_and_topics_with_elist_filters() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await join(alice, "alice", "#big")
        await join(bob, "bob", "#big")
        await join(alice, "alice", "#small")
        await alice.send("TOPIC #big :Lots of people")
        await alice.expect(r"TOPIC #big")
        await alice.send("LIST")
        lines = await alice.collect_until(r" 323 ")
        assert lines[0].params == ("alice", "Channel", "Users  Name")
        assert lines[-1].params == ("alice", "End of /LIST")
        rows = {m.params[1]: m.params for m in lines if m.command == "322"}
        assert set(rows) == {"#big", "#small"}
        assert rows["#big"][2] == "2"
        assert rows["#big"][3].endswith("Lots of people")
        assert rows["#small"][2] == "1"
        await alice.send("LIST >1")
        lines = await alice.collect_until(r" 323 ")
        assert [m.params[1] for m in lines if m.command == "322"] == ["#big"]
        await alice.send("LIST <2")
        lines = await alice.collect_until(r" 323 ")
        assert [m.params[1] for m in lines if m.command == "322"] == ["#small"]
        await alice.send("LIST #small,#nowhere")
        lines = await alice.collect_until(r" 323 ")
        assert [m.params[1] for m in lines if m.command == "322"] == ["#small"]


async def test_secret_channels_are_hidden_from_outsiders() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        await join(alice, "alice", "#hidden")
        await alice.send("MODE #hidden +s")
        await alice.expect(r"MODE #hidden \+s")
        bob = await net.client("bob")
        await bob.send("LIST")
        assert [m.command for m in await bob.collect_until(r" 323 ")] == ["321", "323"]
        await bob.send("NAMES #hidden")
        assert (await bob.expect_next(r" 366 ")).params[1] == "#hidden"
        await alice.send("NAMES #hidden")
        assert (await alice.expect_next(r" 353 ")).params[1:3] == ("@", "#hidden")


# ---- KICK ---------------------------------------------------------------------------------------------------


async def test_kick_reaches_every_member_once_and_removes_the_target() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        carol = await net.client("carol")
        for c, nick in ((alice, "alice"), (bob, "bob"), (carol, "carol")):
            await join(c, nick, "#a")
        await settle(alice, bob, carol)
        await alice.send("KICK #a bob :behave")
        expected = canon(":alice!~alice@unknown KICK #a bob :behave")
        for c in (alice, bob, carol):
            assert plain(await drain(c)) == expected
        await carol.send("PRIVMSG #a :still here")
        await alice.expect(r"still here")
        assert await drain(bob) == []
        await alice.send("NAMES #a")
        assert sorted((await alice.expect(r" 353 ")).params[3].split()) == ["@alice", "carol"]


async def test_kick_without_a_reason_uses_the_kickers_nick() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await join(alice, "alice", "#a")
        await join(bob, "bob", "#a")
        await alice.send("KICK #a bob")
        assert (await bob.expect(r" KICK ")).params == ("#a", "bob", "alice")


async def test_kick_errors() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        carol = await net.client("carol")
        await join(alice, "alice", "#a")
        await join(bob, "bob", "#a")
        await settle(alice)
        await bob.send("KICK #a alice")
        assert (await bob.expect_next(r" 482 ")).params == ("bob", "#a", "You're not channel operator")
        await carol.send("KICK #a bob", "KICK #nowhere bob")
        assert (await carol.expect_next(r" 442 ")).params == ("carol", "#a", "You're not on that channel")
        assert (await carol.expect_next(r" 403 ")).params == ("carol", "#nowhere", "No such channel")
        await alice.send("KICK #a carol", "KICK #a nobody")
        assert (await alice.expect_next(r" 441 ")).params == ("alice", "carol", "#a", "They aren't on that channel")
        assert (await alice.expect_next(r" 441 ")).params == ("alice", "nobody", "#a", "They aren't on that channel")
        await settle(bob)
        await alice.send("KICK #a bob,carol :both")
        assert (await alice.expect(r" (KICK|441) ")).command == "KICK"
        assert (await alice.expect_next(r" 441 ")).params[1] == "carol"


async def test_kick_reason_is_cut_to_kicklen() -> None:
    async with running_server(kicklen=5) as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await join(alice, "alice", "#a")
        await join(bob, "bob", "#a")
        await alice.send("KICK #a bob :a very long reason")
        assert (await bob.expect(r" KICK ")).params == ("#a", "bob", "a ver")


# ---- INVITE -------------------------------------------------------------------------------------------------


async def test_invite_lets_someone_into_an_invite_only_channel() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await join(alice, "alice", "#club")
        await alice.send("MODE #club +i")
        await alice.expect(r"MODE #club \+i")
        await bob.send("JOIN #club")
        assert (await bob.expect_next(r" 473 ")).params == ("bob", "#club", "Cannot join channel (+i)")
        await alice.send("INVITE bob #club")
        assert (await alice.expect_next(r" 341 ")).params == ("alice", "bob", "#club")
        assert await drain(alice) == []
        assert plain(await drain(bob)) == canon(":alice!~alice@unknown INVITE bob #club")
        await join(bob, "bob", "#club")
        await settle(alice)
        await alice.send("INVITE bob #club")
        assert (await alice.expect_next(r" 443 ")).params == ("alice", "bob", "#club", "is already on channel")


async def test_an_invitation_is_used_up_by_joining() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await join(alice, "alice", "#club")
        await alice.send("MODE #club +i", "INVITE bob #club")
        await alice.expect(r" 341 ")
        await join(bob, "bob", "#club")
        await bob.send("PART #club", "JOIN #club")
        await bob.expect(r" 473 bob #club ")


async def test_an_invitation_follows_a_nick_change() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await join(alice, "alice", "#club")
        await alice.send("MODE #club +i", "INVITE bob #club")
        await alice.expect(r" 341 ")
        await bob.send("NICK robert")
        await bob.expect(r" NICK ")
        impostor = await net.client("bob")
        await impostor.send("JOIN #club")
        await impostor.expect_next(r" 473 bob #club ")
        await join(bob, "robert", "#club")


async def test_an_invitation_is_not_inherited_by_the_next_owner_of_the_nick() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await join(alice, "alice", "#club")
        await alice.send("MODE #club +i", "INVITE bob #club")
        await alice.expect(r" 341 ")
        await bob.send("QUIT")
        await bob.expect_closed()
        impostor = await net.client("bob")
        await impostor.send("JOIN #club")
        await impostor.expect_next(r" 473 bob #club ")


async def test_invite_errors() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        carol = await net.client("carol")
        await join(alice, "alice", "#club")
        await join(bob, "bob", "#club")
        await alice.send("MODE #club +i")
        await bob.expect(r"MODE #club \+i")
        await settle(alice)
        await bob.send("INVITE carol #club")
        assert (await bob.expect_next(r" 482 ")).params == ("bob", "#club", "You're not channel operator")
        await carol.send("INVITE alice #club")
        assert (await carol.expect_next(r" 442 ")).params == ("carol", "#club", "You're not on that channel")
        await alice.send("INVITE nobody #club")
        assert (await alice.expect_next(r" 401 ")).params == ("alice", "nobody", "No such nick/channel")


async def test_invite_to_an_away_user_tells_the_inviter() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await bob.send("AWAY :asleep")
        await bob.expect(r" 306 ")
        await join(alice, "alice", "#a")
        await alice.send("INVITE bob #a")
        assert (await alice.expect_next(r" 341 ")).params == ("alice", "bob", "#a")
        assert (await alice.expect_next(r" 301 ")).params == ("alice", "bob", "asleep")


# ---- channel MODE -------------------------------------------------------------------------------------------


async def test_mode_query_gives_324_and_329() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        await join(alice, "alice", "#a")
        await alice.send("MODE #a")
        assert (await alice.expect_next(r" 324 ")).params == ("alice", "#a", "+nt")
        assert (await alice.expect_next(r" 329 ")).params == ("alice", "#a", CREATED)
        await alice.send("MODE #a +kl key 5")
        await alice.expect(r" MODE #a \+kl key 5")
        await alice.send("MODE #a")
        assert (await alice.expect_next(r" 324 ")).params == ("alice", "#a", "+ntkl", "key", "5")
        outsider = await net.client("bob")
        await outsider.send("MODE #a")
        assert (await outsider.expect_next(r" 324 ")).params == ("bob", "#a", "+ntkl", "*", "5")
        assert (await outsider.expect_next(r" 329 ")).params == ("bob", "#a", CREATED)
        await outsider.send("MODE #nowhere")
        assert (await outsider.expect_next(r" 403 ")).params == ("bob", "#nowhere", "No such channel")


async def test_mode_changes_reach_every_member_once_compacted() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await join(alice, "alice", "#a")
        await join(bob, "bob", "#a")
        await settle(alice, bob)
        await alice.send("MODE #a +mi-t")
        expected = canon(":alice!~alice@unknown MODE #a +mi-t")
        assert plain(await drain(alice)) == expected
        assert plain(await drain(bob)) == expected
        await alice.send("MODE #a +m")
        assert await drain(alice) == [], "setting a mode already set is not announced"


async def test_non_operators_get_482_and_change_nothing() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await join(alice, "alice", "#a")
        await join(bob, "bob", "#a")
        await settle(alice)
        await bob.send("MODE #a +m-t+o bob")
        assert plain(await drain(bob)) == canon(":test.server 482 bob #a :You're not channel operator")
        assert await drain(alice) == []
        await bob.send("MODE #a")
        assert (await bob.expect_next(r" 324 ")).params == ("bob", "#a", "+nt")


async def test_unknown_channel_mode_is_472() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        await join(alice, "alice", "#a")
        await alice.send("MODE #a +zm")
        assert (await alice.expect_next(r" 472 ")).params == ("alice", "z", "is unknown mode char to me")
        assert (await alice.expect_next(r" MODE ")).params == ("#a", "+m")


async def test_no_external_messages_mode_n() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await join(alice, "alice", "#a")
        await bob.send("PRIVMSG #a :from outside")
        assert (await bob.expect_next(r" 404 ")).params == ("bob", "#a", "Cannot send to channel")
        await alice.send("MODE #a -n")
        await alice.expect(r"MODE #a -n")
        await bob.send("PRIVMSG #a :from outside")
        assert (await alice.expect_next(r"PRIVMSG")).params == ("#a", "from outside")


async def test_moderated_mode_m_and_voice() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await join(alice, "alice", "#a")
        await join(bob, "bob", "#a")
        await alice.send("MODE #a +m")
        await bob.expect(r"MODE #a \+m")
        await bob.send("PRIVMSG #a :hello?")
        assert (await bob.expect_next(r" 404 ")).params == ("bob", "#a", "Cannot send to channel")
        await settle(alice)
        await alice.send("MODE #a +v bob")
        assert plain([await bob.expect_next(r"MODE")]) == canon(":alice!~alice@unknown MODE #a +v bob")
        await bob.send("PRIVMSG #a :hello!")
        assert (await alice.expect(r"PRIVMSG")).params == ("#a", "hello!")
        await alice.send("MODE #a -n")
        await alice.expect(r"MODE #a -n")
        outsider = await net.client("carol")
        await outsider.send("PRIVMSG #a :shouting in")
        assert (await outsider.expect_next(r" 404 ")).params == ("carol", "#a", "Cannot send to channel")


async def test_operator_and_voice_status_modes() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await join(alice, "alice", "#a")
        await join(bob, "bob", "#a")
        await settle(alice, bob)
        await alice.send("MODE #a +ov BOB bob")
        expected = canon(":alice!~alice@unknown MODE #a +ov bob bob")
        assert plain(await drain(bob)) == expected
        assert plain(await drain(alice)) == expected
        await bob.send("NAMES #a")
        assert sorted((await bob.expect(r" 353 ")).params[3].split()) == ["@alice", "@bob"]
        await bob.send("MODE #a -o alice")
        await alice.expect(r":bob!~bob@unknown MODE #a -o alice")
        await alice.send("MODE #a +m")
        assert (await alice.expect_next(r" 482 ")).params == ("alice", "#a", "You're not channel operator")


async def test_status_mode_errors() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        await net.client("bob")
        await join(alice, "alice", "#a")
        await alice.send("MODE #a +o nobody", "MODE #a +v bob")
        assert (await alice.expect_next(r" 401 ")).params == ("alice", "nobody", "No such nick/channel")
        assert (await alice.expect_next(r" 441 ")).params == ("alice", "bob", "#a", "They aren't on that channel")


async def test_invite_only_mode_i() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        await join(alice, "alice", "#a")
        await alice.send("MODE #a +i")
        await alice.expect(r"MODE #a \+i")
        bob = await net.client("bob")
        await bob.send("JOIN #a")
        await bob.expect_next(r" 473 bob #a ")
        await alice.send("MODE #a -i")
        await alice.expect(r"MODE #a -i")
        await join(bob, "bob", "#a")


async def test_key_mode_k_set_and_removed() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        await join(alice, "alice", "#a")
        await alice.send("MODE #a +k sesame")
        assert (await alice.expect_next(r" MODE ")).params == ("#a", "+k", "sesame")
        await alice.send("MODE #a -k sesame")
        assert (await alice.expect_next(r" MODE ")).params == ("#a", "-k", "*")
        bob = await net.client("bob")
        await join(bob, "bob", "#a")


async def test_limit_mode_l() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await join(alice, "alice", "#a")
        await alice.send("MODE #a +l 1")
        assert (await alice.expect_next(r" MODE ")).params == ("#a", "+l", "1")
        await bob.send("JOIN #a")
        assert (await bob.expect_next(r" 471 ")).params == ("bob", "#a", "Cannot join channel (+l)")
        await alice.send("MODE #a +l zero")
        assert (await alice.expect_next(r" 696 ")).params[1:3] == ("#a", "l")
        await alice.send("MODE #a -l")
        assert (await alice.expect_next(r" MODE ")).params == ("#a", "-l")
        await join(bob, "bob", "#a")


async def test_ban_list_add_show_and_remove() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await join(alice, "alice", "#a")
        await join(bob, "bob", "#a")
        await settle(alice, bob)
        await alice.send("MODE #a +b carol")
        expected = canon(":alice!~alice@unknown MODE #a +b carol!*@*")
        assert plain(await drain(alice)) == expected
        assert plain(await drain(bob)) == expected
        await alice.send("MODE #a +b *!*@evil.example")
        await alice.expect(r"MODE #a \+b \*!\*@evil.example")
        await settle(bob)
        await bob.send("MODE #a +b")
        lines = await bob.collect_until(r" 368 ")
        assert [(m.command, m.params) for m in lines] == [
            ("367", ("bob", "#a", "carol!*@*", "alice!~alice@unknown", CREATED)),
            ("367", ("bob", "#a", "*!*@evil.example", "alice!~alice@unknown", CREATED)),
            ("368", ("bob", "#a", "End of channel ban list")),
        ]
        carol = await net.client("carol")
        await carol.send("JOIN #a")
        assert (await carol.expect_next(r" 474 ")).params == ("carol", "#a", "Cannot join channel (+b)")
        await alice.send("MODE #a -b CAROL!*@*")
        assert (await alice.expect_next(r" MODE ")).params == ("#a", "-b", "CAROL!*@*")
        await join(carol, "carol", "#a")
        await bob.send("MODE #a b")
        assert (await bob.expect(r" 36[78] ")).command == "367"


async def test_a_banned_member_cannot_speak_unless_voiced() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await join(alice, "alice", "#a")
        await join(bob, "bob", "#a")
        await alice.send("MODE #a +b bob")
        await bob.expect(r"MODE #a \+b bob!\*@\*")
        await bob.send("PRIVMSG #a :can you hear me")
        assert (await bob.expect_next(r" 404 ")).params == ("bob", "#a", "Cannot send to channel")
        await alice.send("MODE #a +v bob")
        await bob.expect(r"MODE #a \+v bob")
        await bob.send("PRIVMSG #a :now?")
        await alice.expect(r"PRIVMSG #a :?now\?")


async def test_empty_ban_list_is_just_368() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        await join(alice, "alice", "#a")
        await alice.send("MODE #a +b")
        assert (await alice.expect_next(r" 368 ")).params == ("alice", "#a", "End of channel ban list")


# ---- user MODE ----------------------------------------------------------------------------------------------


async def test_user_mode_invisible_and_221() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        await alice.send("MODE alice")
        assert (await alice.expect_next(r" 221 ")).params == ("alice", "+")
        await alice.send("MODE alice +i")
        assert plain([await alice.expect_next(r" MODE ")]) == canon(":alice!~alice@unknown MODE alice +i")
        await alice.send("MODE ALICE")
        assert (await alice.expect_next(r" 221 ")).params == ("alice", "+i")
        await alice.send("MODE alice +i")
        assert await drain(alice) == []
        await alice.send("MODE alice -i")
        assert (await alice.expect_next(r" MODE ")).params == ("alice", "-i")


async def test_user_mode_errors_502_501_401() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        await net.client("bob")
        await alice.send("MODE bob +i")
        assert (await alice.expect_next(r" 502 ")).params == ("alice", "Cant change mode for other users")
        await alice.send("MODE alice +z")
        assert (await alice.expect_next(r" 501 ")).params == ("alice", "Unknown MODE flag")
        await alice.send("MODE nobody")
        assert (await alice.expect_next(r" 401 ")).params == ("alice", "nobody", "No such nick/channel")
        await alice.send("MODE alice +o")
        assert await drain(alice) == [], "+o cannot be given to oneself"


# ---- ordering -----------------------------------------------------------------------------------------------


async def test_join_then_message_arrive_in_order_for_everyone() -> None:
    async with running_server() as net:
        bob = await net.client("bob")
        await join(bob, "bob", "#a")
        await bob.send("MODE #a -n")
        await bob.expect(r"MODE #a -n")
        alice = await net.client("alice")
        await alice.send_raw(b"JOIN #a\r\nPRIVMSG #a :x\r\nPING :t\r\n")
        lines = await alice.collect_until(r"PONG")
        assert [m.command for m in lines] == ["JOIN", "353", "366", "PONG"]
        assert [m.command for m in await drain(bob)] == ["JOIN", "PRIVMSG"]


@pytest.mark.parametrize(
    ("line", "last_reply"),
    [
        ("JOIN #b", r" 366 alice #b "),
        ("JOIN 0", r" PART #a$"),
        ("PART #a :bye", r" PART #a :?bye$"),
        ("TOPIC #a", r" 331 "),
        ("TOPIC #a :new", r" TOPIC #a :?new$"),
        ("NAMES #a", r" 366 "),
        ("LIST", r" 323 "),
        ("KICK #a bob", r" KICK #a bob "),
        ("INVITE carol #a", r" 341 "),
        ("MODE #a", r" 329 "),
        ("MODE #a +b x", r" MODE #a \+b "),
        ("MODE #a +b", r" 368 "),
        ("MODE alice +i", r" MODE alice \+i$"),
    ],
)
async def test_each_channel_command_is_answered_before_the_next(line: str, last_reply: str) -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await net.client("carol")
        await join(alice, "alice", "#a")
        await join(bob, "bob", "#a")
        await settle(alice)
        await alice.send(line, "PING :order")
        lines = await alice.collect_until(r"PONG \S+ :?order$")
        assert any(re.search(last_reply, m.to_line()) for m in lines[:-1]), plain(lines)
        assert await drain(alice) == []
