"""WALLOPS (operators, to users with user mode +w; 481 for others) and LINKS (364/365, one server: this one)."""

from __future__ import annotations

from tests.helpers import canon, drain, plain, running_server, settle
from trio_chat.server.passwords import hash_password

OPERS = (("admin", hash_password("secret", log2_n=4)),)


async def test_wallops_goes_to_users_with_mode_w_only() -> None:
    async with running_server(opers=OPERS) as net:
        oper, watcher, other = await net.client("oper"), await net.client("watcher"), await net.client("other")
        await watcher.send("MODE watcher +w")
        assert plain(await drain(watcher)) == canon(":watcher!~watcher@unknown MODE watcher :+w")
        await other.send("MODE other +w", "MODE other -w")
        await oper.send("OPER admin secret")
        await settle(oper, other)
        await oper.send("WALLOPS :hi everyone")
        assert await drain(oper) == [], "not to the sender without +w"
        assert plain(await drain(watcher)) == canon(":oper!~oper@unknown WALLOPS :hi everyone")
        assert await drain(other) == []
        await oper.send("MODE oper +w", "WALLOPS :again")
        assert plain(await drain(oper))[-1] == canon(":oper!~oper@unknown WALLOPS :again")[0]
        await oper.send("WALLOPS", "WALLOPS :")
        assert [m.command for m in await drain(oper)] == ["461", "461"]
        await watcher.send("MODE watcher")
        assert (await watcher.expect(r" 221 ")).params[-1] == "+w"


async def test_wallops_from_a_non_operator_is_481() -> None:
    async with running_server() as net:
        alice, bob = await net.client("alice"), await net.client("bob")
        await bob.send("MODE bob +w")
        await settle(bob)
        await alice.send("WALLOPS :hi everyone", "WALLOPS")
        assert plain(await drain(alice)) == canon(
            ":test.server 481 alice :Permission Denied- You're not an IRC operator",
            ":test.server 481 alice :Permission Denied- You're not an IRC operator",
        )
        assert await drain(bob) == []


async def test_links_lists_this_server() -> None:
    async with running_server(server_info="test server") as net:
        alice = await net.client("alice")
        await alice.send("LINKS", "LINKS test.*", "LINKS *.other", "LINKS test.server *", "LINKS elsewhere *")
        assert plain(await drain(alice)) == canon(
            ":test.server 364 alice test.server test.server :0 test server",
            ":test.server 365 alice * :End of /LINKS list",
            ":test.server 364 alice test.server test.server :0 test server",
            ":test.server 365 alice test.* :End of /LINKS list",
            ":test.server 365 alice *.other :End of /LINKS list",
            ":test.server 364 alice test.server test.server :0 test server",
            ":test.server 365 alice * :End of /LINKS list",
            ":test.server 402 alice elsewhere :No such server",
        )
