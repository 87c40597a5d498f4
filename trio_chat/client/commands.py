"""What a typed line means: slash commands to IRC messages and local actions, pure and synchronous.

:func:`parse_input` turns one line of input into a list of actions for the core to carry out.  Nothing here
sends, reads the clock or touches the model: the tests call it with a context and look at what comes back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from trio_chat.protocol import Message, ProtocolError, parse_line
from trio_chat.protocol.message import MAX_BODY_BYTES
from trio_chat.protocol.names import is_channel_name

SayKind = Literal["privmsg", "action", "notice"]

# A server relays our PRIVMSG as ``:nick!user@host PRIVMSG target :text``, and that whole line must fit in
# 510 bytes.  We do not know our user and host as the server shows them, so assume the longest usual ones:
# a 10-character ident plus ``~`` and a 63-byte host name (the DNS label limit, also what ergo allows).
ASSUMED_USER_BYTES = 11
ASSUMED_HOST_BYTES = 63


@dataclass(frozen=True, slots=True)
class InputContext:
    """Where the line was typed: the current buffer's target (``None`` in the server buffer) and our nick."""

    nick: str
    target: str | None = None


@dataclass(frozen=True, slots=True)
class Send:
    """Send this message as it is."""

    message: Message


@dataclass(frozen=True, slots=True)
class Say:
    """Say something to a channel or nick; ``chunks`` are already split to fit a line each."""

    target: str
    kind: SayKind
    chunks: tuple[str, ...]

    def messages(self) -> list[Message]:
        command = "NOTICE" if self.kind == "notice" else "PRIVMSG"
        if self.kind == "action":
            return [Message(command, (self.target, f"\x01ACTION {c}\x01")) for c in self.chunks]
        return [Message(command, (self.target, c)) for c in self.chunks]


@dataclass(frozen=True, slots=True)
class OpenQuery:
    nick: str


@dataclass(frozen=True, slots=True)
class SwitchBuffer:
    """Show buffer ``number`` (1 = server, as Alt-1) or the buffer named ``name``."""

    number: int | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class CloseBuffer:
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Quit:
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ShowHelp:
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ShowError:
    text: str


@dataclass(frozen=True, slots=True)
class Register:
    """Register the current nick as an account: ``REGISTER * <email|*> <password>`` where the server offers
    draft/account-registration, else ``PRIVMSG NickServ :REGISTER <password> [email]``."""

    password: str = field(repr=False)
    email: str | None = None


@dataclass(frozen=True, slots=True)
class Identify:
    """Log in to an account (the current nick's when ``account`` is None) with ``NickServ IDENTIFY``."""

    password: str = field(repr=False)
    account: str | None = None


@dataclass(frozen=True, slots=True)
class Ctcp:
    """Send the CTCP request ``kind`` (upper case) to ``target``; the core adds the token of a ``PING`` and times
    its reply."""

    target: str
    kind: str
    arg: str = ""


@dataclass(frozen=True, slots=True)
class Ignore:
    """Stop showing what ``mask`` (a nick, or a ``nick!user@host`` glob) says; no mask: list the ignores.
    ``undo``: show them again."""

    mask: str | None = None
    undo: bool = False


@dataclass(frozen=True, slots=True)
class ClearBuffer:
    """Empty the current buffer's scrollback (on screen only)."""


@dataclass(frozen=True, slots=True)
class SetOption:
    """``/set``: show the settings (no name), one setting (no value), or change one."""

    name: str | None = None
    value: str | None = None


Action = (
    Send
    | Say
    | OpenQuery
    | SwitchBuffer
    | CloseBuffer
    | Quit
    | ShowHelp
    | ShowError
    | Register
    | Identify
    | Ctcp
    | Ignore
    | ClearBuffer
    | SetOption
)

NICKSERV = "NickServ"
SECRET_MASK = "********"


@dataclass(frozen=True, slots=True)
class CommandInfo:
    usage: str
    summary: str


COMMANDS: dict[str, CommandInfo] = {
    "away": CommandInfo("/away [message]", "mark yourself away with a message, or back without one"),
    "ban": CommandInfo("/ban [#channel] nick|mask", "ban someone from a channel (a nick bans nick!*@*)"),
    "buffer": CommandInfo("/buffer N|name", "switch to buffer N (as Alt-N) or the one with that name"),
    "clear": CommandInfo("/clear", "empty this buffer's scrollback (on your screen only)"),
    "close": CommandInfo("/close", "close the current buffer (leaving the channel)"),
    "ctcp": CommandInfo("/ctcp nick|#channel TYPE [args]", "send a CTCP request (VERSION, PING, TIME…)"),
    "deop": CommandInfo("/deop nick [nick…]", "take channel operator status away"),
    "devoice": CommandInfo("/devoice nick [nick…]", "take voice away"),
    "help": CommandInfo("/help [command]", "list the commands, or show how to use one"),
    "ignore": CommandInfo("/ignore [nick|mask]", "hide what someone says (no argument: list the ignores)"),
    "identify": CommandInfo("/identify [account] password", "log in to your account (NickServ IDENTIFY)"),
    "invite": CommandInfo("/invite nick [#channel]", "invite someone to a channel (default: this one)"),
    "join": CommandInfo("/join #channel[,#other] [key]", "join channels"),
    "kick": CommandInfo("/kick [#channel] nick [reason]", "remove someone from a channel"),
    "kickban": CommandInfo("/kickban [#channel] nick [reason]", "ban someone (nick!*@*) and kick them"),
    "list": CommandInfo("/list [#channel…]", "list the channels on the server"),
    "me": CommandInfo("/me action", "describe what you are doing (* alice waves)"),
    "mode": CommandInfo("/mode [target] [+/-modes [args]]", "show or change channel or user modes"),
    "msg": CommandInfo("/msg nick|#channel text", "send a message without switching buffer"),
    "names": CommandInfo("/names [#channel]", "list who is in a channel"),
    "nick": CommandInfo("/nick newnick", "change your nickname"),
    "notice": CommandInfo("/notice nick|#channel text", "send a notice"),
    "op": CommandInfo("/op nick [nick…]", "make people channel operators (in this channel)"),
    "part": CommandInfo("/part [#channel] [reason]", "leave a channel (default: this one)"),
    "ping": CommandInfo("/ping nick", "measure the round trip to someone's client (CTCP PING)"),
    "query": CommandInfo("/query nick [text]", "open a private conversation with someone"),
    "quit": CommandInfo("/quit [reason]", "disconnect and exit"),
    "quote": CommandInfo("/quote RAW LINE", "send a raw IRC line to the server"),
    "register": CommandInfo("/register [email] password", "register your nick as an account, and log in to it"),
    "set": CommandInfo(
        "/set [name [value]]",
        "show or change a setting: timestamp_format (strftime, %H:%M), nicklist_width, highlight_words (a,b)",
    ),
    "topic": CommandInfo("/topic [#channel] [new topic]", "show or set a channel's topic"),
    "unban": CommandInfo("/unban [#channel] nick|mask", "lift a ban"),
    "unignore": CommandInfo("/unignore nick|mask", "show what someone says again"),
    "version": CommandInfo("/version [nick]", "ask someone's client for its version, or the server without a nick"),
    "voice": CommandInfo("/voice nick [nick…]", "give people voice (they may speak in a moderated channel)"),
    "who": CommandInfo("/who [mask]", "list users matching a mask (default: this channel)"),
    "whois": CommandInfo("/whois nick", "show information about someone"),
    "whowas": CommandInfo("/whowas nick", "show who used a nick that is gone"),
}

ALIASES = {
    "j": "join",
    "q": "query",
    "m": "msg",
    "raw": "quote",
    "exit": "quit",
    "w": "whois",
    "leave": "part",
    "login": "identify",
}


def help_lines(topic: str | None = None) -> tuple[str, ...]:
    """The text of ``/help``: every command with its one-line summary, or the usage of one command."""
    if topic:
        name = ALIASES.get(topic.lstrip("/").lower(), topic.lstrip("/").lower())
        info = COMMANDS.get(name)
        if info is None:
            return (f"No such command: /{topic.lstrip('/')}",)
        aliases = sorted(alias for alias, target in ALIASES.items() if target == name)
        also = f" (also {', '.join('/' + a for a in aliases)})" if aliases else ""
        return (f"{info.usage}  —  {info.summary}{also}",)
    width = max(len(info.usage) for info in COMMANDS.values())
    lines = ["Commands (text without a leading / goes to the current buffer; //text sends a literal /):"]
    lines += [f"  {info.usage.ljust(width)}  {info.summary}" for info in COMMANDS.values()]
    lines.append("Aliases: " + ", ".join(f"/{alias} = /{name}" for alias, name in sorted(ALIASES.items())) + ".")
    lines.append(
        "Keys: Alt-1..9 / Ctrl-N / Ctrl-P switch buffer, PageUp/PageDown scroll, Tab completes, "
        "Up/Down history, F2 nick list, Ctrl-B bold, Ctrl-_ underline, Ctrl-K colour, Ctrl-O plain, "
        "Ctrl-D or Ctrl-C twice quits."
    )
    return tuple(lines)


def text_budget(nick: str, target: str, command: str = "PRIVMSG") -> int:
    """Bytes of text that fit in one message to ``target`` once the server adds its ``:nick!user@host`` prefix."""
    prefix = 1 + len(nick.encode()) + 1 + ASSUMED_USER_BYTES + 1 + ASSUMED_HOST_BYTES + 1
    envelope = len(f"{command} {target} :".encode())
    return MAX_BODY_BYTES - prefix - envelope


def split_text(text: str, budget: int) -> list[str]:
    """Split ``text`` into pieces of at most ``budget`` UTF-8 bytes, at spaces where possible.

    A piece never ends inside a UTF-8 sequence: a hard split backs up to the start of the character.
    """
    if budget < 4:
        raise ValueError("budget too small for one UTF-8 character")
    data = text.encode("utf-8")
    pieces: list[str] = []
    while len(data) > budget:
        cut = data.rfind(b" ", 0, budget + 1)
        if cut > 0:
            pieces.append(data[:cut].decode("utf-8"))
            data = data[cut + 1 :]
            continue
        cut = budget
        while data[cut] & 0xC0 == 0x80:  # a continuation byte: this character starts earlier
            cut -= 1
        pieces.append(data[:cut].decode("utf-8"))
        data = data[cut:]
    if data or not pieces:
        pieces.append(data.decode("utf-8"))
    return pieces


def say(target: str, text: str, nick: str, kind: SayKind = "privmsg") -> Say:
    command = "NOTICE" if kind == "notice" else "PRIVMSG"
    budget = text_budget(nick, target, command)
    if kind == "action":
        budget -= len("\x01ACTION \x01")
    return Say(target, kind, tuple(split_text(text, budget)))


def _channel_or_current(args: list[str], ctx: InputContext) -> str | None:
    if args and is_channel_name(args[0]):
        return args.pop(0)
    if ctx.target is not None and is_channel_name(ctx.target):
        return ctx.target
    return None


def _usage(name: str) -> list[Action]:
    return [ShowError(f"Usage: {COMMANDS[name].usage}")]


def parse_input(text: str, ctx: InputContext) -> list[Action]:
    """What one line of input asks for.  Empty input asks for nothing."""
    text = text.rstrip("\r\n")
    if not text.strip():
        return []
    if text.startswith("//") or not text.startswith("/"):
        body = text[1:] if text.startswith("//") else text
        if ctx.target is None:
            return [ShowError("This is the server buffer: /join a channel or /query someone to talk.")]
        return [say(ctx.target, body, ctx.nick)]
    word, _, rest = text[1:].partition(" ")
    name = ALIASES.get(word.lower(), word.lower())
    handler = _HANDLERS.get(name)
    if handler is None:
        return [ShowError(f"Unknown command /{word}; /help lists the commands.")]
    return handler(rest.strip(), ctx)


def _words(rest: str, n: int) -> list[str]:
    """At most ``n`` words; the last keeps its inner spaces (a reason, a message)."""
    return rest.split(None, n - 1) if rest else []


def _join(rest: str, ctx: InputContext) -> list[Action]:
    args = rest.split()
    if not args:
        return _usage("join")
    channels = ",".join(c if is_channel_name(c) else "#" + c for c in args[0].split(",") if c)
    params = (channels, args[1]) if len(args) > 1 else (channels,)
    return [Send(Message("JOIN", params))]


def _part(rest: str, ctx: InputContext) -> list[Action]:
    args = _words(rest, 2)
    channel = _channel_or_current(args, ctx)
    if channel is None:
        return _usage("part")
    reason = " ".join(args)
    return [Send(Message("PART", (channel, reason) if reason else (channel,)))]


def _msg(rest: str, ctx: InputContext, kind: SayKind = "privmsg", name: str = "msg") -> list[Action]:
    args = _words(rest, 2)
    if len(args) < 2:
        return _usage(name)
    return [say(args[0], args[1], ctx.nick, kind)]


def _notice(rest: str, ctx: InputContext) -> list[Action]:
    return _msg(rest, ctx, "notice", "notice")


def _query(rest: str, ctx: InputContext) -> list[Action]:
    args = _words(rest, 2)
    if not args or is_channel_name(args[0]):
        return _usage("query")
    actions: list[Action] = [OpenQuery(args[0])]
    if len(args) > 1:
        actions.append(say(args[0], args[1], ctx.nick))
    return actions


def _me(rest: str, ctx: InputContext) -> list[Action]:
    if not rest:
        return _usage("me")
    if ctx.target is None:
        return [ShowError("/me needs a channel or query buffer.")]
    return [say(ctx.target, rest, ctx.nick, "action")]


def _nick(rest: str, ctx: InputContext) -> list[Action]:
    args = rest.split()
    if len(args) != 1:
        return _usage("nick")
    return [Send(Message("NICK", (args[0],)))]


def _topic(rest: str, ctx: InputContext) -> list[Action]:
    args = _words(rest, 2)
    channel = _channel_or_current(args, ctx)
    if channel is None:
        return _usage("topic")
    if args:
        return [Send(Message("TOPIC", (channel, " ".join(args))))]
    return [Send(Message("TOPIC", (channel,)))]


def _names(rest: str, ctx: InputContext) -> list[Action]:
    args = rest.split()
    channel = _channel_or_current(args, ctx)
    if channel is None:
        return _usage("names")
    return [Send(Message("NAMES", (channel,)))]


def _who(rest: str, ctx: InputContext) -> list[Action]:
    args = rest.split()
    mask = args[0] if args else _channel_or_current([], ctx)
    if mask is None:
        return _usage("who")
    return [Send(Message("WHO", (mask,)))]


def _whois(rest: str, ctx: InputContext) -> list[Action]:
    args = rest.split()
    if not args:
        if ctx.target is not None and not is_channel_name(ctx.target):
            args = [ctx.target]
        else:
            return _usage("whois")
    return [Send(Message("WHOIS", (args[0],)))]


def _away(rest: str, ctx: InputContext) -> list[Action]:
    return [Send(Message("AWAY", (rest,) if rest else ()))]


def _invite(rest: str, ctx: InputContext) -> list[Action]:
    args = rest.split()
    if not args:
        return _usage("invite")
    nick = args.pop(0)
    channel = _channel_or_current(args, ctx)
    if channel is None:
        return _usage("invite")
    return [Send(Message("INVITE", (nick, channel)))]


def _kick(rest: str, ctx: InputContext) -> list[Action]:
    args = _words(rest, 3)
    channel = _channel_or_current(args, ctx)
    if channel is None or not args:
        return _usage("kick")
    nick, _, reason = " ".join(args).partition(" ")
    return [Send(Message("KICK", (channel, nick, reason) if reason else (channel, nick)))]


def _mode(rest: str, ctx: InputContext) -> list[Action]:
    args = rest.split()
    if not args or args[0][0] in "+-":
        target = ctx.target if ctx.target is not None and is_channel_name(ctx.target) else ctx.nick
    else:
        target = args.pop(0)
    # A parameter such as a ban mask never holds a space, so every one is a middle parameter.
    if any(not a or a.startswith(":") for a in args):
        return _usage("mode")
    return [Send(Message("MODE", (target, *args)))]


def _list(rest: str, ctx: InputContext) -> list[Action]:
    args = rest.split()
    return [Send(Message("LIST", tuple(args[:1])))]


def _quit(rest: str, ctx: InputContext) -> list[Action]:
    return [Quit(rest or None)]


def _help(rest: str, ctx: InputContext) -> list[Action]:
    return [ShowHelp(help_lines(rest.split(maxsplit=1)[0] if rest else None))]


def _quote(rest: str, ctx: InputContext) -> list[Action]:
    if not rest:
        return _usage("quote")
    try:
        message = parse_line(rest.encode("utf-8"))
    except ProtocolError as exc:
        return [ShowError(f"Cannot send that line: {exc.message}")]
    return [Send(message)]


def _register(rest: str, ctx: InputContext) -> list[Action]:
    args = rest.split()
    if len(args) == 1:
        return [Register(args[0])]
    if len(args) == 2 and "@" in args[0]:
        return [Register(args[1], email=args[0])]
    if len(args) == 2:
        return [ShowError("/register: the first of two words is an e-mail address; a password is one word.")]
    return _usage("register")


def _identify(rest: str, ctx: InputContext) -> list[Action]:
    args = rest.split()
    if len(args) == 1:
        return [Identify(args[0])]
    if len(args) == 2:
        return [Identify(args[1], account=args[0])]
    return _usage("identify")


def _ctcp(rest: str, ctx: InputContext) -> list[Action]:
    args = _words(rest, 3)
    if len(args) < 2 or "\x01" in rest:
        return _usage("ctcp")
    return [Ctcp(args[0], args[1].upper(), args[2] if len(args) > 2 else "")]


def _ping(rest: str, ctx: InputContext) -> list[Action]:
    args = rest.split()
    if not args and ctx.target is not None and not is_channel_name(ctx.target):
        args = [ctx.target]
    if len(args) != 1:
        return _usage("ping")
    return [Ctcp(args[0], "PING")]


def _version(rest: str, ctx: InputContext) -> list[Action]:
    args = rest.split()
    if not args:
        return [Send(Message("VERSION", ()))]
    return [Ctcp(args[0], "VERSION")]


MODES_PER_LINE = 4
"""Nick modes sent per MODE line by /op and friends: the common ``MODES`` limit (ours and most servers')."""


def _nick_modes(name: str, mode: str) -> Callable[[str, InputContext], list[Action]]:
    def handler(rest: str, ctx: InputContext) -> list[Action]:
        args = rest.split()
        channel = _channel_or_current(args, ctx)
        if channel is None or not args:
            return _usage(name)
        out: list[Action] = []
        for i in range(0, len(args), MODES_PER_LINE):
            nicks = args[i : i + MODES_PER_LINE]
            out.append(Send(Message("MODE", (channel, mode[0] + mode[1] * len(nicks), *nicks))))
        return out

    return handler


def ban_mask(who: str) -> str:
    """A nick as a ban mask (``bob`` -> ``bob!*@*``); a mask stays as it is."""
    return who if any(c in who for c in "!@*?") else f"{who}!*@*"


def _ban(rest: str, ctx: InputContext, name: str = "ban", sign: str = "+") -> list[Action]:
    args = rest.split()
    channel = _channel_or_current(args, ctx)
    if channel is None or len(args) != 1 or args[0].startswith(":"):
        return _usage(name)
    return [Send(Message("MODE", (channel, f"{sign}b", ban_mask(args[0]))))]


def _unban(rest: str, ctx: InputContext) -> list[Action]:
    return _ban(rest, ctx, "unban", "-")


def _kickban(rest: str, ctx: InputContext) -> list[Action]:
    args = _words(rest, 3)
    channel = _channel_or_current(args, ctx)
    if channel is None or not args:
        return _usage("kickban")
    nick, _, reason = " ".join(args).partition(" ")
    if any(c in nick for c in "!@*?"):
        return _usage("kickban")
    kick = (channel, nick, reason) if reason else (channel, nick)
    return [Send(Message("MODE", (channel, "+b", ban_mask(nick)))), Send(Message("KICK", kick))]


def _whowas(rest: str, ctx: InputContext) -> list[Action]:
    args = rest.split()
    if len(args) != 1:
        return _usage("whowas")
    return [Send(Message("WHOWAS", (args[0],)))]


def _ignore(rest: str, ctx: InputContext) -> list[Action]:
    args = rest.split()
    if len(args) > 1:
        return _usage("ignore")
    return [Ignore(args[0] if args else None)]


def _unignore(rest: str, ctx: InputContext) -> list[Action]:
    args = rest.split()
    if len(args) != 1:
        return _usage("unignore")
    return [Ignore(args[0], undo=True)]


def _clear(rest: str, ctx: InputContext) -> list[Action]:
    return [ClearBuffer()]


def _set(rest: str, ctx: InputContext) -> list[Action]:
    name, _, value = rest.partition(" ")
    if not name:
        return [SetOption()]
    return [SetOption(name.lower(), value.strip() if value.strip() else None)]


def _buffer(rest: str, ctx: InputContext) -> list[Action]:
    args = rest.split()
    if len(args) != 1:
        return _usage("buffer")
    if args[0].isdigit():
        return [SwitchBuffer(number=int(args[0]))]
    return [SwitchBuffer(name=args[0])]


def _close(rest: str, ctx: InputContext) -> list[Action]:
    args = rest.split()
    return [CloseBuffer(args[0] if args else None)]


_HANDLERS: dict[str, Callable[[str, InputContext], list[Action]]] = {
    "away": _away,
    "ban": _ban,
    "clear": _clear,
    "deop": _nick_modes("deop", "-o"),
    "devoice": _nick_modes("devoice", "-v"),
    "ignore": _ignore,
    "kickban": _kickban,
    "op": _nick_modes("op", "+o"),
    "set": _set,
    "unban": _unban,
    "unignore": _unignore,
    "voice": _nick_modes("voice", "+v"),
    "whowas": _whowas,
    "buffer": _buffer,
    "close": _close,
    "ctcp": _ctcp,
    "help": _help,
    "identify": _identify,
    "invite": _invite,
    "join": _join,
    "kick": _kick,
    "list": _list,
    "me": _me,
    "mode": _mode,
    "msg": _msg,
    "names": _names,
    "nick": _nick,
    "notice": _notice,
    "part": _part,
    "ping": _ping,
    "query": _query,
    "quit": _quit,
    "quote": _quote,
    "register": _register,
    "topic": _topic,
    "version": _version,
    "who": _who,
    "whois": _whois,
}
assert set(_HANDLERS) == set(COMMANDS), "every command needs help text and a handler"


def command_names() -> Sequence[str]:
    """Names Tab completes after a ``/``."""
    return sorted(COMMANDS)


# -- passwords: what must never be remembered or shown ------------------------------------------------------------

_SERVICE_SECRETS: dict[str, int] = {
    # NickServ command -> how many of its arguments are not secret (-1: all but the last)
    "REGISTER": 0,  # REGISTER <password> [email]: the e-mail is masked too (the order varies between services)
    "IDENTIFY": -1,  # IDENTIFY [account] <password>
    "ID": -1,
    "LOGIN": -1,
    "DROP": -1,
    "GROUP": -1,
    "PASSWD": 0,
    "GHOST": 1,  # GHOST <nick> [password]
    "REGAIN": 1,
    "RECOVER": 1,
    "RELEASE": 1,
}


def mask_service_text(text: str) -> str | None:
    """A message to NickServ with its passwords replaced by ``********``; None when it carries none.

    ``IDENTIFY alice s3cret`` -> ``IDENTIFY alice ********``; ``SET PASSWORD x`` -> ``SET PASSWORD ********``.
    """
    words = text.split()
    if not words:
        return None
    verb = words[0].upper()
    if verb == "SET" and len(words) > 1 and words[1].upper() == "PASSWORD":
        kept, args, public = words[:2], words[2:], 0
    elif verb in _SERVICE_SECRETS:
        kept, args, public = words[:1], words[1:], _SERVICE_SECRETS[verb]
    else:
        return None
    if public < 0:
        public = max(0, len(args) - 1)
    if len(args) <= public:
        return None
    return " ".join([*kept, *args[:public], SECRET_MASK])


def _is_nickserv(name: str | None) -> bool:
    return name is not None and name.lower() == NICKSERV.lower()


def _raw_is_secret(rest: str) -> bool:
    try:
        message = parse_line(rest.encode("utf-8"))
    except ProtocolError:
        return True  # cannot tell: better forget one line too many
    command = message.command.upper()
    if command in ("PASS", "AUTHENTICATE", "OPER", "REGISTER"):
        return True
    if command in ("NS", "NICKSERV"):
        return mask_service_text(" ".join(message.params)) is not None
    if command in ("PRIVMSG", "NOTICE") and len(message.params) > 1 and _is_nickserv(message.params[0]):
        return mask_service_text(message.params[1]) is not None
    return False


def is_secret(text: str, ctx: InputContext) -> bool:
    """Whether a typed line carries a password (``/register``, ``/identify``, ``/msg NickServ IDENTIFY …``,
    ``/quote PASS …``, or ``IDENTIFY …`` typed in a query with NickServ): the UI then keeps it out of the input
    history."""
    text = text.strip()
    if text.startswith("//") or not text.startswith("/"):
        body = text[1:] if text.startswith("//") else text
        return _is_nickserv(ctx.target) and mask_service_text(body) is not None
    word, _, rest = text[1:].partition(" ")
    name = ALIASES.get(word.lower(), word.lower())
    if name in ("register", "identify"):
        return True
    if name in ("msg", "query", "notice"):
        args = _words(rest.strip(), 2)
        return len(args) == 2 and _is_nickserv(args[0]) and mask_service_text(args[1]) is not None
    if name == "quote":
        return bool(rest.strip()) and _raw_is_secret(rest.strip())
    return False


def secret_start(text: str) -> int | None:
    """Where the arguments of ``/register`` or ``/identify`` begin in a half-typed line (the UI shows them as
    ``*``); None for any other line."""
    stripped = text.lstrip()
    if not stripped.startswith("/") or stripped.startswith("//"):
        return None
    word, sep, _ = stripped[1:].partition(" ")
    if not sep or ALIASES.get(word.lower(), word.lower()) not in ("register", "identify"):
        return None
    return len(text) - len(stripped) + 1 + len(word) + 1
