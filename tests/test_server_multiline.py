"""IRCv3 draft/multiline (handlers/multiline.py, messaging.send_multiline): a message of several lines sent as a
``draft/multiline`` batch, delivered as one batch to clients with the capability and line by line to the others,
echoed, kept in history, billed once by flood control; and every FAIL the spec defines."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from tests.helpers import drain, join, running_server, settle
from tests.ircclient import IRCClient
from trio_chat.protocol import Message
from trio_chat.server import response
from trio_chat.server.config import ConfigError, ServerConfig
from trio_chat.server.multiline import MultilineBatch

ML = "draft/multiline batch message-tags server-time echo-message labeled-response"
PLAIN = "batch message-tags server-time"


async def send_batch(client: IRCClient, target: str, *lines: str, ref: str = "r1", start_tags: str = "") -> None:
    """``lines`` as ``batch=ref`` lines between BATCH +ref and BATCH -ref; a line starting with ``+`` is sent
    with the concat tag (the ``+`` removed)."""
    out = [f"{start_tags}BATCH +{ref} draft/multiline {target}"]
    for line in lines:
        concat = line.startswith("+")
        tags = f"batch={ref};draft/multiline-concat" if concat else f"batch={ref}"
        out.append(f"@{tags} PRIVMSG {target} :{line.removeprefix('+')}")
    out.append(f"BATCH -{ref}")
    await client.send(*out)


async def room(net: object, *who: tuple[str, str]) -> list[IRCClient]:
    clients = []
    for nick, caps in who:
        client = await net.client(nick, caps=caps)  # type: ignore[attr-defined]
        await join(client, nick, "#room")
        clients.append(client)
    await settle(*clients)
    return clients


def fail_of(lines: list[Message]) -> list[tuple[str, ...]]:
    return [m.params for m in lines if m.command == "FAIL"]


async def test_the_capability_is_advertised_with_its_limits() -> None:
    async with running_server(multiline_max_bytes=2000, multiline_max_lines=20) as net:
        client = await net.connect()
        await client.send("CAP LS 302")
        ls = await client.expect(r" CAP \* LS ")
        assert "draft/multiline=max-bytes=2000,max-lines=20" in ls.params[-1].split()
        await client.send("CAP LS")
        ls = await client.expect(r" CAP \* LS ")
        assert "draft/multiline" in ls.params[-1].split()


def test_the_limits_are_checked() -> None:
    with pytest.raises(ConfigError, match="multiline_max_bytes"):
        ServerConfig(multiline_max_bytes=0)
    with pytest.raises(ConfigError, match="multiline_max_lines"):
        ServerConfig(multiline_max_lines=0)
    config = ServerConfig().merged({"multiline_max_bytes": 8192, "multiline_max_lines": 50})
    assert (config.multiline_max_bytes, config.multiline_max_lines) == (8192, 50)


async def test_a_batch_reaches_each_client_as_it_can_read_it() -> None:
    async with running_server() as net:
        alice, bob, carol = await room(net, ("alice", ML), ("bob", ML), ("carol", PLAIN))
        await send_batch(alice, "#room", "hello", "", "how is ", "+everyone?", start_tags="@label=L1;+draft/x=1 ")
        echo = await drain(alice)
        start, *inside, end = echo
        # The echo is the batch, with the label on its start (not wrapped in a labeled-response batch).
        assert start.command == "BATCH" and start.params[1:] == ("draft/multiline", "#room")
        assert start.tags["label"] == "L1" and start.tags["msgid"] and start.tags["time"]
        assert start.tags["+draft/x"] == "1"
        assert end.command == "BATCH" and end.params == ("-" + start.params[0][1:],)
        assert [m.params for m in inside] == [("#room", t) for t in ("hello", "", "how is ", "everyone?")]
        assert all("msgid" not in m.tags for m in inside)
        assert [caps_concat(m) for m in inside] == [False, False, False, True]
        msgid, time = start.tags["msgid"], start.tags["time"]

        relayed = await drain(bob)
        bstart, *binside, bend = relayed
        assert bstart.command == "BATCH" and bstart.params[1:] == ("draft/multiline", "#room")
        assert bstart.tags["msgid"] == msgid and bstart.tags["time"] == time and "label" not in bstart.tags
        assert bstart.source == "alice!~alice@unknown"
        assert all(m.tags["batch"] == bstart.params[0][1:] for m in binside)
        assert [m.params[1] for m in binside] == ["hello", "", "how is ", "everyone?"]
        assert bend.params == ("-" + bstart.params[0][1:],)

        # Without the capability: the non-blank lines as they were sent (a concat line stays a line of its own,
        # as the spec asks), the msgid on the first only, the time and client tags on each.
        fallback = await drain(carol)
        assert [(m.command, m.params) for m in fallback] == [
            ("PRIVMSG", ("#room", "hello")),
            ("PRIVMSG", ("#room", "how is ")),
            ("PRIVMSG", ("#room", "everyone?")),
        ]
        assert [m.tags.get("msgid") for m in fallback] == [msgid, None, None]
        assert all(m.tags["time"] == time and m.tags["+draft/x"] == "1" for m in fallback)


def caps_concat(message: Message) -> bool:
    return "draft/multiline-concat" in message.tags


async def test_a_private_batch_and_its_echo() -> None:
    async with running_server() as net:
        alice = await net.client("alice", caps=ML)
        bob = await net.client("bob", caps=ML)
        plain = await net.client("plain")
        await send_batch(alice, "BOB", "one", "two")
        echo = await drain(alice)
        assert [m.command for m in echo] == ["BATCH", "PRIVMSG", "PRIVMSG", "BATCH"]
        assert echo[1].params == ("bob", "one")
        got = await drain(bob)
        assert [m.params[1] for m in got[1:-1]] == ["one", "two"] and got[0].params[2] == "bob"
        await send_batch(alice, "plain", "one", "two", ref="r2")
        await drain(alice)
        assert [m.to_line() for m in await drain(plain)] == [
            ":alice!~alice@unknown PRIVMSG plain :one",
            ":alice!~alice@unknown PRIVMSG plain :two",
        ]


async def test_nothing_is_delivered_before_the_batch_ends() -> None:
    async with running_server() as net:
        alice, bob = await room(net, ("alice", ML), ("bob", ML))
        await alice.send("BATCH +x draft/multiline #room", "@batch=x PRIVMSG #room :first")
        await alice.send("@batch=x PRIVMSG #room :second")
        await bob.sync()
        assert await bob_has_nothing(bob)
        await alice.send("BATCH -x")
        await drain(alice)
        got = await drain(bob)
        assert [m.params[-1] for m in got[1:-1]] == ["first", "second"], got


async def bob_has_nothing(bob: IRCClient) -> bool:
    with trio.move_on_after(0.05):
        await bob.next_message()
        return False
    return True


async def test_history_keeps_the_lines_a_client_without_the_capability_sees() -> None:
    async with running_server() as net:
        alice, bob = await room(net, ("alice", ML + " draft/chathistory"), ("bob", PLAIN + " draft/chathistory"))
        await send_batch(alice, "#room", "hello", "", "how is ", "+everyone?")
        echo = await drain(alice)
        msgid = echo[0].tags["msgid"]
        await settle(bob)
        await bob.send("CHATHISTORY LATEST #room * 10")
        lines = await bob.collect_until(r"BATCH -")
        privmsgs = [m for m in lines if m.command == "PRIVMSG"]
        assert [m.params[1] for m in privmsgs] == ["hello", "how is ", "everyone?"]
        assert privmsgs[0].tags["msgid"] == msgid
        assert len({m.tags["msgid"] for m in privmsgs}) == 3
        # Replay on JOIN, too.
        carol = await net.client("carol", caps="batch server-time message-tags")
        replay = await join(carol, "carol", "#room") + await drain(carol)
        assert [m.params[1] for m in replay if m.command == "PRIVMSG"] == ["hello", "how is ", "everyone?"]


async def test_notice_batches_and_channel_checks() -> None:
    async with running_server() as net:
        alice, bob = await room(net, ("alice", ML), ("bob", PLAIN))
        await alice.send("BATCH +n draft/multiline #room", "@batch=n NOTICE #room :a", "@batch=n NOTICE #room b")
        await alice.send("BATCH -n")
        await drain(alice)
        assert [(m.command, m.params[1]) for m in await drain(bob)] == [("NOTICE", "a"), ("NOTICE", "b")]
        await send_batch(alice, "#nowhere", "x", ref="n2")
        assert [m.command for m in await drain(alice)] == ["403"]
        await send_batch(alice, "NickServ", "help", ref="n3")
        assert fail_of(await drain(alice))[0][:2] == ("BATCH", "MULTILINE_INVALID")


@pytest.mark.parametrize(
    ("lines", "code"),
    [
        # max-bytes: 3 lines of 40 bytes and 2 line breaks (122) past a limit of 100.
        (["@batch=b PRIVMSG #room :" + "x" * 40] * 3, ("MULTILINE_MAX_BYTES", "100")),
        (["@batch=b PRIVMSG #room :x"] * 4, ("MULTILINE_MAX_LINES", "3")),
        (["@batch=b PRIVMSG #other :x"], ("MULTILINE_INVALID_TARGET", "#room", "#other")),
        (["@batch=b PRIVMSG #room :x", "@batch=b NOTICE #room :y"], ("MULTILINE_INVALID",)),
        (["@batch=b PRIVMSG #room :x", "@batch=b;draft/multiline-concat PRIVMSG #room :"], ("MULTILINE_INVALID",)),
        (["@batch=b PRIVMSG #room :", "@batch=b PRIVMSG #room :"], ("MULTILINE_INVALID",)),
        (["@batch=other PRIVMSG #room :x"], ("MULTILINE_INVALID",)),
        (["PRIVMSG #room :not in the batch"], ("MULTILINE_INVALID",)),
        (["@batch=b PRIVMSG #room :x", "TOPIC #room :interleaved"], ("MULTILINE_INVALID",)),
        (["@batch=b TAGMSG #room"], ("MULTILINE_INVALID",)),
        (["BATCH +c draft/multiline #room"], ("MULTILINE_INVALID",)),
    ],
)
async def test_a_bad_batch_fails_once_and_delivers_nothing(lines: list[str], code: tuple[str, ...]) -> None:
    async with running_server(multiline_max_bytes=100, multiline_max_lines=3) as net:
        alice, bob = await room(net, ("alice", ML), ("bob", ML))
        # A line of the batch after it failed is dropped without a second FAIL (unless the batch fails at its
        # end: all blank).
        straggler = [] if code == ("MULTILINE_INVALID",) and lines[0].endswith(":") else ["@batch=b PRIVMSG #room :s"]
        await alice.send("@label=L BATCH +b draft/multiline #room", *lines, *straggler, "BATCH -b")
        answer = await drain(alice)
        fails = fail_of(answer)
        assert len(fails) == 1, answer
        assert fails[0][: 1 + len(code)] == ("BATCH", *code)
        assert [m for m in answer if m.command in ("PRIVMSG", "TOPIC")] == []
        assert await drain(bob) == []
        assert net.server.network.find_channel("#room").topic in (None, "")  # type: ignore[union-attr]
        # The next batch works.
        await send_batch(alice, "#room", "fine", ref="ok")
        await drain(alice)
        assert [m.params[-1] for m in (await drain(bob))[1:-1]] == ["fine"]


async def test_batch_commands_out_of_place() -> None:
    async with running_server() as net:
        alice = await net.client("alice", caps=ML)
        await alice.send("BATCH -nothing")
        assert fail_of(await drain(alice)) == [("BATCH", "MULTILINE_INVALID", "No multiline batch nothing is open")]
        await alice.send("@batch=zzz PRIVMSG alice :hi")
        assert fail_of(await drain(alice))[0][1] == "MULTILINE_INVALID"
        await alice.send("BATCH +t chathistory #room")
        assert fail_of(await drain(alice))[0][1] == "INVALID_PARAMS"
        await alice.send("BATCH +t draft/multiline")
        assert fail_of(await drain(alice))[0][1] == "MULTILINE_INVALID"
        await alice.send("BATCH x")
        assert fail_of(await drain(alice))[0][1] == "MULTILINE_INVALID"
        early = await net.connect()
        await early.send("BATCH +a draft/multiline #room")
        await early.expect(r" 451 ")


async def test_quit_inside_a_batch_still_quits() -> None:
    async with running_server() as net:
        alice = await net.client("alice", caps=ML)
        await alice.send("BATCH +q draft/multiline bob", "@batch=q PRIVMSG bob :x", "QUIT :bye")
        lines = await alice.expect_closed()
        assert any(m.command == "FAIL" for m in lines)
        assert net.server.network.find_user("alice") is None


async def test_lines_of_a_batch_are_billed_once_by_flood_control(autojump_clock: trio.testing.MockClock) -> None:
    async with running_server(flood_burst=5, flood_rate=1.0, flood_max_backlog=200) as net:
        alice = await net.client("alice", caps=ML)
        bob = await net.client("bob", caps=ML)
        await settle(alice, bob)
        start = trio.current_time()
        await send_batch(alice, "bob", *(f"line {i}" for i in range(100)))
        await alice.send("PRIVMSG bob :after")
        got = await bob.collect_until(r"BATCH -")
        # The 100 lines are not paced at one a second: the whole batch arrives at once.
        assert trio.current_time() - start < 1.0 and len(got) == 102
        # Then the batch is billed as ergo bills it (100 lines: 100 * 60 // 512 = 11 lines): with the burst of
        # 5 spent on BATCH + and the bill, the next message waits for the bucket to refill.
        await bob.expect(r"PRIVMSG bob :after", within=30)
        assert trio.current_time() - start >= 7.0


def test_a_labeled_answer_that_is_one_batch_carries_the_label_on_its_start() -> None:
    lines = [b"BATCH +1 draft/multiline #a\r\n", b"@batch=1 PRIVMSG #a :x\r\n", b"BATCH -1\r\n"]
    out = response.labeled(lines, "L", server="s", new_batch_id=lambda: "z", time=None)
    assert out == [b"@label=L BATCH +1 draft/multiline #a\r\n", *lines[1:]]
    history = [b"BATCH +1 chathistory #a\r\n", b"@batch=1 PRIVMSG #a :x\r\n", b"BATCH -1\r\n"]
    out = response.labeled(history, "L", server="s", new_batch_id=lambda: "z", time=None)
    assert out[0] == b"@label=L :s BATCH +z labeled-response\r\n", "other batches still nest"
    mixed = [*lines, b":s 301 a b :away\r\n"]
    out = response.labeled(mixed, "L", server="s", new_batch_id=lambda: "z", time=None)
    assert out[0] == b"@label=L :s BATCH +z labeled-response\r\n"


def test_a_failed_batch_is_billed_for_every_line_it_took() -> None:
    batch = MultilineBatch("r", "#a")
    for _ in range(100):
        batch.add("x" * 10, False)
    assert batch.flood_cost() == 11  # 100 * 60 // 512, as ergo bills it
    batch.lines = []  # what a failure does: what was held is let go, the bill stays
    assert batch.flood_cost() == 11
