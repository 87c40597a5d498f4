"""REDACT (IRCv3 ``draft/message-redaction``): who may redact, who is told, and what history forgets.

In process, with the in-memory store (``--db :memory:``), as in test_server_chathistory.py, and an SQLite file
where a multiline message is redacted.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import trio

from tests.helpers import drain, join, running_server, settle
from tests.ircclient import IRCClient
from tests.test_server_multiline import send_batch
from trio_chat.protocol import Message
from trio_chat.server.history import StoredMessage

MODERN = "batch server-time message-tags echo-message draft/chathistory"
REDACTING = MODERN + " draft/message-redaction"


async def _say(client: IRCClient, channel: str, text: str) -> str:
    """Send ``text`` to ``channel`` and return its msgid, from the echo (the client has echo-message)."""
    await client.send(f"PRIVMSG {channel} :{text}")
    echo = await client.expect(rf" PRIVMSG {re.escape(channel)} :?{re.escape(text)}$")
    return echo.tags["msgid"]


async def _history(client: IRCClient, channel: str) -> list[str]:
    """The texts CHATHISTORY LATEST returns for ``channel``, oldest first."""
    await client.send(f"CHATHISTORY LATEST {channel} * 100")
    start, *inside, end = await client.collect_until(r"^(@\S+ )?:\S+ BATCH -")
    assert start.command == "BATCH" and end.command == "BATCH"
    return [m.params[1] for m in inside]


async def _fail(client: IRCClient, line: str) -> tuple[str, ...]:
    """Send ``line``; the very next line must be a ``FAIL REDACT``: its parameters."""
    await client.send(line)
    fail = await client.expect_next(r"^(@\S+ )?:\S+ FAIL REDACT ")
    return fail.params


def _redacts(lines: list[Message]) -> list[Message]:
    return [m for m in lines if m.command == "REDACT"]


async def test_the_capability_is_advertised() -> None:
    async with running_server() as net:
        client = await net.connect()
        await client.send("CAP LS 302")
        ls = await client.expect(r" CAP \* LS ")
        assert "draft/message-redaction" in ls.params[-1].split()


async def test_the_sender_redacts_their_message_and_members_with_the_capability_are_told() -> None:
    async with running_server() as net:
        alice = await net.client("alice", caps=REDACTING)
        bob = await net.client("bob", caps="message-tags server-time draft/message-redaction")
        carol = await net.client("carol", caps="message-tags server-time")
        for client, nick in ((alice, "alice"), (bob, "bob"), (carol, "carol")):
            await join(client, nick, "#room")
        await settle(alice, bob, carol)
        await _say(alice, "#room", "keep this")
        oops = await _say(alice, "#room", "oops, my password")
        await alice.send(f"REDACT #room {oops} :typed in the wrong window")
        mine = await alice.expect_next(r" REDACT ")
        assert mine.source is not None and mine.source.startswith("alice!")
        assert mine.params == ("#room", oops, "typed in the wrong window")
        # A REDACT is a message like another: it has its own msgid and time.
        assert mine.tags["msgid"] != oops and "time" in mine.tags
        seen = await bob.expect(r" REDACT ")
        assert seen.params == mine.params and seen.tags["msgid"] == mine.tags["msgid"]
        # Without the capability: the message stays on screen, and no line this client cannot understand.
        assert _redacts(await drain(carol)) == []
        assert _redacts(await drain(bob)) == []  # told once
        assert net.server.store.find(oops) is None
        assert await _history(alice, "#room") == ["keep this"]


async def test_a_redacted_message_is_not_replayed_on_join() -> None:
    async with running_server() as net:
        alice = await net.client("alice", caps=REDACTING)
        await join(alice, "alice", "#room")
        await _say(alice, "#room", "one")
        two = await _say(alice, "#room", "two")
        await _say(alice, "#room", "three")
        await alice.send(f"REDACT #room {two}")
        assert (await alice.expect_next(r" REDACT ")).params == ("#room", two)
        dave = await net.client("dave", caps="batch server-time message-tags")
        lines = await join(dave, "dave", "#room") + await drain(dave)
        assert [m.params[1] for m in lines if m.command == "PRIVMSG"] == ["one", "three"]
        erin = await net.client("erin")  # replay as NOTICEs for plain clients: the same messages
        lines = await join(erin, "erin", "#room") + await drain(erin)
        assert [m.params[1].split("> ", 1)[1] for m in lines if m.command == "NOTICE"] == ["one", "three"]


async def test_a_message_older_than_the_replay_ring_is_found_in_the_store() -> None:
    async with running_server(history_replay=1) as net:
        alice = await net.client("alice", caps=REDACTING)
        await join(alice, "alice", "#room")
        old = await _say(alice, "#room", "old")
        await _say(alice, "#room", "new")
        assert net.server.network.recent_message("#room", old) is None  # only in the store
        await alice.send(f"REDACT #room {old} :outdated")
        assert (await alice.expect_next(r" REDACT ")).params == ("#room", old, "outdated")
        assert await _history(alice, "#room") == ["new"]


async def test_a_channel_operator_may_redact_anyones_message() -> None:
    async with running_server() as net:
        alice = await net.client("alice", caps=REDACTING)
        bob = await net.client("bob", caps=REDACTING)
        await join(alice, "alice", "#room")  # first in: operator
        await join(bob, "bob", "#room")
        await settle(alice)
        spam = await _say(bob, "#room", "join my network for cold hard chats")
        await alice.expect(r" PRIVMSG #room ")
        await alice.send(f"REDACT #room {spam} :spam")
        mine = await alice.expect_next(r" REDACT ")
        assert mine.source is not None and mine.source.startswith("alice!")
        assert mine.params == ("#room", spam, "spam")
        assert (await bob.expect(r" REDACT ")).params == ("#room", spam, "spam")
        assert await _history(bob, "#room") == []


async def test_others_may_not_redact() -> None:
    async with running_server() as net:
        alice = await net.client("alice", caps=REDACTING)
        bob = await net.client("bob", caps=REDACTING)
        await join(alice, "alice", "#room")
        await join(bob, "bob", "#room")
        await settle(alice)
        said = await _say(alice, "#room", "mine")
        await settle(bob)
        params = await _fail(bob, f"REDACT #room {said} :not yours")
        assert params[:4] == ("REDACT", "REDACT_FORBIDDEN", "#room", said)
        # Nothing happened: still in history, and nobody was told anything.
        assert await _history(alice, "#room") == ["mine"]
        assert _redacts(await drain(alice)) == []
        # An operator who loses their status loses the right too.
        await alice.send("MODE #room +o bob")
        await bob.expect(r" MODE #room \+o bob")
        await bob.send("MODE #room -o alice")
        await alice.expect(r" MODE #room -o alice")
        said_by_bob = await _say(bob, "#room", "bob's")
        await settle(alice)
        params = await _fail(alice, f"REDACT #room {said_by_bob}")
        assert params[:4] == ("REDACT", "REDACT_FORBIDDEN", "#room", said_by_bob)


async def test_the_same_full_mask_counts_as_the_sender_another_nick_does_not() -> None:
    async with running_server() as net:
        owner = await net.client("owner")
        await join(owner, "owner", "#room")  # the operator: alice is not one
        alice = await net.client("alice", caps=REDACTING)
        await join(alice, "alice", "#room")
        first = await _say(alice, "#room", "first")
        second = await _say(alice, "#room", "second")
        await alice.send("NICK alicia")
        await alice.expect(r" NICK :?alicia")
        params = await _fail(alice, f"REDACT #room {first}")
        assert params[1] == "REDACT_FORBIDDEN"  # alicia!alice@host is not alice!alice@host
        await alice.send("QUIT :bye")
        await alice.expect_closed()
        # Back with the same nick, user name and host: the sender again (until accounts exist, a mask is all
        # there is).
        back = await net.client("alice", caps=REDACTING)
        await join(back, "alice", "#room")
        await drain(back)
        await back.send(f"REDACT #room {first}")
        assert (await back.expect_next(r" REDACT ")).params == ("#room", first)
        # The nick compares without case, as nicks do.
        await back.send("NICK ALICE")
        await back.expect(r" NICK :?ALICE")
        await back.send(f"REDACT #room {second}")
        assert (await back.expect_next(r" REDACT ")).params == ("#room", second)


async def test_unknown_msgids_are_refused() -> None:
    async with running_server() as net:
        alice = await net.client("alice", caps=REDACTING)
        await join(alice, "alice", "#room")
        await join(alice, "alice", "#other")
        elsewhere = await _say(alice, "#other", "in #other")
        await _say(alice, "#room", "in #room")
        params = await _fail(alice, "REDACT #room no-such-id")
        assert params[:4] == ("REDACT", "UNKNOWN_MSGID", "#room", "no-such-id")
        # A message of another channel is not in this channel's history, and nothing tells whose it is.
        params = await _fail(alice, f"REDACT #room {elsewhere}")
        assert params[:4] == ("REDACT", "UNKNOWN_MSGID", "#room", elsewhere)
        bob = await net.client("bob", caps=REDACTING)
        await join(bob, "bob", "#room")
        await settle(alice, bob)
        params = await _fail(bob, f"REDACT #room {elsewhere}")
        assert params[:4] == ("REDACT", "UNKNOWN_MSGID", "#room", elsewhere)
        # A msgid that cannot stand as a parameter is shown as "*".
        params = await _fail(alice, "REDACT #room :two words")
        assert params[:4] == ("REDACT", "UNKNOWN_MSGID", "#room", "*")
        # Redacting twice: the second time there is nothing to redact.
        said = await _say(alice, "#room", "twice")
        await alice.send(f"REDACT #room {said}")
        await alice.expect_next(r" REDACT ")
        params = await _fail(alice, f"REDACT #room {said}")
        assert params[:4] == ("REDACT", "UNKNOWN_MSGID", "#room", said)
        assert await _history(alice, "#other") == ["in #other"]


async def test_only_members_redact_in_channels() -> None:
    async with running_server() as net:
        alice = await net.client("alice", caps=REDACTING)
        bob = await net.client("bob", caps=REDACTING)
        await join(alice, "alice", "#room")
        said = await _say(alice, "#room", "hello")
        await alice.send("PRIVMSG bob :private")
        private = (await alice.expect(r" PRIVMSG bob ")).tags["msgid"]
        await settle(bob)
        for line, target in (
            (f"REDACT #room {said}", "#room"),  # not a member
            (f"REDACT #nowhere {said}", "#nowhere"),  # no such channel
            (f"REDACT alice {private}", "alice"),  # not a channel
        ):
            params = await _fail(bob, line)
            assert params[:3] == ("REDACT", "INVALID_TARGET", target), line
        # Having left, the sender too is no longer a member.
        await alice.send("PART #room")
        await alice.expect(r" PART #room")
        params = await _fail(alice, f"REDACT #room {said}")
        assert params[:3] == ("REDACT", "INVALID_TARGET", "#room")
        assert net.server.store.find(said) is not None


async def test_membership_is_checked_again_after_the_store_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_server(history_replay=0) as net:  # no replay ring: the sender is looked up in the store
        owner = await net.client("owner", caps=REDACTING)
        alice = await net.client("alice", caps=REDACTING)
        await join(owner, "owner", "#room")
        await join(alice, "alice", "#room")
        said = await _say(alice, "#room", "hello")
        await settle(owner)
        history = net.server.history
        real_find = history.find
        asked, answer = trio.Event(), trio.Event()

        async def slow_find(msgid: str) -> StoredMessage | None:
            asked.set()
            await answer.wait()
            return await real_find(msgid)

        monkeypatch.setattr(history, "find", slow_find)
        await alice.send(f"REDACT #room {said}")
        await asked.wait()
        # While the store looks the message up, alice is kicked out of the channel.
        await owner.send("KICK #room alice :out")
        await owner.expect(r" KICK #room alice ")
        answer.set()
        await alice.expect(r" KICK #room alice ")
        params = (await alice.expect_next(r"^(@\S+ )?:\S+ FAIL REDACT ")).params
        assert params[:3] == ("REDACT", "INVALID_TARGET", "#room")
        assert net.server.store.find(said) is not None
        assert _redacts(await drain(owner)) == []


async def test_too_few_parameters() -> None:
    async with running_server() as net:
        alice = await net.client("alice", caps=REDACTING)
        await join(alice, "alice", "#room")
        await alice.send("REDACT #room")
        reply = await alice.expect_next(r" 461 ")
        assert reply.params[1] == "REDACT"


MULTILINE = REDACTING + " draft/multiline labeled-response"


async def _say_multiline(client: IRCClient, channel: str, *lines: str) -> str:
    """Send ``lines`` as one draft/multiline message (the client has the capability and echo-message); its msgid,
    from the echo's ``BATCH +`` line."""
    await send_batch(client, channel, *lines)
    start = await client.expect(r" BATCH \+\S+ draft/multiline ")
    await client.expect(r" BATCH -")
    return start.tags["msgid"]


@pytest.mark.parametrize("on_disk", [False, True])
async def test_redacting_a_multiline_message_removes_every_line(tmp_path: Path, on_disk: bool) -> None:
    """History keeps a multiline message as separate lines; a REDACT of its msgid takes them all away (from the
    replay ring and from the store, in memory or in an SQLite file, also after a restart), and is announced once
    under that msgid, as for any message."""
    db = str(tmp_path / "chat.db") if on_disk else ":memory:"
    async with running_server(db=db) as net:
        alice = await net.client("alice", caps=MULTILINE)
        bob = await net.client("bob", caps="message-tags server-time draft/message-redaction")  # no multiline
        carol = await net.client("carol", caps="batch message-tags server-time draft/multiline draft/message-redaction")
        for client, nick in ((alice, "alice"), (bob, "bob"), (carol, "carol")):
            await join(client, nick, "#room")
        await settle(alice, bob, carol)
        await _say(alice, "#room", "before")
        msgid = await _say_multiline(alice, "#room", "line one", "", "line two", "+ continued", "line three")
        await _say(alice, "#room", "after")
        assert await _history(alice, "#room") == ["before", "line one", "line two", " continued", "line three", "after"]
        await settle(bob, carol)
        await alice.send(f"REDACT #room {msgid} :wrong channel")
        assert (await alice.expect_next(r" REDACT ")).params == ("#room", msgid, "wrong channel")
        assert await _history(alice, "#room") == ["before", "after"]
        for member in (bob, carol):
            assert [m.params for m in _redacts(await drain(member))] == [("#room", msgid, "wrong channel")]
        dave = await net.client("dave", caps="batch server-time message-tags")
        lines = await join(dave, "dave", "#room") + await drain(dave)
        assert [m.params[1] for m in lines if m.command == "PRIVMSG"] == ["before", "after"]
        await alice.send(f"REDACT #room {msgid}")
        assert (await alice.expect(r" FAIL REDACT ")).params[1] == "UNKNOWN_MSGID", "nothing of it is left"
    if on_disk:
        async with running_server(db=db) as net:
            erin = await net.client("erin", caps=MODERN)
            await join(erin, "erin", "#room")
            assert await _history(erin, "#room") == ["before", "after"]


async def test_one_line_of_a_multiline_message_may_be_redacted_alone() -> None:
    """Each kept line has a msgid of its own (CHATHISTORY shows it): a REDACT of that one removes that line."""
    async with running_server() as net:
        alice = await net.client("alice", caps=MULTILINE)
        await join(alice, "alice", "#room")
        msgid = await _say_multiline(alice, "#room", "one", "two", "three")
        await alice.send("CHATHISTORY LATEST #room * 10")
        kept = [m for m in await alice.collect_until(r"^(@\S+ )?:\S+ BATCH -") if m.command == "PRIVMSG"]
        assert kept[0].tags["msgid"] == msgid and len({m.tags["msgid"] for m in kept}) == 3
        second = kept[1].tags["msgid"]
        await alice.send(f"REDACT #room {second}")
        assert (await alice.expect_next(r" REDACT ")).params == ("#room", second)
        assert await _history(alice, "#room") == ["one", "three"]
        await alice.send(f"REDACT #room {msgid}")
        assert (await alice.expect_next(r" REDACT ")).params == ("#room", msgid)
        assert await _history(alice, "#room") == []
