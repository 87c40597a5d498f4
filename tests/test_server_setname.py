"""IRCv3 setname: ``SETNAME :realname`` relayed as ``:nick!u@h SETNAME :new`` to the user and to neighbours that
negotiated it, ``FAIL SETNAME INVALID_REALNAME`` for an empty or too long realname, NAMELEN in ISUPPORT."""

from __future__ import annotations

from tests.helpers import drain, join, running_server, settle
from trio_chat.protocol import Message


def replies(messages: list[Message]) -> list[tuple[str, tuple[str, ...]]]:
    return [(m.command, m.params) for m in messages]


async def test_setname_is_advertised_with_namelen() -> None:
    async with running_server(namelen=20) as net:
        alice = await net.connect("alice")
        await alice.send("CAP LS 302")
        assert "setname" in (await alice.expect(r" CAP \* LS ")).params[-1].split()
        await alice.send("NICK alice", "USER alice 0 * :A realname longer than twenty", "CAP END")
        lines = await alice.collect_until(r" 376 | 422 ")
        assert "NAMELEN=20" in [p for m in lines if m.command == "005" for p in m.params[1:-1]]
        await alice.send("WHOIS alice")
        assert (await alice.expect(r" 311 ")).params[-1] == "A realname longer th", "USER is cut to NAMELEN"


async def test_setname_goes_to_the_user_and_to_neighbours_with_the_cap() -> None:
    async with running_server() as net:
        foo = await net.client("foo", caps="setname")
        bar = await net.client("bar", caps="setname")
        baz = await net.client("baz")
        far = await net.client("far", caps="setname")
        for client, nick in ((foo, "foo"), (bar, "bar"), (baz, "baz")):
            await join(client, nick, "#chan")
        await settle(foo, bar, baz, far)
        await foo.send("SETNAME :Bruce Wayne <bruce@wayne.enterprises>")
        echo = await foo.expect_next(r" SETNAME ")
        assert echo.source == "foo!~foo@unknown" and echo.params == ("Bruce Wayne <bruce@wayne.enterprises>",)
        relayed = await bar.expect_next(r" SETNAME ")
        assert relayed.to_line() == echo.to_line()
        assert await drain(baz) == [], "not to those without the capability"
        assert await drain(far) == [], "not to those sharing no channel"
        await baz.send("WHOIS foo")
        assert (await baz.expect(r" 311 ")).params[-1] == "Bruce Wayne <bruce@wayne.enterprises>"
        await baz.send("WHO foo")
        assert (await baz.expect(r" 352 ")).params[-1] == "0 Bruce Wayne <bruce@wayne.enterprises>"


async def test_setname_without_the_cap_is_handled_silently() -> None:
    async with running_server() as net:
        baz = await net.client("baz")
        await baz.send("SETNAME Batman")
        assert await drain(baz) == []
        await baz.send("WHOIS baz")
        assert (await baz.expect(r" 311 ")).params[-1] == "Batman"


async def test_invalid_realnames_fail() -> None:
    async with running_server(namelen=10) as net:
        foo = await net.client("foo", caps="setname")
        await foo.send("SETNAME :0123456789", "SETNAME :0123456789x", "SETNAME :", "SETNAME")
        assert replies(await drain(foo)) == [
            ("SETNAME", ("0123456789",)),
            ("FAIL", ("SETNAME", "INVALID_REALNAME", "Realname is not valid")),
            ("FAIL", ("SETNAME", "INVALID_REALNAME", "Realname is not valid")),
            ("461", ("foo", "SETNAME", "Not enough parameters")),
        ]
        await foo.send("WHOIS foo")
        assert (await foo.expect(r" 311 ")).params[-1] == "0123456789"
