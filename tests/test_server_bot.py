"""IRCv3 bot-mode: ``BOT=B`` in ISUPPORT, user mode +B set by the user, 335 in WHOIS, ``B`` in WHO flags and the
``bot`` tag on what a bot sends to recipients that negotiated message-tags."""

from __future__ import annotations

from tests.helpers import drain, join, running_server, settle
from trio_chat.protocol import Message
from trio_chat.protocol.message import MAX_SERVER_TAG_BYTES, parse_line
from trio_chat.server.relay import VARIANT_ACCOUNT, VARIANT_TAGS, VARIANT_TIME, Relay


def replies(messages: list[Message]) -> list[tuple[str, tuple[str, ...]]]:
    return [(m.command, m.params) for m in messages]


async def test_bot_is_advertised_and_set_by_the_user() -> None:
    async with running_server() as net:
        bot = await net.connect("bot")
        await bot.send("NICK botnick", "USER bot 0 * :Beep")
        lines = await bot.collect_until(r" 376 | 422 ")
        assert "BOT=B" in [p for m in lines if m.command == "005" for p in m.params[1:-1]]
        assert "B" in next(m for m in lines if m.command == "004").params[3]
        await bot.send("MODE botnick +B", "MODE botnick", "MODE botnick +B")
        lines = await drain(bot)
        assert [m.to_line() for m in lines[:1]] == [":botnick!~bot@unknown MODE botnick +B"]
        assert replies(lines[1:]) == [("221", ("botnick", "+B"))], "setting it twice changes nothing"
        await bot.send("MODE botnick -B+i")
        assert (await bot.expect_next(r" MODE ")).params == ("botnick", "-B+i")
        other = await net.client("other")
        await other.send("MODE botnick +B")
        assert replies(await drain(other)) == [("502", ("other", "Cant change mode for other users"))]


async def test_whois_and_who_show_the_bot() -> None:
    async with running_server() as net:
        bot = await net.client("botnick")
        user = await net.client("usernick")
        await bot.send("MODE botnick +B")
        await bot.expect(r" MODE ")
        await join(bot, "botnick", "#chan")
        await join(user, "usernick", "#chan")
        await user.send("WHOIS botnick")
        lines = await user.collect_until(r" 318 ")
        assert [m.params for m in lines if m.command == "335"] == [("usernick", "botnick", "is a bot on TrioChat")]
        await user.send("WHOIS usernick")
        assert not [m for m in await user.collect_until(r" 318 ") if m.command == "335"]
        await user.send("WHO #chan")
        flags = {m.params[5]: m.params[6] for m in await user.collect_until(r" 315 ") if m.command == "352"}
        assert flags == {"botnick": "HB@", "usernick": "H"}
        await user.send("WHO botnick %nf")
        assert (await user.expect_next(r" 354 ")).params == ("usernick", "botnick", "HB@")


async def test_messages_from_a_bot_carry_the_tag_for_message_tags_recipients() -> None:
    async with running_server() as net:
        bot = await net.client("botnick", caps="message-tags echo-message")
        tagged = await net.client("tagged", caps="message-tags")
        timed = await net.client("timed", caps="server-time")
        plain = await net.client("plain")
        for client, nick in ((bot, "botnick"), (tagged, "tagged"), (timed, "timed"), (plain, "plain")):
            await join(client, nick, "#chan")
        await settle(bot, tagged, timed, plain)
        await bot.send("PRIVMSG #chan :before")
        assert "bot" not in (await tagged.expect(r" PRIVMSG ")).tags
        await bot.send("MODE botnick +B")
        await settle(bot)
        await bot.send("PRIVMSG #chan :beep boop", "NOTICE tagged :private", "@+typing=active TAGMSG #chan")
        for verb in ("PRIVMSG", "NOTICE", "TAGMSG"):
            message = await tagged.expect(rf" {verb} ")
            assert message.tags.get("bot") == "" and "msgid" in message.tags
        echo = await bot.expect(r" PRIVMSG #chan ")
        assert "bot" in echo.tags, "the echo is tagged too"
        assert "bot" not in (await timed.expect(r" PRIVMSG #chan :beep")).tags, "only for message-tags"
        raw = (await plain.expect(r" PRIVMSG #chan :beep")).to_line()
        assert raw == ":botnick!~botnick@unknown PRIVMSG #chan :beep boop"
        await bot.send("PRIVMSG tagged :direct")
        assert (await tagged.expect(r" PRIVMSG tagged ")).tags["bot"] == ""


def test_the_relay_adds_the_tag_to_message_tags_variants_only() -> None:
    relay = Relay(Message("PRIVMSG", ("#c", "hi"), "b!u@h"), time="2024-01-01T00:00:00.000Z", msgid="m-1", bot=True)
    for variant in range(8):
        tags = dict(parse_line(relay.line(variant), max_tag_bytes=MAX_SERVER_TAG_BYTES).tags)
        assert ("bot" in tags) == bool(variant & VARIANT_TAGS), variant
    plain = Relay(Message("PRIVMSG", ("#c", "hi"), "b!u@h"), msgid="m-1")
    assert b"bot" not in plain.line(VARIANT_TAGS | VARIANT_TIME | VARIANT_ACCOUNT)
