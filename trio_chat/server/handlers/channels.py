"""JOIN, PART, TOPIC, NAMES, LIST, KICK, INVITE, KNOCK."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

import trio

from ...protocol import caps
from ...protocol import numerics as N
from ...protocol.casemap import casefold, unique
from ...protocol.message import Message
from ...protocol.names import glob_matches, is_valid_channel
from ..context import Context
from ..state import Channel
from .history import replay_on_join
from .info import names_lines
from .markers import marker_on_join
from .metadata import sync_on_join


def _channel_or_error(ctx: Context, name: str) -> Channel | None:
    channel = ctx.network.find_channel(name)
    if channel is None:
        ctx.reply(N.ERR_NOSUCHCHANNEL, name, "No such channel")
    return channel


def handle_join(ctx: Context, msg: Message) -> None:
    user = ctx.user
    if msg.params[0] == "0":
        for channel in list(user.channels.values()):
            ctx.network.part(user, channel, None)
        return
    names = msg.params[0].split(",")
    keys = msg.params[1].split(",") if len(msg.params) > 1 else []
    for i, name in enumerate(names):
        key = keys[i] if i < len(keys) else ""
        if not is_valid_channel(name, ctx.config.channellen):
            ctx.reply(N.ERR_NOSUCHCHANNEL, name or "*", "No such channel")
            continue
        existing = ctx.network.find_channel(name)
        if existing is not None and user in existing.members:
            continue
        if len(user.channels) >= ctx.config.chanlimit:
            ctx.reply(N.ERR_TOOMANYCHANNELS, name, "You have joined too many channels")
            continue
        if existing is not None and not _may_join(ctx, existing, key):
            continue
        channel = ctx.network.join(user, name)
        marker_on_join(ctx.network, user, channel)
        send_topic(ctx, channel, on_join=True)
        names_lines(ctx, channel)
        replay_on_join(ctx, channel)
        sync_on_join(ctx, channel)


def _may_join(ctx: Context, channel: Channel, key: str) -> bool:
    user = ctx.user
    invited = user.folded in channel.invited
    if channel.key is not None and not hmac.compare_digest(key.encode(), channel.key.encode()):
        ctx.reply(N.ERR_BADCHANNELKEY, channel.name, "Cannot join channel (+k)")
        return False
    if channel.limit is not None and len(channel.members) >= channel.limit and not invited:
        ctx.reply(N.ERR_CHANNELISFULL, channel.name, "Cannot join channel (+l)")
        return False
    if "i" in channel.modes and not invited and not channel.is_invex(user):
        ctx.reply(N.ERR_INVITEONLYCHAN, channel.name, "Cannot join channel (+i)")
        return False
    if channel.is_banned(user) and not invited:
        ctx.reply(N.ERR_BANNEDFROMCHAN, channel.name, "Cannot join channel (+b)")
        return False
    return True


def send_topic(ctx: Context, channel: Channel, *, on_join: bool = False) -> None:
    if not channel.topic:
        if not on_join:
            ctx.reply(N.RPL_NOTOPIC, channel.name, "No topic is set")
        return
    ctx.reply(N.RPL_TOPIC, channel.name, channel.topic)
    ctx.reply(N.RPL_TOPICWHOTIME, channel.name, channel.topic_by, str(channel.topic_time))


def handle_part(ctx: Context, msg: Message) -> None:
    reason = msg.params[1] if len(msg.params) > 1 and msg.params[1] else None
    for name in msg.params[0].split(","):
        channel = _channel_or_error(ctx, name)
        if channel is None:
            continue
        if ctx.user not in channel.members:
            ctx.reply(N.ERR_NOTONCHANNEL, channel.name, "You're not on that channel")
            continue
        ctx.network.part(ctx.user, channel, reason)


def handle_topic(ctx: Context, msg: Message) -> None:
    channel = _channel_or_error(ctx, msg.params[0])
    if channel is None:
        return
    inside = ctx.user in channel.members
    if len(msg.params) < 2:
        if not inside and "s" in channel.modes:
            ctx.reply(N.ERR_NOTONCHANNEL, channel.name, "You're not on that channel")
        else:
            send_topic(ctx, channel)
        return
    if not inside:
        ctx.reply(N.ERR_NOTONCHANNEL, channel.name, "You're not on that channel")
    elif "t" in channel.modes and not channel.is_op(ctx.user):
        ctx.reply(N.ERR_CHANOPRIVSNEEDED, channel.name, "You're not channel operator")
    else:
        ctx.network.set_topic(ctx.user, channel, msg.params[1][: ctx.config.topiclen])


def handle_names(ctx: Context, msg: Message) -> None:
    """``NAMES #a,#b``: the names of each channel named (up to ``max_targets``, each once; secret channels only
    to their members), then one 366 naming what was asked, as RFC 1459 and 2812 answer it."""
    if not msg.params or not msg.params[0]:
        ctx.reply(N.RPL_ENDOFNAMES, "*", "End of /NAMES list")
        return
    for name in unique(msg.params[0].split(","))[: ctx.config.max_targets]:
        channel = ctx.network.find_channel(name)
        if channel is not None and ("s" not in channel.modes or ctx.user in channel.members):
            names_lines(ctx, channel, end=False)
    ctx.reply(N.RPL_ENDOFNAMES, msg.params[0], "End of /NAMES list")


NO_BOUNDS = (-1.0, float("inf"))


@dataclass(slots=True)
class ListFilter:
    """What ``LIST`` asks for (ELIST=CMNTU): channel names or masks (M), masks to leave out (N), and open bounds
    on the user count (U), on how long ago the channel was created (C) and its topic set (T), in seconds."""

    masks: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    """``""`` (users), ``"C"`` or ``"T"`` -> (low, high), both excluded."""

    @classmethod
    def parse(cls, text: str) -> ListFilter:
        """Items separated by commas: ``>n`` / ``<n`` users; ``C>n`` / ``C<n`` created more / less than n minutes
        ago; ``T>n`` / ``T<n`` topic set more / less than n minutes ago (a channel without a topic never
        matches a T condition); ``!mask``; anything else a channel name or mask.  A condition whose number is
        no number is ignored, as other servers do (no numeric is defined for it)."""
        f = cls()
        for item in text.split(","):
            kind = item[0] if item[:1] in ("C", "T") and item[1:2] in ("<", ">") else ""
            op, number = item[len(kind) : len(kind) + 1], item[len(kind) + 1 :]
            if op in ("<", ">"):
                if number.isascii() and number.isdigit():
                    value = int(number) * (60 if kind else 1)
                    low, high = f.bounds.get(kind, NO_BOUNDS)
                    f.bounds[kind] = (value, high) if op == ">" else (low, value)
            elif item[:1] == "!" and len(item) > 1:
                f.excluded.append(casefold(item[1:]))
            elif item:
                f.masks.append(item)
        return f

    def matches(self, channel: Channel, now: float) -> bool:
        for kind, (low, high) in self.bounds.items():
            if kind == "":
                value = float(len(channel.members))
            elif kind == "C":
                value = now - channel.created
            elif not channel.topic:
                return False
            else:
                value = now - channel.topic_time
            if not low < value < high:
                return False
        return not any(glob_matches(mask, channel.folded) for mask in self.excluded)


def handle_list(ctx: Context, msg: Message) -> None:
    """LIST [channels, masks or conditions]: see :class:`ListFilter` (ELIST=CMNTU)."""
    network = ctx.network
    spec = ListFilter.parse(msg.params[0] if msg.params else "")
    wanted: list[Channel]
    if spec.masks and not any("*" in m or "?" in m for m in spec.masks):
        wanted = [c for c in (network.find_channel(n) for n in unique(spec.masks)) if c is not None]
    elif spec.masks:
        folded = [casefold(m) for m in spec.masks]
        wanted = [c for c in network.channels.values() if any(glob_matches(m, c.folded) for m in folded)]
    else:
        wanted = list(network.channels.values())
    now = network.clock()
    ctx.reply(N.RPL_LISTSTART, "Channel", "Users  Name")
    for channel in wanted:
        if not spec.matches(channel, now):
            continue
        if "s" in channel.modes and ctx.user not in channel.members:
            continue
        modes = " ".join(channel.mode_string(show_key=False))
        ctx.reply(N.RPL_LIST, channel.name, str(len(channel.members)), f"[{modes}] {channel.topic}")
    ctx.reply(N.RPL_LISTEND, "End of /LIST")


def handle_kick(ctx: Context, msg: Message) -> None:
    """``KICK #chan a,b,c [reason]`` (up to ``max_targets`` nicks; more are dropped silently, as modern.ircdocs
    allows), or ``KICK #a,#b a,b``: each channel with the nick in the same place.  A KICK to the members names
    one channel and one nick."""
    channels = msg.params[0].split(",")
    nicks = [n for n in msg.params[1].split(",") if n][: ctx.config.max_targets]
    if not nicks or (len(channels) != 1 and len(channels) != len(nicks)):
        ctx.need_more_params("KICK")
        return
    reason = (msg.params[2] if len(msg.params) > 2 and msg.params[2] else ctx.user.nick)[: ctx.config.kicklen]
    pairs = [(channels[0], nick) for nick in nicks] if len(channels) == 1 else list(zip(channels, nicks, strict=True))
    refused: set[str] = set()
    for name, nick in pairs:
        if casefold(name) in refused:
            continue
        channel = _channel_or_error(ctx, name)
        if channel is None:
            refused.add(casefold(name))
            continue
        if ctx.user not in channel.members:
            ctx.reply(N.ERR_NOTONCHANNEL, channel.name, "You're not on that channel")
            refused.add(channel.folded)
            continue
        if not channel.is_op(ctx.user):
            ctx.reply(N.ERR_CHANOPRIVSNEEDED, channel.name, "You're not channel operator")
            refused.add(channel.folded)
            continue
        target = ctx.network.find_user(nick)
        if target is None or target not in channel.members:
            ctx.reply(N.ERR_USERNOTINCHANNEL, nick, channel.name, "They aren't on that channel")
            continue
        ctx.network.kick(ctx.user, channel, target, reason)


def handle_invite(ctx: Context, msg: Message) -> None:
    """``INVITE <nick> <#channel>``; ``INVITE`` alone lists the channels you are invited to (336, 337)."""
    if not msg.params:
        for invited_to in ctx.network.channels.values():
            if ctx.user.folded in invited_to.invited:
                ctx.reply(N.RPL_INVITELIST, invited_to.name)
        ctx.reply(N.RPL_ENDOFINVITELIST, "End of /INVITE list")
        return
    if len(msg.params) < 2:
        ctx.need_more_params("INVITE")
        return
    nick, name = msg.params[0], msg.params[1]
    target = ctx.network.find_user(nick)
    if target is None:
        ctx.reply(N.ERR_NOSUCHNICK, nick, "No such nick/channel")
        return
    channel = ctx.network.find_channel(name)
    if channel is not None:
        if ctx.user not in channel.members:
            ctx.reply(N.ERR_NOTONCHANNEL, channel.name, "You're not on that channel")
            return
        if "i" in channel.modes and not channel.is_op(ctx.user):
            ctx.reply(N.ERR_CHANOPRIVSNEEDED, channel.name, "You're not channel operator")
            return
        if target in channel.members:
            ctx.reply(N.ERR_USERONCHANNEL, target.nick, channel.name, "is already on channel")
            return
        channel.invited.add(target.folded)
        name = channel.name
    ctx.reply(N.RPL_INVITING, target.nick, name)
    network = ctx.network
    # account-tag: the inviter's account, for the invitee and the invite-notify operators that asked for it.
    relay = network.relay(Message("INVITE", (target.nick, name), ctx.user.source), account=ctx.user.account)
    network.deliver(target, relay.line(target.tag_variant))
    if target.away:
        ctx.reply(N.RPL_AWAY, target.nick, target.away)
    if channel is not None:
        notify = [m for m, s in channel.members.items() if "o" in s and m.has(caps.INVITE_NOTIFY)]
        network.deliver_all(notify, relay, skip=ctx.user)


def handle_knock(ctx: Context, msg: Message) -> None:
    """``KNOCK <#channel> [message]``: ask the operators of a channel one cannot join (+i, or full) for an
    invitation: 710 to them, 711 to the knocker; 713 if the channel is open, 714 if one is in it, 712 when
    knocking too often (per user and channel, ``knock_interval``, and per channel, ``knock_channel_interval``),
    404 when banned or the channel is secret, as in Solanum."""
    user, network = ctx.user, ctx.network
    channel = _channel_or_error(ctx, msg.params[0])
    if channel is None:
        return
    if user in channel.members:
        ctx.reply(N.ERR_KNOCKONCHAN, channel.name, "You are already on that channel")
        return
    full = channel.limit is not None and len(channel.members) >= channel.limit
    if "i" not in channel.modes and not full:
        ctx.reply(N.ERR_CHANOPEN, channel.name, "Channel is open")
        return
    if channel.is_banned(user) or "s" in channel.modes:
        ctx.reply(N.ERR_CANNOTSENDTOCHAN, channel.name, "Cannot knock on this channel")
        return
    now, interval = trio.current_time(), ctx.config.knock_interval
    knocks = {f: t for f, t in (user.knocks or {}).items() if now - t < interval}
    user.knocks = knocks or None
    if channel.folded in knocks:
        ctx.reply(N.ERR_TOOMANYKNOCK, channel.name, "Too many KNOCKs (user)")
        return
    if channel.knocked is not None and now - channel.knocked < ctx.config.knock_channel_interval:
        ctx.reply(N.ERR_TOOMANYKNOCK, channel.name, "Too many KNOCKs (channel)")
        return
    knocks[channel.folded] = now
    user.knocks = knocks
    channel.knocked = now
    text = msg.params[1] if len(msg.params) > 1 and msg.params[1] else ""
    said = f"has asked for an invite: {text}" if text else "has asked for an invite"
    # As Solanum and InspIRCd send it: a numeric to the channel's operators, addressed to the channel.
    knock = Message(N.RPL_KNOCK, (channel.name, channel.name, user.source, said), ctx.server_name)
    network.deliver_all([m for m, s in channel.members.items() if "o" in s], network.relay(knock))
    ctx.reply(N.RPL_KNOCKDLVR, channel.name, "Your KNOCK has been delivered")
