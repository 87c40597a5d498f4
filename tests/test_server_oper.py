"""Operators: OPER with a hashed password, KILL, KLINE and UNKLINE."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import running_server
from trio_chat.server.passwords import hash_password, verify_password

HASH = hash_password("correct horse", salt=b"0123456789abcdef")


def test_hash_round_trip_and_garbage() -> None:
    assert verify_password("correct horse", HASH)
    assert not verify_password("wrong", HASH)
    assert not verify_password("correct horse", "plaintext")
    assert not verify_password("x", "scrypt$99$8$1$AA==$AA==")


def test_hash_password_command_reads_stdin() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "trio_chat.cli", "hash-password"],
        input="hunter2\n",
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert verify_password("hunter2", result.stdout.strip())


async def test_oper_then_kill() -> None:
    async with running_server(opers=(("boss", HASH),)) as net:
        boss = await net.client("boss")
        victim = await net.client("victim")
        witness = await net.client("witness")
        for c in (victim, witness):
            await c.send("JOIN #x")
            await c.expect(" 366 ")
        await boss.send("KILL victim :spam")
        await boss.expect_next(" 481 boss :Permission Denied")
        await boss.send("OPER boss wrong")
        await boss.expect_next(" 464 boss :Password incorrect")
        await boss.send("OPER nobody correct horse")  # unknown name: the same answer
        await boss.expect_next(" 464 boss ")
        await boss.send("OPER boss :correct horse")
        await boss.expect_next(" 381 boss ")
        await boss.expect_next(r"MODE boss :?\+o")
        await boss.send("WHOIS boss")
        await boss.expect(" 313 boss boss :is an IRC operator")
        await boss.send("KILL nosuch :x")
        await boss.expect(" 401 boss nosuch ")
        await boss.send("KILL victim :spam")
        lines = await victim.expect_closed()
        assert lines[-1].to_line() == "ERROR :Killed (boss (spam))"
        assert (await witness.expect(" QUIT ")).params == ("Killed (boss (spam))",)


async def test_kline_disconnects_now_and_refuses_later() -> None:
    async with running_server(opers=(("boss", HASH),)) as net:
        boss = await net.client("boss")
        await boss.send("OPER boss :correct horse")
        await boss.expect(" 381 ")
        target = await net.client("target")
        # memory-stream clients all come from "unknown"; ban by user name instead.
        await boss.send("KLINE ~target@* :go away")
        notice = await boss.expect("NOTICE boss :Added K-Line")
        assert "1 user(s) disconnected" in notice.params[1]
        assert (await target.expect_closed())[-1].to_line() == "ERROR :K-Lined: go away"
        again = await net.connect()
        await again.send("NICK target2", "USER target 0 * :T")
        lines = await again.expect_closed()
        assert [m.command for m in lines][-2:] == ["465", "ERROR"]
        await boss.send("UNKLINE ~target@*")
        await boss.expect("NOTICE boss :Removed K-Line")
        back = await net.client("target3")
        await back.sync()


async def test_kline_that_matches_everyone_is_refused() -> None:
    async with running_server(opers=(("boss", HASH),)) as net:
        boss = await net.client("boss")
        await boss.send("OPER boss :correct horse")
        await boss.expect(" 381 ")
        await boss.send("KLINE *@* :oops")
        await boss.expect("NOTICE boss :Refusing K-Line")
        await boss.sync()


async def test_stats_uptime_for_all_internals_for_operators() -> None:
    async with running_server(opers=(("boss", HASH),)) as net:
        boss = await net.client("boss")
        await boss.send("STATS u")
        await boss.expect_next(r" 242 boss :Server Up 0 days 0:00:00")
        await boss.expect_next(r" 219 boss u :End of /STATS report")
        await boss.send("STATS z")
        await boss.expect_next(" 481 boss ")
        await boss.send("OPER boss :correct horse", "JOIN #x", "STATS z")
        lines = await boss.collect_until(" 219 boss z ")
        numbers = dict(m.params[2].split() for m in lines if m.command == "249")
        assert numbers["users"] == "1" and numbers["channels"] == "1" and numbers["sessions"] == "1"
        assert int(numbers["tasks"]) > 0
        await boss.send("STATS n")
        await boss.expect_next(r" 249 boss n :a single node: no --redis")
        await boss.expect_next(r" 219 boss n :End of /STATS report")
