"""RENAME (IRCv3 ``draft/channel-rename``): an operator renames a channel, keeping its members, modes, topic,
lists and history."""

from __future__ import annotations

from ...protocol import caps
from ...protocol import numerics as N
from ...protocol.casemap import casefold
from ...protocol.message import Message
from ...protocol.names import is_valid_channel
from ..context import Context
from .channels import send_topic
from .info import names_lines


def _fail(ctx: Context, code: str, old: str, new: str, text: str) -> None:
    ctx.server_message("FAIL", "RENAME", code, old, new, text)


def handle_rename(ctx: Context, msg: Message) -> None:
    """``RENAME <#old> <#new> [reason]``.  Errors as the spec lists them: 403 (no such channel), 442 (not in it),
    482 (not its operator), ``FAIL RENAME CHANNEL_NAME_IN_USE`` (another channel has the name) and
    ``CANNOT_RENAME`` (an invalid name, or a change of prefix type, ``#`` to ``&``).

    Members that negotiated the capability get ``:renamer RENAME #old #new :reason`` (the reason always
    present, empty if none was given); the others get a PART from the old name (with the reason) and a JOIN to
    the new one, with its topic and names, as the spec's fallback says; not for a change of case only."""
    user, network = ctx.user, ctx.network
    old_name, new_name = msg.params[0], msg.params[1]
    reason = msg.params[2] if len(msg.params) > 2 else ""
    channel = network.find_channel(old_name)
    if channel is None:
        ctx.reply(N.ERR_NOSUCHCHANNEL, old_name, "No such channel")
        return
    if user not in channel.members:
        ctx.reply(N.ERR_NOTONCHANNEL, channel.name, "You're not on that channel")
        return
    if not channel.is_op(user):
        ctx.reply(N.ERR_CHANOPRIVSNEEDED, channel.name, "You're not channel operator")
        return
    shown_new = new_name if new_name and new_name[0] != ":" and " " not in new_name else "*"
    if not is_valid_channel(new_name, ctx.config.channellen):
        _fail(ctx, "CANNOT_RENAME", channel.name, shown_new, "That is not a valid channel name")
        return
    if new_name[0] != channel.name[0]:
        _fail(ctx, "CANNOT_RENAME", channel.name, new_name, "You cannot change a channel prefix type")
        return
    case_only = casefold(new_name) == channel.folded
    if not case_only and network.find_channel(new_name) is not None:
        _fail(ctx, "CHANNEL_NAME_IN_USE", channel.name, new_name, "The channel name is already taken")
        return
    old_shown = channel.name
    network.rename_channel(channel, new_name)
    members = list(channel.members)
    rename = network.relay(Message("RENAME", (old_shown, new_name, reason), user.source), account=user.account)
    network.deliver_all([m for m in members if caps.CHANNEL_RENAME in m.caps], rename)
    if case_only:
        return
    for member in members:
        if caps.CHANNEL_RENAME in member.caps:
            continue
        # The member's own PART and JOIN, with the tags their capabilities ask for (server-time).
        part = Message("PART", (old_shown, reason) if reason else (old_shown,), member.source)
        join = (
            Message("JOIN", (new_name, member.account or "*", member.realname), member.source)
            if caps.EXTENDED_JOIN in member.caps
            else Message("JOIN", (new_name,), member.source)
        )
        for line in (part, join):
            network.deliver(member, network.relay(line, account=member.account).line(member.tag_variant))
        seen_by = Context(network, member)
        send_topic(seen_by, channel, on_join=True)
        names_lines(seen_by, channel)
