"""MODE for users (+i, +B, +w) and channels (+n +t +m +i +s +C +k +l +o +v +b +e +I)."""

from __future__ import annotations

from ...protocol import numerics as N
from ...protocol.casemap import casefold
from ...protocol.message import Message
from ...protocol.names import is_channel_name, normalize_mask
from ..context import Context
from ..state import MUTE_PREFIX, Ban, Channel

FLAG_MODES = "Cimnst"
"""Channel modes without a parameter (``s``, secret, hides the channel from LIST/NAMES; ``C`` refuses CTCP but
ACTION)."""
LIST_MODES = "beI"
"""Modes that hold a list of masks: bans (``m:mask`` mutes), ban exceptions, invite exceptions."""
LIST_REPLIES = {
    "b": (N.RPL_BANLIST, N.RPL_ENDOFBANLIST, "End of channel ban list"),
    "e": (N.RPL_EXCEPTLIST, N.RPL_ENDOFEXCEPTLIST, "End of channel exception list"),
    "I": (N.RPL_INVEXLIST, N.RPL_ENDOFINVEXLIST, "End of channel invite exception list"),
}
"""A list mode's entry numeric, end numeric and end text (modern.ircdocs.horse)."""
STATUS_MODES = "ov"
SELF_USER_MODES = "iBw"
"""User modes anyone may set and unset on themselves: ``i`` (invisible), ``B`` (bot, IRCv3 bot-mode) and ``w``
(receive WALLOPS)."""


def handle_mode(ctx: Context, msg: Message) -> None:
    target = msg.params[0]
    if is_channel_name(target):
        channel = ctx.network.find_channel(target)
        if channel is None:
            ctx.reply(N.ERR_NOSUCHCHANNEL, target, "No such channel")
        elif len(msg.params) == 1:
            ctx.reply(N.RPL_CHANNELMODEIS, channel.name, *channel.mode_string(show_key=ctx.user in channel.members))
            ctx.reply(N.RPL_CREATIONTIME, channel.name, str(channel.created))
        else:
            _channel_mode(ctx, channel, msg.params[1], list(msg.params[2:]))
    else:
        _user_mode(ctx, msg)


def _user_mode(ctx: Context, msg: Message) -> None:
    user = ctx.user
    target = ctx.network.find_user(msg.params[0])
    if target is None:
        ctx.reply(N.ERR_NOSUCHNICK, msg.params[0], "No such nick/channel")
        return
    if target is not user:
        ctx.reply(N.ERR_USERSDONTMATCH, "Cant change mode for other users")
        return
    if len(msg.params) == 1:
        ctx.reply(N.RPL_UMODEIS, "+" + "".join(sorted(user.modes)))
        return
    adding = True
    applied: list[str] = []
    unknown = False
    for ch in msg.params[1]:
        if ch in "+-":
            adding = ch == "+"
        elif ch in SELF_USER_MODES:
            if adding != (ch in user.modes):
                user.modes = user.modes | {ch} if adding else user.modes - {ch}
                applied.append(("+" if adding else "-") + ch)
        elif ch == "o" and not adding:
            if user.oper:
                user.oper = None
                user.modes -= {"o"}
                applied.append("-o")
        elif ch != "o":
            unknown = True
    if unknown:
        ctx.reply(N.ERR_UMODEUNKNOWNFLAG, "Unknown MODE flag")
    if applied:
        ctx.send(Message("MODE", (user.nick, _compact(applied)), user.source))


def _compact(changes: list[str]) -> str:
    """``["+i", "+o", "-v"]`` -> ``"+io-v"``."""
    out = ""
    sign = ""
    for change in changes:
        if change[0] != sign:
            sign = change[0]
            out += sign
        out += change[1]
    return out


def _channel_mode(ctx: Context, channel: Channel, modestring: str, args: list[str]) -> None:
    user = ctx.user
    network = ctx.network
    is_op = channel.is_op(user)
    adding = True
    applied: list[str] = []
    applied_args: list[str] = []
    with_param = 0
    denied = False
    for ch in modestring:
        if ch in "+-":
            adding = ch == "+"
            continue
        if ch in LIST_MODES and (not args or with_param >= ctx.config.modes_per_command):
            if not args:
                _mask_list(ctx, channel, ch)
            continue
        if ch not in FLAG_MODES + STATUS_MODES + LIST_MODES + "kl":
            ctx.reply(N.ERR_UNKNOWNMODE, ch, "is unknown mode char to me")
            continue
        takes_param = ch in STATUS_MODES + LIST_MODES + "k" or (ch == "l" and adding)
        if takes_param:
            if not args:
                if ch in "kl" or ch in STATUS_MODES:
                    ctx.reply(N.ERR_INVALIDMODEPARAM, channel.name, ch, "*", "You must specify a parameter")
                continue
            if with_param >= ctx.config.modes_per_command:
                continue
            with_param += 1
        arg = args.pop(0) if takes_param else ""
        if not is_op:
            denied = True
            continue
        if ch in FLAG_MODES:
            if adding != (ch in channel.modes):
                (channel.modes.add if adding else channel.modes.discard)(ch)
                applied.append(("+" if adding else "-") + ch)
        elif ch in STATUS_MODES:
            target = network.find_user(arg)
            if target is None:
                ctx.reply(N.ERR_NOSUCHNICK, arg, "No such nick/channel")
                continue
            if target not in channel.members:
                ctx.reply(N.ERR_USERNOTINCHANNEL, target.nick, channel.name, "They aren't on that channel")
                continue
            status = channel.members[target]
            if adding and ch not in status:
                channel.members[target] = "".join(c for c in STATUS_MODES if c in status + ch)
            elif not adding and ch in status:
                channel.members[target] = status.replace(ch, "")
            else:
                continue
            applied.append(("+" if adding else "-") + ch)
            applied_args.append(target.nick)
        elif ch == "k":
            if adding:
                # A key is shown as a middle parameter (324), so it cannot be empty or start with ":".
                if not arg or " " in arg or "," in arg or arg[0] == ":":
                    ctx.reply(N.ERR_INVALIDMODEPARAM, channel.name, "k", arg or "*", "Invalid key")
                    continue
                channel.key = arg[:23]
                applied.append("+k")
                applied_args.append(channel.key)
            elif channel.key is not None:
                channel.key = None
                applied.append("-k")
                applied_args.append("*")
        elif ch == "l":
            if adding:
                if not arg.isdigit() or int(arg) <= 0:
                    ctx.reply(N.ERR_INVALIDMODEPARAM, channel.name, "l", arg, "Invalid limit")
                    continue
                channel.limit = int(arg)
                applied.append("+l")
                applied_args.append(str(channel.limit))
            elif channel.limit is not None:
                channel.limit = None
                applied.append("-l")
        elif ch in LIST_MODES:
            if not arg or arg[0] == ":" or " " in arg or arg == MUTE_PREFIX:
                # A mask is shown as a middle parameter (367), so it cannot be empty or start with ":".
                ctx.reply(N.ERR_INVALIDMODEPARAM, channel.name, ch, arg or "*", "Invalid mask")
                continue
            mask = _normalize(arg)
            if not _change_mask(ctx, channel, ch, mask, adding):
                continue
            applied.append(("+" if adding else "-") + ch)
            applied_args.append(mask)
    if denied:
        ctx.reply(N.ERR_CHANOPRIVSNEEDED, channel.name, "You're not channel operator")
    if applied:
        message = Message("MODE", (channel.name, _compact(applied), *applied_args), user.source)
        network.deliver_all(channel.members, network.relay(message))
        network.channel_changed(channel)


def _normalize(arg: str) -> str:
    """A list mode's mask completed as servers do (``nick`` -> ``nick!*@*``), the mute prefix kept."""
    if arg.startswith(MUTE_PREFIX):
        return MUTE_PREFIX + normalize_mask(arg[len(MUTE_PREFIX) :])
    return normalize_mask(arg)


def _change_mask(ctx: Context, channel: Channel, letter: str, mask: str, adding: bool) -> bool:
    masks = channel.mask_list(letter)
    folded = casefold(mask)
    existing = next((b for b in masks if casefold(b.mask) == folded), None)
    if adding:
        if existing is not None:
            return False
        if len(masks) >= ctx.config.maxlist:
            ctx.reply(N.ERR_BANLISTFULL, channel.name, letter, "Channel list is full")
            return False
        masks.append(Ban(mask, ctx.user.source, ctx.network.now()))
        return True
    if existing is None:
        return False
    masks.remove(existing)
    return True


def _mask_list(ctx: Context, channel: Channel, letter: str) -> None:
    entry, end, text = LIST_REPLIES[letter]
    for ban in channel.mask_list(letter):
        ctx.reply(entry, channel.name, ban.mask, ban.setter, str(ban.time))
    ctx.reply(end, channel.name, text)
