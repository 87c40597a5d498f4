"""The server's numeric replies, translated into model updates: topics, nick lists, WHOIS, WHO and LIST answers,
errors.  Part of the translator (:class:`~trio_chat.client.translate.Translator`), as pure as it is.

The numerics that drive the connection itself (001, 433, the SASL ones…) are the lifecycle's
(:mod:`trio_chat.client.core`); it hands the others here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from trio_chat.protocol import Message, casefold
from trio_chat.protocol import numerics as rpl
from trio_chat.protocol.names import split_userhost

from . import events as ev
from .formatting import strip_formatting
from .model import Line, LineKind

if TYPE_CHECKING:
    from .translate import Translator

MAX_OPEN_WHOIS = 16
"""WHOIS answers followed at once (a 301 inside one belongs to it, not to a message we sent)."""

CURRENT_BUFFER_NUMERICS = frozenset(
    {
        rpl.RPL_ENDOFWHO,
        rpl.RPL_WHOISOPERATOR,
        rpl.RPL_WHOISHOST,
        rpl.RPL_WHOISSECURE,
        "338",
        rpl.RPL_LISTSTART,
        rpl.RPL_LISTEND,
        rpl.RPL_INVITING,
        rpl.RPL_UMODEIS,
        rpl.RPL_BANLIST,
        rpl.RPL_ENDOFBANLIST,
    }
)
"""Answers to something just asked: shown where the person is looking, not in the server buffer."""


def numeric(t: Translator, msg: Message) -> None:
    """A numeric reply (``msg.command`` is digits)."""
    code = msg.command
    handler = NUMERIC_HANDLERS.get(code)
    if handler is not None:
        handler(t, msg)
        return
    params = msg.params[1:]
    if code.startswith(("4", "5")):
        t.event(t.model.current, None, ev.ErrorReply(code, params), kind=LineKind.ERROR)
        return
    text = " ".join((*params[:-1], strip_formatting(params[-1]))) if params else code
    buf = t.model.current if code in CURRENT_BUFFER_NUMERICS else t.model.server
    t.model.add(buf, Line(t.time_of(msg), LineKind.INFO, text))


def _server_text(t: Translator, msg: Message) -> None:
    """Numerics whose words are the server's (ISUPPORT, the end of the MOTD): the server buffer."""
    t.model.add(t.model.server, Line(t.time_of(msg), LineKind.INFO, " ".join(msg.params[1:])))


def _on_isupport(t: Translator, msg: Message) -> None:
    for token in msg.params[1:-1]:
        name, _, value = token.partition("=")
        if name == "PREFIX" and value.startswith("(") and ")" in value:
            modes, _, symbols = value[1:].partition(")")
            if len(modes) == len(symbols):
                t.prefixes = dict(zip(modes, symbols, strict=True))
                t.model.prefix_order = symbols
        elif name == "CHANMODES":
            parts = value.split(",")
            if len(parts) >= 4:
                t.chanmodes = (parts[0], parts[1], parts[2], parts[3])
        elif name == "CHATHISTORY" and t.link is not None:
            t.link.chathistory_max = int(value) if value.isdigit() and int(value) > 0 else None
    _server_text(t, msg)


def _on_no_motd(t: Translator, msg: Message) -> None:
    """422: the server has no message of the day; news for the server buffer, not an error."""
    t.event(t.model.server, msg, ev.NoMotd())


def _on_unaway(t: Translator, msg: Message) -> None:
    t.model.away = msg.command == rpl.RPL_NOWAWAY
    t.info(msg.params[-1] if msg.params else "")


def _on_unknown_command(t: Translator, msg: Message) -> None:
    if len(msg.params) >= 2 and msg.params[1].upper() == "CHATHISTORY":
        t.history_refused(msg)
    command = msg.params[1] if len(msg.params) > 2 else None
    t.event(t.model.current, None, ev.UnknownCommand(command), kind=LineKind.ERROR)


# -- topics and nick lists -----------------------------------------------------------------------------------------


def _on_rpl_topic(t: Translator, msg: Message) -> None:
    if len(msg.params) < 3:
        return
    buf = t.model.open(msg.params[1])
    buf.topic = strip_formatting(msg.params[2])
    t.event(buf, msg, ev.TopicIs(buf.name, buf.topic), kind=LineKind.TOPIC)


def _on_rpl_notopic(t: Translator, msg: Message) -> None:
    if len(msg.params) >= 2:
        buf = t.model.open(msg.params[1])
        t.event(buf, msg, ev.TopicIs(buf.name, None), kind=LineKind.TOPIC)


def _on_topic_who_time(t: Translator, msg: Message) -> None:
    if len(msg.params) < 4:
        return
    who = split_userhost(msg.params[2])[0]
    buf = t.model.open(msg.params[1])
    t.event(buf, msg, ev.TopicSetBy(buf.name, who, msg.params[3]), kind=LineKind.TOPIC)


def _on_names(t: Translator, msg: Message) -> None:
    if len(msg.params) < 4 or t.link is None:
        return
    t.link.names.setdefault(casefold(msg.params[2]), []).extend(msg.params[3].split())


def _on_end_of_names(t: Translator, msg: Message) -> None:
    if len(msg.params) < 2 or t.link is None:
        return
    channel = msg.params[1]
    names = t.link.names.pop(casefold(channel), [])
    symbols = "".join(t.prefixes.values())
    buf = t.model.find(channel)
    if buf is not None and buf.joined:
        known = {key: member.account for key, member in buf.members.items()}  # NAMES does not say
        known[casefold(t.model.nick)] = t.model.account
        buf.members.clear()
        for entry in names:
            nick = split_userhost(entry.lstrip(symbols))[0]
            buf.add_member(nick, entry[: len(entry) - len(entry.lstrip(symbols))], known.get(casefold(nick)))
        shown = tuple(m.prefixes[:1] + m.nick for m in buf.sorted_members(t.model.prefix_order))
    else:
        buf = t.model.current
        shown = tuple(names)
    t.event(buf, msg, ev.Names(channel, shown))


def _on_channel_time(t: Translator, msg: Message) -> None:
    """329 ``me #chan <unix time>``: when the channel was created."""
    p = msg.params
    if len(p) >= 3:
        t.event(t.model.find(p[1]) or t.model.current, msg, ev.ChannelCreated(p[1], p[2]))


def _on_channel_modes(t: Translator, msg: Message) -> None:
    """324 ``me #chan +modes [args]``."""
    p = msg.params
    if len(p) < 3:
        return
    t.note_key(p[1], p[2], list(p[3:]))
    t.event(t.model.find(p[1]) or t.model.current, msg, ev.ChannelModes(p[1], " ".join(p[2:])))


# -- WHOIS, WHO, LIST ----------------------------------------------------------------------------------------------


def _on_whois_account(t: Translator, msg: Message) -> None:
    """``330 me nick account :is logged in as``."""
    p = msg.params
    if len(p) < 3:
        return
    t.model.set_account(p[1], p[2])
    t.event(t.model.current, msg, ev.WhoisAccount(p[1], p[2]))


def _on_away_reply(t: Translator, msg: Message) -> None:
    """301: in a WHOIS answer, part of it; otherwise the answer to a message we sent someone who is away,
    shown in the query with them (once per away message, as servers repeat it for every message)."""
    p = msg.params
    link = t.link
    if len(p) < 3 or link is None:
        return
    said = strip_formatting(p[2])
    if casefold(p[1]) in link.whois_open:
        t.event(t.model.current, msg, ev.Away(p[1], said))
        return
    if t.away_said.get(casefold(p[1])) == said:
        return
    t.away_said[casefold(p[1])] = said
    t.event(t.model.find(p[1]) or t.model.current, msg, ev.Away(p[1], said), nick=p[1])


def _on_end_of_whois(t: Translator, msg: Message) -> None:
    if t.link is not None and len(msg.params) >= 2:
        t.link.whois_open.discard(casefold(msg.params[1]))
    _on_whois(t, msg)


def _on_whois(t: Translator, msg: Message) -> None:
    p = msg.params
    code = msg.command
    event: ev.Event | None = None
    if code == rpl.RPL_WHOISUSER and len(p) >= 6:
        if t.link is not None and len(t.link.whois_open) < MAX_OPEN_WHOIS:
            t.link.whois_open.add(casefold(p[1]))
        t.event(t.model.current, msg, ev.WhoisStart(p[1]), nick=p[1])
        event = ev.WhoisUser(p[1], p[2], p[3], strip_formatting(p[5]))
    elif code == rpl.RPL_WHOISSERVER and len(p) >= 4:
        event = ev.WhoisServer(p[1], p[2], p[3])
    elif code == rpl.RPL_WHOISIDLE and len(p) >= 3:
        event = ev.WhoisIdle(p[1], p[2], p[3] if len(p) >= 5 and p[3].isdigit() else None)
    elif code == rpl.RPL_WHOISCHANNELS and len(p) >= 3:
        event = ev.WhoisChannels(p[1], p[2])
    elif code == rpl.RPL_WHOREPLY and len(p) >= 8:
        event = ev.WhoEntry(p[1], p[5], p[2], p[3], p[6], strip_formatting(p[7]))
    elif code == rpl.RPL_LIST and len(p) >= 4:
        event = ev.ListEntry(p[1], p[2], strip_formatting(p[3]))
    if event is not None:
        t.event(t.model.current, msg, event)
        return
    text = " ".join((*p[1:-1], strip_formatting(p[-1]))) if len(p) > 1 else code
    t.model.add(t.model.current, Line(t.time_of(msg), LineKind.INFO, text))


_Handler = Callable[["Translator", Message], None]

NUMERIC_HANDLERS: dict[str, _Handler] = {
    rpl.RPL_ISUPPORT: _on_isupport,
    rpl.RPL_ENDOFMOTD: _server_text,
    rpl.ERR_NOMOTD: _on_no_motd,
    rpl.RPL_UNAWAY: _on_unaway,
    rpl.RPL_NOWAWAY: _on_unaway,
    rpl.ERR_UNKNOWNCOMMAND: _on_unknown_command,
    rpl.RPL_TOPIC: _on_rpl_topic,
    rpl.RPL_NOTOPIC: _on_rpl_notopic,
    rpl.RPL_TOPICWHOTIME: _on_topic_who_time,
    rpl.RPL_NAMREPLY: _on_names,
    rpl.RPL_ENDOFNAMES: _on_end_of_names,
    rpl.RPL_CREATIONTIME: _on_channel_time,
    rpl.RPL_CHANNELMODEIS: _on_channel_modes,
    rpl.RPL_WHOISACCOUNT: _on_whois_account,
    rpl.RPL_AWAY: _on_away_reply,
    rpl.RPL_ENDOFWHOIS: _on_end_of_whois,
    rpl.RPL_WHOISUSER: _on_whois,
    rpl.RPL_WHOISSERVER: _on_whois,
    rpl.RPL_WHOISIDLE: _on_whois,
    rpl.RPL_WHOISCHANNELS: _on_whois,
    rpl.RPL_WHOREPLY: _on_whois,
    rpl.RPL_LIST: _on_whois,
}
