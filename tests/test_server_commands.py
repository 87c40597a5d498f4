"""The command table and ``dispatch`` alone: a Network driven directly with fake SendQs, no tasks, no sockets.

What the shared checks answer (421, 451, 461), that every line for the sender comes back from ``dispatch`` in
order, idle time, and that recipients whose SendQ overflowed are gone by the time ``dispatch`` returns.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.fakes import FakeOutbox, FakeSendQ
from trio_chat.protocol import Message, parse_line
from trio_chat.protocol import caps as C
from trio_chat.protocol import numerics as N
from trio_chat.server.commands import COMMANDS, dispatch
from trio_chat.server.config import ServerConfig
from trio_chat.server.context import Context
from trio_chat.server.state import Network, User

SERVER = "irc.test"
T0 = 1_700_000_000.0

BEFORE_REGISTRATION = {"CAP", "PASS", "NICK", "USER", "PING", "PONG", "QUIT", "AUTHENTICATE", "REGISTER", "METADATA"}
"""METADATA: draft/metadata-3 before-connect (a client sets its own metadata while registering)."""
IDLE_RESET = {"PRIVMSG", "NOTICE"}


# ---- fakes ------------------------------------------------------------------------------------------------


class Clock:
    """The network's wall clock, moved by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Person:
    """A connection on the network; registered (as ``nick!~nick@10.0.0.1``) unless told otherwise."""

    def __init__(
        self, network: Network, nick: str = "*", *, registered: bool = True, caps: set[str] | None = None
    ) -> None:
        self.network = network
        self.sendq = FakeSendQ()
        self.outbox = FakeOutbox()
        self.user: User = network.add_connection("10.0.0.1", self.outbox, self.sendq)
        if caps:
            self.user.set_caps(caps)
        if registered:
            self.user.nick, self.user.username, self.user.realname = nick, "~" + nick, nick.title()
            network.register(self.user)

    def send(self, line: str) -> list[str]:
        """Dispatch one line from this person; the lines ``dispatch`` returns for them, as text."""
        return self.dispatch(parse_line(line.encode()))

    def dispatch(self, message: Message) -> list[str]:
        return [_text(line) for line in dispatch(self.network, self.user, message)]

    def lines(self) -> list[str]:
        """What reached this person's SendQ directly (and empty it)."""
        return [_text(line) for line in self.sendq.take()]


class Recorder:
    """A handler that only notes what it was called with."""

    def __init__(self) -> None:
        self.calls: list[Message] = []

    def __call__(self, ctx: Context, msg: Message) -> None:
        self.calls.append(msg)


def _text(line: bytes) -> str:
    assert line.endswith(b"\r\n")
    return parse_line(line).to_line()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def network(clock: Clock) -> Network:
    return Network(ServerConfig(server_name=SERVER), clock=clock)


def _record(monkeypatch: pytest.MonkeyPatch, verb: str) -> Recorder:
    """Replace ``verb``'s handler (and nothing else of its entry) with a recorder."""
    recorder = Recorder()
    monkeypatch.setitem(COMMANDS, verb, replace(COMMANDS[verb], handler=recorder))
    return recorder


def _in_channel(network: Network, channel: str, *people: Person) -> None:
    for person in people:
        network.join(person.user, channel)
    for person in people:
        person.sendq.take()


# ---- the table --------------------------------------------------------------------------------------------


def test_exactly_the_registration_commands_are_allowed_before_registration() -> None:
    assert {verb for verb, cmd in COMMANDS.items() if cmd.before_registration} == BEFORE_REGISTRATION


def test_exactly_messages_count_as_activity() -> None:
    assert {verb for verb, cmd in COMMANDS.items() if cmd.idle_reset} == IDLE_RESET


def test_verbs_in_the_table_are_upper_case() -> None:
    """``dispatch`` looks the upper-cased verb up: an entry spelt otherwise could never be reached."""
    assert [verb for verb in COMMANDS if verb != verb.upper()] == []


# ---- 421 and 451 ------------------------------------------------------------------------------------------


def test_an_unknown_verb_from_a_registered_user_is_421(network: Network) -> None:
    alice = Person(network, "alice")
    assert alice.send("FROBNICATE x :y z") == [f":{SERVER} 421 alice FROBNICATE :Unknown command"]
    assert alice.sendq.lines == []


def test_an_unknown_verb_is_named_upper_case_in_the_421(network: Network) -> None:
    alice = Person(network, "alice")
    assert alice.dispatch(Message("frobnicate")) == [f":{SERVER} 421 alice FROBNICATE :Unknown command"]


def test_an_unknown_verb_before_registration_is_451(network: Network) -> None:
    guest = Person(network, registered=False)
    assert guest.send("FROBNICATE x") == [f":{SERVER} 451 * :You have not registered"]


REGISTERED_ONLY = [verb for verb, cmd in COMMANDS.items() if not cmd.before_registration]


@pytest.mark.parametrize("verb", REGISTERED_ONLY)
def test_a_registered_only_command_before_registration_is_451_whatever_its_params(
    network: Network, monkeypatch: pytest.MonkeyPatch, verb: str
) -> None:
    """No parameters at all: 451 is checked before 461, and the handler never runs."""
    recorder = _record(monkeypatch, verb)
    guest = Person(network, registered=False)
    assert guest.dispatch(Message(verb)) == [f":{SERVER} 451 * :You have not registered"]
    params = tuple(f"p{i}" for i in range(max(COMMANDS[verb].min_params, 1)))
    assert guest.dispatch(Message(verb, params)) == [f":{SERVER} 451 * :You have not registered"]
    assert recorder.calls == []


@pytest.mark.parametrize(
    ("line", "expected", "attribute", "value"),
    [
        pytest.param("CAP REQ echo-message", [f":{SERVER} CAP * ACK echo-message"], "caps", {C.ECHO_MESSAGE}, id="CAP"),
        pytest.param("PASS sesame", [], "password", "sesame", id="PASS"),
        pytest.param("NICK alice", [], "nick", "alice", id="NICK"),
        pytest.param("USER al 0 * :Al Ice", [], "realname", "Al Ice", id="USER"),
        pytest.param("PING token", [f":{SERVER} PONG {SERVER} token"], "registered", False, id="PING"),
        pytest.param("PONG token", [], "registered", False, id="PONG"),
        pytest.param("QUIT :bye", [], "gone", True, id="QUIT"),
    ],
)
def test_registration_commands_run_before_registration(
    network: Network, line: str, expected: list[str], attribute: str, value: object
) -> None:
    guest = Person(network, registered=False)
    assert guest.send(line) == expected
    assert getattr(guest.user, attribute) == value


def test_quit_before_registration_closes_the_connection(network: Network) -> None:
    guest = Person(network, registered=False)
    assert guest.send("QUIT :bye") == []
    assert guest.outbox.closed == "Quit: bye" and guest.user not in network.connections


def test_nick_and_user_before_registration_register(network: Network) -> None:
    guest = Person(network, registered=False)
    assert guest.send("NICK alice") == []
    welcome = guest.send("USER al 0 * :Al Ice")
    assert welcome[0] == f":{SERVER} 001 alice :Welcome to the TrioChat IRC Network alice!~al@10.0.0.1"
    assert guest.user.registered and network.find_user("ALICE") is guest.user
    assert guest.sendq.lines == []


# ---- 461 --------------------------------------------------------------------------------------------------

TOO_FEW = [
    pytest.param(verb, count, id=f"{verb}-{count}")
    for verb, cmd in COMMANDS.items()
    if cmd.min_params > 0
    for count in range(cmd.min_params)
]
WITH_MIN = [verb for verb, cmd in COMMANDS.items() if cmd.min_params > 0]


def test_some_commands_need_parameters() -> None:
    """The parametrised 461 tests below are not vacuous."""
    assert {"JOIN", "USER", "KICK"} <= set(WITH_MIN)


@pytest.mark.parametrize(("verb", "count"), TOO_FEW)
def test_too_few_params_is_461_and_the_handler_never_runs(
    network: Network, monkeypatch: pytest.MonkeyPatch, verb: str, count: int
) -> None:
    recorder = _record(monkeypatch, verb)
    alice = Person(network, "alice")
    params = tuple(f"p{i}" for i in range(count))
    assert alice.dispatch(Message(verb, params)) == [f":{SERVER} 461 alice {verb} :Not enough parameters"]
    assert recorder.calls == []


@pytest.mark.parametrize("verb", [v for v in WITH_MIN if COMMANDS[v].before_registration])
def test_too_few_params_before_registration_is_461_for_registration_commands(
    network: Network, monkeypatch: pytest.MonkeyPatch, verb: str
) -> None:
    recorder = _record(monkeypatch, verb)
    guest = Person(network, registered=False)
    params = tuple(f"p{i}" for i in range(COMMANDS[verb].min_params - 1))
    assert guest.dispatch(Message(verb, params)) == [f":{SERVER} 461 * {verb} :Not enough parameters"]
    assert recorder.calls == []


@pytest.mark.parametrize("verb", WITH_MIN)
def test_exactly_min_params_reaches_the_handler(network: Network, monkeypatch: pytest.MonkeyPatch, verb: str) -> None:
    recorder = _record(monkeypatch, verb)
    alice = Person(network, "alice")
    message = Message(verb, tuple(f"p{i}" for i in range(COMMANDS[verb].min_params)))
    assert alice.dispatch(message) == []
    assert recorder.calls == [message]


# ---- case ---------------------------------------------------------------------------------------------------


def test_verbs_are_case_insensitive(network: Network) -> None:
    alice, bob = Person(network, "alice"), Person(network, "bob")
    assert alice.dispatch(Message("privmsg", ("bob", "hi"))) == []
    assert bob.lines() == [":alice!~alice@10.0.0.1 PRIVMSG bob :hi"]
    assert alice.dispatch(Message("Join", ())) == [f":{SERVER} 461 alice JOIN :Not enough parameters"]


def test_a_lower_case_registration_command_is_allowed_before_registration(network: Network) -> None:
    guest = Person(network, registered=False)
    assert guest.dispatch(Message("ping", ("token",))) == [f":{SERVER} PONG {SERVER} token"]


def test_a_lower_case_registered_only_command_before_registration_is_451(network: Network) -> None:
    guest = Person(network, registered=False)
    assert guest.dispatch(Message("privmsg", ("bob", "hi"))) == [f":{SERVER} 451 * :You have not registered"]


# ---- the sender's lines -----------------------------------------------------------------------------------


def test_every_line_for_the_sender_comes_back_in_order_and_none_reaches_their_sendq(network: Network) -> None:
    """Replies and the sender's own copies of what they sent, interleaved as the command caused them."""
    alice = Person(network, "alice", caps={C.ECHO_MESSAGE})
    bob = Person(network, "bob")
    _in_channel(network, "#c", alice, bob)
    assert alice.send("PRIVMSG #c,ghost,bob :hi") == [
        ":alice!~alice@10.0.0.1 PRIVMSG #c :hi",
        f":{SERVER} 401 alice ghost :No such nick/channel",
        ":alice!~alice@10.0.0.1 PRIVMSG bob :hi",
    ]
    assert alice.sendq.lines == [] and alice.sendq.queued == 0 and alice.sendq.readies == 0
    assert alice.user.pending is None
    assert bob.lines() == [":alice!~alice@10.0.0.1 PRIVMSG #c :hi", ":alice!~alice@10.0.0.1 PRIVMSG bob :hi"]


def test_a_broadcast_the_sender_is_part_of_comes_back_from_dispatch(network: Network) -> None:
    alice, bob = Person(network, "alice"), Person(network, "bob")
    _in_channel(network, "#c", alice, bob)
    assert alice.send("TOPIC #c :news") == [":alice!~alice@10.0.0.1 TOPIC #c :news"]
    assert alice.sendq.lines == [] and alice.user.pending is None
    assert bob.lines() == [":alice!~alice@10.0.0.1 TOPIC #c :news"]


def test_a_message_to_oneself_comes_back_from_dispatch(network: Network) -> None:
    alice = Person(network, "alice")
    assert alice.send("PRIVMSG alice :memo") == [":alice!~alice@10.0.0.1 PRIVMSG alice :memo"]
    assert alice.sendq.lines == [] and alice.user.pending is None


def test_each_dispatch_returns_only_its_own_lines(network: Network) -> None:
    alice = Person(network, "alice")
    assert alice.send("PING one") == [f":{SERVER} PONG {SERVER} one"]
    assert alice.send("PING two") == [f":{SERVER} PONG {SERVER} two"]
    # Between commands, lines go to the SendQ again.
    network.deliver(alice.user, b"PING :between\r\n")
    assert alice.lines() == ["PING between"]


def test_a_handler_that_raises_leaves_pending_reset_and_the_exception_propagates(
    network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(ctx: Context, msg: Message) -> None:
        ctx.reply(N.RPL_NOWAWAY, "half done")
        raise RuntimeError("handler bug")

    monkeypatch.setitem(COMMANDS, "AWAY", replace(COMMANDS["AWAY"], handler=broken))
    alice = Person(network, "alice")
    with pytest.raises(RuntimeError, match="handler bug"):
        alice.send("AWAY :lunch")
    assert alice.user.pending is None
    assert alice.sendq.lines == []  # what the failed command collected is not sent behind the session's back
    network.deliver(alice.user, b"PING :after\r\n")
    assert alice.lines() == ["PING after"]
    assert alice.send("PING again") == [f":{SERVER} PONG {SERVER} again"]


def test_a_recipient_that_overflowed_before_a_handler_raised_is_still_reaped(
    network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = Person(network, "alice"), Person(network, "bob")
    bob.sendq.size = 0

    def broken(ctx: Context, msg: Message) -> None:
        ctx.network.deliver(bob.user, b"NOTICE bob :x\r\n")
        raise RuntimeError("handler bug")

    monkeypatch.setitem(COMMANDS, "AWAY", replace(COMMANDS["AWAY"], handler=broken))
    with pytest.raises(RuntimeError, match="handler bug"):
        alice.send("AWAY :lunch")
    assert bob.outbox.closed == "SendQ exceeded" and bob.outbox.aborted
    assert network.find_user("bob") is None and bob.user not in network.connections


# ---- idle time --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "resets"),
    [
        ("PRIVMSG bob :hi", True),
        ("NOTICE bob :hi", True),
        ("PRIVMSG", True),  # a message command, even one answered with 411
        ("PING token", False),
        ("PONG token", False),
        ("TAGMSG bob", False),
        ("AWAY :lunch", False),
        ("WHOIS bob", False),
        ("JOIN #c", False),
    ],
)
def test_only_messages_reset_idle_time(network: Network, clock: Clock, line: str, resets: bool) -> None:
    alice = Person(network, "alice")
    Person(network, "bob")
    assert alice.user.last_active == T0
    clock.now = T0 + 120.5
    alice.send(line)
    assert alice.user.last_active == (T0 + 120.5 if resets else T0)


def test_idle_time_is_reset_to_the_clock_of_each_message(network: Network, clock: Clock) -> None:
    alice = Person(network, "alice")
    Person(network, "bob")
    for step in (10.0, 25.0, 3600.0):
        clock.now = T0 + step
        alice.send("PRIVMSG bob :hi")
        assert alice.user.last_active == T0 + step
        clock.now += 5
        alice.send("PING x")
        assert alice.user.last_active == T0 + step


def test_a_refused_message_does_not_reset_idle_time(network: Network, clock: Clock) -> None:
    guest = Person(network, registered=False)
    clock.now = T0 + 60
    assert guest.send("PRIVMSG bob :hi") == [f":{SERVER} 451 * :You have not registered"]
    assert guest.user.last_active == T0


# ---- overflow -----------------------------------------------------------------------------------------------


def test_a_recipient_whose_sendq_is_full_is_gone_when_dispatch_returns(network: Network) -> None:
    alice, bob, carol = Person(network, "alice"), Person(network, "bob"), Person(network, "carol")
    _in_channel(network, "#c", alice, bob, carol)
    bob.sendq.size = 0
    replies = alice.send("PRIVMSG #c :hi")
    assert bob.outbox.closed == "SendQ exceeded" and bob.outbox.aborted
    assert bob.user.gone and bob.sendq.lines == []
    assert network.find_user("bob") is None and bob.user not in network.connections
    assert bob.user not in network.channels["#c"].members and bob.user.channels == {}
    quit_line = ":bob!~bob@10.0.0.1 QUIT :SendQ exceeded"
    assert carol.lines() == [":alice!~alice@10.0.0.1 PRIVMSG #c :hi", quit_line]
    assert (replies + alice.lines()).count(quit_line) == 1  # the sender sees the QUIT too, once
    assert carol.outbox.closed is None and alice.outbox.closed is None


def test_every_overflowed_recipient_is_reaped(network: Network) -> None:
    alice = Person(network, "alice")
    crowd = [Person(network, f"u{i}") for i in range(20)]
    _in_channel(network, "#c", alice, *crowd)
    for person in crowd[::2]:
        person.sendq.size = 0
    alice.send("PRIVMSG #c :hi")
    assert all(p.outbox.closed == "SendQ exceeded" for p in crowd[::2])
    assert all(p.outbox.closed is None for p in crowd[1::2])
    assert set(network.channels["#c"].members) == {alice.user, *(p.user for p in crowd[1::2])}
    quits = sorted(f":{p.user.nick}!~{p.user.nick}@10.0.0.1 QUIT :SendQ exceeded" for p in crowd[::2])
    for person in crowd[1::2]:
        lines = person.lines()
        assert lines[0] == ":alice!~alice@10.0.0.1 PRIVMSG #c :hi"
        assert sorted(lines[1:]) == quits  # each departure once, after the message


def test_the_quit_of_a_reaped_recipient_reaches_the_sender_after_the_commands_own_lines(network: Network) -> None:
    alice = Person(network, "alice", caps={C.ECHO_MESSAGE})
    bob, carol = Person(network, "bob"), Person(network, "carol")
    _in_channel(network, "#c", alice, bob, carol)
    bob.sendq.size = 0
    assert alice.send("PRIVMSG #c :hi") == [
        ":alice!~alice@10.0.0.1 PRIVMSG #c :hi",
        ":bob!~bob@10.0.0.1 QUIT :SendQ exceeded",
    ]
    assert alice.sendq.lines == []
