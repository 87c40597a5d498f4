"""ChanServ, built in: a pseudo-user that answers ``PRIVMSG ChanServ :…`` (and the ``CS``/``CHANSERV``
commands) with NOTICEs from ``ChanServ!ChanServ@services.``, worded as ergo words them.

Commands: REGISTER, INFO, DROP (also UNREGISTER), AMODE, OP, HELP.  A registered channel has a founder (the
account that registered it) and a list of accounts the founder gave ``AMODE +o``: those get operator status
when they join it, and nobody else does by walking into it empty.  It is persistent: it keeps its topic, modes,
bans and history across restarts, and retention never drops it (see ``Network.drop_channel``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from email.utils import formatdate

from ...protocol import numerics as N
from ...protocol.casemap import casefold
from ...protocol.message import Message
from ...protocol.names import is_valid_channel
from ..context import Context
from ..state import CHANSERV_SOURCE
from . import services

log = logging.getLogger("trio_chat.server.chanserv")

HELP: dict[str, tuple[str, str]] = {
    "REGISTER": (
        "REGISTER #channel",
        "REGISTER lets you own the given channel. If you rejoin this channel, you'll be given operator "
        "privileges on it. Modes set on the channel, its topic, bans and history will also be remembered. "
        "You must be logged in and an operator of the channel.",
    ),
    "INFO": ("INFO [#channel]", "INFO displays info about a registered channel (without one: your channels)."),
    "DROP": (
        "DROP #channel",
        "DROP deletes a channel registration, allowing someone else to claim it. Only its founder can do it.",
    ),
    "AMODE": (
        "AMODE #channel [+o|-o account]",
        "AMODE lists or modifies the accounts that get the +o operator mode every time they join the channel. "
        "Users are referenced by their account names, not their nicknames. Only the founder can change them.",
    ),
    "OP": (
        "OP #channel [nickname]",
        "OP makes the given nickname, or yourself, a channel operator. You can only use this command if you're "
        "the founder (for anyone) or in the AMODEs of the channel (for yourself).",
    ),
    "HELP": ("HELP [command]", "Shows the commands, or how to use one."),
}


def handle_cs(ctx: Context, msg: Message) -> None:
    """``CS <command> [arguments]`` (also ``CHANSERV``): as a PRIVMSG to ChanServ."""
    handle_text(ctx, " ".join(msg.params))


def handle_text(ctx: Context, text: str) -> None:
    """A message to ChanServ."""
    services.run_command(ctx, text, _COMMANDS, _notice, "CS")


def _notice(ctx: Context, text: str) -> None:
    ctx.network.service_notice(ctx.user, text, source=CHANSERV_SOURCE)


def _invalid(ctx: Context, command: str) -> None:
    _notice(ctx, f"Invalid parameters. For usage, do /msg ChanServ HELP {command}")


def _account_name(ctx: Context, folded: str) -> str:
    """An account as registered, from its folded name (the folded name if it no longer exists)."""
    record = ctx.network.accounts.get(folded)
    return record.name if record is not None else folded


# ---- the commands ---------------------------------------------------------------------------------------------


def _register(ctx: Context, args: list[str]) -> None:
    user, network = ctx.user, ctx.network
    if not args:
        _invalid(ctx, "REGISTER")
        return
    if user.account is None:
        _notice(ctx, "You're not logged into an account")
        return
    channel = network.find_channel(args[0])
    if channel is None:
        _notice(ctx, "No such channel")
        return
    if not channel.is_op(user):
        _notice(ctx, "You must be an oper on the channel to register it")
        return
    if channel.founder is not None:
        _notice(ctx, "Channel is already registered")
        return
    network.register_channel(channel, user.account)
    log.info("[%d] %s registered channel %s to account %s", user.id, user.source, channel.name, user.account)
    _notice(ctx, f"Channel {channel.name} successfully registered")


def _info(ctx: Context, args: list[str]) -> None:
    network, user = ctx.network, ctx.user
    if not args:
        if user.account is None:
            _notice(ctx, "You're not logged into an account")
            return
        mine = sorted(c.name for c in network.channels.values() if c.is_founder(user.account))
        _notice(ctx, f"Your account {user.account} has {len(mine)} registered channel(s).")
        for name in mine:
            _notice(ctx, f"- {name}")
        return
    if not is_valid_channel(args[0], ctx.config.channellen):
        _notice(ctx, "Invalid channel name")
        return
    channel = network.find_channel(args[0])
    if channel is None or channel.founder is None:
        _notice(ctx, f"Channel {casefold(args[0])} is not registered")
        return
    _notice(ctx, f"Channel {channel.name} is registered")
    _notice(ctx, f"Founder: {channel.founder}")
    _notice(ctx, f"Registered at: {formatdate(channel.registered, usegmt=True)}")


def _drop(ctx: Context, args: list[str]) -> None:
    user, network = ctx.user, ctx.network
    if not args:
        _invalid(ctx, "DROP")
        return
    channel = network.find_channel(args[0])
    if channel is None:
        _notice(ctx, "No such channel")
        return
    if channel.founder is None:
        _notice(ctx, "That channel is not registered")
        return
    if not channel.is_founder(user.account):
        _notice(ctx, "Insufficient privileges")
        return
    network.unregister_channel(channel)
    log.info("[%d] %s unregistered channel %s", user.id, user.source, channel.name)
    _notice(ctx, f"Channel {channel.name} is now unregistered")


def _amode(ctx: Context, args: list[str]) -> None:
    user, network = ctx.user, ctx.network
    if not args:
        _invalid(ctx, "AMODE")
        return
    channel = network.find_channel(args[0])
    if channel is None:
        _notice(ctx, "Channel does not exist")
        return
    if channel.founder is None:
        _notice(ctx, "Channel is not registered")
        return
    founder = channel.is_founder(user.account)
    if len(args) == 1:
        if not (founder or channel.is_op(user)):
            _notice(ctx, "Insufficient privileges")
            return
        _notice(ctx, f"Channel {channel.name} has {len(channel.ops)} persistent modes set")
        for folded in channel.ops:
            _notice(ctx, f"Account {_account_name(ctx, folded)} receives mode +o")
        return
    change = args[1]
    if change not in ("+o", "-o") or len(args) > 3:
        _notice(ctx, "Invalid mode change")
        return
    adding = change == "+o"
    account = casefold(args[2]) if len(args) == 3 else ""
    if not account or (adding and account not in network.accounts):
        _notice(ctx, "Account does not exist")
        return
    if not founder:
        _notice(ctx, "Insufficient privileges")
        return
    if adding == (account in channel.ops):
        _notice(ctx, "No changes were made")
        return
    channel.ops = (*channel.ops, account) if adding else tuple(a for a in channel.ops if a != account)
    network.channel_changed(channel)
    log.info("[%d] %s: AMODE %s %s %s", user.id, user.source, channel.name, change, account)
    _notice(ctx, f"Successfully set persistent mode {change} on {account}")
    # The change applies to the account's sessions in the channel now, as it will on their next join.
    for member in list(channel.members):
        mine = member.account is not None and casefold(member.account) == account
        if mine and (adding or not channel.is_founder(member.account)):
            network.set_status(channel, member, "o", adding=adding, source=ctx.server_name)


def _op(ctx: Context, args: list[str]) -> None:
    user, network = ctx.user, ctx.network
    if not args or len(args) > 2:
        _invalid(ctx, "OP")
        return
    channel = network.find_channel(args[0])
    if channel is None:
        _notice(ctx, "Channel does not exist")
        return
    if user.account is None:
        _notice(ctx, "You're not logged into an account")
        return
    target = user
    if len(args) == 2:
        found = network.find_user(args[1])
        if found is None:
            _notice(ctx, "Could not find given client")
            return
        target = found
    if target is user:
        if not channel.opped_on_join(user):
            _notice(ctx, "You don't have any stored privileges on that channel")
            return
    elif not channel.is_founder(user.account):
        _notice(ctx, "Only the channel founder can do this")
        return
    if target not in channel.members:
        ctx.reply(N.ERR_USERNOTINCHANNEL, target.nick, channel.name, "They aren't on that channel")
        return
    network.set_status(channel, target, "o", adding=True, source=ctx.server_name)
    log.info("[%d] %s op'd %s in channel %s", user.id, user.source, target.nick, channel.name)
    _notice(ctx, "Successfully granted operator privileges")


INTRO = "ChanServ lets you register and manage channels. Commands:"


def _help(ctx: Context, args: list[str]) -> None:
    services.show_help(
        ctx,
        args,
        HELP,
        _notice,
        name="ChanServ",
        short="CS",
        intro=INTRO,
    )


_COMMANDS: dict[str, Callable[[Context, list[str]], None]] = {
    "REGISTER": _register,
    "INFO": _info,
    "DROP": _drop,
    "UNREGISTER": _drop,
    "AMODE": _amode,
    "OP": _op,
    "HELP": _help,
}
