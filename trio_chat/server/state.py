"""The server's state: users, channels and the network that holds them.

Every change is a plain synchronous method.  Because nothing here awaits, each command runs to completion before
any other starts: no locks, ever.  Delivery to other people is a ``send_nowait`` into their SendQ (a bounded
trio memory channel, see ``outbound.py``); a full SendQ marks its owner for disconnection, which happens once
the current change is complete.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from trio import WouldBlock

from ..protocol import caps
from ..protocol import numerics as N
from ..protocol.casemap import casefold
from ..protocol.message import Message
from ..protocol.names import mask_matches
from .accounts import AccountRecord, LoginThrottle
from .config import ServerConfig
from .history import (
    ChannelRecord,
    HistoryService,
    ReadMarker,
    StoredMessage,
    StoreError,
    conversation_key,
    of_message,
)
from .multiline import MultilineBatch
from .relay import VARIANT_ACCOUNT, VARIANT_TAGS, VARIANT_TIME, Relay

log = logging.getLogger(__name__)

NICKSERV = "NickServ"
NICKSERV_SOURCE = "NickServ!NickServ@services."
"""The built-in NickServ pseudo-user: its nick cannot be taken, its NOTICEs come from this source."""
CHANSERV = "ChanServ"
CHANSERV_SOURCE = "ChanServ!ChanServ@services."
"""The built-in ChanServ pseudo-user."""
SERVICE_NICKS = frozenset({"nickserv", "chanserv"})
"""Folded nicks of the pseudo-users."""
OFFLINE_PREFIX = "offline "
"""Read-marker targets starting with this (a space: never a nick or a channel a client can name) hold, per
account, when the first message kept for it while it was offline arrived, by the other account's folded name
(``Network.offline``); 0 when everything kept has been delivered."""


class SendQ(Protocol):
    """A user's SendQ as fan-out sees it (``outbound.SendQ``, or a list in tests).

    Delivering a line is ``send_nowait(line)`` (``trio.WouldBlock`` when full), then ``queued += 1``, and
    ``ready()`` when that made ``queued`` 1: whoever drains the SendQ takes ``queued`` lines at once.
    """

    queued: int

    def send_nowait(self, line: bytes) -> None: ...

    def ready(self) -> None: ...


class Cluster(Protocol):
    """The seam to the other nodes of a network (``cluster/``), as the state sees it; absent on one node.

    Changes of the network state run on every node, in the order of one log, through the same synchronous
    methods as on one node (``applying`` is true meanwhile).  A change that starts elsewhere on this node (a
    connection that ended, a timer, the end of a password check) is not made here directly: it is told to the
    cluster, which appends it to the log, and every node (this one too) makes it when it comes back.
    """

    applying: bool

    def depart(self, user: User, reason: str) -> None:
        """``user`` (of this node, registered) leaves the network: QUIT everywhere, once the log says so."""
        ...

    def rename(self, user: User, nick: str) -> None:
        """``user`` is renamed to ``nick`` (a guest nick after the grace period), once the log says so."""
        ...

    def account_changed(self, user: User) -> None:
        """``user`` logged in or out here (``user.account`` is already changed): the other nodes follow."""
        ...

    def account_saved(self, record: AccountRecord | None, folded: str) -> None:
        """The account ``folded`` was created or changed (``record``) or dropped (None) here."""
        ...

    def oper_changed(self, user: User) -> None:
        """``user`` (of this node) became an operator here (``OPER`` never goes through the log: it carries a
        password): the other nodes follow."""
        ...

    def relay_channel(
        self, channel: Channel, relay: Relay, sender: User, *, status: str, verb: str, text: str | None
    ) -> None:
        """A message to ``channel`` was delivered to its members here: the nodes of its other members too."""
        ...

    def relay_private(self, target: User, relay: Relay, sender: User, *, verb: str, text: str | None) -> None:
        """A message to ``target``, a user of another node: to that node."""
        ...

    def describe(self) -> list[str]:
        """Lines for ``STATS n``: the nodes, the log's lag, Redis's round-trip time."""
        ...

    def replicates(self, user: User, message: Message) -> bool:
        """Whether ``user``'s command goes through the log (:meth:`submit`) rather than running here alone."""
        ...

    async def submit(self, user: User, message: Message) -> list[bytes]:
        """Run ``user``'s command on every node, in the log's order; its lines for ``user``."""
        ...

    async def introduce(self, user: User) -> list[bytes]:
        """Registration of ``user`` (of this node) is complete here: the log decides whether their nick is
        theirs.  Returns the lines for them: the welcome burst, or 433 (they stay unregistered)."""
        ...


class Outbox(Protocol):
    """The connection behind a user, as the state sees it: something that can be asked to end."""

    def close(self, reason: str, *, abort: bool = False) -> None:
        """Ask the connection to end with ``ERROR :reason``; ``abort`` skips flushing what is queued."""
        ...

    def receipt(self) -> Callable[[StoredMessage | None], None]:
        """A message of the command running now is being stored: the command's replies (its echo among them)
        wait until the returned callback has been called, once the store has committed it."""
        ...


@dataclass(eq=False, slots=True)
class User:
    """One connection, registered or not.  ``nick`` is ``*`` until NICK is accepted."""

    id: int
    host: str
    outbox: Outbox
    connected_at: float
    sendq: SendQ
    nick: str = "*"
    folded: str = ""
    username: str = ""
    realname: str = ""
    password: str | None = None
    registered: bool = False
    cap_negotiating: bool = False
    cap_version: int = 0
    caps: frozenset[str] = frozenset()
    """Replaced as a whole when it changes: an empty set in every idle connection would cost 216 bytes."""
    tag_variant: int = 0
    modes: frozenset[str] = frozenset()
    """User modes (``i``, ``o``); replaced as a whole, like ``caps``."""
    away: str | None = None
    oper: str | None = None
    secure: bool = False
    channels: dict[str, Channel] = field(default_factory=dict)
    last_active: float = 0.0
    pending: list[bytes] | None = None
    """While this user's own command runs, lines for them collect here, in order, and are sent after it."""
    deferred: Callable[[], Awaitable[list[bytes]]] | None = None
    """The asynchronous rest of this user's command (a store query), run by the session after it."""
    gone: bool = False
    """Removed from the network (quit, killed, SendQ exceeded): nothing more is delivered."""
    account: str | None = None
    """The account this connection is logged in to (its name as registered), if any."""
    certfp: str | None = None
    """SHA-256 fingerprint of the TLS client certificate (lower-case hex), if one was presented and accepted."""
    sasl: SaslExchange | None = None
    """An AUTHENTICATE exchange under way."""
    nick_claim: int = 0
    """Counts nick changes: a pending guest rename applies only to the nick it was scheduled for."""
    told_offline: frozenset[str] = frozenset()
    """Folded names of the offline accounts this session was told keep its messages (told once each)."""
    monitoring: dict[str, str] | None = None
    """MONITOR list: folded nick -> the nick as the client gave it; None while empty (most connections)."""
    refused_nick: str | None = None
    """Before registration: the nick of the last NICK refused because it was in use (REGISTER answers for it
    with ACCOUNT_EXISTS rather than NEED_NICK); None once a NICK is accepted."""
    read_markers: dict[str, int] | None = None
    """Read markers (``draft/read-marker``) of this connection while it is not logged in: folded target -> Unix
    milliseconds, for the connection's life only (never stored); None while empty (most connections)."""
    home: str | None = None
    """With several nodes (``cluster/``): the node this user is connected to, None when it is this one.  Lines
    delivered to a user of another node go nowhere here: their own node delivers them."""
    multiline: MultilineBatch | None = None
    """A ``draft/multiline`` batch this client is sending (its lines held until ``BATCH -``), or one that failed
    and whose remaining lines are being dropped; None most of the time."""
    knocks: dict[str, float] | None = None
    """KNOCK: folded channel -> trio time of this user's last KNOCK there, recent ones only; None while empty."""

    metadata: dict[str, str] = field(default_factory=dict)
    """IRCv3 metadata set on this user (by them, before or after registration); it lives as long as the
    connection."""
    metadata_subs: set[str] = field(default_factory=set)
    """Metadata keys this connection subscribed to (``METADATA * SUB``): it is told when they change."""

    @property
    def source(self) -> str:
        return f"{self.nick}!{self.username}@{self.host}"

    def has(self, cap: str) -> bool:
        return cap in self.caps

    def set_caps(self, new: AbstractSet[str]) -> None:
        self.caps = frozenset(new)
        self.tag_variant = (
            (VARIANT_TIME if caps.SERVER_TIME in new else 0)
            | (VARIANT_TAGS if caps.MESSAGE_TAGS in new else 0)
            | (VARIANT_ACCOUNT if caps.ACCOUNT_TAG in new else 0)
        )


@dataclass(slots=True)
class SaslExchange:
    """An AUTHENTICATE exchange: the mechanism chosen and the base64 chunks received so far."""

    mechanism: str
    data: str = ""


@dataclass(frozen=True, slots=True)
class Ban:
    """An entry of a channel's ``+b``, ``+e`` or ``+I`` list."""

    mask: str
    setter: str
    time: int


MUTE_PREFIX = "m:"
"""The mute extban (``EXTBAN=,m``, as ergo and InspIRCd write it): ``+b m:nick!user@host``."""


def _matches_any(masks: list[Ban], source: str, prefix: str, *, mute: bool) -> bool:
    """Whether a mask of ``masks`` with (``mute``) or without the ``prefix`` matches ``source``."""
    for ban in masks:
        mask = ban.mask
        if mask.startswith(prefix) == mute and mask_matches(mask[len(prefix) :] if mute else mask, source):
            return True
    return False


@dataclass(eq=False, slots=True)
class Channel:
    name: str
    folded: str
    created: int
    members: dict[User, str] = field(default_factory=dict)
    """Member -> status letters held, in rank order (``"ov"``, ``"o"``, ``"v"`` or ``""``)."""
    topic: str = ""
    topic_by: str = ""
    topic_time: int = 0
    modes: set[str] = field(default_factory=lambda: {"n", "t"})
    key: str | None = None
    limit: int | None = None
    bans: list[Ban] = field(default_factory=list)
    """``+b``: a mask bans from joining (and speaking); ``m:mask`` (the mute extban) only from speaking."""
    excepts: list[Ban] = field(default_factory=list)
    """``+e``: a mask exempts from the bans, ``m:mask`` from the mutes."""
    invexes: list[Ban] = field(default_factory=list)
    """``+I``: a mask lets its matches join while the channel is invite-only (``+i``)."""
    invited: set[str] = field(default_factory=set)
    persistent: bool = False
    """It has stored history: it stays (and keeps its topic and modes) when its last member leaves, and across
    restarts, until retention (or redaction) leaves it no message.  Nobody becomes its operator by joining it
    empty."""
    remembered: int = 0
    """Messages stored to it by this process: retention checks that none came while it asked the store whether
    the channel has any left."""
    founder: str | None = None
    """The account (as registered) that registered it with ChanServ; a registered channel is persistent and is
    never dropped by retention, only by ``CS DROP``."""
    registered: int = 0
    """When it was registered, Unix seconds."""
    ops: tuple[str, ...] = ()
    """Folded account names that get operator status on joining (``CS AMODE +o``), besides the founder."""
    knocked: float | None = None
    """Trio time of the last KNOCK delivered to this channel's operators."""

    metadata: dict[str, str] = field(default_factory=dict)
    """IRCv3 metadata set on this channel by its operators; a persistent channel keeps it across restarts."""

    def record(self) -> ChannelRecord:
        """What the store keeps of this channel."""
        return ChannelRecord(
            name=self.name,
            folded=self.folded,
            created=self.created,
            topic=self.topic,
            topic_by=self.topic_by,
            topic_time=self.topic_time,
            modes="".join(sorted(self.modes)),
            key=self.key,
            limit=self.limit,
            bans=tuple((b.mask, b.setter, b.time) for b in self.bans),
            excepts=tuple((b.mask, b.setter, b.time) for b in self.excepts),
            invexes=tuple((b.mask, b.setter, b.time) for b in self.invexes),
            founder=self.founder,
            registered=self.registered,
            ops=self.ops,
            metadata=tuple(self.metadata.items()),
        )

    @classmethod
    def restored(cls, record: ChannelRecord) -> Channel:
        """A channel as the store kept it: no members, persistent."""
        return cls(
            name=record.name,
            folded=record.folded,
            created=record.created,
            topic=record.topic,
            topic_by=record.topic_by,
            topic_time=record.topic_time,
            modes=set(record.modes),
            key=record.key,
            limit=record.limit,
            bans=[Ban(mask, setter, time) for mask, setter, time in record.bans],
            excepts=[Ban(mask, setter, time) for mask, setter, time in record.excepts],
            invexes=[Ban(mask, setter, time) for mask, setter, time in record.invexes],
            persistent=True,
            founder=record.founder,
            registered=record.registered,
            ops=record.ops,
            metadata=dict(record.metadata),
        )

    def is_op(self, user: User) -> bool:
        return "o" in self.members.get(user, "")

    def is_founder(self, account: str | None) -> bool:
        """Whether ``account`` (a name, any case) founded this channel."""
        return self.founder is not None and account is not None and casefold(account) == casefold(self.founder)

    def opped_on_join(self, user: User) -> bool:
        """Whether ``user`` gets operator status on joining this registered channel: the founder's account, or
        one the founder listed with ``CS AMODE``."""
        account = user.account
        if self.founder is None or account is None:
            return False
        return self.is_founder(account) or casefold(account) in self.ops

    def can_speak(self, user: User) -> bool:
        status = self.members.get(user)
        if status:
            return True  # voice or operator: past +m, bans and mutes
        if status is None and "n" in self.modes:
            return False
        if "m" in self.modes:
            return False
        return not self.bans or (not self.is_banned(user) and not self.is_muted(user))

    def is_banned(self, user: User) -> bool:
        """A ``+b`` mask (not a mute) matches ``user`` and no ``+e`` mask exempts them."""
        return bool(self.bans) and self._listed(self.bans, user.source, MUTE_PREFIX, mute=False)

    def is_muted(self, user: User) -> bool:
        """A ``+b m:mask`` matches ``user`` and no ``+e m:mask`` exempts them: they may join, not speak."""
        return bool(self.bans) and self._listed(self.bans, user.source, MUTE_PREFIX, mute=True)

    def is_invex(self, user: User) -> bool:
        """A ``+I`` mask matches ``user``: they may join past ``+i``."""
        source = user.source
        return any(mask_matches(b.mask, source) for b in self.invexes)

    def _listed(self, masks: list[Ban], source: str, prefix: str, *, mute: bool) -> bool:
        if not _matches_any(masks, source, prefix, mute=mute):
            return False
        return not _matches_any(self.excepts, source, prefix, mute=mute)

    def mask_list(self, letter: str) -> list[Ban]:
        """The list of the mode ``letter``: ``b``, ``e`` or ``I``."""
        return self.bans if letter == "b" else self.excepts if letter == "e" else self.invexes

    def mode_string(self, *, show_key: bool) -> tuple[str, ...]:
        letters = "".join(sorted(self.modes))
        args: list[str] = []
        if self.key is not None:
            letters += "k"
            args.append(self.key if show_key else "*")
        if self.limit is not None:
            letters += "l"
            args.append(str(self.limit))
        return ("+" + letters, *args)


@dataclass(frozen=True, slots=True)
class Kline:
    """A ban from the whole server on ``user@host`` masks."""

    mask: str
    reason: str
    setter: str
    time: int


@dataclass(frozen=True, slots=True)
class WhowasEntry:
    nick: str
    username: str
    host: str
    realname: str
    time: int


def wants_extended_monitor(user: User) -> bool:
    """Whether ``user`` negotiated extended-monitor (by its ratified name or its draft one)."""
    return caps.EXTENDED_MONITOR in user.caps or caps.DRAFT_EXTENDED_MONITOR in user.caps


def void(_: object) -> None:
    """Drop a value (a callback that must return None)."""


def _stored(relay: Relay, sender: User, target: str, folded: str, *, command: str, text: str) -> StoredMessage:
    """What the store keeps of a message just fanned out: the msgid and time its recipients saw."""
    assert relay.msgid is not None
    return StoredMessage(
        seq=0,
        msgid=relay.msgid,
        time_ms=relay.time_ms,
        target=target,
        folded=folded,
        source=sender.source,
        account=sender.account,
        command=command,
        text=text,
        tags=tuple(relay.client_tags.items()) if relay.client_tags else (),
    )


def status_prefix(status: str, *, all_of_them: bool) -> str:
    """``"ov"`` -> ``"@+"`` (multi-prefix) or ``"@"``."""
    symbols = status.replace("o", "@").replace("v", "+")
    return symbols if all_of_them else symbols[:1]


class Network:
    """All users and channels of this server, and every change to them."""

    def __init__(self, config: ServerConfig, *, clock: Callable[[], float]) -> None:
        self.config = config
        self.clock = clock
        """Wall-clock seconds (``time.time`` in production); used for timestamps only, never for timeouts."""
        self.started = clock()
        self.users: dict[str, User] = {}
        """Registered users by folded nick."""
        self.connections: set[User] = set()
        self.channels: dict[str, Channel] = {}
        self.whowas: deque[WhowasEntry] = deque(maxlen=config.whowas_size)
        self.max_users = 0
        self._ids = itertools.count(1)
        self._msgids = itertools.count(1)
        self._msgid_prefix = format(int(self.started * 1000), "x")
        self._overflowed: list[User] = []
        self._reaping = False
        self._time_ms = -1
        self._time_text = ""
        self._time_second = -1
        self._time_prefix = ""
        self.klines: dict[str, Kline] = {}
        """Server bans by case-folded mask."""
        self.probes: dict[str, Callable[[], int]] = {}
        """Numbers about the process for ``STATS z`` (tasks, memory), supplied by the app: state knows no trio."""
        self.motd: list[str] | None = None
        """The message of the day, read once at start-up; None answers MOTD with 422."""
        self.speaker: User | None = None
        """The user whose command runs now (their lines collect in ``pending``); set by ``dispatch``."""
        self.history: HistoryService | None = None
        """Where channel messages are stored (set by the app); None keeps no history."""
        self.recent: dict[str, deque[StoredMessage]] = {}
        """The last ``history_replay`` messages of each channel, replayed on JOIN without asking the store."""
        self._batch_ids = itertools.count(1)
        self.accounts: dict[str, AccountRecord] = {}
        """Every account by folded name, loaded at start-up; changes are written through ``history``."""
        self.markers: dict[str, dict[str, int]] = {}
        """Read markers (``draft/read-marker``): account (folded) -> target (folded) -> Unix milliseconds; loaded
        at start-up, written through ``history``."""
        self.offline: dict[str, dict[str, int]] = {}
        """Messages kept for accounts that were offline and not delivered yet: account (folded) -> the other
        account of the conversation (folded) -> Unix milliseconds of the first such message.  Loaded at start-up
        and written through ``history`` as read markers named ``OFFLINE_PREFIX + other``."""
        self.on_login: Callable[[User], None] | None = None
        """Called when a registered user logs in, or a logged-in user completes registration (set by the app:
        delivers what was kept while the account was offline); None (state tests): nothing is delivered."""
        self.login_throttle = LoginThrottle(config.login_failures_burst, config.login_failures_per_minute / 60)
        self.call_later: Callable[[float, Callable[[], None]], None] | None = None
        """Runs a callback after a delay of trio's clock (set by the app); None (state tests): nothing is
        scheduled, so nick ownership is not enforced."""
        self.monitors: dict[str, set[User]] = {}
        """MONITOR: folded nick -> the users watching it (none left: the entry goes)."""
        self.cluster: Cluster | None = None
        """The other nodes of the network (``--redis``); None on a single node."""

    # ---- time and ids -------------------------------------------------------------------------------------

    def server_time(self) -> str:
        """The current time as an IRCv3 ``server-time`` value (formatted once per millisecond)."""
        return self.format_time(int(self.clock() * 1000))

    def format_time(self, ms: int) -> str:
        """Unix milliseconds as an IRCv3 ``server-time`` value (the last one formatted is cached)."""
        if ms != self._time_ms:
            self._time_ms = ms
            seconds, millis = divmod(ms, 1000)
            if seconds != self._time_second:
                self._time_second = seconds
                self._time_prefix = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._time_text = f"{self._time_prefix}.{millis:03d}Z"
        return self._time_text

    def next_msgid(self) -> str:
        return f"{self._msgid_prefix}-{next(self._msgids)}"

    def next_batch_id(self) -> str:
        return f"h{next(self._batch_ids)}"

    def now(self) -> int:
        return int(self.clock())

    # ---- delivery -----------------------------------------------------------------------------------------

    def relay(
        self,
        message: Message,
        *,
        client_tags: dict[str, str] | None = None,
        msgid: bool = False,
        account: str | None = None,
        bot: bool = False,
    ) -> Relay:
        ms = int(self.clock() * 1000)
        return Relay(
            message,
            time=self.format_time(ms),
            msgid=self.next_msgid() if msgid else None,
            client_tags=client_tags,
            time_ms=ms,
            account=account,
            bot=bot,
        )

    # ---- history ------------------------------------------------------------------------------------------

    def remember(
        self,
        channel: Channel,
        relay: Relay,
        sender: User,
        command: str,
        text: str,
        *,
        receipt: bool = False,
    ) -> None:
        """Store a channel message that was just fanned out, under the msgid and time its recipients saw.

        With ``receipt`` the sender's command waits for the commit before its replies (the echo) are sent.
        """
        history = self.history
        if history is None:
            return
        stored = _stored(relay, sender, channel.name, channel.folded, command=command, text=text)
        replay = self.replay_size
        if replay > 0:
            recent = self.recent.get(channel.folded)
            if recent is None:
                recent = self.recent[channel.folded] = deque(maxlen=replay)
            recent.append(stored)
        channel.remembered += 1
        history.append(stored, sender.outbox.receipt() if receipt else None)
        if not channel.persistent and self.cluster is None:
            # (With several nodes, a node's history is its own: only what all nodes know, a registration, can
            # keep a channel that has no members.)
            channel.persistent = True
            history.save_channel_nowait(channel.record())

    def remember_private(
        self, sender: User, recipient: User, relay: Relay, command: str, text: str, *, receipt: bool = False
    ) -> None:
        """Store a private message between two logged-in users, under their conversation's key (see
        :func:`~.history.conversation_key`), which only the two accounts can read."""
        if recipient.account is None:
            return
        self._remember_private(
            sender, recipient.account, recipient.nick, relay, command=command, text=text, receipt=receipt
        )

    def remember_offline(self, sender: User, record: AccountRecord, relay: Relay, text: str, *, receipt: bool) -> bool:
        """Store a PRIVMSG from a logged-in user to the account ``record``, whose nick is offline, in their
        conversation (as :meth:`remember_private`), and note it for delivery at the account's next login.

        False (nothing stored) without a store or if the sender is not logged in.
        """
        account = sender.account
        if self.history is None or account is None:
            return False
        self._remember_private(sender, record.name, record.name, relay, command="PRIVMSG", text=text, receipt=receipt)
        pending = self.offline.setdefault(record.folded, {})
        other = casefold(account)
        if other not in pending:
            pending[other] = relay.time_ms
            self._save_offline(record.folded, other, relay.time_ms)
        return True

    def take_offline(self, account: str) -> dict[str, int]:
        """What was kept for ``account`` (folded) while it was offline (other account -> time of the first
        message), now marked delivered, here and in the store."""
        pending = self.offline.pop(account, {})
        for other in pending:
            self._save_offline(account, other, 0)
        return pending

    def give_back_offline(self, account: str, pending: dict[str, int]) -> None:
        """Delivery of what :meth:`take_offline` returned failed: it is pending again (from the earlier time)."""
        if account not in self.accounts:
            return
        mine = self.offline.setdefault(account, {})
        for other, time_ms in pending.items():
            if other not in mine or time_ms < mine[other]:
                mine[other] = time_ms
                self._save_offline(account, other, time_ms)

    def _save_offline(self, account: str, other: str, time_ms: int) -> None:
        if self.history is not None:
            try:
                self.history.save_marker_nowait(account, OFFLINE_PREFIX + other, time_ms)
            except StoreError as exc:
                log.error("offline messages of %s from %s: not saved: %s", account, other, exc)

    def _remember_private(
        self, sender: User, recipient: str, target: str, relay: Relay, *, command: str, text: str, receipt: bool
    ) -> None:
        """Store a private message from ``sender`` to the account ``recipient`` (a name), shown to ``target``."""
        history = self.history
        if history is None or sender.account is None:
            return
        folded = conversation_key(casefold(sender.account), casefold(recipient))
        stored = _stored(relay, sender, target, folded, command=command, text=text)
        history.append(stored, sender.outbox.receipt() if receipt else None)

    def channel_changed(self, channel: Channel) -> None:
        """The topic, modes, key, limit, bans or metadata changed: a persistent channel keeps them across
        restarts."""
        if channel.persistent and self.history is not None:
            self.history.save_channel_nowait(channel.record())

    def restore(self, records: Iterable[ChannelRecord], recent: dict[str, list[StoredMessage]]) -> None:
        """At start-up: the channels the store kept, empty, and their latest messages for replay."""
        for record in records:
            self.channels[record.folded] = Channel.restored(record)
        replay = self.replay_size
        if replay > 0:
            for folded, messages in recent.items():
                self.recent[folded] = deque(messages, maxlen=replay)

    @property
    def replay_size(self) -> int:
        """How many messages a channel's replay ring holds: ``history_replay``, but never more than retention
        keeps (``history_max_messages``), so that the ring only holds messages a count prune leaves alone."""
        replay, kept = self.config.history_replay, self.config.history_max_messages
        return min(replay, kept) if kept > 0 else replay

    def recent_message(self, folded: str, msgid: str) -> StoredMessage | None:
        """The message ``msgid`` of channel ``folded`` if it is in the replay ring (no store query needed)."""
        ring = self.recent.get(folded)
        if ring:
            for message in ring:
                if message.msgid == msgid:
                    return message
        return None

    def forget(self, folded: str, msgid: str) -> bool:
        """A message was redacted: take it (every line of a multiline message) out of the replay ring; False if
        it was not there."""
        ring = self.recent.get(folded)
        if not ring:
            return False
        doomed = [m for m in ring if of_message(m.msgid, msgid)]
        for message in doomed:
            ring.remove(message)
        if not ring:
            del self.recent[folded]
        return bool(doomed)

    def expire_recent(self, cutoff_ms: int) -> int:
        """Retention deleted the messages older than ``cutoff_ms`` from the store: drop them from the replay
        rings too (the same rule as the store's: older means ``time_ms < cutoff_ms``).  Returns how many."""
        dropped = 0
        for folded, ring in list(self.recent.items()):
            kept = [m for m in ring if m.time_ms >= cutoff_ms]
            if len(kept) == len(ring):
                continue
            dropped += len(ring) - len(kept)
            if kept:
                self.recent[folded] = deque(kept, maxlen=ring.maxlen)
            else:
                del self.recent[folded]
        return dropped

    def drop_channel(self, channel: Channel) -> bool:
        """Retention left an empty persistent channel no message: it goes, here and in the store.

        Only if it is still this network's channel of that name, still has no members and is not registered
        (a registered channel keeps its record without history); False otherwise.
        """
        if channel.members or channel.founder is not None or self.channels.get(channel.folded) is not channel:
            return False
        del self.channels[channel.folded]
        self.recent.pop(channel.folded, None)
        channel.persistent = False
        if self.history is not None:
            try:
                self.history.delete_channel_nowait(channel.folded)
            except StoreError as exc:  # the store is closing: the record goes at the next start's retention
                log.warning("channel %s: its record was not deleted: %s", channel.name, exc)
        return True

    def deliver(self, user: User, line: bytes) -> None:
        """Queue one line to ``user``; to their reply buffer while their own command runs."""
        if user.gone:
            return
        pending = user.pending
        if pending is not None:
            pending.append(line)
            return
        sendq = user.sendq
        try:
            sendq.send_nowait(line)
        except WouldBlock:
            user.gone = True
            self._overflowed.append(user)
            return
        sendq.queued += 1
        if sendq.queued == 1:
            sendq.ready()

    def deliver_now(self, user: User, *lines: bytes) -> None:
        """Queue ``lines`` to ``user`` as to any recipient, even while their own command runs (so they are not
        part of the command's answer)."""
        pending, user.pending = user.pending, None
        try:
            for line in lines:
                self.deliver(user, line)
        finally:
            user.pending = pending

    def deliver_all(self, users: Iterable[User], relay: Relay, *, skip: User | None = None) -> None:
        """Fan ``relay`` out: each recipient gets the variant its capabilities ask for; ``skip`` gets nothing."""
        # The per-recipient work is kept to a few bytecodes: two identity checks, the cached variant, the
        # channel's send_nowait and a count; the SendQ is scheduled for writing only when it was empty.  A
        # recipient whose SendQ overflowed earlier in this change stays full until it is reaped, so it raises
        # WouldBlock again: checking ``gone`` only then keeps that check off the common path.
        overflowed = self._overflowed
        cache = relay.lines
        speaker = self.speaker
        for user in users:
            if user is skip:
                continue
            if user is speaker:
                if not user.gone:
                    assert user.pending is not None
                    user.pending.append(cache[user.tag_variant] or relay.line(user.tag_variant))
                continue
            sendq = user.sendq
            try:
                sendq.send_nowait(cache[user.tag_variant] or relay.line(user.tag_variant))
            except WouldBlock:
                if not user.gone:
                    user.gone = True
                    overflowed.append(user)
                continue
            if sendq.queued:
                sendq.queued += 1
            else:
                sendq.queued = 1
                sendq.ready()

    def start_command(self, user: User) -> list[bytes]:
        """``user``'s command starts: every line for them collects, in order, in the list returned."""
        pending: list[bytes] = []
        user.pending = pending
        self.speaker = user
        return pending

    def end_command(self, user: User) -> None:
        """The command is complete: disconnect those it overflowed (their QUITs still go to ``pending``, after
        the command's own lines, as everyone else sees them), then deliver to ``user`` directly again."""
        try:
            self.reap()
        finally:
            user.pending = None
            self.speaker = None

    def reap(self) -> None:
        """Disconnect everyone whose SendQ overflowed during the last change (and any that causes).

        Not re-entrant: removing one user broadcasts a QUIT that may overflow others, which the loop already
        running picks up.  Nesting instead would recurse once per user, and thousands can overflow at once.
        """
        if self._reaping:
            return
        self._reaping = True
        try:
            while self._overflowed:
                user = self._overflowed.pop()
                log.info("[%d] %s: SendQ exceeded", user.id, user.nick)
                if self.cluster is not None and user.registered:
                    # Even while a change from the log runs: the other nodes did not see this SendQ fill.
                    self.cluster.depart(user, "SendQ exceeded")
                else:
                    self.remove_user(user, "SendQ exceeded")
                user.outbox.close("SendQ exceeded", abort=True)
        finally:
            self._reaping = False

    def neighbours(self, user: User) -> set[User]:
        """Everyone who shares a channel with ``user``, ``user`` excluded."""
        seen: set[User] = set()
        for channel in user.channels.values():
            seen.update(channel.members)
        seen.discard(user)
        return seen

    def notified(self, user: User, cap: str) -> set[User]:
        """Who hears of a change to ``user`` that ``cap`` announces (AWAY, ACCOUNT, SETNAME): those sharing a
        channel with them who negotiated ``cap``, and those monitoring their nick who negotiated ``cap`` and
        extended-monitor; once each, ``user`` excluded."""
        targets = {u for u in self.neighbours(user) if cap in u.caps}
        watchers = self.monitors.get(user.folded)
        if watchers:
            targets.update(w for w in watchers if cap in w.caps and wants_extended_monitor(w))
            targets.discard(user)
        return targets

    # ---- metadata (IRCv3 draft/metadata-3) ------------------------------------------------------------------

    def set_metadata(self, setter: User, target: User | Channel, name: str, key: str, value: str | None) -> bool:
        """Set (``value``) or delete (None) ``target``'s metadata ``key`` and tell its subscribers; ``name`` is how
        the target is shown.  Returns whether anything changed.  The caller checks permissions and limits."""
        if value is None:
            if target.metadata.pop(key, None) is None:
                return False
        else:
            if target.metadata.get(key) == value:
                return False
            target.metadata[key] = value
        self._metadata_notify(setter, target, name, key, value)
        if isinstance(target, Channel):
            self.channel_changed(target)
        return True

    def clear_metadata(self, setter: User, target: User | Channel, name: str) -> dict[str, str]:
        """Delete all of ``target``'s metadata, telling subscribers of each key; returns what was set."""
        old = dict(target.metadata)
        target.metadata.clear()
        for key in old:
            self._metadata_notify(setter, target, name, key, None)
        if old and isinstance(target, Channel):
            self.channel_changed(target)
        return old

    def _metadata_notify(self, setter: User, target: User | Channel, name: str, key: str, value: str | None) -> None:
        """``RPL_KEYVALUE`` / ``RPL_KEYNOTSET`` to those who see ``target`` and subscribed to ``key``: a channel's
        members, or those sharing a channel with (or monitoring) a user; the setter excluded.  One line for all:
        its first parameter, the recipient's nick in replies, is ``*`` (as ergo does)."""
        if isinstance(target, Channel):
            audience: Iterable[User] = [m for m in target.members if caps.METADATA in m.caps]
        else:
            audience = self.notified(target, caps.METADATA)
        recipients = [u for u in audience if u is not setter and key in u.metadata_subs]
        if not recipients:
            return
        server = self.config.server_name
        if value is None:
            message = Message(N.RPL_KEYNOTSET, ("*", name, key, "Key deleted"), server)
        else:
            message = Message(N.RPL_KEYVALUE, ("*", name, key, "*", value), server)
        line = message.to_bytes()
        for user in recipients:
            self.deliver(user, line)

    # ---- MONITOR --------------------------------------------------------------------------------------------

    def monitor_add(self, user: User, nick: str) -> None:
        """Add ``nick`` (valid) to ``user``'s MONITOR list; the caller checks the limit."""
        folded = casefold(nick)
        if user.monitoring is None:
            user.monitoring = {}
        if folded in user.monitoring:
            return
        user.monitoring[folded] = nick
        self.monitors.setdefault(folded, set()).add(user)

    def monitor_remove(self, user: User, nick: str) -> None:
        folded = casefold(nick)
        if user.monitoring is None or user.monitoring.pop(folded, None) is None:
            return
        self._unwatch(user, folded)
        if not user.monitoring:
            user.monitoring = None

    def monitor_clear(self, user: User) -> None:
        """Empty ``user``'s MONITOR list (MONITOR C, or their connection ended)."""
        if user.monitoring is None:
            return
        for folded in user.monitoring:
            self._unwatch(user, folded)
        user.monitoring = None

    def _unwatch(self, user: User, folded: str) -> None:
        watchers = self.monitors.get(folded)
        if watchers is not None:
            watchers.discard(user)
            if not watchers:
                del self.monitors[folded]

    def _monitor_notify(self, folded: str, numeric: str, text: str, subject: User) -> None:
        """730 (online, ``text`` is ``nick!user@host``) or 731 (offline, ``text`` is the nick) to everyone
        monitoring ``folded``, ``subject`` (whose nick it is) excluded."""
        watchers = self.monitors.get(folded)
        if not watchers:
            return
        server = self.config.server_name
        for watcher in list(watchers):
            if watcher is not subject:
                self.deliver(watcher, Message(numeric, (watcher.nick, text), server).to_bytes())

    # ---- connections and nicks ----------------------------------------------------------------------------

    def add_connection(self, host: str, outbox: Outbox, sendq: SendQ) -> User:
        """A new, unregistered connection whose lines go into ``sendq``."""
        now = self.clock()
        user = User(id=next(self._ids), host=host, outbox=outbox, connected_at=now, sendq=sendq)
        user.last_active = user.connected_at
        self.connections.add(user)
        return user

    def find_user(self, nick: str) -> User | None:
        return self.users.get(casefold(nick))

    def nick_in_use(self, nick: str, by: User) -> bool:
        folded = casefold(nick)
        if folded in SERVICE_NICKS:
            return True
        other = self.users.get(folded)
        return other is not None and other is not by

    def register(self, user: User) -> None:
        user.registered = True
        user.folded = casefold(user.nick)
        self.users[user.folded] = user
        self.max_users = max(self.max_users, len(self.users))
        self._monitor_notify(user.folded, N.RPL_MONONLINE, user.source, user)
        if user.account is not None and self.on_login is not None and user.home is None:
            # Logged in before registering (SASL): what was kept comes after the welcome burst.
            self.on_login(user)

    def change_nick(self, user: User, new: str) -> None:
        """Rename a registered user and tell them and everyone sharing a channel, once each."""
        cluster = self.cluster
        if cluster is not None and not cluster.applying:
            cluster.rename(user, new)
            return
        relay = self.relay(Message("NICK", (new,), user.source), account=user.account)
        self._remember(user)
        old = user.folded
        old_nick = user.nick
        del self.users[old]
        user.nick = new
        user.folded = casefold(new)
        self.users[user.folded] = user
        if old != user.folded:
            # Invitations belong to the person, not the nick: they follow the rename, and whoever takes the
            # old nick next does not inherit them.
            for channel in self.channels.values():
                if old in channel.invited:
                    channel.invited.discard(old)
                    channel.invited.add(user.folded)
        self.deliver_all([user, *self.neighbours(user)], relay)
        if old != user.folded:
            # A change of case only is the same nick for MONITOR: nobody is told.
            self._monitor_notify(old, N.RPL_MONOFFLINE, old_nick, user)
            self._monitor_notify(user.folded, N.RPL_MONONLINE, user.source, user)

    def _remember(self, user: User) -> None:
        self.whowas.appendleft(WhowasEntry(user.nick, user.username, user.host, user.realname, self.now()))

    def remove_user(self, user: User, reason: str) -> None:
        """Take a user off the network: QUIT to everyone sharing a channel, once each; idempotent."""
        if user not in self.connections:
            return
        cluster = self.cluster
        if cluster is not None and not cluster.applying and user.registered:
            cluster.depart(user, reason)
            return
        user.gone = True
        self.connections.discard(user)
        if user.registered:
            relay = self.relay(Message("QUIT", (reason,), user.source), account=user.account)
            self.deliver_all(self.neighbours(user), relay)
            for channel in list(user.channels.values()):
                self._leave(channel, user)
            self._remember(user)
            if self.users.get(user.folded) is user:
                del self.users[user.folded]
                for channel in self.channels.values():
                    channel.invited.discard(user.folded)
                self._monitor_notify(user.folded, N.RPL_MONOFFLINE, user.nick, user)
        self.monitor_clear(user)
        self.reap()

    # ---- channels -----------------------------------------------------------------------------------------

    def find_channel(self, name: str) -> Channel | None:
        return self.channels.get(casefold(name))

    def join(self, user: User, name: str) -> Channel:
        """Add ``user`` to channel ``name`` (creating it, with them as operator) and announce the JOIN."""
        folded = casefold(name)
        channel = self.channels.get(folded)
        granted = False
        if channel is None:
            channel = Channel(name=name, folded=folded, created=self.now())
            self.channels[folded] = channel
            channel.members[user] = "o"
        else:
            # A registered channel opps its founder and AMODE accounts, whoever else is (or is not) in it.
            granted = channel.opped_on_join(user)
            channel.members[user] = "o" if granted else ""
        channel.invited.discard(user.folded)
        user.channels[folded] = channel
        account = user.account
        plain = self.relay(Message("JOIN", (channel.name,), user.source), account=account)
        extended = self.relay(
            Message("JOIN", (channel.name, account or "*", user.realname), user.source), account=account
        )
        members = channel.members
        wants_extended = [m for m in members if caps.EXTENDED_JOIN in m.caps]
        if wants_extended:
            self.deliver_all(wants_extended, extended)
            self.deliver_all([m for m in members if caps.EXTENDED_JOIN not in m.caps], plain)
        else:
            self.deliver_all(members, plain)
        if granted:
            mode = self.relay(Message("MODE", (channel.name, "+o", user.nick), self.config.server_name))
            self.deliver_all(members, mode)
        if user.away:
            away = self.relay(Message("AWAY", (user.away,), user.source))
            self.deliver_all([m for m in members if caps.AWAY_NOTIFY in m.caps], away, skip=user)
        return channel

    def part(self, user: User, channel: Channel, reason: str | None) -> None:
        params = (channel.name, reason) if reason else (channel.name,)
        self.deliver_all(channel.members, self.relay(Message("PART", params, user.source), account=user.account))
        self._leave(channel, user)

    def kick(self, kicker: User, channel: Channel, target: User, reason: str) -> None:
        relay = self.relay(Message("KICK", (channel.name, target.nick, reason), kicker.source))
        self.deliver_all(channel.members, relay)
        self._leave(channel, target)

    def _leave(self, channel: Channel, user: User) -> None:
        channel.members.pop(user, None)
        user.channels.pop(channel.folded, None)
        if not channel.members and not channel.persistent:
            del self.channels[channel.folded]

    def rename_channel(self, channel: Channel, name: str) -> str:
        """``channel`` is called ``name`` from now on (draft/channel-rename), here and in the store: its
        members' channel lists, its replay ring and read markers follow.  Returns the old folded name.  Telling
        the members is the caller's (each gets RENAME or a PART and JOIN, by capability)."""
        old = channel.folded
        folded = casefold(name)
        del self.channels[old]
        channel.name, channel.folded = name, folded
        self.channels[folded] = channel
        for member in channel.members:
            member.channels.pop(old, None)
            member.channels[folded] = channel
        ring = self.recent.pop(old, None)
        if ring is not None:
            moved = (dataclasses.replace(m, target=name, folded=folded) for m in ring)
            self.recent[folded] = deque(moved, maxlen=ring.maxlen)
        for targets in self.markers.values():
            if old in targets:
                targets[folded] = targets.pop(old)
        if channel.persistent and self.history is not None:
            try:
                self.history.rename_channel_nowait(old, channel.record())
            except StoreError as exc:
                log.error("channel %s: the rename was not stored: %s", name, exc)
        return old

    def set_topic(self, user: User, channel: Channel, topic: str) -> None:
        channel.topic = topic
        channel.topic_by = user.source
        channel.topic_time = self.now()
        relay = self.relay(Message("TOPIC", (channel.name, topic), user.source), account=user.account)
        self.deliver_all(channel.members, relay)
        self.channel_changed(channel)

    def set_away(self, user: User, message: str | None) -> None:
        if message is None and user.away is None:
            return  # not away before either: nothing to tell anyone
        user.away = message
        relay = self.relay(Message("AWAY", (message,) if message else (), user.source), account=user.account)
        self.deliver_all(self.notified(user, caps.AWAY_NOTIFY), relay)

    def set_realname(self, user: User, realname: str) -> None:
        """SETNAME: the new realname, told to ``user`` and to those sharing a channel or monitoring them
        (extended-monitor) who negotiated setname."""
        user.realname = realname
        relay = self.relay(Message("SETNAME", (realname,), user.source), account=user.account)
        targets = self.notified(user, caps.SETNAME)
        if caps.SETNAME in user.caps:
            targets.add(user)
        self.deliver_all(targets, relay)

    # ---- accounts -----------------------------------------------------------------------------------------

    def restore_accounts(self, records: Iterable[AccountRecord]) -> None:
        """At start-up: every account the store kept."""
        for record in records:
            self.accounts[record.folded] = record

    def find_account(self, name: str) -> AccountRecord | None:
        return self.accounts.get(casefold(name))

    def account_by_certfp(self, certfp: str) -> AccountRecord | None:
        return next((a for a in self.accounts.values() if certfp in a.certfps), None)

    def save_account(self, record: AccountRecord) -> None:
        """Create or change an account, here and (without waiting) in the store."""
        self.accounts[record.folded] = record
        if self.cluster is not None and not self.cluster.applying:
            self.cluster.account_saved(record, record.folded)
        if self.history is not None:
            try:
                self.history.save_account_nowait(record)
            except StoreError as exc:
                log.error("account %s: not saved: %s", record.name, exc)

    def drop_account(self, record: AccountRecord) -> None:
        """Delete an account; everyone logged in to it is logged out."""
        self.accounts.pop(record.folded, None)
        if self.cluster is not None and not self.cluster.applying:
            self.cluster.account_saved(None, record.folded)
        if self.history is not None:
            try:
                self.history.delete_account_nowait(record.folded)
            except StoreError as exc:
                log.error("account %s: not deleted from the store: %s", record.name, exc)
        self.markers.pop(record.folded, None)
        self.offline.pop(record.folded, None)
        for channel in self.channels.values():
            if channel.is_founder(record.name):
                self.unregister_channel(channel)
            elif record.folded in channel.ops:
                channel.ops = tuple(op for op in channel.ops if op != record.folded)
                self.channel_changed(channel)
        for user in list(self.connections):
            if user.account is not None and casefold(user.account) == record.folded:
                self.logout(user)

    def login(self, user: User, record: AccountRecord) -> None:
        """``user`` is now logged in to ``record``: 900 to them, ACCOUNT to those who asked (account-notify)."""
        user.account = record.name
        self.deliver(
            user,
            Message(
                "900",
                (user.nick, user.source, record.name, f"You are now logged in as {record.name}"),
                self.config.server_name,
            ).to_bytes(),
        )
        self._account_changed(user, record.name)
        if self.cluster is not None and not self.cluster.applying:
            self.cluster.account_changed(user)
        if user.registered and self.on_login is not None and user.home is None:
            self.on_login(user)

    def logout(self, user: User) -> None:
        if user.account is None:
            return
        user.account = None
        self.deliver(
            user,
            Message("901", (user.nick, user.source, "You are now logged out"), self.config.server_name).to_bytes(),
        )
        self._account_changed(user, "*")
        if self.cluster is not None and not self.cluster.applying:
            self.cluster.account_changed(user)

    def account_shown(self, user: User) -> None:
        """``user.account`` was changed elsewhere (another node): ACCOUNT to those who asked."""
        self._account_changed(user, user.account or "*")

    def _account_changed(self, user: User, shown: str) -> None:
        if not user.registered:
            return
        relay = self.relay(Message("ACCOUNT", (shown,), user.source))
        targets = self.notified(user, caps.ACCOUNT_NOTIFY)
        if caps.ACCOUNT_NOTIFY in user.caps:
            targets.add(user)
        self.deliver_all(targets, relay)

    def service_notice(self, user: User, text: str, *, source: str = NICKSERV_SOURCE) -> None:
        """A NOTICE from NickServ (or another pseudo-user) to ``user``."""
        self.deliver(user, Message("NOTICE", (user.nick, text), source).to_bytes())

    # ---- registered channels (ChanServ) ----------------------------------------------------------------------

    def register_channel(self, channel: Channel, founder: str) -> None:
        """``founder`` (an account name) now owns ``channel``: it is persistent from now on, and saved."""
        channel.founder = founder
        channel.registered = self.now()
        channel.ops = ()
        channel.persistent = True
        self.channel_changed(channel)

    def unregister_channel(self, channel: Channel) -> None:
        """``channel`` has no founder any more.  It stays persistent (it may have history): retention drops it
        once it is empty and has no message, as any channel kept by its history."""
        channel.founder = None
        channel.registered = 0
        channel.ops = ()
        self.channel_changed(channel)

    def set_status(self, channel: Channel, target: User, letter: str, *, adding: bool, source: str) -> bool:
        """Give (or take) ``target`` the status ``letter`` in ``channel`` and tell the members with a MODE from
        ``source``; False if nothing changed (not a member, or already so)."""
        status = channel.members.get(target)
        if status is None or (letter in status) == adding:
            return False
        channel.members[target] = (
            "".join(c for c in "ov" if c in status + letter) if adding else status.replace(letter, "")
        )
        sign = "+" if adding else "-"
        self.deliver_all(
            channel.members, self.relay(Message("MODE", (channel.name, sign + letter, target.nick), source))
        )
        return True

    # ---- read markers (draft/read-marker) -----------------------------------------------------------------

    def restore_markers(self, markers: Iterable[ReadMarker]) -> None:
        """At start-up: every read marker the store kept."""
        for account, target, time_ms in markers:
            if target.startswith(OFFLINE_PREFIX):
                if time_ms:
                    self.offline.setdefault(account, {})[target[len(OFFLINE_PREFIX) :]] = time_ms
            else:
                self.markers.setdefault(account, {})[target] = time_ms

    def read_marker(self, account: str, target: str) -> int | None:
        """The read marker of ``account`` in ``target`` (both folded), Unix milliseconds, or None."""
        return self.markers.get(account, {}).get(target)

    def mark_read(self, account: str, target: str, time_ms: int) -> bool:
        """Move the read marker forward (never backwards) and store it; True if it changed."""
        current = self.read_marker(account, target)
        if current is not None and time_ms <= current:
            return False
        self.markers.setdefault(account, {})[target] = time_ms
        if self.history is not None:
            try:
                self.history.save_marker_nowait(account, target, time_ms)
            except StoreError as exc:
                log.error("read marker of %s in %s: not saved: %s", account, target, exc)
        return True

    def sessions_of(self, account: str) -> list[User]:
        """Every registered connection logged in to ``account`` (folded)."""
        return [u for u in self.users.values() if u.account is not None and casefold(u.account) == account]

    def owns_nick(self, user: User) -> bool:
        """Whether ``user`` may keep their nick: it is no account's, or they are logged in to that account."""
        owner = self.accounts.get(user.folded or casefold(user.nick))
        return owner is None or (user.account is not None and casefold(user.account) == owner.folded)

    def claim_nick(self, user: User) -> None:
        """``user`` (registered) has just taken their nick: if it belongs to an account they are not logged in
        to, tell them to log in and rename them to a guest nick after ``nick_grace`` seconds."""
        user.nick_claim += 1
        if self.owns_nick(user):
            return
        grace = self.config.nick_grace
        self.service_notice(
            user,
            f"This nickname is registered to an account. Log in with /msg {NICKSERV} IDENTIFY <password> "
            f"(or SASL) within {grace:g} seconds, or you will be renamed.",
        )
        if self.call_later is not None and user.home is None:
            # With several nodes, only the user's own node keeps the time: the rename goes through the log.
            claim = user.nick_claim
            self.call_later(grace, lambda: void(self.enforce_nick(user, claim)))

    def enforce_nick(self, user: User, claim: int) -> bool:
        """The grace period is over: rename ``user`` to a guest nick unless they changed nick or logged in
        meanwhile.  True if they were renamed."""
        if user.gone or not user.registered or user.nick_claim != claim or self.owns_nick(user):
            return False
        guest = self.guest_nick()
        log.info("[%d] %s did not log in to its account: renamed to %s", user.id, user.nick, guest)
        self.service_notice(user, f"You did not log in to the account {user.nick}: you are now {guest}.")
        self.change_nick(user, guest)
        user.nick_claim += 1
        self.reap()
        return True

    def guest_nick(self) -> str:
        """A free ``GuestNNNNN`` nick."""
        while True:
            nick = f"Guest{random.randrange(10_000, 100_000)}"
            folded = casefold(nick)
            if folded not in self.users and folded not in self.accounts:
                return nick

    # ---- operators ----------------------------------------------------------------------------------------

    def internals(self) -> dict[str, int]:
        """What ``STATS z`` shows: sizes of the state, then the app's probes."""
        numbers = {
            "connections": len(self.connections),
            "users": len(self.users),
            "channels": len(self.channels),
            "memberships": sum(len(c.members) for c in self.channels.values()),
            "whowas": len(self.whowas),
        }
        numbers.update((name, probe()) for name, probe in self.probes.items())
        return numbers

    def kill(self, user: User, reason: str) -> None:
        """Disconnect ``user``: QUIT with ``reason`` to their channels, ``ERROR :reason`` to them."""
        self.remove_user(user, reason)
        user.outbox.close(reason)

    def kline_for(self, user: User) -> Kline | None:
        """The K-line that matches ``user`` (by ``username@host``), if any."""
        address = f"{user.username}@{user.host}"
        return next((k for k in self.klines.values() if mask_matches(k.mask, address)), None)

    def add_kline(self, mask: str, reason: str, setter: str) -> int:
        """Ban ``mask`` and disconnect the registered users it matches now; returns how many."""
        self.klines[casefold(mask)] = Kline(mask, reason, setter, self.now())
        hits = [u for u in self.users.values() if mask_matches(mask, f"{u.username}@{u.host}")]
        for user in hits:
            self.kill(user, f"K-Lined: {reason}")
        return len(hits)

    def remove_kline(self, mask: str) -> bool:
        return self.klines.pop(casefold(mask), None) is not None
