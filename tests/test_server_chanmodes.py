"""Channel modes beyond RFC 1459: ban exceptions +e (EXCEPTS, 348/349), invite exceptions +I (INVEX, 346/347),
no-CTCP +C, and the mute extban ``+b m:mask`` (EXTBAN=,m); and that persistent channels keep the lists."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import canon, drain, join, plain, running_server, settle
from trio_chat.server.history import ChannelRecord
from trio_chat.server.state import Ban, Channel
from trio_chat.server.store.sqlite import SQLiteHistory


async def test_isupport_announces_the_modes() -> None:
    async with running_server() as net:
        c = await net.connect()
        await c.send("NICK alice", "USER alice 0 * :Alice")
        lines = await c.collect_until(r" 422 ")
        tokens = dict(p.partition("=")[::2] for m in lines if m.command == "005" for p in m.params[1:-1])
        assert tokens["CHANMODES"] == "beI,k,l,Cimnst"
        assert (tokens["EXCEPTS"], tokens["INVEX"], tokens["EXTBAN"]) == ("e", "I", ",m")
        assert tokens["MAXLIST"] == "b:100,e:100,I:100"


async def test_ban_exception_lets_a_banned_user_join() -> None:
    async with running_server() as net:
        op, bar = await net.client("op"), await net.client("Bar")
        await join(op, "op", "#chan")
        await op.send("MODE #chan +b ba*!*@*")
        await settle(op)
        await bar.send("JOIN #chan")
        assert (await bar.expect_next(r" 474 ")).command == "474"
        await op.send("MODE #chan +e *ar")
        assert plain(await drain(op)) == canon(":op!~op@unknown MODE #chan +e *ar!*@*")
        await join(bar, "Bar", "#chan")
        await bar.send("PRIVMSG #chan :hello")
        assert plain(await drain(op))[-1] == ":Bar!~Bar@unknown PRIVMSG #chan :hello"
        await bar.send("MODE #chan e", "MODE #chan +e")
        assert (
            plain(await drain(bar))
            == canon(
                f":test.server 348 Bar #chan *ar!*@* op!~op@unknown {1_700_000_000}",
                ":test.server 349 Bar #chan :End of channel exception list",
            )
            * 2
        )
        await op.send("MODE #chan -e *AR!*@*")
        assert plain(await drain(op)) == canon(":op!~op@unknown MODE #chan -e *AR!*@*")
        await settle(bar)
        await bar.send("MODE #chan +e")
        assert [m.command for m in await drain(bar)] == ["349"]


async def test_invite_exception_lets_a_matching_user_past_invite_only() -> None:
    async with running_server() as net:
        op, bar, baz = await net.client("op"), await net.client("bar"), await net.client("baz")
        await join(op, "op", "#chan")
        await op.send("MODE #chan +iI bar")
        assert plain(await drain(op)) == canon(":op!~op@unknown MODE #chan +iI bar!*@*")
        await join(bar, "bar", "#chan")
        await baz.send("JOIN #chan")
        assert (await baz.expect_next(r" 473 ")).command == "473"
        await op.send("MODE #chan +I")
        assert plain(await drain(op))[-2:] == canon(
            f":test.server 346 op #chan bar!*@* op!~op@unknown {1_700_000_000}",
            ":test.server 347 op #chan :End of channel invite exception list",
        )
        await bar.send("MODE #chan +I baz")
        assert plain(await drain(bar)) == canon(":test.server 482 bar #chan :You're not channel operator")


async def test_mute_extban_lets_join_but_not_speak() -> None:
    async with running_server() as net:
        op, bar, qux = await net.client("op"), await net.client("bar"), await net.client("qux")
        await join(op, "op", "#chan")
        await op.send("MODE #chan +bb m:bar m:qux!*@*")
        assert plain(await drain(op)) == canon(":op!~op@unknown MODE #chan +bb m:bar!*@* m:qux!*@*")
        await join(bar, "bar", "#chan")
        await join(qux, "qux", "#chan")
        await op.send("MODE #chan +v qux")
        await settle(op, bar, qux)
        await bar.send("PRIVMSG #chan :hi", "NOTICE #chan :hi", "MODE #chan +b")
        assert plain(await drain(bar)) == canon(
            ":test.server 404 bar #chan :Cannot send to channel",
            f":test.server 367 bar #chan m:bar!*@* op!~op@unknown {1_700_000_000}",
            f":test.server 367 bar #chan m:qux!*@* op!~op@unknown {1_700_000_000}",
            ":test.server 368 bar #chan :End of channel ban list",
        )
        await qux.send("PRIVMSG #chan :voiced")
        assert plain(await drain(op)) == canon(":qux!~qux@unknown PRIVMSG #chan :voiced"), "voice is past a mute"
        await op.send("MODE #chan +e m:bar")
        await settle(op)
        await bar.send("PRIVMSG #chan :excepted")
        assert plain(await drain(op)) == canon(":bar!~bar@unknown PRIVMSG #chan :excepted")
        await op.send("MODE #chan -e m:bar!*@*", "MODE #chan -b m:bar!*@*", "MODE #chan +b m:", "MODE #chan +e :")
        lines = plain(await drain(op))
        assert lines[-2:] == canon(
            ":test.server 696 op #chan b m: :Invalid mask", ":test.server 696 op #chan e * :Invalid mask"
        )
        await bar.send("PRIVMSG #chan :unmuted")
        assert plain(await drain(op)) == canon(":bar!~bar@unknown PRIVMSG #chan :unmuted")


async def test_no_ctcp_mode_refuses_ctcp_but_action() -> None:
    async with running_server() as net:
        op, user = await net.client("op"), await net.client("user")
        await join(op, "op", "#chan")
        await join(user, "user", "#chan")
        await op.send("MODE #chan +C")
        await settle(op, user)
        await user.send(
            "PRIVMSG #chan :\x01ACTION is testing\x01",
            "PRIVMSG #chan :\x01PING 12345\x01",
            "NOTICE #chan :\x01VERSION x\x01",
            "PRIVMSG #chan :not a \x01CTCP\x01",
        )
        assert plain(await drain(user)) == canon(":test.server 404 user #chan :Cannot send CTCP to channel (+C)")
        assert [m.params[1] for m in await drain(op)] == ["\x01ACTION is testing\x01", "not a \x01CTCP\x01"]
        await op.send("MODE #chan -C")
        await settle(op)
        await user.send("PRIVMSG #chan :\x01PING 1\x01")
        assert [m.params[1] for m in await drain(op)] == ["\x01PING 1\x01"]


def test_the_lists_are_part_of_a_channels_record(tmp_path: Path) -> None:
    channel = Channel(name="#Chan", folded="#chan", created=1, modes={"C", "n"})
    channel.bans = [Ban("*!*@bad", "op", 2), Ban("m:loud!*@*", "op", 3)]
    channel.excepts = [Ban("good!*@bad", "op", 4)]
    channel.invexes = [Ban("friend!*@*", "op", 5)]
    record = channel.record()
    store = SQLiteHistory.open(str(tmp_path / "h.db"))
    try:
        store.save_channel(record)
    finally:
        store.close()
    store = SQLiteHistory.open(str(tmp_path / "h.db"))
    try:
        [loaded] = store.load_channels()
    finally:
        store.close()
    assert loaded == record
    restored = Channel.restored(loaded)
    assert (restored.bans, restored.excepts, restored.invexes) == (channel.bans, channel.excepts, channel.invexes)
    assert restored.modes == {"C", "n"}
    assert ChannelRecord("#a", "#a", 1).excepts == ()
