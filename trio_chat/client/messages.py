"""PRIVMSG and NOTICE in the translator: where a message goes, whether it is a highlight, CTCP requests (answered)
and replies (timed, for our PINGs), NickServ's answers, and our own echoed back.  Pure, as the translator is."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trio_chat.protocol import Message, casefold
from trio_chat.protocol.caps import ACCOUNT_TAG
from trio_chat.protocol.names import is_channel_name, split_userhost

from . import commands as cmd
from . import events as ev
from .formatting import clean_formatting, strip_formatting
from .model import BufferKind, Line, LineKind, mentions

if TYPE_CHECKING:
    from .translate import Translator

CLIENT_VERSION = "trio-chat"
"""What a CTCP VERSION request is answered with."""


def on_privmsg(t: Translator, msg: Message) -> None:
    if len(msg.params) < 2:
        return
    nick = split_userhost(msg.source or "")[0]
    target, text = msg.params[0], msg.params[1]
    notice = msg.command.upper() == "NOTICE"
    own = t.is_me(nick)
    if not own and t.model.ignored(msg.source):
        return  # not shown, not answered (CTCP), not counted
    kind = LineKind.NOTICE if notice else LineKind.MESSAGE
    link = t.link
    from_user = bool(msg.source) and "!" in (msg.source or "")
    if link is not None and from_user and ACCOUNT_TAG in link.caps and casefold(nick) != casefold(cmd.NICKSERV):
        # account-tag: every message from a user says which account they are logged in to (none: no tag).
        t.model.set_account(nick, msg.tags.get("account") or None)
    to_nickserv = own and casefold(target) == casefold(cmd.NICKSERV)
    if to_nickserv and cmd.mask_service_text(text) is not None:
        if link is not None and link.hidden_echoes > 0:
            link.hidden_echoes -= 1  # the echo of /register or /identify: nothing to show
            return
        text = cmd.mask_service_text(text) or text
    if (
        notice
        and from_user
        and casefold(nick) == casefold(cmd.NICKSERV)
        and not is_channel_name(target)
        and t.model.find(nick) is None
    ):
        # NickServ's answers (to /register, /identify, or about the nick we hold): server news.
        t.account_news(strip_formatting(text), kind=LineKind.NOTICE, time=t.time_of(msg), nick=nick)
        return
    if text.startswith("\x01"):
        ctcp, _, arg = text.strip("\x01").partition(" ")
        if ctcp.upper() == "ACTION" and not notice:
            kind, text = LineKind.ACTION, arg
        else:
            _ctcp(t, msg, nick, ctcp.upper(), arg, reply=notice)
            return
    from_server = not msg.source or "!" not in msg.source
    if from_server or (not t.connected and not own):
        # From the server itself (or before we know who we are): that is server news.
        buf = t.model.server if not is_channel_name(target) else t.model.open(target)
    elif is_channel_name(target) or own:
        buf = t.model.open(target)
    elif notice and t.model.find(nick) is None:
        buf = t.model.current
    else:
        buf = t.model.open(nick)
    words = (t.model.nick, *t.model.settings.highlight_words)
    highlight = not own and (buf.kind is BufferKind.QUERY or any(mentions(text, w) for w in words))
    text = clean_formatting(text)  # drawn with its bold, colours…; other control characters go
    msgid = msg.tags.get("msgid")
    line = Line(t.time_of(msg), kind, text, nick=nick or msg.source, own=own, highlight=highlight, msgid=msgid)
    t.model.add(buf, line)


def _ctcp(t: Translator, msg: Message, nick: str, ctcp: str, arg: str, *, reply: bool) -> None:
    """A CTCP request (PRIVMSG) or reply (NOTICE), shown once and readably.  Our own, echoed back by
    echo-message (the answers our client sent, the requests /ctcp sent and said so), are not shown again."""
    if t.is_me(nick):
        return
    target = msg.params[0]
    if reply:
        round_trip = None
        if ctcp == "PING":
            sent = t.ctcp_pings.pop((casefold(nick), arg.strip()), None)
            round_trip = t.clock() - sent if sent is not None else None
        said = strip_formatting(arg) if round_trip is None else ""
        t.event(t.model.current, None, ev.CtcpReply(nick, ctcp, said, round_trip))
        return
    answer = {
        "VERSION": CLIENT_VERSION,
        "PING": arg,
        "TIME": t.now().strftime("%c"),
        "CLIENTINFO": "ACTION CLIENTINFO PING TIME VERSION",
    }.get(ctcp)
    if answer is not None:
        t.send(Message("NOTICE", (nick, f"\x01{ctcp} {answer}\x01" if answer else f"\x01{ctcp}\x01")))
    request = ev.CtcpRequest(nick, ctcp, target, to_channel=is_channel_name(target))
    t.event(t.model.server, msg, request, nick=nick)
