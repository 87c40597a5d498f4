"""Events in words: how the screen (and the conversation log) says what a line records.

The client's translator makes :mod:`trio_chat.client.events` from what the server sends; :func:`describe` is the
one place that decides how they read ("bob (b@host) joined #lobby", "carol was kicked from #lobby by alice
(spam)").  Plain functions over plain data: no prompt_toolkit here.
"""

from __future__ import annotations

from datetime import datetime
from typing import assert_never

from trio_chat.client import events as ev
from trio_chat.client.model import Line


def line_text(line: Line) -> str:
    """What a line says: the words of its event, or its own text."""
    return describe(line.event) if line.event is not None else line.text


def date_text(stamp: str) -> str:
    """Unix seconds as a local date and time (``2024-05-01 14:00``); what is not a time is shown as it came."""
    try:
        return datetime.fromtimestamp(int(stamp)).astimezone().strftime("%Y-%m-%d %H:%M")
    except (ValueError, OverflowError, OSError):
        return stamp


def _reason(reason: str) -> str:
    return f" ({reason})" if reason else ""


def describe(event: ev.Event) -> str:
    """``event`` in words.  Every kind of event has a case here (mypy checks that none is forgotten)."""
    match event:
        case ev.Joined(channel=channel, own=True):
            return f"You joined {channel}"
        case ev.Joined():
            about = [f"{event.user}@{event.host}"] if event.user else []
            if event.account:
                about.append(f"account {event.account}")
            who = f"{event.nick} ({', '.join(about)})" if about else event.nick
            return f"{who} joined {event.channel}"
        case ev.Parted():
            return f"{'You' if event.own else event.nick} left {event.channel}{_reason(event.reason)}"
        case ev.Kicked():
            victim = "You were" if event.own else f"{event.victim} was"
            return f"{victim} kicked from {event.channel} by {event.by}{_reason(event.reason)}"
        case ev.Quit():
            return f"{event.nick} quit{_reason(event.reason)}"
        case ev.NickChanged():
            return f"You are now known as {event.new}" if event.own else f"{event.old} is now known as {event.new}"
        case ev.ModeChanged():
            on = "" if event.channel else f" on {event.target}"
            return f"{event.by} sets mode {event.change}{on}"
        case ev.ChannelModes():
            return f"{event.channel} modes: {event.modes}"
        case ev.ChannelCreated():
            return f"{event.channel} was created on {date_text(event.stamp)}"
        case ev.TopicChanged():
            if not event.topic:
                return f"{event.by} cleared the topic"
            return f"{event.by} changed the topic to: {event.topic}"
        case ev.TopicIs():
            return f"Topic: {event.topic}" if event.topic is not None else "No topic is set"
        case ev.TopicSetBy():
            return f"Set by {event.who} on {date_text(event.stamp)}"
        case ev.Names():
            people = "person" if len(event.nicks) == 1 else "people"
            return f"{len(event.nicks)} {people} in {event.channel}: {' '.join(event.nicks)}"
        case ev.Invited():
            if event.to_me:
                return f"{event.by} invites you to {event.channel} (/join {event.channel})"
            return f"{event.by} invited {event.who} to {event.channel}"
        case ev.AccountChanged():
            if event.account is None:
                return f"{event.nick} is now logged out"
            return f"{event.nick} is now logged in as {event.account}"
        case ev.CtcpRequest():
            whose = f"{event.target}'s" if event.to_channel else "your"
            return f"{event.nick} asked for {whose} {event.command}"
        case ev.CtcpReply():
            said = event.text if event.round_trip is None else f"{event.round_trip:.2f} s"
            return f"{event.command} reply from {event.nick}" + (f": {said}" if said else "")
        case ev.CtcpSent():
            return f"CTCP {event.command} sent to {event.target}"
        case ev.WhoisStart():
            return f"─── whois {event.nick} ───"
        case ev.WhoisUser():
            return f"{event.nick} is {event.user}@{event.host} ({event.realname})"
        case ev.WhoisServer():
            return f"{event.nick} is on {event.server} ({event.info})"
        case ev.WhoisIdle():
            since = f", connected since {date_text(event.signon)}" if event.signon is not None else ""
            return f"{event.nick} has been idle {event.seconds} s{since}"
        case ev.WhoisChannels():
            return f"{event.nick} is in {event.channels}"
        case ev.WhoisAccount():
            return f"{event.nick} is logged in as {event.account}"
        case ev.Away():
            return f"{event.nick} is away: {event.message}"
        case ev.WhoEntry():
            return f"{event.channel} {event.nick} ({event.user}@{event.host}) {event.flags} {event.rest}"
        case ev.ListEntry():
            return f"{event.channel} ({event.users}): {event.topic}"
        case ev.ErrorReply():
            return ": ".join(event.params) if event.params else event.code
        case ev.UnknownCommand():
            return f"The server does not know {event.command if event.command is not None else 'that command'}"
        case ev.HistoryFailed():
            return f"Could not load older messages: {event.reason}"
        case ev.NoMotd():
            return "No message of the day"
        case ev.Connected():
            return f"Connected to {event.address}; registering as {event.nick}"
        case ev.Reconnecting():
            return f"Reconnecting in {event.seconds:g} s…"
        case ev.RegisteredAs():
            return f"Registered as {event.nick}; {event.wanted} is in use"
        case ev.NickInUse(taken=taken, trying=None):
            return f"The nick {taken} is already in use"
        case ev.NickInUse():
            return f"The nick {event.taken} is in use; trying {event.trying}"
        case ev.NickRegained():
            return f"Got the nick {event.nick} back"
        case ev.LoggedIn():
            return f"Logged in as {event.account}" if event.by_sasl else f"You are now logged in as {event.account}"
        case ev.LoggedOut():
            return "You are now logged out"
        case ev.Registering():
            return f"Registering the account {event.account}…"
        case ev.Identifying():
            return f"Logging in to the account {event.account} (NickServ)…"
        case ev.AlreadyLoggedIn():
            return f"You are already logged in as {event.account}"
        case ev.AccountRegistered(account=account, verify=None):
            return f"Account {account} registered"
        case ev.AccountRegistered():
            return f"Account {event.account} registered; verify it: {event.verify}"
        case ev.RegistrationFailed():
            return f"Registration failed: {event.reason} ({event.code})"
        case _:
            assert_never(event)
