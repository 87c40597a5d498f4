"""Operators: OPER, KILL, KLINE, UNKLINE, WALLOPS.  Every operator action is logged."""

from __future__ import annotations

import logging

from ...protocol import numerics as N
from ...protocol.casemap import casefold
from ...protocol.message import Message
from ..context import Context
from ..passwords import verify_password

log = logging.getLogger("trio_chat.server.oper")


def handle_oper(ctx: Context, msg: Message) -> None:
    """``OPER <name> <password>``; an operator tied to an account (``account:NAME`` in the config) needs no
    password, only to be logged in to that account: ``OPER <name>`` (a password given is ignored)."""
    user = ctx.user
    name = msg.params[0]
    password = msg.params[1] if len(msg.params) > 1 else None
    stored = dict(ctx.config.opers).get(name)
    if stored is not None and stored.startswith("account:"):
        account = stored.removeprefix("account:")
        ok = user.account is not None and casefold(user.account) == casefold(account)
    elif password is None:
        ctx.need_more_params("OPER")
        return
    else:
        ok = stored is not None and verify_password(password, stored)
    # The same answer for an unknown name and a wrong password: which names exist is not told.
    if not ok:
        log.warning("[%d] failed OPER %s by %s", user.id, name, user.source)
        ctx.reply(N.ERR_PASSWDMISMATCH, "Password incorrect")
        return
    user.oper = name
    user.modes |= {"o"}
    if ctx.network.cluster is not None:
        ctx.network.cluster.oper_changed(user)
    log.warning("[%d] %s is now operator %s", user.id, user.source, name)
    ctx.reply(N.RPL_YOUREOPER, "You are now an IRC operator")
    ctx.send(Message("MODE", (user.nick, "+o"), user.source))


def _is_oper(ctx: Context) -> bool:
    if ctx.user.oper is None:
        ctx.reply(N.ERR_NOPRIVILEGES, "Permission Denied- You're not an IRC operator")
        return False
    return True


def handle_kill(ctx: Context, msg: Message) -> None:
    if not _is_oper(ctx):
        return
    target = ctx.network.find_user(msg.params[0])
    if target is None:
        ctx.reply(N.ERR_NOSUCHNICK, msg.params[0], "No such nick/channel")
        return
    reason = msg.params[1] if len(msg.params) > 1 and msg.params[1] else "No reason given"
    log.warning("[%d] KILL %s by %s: %s", ctx.user.id, target.source, ctx.user.oper, reason)
    ctx.network.kill(target, f"Killed ({ctx.user.nick} ({reason}))")


def handle_wallops(ctx: Context, msg: Message) -> None:
    """``WALLOPS :text`` (operators): to every user with user mode ``+w``, the sender included if they have it."""
    if not _is_oper(ctx):
        return
    text = msg.params[0] if msg.params else ""
    if not text:
        ctx.need_more_params("WALLOPS")
        return
    network = ctx.network
    log.warning("[%d] WALLOPS by %s", ctx.user.id, ctx.user.oper)
    relay = network.relay(Message("WALLOPS", (text,), ctx.user.source))
    network.deliver_all([u for u in network.users.values() if "w" in u.modes], relay)


def _kline_mask(text: str) -> str:
    """``host`` -> ``*@host``; ``user@host`` stays."""
    return text if "@" in text else f"*@{text}"


def handle_kline(ctx: Context, msg: Message) -> None:
    if not _is_oper(ctx):
        return
    mask = _kline_mask(msg.params[0])
    reason = msg.params[1] if len(msg.params) > 1 and msg.params[1] else "No reason given"
    if mask.strip("*@?.") == "":
        ctx.server_message("NOTICE", ctx.user.nick, f"Refusing K-Line {mask}: it would match everyone")
        return
    hit = ctx.network.add_kline(mask, reason, ctx.user.nick)
    log.warning("[%d] KLINE %s by %s: %s (%d disconnected)", ctx.user.id, mask, ctx.user.oper, reason, hit)
    ctx.server_message("NOTICE", ctx.user.nick, f"Added K-Line for {mask} ({reason}); {hit} user(s) disconnected")


def handle_unkline(ctx: Context, msg: Message) -> None:
    if not _is_oper(ctx):
        return
    mask = _kline_mask(msg.params[0])
    if ctx.network.remove_kline(mask):
        log.warning("[%d] UNKLINE %s by %s", ctx.user.id, mask, ctx.user.oper)
        ctx.server_message("NOTICE", ctx.user.nick, f"Removed K-Line for {mask}")
    else:
        ctx.server_message("NOTICE", ctx.user.nick, f"No K-Line for {mask}")


def handle_stats(ctx: Context, msg: Message) -> None:
    """``STATS u``: uptime, for anyone.  ``STATS z``: the server's internals (tasks, memory), and ``STATS n``: the
    nodes of the network, for operators."""
    letter = msg.params[0][:1] if msg.params and msg.params[0] else "*"
    network = ctx.network
    if letter == "u":
        up = int(network.clock() - network.started)
        days, rest = divmod(up, 86400)
        ctx.reply(N.RPL_STATSUPTIME, f"Server Up {days} days {rest // 3600}:{rest % 3600 // 60:02d}:{rest % 60:02d}")
    elif letter == "z":
        if not _is_oper(ctx):
            return
        for name, value in network.internals().items():
            ctx.reply(N.RPL_STATSDEBUG, letter, f"{name} {value}")
    elif letter == "n":
        # The nodes of the network (several servers over Redis), for operators.
        if not _is_oper(ctx):
            return
        cluster = network.cluster
        lines = cluster.describe() if cluster is not None else ["a single node: no --redis"]
        for line in lines:
            ctx.reply(N.RPL_STATSDEBUG, letter, line)
    ctx.reply(N.RPL_ENDOFSTATS, letter, "End of /STATS report")
