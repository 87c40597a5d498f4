from __future__ import annotations

from tests.helpers import running_server


async def test_two_users_talk_in_a_channel() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await alice.send("JOIN #lobby")
        await alice.expect(r" 366 alice #lobby ")
        await bob.send("JOIN #lobby")
        await bob.expect(r" 353 bob = #lobby :(@alice bob|bob @alice)")
        await alice.expect(r":bob!~bob@unknown JOIN #lobby")
        await bob.send("PRIVMSG #lobby :hello there")
        msg = await alice.expect(r"PRIVMSG")
        assert msg.params == ("#lobby", "hello there")
        assert msg.source == "bob!~bob@unknown"
