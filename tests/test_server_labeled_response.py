"""The response buffer (server/response.py): IRCv3 labeled-response and server-time on every line of an answer.

A labeled command from a client with ``labeled-response`` (and ``batch``) is answered with ``ACK`` when it produces
nothing, with its one line labeled, or with a ``labeled-response`` batch around everything it produced for the
sender (replies, echo, the deferred part such as CHATHISTORY, whose own batch nests inside).  A client with
``server-time`` gets a ``time`` tag on every line of every answer, numerics included.
"""

from __future__ import annotations

from tests.helpers import drain, join, running_server, settle
from trio_chat.protocol import Message
from trio_chat.server import response

LABELED = "batch labeled-response"
MODERN = "batch server-time message-tags echo-message draft/chathistory labeled-response"


def _labeled_batch(lines: list[Message], label: str) -> tuple[str, list[Message]]:
    """(the batch id, the lines inside) of a labeled-response batch, checking it is well formed."""
    start, *inside, end = lines
    assert start.command == "BATCH" and start.params[0].startswith("+"), start.to_line()
    assert start.params[1:] == ("labeled-response",)
    assert start.tags.get("label") == label
    batch_id = start.params[0][1:]
    assert end.command == "BATCH" and end.params == ("-" + batch_id,), end.to_line()
    assert "label" not in end.tags and "batch" not in end.tags
    assert all("label" not in m.tags for m in inside)
    return batch_id, inside


async def test_labeled_response_is_advertised() -> None:
    async with running_server() as net:
        client = await net.connect()
        await client.send("CAP LS 302")
        ls = await client.expect(r" CAP \* LS ")
        assert "labeled-response" in ls.params[-1].split()


async def test_a_command_that_produces_nothing_is_acknowledged() -> None:
    async with running_server() as net:
        alice = await net.client("alice", caps=LABELED)
        await alice.send("@label=pong1 PONG :whatever")
        ack = await alice.expect_next(r" ACK$")
        assert ack.tags == {"label": "pong1"} and ack.source == "test.server" and ack.params == ()
        await join(alice, "alice", "#room")
        await alice.send("@label=mode1 MODE #room +n")  # already +n: nothing changes, nothing is said
        ack = await alice.expect_next(r" ACK$")
        assert ack.tags == {"label": "mode1"}


async def test_a_single_line_answer_carries_the_label() -> None:
    async with running_server() as net:
        alice = await net.client("alice", caps=LABELED)
        await alice.send("@label=abc PING :token")
        pong = await alice.expect_next(r" PONG ")
        assert pong.tags == {"label": "abc"} and pong.params[-1] == "token"
        await alice.send(r"@label=a\sb\:c PING :again")  # escaped values are given back escaped
        pong = await alice.expect_next(r" PONG ")
        assert pong.tags == {"label": "a b;c"}


async def test_a_multi_line_answer_comes_in_a_labeled_response_batch() -> None:
    async with running_server() as net:
        alice = await net.client("alice", caps=LABELED)
        await net.client("bob")
        await alice.send("@label=w1 WHOIS bob")
        batch_id, inside = _labeled_batch(await alice.collect_until(r"^(@\S+ )?:\S+ BATCH -"), "w1")
        assert inside[0].command == "311" and inside[-1].command == "318"
        assert all(m.tags == {"batch": batch_id} for m in inside)
        await alice.send("@label=j1 JOIN #room")
        batch_id, inside = _labeled_batch(await alice.collect_until(r"^(@\S+ )?:\S+ BATCH -"), "j1")
        commands = [m.command for m in inside]
        assert commands[0] == "JOIN" and "353" in commands and commands[-1] == "366"
        assert all(m.tags == {"batch": batch_id} for m in inside)
        assert await drain(alice) == []


async def test_batch_ids_differ_between_answers() -> None:
    async with running_server() as net:
        alice = await net.client("alice", caps=LABELED)
        ids = []
        for label in ("one", "two"):
            await alice.send(f"@label={label} WHOIS alice")
            batch_id, _ = _labeled_batch(await alice.collect_until(r"^(@\S+ )?:\S+ BATCH -"), label)
            ids.append(batch_id)
        assert ids[0] != ids[1]


async def test_privmsg_echo_is_the_labeled_answer_and_others_never_see_the_label() -> None:
    async with running_server() as net:
        alice = await net.client("alice", caps=MODERN)
        bob = await net.client("bob", caps=MODERN)
        await join(alice, "alice", "#room")
        await join(bob, "bob", "#room")
        await settle(alice, bob)
        await alice.send("@label=m1;+draft/reply=x PRIVMSG #room :hello")
        echo = await alice.expect_next(r" PRIVMSG #room :hello$")
        assert echo.tags["label"] == "m1" and "batch" not in echo.tags
        assert {"msgid", "time", "+draft/reply"} <= set(echo.tags)
        live = await bob.expect_next(r" PRIVMSG #room :hello$")
        assert "label" not in live.tags and live.tags["msgid"] == echo.tags["msgid"]
        # A private message too: the recipient's copy has no label, the sender's echo has it.
        await alice.send("@label=m2 PRIVMSG bob :psst")
        echo = await alice.expect_next(r" PRIVMSG bob :psst$")
        assert echo.tags["label"] == "m2"
        assert "label" not in (await bob.expect_next(r" PRIVMSG bob :psst$")).tags


async def test_lines_caused_by_a_labeled_command_for_others_are_unlabeled() -> None:
    async with running_server() as net:
        alice = await net.client("alice", caps=LABELED)
        bob = await net.client("bob", caps=LABELED)
        await join(bob, "bob", "#room")
        await settle(bob)
        await alice.send("@label=j2 JOIN #room")
        _labeled_batch(await alice.collect_until(r"^(@\S+ )?:\S+ BATCH -"), "j2")
        joined = await bob.expect_next(r"JOIN #room")
        assert "label" not in joined.tags and "batch" not in joined.tags
        # bob's own unlabeled command afterwards is not labeled either
        await bob.send("PING :plain")
        assert "label" not in (await bob.expect_next(r" PONG ")).tags


async def test_chathistory_batch_nests_inside_the_labeled_batch() -> None:
    async with running_server() as net:
        alice = await net.client("alice", caps=MODERN)
        await join(alice, "alice", "#room")
        await alice.send("PRIVMSG #room :one", "PRIVMSG #room :two")
        await alice.expect(r"PRIVMSG #room :two$")
        await settle(alice)
        await alice.send("@label=h1 CHATHISTORY LATEST #room * 10")
        answer = await drain(alice)
        outer, inside = _labeled_batch(answer, "h1")
        inner_start, *messages, inner_end = inside
        assert inner_start.command == "BATCH" and inner_start.params[1:] == ("chathistory", "#room")
        assert inner_start.tags["batch"] == outer
        inner = inner_start.params[0][1:]
        assert inner != outer
        assert inner_end.params == ("-" + inner,) and inner_end.tags["batch"] == outer
        assert [m.params[1] for m in messages] == ["one", "two"]
        assert all(m.tags["batch"] == inner for m in messages)
        # every line of the answer has a time; the replayed ones keep the time they were sent at
        assert all("time" in m.tags for m in answer)


async def test_join_with_replay_nests_the_replay_batch() -> None:
    async with running_server(history_replay=5) as net:
        alice = await net.client("alice", caps=MODERN)
        await join(alice, "alice", "#room")
        await alice.send("PRIVMSG #room :earlier")
        bob = await net.client("bob", caps=MODERN)
        await bob.send("@label=j3 JOIN #room")
        answer = await drain(bob)
        outer, inside = _labeled_batch(answer, "j3")
        starts = [m for m in inside if m.command == "BATCH" and m.params[0].startswith("+")]
        assert len(starts) == 1 and starts[0].params[1] == "chathistory" and starts[0].tags["batch"] == outer
        [replayed] = [m for m in inside if m.command == "PRIVMSG"]
        assert replayed.tags["batch"] == starts[0].params[0][1:]


async def test_no_label_without_the_capability() -> None:
    async with running_server() as net:
        plain = await net.client("plain")
        await plain.send("@label=x1 PING :tok")
        pong = await plain.expect_next(r" PONG ")
        assert pong.tags == {}
        await plain.send("@label=x2 PONG :tok", "@label=x3 WHOIS plain")
        answer = await drain(plain)
        assert answer[0].command == "311" and all(m.tags == {} for m in answer)


async def test_no_label_without_batch() -> None:
    # labeled-response builds on batch: without it a client gets its answers as if it had not asked.
    async with running_server() as net:
        alice = await net.client("alice", caps="labeled-response")
        await alice.send("@label=y1 PING :tok", "@label=y2 WHOIS alice")
        answer = await drain(alice)
        assert all(m.tags == {} for m in answer) and "ACK" not in [m.command for m in answer]


async def test_server_time_on_every_line_numerics_included() -> None:
    async with running_server() as net:
        alice = await net.connect("alice")
        await alice.send("CAP LS 302", "CAP REQ :server-time", "NICK alice", "USER alice 0 * :Alice", "CAP END")
        ls, *burst = await alice.collect_until(r" (376|422) ")
        assert ls.command == "CAP" and "time" not in ls.tags  # sent before server-time was asked for
        assert burst[0].command == "CAP" and "001" in [m.command for m in burst]
        assert all(m.tags.get("time") == "2023-11-14T22:13:20.000Z" for m in burst)
        await alice.send("WHOIS alice", "FOO", "JOIN #room")
        answer = await drain(alice)
        assert {"311", "318", "421", "JOIN", "353", "366"} <= {m.command for m in answer}
        assert all("time" in m.tags for m in answer)
        # without server-time: no tags at all
        bob = await net.client("bob")
        await bob.send("WHOIS bob", "FOO")
        assert all(m.tags == {} for m in await drain(bob))


async def test_server_time_and_label_together() -> None:
    async with running_server() as net:
        alice = await net.client("alice", caps="batch labeled-response server-time")
        await alice.send("@label=t1 PONG :x")
        ack = await alice.expect_next(r" ACK$")
        assert set(ack.tags) == {"label", "time"}
        await alice.send("@label=t2 WHOIS alice")
        lines = await alice.collect_until(r"^(@\S+ )?:\S+ BATCH -")
        _labeled_batch(lines, "t2")
        assert all("time" in m.tags for m in lines)


# ---- the pure functions -------------------------------------------------------------------------------------


def test_stamp_adds_time_once() -> None:
    lines = [
        b":s 001 a :Welcome\r\n",
        b"@msgid=1 :a!u@h PRIVMSG #c :hi\r\n",
        b"@msgid=2;time=2020-01-01T00:00:00.000Z :a!u@h PRIVMSG #c :hi\r\n",
        b"@+time=x :a!u@h TAGMSG #c\r\n",
    ]
    out = response.stamp(lines, "T")
    assert out == [
        b"@time=T :s 001 a :Welcome\r\n",
        b"@time=T;msgid=1 :a!u@h PRIVMSG #c :hi\r\n",
        lines[2],
        b"@time=T;+time=x :a!u@h TAGMSG #c\r\n",
    ]


def test_labeled_shapes() -> None:
    def ids() -> str:
        return "L"

    assert response.labeled([], "a;b", server="s", new_batch_id=ids, time=None) == [b"@label=a\\:b :s ACK\r\n"]
    assert response.labeled([b":s PONG s :t\r\n"], "x", server="s", new_batch_id=ids, time=None) == [
        b"@label=x :s PONG s :t\r\n"
    ]
    nested = [
        b":s 001 n :x\r\n",
        b":s BATCH +C chathistory #c\r\n",
        b"@batch=C;msgid=1 :a!u@h PRIVMSG #c :hi\r\n",
        b":s BATCH -C\r\n",
    ]
    assert response.labeled(nested, "x", server="s", new_batch_id=ids, time="T") == [
        b"@label=x;time=T :s BATCH +L labeled-response\r\n",
        b"@batch=L;time=T :s 001 n :x\r\n",
        b"@batch=L;time=T :s BATCH +C chathistory #c\r\n",
        b"@time=T;batch=C;msgid=1 :a!u@h PRIVMSG #c :hi\r\n",
        b"@batch=L;time=T :s BATCH -C\r\n",
        b"@time=T :s BATCH -L\r\n",
    ]
