"""This node's replica of the network state, kept in step with the others through one ordered log.

Everything here is synchronous and does no I/O: :class:`Replica` turns what happens on this node into events
(``outgoing``) and applies the events of the log, in order, to the node's :class:`~..state.Network` through the
same handlers and state methods a single server uses.  ``node.py`` carries the events to and from Redis.

What goes through the log, and what does not:

* A command that changes the network state (``NICK``, ``JOIN``, ``MODE``…, see :data:`REPLICATED`) is appended
  as the client sent it.  Every node runs it, at the same position of the log, against the same state, with the
  clock pinned to the time it was sent: the replicas stay equal, and a conflict (two people taking ``alice`` at
  once on two nodes) is settled by the log's order.  The node of the client that sent it answers the client when
  it applies it, so a command's replies still come before anything of the client's next command.
* Registration is an ``introduce`` event: the nick is given out when the log says it is free.
* A change that starts on one node outside a command (a connection that ended, a guest rename after the grace
  period, the end of a password check) is appended as an event of its own, and made when it comes back.
* Messages do not go through the log.  A channel message goes to the channel's own stream, read only by nodes
  with members in the channel; a private message to the recipient's node's stream.  Each carries the log position
  its sender's node had applied: a node delivers it once it has applied that far (so a nick change or a join seen
  before a message is seen before it everywhere), to its members in the channel then.
"""

from __future__ import annotations

import itertools
import json
import logging
import zlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

import trio

from ...protocol import numerics as N
from ...protocol.casemap import casefold
from ...protocol.message import Message, parse_line
from ..accounts import AccountRecord
from ..commands import dispatch
from ..context import Context
from ..handlers import registration
from ..handlers.messaging import accepts, channel_recipients
from ..history import ChannelRecord, StoredMessage
from ..relay import Relay
from ..state import Channel, Network, User

log = logging.getLogger("trio_chat.cluster")

Position = tuple[int, int]
ZERO: Position = (0, 0)

LOG = "log"
"""The stream every node reads: the network's state changes."""

REPLICATED = frozenset(
    {
        "NICK",
        "JOIN",
        "PART",
        "KICK",
        "MODE",
        "TOPIC",
        "INVITE",
        "AWAY",
        "SETNAME",
        "QUIT",
        "KILL",
        "KLINE",
        "UNKLINE",
        "CS",
        "CHANSERV",
        "RENAME",
        "KNOCK",
        "WALLOPS",
        "METADATA",
    }
)
"""Commands of registered users that change the network state: they go through the log as the client sent them.

Commands that carry a password (OPER, AUTHENTICATE, REGISTER, NickServ's) never do: a password must not sit in
Redis.  They run on the user's node alone, and what they change reaches the others as events that carry no
password (a login, an account record with its hash, an operator's modes), see :meth:`Replica.account_saved`."""

SPLIT_REASON = "*.net *.split"


def position_of(entry_id: bytes | str) -> Position:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def id_of(position: Position) -> str:
    return f"{position[0]}-{position[1]}"


def channel_stream(folded: str) -> str:
    return f"ch:{folded}"


def node_stream(instance: str) -> str:
    return f"to:{instance}"


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "surrogateescape")


def decode(data: bytes) -> dict[str, Any]:
    value = json.loads(data.decode("utf-8", "surrogateescape"))
    if not isinstance(value, dict):
        raise ValueError("an event is a JSON object")
    return value


def _account(fields: dict[str, Any]) -> AccountRecord:
    """An account record as JSON carried it (tuples come back as lists)."""
    values = dict(fields)
    values["certfps"] = tuple(values.get("certfps", ()))
    return AccountRecord(**values)


class DiscardQ:
    """The SendQ of a user of another node: what is delivered to them here goes nowhere (their node delivers)."""

    __slots__ = ()

    @property
    def queued(self) -> int:
        return 0

    @queued.setter
    def queued(self, value: int) -> None:
        pass

    def send_nowait(self, line: bytes) -> None:
        pass

    def ready(self) -> None:
        pass


class RemoteOutbox:
    """The connection of a user of another node, as this node sees it: nothing to close here."""

    __slots__ = ()

    def close(self, reason: str, *, abort: bool = False) -> None:
        pass

    def receipt(self) -> Callable[[StoredMessage | None], None]:
        return _ignore


def _ignore(_: StoredMessage | None) -> None:
    pass


async def _nothing(_: list[str]) -> None:
    pass


DISCARD = DiscardQ()
REMOTE = RemoteOutbox()


def parse_source(source: str) -> tuple[str, str, str]:
    nick, _, rest = source.partition("!")
    username, _, host = rest.partition("@")
    return nick, username, host


class Waiter:
    """A command of a user of this node, appended to the log: its lines once this node has applied it."""

    __slots__ = ("done", "lines", "user")

    def __init__(self, user: User) -> None:
        self.user = user
        self.done = trio.Event()
        self.lines: list[bytes] = []


class Replica:
    """This node's view of the network, applied from the log (see the module's docstring)."""

    def __init__(self, network: Network, instance: str) -> None:
        self.network = network
        self.instance = instance
        """This node's name in the network: its server name and a token new at every start."""
        self.applying = False
        self.position: Position = ZERO
        """The last log entry applied."""
        self.users: dict[str, User] = {}
        """Every registered user of the network (and this node's users being introduced), by uid."""
        self.uids: dict[User, str] = {}
        self.outgoing: list[tuple[str, bytes]] = []
        """Entries to append, by stream name, in order; ``node.py`` sends them in one round trip."""
        self.wake: Callable[[], None] = lambda: None
        """Called when ``outgoing`` was empty and is not any more."""
        self.subscribe: Callable[[list[str]], Awaitable[None]] = _nothing
        """Awaited before a user of this node joins channels (folded names): this node reads their streams
        from then on, so it sees every message sent after the join."""
        self.joined: Callable[[list[str]], None] = lambda folded: None
        """Called once a JOIN of a user of this node has been applied (the channels :attr:`subscribe` had)."""
        self.describer: Callable[[], list[str]] = lambda: [f"node {self.instance}"]
        """What ``STATS n`` shows (set by ``node.py``, which knows the other nodes and Redis)."""
        self.waiters: dict[str, Waiter] = {}
        self._tokens = itertools.count(1)
        self.held: deque[tuple[Position, str, dict[str, Any]]] = deque()
        """Messages from other nodes waiting until the log is applied as far as their sender's node had."""
        self.degraded = False
        """Redis cannot be reached: replicated commands and registrations are refused meanwhile."""
        self.homes: dict[str, str] = {}
        """Other nodes' instances seen in the log -> their server names."""
        self.applied = 0
        self.rejoining: set[str] = set()
        """This node's users introduced again after a resynchronisation and not yet back."""
        network.cluster = self

    # ---- uids ---------------------------------------------------------------------------------------------

    def uid(self, user: User) -> str:
        uid = self.uids.get(user)
        if uid is None:
            uid = f"{self.instance}.{user.id}"
            self.uids[user] = uid
            self.users[uid] = user
        return uid

    def _forget(self, user: User) -> None:
        uid = self.uids.pop(user, None)
        if uid is not None:
            self.users.pop(uid, None)

    # ---- events from this node ----------------------------------------------------------------------------

    def emit(self, stream: str, event: dict[str, Any]) -> None:
        if not self.outgoing:
            self.wake()
        self.outgoing.append((stream, encode(event)))

    def describe(self) -> list[str]:
        return self.describer()

    def replicates(self, user: User, message: Message) -> bool:
        """Whether ``user``'s command ``message`` goes through the log."""
        if not user.registered:
            return False
        verb = message.command.upper()
        if verb in REPLICATED:
            return True
        if verb in ("PRIVMSG", "NOTICE") and message.params:
            # Messages to ChanServ are its commands (NickServ's carry passwords: see REPLICATED).
            return any(casefold(t) == "chanserv" for t in message.params[0].split(","))
        return False

    async def submit(self, user: User, message: Message) -> list[bytes]:
        """Append ``user``'s command to the log and return its lines once this node has applied it."""
        if self.degraded:
            return [self.degraded_notice(user)]
        waiter = Waiter(user)
        token = str(next(self._tokens))
        self.waiters[token] = waiter
        joining = []
        if message.command.upper() == "JOIN" and message.params:
            joining = [casefold(name) for name in message.params[0].split(",") if name]
            await self.subscribe(joining)
        self.emit(
            LOG,
            {
                "k": "c",
                "u": self.uid(user),
                "w": token,
                "t": int(self.network.clock() * 1000),
                "l": message.to_bytes().decode("utf-8", "surrogateescape"),
            },
        )
        try:
            await waiter.done.wait()
        finally:
            self.waiters.pop(token, None)
            if joining:
                self.joined(joining)
        return waiter.lines

    async def introduce(self, user: User) -> list[bytes]:
        if self.degraded:
            return [
                Message(
                    "FAIL",
                    ("*", "TEMPORARILY_UNAVAILABLE", "The network is degraded; try connecting again shortly"),
                    self.network.config.server_name,
                ).to_bytes()
            ]
        waiter = Waiter(user)
        token = str(next(self._tokens))
        self.waiters[token] = waiter
        record = self.user_record(user)
        record.update({"k": "i", "w": token, "t": int(self.network.clock() * 1000)})
        self.emit(LOG, record)
        try:
            await waiter.done.wait()
        finally:
            self.waiters.pop(token, None)
        return waiter.lines

    def depart(self, user: User, reason: str) -> None:
        if user.home is None:
            user.gone = True
        uid = self.uids.get(user)
        if uid is not None:
            self.emit(LOG, {"k": "q", "u": uid, "r": reason})

    def rename(self, user: User, nick: str) -> None:
        uid = self.uids.get(user)
        if uid is not None:
            self.emit(LOG, {"k": "r", "u": uid, "nick": nick})

    def account_changed(self, user: User) -> None:
        uid = self.uids.get(user)
        if uid is not None and user.registered:
            self.emit(LOG, {"k": "a", "u": uid, "acct": user.account})

    def oper_changed(self, user: User) -> None:
        uid = self.uids.get(user)
        if uid is not None:
            self.emit(LOG, {"k": "o", "u": uid, "oper": user.oper, "modes": "".join(sorted(user.modes))})

    def account_saved(self, record: AccountRecord | None, folded: str) -> None:
        self.emit(LOG, {"k": "A", "n": self.instance, "f": folded, "rec": asdict(record) if record else None})

    def relay_channel(
        self, channel: Channel, relay: Relay, sender: User, *, status: str, verb: str, text: str | None
    ) -> None:
        # Written even when every member this node knows of is here: a JOIN on another node may be in the log
        # and not applied here yet, and that member must hear what is said after their 366.
        event = self._message(relay, sender, verb, text)
        event["f"] = channel.folded
        event["st"] = status
        self.emit(channel_stream(channel.folded), event)

    def relay_private(self, target: User, relay: Relay, sender: User, *, verb: str, text: str | None) -> None:
        home, uid = target.home, self.uids.get(target)
        if home is None or uid is None:
            return
        event = self._message(relay, sender, verb, text)
        event["to"] = uid
        self.emit(node_stream(home), event)

    def _message(self, relay: Relay, sender: User, verb: str, text: str | None) -> dict[str, Any]:
        return {
            "k": "m",
            "p": list(self.position),
            "n": self.instance,
            "src": sender.source,
            "acct": sender.account,
            "v": verb,
            "x": text,
            "b": relay.body.decode("utf-8", "surrogateescape"),
            "tm": relay.time,
            "ms": relay.time_ms,
            "id": relay.msgid,
            "ct": relay.client_tags,
            "bot": relay.bot,
        }

    def degraded_notice(self, user: User) -> bytes:
        return Message(
            "NOTICE",
            (user.nick, "The network is degraded (its Redis cannot be reached): try again shortly"),
            self.network.config.server_name,
        ).to_bytes()

    # ---- records (introductions, snapshots, resynchronisation) ----------------------------------------------

    def user_record(self, user: User) -> dict[str, Any]:
        return {
            "u": self.uid(user),
            "n": user.home or self.instance,
            "nick": user.nick,
            "user": user.username,
            "host": user.host,
            "real": user.realname,
            "acct": user.account,
            "modes": "".join(sorted(user.modes)),
            "away": user.away,
            "oper": user.oper,
            "secure": user.secure,
            "since": user.connected_at,
        }

    def channel_record(self, channel: Channel) -> dict[str, Any]:
        """A channel as the log and snapshots carry it: what the store keeps of it (``Channel.record``), and
        what only a live network has (members, invitations, metadata)."""
        return {
            "k": "C",
            "record": asdict(channel.record()),
            "persistent": channel.persistent,
            "invited": sorted(channel.invited),
            "metadata": channel.metadata,
            "members": {self.uids[m]: s for m, s in channel.members.items() if m in self.uids},
        }

    def _load_channel(self, event: dict[str, Any]) -> None:
        """Put the channel a :meth:`channel_record` describes into the network (replacing one of that name)."""
        fields = dict(event["record"])
        for key in ("bans", "excepts", "invexes"):
            fields[key] = tuple(tuple(entry) for entry in fields[key])
        fields["ops"] = tuple(fields["ops"])
        channel = Channel.restored(ChannelRecord(**fields))
        channel.persistent = event["persistent"]
        channel.invited = set(event["invited"])
        channel.metadata = dict(event["metadata"])
        for uid, status in event["members"].items():
            member = self.users.get(uid)
            if member is not None:
                channel.members[member] = status
                member.channels[channel.folded] = channel
        self.network.channels[channel.folded] = channel

    def snapshot(self) -> dict[str, Any]:
        """The whole replica as records (see :meth:`load`), at ``position``."""
        users = [self.user_record(u) for u in self.network.users.values() if u in self.uids]
        channels = [self.channel_record(c) for c in self.network.channels.values()]
        # Accounts too (with their password hashes, as every node's database has them): a node that starts with
        # an empty database learns those registered before the log was trimmed.
        accounts = [asdict(record) for record in self.network.accounts.values()]
        return {"pos": list(self.position), "users": users, "channels": channels, "accounts": accounts}

    def load(self, snapshot: dict[str, Any]) -> None:
        """Start from a snapshot: every user and channel it holds (this node has no users yet)."""
        network = self.network
        self.applying = True
        try:
            for fields in snapshot.get("accounts", ()):
                record = _account(fields)
                if network.accounts.get(record.folded) != record:
                    network.save_account(record)
        finally:
            self.applying = False
        for record in snapshot["users"]:
            user = self._remote_user(record)
            if user is not None:
                network.register(user)
        for record in snapshot["channels"]:
            self._load_channel(record)
        self.position = tuple(snapshot["pos"])

    def _remote_user(self, record: dict[str, Any]) -> User | None:
        """A user of another node, as a record describes them; None if their nick is taken here."""
        network = self.network
        if casefold(record["nick"]) in network.users:
            return None
        user = network.add_connection(record["host"], REMOTE, DISCARD)
        user.home = record["n"]
        self.homes[user.home] = user.home.rpartition("/")[0]
        user.nick, user.username, user.realname = record["nick"], record["user"], record["real"]
        user.account, user.away, user.oper = record["acct"], record["away"], record["oper"]
        user.modes = frozenset(record["modes"])
        user.secure = record["secure"]
        user.connected_at = user.last_active = record["since"]
        self.uids[user] = record["u"]
        self.users[record["u"]] = user
        return user

    # ---- applying the log ---------------------------------------------------------------------------------

    def apply(self, position: Position, event: dict[str, Any]) -> None:
        """Apply one log entry; a malformed one is logged and skipped (every node skips it alike)."""
        if position <= self.position:
            return
        self.position = position
        self.applied += 1
        network = self.network
        clock = network.clock
        sent = event.get("t")
        if isinstance(sent, int):
            network.clock = lambda: sent / 1000  # every node sees the same time for the same change
        self.applying = True
        try:
            kind = event.get("k")
            if kind == "c":
                self._command(event)
            elif kind == "i":
                self._introduce(event)
            elif kind == "q":
                self._quit(event)
            elif kind == "r":
                self._rename(event)
            elif kind == "a":
                self._account(event)
            elif kind == "A":
                self._account_record(event)
            elif kind == "o":
                self._oper(event)
            elif kind == "s":
                self._split(event)
            elif kind == "C":
                self._channel(event)
            elif kind == "b":
                self._burst(event)
            else:
                log.warning("log entry %s of an unknown kind %r: skipped", id_of(position), kind)
        except Exception:
            log.exception("log entry %s could not be applied: skipped", id_of(position))
        finally:
            self.applying = False
            network.clock = clock
            network.reap()
        if self.held:
            self.release()

    def _command(self, event: dict[str, Any]) -> None:
        user = self.users.get(event["u"])
        if user is None:
            return
        message = parse_line(event["l"].encode("utf-8", "surrogateescape"))
        network = self.network
        if user.home is not None:
            dispatch(network, user, message)
            user.deferred = None  # an asynchronous rest (a store query) is for the user's own node to run
            return
        lines = dispatch(network, user, message)
        waiter = self.waiters.get(event.get("w", ""))
        if waiter is not None:
            waiter.lines = lines
            waiter.done.set()

    def _introduce(self, event: dict[str, Any]) -> None:
        network = self.network
        if event["n"] != self.instance:
            user = self._remote_user(event)
            if user is not None:
                network.register(user)
            return
        waiter = self.waiters.get(event.get("w", ""))
        user = self.users.get(event["u"])
        if user is None or user not in network.connections or user.registered:
            # The connection ended before its turn: the others introduced it, take it off again.
            if user is None or user not in network.connections:
                self.emit(LOG, {"k": "q", "u": event["u"], "r": "Connection closed"})
            if waiter is not None:
                waiter.done.set()
            return
        if network.nick_in_use(event["nick"], user):
            lines = [
                Message(
                    N.ERR_NICKNAMEINUSE, (user.nick, event["nick"], "Nickname is already in use"), self.server
                ).to_bytes()
            ]
            user.refused_nick = event["nick"]
        else:
            pending = network.start_command(user)
            try:
                registration.complete_registration(Context(network, user))
            finally:
                network.end_command(user)
            lines = pending
        if waiter is not None:
            waiter.lines = lines
            waiter.done.set()

    @property
    def server(self) -> str:
        return self.network.config.server_name

    def _quit(self, event: dict[str, Any]) -> None:
        user = self.users.get(event["u"])
        if user is None:
            return
        self._forget(user)
        self.network.remove_user(user, event["r"])
        if user.home is None:
            user.outbox.close(event["r"])

    def _rename(self, event: dict[str, Any]) -> None:
        user = self.users.get(event["u"])
        if user is None or not user.registered or self.network.nick_in_use(event["nick"], user):
            return
        self.network.change_nick(user, event["nick"])
        user.nick_claim += 1

    def _account(self, event: dict[str, Any]) -> None:
        user = self.users.get(event["u"])
        if user is None or user.home is None or user.account == event["acct"]:
            return
        user.account = event["acct"]
        self.network.account_shown(user)

    def _oper(self, event: dict[str, Any]) -> None:
        user = self.users.get(event["u"])
        if user is not None and user.home is not None:
            user.oper, user.modes = event["oper"], frozenset(event["modes"])

    def _account_record(self, event: dict[str, Any]) -> None:
        if event["n"] == self.instance:
            return
        network = self.network
        if event["rec"] is None:
            record = network.accounts.get(event["f"])
            if record is not None:
                network.drop_account(record)
            return
        network.save_account(_account(event["rec"]))

    def _split(self, event: dict[str, Any]) -> None:
        """A node left the network (it stopped heartbeating): its users quit everywhere."""
        instance = event["n"]
        gone = [u for u in self.users.values() if u.home == instance]
        if instance == self.instance:
            log.warning("the network took this node for dead: its users are introduced again")
            self.rejoin(drop_others=False)
            return
        log.info("node %s left the network: %d user(s) quit", instance, len(gone))
        for user in gone:
            self._forget(user)
            self.network.remove_user(user, SPLIT_REASON)
        self.homes.pop(instance, None)

    # ---- messages from other nodes ------------------------------------------------------------------------

    def receive(self, stream: str, event: dict[str, Any]) -> None:
        """A message from a channel's stream or this node's: delivered once the log is applied far enough."""
        if event.get("n") == self.instance:
            return
        sent_at: Position = tuple(event.get("p", ZERO))
        if self.held or sent_at > self.position:
            self.held.append((sent_at, stream, event))
            return
        self._deliver(sent_at, event)

    def release(self) -> None:
        held = self.held
        while held and held[0][0] <= self.position:
            sent_at, _, event = held.popleft()
            self._deliver(sent_at, event)

    def _deliver(self, sent_at: Position, event: dict[str, Any]) -> None:
        try:
            self._deliver_message(sent_at, event)
        except Exception:
            log.exception("a message from node %s could not be delivered", event.get("n"))

    def _deliver_message(self, sent_at: Position, event: dict[str, Any]) -> None:
        network = self.network
        relay = Relay.of_body(
            event["b"].encode("utf-8", "surrogateescape"),
            time=event["tm"],
            msgid=event["id"],
            client_tags=event["ct"],
            time_ms=event["ms"],
            account=event["acct"],
            bot=event["bot"],
        )
        verb, text = event["v"], event["x"]
        sender = self._sender(event)
        if "to" in event:
            target = self.users.get(event["to"])
            if target is None or target.home is not None or not accepts(target, verb):
                return
            network.deliver(target, relay.line(target.tag_variant))
            if text is not None and sender.account is not None and target.account is not None:
                network.remember_private(sender, target, relay, verb, text)
            network.reap()
            return
        folded = event["f"]
        channel = network.channels.get(folded)
        if channel is None:
            return
        status = event["st"]
        # Its members here now: this node has applied the log as far as the sender's node had, so whoever the
        # sender saw in the channel is here too; someone who joined meanwhile, concurrently, hears it as well.
        recipients = [u for u in channel_recipients(channel, status, verb) if u.home is None]
        network.deliver_all(recipients, relay)
        if text is not None and not status and recipients:
            network.remember(channel, relay, sender, verb, text)
        network.reap()

    def _sender(self, event: dict[str, Any]) -> User:
        nick, username, host = parse_source(event["src"])
        user = User(id=0, host=host, outbox=REMOTE, connected_at=0.0, sendq=DISCARD, nick=nick, username=username)
        user.account = event["acct"]
        return user

    # ---- this node's users after the network lost them ------------------------------------------------------

    def local_users(self) -> list[User]:
        return [u for u in self.network.users.values() if u.home is None]

    def resync(self) -> None:
        """Redis lost the network's state: start a new log from what each node has (an IRC netsplit, then a
        netjoin).  The users of other nodes leave (``*.net *.split``) and come back with their nodes'
        introductions; this node's users are introduced again (:meth:`rejoin`)."""
        self.position = ZERO
        self.held.clear()
        self.rejoin(drop_others=True)

    def rejoin(self, *, drop_others: bool) -> None:
        """Take this node's users out of the replica without telling anyone here, and introduce them again
        (``b`` events, after the ``C`` records of their channels): in the log, they join after whatever the
        network did meanwhile, and one of them whose nick was taken meanwhile is renamed and told why.  Until
        the last of them is back, this node's commands wait as in a degraded network."""
        network = self.network
        self.applying = True
        try:
            if drop_others:
                for user in [u for u in self.users.values() if u.home is not None]:
                    self._forget(user)
                    network.remove_user(user, SPLIT_REASON)
                self.homes.clear()
            mine = [u for u in network.connections if u.home is None and u.registered and not u.gone]
            channels: dict[str, Channel] = {}
            records: list[dict[str, Any]] = []
            for user in mine:
                record = self.user_record(user)
                record["k"] = "b"
                record["ch"] = {f: [c.name, c.members.get(user, "")] for f, c in user.channels.items()}
                records.append(record)
                channels.update(user.channels)
                if network.users.get(user.folded) is user:
                    del network.users[user.folded]
            for channel in channels.values():
                for user in mine:
                    channel.members.pop(user, None)
            for folded, channel in list(network.channels.items()):
                if not channel.members and not channel.persistent:
                    del network.channels[folded]
        finally:
            self.applying = False
        for channel in channels.values():
            self.emit(LOG, self.channel_record(channel) | {"members": {}})
        self.rejoining = {r["u"] for r in records}
        if self.rejoining:
            self.degraded = True
        for record in records:
            self.emit(LOG, record)

    def _channel(self, event: dict[str, Any]) -> None:
        """A channel as a node that is introducing its users again knew it: created if the network has none."""
        if event["record"]["folded"] not in self.network.channels:
            self._load_channel(event)

    def _burst(self, event: dict[str, Any]) -> None:
        """A user introduced again after a resynchronisation, with their channels."""
        network = self.network
        uid = event["u"]
        mine = event["n"] == self.instance
        user = self.users.get(uid) if mine else None
        if mine and (user is None or user.gone):
            self.rejoining.discard(uid)
            self._rejoined()
            return
        nick = event["nick"]
        holder = network.users.get(casefold(nick))
        renamed = holder is not None and holder is not user
        if renamed:
            nick = self._fallback_nick(uid)
        if mine:
            assert user is not None
            old = user.source
            user.nick, user.folded = nick, casefold(nick)
            network.users[user.folded] = user
            if renamed:
                network.deliver(user, Message("NICK", (nick,), old).to_bytes())
                network.service_notice(
                    user,
                    f"Your nick {event['nick']} was taken while this server was cut off from the network: "
                    f"you are now {nick}.",
                )
        else:
            record = dict(event, nick=nick)
            user = self._remote_user(record)
            if user is None:
                return
            network.register(user)
        for folded, (name, status) in event["ch"].items():
            channel = network.channels.get(folded)
            if channel is None:
                channel = network.channels[folded] = Channel(name=name, folded=folded, created=network.now())
            channel.members[user] = status
            user.channels[folded] = channel
            if not mine:
                local = [m for m in channel.members if m.home is None]
                network.deliver_all(local, network.relay(Message("JOIN", (channel.name,), user.source)))
                if status:
                    modes = "+" + status
                    relay = network.relay(
                        Message("MODE", (channel.name, modes, *([user.nick] * len(status))), self.server)
                    )
                    network.deliver_all(local, relay)
        if mine:
            self.rejoining.discard(uid)
            self._rejoined()

    def _rejoined(self) -> None:
        if not self.rejoining and self.degraded:
            self.degraded = False
            log.warning("this node's users are back on the network")

    def _fallback_nick(self, uid: str) -> str:
        """The nick a user gets when theirs was taken meanwhile: the same on every node."""
        number = zlib.crc32(uid.encode()) % 100_000
        while True:
            nick = f"Guest{number:05d}"
            if casefold(nick) not in self.network.users:
                return nick
            number = (number + 1) % 100_000
