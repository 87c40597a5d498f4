"""What happened, as data: the events a line of scrollback records when it is not something someone said.

The translator (:mod:`trio_chat.client.translate`) makes these from the server's messages and puts them in
:attr:`~trio_chat.client.model.Line.event`; how they read ("bob joined #lobby") is the interface's business
(:mod:`trio_chat.ui.describe`).  Plain frozen dataclasses: no text, no I/O.

Times the server gives as Unix seconds (a topic's date, a channel's creation) are kept as it sent them, so an
unreadable one can still be shown as it came.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Joined:
    channel: str
    nick: str
    own: bool = False
    user: str = ""
    host: str = ""
    account: str | None = None


@dataclass(frozen=True, slots=True)
class Parted:
    channel: str
    nick: str
    own: bool = False
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Kicked:
    channel: str
    victim: str
    by: str
    own: bool = False
    """We are the one kicked."""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Quit:
    nick: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class NickChanged:
    old: str
    new: str
    own: bool = False


@dataclass(frozen=True, slots=True)
class ModeChanged:
    target: str
    """A channel, or a nick (user modes)."""
    by: str
    change: str
    """The modes and their arguments, as sent (``+o bob``)."""
    channel: bool = True


@dataclass(frozen=True, slots=True)
class ChannelModes:
    """The answer to ``MODE #chan`` (324)."""

    channel: str
    modes: str


@dataclass(frozen=True, slots=True)
class ChannelCreated:
    """329: when the channel was made."""

    channel: str
    stamp: str


@dataclass(frozen=True, slots=True)
class TopicChanged:
    channel: str
    by: str
    topic: str
    """Empty when it was cleared."""


@dataclass(frozen=True, slots=True)
class TopicIs:
    """The topic as the server tells it on joining (332), or that there is none (331: ``topic`` is None)."""

    channel: str
    topic: str | None


@dataclass(frozen=True, slots=True)
class TopicSetBy:
    channel: str
    who: str
    stamp: str


@dataclass(frozen=True, slots=True)
class Names:
    """Who is in a channel: the nicks with their highest prefix, as the list shows them."""

    channel: str
    nicks: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Invited:
    by: str
    who: str
    channel: str
    to_me: bool = False


@dataclass(frozen=True, slots=True)
class AccountChanged:
    """account-notify: someone logged in to ``account``, or out (``None``)."""

    nick: str
    account: str | None


@dataclass(frozen=True, slots=True)
class CtcpRequest:
    nick: str
    command: str
    target: str
    """Us, or the channel that was asked."""
    to_channel: bool = False


@dataclass(frozen=True, slots=True)
class CtcpReply:
    nick: str
    command: str
    text: str = ""
    round_trip: float | None = None
    """Seconds a PING of ours took to come back, when it was one of ours."""


@dataclass(frozen=True, slots=True)
class CtcpSent:
    command: str
    target: str


@dataclass(frozen=True, slots=True)
class WhoisStart:
    """The rule above a WHOIS answer."""

    nick: str


@dataclass(frozen=True, slots=True)
class WhoisUser:
    nick: str
    user: str
    host: str
    realname: str


@dataclass(frozen=True, slots=True)
class WhoisServer:
    nick: str
    server: str
    info: str


@dataclass(frozen=True, slots=True)
class WhoisIdle:
    nick: str
    seconds: str
    signon: str | None = None


@dataclass(frozen=True, slots=True)
class WhoisChannels:
    nick: str
    channels: str


@dataclass(frozen=True, slots=True)
class WhoisAccount:
    nick: str
    account: str


@dataclass(frozen=True, slots=True)
class Away:
    """301: ``nick`` is away, saying ``message`` (in a WHOIS answer, or to a message we sent them)."""

    nick: str
    message: str


@dataclass(frozen=True, slots=True)
class WhoEntry:
    """One line of a WHO answer (352)."""

    channel: str
    nick: str
    user: str
    host: str
    flags: str
    rest: str
    """Hop count and real name, as the server wrote them."""


@dataclass(frozen=True, slots=True)
class ListEntry:
    """One channel of a LIST answer (322)."""

    channel: str
    users: str
    topic: str


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """A 4xx or 5xx numeric: the server refused something we asked (its parameters after our nick)."""

    code: str
    params: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UnknownCommand:
    """421: the server does not know a command we sent (``None``: it did not say which)."""

    command: str | None


@dataclass(frozen=True, slots=True)
class HistoryFailed:
    """Older history could not be loaded; ``reason`` is the server's."""

    reason: str


@dataclass(frozen=True, slots=True)
class NoMotd:
    """422: the server has no message of the day."""


# -- the connection and the account ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Connected:
    """Connected to ``address``; registering as ``nick``."""

    address: str
    nick: str


@dataclass(frozen=True, slots=True)
class Reconnecting:
    seconds: float


@dataclass(frozen=True, slots=True)
class RegisteredAs:
    """Registered, but as ``nick``: ``wanted`` was taken."""

    nick: str
    wanted: str


@dataclass(frozen=True, slots=True)
class NickInUse:
    """The server said ``taken`` is in use; while registering, ``trying`` is the nick asked for instead."""

    taken: str
    trying: str | None = None


@dataclass(frozen=True, slots=True)
class NickRegained:
    """The nick we wanted, taken when we registered, is ours again."""

    nick: str


@dataclass(frozen=True, slots=True)
class LoggedIn:
    account: str
    by_sasl: bool = False
    """Logged in by the SASL login on connecting, rather than later (NickServ, /register)."""


@dataclass(frozen=True, slots=True)
class LoggedOut:
    pass


@dataclass(frozen=True, slots=True)
class Registering:
    """``/register`` sent: the account ``account`` is being made."""

    account: str


@dataclass(frozen=True, slots=True)
class Identifying:
    """``/identify`` sent to NickServ for ``account``."""

    account: str


@dataclass(frozen=True, slots=True)
class AlreadyLoggedIn:
    account: str


@dataclass(frozen=True, slots=True)
class AccountRegistered:
    account: str
    verify: str | None = None
    """What the server says to do to verify it, when it must be verified first."""


@dataclass(frozen=True, slots=True)
class RegistrationFailed:
    code: str
    reason: str


Event = (
    Joined
    | Parted
    | Kicked
    | Quit
    | NickChanged
    | ModeChanged
    | ChannelModes
    | ChannelCreated
    | TopicChanged
    | TopicIs
    | TopicSetBy
    | Names
    | Invited
    | AccountChanged
    | CtcpRequest
    | CtcpReply
    | CtcpSent
    | WhoisStart
    | WhoisUser
    | WhoisServer
    | WhoisIdle
    | WhoisChannels
    | WhoisAccount
    | Away
    | WhoEntry
    | ListEntry
    | ErrorReply
    | UnknownCommand
    | HistoryFailed
    | NoMotd
    | Connected
    | Reconnecting
    | RegisteredAs
    | NickInUse
    | NickRegained
    | LoggedIn
    | LoggedOut
    | Registering
    | Identifying
    | AlreadyLoggedIn
    | AccountRegistered
    | RegistrationFailed
)
"""Everything a line's ``event`` can be."""
