"""PRIVMSG, NOTICE and TAGMSG to channels and nicks, AWAY and SETNAME."""

from __future__ import annotations

from ...protocol import caps
from ...protocol import numerics as N
from ...protocol.casemap import casefold, unique
from ...protocol.message import Message
from ...protocol.names import is_channel_name
from ..context import Context
from ..multiline import MultilineBatch
from ..relay import MultilineRelay, Relay
from ..state import CHANSERV, NICKSERV, SERVICE_NICKS, Channel, User
from . import chanserv, nickserv


def handle_privmsg(ctx: Context, msg: Message) -> None:
    _send_message(ctx, msg, "PRIVMSG")


def handle_notice(ctx: Context, msg: Message) -> None:
    _send_message(ctx, msg, "NOTICE")


def handle_tagmsg(ctx: Context, msg: Message) -> None:
    _send_message(ctx, msg, "TAGMSG")


def client_tags_of(msg: Message) -> dict[str, str] | None:
    """Client-only tags (``+name``) are relayed to recipients that negotiated message-tags; others are dropped."""
    if not msg.tags:
        return None
    tags = {k: v for k, v in msg.tags.items() if k.startswith("+")}
    return tags or None


def _send_message(ctx: Context, msg: Message, verb: str) -> None:
    """Deliver a message to every target.  NOTICE never causes automatic error replies (RFC 2812 3.3.2)."""
    quiet = verb == "NOTICE"
    if not msg.params or not msg.params[0]:
        if not quiet:
            ctx.reply(N.ERR_NORECIPIENT, f"No recipient given ({verb})")
        return
    text: str | None = None
    if verb != "TAGMSG":
        if len(msg.params) < 2 or not msg.params[1]:
            if not quiet:
                ctx.reply(N.ERR_NOTEXTTOSEND, "No text to send")
            return
        text = msg.params[1]
    targets = unique(msg.params[0].split(","))  # a target named twice gets one copy
    if not targets:
        if not quiet:
            ctx.reply(N.ERR_NORECIPIENT, f"No recipient given ({verb})")
        return
    if len(targets) > ctx.config.max_targets:
        if not quiet:
            ctx.reply(N.ERR_TOOMANYTARGETS, msg.params[0], f"Too many targets (at most {ctx.config.max_targets})")
        return
    client_tags = client_tags_of(msg)
    if verb == "TAGMSG" and client_tags is None:
        return
    sender = ctx.user
    network = ctx.network
    bot = "B" in sender.modes
    for target in targets:
        service_text: str | None = None
        service = nickserv.handle_text
        status, name = _split_status(target)
        if is_channel_name(name):
            channel = _channel_to_speak_in(ctx, name, [text] if text is not None else [], quiet=quiet)
            if channel is None:
                continue
            # The channel is named as it was created, whatever case the sender used (``#Lobby`` for ``#LOBBY``).
            shown = status + channel.name
            params = (shown,) if text is None else (shown, text)
            relay = network.relay(
                Message(verb, params, sender.source),
                client_tags=client_tags,
                msgid=True,
                account=sender.account,
                bot=bot,
            )
            recipients = channel_recipients(channel, status, verb)
            network.deliver_all(recipients, relay, skip=sender)
            if network.cluster is not None:
                network.cluster.relay_channel(channel, relay, sender, status=status, verb=verb, text=text)
            if text is not None and not status:
                # Stored after the fan-out, which never waits for the disk; with echo-message the echo below
                # is held until the message is committed: it is the sender's receipt.
                receipt = sender.has(caps.ECHO_MESSAGE)
                network.remember(channel, relay, sender, verb, text, receipt=receipt)
        elif casefold(name) in SERVICE_NICKS:
            # NickServ and ChanServ answer PRIVMSGs (after the echo); NOTICEs and TAGMSGs to them go nowhere.
            nick = NICKSERV
            if casefold(name) == casefold(CHANSERV):
                nick, service = CHANSERV, chanserv.handle_text
            params = (nick,) if text is None else (nick, text)
            relay = network.relay(Message(verb, params, sender.source), client_tags=client_tags, msgid=True, bot=bot)
            if verb == "PRIVMSG":
                service_text = text
        else:
            user = network.find_user(name)
            if user is None:
                if verb == "PRIVMSG" and text is not None:
                    kept = _keep_for_offline_account(ctx, name, text, client_tags)
                    if kept is not None:
                        relay = kept
                        if sender.has(caps.ECHO_MESSAGE):
                            network.deliver(sender, relay.line(sender.tag_variant))
                        continue
                if not quiet:
                    ctx.reply(N.ERR_NOSUCHNICK, name, "No such nick/channel")
                continue
            # The recipient is named as they spell their nick, whatever case the sender used.
            params = (user.nick,) if text is None else (user.nick, text)
            relay = network.relay(
                Message(verb, params, sender.source),
                client_tags=client_tags,
                msgid=True,
                account=sender.account,
                bot=bot,
            )
            if user.home is not None and network.cluster is not None:
                network.cluster.relay_private(user, relay, sender, verb=verb, text=text)
            elif user is sender and sender.has(caps.ECHO_MESSAGE):
                # A message to oneself with echo-message comes twice, as in ergo: the echo (the command's answer,
                # labeled if the command was) and the delivery, which is not part of the answer.
                if accepts(user, verb):
                    network.deliver_now(user, relay.line(user.tag_variant))
            elif accepts(user, verb):
                network.deliver(user, relay.line(user.tag_variant))
            if text is not None and sender.account is not None and user.account is not None:
                # Between two logged-in users the message is kept for the two accounts (CHATHISTORY), with the
                # same receipt rule as a channel message: the echo waits for the commit.
                network.remember_private(sender, user, relay, verb, text, receipt=sender.has(caps.ECHO_MESSAGE))
            if verb == "PRIVMSG" and user.away:
                ctx.reply(N.RPL_AWAY, user.nick, user.away)
        if sender.has(caps.ECHO_MESSAGE) and accepts(sender, verb):
            network.deliver(sender, relay.line(sender.tag_variant))
        if service_text is not None:
            service(ctx, service_text)


def send_multiline(ctx: Context, batch: MultilineBatch) -> None:
    """Deliver a ``draft/multiline`` message that ended well (``handlers/multiline.py``) to its target(s).

    Recipients that negotiated draft/multiline and batch get it as one batch, the others as its non-blank lines
    (see :class:`~..relay.MultilineRelay`); with echo-message the sender gets it back the same way.  The checks
    and errors are those of PRIVMSG and NOTICE (none for NOTICE).  The history keeps the lines a client without
    the capability sees, the first under the message's msgid, the others under msgids made from it, so that a
    REDACT of the message removes them all (``history.line_msgid``).  To members and users on other nodes
    (``cluster/``), and to an offline account, each non-blank line goes as a message of its own.
    """
    verb = batch.verb or "PRIVMSG"
    quiet = verb == "NOTICE"
    network, sender = ctx.network, ctx.user
    texts = [text for text, _ in batch.lines if text]
    tags = batch.client_tags or {}
    cluster = network.cluster
    targets = unique(batch.target.split(","))
    if len(targets) > ctx.config.max_targets:
        if not quiet:
            ctx.reply(N.ERR_TOOMANYTARGETS, batch.target, f"Too many targets (at most {ctx.config.max_targets})")
        return
    bot = "B" in sender.modes
    echo = sender.has(caps.ECHO_MESSAGE)

    def relay_to(target: str) -> MultilineRelay:
        ms = int(network.clock() * 1000)
        return MultilineRelay(
            verb=verb,
            target=target,
            source=sender.source,
            lines=batch.lines,
            batch_id=network.next_batch_id(),
            time=network.format_time(ms),
            time_ms=ms,
            msgid=network.next_msgid(),
            client_tags=batch.client_tags,
            account=sender.account,
            bot=bot,
        )

    for target in targets:
        status, name = _split_status(target)
        if is_channel_name(name):
            channel = _channel_to_speak_in(ctx, name, texts, quiet=quiet)
            if channel is None:
                continue
            relay = relay_to(status + channel.name)
            for member in channel_recipients(channel, status, verb):
                if member is not sender:
                    deliver_multiline(ctx, member, relay)
            kept = relay.kept()
            if not status:
                for line, text in kept:
                    network.remember(channel, line, sender, verb, text, receipt=echo)
            if cluster is not None:
                # To the members on other nodes, each non-blank line as a message of its own.
                for line, text in kept:
                    cluster.relay_channel(channel, line, sender, status=status, verb=verb, text=text)
        elif casefold(name) in SERVICE_NICKS:
            ctx.server_message("FAIL", "BATCH", "MULTILINE_INVALID", f"{name} takes one command per message")
            continue
        else:
            user = network.find_user(name)
            if user is None:
                if not quiet and network.find_account(name) is not None:
                    # Kept for an offline account, line by line, as any message to it.
                    for text in texts:
                        _send_message(ctx, Message(verb, (name, text), tags=tags), verb)
                elif not quiet:
                    ctx.reply(N.ERR_NOSUCHNICK, name, "No such nick/channel")
                continue
            relay = relay_to(user.nick)
            if user.home is not None and cluster is not None:
                # A user of another node: each non-blank line as a message of its own.
                for line, text in relay.kept():
                    cluster.relay_private(user, line, sender, verb=verb, text=text)
            elif user is sender and echo:
                deliver_multiline(ctx, user, relay, now=True)  # the delivery is not part of the command's answer
            else:
                deliver_multiline(ctx, user, relay)
            if sender.account is not None and user.account is not None:
                for line, text in relay.kept():
                    network.remember_private(sender, user, line, verb, text, receipt=echo)
            if verb == "PRIVMSG" and user.away:
                ctx.reply(N.RPL_AWAY, user.nick, user.away)
        if echo:
            deliver_multiline(ctx, sender, relay)


def deliver_multiline(ctx: Context, user: User, relay: MultilineRelay, *, now: bool = False) -> None:
    """Queue a multiline message to ``user``: as a batch if they negotiated draft/multiline and batch; with
    ``now``, not as part of their own command's answer (``Network.deliver_now``)."""
    batched = caps.MULTILINE in user.caps and caps.BATCH in user.caps
    lines = relay.lines(user.tag_variant, batched=batched)
    if now:
        ctx.network.deliver_now(user, *lines)
        return
    deliver = ctx.network.deliver
    for line in lines:
        deliver(user, line)


def _keep_for_offline_account(ctx: Context, name: str, text: str, client_tags: dict[str, str] | None) -> Relay | None:
    """A PRIVMSG from a logged-in user to ``name``, a nick nobody uses that is a registered account's: kept in
    their conversation and delivered when the account logs in (``handlers/offline.py``).  The relay (for the
    echo), or None when it cannot be kept (the sender is not logged in, or is that account; no store)."""
    network, sender = ctx.network, ctx.user
    record = network.find_account(name)
    if record is None or sender.account is None or casefold(sender.account) == record.folded:
        return None
    if network.history is None:
        return None
    relay = network.relay(
        Message("PRIVMSG", (record.name, text), sender.source),
        client_tags=client_tags,
        msgid=True,
        account=sender.account,
        bot="B" in sender.modes,
    )
    # The echo is the receipt, as for any stored message: it waits for the commit.
    if not network.remember_offline(sender, record, relay, text, receipt=sender.has(caps.ECHO_MESSAGE)):
        return None
    if record.folded not in sender.told_offline:
        sender.told_offline = sender.told_offline | {record.folded}
        network.service_notice(
            sender,
            f"{record.name} is offline; your messages are kept and {record.name} will see them when logging in",
        )
    return relay


def _split_status(target: str) -> tuple[str, str]:
    """``@#chan`` -> ``("@", "#chan")`` (a message to a channel's operators, or ``+`` its voiced); else no status."""
    if target[0] in "@+" and len(target) > 1 and is_channel_name(target[1:]):
        return target[0], target[1:]
    return "", target


def _channel_to_speak_in(ctx: Context, name: str, texts: list[str], *, quiet: bool) -> Channel | None:
    """The channel ``name`` if the sender may send ``texts`` there; otherwise None, and the reply that says why
    (unless ``quiet``: NOTICE)."""
    channel = ctx.network.find_channel(name)
    if channel is None:
        if not quiet:
            ctx.reply(N.ERR_NOSUCHCHANNEL, name, "No such channel")
        return None
    if not channel.can_speak(ctx.user):
        if not quiet:
            ctx.reply(N.ERR_CANNOTSENDTOCHAN, channel.name, "Cannot send to channel")
        return None
    if "C" in channel.modes and any(_is_ctcp(text) for text in texts):
        if not quiet:
            ctx.reply(N.ERR_CANNOTSENDTOCHAN, channel.name, "Cannot send CTCP to channel (+C)")
        return None
    return channel


def _is_ctcp(text: str) -> bool:
    """A CTCP other than ACTION (``/me``), which ``+C`` lets through."""
    return text.startswith("\x01") and not text[1:].upper().startswith("ACTION")


def accepts(user: User, verb: str) -> bool:
    """A TAGMSG is only for clients that negotiated message-tags; everything else is for everyone."""
    return verb != "TAGMSG" or caps.MESSAGE_TAGS in user.caps


def channel_recipients(channel: Channel, status: str, verb: str) -> list[User] | dict[User, str]:
    members = channel.members
    if verb == "TAGMSG":
        return [m for m in members if accepts(m, verb)]
    if status == "@":
        return [m for m, s in members.items() if "o" in s]
    if status == "+":
        return [m for m, s in members.items() if s]
    return members


def handle_away(ctx: Context, msg: Message) -> None:
    message = msg.params[0][: ctx.config.awaylen] if msg.params and msg.params[0] else None
    ctx.network.set_away(ctx.user, message)
    if message is None:
        ctx.reply(N.RPL_UNAWAY, "You are no longer marked as being away")
    else:
        ctx.reply(N.RPL_NOWAWAY, "You have been marked as being away")


def handle_setname(ctx: Context, msg: Message) -> None:
    """IRCv3 setname: change the realname.  Accepted from clients without the capability too (the spec asks it
    be handled silently), who then get no SETNAME back."""
    realname = msg.params[0]
    if not realname or len(realname) > ctx.config.namelen:
        ctx.server_message("FAIL", "SETNAME", "INVALID_REALNAME", "Realname is not valid")
        return
    ctx.network.set_realname(ctx.user, realname)
