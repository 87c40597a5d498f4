"""Connection registration as modern.ircdocs.horse describes it: CAP, PASS, NICK, USER, the welcome burst
(001-005, LUSERS, MOTD), the shared 421/451/461 checks, and nick collisions under rfc1459 case-mapping."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import drain, running_server
from trio_chat import __version__
from trio_chat.protocol import Message

ALL_CAPS = {
    "away-notify",
    "cap-notify",
    "echo-message",
    "extended-join",
    "message-tags",
    "multi-prefix",
    "server-time",
    "userhost-in-names",
}


def commands(messages: list[Message]) -> list[str]:
    return [m.command for m in messages]


def isupport(burst: list[Message]) -> dict[str, str]:
    tokens: dict[str, str] = {}
    for m in burst:
        if m.command == "005":
            for token in m.params[1:-1]:
                name, _, value = token.partition("=")
                tokens[name] = value
    return tokens


async def test_nick_and_user_give_the_whole_welcome_burst_in_order() -> None:
    async with running_server() as net:
        c = await net.connect("alice")
        await c.send("NICK alice", "USER alice 0 * :Alice Liddell")
        burst = await c.collect_until(r" 422 ")
        numerics = [m.command for m in burst if m.command != "005"]
        assert numerics == ["001", "002", "003", "004", "251", "252", "253", "254", "255", "265", "266", "422"]
        first_005 = commands(burst).index("005")
        assert commands(burst)[:first_005] == ["001", "002", "003", "004"]
        assert all(m.source == "test.server" and m.params[0] == "alice" for m in burst)
        by = {m.command: m for m in burst}
        assert by["001"].params == ("alice", "Welcome to the TrioChat IRC Network alice!~alice@unknown")
        assert by["002"].params[1] == f"Your host is test.server, running version trio-chat-{__version__}"
        assert by["003"].params[1].startswith("This server was created ")
        assert by["004"].params == (
            "alice",
            "test.server",
            f"trio-chat-{__version__}",
            "Biow",
            "CIbeiklmnostv",
            "Ibeklov",
        )
        assert by["422"].params == ("alice", "MOTD File is missing")
        assert await drain(c) == []


async def test_user_before_nick_registers_too() -> None:
    async with running_server() as net:
        c = await net.connect()
        await c.send("USER bob 0 * :Bob", "NICK bob")
        welcome = await c.expect(r" 001 ")
        assert welcome.params[0] == "bob"
        assert welcome.params[1].endswith(" bob!~bob@unknown")


async def test_isupport_announces_the_real_limits() -> None:
    async with running_server() as net:
        c = await net.connect()
        await c.send("NICK alice", "USER alice 0 * :Alice")
        burst = await c.collect_until(r" 422 ")
        lines = [m for m in burst if m.command == "005"]
        assert lines
        for line in lines:
            assert line.params[-1] == "are supported by this server"
            assert 1 <= len(line.params) - 2 <= 13
        tokens = isupport(burst)
        assert tokens["NETWORK"] == "TrioChat"
        assert tokens["CASEMAPPING"] == "rfc1459"
        assert tokens["CHANTYPES"] == "#&"
        assert tokens["PREFIX"] == "(ov)@+"
        assert tokens["CHANMODES"] == "beI,k,l,Cimnst"
        assert tokens["NICKLEN"] == "30"
        assert tokens["CHANNELLEN"] == "50"
        assert tokens["TOPICLEN"] == "390"
        assert tokens["KICKLEN"] == "255"
        assert tokens["AWAYLEN"] == "200"
        assert tokens["MAXTARGETS"] == "4"
        targmax = dict(item.split(":") for item in tokens["TARGMAX"].split(","))
        assert targmax["PRIVMSG"] == "4"
        assert targmax["NOTICE"] == "4"


async def test_isupport_follows_the_configuration() -> None:
    async with running_server(network_name="Elsewhere", nicklen=9, max_targets=2) as net:
        c = await net.connect()
        await c.send("NICK alice", "USER alice 0 * :Alice")
        tokens = isupport(await c.collect_until(r" 422 "))
        assert tokens["NETWORK"] == "Elsewhere"
        assert tokens["NICKLEN"] == "9"
        assert tokens["MAXTARGETS"] == "2"
        await c.send("NICK abcdefghij")
        assert (await c.expect(r" 432 ")).params == ("alice", "abcdefghij", "Erroneous nickname")
        await c.send("NICK abcdefghi")
        assert (await c.expect(r" NICK ")).params == ("abcdefghi",)


# ---- PASS ---------------------------------------------------------------------------------------------------


async def test_right_password_registers() -> None:
    async with running_server(password="sesame") as net:
        c = await net.connect()
        await c.send("PASS sesame", "NICK alice", "USER alice 0 * :Alice")
        await c.expect(r" 001 alice ")


@pytest.mark.parametrize("given", [["PASS wrong"], []])
async def test_wrong_or_missing_password_gets_464_and_error(given: list[str]) -> None:
    async with running_server(password="sesame") as net:
        c = await net.connect()
        await c.send(*given, "NICK alice", "USER alice 0 * :Alice")
        before = await c.expect_closed()
        assert [m.command for m in before] == ["464", "ERROR"]
        assert before[0].params == ("alice", "Password incorrect")
        watcher = await net.connect()
        await watcher.send("PASS sesame", "NICK bob", "USER bob 0 * :Bob", "ISON alice")
        assert (await watcher.expect(r" 303 ")).params == ("bob", ""), "the refused client never got on"


async def test_pass_is_ignored_when_no_password_is_configured() -> None:
    async with running_server() as net:
        c = await net.connect()
        await c.send("PASS whatever", "NICK alice", "USER alice 0 * :Alice")
        await c.expect(r" 001 alice ")


async def test_pass_after_registration_is_462_and_without_a_parameter_461() -> None:
    async with running_server(password="sesame") as net:
        c = await net.connect()
        await c.send("PASS", "PASS sesame", "NICK alice", "USER alice 0 * :Alice")
        assert (await c.expect_next(r" 461 ")).params == ("*", "PASS", "Not enough parameters")
        await c.expect(r" 422 ")
        await c.send("PASS sesame")
        assert (await c.expect_next(r" 462 ")).params == ("alice", "You may not reregister")


# ---- CAP ----------------------------------------------------------------------------------------------------


async def test_cap_ls_302_lists_every_capability_and_holds_registration_until_cap_end() -> None:
    async with running_server() as net:
        c = await net.connect()
        await c.send("CAP LS 302", "NICK alice", "USER alice 0 * :Alice")
        ls = await c.expect_next(r" CAP ")
        assert ls.source == "test.server"
        assert ls.params[:2] == ("*", "LS")
        assert set(ls.params[2].split()) >= ALL_CAPS
        assert await drain(c) == [], "no welcome before CAP END"
        await c.send("CAP END")
        assert (await c.expect_next(r" 001 ")).params[0] == "alice"


async def test_cap_req_ack_list_and_removal() -> None:
    async with running_server() as net:
        c = await net.connect()
        await c.send("CAP LS 302", "CAP REQ :server-time echo-message")
        await c.expect_next(r" CAP \* LS ")
        ack = await c.expect_next(r" CAP ")
        assert ack.params == ("*", "ACK", "server-time echo-message")
        await c.send("CAP LIST")
        listed = await c.expect_next(r" CAP ")
        assert listed.params[:2] == ("*", "LIST")
        assert set(listed.params[2].split()) == {"server-time", "echo-message", "cap-notify"}
        await c.send("NICK alice", "USER alice 0 * :Alice", "CAP END")
        await c.expect(r" 422 ")
        await c.send("CAP REQ :-server-time")
        assert (await c.expect_next(r" CAP ")).params == ("alice", "ACK", "-server-time")
        await c.send("CAP LIST")
        listed = await c.expect_next(r" CAP ")
        assert set(listed.params[2].split()) == {"echo-message", "cap-notify"}
        # The removal takes effect: the echo of our own message carries no time tag any more.
        await c.send("PRIVMSG alice :hi")
        echo = await c.expect_next(r"PRIVMSG alice")
        assert "time" not in echo.tags


async def test_cap_req_with_an_unknown_capability_is_refused_whole() -> None:
    async with running_server() as net:
        c = await net.connect()
        await c.send("CAP LS 302", "CAP REQ :server-time bogus-cap")
        await c.expect_next(r" CAP \* LS ")
        nak = await c.expect_next(r" CAP ")
        assert nak.params == ("*", "NAK", "server-time bogus-cap")
        await c.send("CAP LIST")
        assert (await c.expect_next(r" CAP ")).params == ("*", "LIST", "cap-notify")


async def test_cap_notify_cannot_be_removed_after_ls_302() -> None:
    async with running_server() as net:
        c = await net.connect()
        await c.send("CAP LS 302", "CAP REQ :-cap-notify")
        await c.expect_next(r" CAP \* LS ")
        assert (await c.expect_next(r" CAP ")).params == ("*", "NAK", "-cap-notify")


async def test_cap_ls_without_version_shows_no_values_and_needs_cap_end() -> None:
    async with running_server() as net:
        c = await net.connect()
        await c.send("CAP LS", "NICK alice", "USER alice 0 * :Alice")
        ls = await c.expect_next(r" CAP ")
        assert "=" not in ls.params[2]
        assert set(ls.params[2].split()) >= ALL_CAPS
        assert await drain(c) == []
        await c.send("CAP END")
        await c.expect_next(r" 001 ")


async def test_cap_req_alone_also_holds_registration() -> None:
    async with running_server() as net:
        c = await net.connect()
        await c.send("NICK alice", "CAP REQ :multi-prefix", "USER alice 0 * :Alice")
        assert (await c.expect_next(r" CAP ")).params == ("alice", "ACK", "multi-prefix")
        assert await drain(c) == []
        await c.send("CAP END")
        await c.expect_next(r" 001 alice ")


async def test_cap_end_after_registration_does_nothing_and_bad_subcommands_get_410() -> None:
    async with running_server() as net:
        c = await net.client("alice", caps="server-time")
        await c.send("CAP END")
        assert await drain(c) == []
        await c.send("CAP FROB")
        assert (await c.expect_next(r" 410 ")).params == ("alice", "FROB", "Invalid CAP command")
        await c.send("CAP REQ")
        assert (await c.expect_next(r" 461 ")).params == ("alice", "CAP", "Not enough parameters")


# ---- shared checks ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("line", ["JOIN #a", "PRIVMSG bob :hi", "WHOIS bob", "MODE #a", "FROBNICATE"])
async def test_commands_before_registration_get_451(line: str) -> None:
    async with running_server() as net:
        c = await net.connect()
        await c.send(line)
        reply = await c.expect_next(r" 451 ")
        assert reply.params == ("*", "You have not registered")
        assert reply.source == "test.server"


async def test_ping_works_before_registration() -> None:
    async with running_server() as net:
        c = await net.connect()
        await c.send("PING :early")
        assert (await c.expect_next(r"PONG")).params == ("test.server", "early")


async def test_unknown_command_gets_421() -> None:
    async with running_server() as net:
        c = await net.client("alice")
        await c.send("FROBNICATE a b")
        assert (await c.expect_next(r" 421 ")).params == ("alice", "FROBNICATE", "Unknown command")
        await c.send("frobnicate")
        assert (await c.expect_next(r" 421 ")).params == ("alice", "FROBNICATE", "Unknown command")


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("JOIN", "JOIN"),
        ("PART", "PART"),
        ("KICK #a", "KICK"),
        ("INVITE bob", "INVITE"),
        ("MODE", "MODE"),
        ("TOPIC", "TOPIC"),
        ("WHOIS", "WHOIS"),
        ("WHOWAS", "WHOWAS"),
        ("ISON", "ISON"),
        ("USERHOST", "USERHOST"),
        ("CAP", "CAP"),
        ("part", "PART"),
    ],
)
async def test_missing_parameters_get_461(line: str, command: str) -> None:
    async with running_server() as net:
        c = await net.client("alice")
        await c.send(line)
        assert (await c.expect_next(r" 461 ")).params == ("alice", command, "Not enough parameters")


async def test_user_with_too_few_parameters_gets_461_before_registration() -> None:
    async with running_server() as net:
        c = await net.connect()
        await c.send("NICK alice", "USER alice 0 *")
        assert (await c.expect_next(r" 461 ")).params == ("alice", "USER", "Not enough parameters")
        await c.send("USER alice 0 * :Alice")
        await c.expect_next(r" 001 ")


async def test_user_after_registration_gets_462() -> None:
    async with running_server() as net:
        c = await net.client("alice")
        await c.send("USER again 0 * :Again")
        assert (await c.expect_next(r" 462 ")).params == ("alice", "You may not reregister")


async def test_ping_without_a_token_is_an_error_and_pong_is_silent() -> None:
    async with running_server() as net:
        c = await net.client("alice")
        await c.send("PING")
        reply = await c.expect_next(r" (409|461) ")
        assert reply.params[0] == "alice"
        await c.send("PONG :whatever")
        assert await drain(c) == []


@pytest.mark.parametrize(
    ("line", "numeric"),
    [
        ("WHOIS :", "401"),
        ("WHOIS ::x", "401"),
        ("NICK ::x", "432"),
        ("PART :", "403"),
        ("TOPIC :", "403"),
        ("JOIN ::x", "403"),
        ("MODE :", "401"),
        ("MODE #a +:", "472"),
        ("MODE #a +l :", "696"),
        ("MODE #a +l ::5", "696"),
        ("MODE #a +k ::x", "696"),
        ("MODE #a +b ::x", "696"),
        ("KICK #a :", "461"),  # an empty nick list is no nick
        ("CAP :", "410"),
        ("CAP ::x", "410"),
        ("WHOWAS :", "406"),
        ("WHO :", "315"),
        ("VERSION :", "402"),
        ("NAMES #nowhere,", "366"),
    ],
)
async def test_odd_parameters_get_an_error_reply_not_a_disconnect(line: str, numeric: str) -> None:
    async with running_server() as net:
        c = await net.client("alice")
        await c.send("JOIN #a")
        await c.expect(r" 366 ")
        await c.send(line)
        lines = await drain(c)
        assert numeric in commands(lines), lines
        reply = lines[commands(lines).index(numeric)]
        assert reply.params[0] == "alice"
        await c.send("MODE #a")
        assert (await c.expect_next(r" 324 ")).params == ("alice", "#a", "+nt"), "nothing odd was stored"


# ---- nicks --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("line", ["NICK", "NICK :"])
async def test_nick_without_a_nickname_gets_431(line: str) -> None:
    async with running_server() as net:
        c = await net.client("alice")
        await c.send(line)
        assert (await c.expect_next(r" 431 ")).params == ("alice", "No nickname given")


@pytest.mark.parametrize("bad", ["1abc", "-dash", "#chan", "a!b", "a@b", "x" * 31, "caf\u00e9", "a.b"])
async def test_erroneous_nicknames_get_432(bad: str) -> None:
    async with running_server() as net:
        c = await net.client("alice")
        await c.send(f"NICK {bad}")
        assert (await c.expect_next(r" 432 ")).params == ("alice", bad, "Erroneous nickname")
        await c.send("WHOIS alice")
        await c.expect_next(r" 311 alice alice ")


async def test_erroneous_nickname_before_registration_uses_star() -> None:
    async with running_server() as net:
        c = await net.connect()
        await c.send("NICK 9lives")
        assert (await c.expect_next(r" 432 ")).params == ("*", "9lives", "Erroneous nickname")


@pytest.mark.parametrize("good", ["[bot]", "a-b", "x_y", "Nick`", "^^", "{x}|\\", "x" * 30])
async def test_valid_special_nicknames_are_accepted(good: str) -> None:
    async with running_server() as net:
        c = await net.client("alice")
        await c.send(f"NICK {good}")
        assert (await c.expect_next(r" NICK ")).params == (good,)


async def test_nick_in_use_gets_433_before_and_after_registration() -> None:
    async with running_server() as net:
        await net.client("bob")
        alice = await net.client("alice")
        await alice.send("NICK bob")
        assert (await alice.expect_next(r" 433 ")).params == ("alice", "bob", "Nickname is already in use")
        newcomer = await net.connect()
        await newcomer.send("NICK bob")
        assert (await newcomer.expect_next(r" 433 ")).params == ("*", "bob", "Nickname is already in use")
        await newcomer.send("NICK carol", "USER carol 0 * :Carol")
        await newcomer.expect_next(r" 001 carol ")


@pytest.mark.parametrize(
    ("taken", "attempt"),
    [("Nick[", "nick{"), ("nick{", "NICK["), ("a\\b", "A|B"), ("Bob", "bOB")],
)
async def test_rfc1459_casemapping_collisions(taken: str, attempt: str) -> None:
    async with running_server() as net:
        owner = await net.client(taken)
        other = await net.client("other")
        await other.send(f"NICK {attempt}")
        assert (await other.expect_next(r" 433 ")).params == ("other", attempt, "Nickname is already in use")
        # The same folding finds the owner for messages, which name the owner as the owner spells it.
        await other.send(f"PRIVMSG {attempt} :found you")
        msg = await owner.expect(r"PRIVMSG")
        assert msg.params == (taken, "found you")


async def test_changing_only_the_case_of_ones_own_nick_is_allowed() -> None:
    async with running_server() as net:
        c = await net.client("alice")
        await c.send("NICK Alice")
        msg = await c.expect_next(r" NICK ")
        assert msg.source == "alice!~alice@unknown"
        assert msg.params == ("Alice",)
        await c.send("NICK Alice")
        assert await drain(c) == [], "a NICK to the same nick is ignored"


async def test_two_pending_connections_cannot_both_register_the_same_nick() -> None:
    async with running_server() as net:
        first = await net.connect()
        second = await net.connect()
        await first.send("NICK alice")
        await first.sync()  # first holds "alice" as a pending nick before second asks for it
        await second.send("NICK alice", "USER alice 0 * :Alice")
        await second.expect(r" 001 alice ")
        await first.send("USER alice 0 * :Other")
        assert (await first.expect_next(r" 433 ")).params == ("alice", "alice", "Nickname is already in use")
        assert await drain(first) == [], "no welcome with a nick someone else holds"
        await first.send("NICK alice2")
        await first.expect_next(r" 001 alice2 ")
        await second.send("WHOIS alice")
        assert (await second.expect(r" 311 ")).params[5] == "Alice"


async def test_nick_taken_during_cap_negotiation_is_refused_at_cap_end() -> None:
    async with running_server() as net:
        first = await net.connect()
        await first.send("CAP LS 302", "NICK alice", "USER alice 0 * :First")
        await first.expect_next(r" CAP ")
        await net.client("alice")
        await first.send("CAP END")
        assert (await first.expect_next(r" 433 ")).params[1:] == ("alice", "Nickname is already in use")
        await first.send("NICK alicia")
        await first.expect_next(r" 001 alicia ")


# ---- LUSERS and MOTD ----------------------------------------------------------------------------------------


async def test_lusers_counts_users_invisible_unknown_and_channels() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        bob = await net.client("bob")
        await bob.send("MODE bob +i", "JOIN #a")
        await bob.expect(r" 366 ")
        await net.connect()  # an unregistered connection
        await alice.sync()
        await alice.send("LUSERS")
        lines = await alice.collect_until(r" 266 ")
        assert [(m.command, m.params) for m in lines] == [
            ("251", ("alice", "There are 1 users and 1 invisible on 1 servers")),
            ("252", ("alice", "0", "operator(s) online")),
            ("253", ("alice", "1", "unknown connection(s)")),
            ("254", ("alice", "1", "channels formed")),
            ("255", ("alice", "I have 2 clients and 0 servers")),
            ("265", ("alice", "2", "2", "Current local users 2, max 2")),
            ("266", ("alice", "2", "2", "Current global users 2, max 2")),
        ]


async def test_motd_file_is_sent_on_registration_and_on_request(tmp_path: Path) -> None:
    motd = tmp_path / "motd.txt"
    motd.write_text("Welcome, friend.\n\nBe kind.\n", encoding="utf-8")
    async with running_server(motd=str(motd)) as net:
        c = await net.connect()
        await c.send("NICK alice", "USER alice 0 * :Alice")
        burst = await c.collect_until(r" 376 ")
        tail = [(m.command, m.params) for m in burst[-5:]]
        assert tail == [
            ("375", ("alice", "- test.server Message of the day - ")),
            ("372", ("alice", "- Welcome, friend.")),
            ("372", ("alice", "- ")),
            ("372", ("alice", "- Be kind.")),
            ("376", ("alice", "End of /MOTD command.")),
        ]
        assert "422" not in commands(burst)
        await c.send("MOTD")
        again = await c.collect_until(r" 376 ")
        assert [(m.command, m.params) for m in again] == tail


async def test_motd_without_a_file_is_422() -> None:
    async with running_server() as net:
        c = await net.client("alice")
        await c.send("MOTD")
        assert (await c.expect_next(r" 42")).params == ("alice", "MOTD File is missing")


async def test_motd_for_another_server_is_402() -> None:
    async with running_server() as net:
        c = await net.client("alice")
        await c.send("MOTD other.server")
        assert (await c.expect_next(r" 402 ")).params == ("alice", "other.server", "No such server")
        await c.send("MOTD test.server")
        await c.expect_next(r" 422 ")


# ---- QUIT ---------------------------------------------------------------------------------------------------


async def test_quit_before_registration_closes_with_error() -> None:
    async with running_server() as net:
        c = await net.connect()
        await c.send("NICK alice", "QUIT :changed my mind")
        before = await c.expect_closed()
        assert [(m.command, m.params) for m in before] == [("ERROR", ("Quit: changed my mind",))]


# ---- ordering -----------------------------------------------------------------------------------------------


async def test_registration_replies_come_before_the_next_commands_replies() -> None:
    async with running_server() as net:
        c = await net.connect()
        await c.send("CAP LS 302", "CAP REQ :multi-prefix", "NICK alice", "USER alice 0 * :A", "CAP END", "PING :t")
        lines = await c.collect_until(r"PONG")
        cmds = commands(lines)
        assert cmds[:2] == ["CAP", "CAP"]
        assert cmds[2] == "001"
        assert cmds[-2:] == ["422", "PONG"]


@pytest.mark.parametrize(
    ("line", "last_reply"),
    [
        ("NICK alice2", r" NICK :?alice2$"),
        ("CAP LIST", r" CAP alice LIST "),
        ("CAP REQ :server-time", r" CAP alice ACK "),
        ("PASS x", r" 462 "),
        ("USER a b c :d", r" 462 "),
        ("LUSERS", r" 266 "),
        ("MOTD", r" 422 "),
        ("PING :first", r" PONG \S+ :?first$"),
        ("FROB", r" 421 "),
    ],
)
async def test_each_registration_command_is_answered_before_the_next(line: str, last_reply: str) -> None:
    async with running_server() as net:
        c = await net.client("alice")
        await c.send(line, "PING :order")
        lines = await c.collect_until(r"PONG \S+ :?order$")
        assert any(re.search(last_reply, m.to_line()) for m in lines[:-1]), lines
        assert await drain(c) == []


async def test_a_command_word_nobody_knows_gets_421_not_a_parse_error() -> None:
    async with running_server() as net:
        alice = await net.client("alice")
        await alice.send("NONEXISTENT_COMMAND x")
        reply = await alice.expect_next(r" 421 ")
        assert reply.params[:2] == ("alice", "NONEXISTENT_COMMAND")
