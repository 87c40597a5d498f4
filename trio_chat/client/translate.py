"""From what the server says to what the model shows: the client's pure half.

:class:`Translator` takes parsed IRC messages (:meth:`Translator.handle`) and updates the
:class:`~trio_chat.client.model.ChatModel`: buffers, nick lists, topics, accounts, and lines recording messages
and events (:mod:`trio_chat.client.events`, put into words by the interface).  It never waits and does no I/O:
what it has to say back (a CTCP answer, the PING that marks the end of a JOIN's answer, a CHATHISTORY request)
goes to the ``send`` function it is given, and the time comes from the ``now`` and ``clock`` functions it is
given.  Tests feed it messages and look at the model.

Here: joins, parts, kicks, quits, nick and mode changes, topics, away, invites, accounts.  PRIVMSG and NOTICE
(with CTCP) are in :mod:`trio_chat.client.messages`, numeric replies in :mod:`trio_chat.client.replies`, history
batches and requests in :mod:`trio_chat.client.history`: module functions that take the translator.  The
messages that drive the connection itself (CAP, SASL, 001, PING) are the lifecycle's
(:mod:`trio_chat.client.core`), which hands everything else here.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from trio_chat.protocol import Message, casefold
from trio_chat.protocol.caps import ACCOUNT_TAG, BATCH, EXTENDED_JOIN
from trio_chat.protocol.names import is_channel_name, split_userhost

from . import events as ev
from . import history, messages
from .formatting import strip_formatting
from .history import Batch
from .model import Buffer, ChatModel, Line, LineKind
from .replies import numeric

Send = Callable[[Message], bool]
"""Queue a message for the server; False (and the reason said) when it cannot be sent."""
Now = Callable[[], datetime]


@dataclass
class LinkState:
    """What one connection knows that translating needs; a new one is made for every connection."""

    registered: bool = False
    caps: set[str] = field(default_factory=set)
    ping_seq: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    names: dict[str, list[str]] = field(default_factory=dict)
    """Case-folded channel -> the nicks of a NAMES answer so far (353 lines until 366)."""
    batches: dict[str, Batch] = field(default_factory=dict)
    joining: dict[str, str] = field(default_factory=dict)
    """Case-folded channels we just joined -> the token of the PING sent when the JOIN came.  The server sends
    all it has for a JOIN (names, the replay of recent messages) before it answers a later PING: a history batch
    for the channel before that PONG is the replay, and no history is asked for meanwhile."""
    history_request: str | None = None
    """The case-folded channel whose older history was asked for; one request at a time."""
    history_by_time: bool = False
    """That request names the oldest message by its time, not by its msgid."""
    chathistory_max: int | None = None
    """The most messages one CHATHISTORY request returns (ISUPPORT ``CHATHISTORY``); None if not said."""
    nick_retry: str | None = None
    """The nick asked for again by the retry loop, until the server answers (a 433 then is not news)."""
    whois_open: set[str] = field(default_factory=set)
    """Case-folded nicks whose WHOIS answer has begun (311) and not ended (318): a 301 then belongs to it."""
    hidden_echoes: int = 0
    """Echoes (echo-message) still to come of ``/register`` and ``/identify`` messages to NickServ: not shown."""


class Translator:
    """Turns the server's messages into model updates.  :attr:`link` is the connection's state (None between
    connections); the rest (channel keys, ISUPPORT prefixes, CTCP pings in flight) lasts across connections."""

    def __init__(self, model: ChatModel, send: Send, *, now: Now, clock: Callable[[], float], nick: str) -> None:
        self.model = model
        self.send = send
        self.now = now
        self.clock = clock
        """Seconds on a monotonic clock (trio's, in the client): CTCP PINGs are timed with it."""
        self.link: LinkState | None = None
        self.wanted_nick = nick
        """The nick we register with and ask for back when it was taken; follows our own NICK changes."""
        self.keys: dict[str, str] = {}
        """Case-folded channel -> its key (from /join or a +k we saw): rejoined with it after a reconnect."""
        self.quiet_joins: set[str] = set()
        """Case-folded channels whose JOIN is not to switch to their buffer (all but the first on connecting)."""
        self.prefixes = {"o": "@", "v": "+"}
        self.chanmodes = ("beI", "k", "l", "imnpst")
        self.away_said: dict[str, str] = {}
        """Case-folded nick -> the away message last shown for them (a server repeats it for every message)."""
        self.ctcp_pings: dict[tuple[str, str], float] = {}
        """(case-folded nick, token) of CTCP PINGs we sent -> when (on ``clock``): their replies are timed."""

    # -- helpers shared with the lifecycle and the typed commands ------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.link is not None and self.link.registered

    def info(self, text: str, *, buf: Buffer | None = None, kind: LineKind = LineKind.INFO) -> None:
        self.model.info(text, time=self.now(), kind=kind, buf=buf)

    def error(self, text: str, *, buf: Buffer | None = None) -> None:
        self.info(text, buf=buf, kind=LineKind.ERROR)

    def event(
        self,
        buf: Buffer,
        msg: Message | None,
        event: ev.Event,
        *,
        kind: LineKind = LineKind.INFO,
        nick: str | None = None,
        own: bool = False,
        highlight: bool = False,
    ) -> None:
        """A line recording ``event`` in ``buf``, at the time of ``msg`` (now without one)."""
        when = self.time_of(msg) if msg is not None else self.now()
        self.model.add(buf, Line(when, kind, "", nick=nick, own=own, highlight=highlight, event=event))

    def account_news(
        self,
        what: str | ev.Event,
        *,
        kind: LineKind = LineKind.INFO,
        time: datetime | None = None,
        nick: str | None = None,
    ) -> None:
        """News about logging in and registering (an event, or what a service said): in the server buffer, and in
        the one being looked at too."""
        if isinstance(what, str):
            line = Line(time or self.now(), kind, what, nick=nick)
        else:
            line = Line(time or self.now(), kind, "", nick=nick, event=what)
        self.model.add(self.model.server, line)
        if self.model.current is not self.model.server:
            self.model.add(self.model.current, line)

    def time_of(self, message: Message) -> datetime:
        stamp = message.tags.get("time")
        if stamp:
            try:
                return datetime.fromisoformat(stamp).astimezone()
            except ValueError:
                pass
        return self.now()

    def is_me(self, nick: str) -> bool:
        return casefold(nick) == casefold(self.model.nick)

    def show_unknown(self, msg: Message) -> None:
        text = " ".join(msg.params)
        self.model.add(self.model.server, Line(self.time_of(msg), LineKind.INFO, f"{msg.command.upper()} {text}"))

    # -- the way in ------------------------------------------------------------------------------------------

    def handle(self, msg: Message) -> None:
        """One message from the server."""
        link = self.link
        if link is not None and history.collect(link, msg):
            return
        command = msg.command.upper()
        handler = _COMMAND_HANDLERS.get(command)
        if handler is not None:
            handler(self, msg)
        elif command.isdigit():
            numeric(self, msg)
        else:
            self.show_unknown(msg)

    def pong(self, token: str) -> None:
        """The server answered our PING ``token``: a JOIN it marked has been answered in full."""
        link = self.link
        if link is None:
            return
        settled = [key for key, sent in link.joining.items() if sent == token]
        if settled:
            for key in settled:
                del link.joining[key]  # everything the server had for that JOIN has come
            self.model.changed()  # scrolling up past the top can ask for older history now

    # -- history (:mod:`trio_chat.client.history`) ------------------------------------------------------------

    def can_fetch_older(self, name: str) -> bool:
        """Whether :meth:`ask_history` may ask for channel ``name`` (see :func:`history.can_fetch_older`)."""
        return history.can_fetch_older(self, name)

    def ask_history(self, buf: Buffer, *, by_time: bool = False) -> bool:
        """Ask for the page of history above ``buf``'s oldest message (see :func:`history.ask_history`)."""
        return history.ask_history(self, buf, by_time=by_time)

    def history_refused(self, msg: Message) -> bool:
        """``FAIL CHATHISTORY …`` or 421 for it (see :func:`history.refused`)."""
        return history.refused(self, msg)

    # -- standard replies, registration -----------------------------------------------------------------------

    def _on_fail(self, msg: Message) -> None:
        """``FAIL command code [context…] :description`` (IRCv3 standard replies)."""
        if len(msg.params) >= 2 and msg.params[0].upper() == "CHATHISTORY" and self.history_refused(msg):
            return
        if len(msg.params) >= 3 and msg.params[0].upper() == "REGISTER":
            failed = ev.RegistrationFailed(msg.params[1], strip_formatting(msg.params[-1]))
            self.account_news(failed, kind=LineKind.ERROR, time=self.time_of(msg))
            return
        self.show_unknown(msg)

    # -- channels and people ---------------------------------------------------------------------------------

    def _on_join(self, msg: Message) -> None:
        if not msg.params:
            return
        nick, user, host = split_userhost(msg.source or "")
        channel = msg.params[0]
        if self.is_me(nick):
            quiet = casefold(channel) in self.quiet_joins
            self.quiet_joins.discard(casefold(channel))
            buf = self.model.open(channel, switch=not quiet)
            link = self.link
            if link is not None and BATCH in link.caps:
                token = f"sync{next(link.ping_seq)}"
                link.joining[buf.key] = token
                self.send(Message("PING", (token,)))
            buf.joined = True
            buf.members.clear()
            buf.add_member(nick, account=self.model.account)
            self.event(buf, msg, ev.Joined(channel, nick, own=True), kind=LineKind.JOIN, nick=nick, own=True)
            return
        account = self._join_account(msg)
        buf = self.model.open(channel)
        buf.add_member(nick, account=account)
        joined = ev.Joined(channel, nick, user=user, host=host, account=account)
        self.event(buf, msg, joined, kind=LineKind.JOIN, nick=nick)

    def _join_account(self, msg: Message) -> str | None:
        """The account of whoever joined: extended-join's second parameter (``*`` for none), or the account tag."""
        caps = self.link.caps if self.link is not None else set()
        if EXTENDED_JOIN in caps and len(msg.params) >= 3:
            return msg.params[1] if msg.params[1] != "*" else None
        if ACCOUNT_TAG in caps:
            return msg.tags.get("account") or None
        return None

    def _on_account(self, msg: Message) -> None:
        """account-notify: ``:nick!user@host ACCOUNT <account|*>``, said in every channel where they are."""
        if not msg.params:
            return
        nick = split_userhost(msg.source or "")[0]
        account = msg.params[0] if msg.params[0] != "*" else None
        if self.is_me(nick):
            self.model.account = account
            self.model.set_account(nick, account)
            self.model.changed()
            return  # 900 / 901 say it
        self.model.set_account(nick, account)
        for buf in self.model.buffers_with(nick):
            self.event(buf, msg, ev.AccountChanged(nick, account), kind=LineKind.ACCOUNT, nick=nick)

    def _leave(self, buf: Buffer, nick: str) -> bool:
        """``nick`` left the channel ``buf`` (a PART or a KICK); True when that is us, and the channel is left."""
        own = self.is_me(nick)
        if own:
            buf.joined = False
            buf.members.clear()
        else:
            buf.remove_member(nick)
        return own

    def _on_part(self, msg: Message) -> None:
        if not msg.params:
            return
        nick = split_userhost(msg.source or "")[0]
        channel = msg.params[0]
        reason = strip_formatting(msg.params[1]) if len(msg.params) > 1 else ""
        buf = self.model.find(channel)
        if buf is None:
            return
        own = self._leave(buf, nick)
        self.event(buf, msg, ev.Parted(channel, nick, own, reason), kind=LineKind.PART, nick=nick, own=own)

    def _on_kick(self, msg: Message) -> None:
        if len(msg.params) < 2:
            return
        by = split_userhost(msg.source or "")[0]
        channel, victim = msg.params[0], msg.params[1]
        reason = strip_formatting(msg.params[2]) if len(msg.params) > 2 else ""
        buf = self.model.find(channel)
        if buf is None:
            return
        own = self._leave(buf, victim)
        kicked = ev.Kicked(channel, victim, by, own, reason)
        self.event(buf, msg, kicked, kind=LineKind.KICK, nick=victim, highlight=own)

    def _on_quit(self, msg: Message) -> None:
        nick = split_userhost(msg.source or "")[0]
        reason = strip_formatting(msg.params[0]) if msg.params else ""
        for buf in list(self.model.buffers_with(nick)):
            buf.remove_member(nick)
            self.event(buf, msg, ev.Quit(nick, reason), kind=LineKind.QUIT, nick=nick)

    def _on_nick(self, msg: Message) -> None:
        if not msg.params:
            return
        old = split_userhost(msg.source or "")[0]
        new = msg.params[0]
        if self.is_me(old):
            link = self.link
            regained = link is not None and link.nick_retry is not None and casefold(new) == casefold(link.nick_retry)
            if link is not None:
                link.nick_retry = None
            self.model.nick = new
            self.wanted_nick = new
            if regained:
                self.event(self.model.server, None, ev.NickRegained(new))
            for buf in [self.model.server, *(b for b in self.model.channels() if b.joined)]:
                buf.rename_member(old, new)
                self.event(buf, msg, ev.NickChanged(old, new, own=True), kind=LineKind.NICK, nick=new, own=True)
            return
        for buf in list(self.model.buffers_with(old)):
            buf.rename_member(old, new)
            self.event(buf, msg, ev.NickChanged(old, new), kind=LineKind.NICK, nick=new)
        self.model.rename(old, new)

    def _on_topic(self, msg: Message) -> None:
        if len(msg.params) < 2:
            return
        nick = split_userhost(msg.source or "")[0]
        buf = self.model.open(msg.params[0])
        buf.topic = strip_formatting(msg.params[1])
        self.event(buf, msg, ev.TopicChanged(buf.name, nick, buf.topic), kind=LineKind.TOPIC, nick=nick)

    def _on_mode(self, msg: Message) -> None:
        if len(msg.params) < 2:
            return
        nick = split_userhost(msg.source or "")[0]
        target = msg.params[0]
        change = " ".join(msg.params[1:])
        if not is_channel_name(target):
            self.event(self.model.server, None, ev.ModeChanged(target, nick, change, channel=False), kind=LineKind.MODE)
            return
        buf = self.model.open(target)
        self._apply_prefix_modes(buf, msg.params[1], list(msg.params[2:]))
        self.note_key(target, msg.params[1], list(msg.params[2:]))
        self.event(buf, msg, ev.ModeChanged(target, nick, change), kind=LineKind.MODE, nick=nick)

    def mode_changes(self, modes: str, args: list[str]) -> Iterator[tuple[bool, str, str | None]]:
        """Each letter of a MODE change (``+o-v``), whether it is added, and its argument (None: it takes none,
        or none was left), by the server's CHANMODES and PREFIX."""
        always, param, set_only, _ = self.chanmodes
        rest = list(args)
        adding = True
        for ch in modes:
            if ch in "+-":
                adding = ch == "+"
                continue
            takes = ch in self.prefixes or ch in always or ch in param or (ch in set_only and adding)
            yield adding, ch, (rest.pop(0) if takes and rest else None)

    def note_key(self, channel: str, modes: str, args: list[str]) -> None:
        """Follow the channel key (``+k key`` / ``-k``) in MODE changes and 324, to rejoin with it."""
        for adding, ch, arg in self.mode_changes(modes, args):
            if ch != "k":
                continue
            if adding and arg and arg != "*":
                self.keys[casefold(channel)] = arg
            elif not adding:
                self.keys.pop(casefold(channel), None)

    def _apply_prefix_modes(self, buf: Buffer, modes: str, args: list[str]) -> None:
        order = self.model.prefix_order
        for adding, ch, arg in self.mode_changes(modes, args):
            if ch not in self.prefixes or arg is None:
                continue
            member = buf.members.get(casefold(arg))
            if member is not None:
                symbol = self.prefixes[ch]
                have = set(member.prefixes) | {symbol} if adding else set(member.prefixes) - {symbol}
                member.prefixes = "".join(s for s in order if s in have)

    def _on_away(self, msg: Message) -> None:
        nick = split_userhost(msg.source or "")[0]
        for buf in self.model.buffers_with(nick):
            member = buf.members.get(casefold(nick))
            if member is not None:
                member.away = bool(msg.params)
        if not msg.params:
            self.away_said.pop(casefold(nick), None)  # back: the next away message is news again
        self.model.changed()

    def _on_invite(self, msg: Message) -> None:
        if len(msg.params) < 2:
            return
        nick = split_userhost(msg.source or "")[0]
        who, channel = msg.params[0], msg.params[1]
        if self.model.ignored(msg.source):
            return
        if self.is_me(who):
            self.event(self.model.current, msg, ev.Invited(nick, who, channel, to_me=True), nick=nick, highlight=True)
        else:
            buf = self.model.find(channel) or self.model.current
            self.event(buf, msg, ev.Invited(nick, who, channel), nick=nick)

    def _on_register(self, msg: Message) -> None:
        """draft/account-registration: ``REGISTER SUCCESS <account> :message`` (``VERIFICATION_REQUIRED``)."""
        p = msg.params
        if len(p) >= 2 and p[0].upper() == "SUCCESS":
            self.account_news(ev.AccountRegistered(p[1]), time=self.time_of(msg))
        elif len(p) >= 2 and p[0].upper() == "VERIFICATION_REQUIRED":
            self.account_news(ev.AccountRegistered(p[1], verify=strip_formatting(p[-1])))
        else:
            self.show_unknown(msg)


_Handler = Callable[[Translator, Message], None]

_COMMAND_HANDLERS: dict[str, _Handler] = {
    "BATCH": history.on_batch,
    "PRIVMSG": messages.on_privmsg,
    "NOTICE": messages.on_privmsg,
    "JOIN": Translator._on_join,
    "PART": Translator._on_part,
    "KICK": Translator._on_kick,
    "QUIT": Translator._on_quit,
    "NICK": Translator._on_nick,
    "TOPIC": Translator._on_topic,
    "MODE": Translator._on_mode,
    "AWAY": Translator._on_away,
    "INVITE": Translator._on_invite,
    "FAIL": Translator._on_fail,
    "ACCOUNT": Translator._on_account,
    "REGISTER": Translator._on_register,
}
