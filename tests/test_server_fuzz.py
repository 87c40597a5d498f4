"""A stateful fuzz test: several clients send random valid and invalid commands; invariants hold after every step.

Hypothesis's :class:`RuleBasedStateMachine` is synchronous and the server is trio, so the server runs in a trio
loop on a worker thread (:class:`TrioLoop`) and every rule runs one async step in it with
``trio.from_thread.run``.  After each step every live client round-trips a PING (the acting client first: its
PONG proves its command ran and queued everything it caused; the others' PINGs are read after that), the loop
settles (``wait_all_tasks_blocked``), and the invariants are checked on the server's state directly and on what
each client received:

- the state agrees with itself: every channel member is a connected, registered user; ``User.channels`` and
  ``Channel.members`` agree both ways; no empty channel; nicks are unique under rfc1459 case-mapping and every
  key is the folded name; invitations name registered users only;
- every client's own view, built only from the lines it received (001, NICK, JOIN, PART, KICK), equals the
  server's: its nick, and the channels it is in;
- no client receives a message, JOIN, PART, KICK, TOPIC or MODE for a channel it is not in at that moment, nor
  a private message or user MODE addressed to another nick (nor someone else's INVITE outside the channel);
- nothing accepted is lost: a PRIVMSG or NOTICE reaches every member of each channel named that the sender may
  speak in and every user named, once per time named (``talk``);
- every connection the server ends gets ``ERROR`` as its last line, and nothing after it;
- no task is left behind: the loop runs exactly three tasks per connection (its handler with the reader, the
  writer, the keepalive) beyond a baseline, and when everyone has left the network is empty and the task count
  is back at the baseline;
- the server never logs an internal error.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import trio
import trio.testing
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from tests.helpers import FAST
from tests.ircclient import IRCClient
from trio_chat.protocol import Message, caps, casefold
from trio_chat.protocol.casemap import unique
from trio_chat.protocol.names import is_channel_name, is_valid_nick
from trio_chat.server.app import Server
from trio_chat.server.session import Session

T = TypeVar("T")

MAX_CLIENTS = 5
TASKS_PER_CONNECTION = 3
"""``Server.handle_connection`` (which runs the reader), the writer and the keepalive."""
STEP_TIMEOUT = 10.0
"""Real seconds one step may take before it counts as a hang."""


def _cheap_hash(password: str) -> str:
    """An operator password hash in the server's format, with a tiny scrypt cost so that OPER stays fast."""
    salt = b"fuzz-salt"
    digest = hashlib.scrypt(password.encode(), salt=salt, n=16, r=8, p=1, dklen=32)
    return f"scrypt$4$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


CONFIG = replace(FAST, opers=(("admin", _cheap_hash("secret")),))


# ---- the trio side ------------------------------------------------------------------------------------------


class ErrorLog(logging.Handler):
    """Collects every ERROR (or worse) the server logs: an internal error is a bug whatever the input."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class TrioLoop:
    """A server in a trio loop on a worker thread, and a way for synchronous code to run async steps in it."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self._error: BaseException | None = None
        self.failed = False
        """Whether a step raised: then the test has failed already, and teardown only stops the loop."""
        self.server = Server(CONFIG, clock=lambda: 1_700_000_000.0)
        self.nursery: trio.Nursery | None = None
        self._thread = threading.Thread(target=self._main, name="fuzz-trio-loop", daemon=True)
        self._thread.start()
        if not self._ready.wait(STEP_TIMEOUT) or self._token is None:
            raise RuntimeError(f"the trio loop did not start: {self._error!r}")

    def _main(self) -> None:
        try:
            trio.run(self._serve)
        except BaseException as exc:  # reported by close(), in the test's thread
            self._error = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            await nursery.start(self.server.run_services)
            self._stop = trio.Event()
            self._token = trio.lowlevel.current_trio_token()
            self._ready.set()
            await self._stop.wait()
            nursery.cancel_scope.cancel()

    def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``fn(*args)`` in the loop and return its result (or raise its exception) here."""

        async def bounded() -> T:
            with trio.fail_after(STEP_TIMEOUT):
                return await fn(*args)

        try:
            return trio.from_thread.run(bounded, trio_token=self._token)
        except BaseException:
            self.failed = True
            raise

    def close(self) -> None:
        if self._stop is not None and self._thread.is_alive():
            trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        self._thread.join(STEP_TIMEOUT)
        assert not self._thread.is_alive(), "the trio loop did not stop"
        if self._error is not None:
            raise self._error


# ---- one client ---------------------------------------------------------------------------------------------


@dataclass(eq=False)
class Peer:
    """A test client and what it knows about itself, from the lines it received and nothing else."""

    number: int
    irc: IRCClient
    server_end: trio.abc.Stream
    nick: str = "*"
    registered: bool = False
    channels: set[str] = field(default_factory=set)
    """Folded names of the channels this client has seen itself join and not yet leave."""
    error_seen: bool = False
    session: Session | None = None
    heard: list[str] = field(default_factory=list)
    """The texts of the PRIVMSGs and NOTICEs received."""

    def __str__(self) -> str:
        return f"client {self.number} ({self.nick})"

    def see(self, message: Message) -> None:
        """Update what the client knows from one received line, and check the line was meant for it."""
        assert not self.error_seen, f"{self}: {message.to_line()!r} after ERROR"
        command, params = message.command, message.params
        source = message.source or ""
        from_user = "!" in source
        sender = source.split("!", 1)[0] if from_user else None
        mine = sender == self.nick
        if command == "001":
            assert not self.registered, f"{self}: a second 001"
            self.registered = True
            self.nick = params[0]
        elif command == "ERROR":
            self.error_seen = True
        elif command == "NICK" and mine:
            self.nick = params[0]
        elif command == "JOIN" and from_user:
            folded = casefold(params[0])
            if mine:
                assert folded not in self.channels, f"{self}: joined {params[0]} twice"
                self.channels.add(folded)
            else:
                self._assert_in(params[0], message)
        elif command == "PART" and from_user:
            self._assert_in(params[0], message)
            if mine:
                self.channels.discard(casefold(params[0]))
        elif command == "KICK":
            self._assert_in(params[0], message)
            if params[1] == self.nick:
                self.channels.discard(casefold(params[0]))
        elif command in ("PRIVMSG", "NOTICE", "TAGMSG", "TOPIC", "MODE", "INVITE") and from_user:
            if command in ("PRIVMSG", "NOTICE"):
                self.heard.append(params[-1])
            target = params[0]
            if command == "INVITE":
                # Someone else's invitation reaches only the channel's operators (invite-notify).
                if not mine and target != self.nick:
                    self._assert_in(params[1], message)
                return
            if target[:1] in "@+" and is_channel_name(target[1:]):
                target = target[1:]
            if is_channel_name(target):
                # The sender's own copy (echo-message) may name a channel it is not in (-n channels).
                if not (mine and command in ("PRIVMSG", "NOTICE", "TAGMSG")):
                    self._assert_in(target, message)
            elif not mine:
                assert target == self.nick, f"{self}: got a message for someone else: {message.to_line()!r}"

    def _assert_in(self, channel: str, message: Message) -> None:
        assert casefold(channel) in self.channels, (
            f"{self}: received {message.to_line()!r} for {channel}, a channel it is not in "
            f"(it is in {sorted(self.channels)})"
        )


# ---- what clients send --------------------------------------------------------------------------------------

VALID_NICKS = ["alice", "Alice", "ALICE", "bob", "Bob", "[x]", "{x}", "{X}", "x|y", "X\\Y", "q^", "q~", "carol", "d-1"]
INVALID_NICKS = ["1abc", "-x", "#chan", "a!b", "a@b", "n" * 31, "é", "a,b", "*"]
valid_nicks = st.sampled_from(VALID_NICKS)
nicks = st.sampled_from(VALID_NICKS * 3 + INVALID_NICKS)
some_nicks = st.lists(nicks, min_size=1, max_size=3).map(",".join)

VALID_CHANNELS = ["#a", "#A", "#b", "#B", "#c", "&c", "#[x]", "#{X}", "#ä"]
INVALID_CHANNELS = ["a", "#", "#a\x07b", "#" + "x" * 60, "bob", ""]
valid_channels = st.sampled_from(VALID_CHANNELS)
channels = st.sampled_from(VALID_CHANNELS * 3 + INVALID_CHANNELS)
some_channels = st.lists(channels, min_size=1, max_size=3).map(",".join)

JOINABLE = ["#a", "#A", "#b", "#[x]", "#{X}"]
"""A small pool, so that clients meet: ``#a``/``#A`` and ``#[x]``/``#{X}`` are the same channel."""


def _pick(options: list[str], index: int) -> str | None:
    return options[index % len(options)] if options else None


texts = st.sampled_from(["hi", ":smile", "two words", "\x01ACTION waves\x01", "", "a" * 450, "ünïcödé"])
targets = st.lists(
    st.tuples(st.sampled_from(["", "", "", "@", "+"]), st.sampled_from(VALID_CHANNELS + VALID_NICKS + ["nobody"])).map(
        "".join
    ),
    min_size=1,
    max_size=6,
).map(",".join)
mode_strings = st.lists(st.sampled_from([*"+-ovbiklmnts", "q"]), min_size=1, max_size=6).map("".join)
mode_args = st.lists(
    st.sampled_from([*VALID_NICKS, "key", "3", "1", "0", "-1", "*!*@*", "bob!*@*", "*!~alice@*", "a,b"]), max_size=4
).map(" ".join)
reasons = st.sampled_from(["", ":", ":bye now", "why"])

FIXED_COMMANDS = [
    "JOIN 0",
    "PART",
    "NICK",
    "NICK :",
    "PRIVMSG",
    "PRIVMSG #a",
    "KICK #a",
    "TOPIC",
    "INVITE bob",
    "NAMES",
    "NAMES #a,#b",
    "LIST",
    "LIST >0",
    "WHO #a",
    "WHO bob",
    "WHOIS bob",
    "WHOWAS bob",
    "ISON alice bob [x]",
    "USERHOST alice bob",
    "MOTD",
    "LUSERS",
    "VERSION",
    "TIME",
    "INFO",
    "ADMIN",
    "AWAY :gone fishing",
    "AWAY",
    "MODE #a",
    "MODE #a +b",
    "MODE bob",
    "MODE bob +i",
    "MODE alice -i+x",
    "USER again 0 * :Again",
    "PASS secret",
    "CAP LS 302",
    "CAP LIST",
    "CAP REQ :echo-message multi-prefix",
    "CAP REQ :-echo-message",
    "CAP REQ :bogus",
    "CAP END",
    "CAP FOO",
    "TAGMSG #a",
    "@+typing=active TAGMSG #a",
    "@+typing=active;+x=y\\s TAGMSG bob",
    "@+x=y PRIVMSG #a :tagged",
    "@time=spoofed PRIVMSG #b :tagged",
    ":spoof!x@y PRIVMSG #a :spoofed source",
    "PING",
    "PING :x",
    "PONG :x",
    "OPER admin secret",
    "OPER admin wrong",
    "KILL bob :go away",
    "KILL Alice",
    "KILL nobody",
    "KLINE ~bob@unknown :no bobs",
    "KLINE *@* :everyone",
    "UNKLINE ~bob@unknown",
    "privmsg #a :lower-case verb",
    "FOO bar",
]

commands = st.one_of(
    st.builds(lambda c, k: f"JOIN {c} {k}".rstrip(), some_channels, st.sampled_from(["", "key", "wrong", "key,key"])),
    st.builds(lambda c, r: f"PART {c} {r}".rstrip(), some_channels, reasons),
    st.builds(lambda v, t, x: f"{v} {t} :{x}", st.sampled_from(["PRIVMSG", "NOTICE"]), targets, texts),
    st.builds("NICK {}".format, nicks),
    st.builds(lambda c, n, r: f"KICK {c} {n} {r}".rstrip(), channels, some_nicks, reasons),
    st.builds(lambda c, m, a: f"MODE {c} {m} {a}".rstrip(), channels, mode_strings, mode_args),
    st.builds(lambda c, t: f"TOPIC {c} {t}".rstrip(), channels, st.sampled_from(["", ":", ":new topic", "word"])),
    st.builds("INVITE {} {}".format, nicks, channels),
    st.sampled_from(FIXED_COMMANDS),
)
line_endings = st.sampled_from([b"\r\n", b"\r\n", b"\n"])

garbage = st.one_of(
    st.binary(max_size=300).map(lambda b: b + b"\r\n"),
    st.binary(max_size=300),  # no line end: the sync PING's leading CRLF completes it
    st.sampled_from(
        [
            b"\r\n",
            b"\n\n\n",
            b":\r\n",
            b": \r\n",
            b"  \r\n",
            b"\x00\r\n",
            b"PRIVMSG #a :nul\x00byte\r\n",
            b"PRIVMSG #a :bare\rcr\r\n",
            b"PRIVMSG #a :\xff\xfe invalid utf-8\r\n",
            b"\xc3\x28 :x\r\n",
            b"NICK \xff\r\n",
            b"JOIN #\xff\r\n",
            b"PRIVMSG #a :" + b"x" * 600 + b"\r\n",
            b"A" * 9000 + b"\r\n",
            b"@" + b"a" * 9000 + b" PING :x\r\n",
            b"@\r\n",
            b"@a=b\r\n",
            b":only-a-source\r\n",
            b"FOO\r\n",
            b"x" * 20000,  # more than the ReadQ without a line end: the server drops this client
        ]
    ),
    # Several commands in one write, with mixed line ends.
    st.lists(st.tuples(commands.map(str.encode), line_endings).map(b"".join), min_size=2, max_size=5).map(b"".join),
)

cap_requests = st.sampled_from(
    [
        "echo-message",
        "multi-prefix extended-join",
        "server-time message-tags",
        "away-notify invite-notify userhost-in-names",
        "echo-message server-time message-tags extended-join",
        "bogus",
    ]
)


def _registration(nick: str, username: str, caps: str | None, *, end_cap: bool) -> bytes:
    lines = [f"NICK {nick}", f"USER {username} 0 * :Real Name"]
    if caps is not None:
        lines = ["CAP LS 302", f"CAP REQ :{caps}", *lines]
        if end_cap:
            lines.append("CAP END")
    return "".join(line + "\r\n" for line in lines).encode()


usernames = st.sampled_from(["u", "alice", "bob", "~x", "a@b", "verylongusername-verylong"])


# ---- the machine --------------------------------------------------------------------------------------------


class ServerFuzz(RuleBasedStateMachine):
    """Up to five clients do random things to one in-process server; invariants are checked after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = TrioLoop()
        self.errors = ErrorLog()
        logging.getLogger("trio_chat").addHandler(self.errors)
        self.peers: list[Peer] = []
        self._numbers = 0
        self._tokens = 0
        self.baseline = self.loop.run(self._task_count)

    @property
    def server(self) -> Server:
        return self.loop.server

    def _peer(self, who: int) -> Peer:
        return self.peers[who % len(self.peers)]

    def _member(self, who: int) -> Peer:
        """A registered client if there is one: channel commands from the others only earn 451."""
        registered = [p for p in self.peers if p.registered]
        return (registered or self.peers)[who % len(registered or self.peers)]

    # ---- rules ----------------------------------------------------------------------------------------------

    @precondition(lambda self: len(self.peers) < MAX_CLIENTS)
    @rule()
    def connect(self) -> None:
        """A new connection that says nothing yet."""
        self.loop.run(self._connect, b"")

    @precondition(lambda self: len(self.peers) < MAX_CLIENTS)
    @rule(nick=valid_nicks, caps=st.none() | cap_requests)
    def connect_and_register(self, nick: str, caps: str | None) -> None:
        self.loop.run(self._connect, _registration(nick, nick, caps, end_cap=True))

    @precondition(lambda self: self.peers)
    @rule(
        who=st.integers(0, MAX_CLIENTS - 1),
        nick=nicks,
        username=usernames,
        caps=st.none() | cap_requests,
        end_cap=st.booleans(),
    )
    def register(self, who: int, nick: str, username: str, caps: str | None, end_cap: bool) -> None:
        self.loop.run(self._send, self._peer(who), _registration(nick, username, caps, end_cap=end_cap))

    @precondition(lambda self: self.peers)
    @rule(who=st.integers(0, MAX_CLIENTS - 1), names=st.lists(st.sampled_from(JOINABLE), min_size=1, max_size=2))
    def join(self, who: int, names: list[str]) -> None:
        self.loop.run(self._send, self._member(who), f"JOIN {','.join(names)}\r\n".encode())

    @precondition(lambda self: self.peers)
    @rule(
        who=st.integers(0, MAX_CLIENTS - 1),
        verb=st.sampled_from(["PRIVMSG", "PRIVMSG", "NOTICE"]),
        to=st.lists(st.integers(0, 2 * MAX_CLIENTS), min_size=1, max_size=3),
    )
    def talk(self, who: int, verb: str, to: list[int]) -> None:
        """A message to channels and nicks that exist, mostly (the last choices name none); nothing is lost."""
        names = sorted({c for p in self.peers for c in p.channels}) + [p.nick for p in self.peers if p.registered]
        names += [*JOINABLE[:2], "nobody"]
        self.loop.run(self._talk, self._member(who), verb, [names[i % len(names)] for i in to])

    @precondition(lambda self: self.peers)
    @rule(
        who=st.integers(0, MAX_CLIENTS - 1),
        where=st.integers(0, 3),
        whom=st.integers(0, MAX_CLIENTS - 1),
        change=st.sampled_from(["+o", "-o", "+v", "-v", "+b", "-b", "KICK", "KICK", "INVITE", "INVITE"]),
        flags=st.sampled_from(["+i", "-i", "+m", "-m", "-n", "+n", "+s", "-t", "+k key", "-k *", "+l 2", "-l", ""]),
    )
    def moderate(self, who: int, where: int, whom: int, change: str, flags: str) -> None:
        """What channel operators do, in a channel the actor is in, to another client: status, bans, kicks."""
        actor = self._member(who)
        channel = _pick(sorted(actor.channels), where) or "#a"
        nick = self._member(whom).nick
        if change == "INVITE":  # preferably someone who is not in the channel yet
            outside = [p.nick for p in self.peers if p.registered and casefold(channel) not in p.channels]
            nick = _pick(outside, whom) or nick
        if change in ("KICK", "INVITE"):
            line = f"KICK {channel} {nick} :out" if change == "KICK" else f"INVITE {nick} {channel}"
        elif change[1] == "b":
            line = f"MODE {channel} {change} {nick}!*@*"
        else:
            line = f"MODE {channel} {change} {nick}"
        self.loop.run(self._send, actor, f"{line}\r\nMODE {channel} {flags}\r\n".encode())

    @precondition(lambda self: self.peers)
    @rule(who=st.integers(0, MAX_CLIENTS - 1), line=commands, ending=line_endings)
    def command(self, who: int, line: str, ending: bytes) -> None:
        self.loop.run(self._send, self._member(who), line.encode() + ending)

    @precondition(lambda self: self.peers)
    @rule(who=st.integers(0, MAX_CLIENTS - 1), data=garbage)
    def send_garbage(self, who: int, data: bytes) -> None:
        self.loop.run(self._send, self._peer(who), data)

    @precondition(lambda self: self.peers)
    @rule(
        who=st.integers(0, MAX_CLIENTS - 1),
        how=st.sampled_from(["quit", "quit", "abruptly", "abruptly", "eof", "everyone"]),
        reason=reasons,
        last_words=st.lists(commands, max_size=3),
    )
    def leave(self, who: int, how: str, reason: str, last_words: list[str]) -> None:
        """QUIT; or close the connection without a word; or send some lines, then EOF; or everyone leaves."""
        peer = self._peer(who)
        if how == "quit":
            self.loop.run(self._quit, peer, f"QUIT {reason}".rstrip().encode() + b"\r\n")
        elif how == "abruptly":
            self.loop.run(self._drop, peer)
        elif how == "eof":
            # The server handles what it received, then ends the connection with ERROR.
            self.loop.run(self._quit, peer, b"".join(line.encode() + b"\r\n" for line in last_words), True)
        else:
            self.loop.run(self._everyone_leaves, [who % 2 == 0, who % 3 == 0] * MAX_CLIENTS)

    # ---- invariants -----------------------------------------------------------------------------------------

    @invariant()
    def server_state_is_consistent(self) -> None:
        self.loop.run(self._check)

    def teardown(self) -> None:
        try:
            if self.peers and not self.loop.failed:
                self.loop.run(self._everyone_leaves, [False, True] * MAX_CLIENTS)
        finally:
            logging.getLogger("trio_chat").removeHandler(self.errors)
            self.loop.close()

    # ---- steps, in the loop ---------------------------------------------------------------------------------

    @staticmethod
    async def _task_count() -> int:
        await trio.testing.wait_all_tasks_blocked()
        return trio.lowlevel.current_statistics().tasks_living

    async def _connect(self, first_words: bytes) -> None:
        client_end, server_end = trio.testing.memory_stream_pair()
        assert self.loop.nursery is not None
        self.loop.nursery.start_soon(self.server.handle_connection, server_end)
        self._numbers += 1
        peer = Peer(self._numbers, IRCClient(client_end, f"client {self._numbers}"), server_end)
        self.peers.append(peer)
        await self._send(peer, first_words)

    async def _send(self, peer: Peer, data: bytes) -> None:
        # If the server has closed this connection already, the sync sees the EOF.
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await peer.irc.send_raw(data)
        await self._settle(peer)

    async def _talk(self, sender: Peer, verb: str, targets: list[str]) -> None:
        """Send a message and check that everyone it was for received it, once for each target that names them (a
        target named twice, in any case, counts once).

        Only the sender acts during a step, so what the state says before its line is handled decides who
        gets it: the members of each channel it may speak in (not the sender: it gets its echo-message copy
        instead), and each user named.
        """
        network = self.server.network
        self._tokens += 1
        text = f"hello {self._tokens}"
        by_user = {p.session.user: p for p in self.peers if p.session is not None}
        me = sender.session.user if sender.session is not None else None
        expected = dict.fromkeys(self.peers, 0)
        if me is not None and me.registered:
            for target in unique(targets):
                if is_channel_name(target):
                    channel = network.find_channel(target)
                    if channel is None or not channel.can_speak(me):
                        continue
                    recipients = [m for m in channel.members if m is not me]
                else:
                    user = network.find_user(target)
                    if user is None:
                        continue
                    recipients = [] if user is me else [user]
                # The sender's own copies: its echo, and the message itself when it named itself (both, with
                # echo-message, as in ergo).
                if me.has(caps.ECHO_MESSAGE):
                    expected[by_user[me]] += 1
                if network.find_user(target) is me:
                    recipients.append(me)
                for user in dict.fromkeys(recipients):
                    expected[by_user[user]] += 1
        for peer in self.peers:
            peer.heard.clear()
        await self._send(sender, f"{verb} {','.join(targets)} :{text}\r\n".encode())
        for peer in self.peers:
            got = peer.heard.count(text)
            assert got == expected[peer], f"{peer} received {verb} {text!r} {got} times, not {expected[peer]}"

    async def _quit(self, peer: Peer, data: bytes, close_sending: bool = False) -> None:
        """Send ``data`` (and EOF if ``close_sending``), then read until the server closes the connection."""
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await peer.irc.send_raw(data)
            if close_sending:
                assert isinstance(peer.irc.stream, trio.abc.HalfCloseableStream)
                await peer.irc.stream.send_eof()
        await self._read_until(peer, None)
        await self._settle()

    async def _drop(self, peer: Peer) -> None:
        """Close the connection without a word: the server notices and cleans up on its own."""
        self.peers.remove(peer)
        await peer.irc.aclose()
        await self._settle()

    async def _everyone_leaves(self, abruptly: list[bool]) -> None:
        for peer, abrupt in zip(list(self.peers), abruptly, strict=False):
            if abrupt:
                await self._drop(peer)
            else:
                await self._quit(peer, b"QUIT :leaving\r\n")
        network = self.server.network
        assert not self.peers
        assert not self.server.sessions, f"sessions left behind: {self.server.sessions}"
        assert not network.connections, f"connections left behind: {network.connections}"
        assert not network.users, f"users left behind: {list(network.users)}"
        # Channels with stored history outlive their members (and a restart); no other channel is left.
        left = [c.name for c in network.channels.values() if c.members or not c.persistent]
        assert not left, f"channels left behind: {left}"
        assert not self.server.per_host, f"per-address counts left behind: {self.server.per_host}"
        assert await self._task_count() == self.baseline, "tasks left behind after everyone left"

    async def _settle(self, first: Peer | None = None) -> None:
        """Make sure the server has handled everything sent so far and every client has read what it caused."""
        await trio.testing.wait_all_tasks_blocked()
        order = [first] if first is not None and first in self.peers else []
        order += [p for p in self.peers if p is not first]
        for peer in order:
            self._tokens += 1
            token = f"fuzz-sync-{self._tokens}"
            # The CRLF first completes any unfinished garbage line, so that the PING is a line of its own.
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await peer.irc.send_raw(f"\r\nPING :{token}\r\n".encode())
            await self._read_until(peer, token)
        await trio.testing.wait_all_tasks_blocked()

    async def _read_until(self, peer: Peer, token: str | None) -> None:
        """Feed ``peer`` its lines until the PONG for ``token`` or (``None``, or if the server closes) the end."""
        while True:
            try:
                message = await peer.irc.next_message()
            except EOFError:
                assert peer.error_seen, f"{peer}: the server closed the connection without an ERROR line"
                self.peers.remove(peer)
                await peer.irc.aclose()
                return
            if token is not None and message.command == "PONG" and message.params[-1] == token:
                return
            peer.see(message)

    # ---- the checks -----------------------------------------------------------------------------------------

    async def _check(self) -> None:
        server = self.server
        network = server.network
        assert not self.errors.records, f"the server logged an error: {self.errors.records[0].getMessage()}"

        # Connections: one session per live client, and one user per session.
        assert len(server.sessions) == len(self.peers), f"{len(server.sessions)} sessions for {len(self.peers)}"
        assert network.connections == {s.user for s in server.sessions}
        for peer in self.peers:
            if peer.session is None:
                peer.session = next(s for s in server.sessions if s.stream is peer.server_end)
            assert peer.session in server.sessions
        assert await self._task_count() == self.baseline + TASKS_PER_CONNECTION * len(server.sessions)

        # Users: registered ones are exactly those in ``users``, keyed by their folded, unique, valid nick.
        registered = {u for u in network.connections if u.registered}
        assert set(network.users.values()) == registered
        assert len(network.users) == len(registered)
        for key, user in network.users.items():
            assert key == user.folded == casefold(user.nick), f"users[{key!r}] is {user.nick!r}"
            assert is_valid_nick(user.nick, network.config.nicklen), f"registered with nick {user.nick!r}"
        for user in network.connections:
            assert not user.gone and user.pending is None
            if not user.registered:
                assert not user.channels, f"unregistered {user.nick} is in {list(user.channels)}"
            for key, channel in user.channels.items():
                assert network.channels.get(key) is channel, f"{user.nick} is in {key}, which does not exist"
                assert user in channel.members, f"{user.nick} is in {key} but not among its members"

        # Channels: keyed by folded name, empty only when they have stored history, members connected and
        # registered, both ways.
        for key, channel in network.channels.items():
            assert key == channel.folded == casefold(channel.name)
            assert channel.members or channel.persistent, f"empty channel {channel.name} without history"
            for member, status in channel.members.items():
                assert member in network.connections, f"{member.nick} in {channel.name} is not connected"
                assert member.registered and network.users.get(member.folded) is member
                assert member.channels.get(key) is channel, f"{member.nick} in {channel.name}, not vice versa"
                assert status in ("", "o", "v", "ov"), f"status {status!r}"
            stale = channel.invited - network.users.keys()
            assert not stale, f"{channel.name} has invitations for users who are not here: {stale}"

        # Each client's own view, from what it received, matches the server's.
        for peer in self.peers:
            assert peer.session is not None
            user = peer.session.user
            assert peer.registered == user.registered, f"{peer}: registered={peer.registered}, server says not"
            if user.registered:
                assert peer.nick == user.nick, f"{peer}: thinks it is {peer.nick!r}, server says {user.nick!r}"
                assert peer.channels == set(user.channels), (
                    f"{peer}: thinks it is in {sorted(peer.channels)}, server says {sorted(user.channels)}"
                )


def test_random_clients_never_break_the_server_invariants() -> None:
    run_state_machine_as_test(
        ServerFuzz,
        settings=settings(
            max_examples=100,
            stateful_step_count=40,
            deadline=None,
            report_multiple_bugs=False,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
