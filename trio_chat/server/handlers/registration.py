"""Connection registration: CAP, PASS, NICK, USER; and PING, PONG, QUIT."""

from __future__ import annotations

import hmac
import logging

from ...protocol import caps
from ...protocol import numerics as N
from ...protocol.message import Message
from ...protocol.names import is_valid_nick, is_valid_username
from ..context import Context
from . import info, metadata

log = logging.getLogger("trio_chat.server")


def handle_cap(ctx: Context, msg: Message) -> None:
    user = ctx.user
    sub = msg.params[0].upper()
    if sub == "LS":
        version = 301
        if len(msg.params) > 1 and msg.params[1].isdigit():
            version = int(msg.params[1])
        user.cap_version = max(user.cap_version, version)
        if not user.registered:
            user.cap_negotiating = True
        if version >= 302:
            user.set_caps(user.caps | caps.STICKY)
        config = ctx.config
        metadata_limits = caps.metadata_value(
            max_subs=config.metadata_max_subs,
            max_keys=config.metadata_max_keys,
            max_value_bytes=config.metadata_max_value_bytes,
        )
        tokens = caps.ls_tokens(
            version,
            {
                caps.MULTILINE: caps.multiline_value(config.multiline_max_bytes, config.multiline_max_lines),
                caps.METADATA: metadata_limits,
            },
        )
        if not ctx.config.registration_before_connect:
            tokens = [caps.ACCOUNT_REGISTRATION if t.startswith(caps.ACCOUNT_REGISTRATION) else t for t in tokens]
        ctx.server_message("CAP", user.nick, "LS", " ".join(tokens))
    elif sub == "LIST":
        ctx.server_message("CAP", user.nick, "LIST", " ".join(sorted(user.caps)))
    elif sub == "REQ":
        if len(msg.params) < 2:
            ctx.need_more_params("CAP")
            return
        if not user.registered:
            user.cap_negotiating = True
        requested = msg.params[1]
        new = set(user.caps)
        ok = True
        for token in requested.split():
            name = token.removeprefix("-")
            if name not in caps.SUPPORTED or (token.startswith("-") and name in caps.STICKY):
                ok = False
                break
            if token.startswith("-"):
                new.discard(name)
            else:
                new.add(name)
        if ok:
            user.set_caps(new)
        ctx.server_message("CAP", user.nick, "ACK" if ok else "NAK", requested)
    elif sub == "END":
        if not user.registered and user.cap_negotiating:
            user.cap_negotiating = False
            try_register(ctx)
    else:
        ctx.reply(N.ERR_INVALIDCAPCMD, msg.params[0], "Invalid CAP command")


def handle_pass(ctx: Context, msg: Message) -> None:
    if ctx.user.registered:
        ctx.reply(N.ERR_ALREADYREGISTERED, "You may not reregister")
        return
    ctx.user.password = msg.params[0]


def handle_nick(ctx: Context, msg: Message) -> None:
    user = ctx.user
    if not msg.params or not msg.params[0]:
        ctx.reply(N.ERR_NONICKNAMEGIVEN, "No nickname given")
        return
    nick = msg.params[0]
    if not is_valid_nick(nick, ctx.config.nicklen):
        ctx.reply(N.ERR_ERRONEUSNICKNAME, nick, "Erroneous nickname")
        return
    if ctx.network.nick_in_use(nick, user):
        ctx.reply(N.ERR_NICKNAMEINUSE, nick, "Nickname is already in use")
        if not user.registered:
            user.refused_nick = nick
        return
    if not user.registered:
        user.nick = nick
        user.refused_nick = None
        try_register(ctx)
    elif nick != user.nick:
        log.info("[%d] %s is now known as %s", user.id, user.nick, nick)
        ctx.network.change_nick(user, nick)
        ctx.network.claim_nick(user)


def handle_user(ctx: Context, msg: Message) -> None:
    user = ctx.user
    if user.registered or user.username:
        ctx.reply(N.ERR_ALREADYREGISTERED, "You may not reregister")
        return
    username, realname = msg.params[0], msg.params[3]
    if not is_valid_username(username) or not realname:
        ctx.need_more_params("USER")
        return
    # No ident lookup, so the user name is marked unverified with "~", as servers do.
    user.username = "~" + username[: ctx.config.userlen - 1]
    user.realname = realname[: ctx.config.namelen]
    try_register(ctx)


def try_register(ctx: Context) -> None:
    """Complete registration once NICK and USER are in and CAP negotiation (if any) has ended."""
    user = ctx.user
    if user.registered or user.nick == "*" or not user.username or user.cap_negotiating:
        return
    if ctx.network.nick_in_use(user.nick, user):
        # Someone registered this nick while we were still negotiating: the client must pick another.
        ctx.reply(N.ERR_NICKNAMEINUSE, user.nick, "Nickname is already in use")
        return
    expected = ctx.config.password
    if expected is not None and not hmac.compare_digest(
        (user.password or "").encode("utf-8", "surrogateescape"), expected.encode()
    ):
        log.info("[%d] bad password from %s", user.id, user.host)
        ctx.reply(N.ERR_PASSWDMISMATCH, "Password incorrect")
        ctx.quit("Bad password")
        return
    user.password = None
    kline = ctx.network.kline_for(user)
    if kline is not None:
        log.info("[%d] refused %s@%s: K-lined (%s)", user.id, user.username, user.host, kline.mask)
        ctx.reply(N.ERR_YOUREBANNEDCREEP, f"You are banned from this server: {kline.reason}")
        ctx.quit(f"K-Lined: {kline.reason}")
        return
    cluster = ctx.network.cluster
    if cluster is not None:
        # With several nodes the nick is the network's: the log decides who gets it, then
        # complete_registration runs (or 433 comes back).
        ctx.defer(lambda: cluster.introduce(user))
        return
    complete_registration(ctx)


def complete_registration(ctx: Context) -> None:
    """The user is on the network: registered, welcomed, told if their nick needs a login."""
    user = ctx.user
    ctx.network.register(user)
    log.info("[%d] registered as %s", user.id, user.source)
    welcome(ctx)
    metadata.after_registration(ctx)
    ctx.network.claim_nick(user)


def welcome(ctx: Context) -> None:
    """The welcome burst: 001-004, ISUPPORT, LUSERS, MOTD."""
    cfg = ctx.config
    user = ctx.user
    ctx.reply(N.RPL_WELCOME, f"Welcome to the {cfg.network_name} IRC Network {user.source}")
    ctx.reply(N.RPL_YOURHOST, f"Your host is {cfg.server_name}, running version {info.VERSION}")
    ctx.reply(N.RPL_CREATED, f"This server was created {info.created_text(ctx)}")
    ctx.reply(N.RPL_MYINFO, cfg.server_name, info.VERSION, info.USER_MODES, info.CHANNEL_MODES, info.PARAM_MODES)
    info.send_isupport(ctx)
    info.handle_lusers(ctx, Message("LUSERS"))
    info.handle_motd(ctx, Message("MOTD"))


def handle_ping(ctx: Context, msg: Message) -> None:
    if not msg.params or not msg.params[0]:
        ctx.reply(N.ERR_NOORIGIN, "No origin specified")
        return
    ctx.server_message("PONG", ctx.config.server_name, msg.params[0])


def handle_pong(ctx: Context, msg: Message) -> None:
    """Any line counts as activity for the keepalive, so a PONG needs nothing more."""


def handle_quit(ctx: Context, msg: Message) -> None:
    reason = msg.params[0] if msg.params and msg.params[0] else "Client quit"
    ctx.quit(f"Quit: {reason}")
