"""HELP and HELPOP: a help text for every command, answered with 704/705/706 (524 for an unknown topic), as
modern.ircdocs.horse and ergo answer them.

Each text starts with the command's syntax; the rest says what it does.  ``HELP`` alone lists the commands.
A test checks that every command in the command table has a text here.
"""

from __future__ import annotations

from ...protocol import numerics as N
from ...protocol.message import Message
from ..context import Context

HELP_TEXTS: dict[str, str] = {
    "ADMIN": """ADMIN [server]
Shows who runs this server and how to reach them.""",
    "AUTHENTICATE": """AUTHENTICATE <mechanism> | <base64 data> | * | +
Logs in to an account with SASL (capability sasl), before or after registration.
Mechanisms: PLAIN, and EXTERNAL with a TLS client certificate. * aborts.""",
    "AWAY": """AWAY [message]
Marks you away with the message (301 to those who message you); without one, back.""",
    "BATCH": """BATCH +<ref> draft/multiline <target> | BATCH -<ref>
Sends one message of several lines (IRCv3 draft/multiline): the PRIVMSG or NOTICE
lines between the two, each tagged batch=<ref>, are delivered together when it ends.""",
    "CAP": """CAP LS [302] | LIST | REQ :<capabilities> | END
Negotiates IRCv3 capabilities. LS lists what the server offers, REQ asks for
some (all or none are granted), END finishes negotiation and lets registration complete.""",
    "CHANSERV": """CHANSERV <command> [arguments]
Talks to ChanServ, the channel registration service (also /msg ChanServ, or CS).
Commands: REGISTER, INFO, DROP, AMODE, OP, HELP. Try CS HELP.""",
    "CHATHISTORY": """CHATHISTORY <LATEST|BEFORE|AFTER|AROUND> <target> <reference> <limit>
CHATHISTORY BETWEEN <target> <reference> <reference> <limit>
CHATHISTORY TARGETS <reference> <reference> <limit>
Reads the stored history of a channel you are in, or of a conversation between
two logged-in accounts (capability draft/chathistory). A reference is
msgid=<id>, timestamp=<time> or *.""",
    "CS": """CS <command> [arguments]
Short for CHANSERV.""",
    "HELP": """HELP [command]
Lists the commands, or shows what one command does. HELPOP is the same.""",
    "HELPOP": """HELPOP [command]
The same as HELP.""",
    "INFO": """INFO [server]
Shows which software this server runs and since when.""",
    "INVITE": """INVITE <nick> <#channel>
INVITE
Invites someone to a channel you are in (an operator only, if the channel is +i);
the invitation lets them in once past +i, +l and +b. Without arguments, lists the
channels you are invited to (336, then 337).""",
    "ISON": """ISON <nick> [nick ...]
Tells which of the nicks are online (303).""",
    "JOIN": """JOIN <#channel>[,<#channel>...] [key[,key...]]
JOIN 0
Joins channels (creating a new one, with you as its operator), or with 0
leaves every channel you are in.""",
    "KICK": """KICK <#channel> <nick>[,<nick>...] [reason]
Removes people from a channel (operators only).""",
    "KILL": """KILL <nick> [reason]
Disconnects someone from the server (IRC operators only).""",
    "KLINE": """KLINE <[user@]host mask> [reason]
Bans matching users from the server and disconnects those connected now
(IRC operators only). K-lines last until the server restarts.""",
    "KNOCK": """KNOCK <#channel> [message]
Asks the operators of a channel you cannot join because it is +i or full to
invite you (710 to them, 711 to you). Rate limited per user and channel
and per channel (712; the server's knock_interval, knock_channel_interval).""",
    "LINKS": """LINKS [[server] mask]
Lists the servers of this network: this one only (364, then 365).""",
    "LIST": """LIST [#channel[,#channel...]]
LIST <condition>[,<condition>...]
Lists channels with their user count and topic. Conditions (ELIST=U):
>n / <n more / fewer than n users.""",
    "LUSERS": """LUSERS
Shows how many users, operators and channels there are.""",
    "MARKREAD": """MARKREAD <target> [timestamp=<time>]
Reads or moves your read marker for a channel or nick (capability draft/read-marker).""",
    "METADATA": """METADATA <target> GET <key>... | LIST | SET <key> [:<value>] | CLEAR | SYNC
METADATA * SUB <key>... | UNSUB <key>... | SUBS
Reads and sets metadata of users and channels, and subscribes to its changes
(capability draft/metadata-3).""",
    "MODE": """MODE <nick> [+|-modes]
MODE <#channel> [+|-modes [arguments]]
Shows or changes modes. User modes: +i invisible, +B bot, +w receive WALLOPS,
-o stop being an operator. Channel modes: +n +t +m +i +s, +C (no CTCP but ACTION),
+k key, +l limit, +o/+v nick, +b mask (m:mask mutes), +e mask (ban exception),
+I mask (invite exception). +b, +e or +I without a mask lists them.""",
    "MONITOR": """MONITOR + <nick>[,<nick>...] | - <nick>[,<nick>...] | C | L | S
Watches nicks: you are told (730/731) when they come online or leave.
+ adds, - removes, C clears, L lists, S shows who is online now.""",
    "MOTD": """MOTD [server]
Shows the message of the day.""",
    "NAMES": """NAMES <#channel>[,<#channel>...]
Lists the people in channels (353), then 366.""",
    "NICK": """NICK <nick>
Sets or changes your nick.""",
    "NICKSERV": """NICKSERV <command> [arguments]
Talks to NickServ, the account service (also /msg NickServ, or NS).
Commands: REGISTER, IDENTIFY, DROP, INFO, CERT, PASSWD, GHOST, REGAIN, HELP. Try NS HELP.""",
    "NOTICE": """NOTICE <target>[,<target>...] <text>
Sends a notice to channels or nicks. It never causes an automatic reply or error.""",
    "NS": """NS <command> [arguments]
Short for NICKSERV.""",
    "OPER": """OPER <name> [password]
Makes you an IRC operator (381, user mode +o).""",
    "PART": """PART <#channel>[,<#channel>...] [reason]
Leaves channels.""",
    "PASS": """PASS <password>
Gives the connection password, before NICK and USER.""",
    "PING": """PING <token>
Asks the server to answer PONG with the token.""",
    "PONG": """PONG <token>
Answers the server's PING.""",
    "PRIVMSG": """PRIVMSG <target>[,<target>...] <text>
Sends a message to channels (#chan, or @#chan / +#chan for its operators / voiced)
or nicks; up to 4 targets.""",
    "QUIT": """QUIT [reason]
Disconnects, telling your channels the reason.""",
    "REDACT": """REDACT <target> <msgid> [reason]
Deletes a message from history and from the screens of clients with
draft/message-redaction (its sender or a channel operator).""",
    "REGISTER": """REGISTER <account|*> <email|*> <password>
Registers your nick as an account and logs you in to it (draft/account-registration).""",
    "RENAME": """RENAME <#old> <#new> [reason]
Renames a channel you operate, keeping its members, modes, topic and history
(draft/channel-rename). Members without the capability see a PART from the old
name and a JOIN to the new one.""",
    "SETNAME": """SETNAME <realname>
Changes your realname (capability setname).""",
    "STATS": """STATS <letter>
u: the server's uptime. z: its internals (IRC operators only).""",
    "TAGMSG": """TAGMSG <target>[,<target>...]
Sends only client tags (typing notifications, reactions) to clients with message-tags.""",
    "TIME": """TIME [server]
Shows the server's time.""",
    "TOPIC": """TOPIC <#channel> [topic]
Shows or sets a channel's topic (an empty one clears it; +t: operators only).""",
    "UNKLINE": """UNKLINE <[user@]host mask>
Removes a K-line (IRC operators only).""",
    "USER": """USER <username> 0 * <realname>
Gives your username and realname, at registration.""",
    "USERHOST": """USERHOST <nick> [nick ...]
Shows up to five people's user@host (302).""",
    "VERSION": """VERSION [server]
Shows the server's version and what it supports (005).""",
    "WALLOPS": """WALLOPS <text>
Sends a message to every user with user mode +w (IRC operators only).""",
    "WHO": """WHO <mask|#channel> [o][%fields[,token]]
Lists users matching a mask, or a channel's members (352). With %fields (WHOX),
answers 354 with the fields tcuihsnfdlaor asked for.""",
    "WHOIS": """WHOIS [server] <nick>
Shows who someone is: user@host, realname, channels, account, idle time.""",
    "WHOWAS": """WHOWAS <nick> [count]
Shows who used a nick that is offline now.""",
}


def _lines(text: str) -> list[str]:
    return text.split("\n")


def handle_help(ctx: Context, msg: Message) -> None:
    """``HELP [topic]``: 704 with the first line, 705 with the others, 706 at the end; 524 for a topic that
    is no command.  ``HELP`` alone (topic ``*``) lists the commands."""
    topic = msg.params[0].strip() if msg.params else ""
    if not topic:
        _send(ctx, "*", _index())
        return
    text = HELP_TEXTS.get(topic.upper())
    if text is None:
        ctx.reply(N.ERR_HELPNOTFOUND, topic, "No help available on this topic")
        return
    _send(ctx, topic.upper(), _lines(text))


def _index() -> list[str]:
    names = sorted(HELP_TEXTS)
    rows = [" ".join(f"{n:<13}" for n in names[i : i + 6]).rstrip() for i in range(0, len(names), 6)]
    return ["** Help System: the commands of this server **", "", *rows, "", "HELP <command> tells more about one."]


def _send(ctx: Context, topic: str, lines: list[str]) -> None:
    first, *rest = lines
    ctx.reply(N.RPL_HELPSTART, topic, first)
    for line in rest:
        ctx.reply(N.RPL_HELPTXT, topic, line)
    ctx.reply(N.RPL_ENDOFHELP, topic, "End of /HELP")
