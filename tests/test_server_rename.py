"""IRCv3 draft/channel-rename: ``RENAME #old #new :reason`` by a channel operator; RENAME to members with the
capability, a PART and a JOIN (with topic and names) to the others; the errors the spec lists; the channel's
state, replay ring and history follow the new name."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import canon, drain, join, plain, running_server, settle
from trio_chat.server.history import ChannelRecord, StoredMessage, TimeRef
from trio_chat.server.store.sqlite import SQLiteHistory

CAP = "draft/channel-rename"


async def test_rename_tells_members_by_capability() -> None:
    async with running_server() as net:
        bar = await net.client("bar", caps=CAP)
        baz = await net.client("baz")
        await join(bar, "bar", "#bar")
        await join(baz, "baz", "#bar")
        await bar.send("TOPIC #bar :the topic")
        await settle(bar, baz)
        await bar.send("RENAME #bar #qux :no reason")
        assert plain(await drain(bar)) == canon(":bar!~bar@unknown RENAME #bar #qux :no reason")
        assert plain(await drain(baz)) == canon(
            ":baz!~baz@unknown PART #bar :no reason",
            ":baz!~baz@unknown JOIN #qux",
            ":test.server 332 baz #qux :the topic",
            f":test.server 333 baz #qux bar!~bar@unknown {1_700_000_000}",
            ":test.server 353 baz = #qux :@bar baz",
            ":test.server 366 baz #qux :End of /NAMES list",
        )
        await baz.send("PRIVMSG #qux :still here", "PRIVMSG #bar :gone?")
        assert plain(await drain(baz)) == canon(":test.server 403 baz #bar :No such channel")
        assert plain(await drain(bar)) == canon(":baz!~baz@unknown PRIVMSG #qux :still here")
        await baz.send("WHOIS baz")
        assert (await baz.expect(r" 319 ")).params[-1] == "#qux"
        # The old name is free: whoever joins it makes a new channel and is its operator (irctest checks this).
        await join(baz, "baz", "#bar")
        await baz.send("MODE #bar +k beer")
        assert [m.command for m in await drain(baz)] == ["MODE"]


async def test_rename_without_a_reason_and_without_the_capability() -> None:
    async with running_server() as net:
        foo = await net.client("foo")
        other = await net.client("other", caps=f"{CAP} extended-join")
        await join(foo, "foo", "#a")
        await join(other, "other", "#a")
        await settle(foo, other)
        await foo.send("RENAME #a #b")
        assert plain(await drain(foo)) == canon(
            ":foo!~foo@unknown PART #a",
            ":foo!~foo@unknown JOIN #b",
            ":test.server 353 foo = #b :@foo other",
            ":test.server 366 foo #b :End of /NAMES list",
        )
        assert plain(await drain(other)) == canon(":foo!~foo@unknown RENAME #a #b :")


async def test_a_change_of_case_only_is_a_rename_without_fallback() -> None:
    async with running_server() as net:
        foo, bar = await net.client("foo", caps=CAP), await net.client("bar")
        await join(foo, "foo", "#chan")
        await join(bar, "bar", "#chan")
        await settle(foo, bar)
        await foo.send("RENAME #chan #Chan :case")
        assert plain(await drain(foo)) == canon(":foo!~foo@unknown RENAME #chan #Chan :case")
        assert await drain(bar) == []
        await bar.send("NAMES #chan")
        assert (await bar.expect(r" 353 ")).params[2] == "#Chan"


async def test_rename_errors() -> None:
    async with running_server() as net:
        op, member, outsider = await net.client("op"), await net.client("member"), await net.client("outsider")
        await join(op, "op", "#a")
        await join(op, "op", "#taken")
        await join(member, "member", "#a")
        await settle(op, member)
        await outsider.send("RENAME #a", "RENAME #nowhere #x", "RENAME #a #x")
        assert plain(await drain(outsider)) == canon(
            ":test.server 461 outsider RENAME :Not enough parameters",
            ":test.server 403 outsider #nowhere :No such channel",
            ":test.server 442 outsider #a :You're not on that channel",
        )
        await member.send("RENAME #a #x")
        assert plain(await drain(member)) == canon(":test.server 482 member #a :You're not channel operator")
        await op.send("RENAME #a #TAKEN", "RENAME #a &local", "RENAME #a nochan", "RENAME #a :", "RENAME #a #a,b")
        assert plain(await drain(op)) == canon(
            ":test.server FAIL RENAME CHANNEL_NAME_IN_USE #a #TAKEN :The channel name is already taken",
            ":test.server FAIL RENAME CANNOT_RENAME #a &local :You cannot change a channel prefix type",
            ":test.server FAIL RENAME CANNOT_RENAME #a nochan :That is not a valid channel name",
            ":test.server FAIL RENAME CANNOT_RENAME #a * :That is not a valid channel name",
            ":test.server FAIL RENAME CANNOT_RENAME #a #a,b :That is not a valid channel name",
        )
        await member.send("NAMES #a")
        assert (await member.expect(r" 353 ")).params[2] == "#a", "nothing was renamed"


@pytest.mark.parametrize("on_disk", [False, True])
async def test_history_and_replay_follow_the_new_name(tmp_path: Path, on_disk: bool) -> None:
    db = str(tmp_path / "h.db") if on_disk else ":memory:"
    async with running_server(history_replay=5, db=db) as net:
        alice = await net.client("alice", caps=f"{CAP} batch server-time message-tags")
        await join(alice, "alice", "#old")
        await alice.send("PRIVMSG #old :one", "PRIVMSG #old :two")
        await settle(alice)
        await alice.send("RENAME #old #new")
        await settle(alice)
        await alice.send("CHATHISTORY LATEST #new * 10")
        lines = await alice.collect_until(r"^(@\S+ )?:\S+ BATCH -")
        assert [(m.params[0], m.params[1]) for m in lines if m.command == "PRIVMSG"] == [
            ("#new", "one"),
            ("#new", "two"),
        ]
        bob = await net.client("bob")
        await join(bob, "bob", "#new")
        replay = [m.params[-1] for m in await drain(bob) if m.command == "NOTICE"]
        assert [text.split("] ", 1)[1] for text in replay] == ["<alice> one", "<alice> two"]


def test_the_store_moves_messages_markers_and_record(tmp_path: Path) -> None:
    def message(n: int, target: str) -> StoredMessage:
        return StoredMessage(0, f"m{n}", n * 1000, target, target.lower(), "a!b@c", None, "PRIVMSG", str(n))

    store = SQLiteHistory.open(str(tmp_path / "h.db"))
    try:
        store.append_many([message(1, "#Old"), message(2, "#other"), message(3, "#Old")])
        store.save_channel(ChannelRecord("#Old", "#old", 1, topic="t"))
        store.save_marker("alice", "#old", 1500)
        store.save_marker("bob", "#new", 10)
        store.rename_channel("#old", ChannelRecord("#New", "#new", 1, topic="t"))
        assert [(m.msgid, m.target, m.folded) for m in store.latest("#new", 10)] == [
            ("m1", "#New", "#new"),
            ("m3", "#New", "#new"),
        ]
        assert store.latest("#old", 10) == []
        assert [m.msgid for m in store.after("#new", TimeRef(1500), 10)] == ["m3"]
        assert store.load_channels() == [ChannelRecord("#New", "#new", 1, topic="t")]
        assert sorted(store.load_markers()) == [("alice", "#new", 1500), ("bob", "#new", 10)]
    finally:
        store.close()
