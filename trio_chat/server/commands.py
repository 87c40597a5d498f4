"""The command table and the one dispatcher that does the shared checks before any handler runs.

Handlers are synchronous: they change state through :class:`~.state.Network` and queue replies through the
:class:`Context`.  While a command runs, everything addressed to its sender (replies, and their own copy of a
broadcast) collects in order in ``user.pending``; the session sends it before reading the next line, so every
reply a command causes is queued before anything the client's next command causes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from ..protocol import numerics as N
from ..protocol.message import Message
from .context import Context
from .handlers import (
    accounts,
    channels,
    chanserv,
    help,
    history,
    info,
    markers,
    messaging,
    metadata,
    modes,
    monitor,
    multiline,
    nickserv,
    oper,
    registration,
    rename,
)
from .state import Network, User

log = logging.getLogger(__name__)


Handler = Callable[[Context, Message], None]


@dataclass(frozen=True, slots=True)
class Command:
    handler: Handler
    min_params: int = 0
    before_registration: bool = False
    idle_reset: bool = False
    """Whether the command counts as activity for WHOIS idle time (messages do, PING does not)."""


COMMANDS: dict[str, Command] = {
    # registration and connection
    "CAP": Command(registration.handle_cap, 1, before_registration=True),
    "PASS": Command(registration.handle_pass, 1, before_registration=True),
    "NICK": Command(registration.handle_nick, 0, before_registration=True),
    "USER": Command(registration.handle_user, 4, before_registration=True),
    "PING": Command(registration.handle_ping, 0, before_registration=True),
    "PONG": Command(registration.handle_pong, 0, before_registration=True),
    "QUIT": Command(registration.handle_quit, 0, before_registration=True),
    # accounts
    "AUTHENTICATE": Command(accounts.handle_authenticate, 1, before_registration=True),
    "REGISTER": Command(accounts.handle_register, 3, before_registration=True),
    "NS": Command(nickserv.handle_ns),
    "NICKSERV": Command(nickserv.handle_ns),
    "CS": Command(chanserv.handle_cs),
    "CHANSERV": Command(chanserv.handle_cs),
    # messages
    "PRIVMSG": Command(multiline.handle_privmsg, 0, idle_reset=True),
    "NOTICE": Command(multiline.handle_notice, 0, idle_reset=True),
    "BATCH": Command(multiline.handle_batch, 1),
    "TAGMSG": Command(messaging.handle_tagmsg, 0),
    "AWAY": Command(messaging.handle_away),
    "SETNAME": Command(messaging.handle_setname, 1),
    "METADATA": Command(metadata.handle_metadata, 2, before_registration=True),
    # channels
    "JOIN": Command(channels.handle_join, 1),
    "PART": Command(channels.handle_part, 1),
    "TOPIC": Command(channels.handle_topic, 1),
    "NAMES": Command(channels.handle_names),
    "LIST": Command(channels.handle_list),
    "KICK": Command(channels.handle_kick, 2),
    "INVITE": Command(channels.handle_invite),
    "KNOCK": Command(channels.handle_knock, 1),
    "RENAME": Command(rename.handle_rename, 2),
    "MODE": Command(modes.handle_mode, 1),
    # history
    "CHATHISTORY": Command(history.handle_chathistory, 1),
    "REDACT": Command(history.handle_redact, 2),
    "MARKREAD": Command(markers.handle_markread),
    # queries
    "WHO": Command(info.handle_who),
    "WHOIS": Command(info.handle_whois, 1),
    "WHOWAS": Command(info.handle_whowas, 1),
    "ISON": Command(info.handle_ison, 1),
    "USERHOST": Command(info.handle_userhost, 1),
    "MOTD": Command(info.handle_motd),
    "LUSERS": Command(info.handle_lusers),
    "VERSION": Command(info.handle_version),
    "TIME": Command(info.handle_time),
    "INFO": Command(info.handle_info),
    "ADMIN": Command(info.handle_admin),
    "LINKS": Command(info.handle_links),
    "MONITOR": Command(monitor.handle_monitor, 1),
    "HELP": Command(help.handle_help),
    "HELPOP": Command(help.handle_help),
    # operators
    "OPER": Command(oper.handle_oper, 1),
    "KILL": Command(oper.handle_kill, 1),
    "KLINE": Command(oper.handle_kline, 1),
    "UNKLINE": Command(oper.handle_unkline, 1),
    "STATS": Command(oper.handle_stats),
    "WALLOPS": Command(oper.handle_wallops),
}


def dispatch(network: Network, user: User, message: Message) -> list[bytes]:
    """Run one command and return the lines for its sender, in order.

    The shared checks come first: 421 unknown command, 451 not registered, 461 not enough parameters.
    """
    pending = network.start_command(user)
    try:
        ctx = Context(network, user)
        verb = message.command.upper()
        cmd = COMMANDS.get(verb)
        if user.multiline is not None and multiline.interrupts(ctx, verb):
            pass  # a command inside a multiline batch: it failed the batch, and does not run
        elif cmd is None:
            if user.registered:
                ctx.reply(N.ERR_UNKNOWNCOMMAND, verb, "Unknown command")
            else:
                ctx.reply(N.ERR_NOTREGISTERED, "You have not registered")
        elif not user.registered and not cmd.before_registration:
            ctx.reply(N.ERR_NOTREGISTERED, "You have not registered")
        elif len(message.params) < cmd.min_params:
            ctx.need_more_params(verb)
        else:
            if cmd.idle_reset:
                user.last_active = network.clock()
            cmd.handler(ctx, message)
    finally:
        network.end_command(user)
    return pending
