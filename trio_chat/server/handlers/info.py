"""Queries about the server and its users: ISUPPORT, LUSERS, MOTD, VERSION, TIME, INFO, ADMIN, LINKS, WHO,
WHOIS, WHOWAS, ISON, USERHOST."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from ...protocol import caps
from ...protocol import numerics as N
from ...protocol.casemap import CASEMAPPING, casefold
from ...protocol.isupport import isupport_lines
from ...protocol.message import Message
from ...protocol.names import CHANTYPES, is_channel_name, mask_matches
from ..config import ServerConfig
from ..context import VERSION, Context
from ..state import Channel, User, status_prefix
from . import metadata

USER_MODES = "Biow"
CHANNEL_MODES = "CIbeiklmnostv"
PARAM_MODES = "Ibeklov"

__all__ = ["VERSION"]


@cache
def isupport_tokens(config: ServerConfig) -> list[list[str]]:
    """The 005 lines' tokens, built once per configuration."""
    t = config.max_targets
    tokens: dict[str, str | int | None] = {
        "AWAYLEN": config.awaylen,
        "BOT": "B",
        "CASEMAPPING": CASEMAPPING,
        "CHANLIMIT": f"{CHANTYPES}:{config.chanlimit}",
        "CHANMODES": "beI,k,l,Cimnst",
        "CHATHISTORY": config.chathistory_limit,
        "CHANNELLEN": config.channellen,
        "CHANTYPES": CHANTYPES,
        "ELIST": "CMNTU",
        "EXCEPTS": "e",
        "EXTBAN": ",m",
        "HOSTLEN": 64,
        "INVEX": "I",
        "KICKLEN": config.kicklen,
        "KNOCK": None,
        "MAXLIST": f"b:{config.maxlist},e:{config.maxlist},I:{config.maxlist}",
        "MAXTARGETS": t,
        "MODES": config.modes_per_command,
        "MONITOR": config.monitor_limit,
        "MSGREFTYPES": "msgid,timestamp",
        "NAMELEN": config.namelen,
        "NETWORK": config.network_name,
        "NICKLEN": config.nicklen,
        "PREFIX": "(ov)@+",
        "SAFELIST": None,
        "STATUSMSG": "@+",
        "TARGMAX": f"JOIN:,KICK:{t},NAMES:{t},NOTICE:{t},PART:,PRIVMSG:{t},TAGMSG:{t},WHOIS:1,ISON:,USERHOST:5",
        "TOPICLEN": config.topiclen,
        "USERLEN": config.userlen,
        "UTF8ONLY": None,
        "WHOX": None,
    }
    return isupport_lines(tokens)


def send_isupport(ctx: Context) -> None:
    for line in isupport_tokens(ctx.config):
        ctx.reply(N.RPL_ISUPPORT, *line, "are supported by this server")


def created_text(ctx: Context) -> str:
    return datetime.fromtimestamp(ctx.network.started, UTC).strftime("%a %b %d %Y at %H:%M:%S UTC")


def handle_lusers(ctx: Context, msg: Message) -> None:
    net = ctx.network
    users = len(net.users)
    invisible = sum(1 for u in net.users.values() if "i" in u.modes)
    opers = sum(1 for u in net.users.values() if u.oper)
    unknown = len(net.connections) - users
    ctx.reply(N.RPL_LUSERCLIENT, f"There are {users - invisible} users and {invisible} invisible on 1 servers")
    ctx.reply(N.RPL_LUSEROP, str(opers), "operator(s) online")
    ctx.reply(N.RPL_LUSERUNKNOWN, str(unknown), "unknown connection(s)")
    ctx.reply(N.RPL_LUSERCHANNELS, str(len(net.channels)), "channels formed")
    ctx.reply(N.RPL_LUSERME, f"I have {users} clients and 0 servers")
    ctx.reply(N.RPL_LOCALUSERS, str(users), str(net.max_users), f"Current local users {users}, max {net.max_users}")
    ctx.reply(N.RPL_GLOBALUSERS, str(users), str(net.max_users), f"Current global users {users}, max {net.max_users}")


def handle_motd(ctx: Context, msg: Message) -> None:
    if not _check_server_param(ctx, msg):
        return
    lines = ctx.network.motd
    if lines is None:
        ctx.reply(N.ERR_NOMOTD, "MOTD File is missing")
        return
    ctx.reply(N.RPL_MOTDSTART, f"- {ctx.config.server_name} Message of the day - ")
    for line in lines:
        ctx.reply(N.RPL_MOTD, f"- {line}")
    ctx.reply(N.RPL_ENDOFMOTD, "End of /MOTD command.")


def _check_server_param(ctx: Context, msg: Message) -> bool:
    """Commands that take an optional server name: only ours exists (402 otherwise)."""
    if msg.params and not mask_matches(msg.params[0], ctx.config.server_name):
        ctx.reply(N.ERR_NOSUCHSERVER, msg.params[0], "No such server")
        return False
    return True


def handle_version(ctx: Context, msg: Message) -> None:
    if _check_server_param(ctx, msg):
        ctx.reply(N.RPL_VERSION, VERSION, ctx.config.server_name, "trio-chat: an IRC server on trio")
        send_isupport(ctx)


def handle_time(ctx: Context, msg: Message) -> None:
    if _check_server_param(ctx, msg):
        now = datetime.fromtimestamp(ctx.network.clock(), UTC)
        ctx.reply(N.RPL_TIME, ctx.config.server_name, now.strftime("%A %B %d %Y -- %H:%M:%S +00:00"))


def handle_info(ctx: Context, msg: Message) -> None:
    if _check_server_param(ctx, msg):
        for line in (
            f"{VERSION}: a multi-user IRC chat server on trio's structured concurrency.",
            "Speaks the IRC client protocol with IRCv3 capabilities; see the project README.",
            f"Running since {created_text(ctx)}.",
        ):
            ctx.reply(N.RPL_INFO, line)
        ctx.reply(N.RPL_ENDOFINFO, "End of INFO list")


def handle_admin(ctx: Context, msg: Message) -> None:
    if _check_server_param(ctx, msg):
        ctx.reply(N.RPL_ADMINME, ctx.config.server_name, "Administrative info")
        ctx.reply(N.RPL_ADMINLOC1, f"{ctx.config.network_name} chat server")
        ctx.reply(N.RPL_ADMINLOC2, "Run with trio-chat serve")
        ctx.reply(N.RPL_ADMINEMAIL, f"admin@{ctx.config.server_name}")


def handle_links(ctx: Context, msg: Message) -> None:
    """``LINKS [[server] mask]``: the servers of the network whose name matches ``mask``: this one (364), then
    365.  A ``server`` to ask that is not this one gets 402."""
    if len(msg.params) > 1 and not mask_matches(msg.params[0], ctx.config.server_name):
        ctx.reply(N.ERR_NOSUCHSERVER, msg.params[0], "No such server")
        return
    mask = msg.params[-1] if msg.params and msg.params[-1] else "*"
    name = ctx.config.server_name
    if mask_matches(mask, name):
        ctx.reply(N.RPL_LINKS, name, name, f"0 {ctx.config.server_info}")
    ctx.reply(N.RPL_ENDOFLINKS, mask, "End of /LINKS list")


# ---- users --------------------------------------------------------------------------------------------------


WHOX_FIELDS = "tcuihsnfdlaor"
"""The WHOX fields we answer, in the order their values appear in 354 (modern.ircdocs.horse, IRCv3 whox)."""
HIDDEN_IP = "255.255.255.255"
"""WHOX ``i`` for a user whose address is not an IP address (a host name): the placeholder the spec gives."""


@dataclass(frozen=True, slots=True)
class Whox:
    """A WHOX request (``WHO <mask> %<fields>[,<token>]``): the fields asked for, in reply order, and the token."""

    fields: str
    token: str

    @classmethod
    def parse(cls, spec: str) -> Whox:
        """``spec`` is what follows the ``%``.  Letters that are no WHOX field are ignored, as ircu and ergo do
        (the spec says a server MUST ignore non-standard fields it does not support); a token that is not one to
        three digits, or none with ``t`` asked for, is shown as ``0``."""
        letters, _, token = spec.partition(",")
        fields = "".join(f for f in WHOX_FIELDS if f in letters)
        if not (token.isascii() and token.isdigit() and len(token) <= 3):
            token = "0"
        return cls(fields, token)


def _who_flags(user: User, status: str, *, multi: bool) -> str:
    flags = "G" if user.away else "H"
    if user.oper:
        flags += "*"
    if "B" in user.modes:
        flags += "B"
    return flags + status_prefix(status, all_of_them=multi)


def _who_line(ctx: Context, channel: str, user: User, status: str, whox: Whox | None = None) -> None:
    flags = _who_flags(user, status, multi=ctx.user.has(caps.MULTI_PREFIX))
    if whox is not None:
        ctx.reply(
            N.RPL_WHOSPCRPL, *(_whox_field(ctx, f, channel, user, flags=flags, token=whox.token) for f in whox.fields)
        )
        return
    ctx.reply(
        N.RPL_WHOREPLY,
        channel,
        user.username,
        user.host,
        ctx.config.server_name,
        user.nick,
        flags,
        f"0 {user.realname}",
    )


def _whox_field(ctx: Context, field: str, channel: str, user: User, *, flags: str, token: str) -> str:
    if field == "t":
        return token
    if field == "c":
        return channel
    if field == "u":
        return user.username
    if field == "i":
        return user.host if _is_ip(user.host) else HIDDEN_IP
    if field == "h":
        return user.host
    if field == "s":
        return ctx.config.server_name
    if field == "n":
        return user.nick
    if field == "f":
        return flags
    if field == "d":
        return "0"  # hop count: one server
    if field == "l":
        return str(max(0, int(ctx.network.clock() - user.last_active)))
    if field == "a":
        return user.account or "0"
    if field == "o":
        return "n/a"  # channel op level: no channel has them here
    return user.realname  # "r"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _visible(viewer: User, user: User) -> bool:
    """Invisible (+i) users show in mask queries only to those sharing a channel with them."""
    if "i" not in user.modes or user is viewer:
        return True
    return any(ch in viewer.channels for ch in user.channels)


def handle_who(ctx: Context, msg: Message) -> None:
    mask = msg.params[0] if msg.params else "*"
    # "o" (operators only) and other flags come before the "%" of a WHOX request.
    flags, percent, spec = msg.params[1].partition("%") if len(msg.params) > 1 else ("", "", "")
    only_opers = "o" in flags
    whox = Whox.parse(spec) if percent else None
    if is_channel_name(mask):
        channel = ctx.network.find_channel(mask)
        if channel is not None and (ctx.user in channel.members or "s" not in channel.modes):
            for member, status in channel.members.items():
                if (only_opers and not member.oper) or (
                    ctx.user not in channel.members and not _visible(ctx.user, member)
                ):
                    continue
                _who_line(ctx, channel.name, member, status, whox)
    else:
        folded = casefold(mask)
        exact = ctx.network.users.get(folded)
        candidates = [exact] if exact is not None else list(ctx.network.users.values())
        for user in candidates:
            if only_opers and not user.oper:
                continue
            if exact is None:
                if not _visible(ctx.user, user):
                    continue
                if not (
                    mask in ("*", "0")
                    or mask_matches(mask, user.nick)
                    or mask_matches(mask, user.host)
                    or mask_matches(mask, user.realname)
                    or mask_matches(mask, user.username)
                ):
                    continue
            # Any channel of theirs the asker may know about: a secret one only if the asker is in it too.
            first = next((c for c in user.channels.values() if "s" not in c.modes or ctx.user in c.members), None)
            status = first.members.get(user, "") if first else ""
            _who_line(ctx, first.name if first else "*", user, status, whox)
    ctx.reply(N.RPL_ENDOFWHO, mask, "End of WHO list")


def _channel_list(viewer: User, user: User, *, multi: bool) -> list[str]:
    return [
        status_prefix(ch.members[user], all_of_them=multi) + ch.name
        for ch in user.channels.values()
        if "s" not in ch.modes or viewer in ch.members
    ]


def handle_whois(ctx: Context, msg: Message) -> None:
    nick = msg.params[-1].split(",")[0]
    target = ctx.network.find_user(nick)
    if target is None:
        ctx.reply(N.ERR_NOSUCHNICK, nick, "No such nick/channel")
        ctx.reply(N.RPL_ENDOFWHOIS, nick, "End of /WHOIS list")
        return
    ctx.reply(N.RPL_WHOISUSER, target.nick, target.username, target.host, "*", target.realname)
    chans = _channel_list(ctx.user, target, multi=ctx.user.has(caps.MULTI_PREFIX))
    for i in range(0, len(chans), 20):
        ctx.reply(N.RPL_WHOISCHANNELS, target.nick, " ".join(chans[i : i + 20]))
    ctx.reply(N.RPL_WHOISSERVER, target.nick, ctx.config.server_name, ctx.config.network_name)
    if target.oper:
        ctx.reply(N.RPL_WHOISOPERATOR, target.nick, "is an IRC operator")
    if "B" in target.modes:
        ctx.reply(N.RPL_WHOISBOT, target.nick, f"is a bot on {ctx.config.network_name}")
    if target.secure:
        ctx.reply(N.RPL_WHOISSECURE, target.nick, "is using a secure connection")
    if target.account is not None:
        ctx.reply(N.RPL_WHOISACCOUNT, target.nick, target.account, "is logged in as")
    if target.away:
        ctx.reply(N.RPL_AWAY, target.nick, target.away)
    metadata.whois_lines(ctx, target)
    clock = ctx.network.clock()
    ctx.reply(
        N.RPL_WHOISIDLE,
        target.nick,
        str(int(clock - target.last_active)),
        str(int(target.connected_at)),
        "seconds idle, signon time",
    )
    ctx.reply(N.RPL_ENDOFWHOIS, target.nick, "End of /WHOIS list")


def handle_whowas(ctx: Context, msg: Message) -> None:
    nick = msg.params[0]
    count = int(msg.params[1]) if len(msg.params) > 1 and msg.params[1].isdigit() else 0
    folded = casefold(nick)
    found = 0
    for entry in ctx.network.whowas:
        if casefold(entry.nick) != folded:
            continue
        ctx.reply(N.RPL_WHOWASUSER, entry.nick, entry.username, entry.host, "*", entry.realname)
        when = datetime.fromtimestamp(entry.time, UTC).strftime("%a %b %d %H:%M:%S %Y")
        ctx.reply(N.RPL_WHOISSERVER, entry.nick, ctx.config.server_name, when)
        found += 1
        if count > 0 and found >= count:
            break
    if not found:
        ctx.reply(N.ERR_WASNOSUCHNICK, nick, "There was no such nickname")
    ctx.reply(N.RPL_ENDOFWHOWAS, nick, "End of WHOWAS")


def handle_ison(ctx: Context, msg: Message) -> None:
    present = []
    for word in " ".join(msg.params).split():
        user = ctx.network.find_user(word)
        if user is not None:
            present.append(user.nick)
    ctx.reply(N.RPL_ISON, " ".join(present))


def handle_userhost(ctx: Context, msg: Message) -> None:
    replies = []
    for nick in msg.params[:5]:
        user = ctx.network.find_user(nick)
        if user is not None:
            star = "*" if user.oper else ""
            away = "-" if user.away else "+"
            replies.append(f"{user.nick}{star}={away}{user.username}@{user.host}")
    ctx.reply(N.RPL_USERHOST, " ".join(replies))


def names_lines(ctx: Context, channel: Channel, *, end: bool = True) -> None:
    """RPL_NAMREPLY lines for ``channel``, split to fit 512 bytes, then (with ``end``) RPL_ENDOFNAMES."""
    viewer = ctx.user
    multi = viewer.has(caps.MULTI_PREFIX)
    full = viewer.has(caps.USERHOST_IN_NAMES)
    symbol = "@" if "s" in channel.modes else "="
    inside = viewer in channel.members
    entries = [
        status_prefix(status, all_of_them=multi) + (member.source if full else member.nick)
        for member, status in channel.members.items()
        if inside or _visible(viewer, member)
    ]
    # ":server 353 nick = #chan :" plus CRLF; keep a margin for the server name and nick.
    budget = 510 - len(ctx.config.server_name) - len(viewer.nick) - len(channel.name) - 16
    chunk: list[str] = []
    size = 0
    for entry in entries:
        if chunk and size + len(entry) + 1 > budget:
            ctx.reply(N.RPL_NAMREPLY, symbol, channel.name, " ".join(chunk))
            chunk, size = [], 0
        chunk.append(entry)
        size += len(entry) + 1
    if chunk:
        ctx.reply(N.RPL_NAMREPLY, symbol, channel.name, " ".join(chunk))
    if end:
        ctx.reply(N.RPL_ENDOFNAMES, channel.name, "End of /NAMES list")
