"""NickServ, built in: a pseudo-user that answers ``PRIVMSG NickServ :…`` (and the ``NS``/``NICKSERV``
commands) with NOTICEs from ``NickServ!NickServ@services.``, worded as ergo words them where ergo has words.

Commands: REGISTER, IDENTIFY, DROP, INFO, CERT, PASSWD, GHOST, REGAIN, HELP.  Passwords are checked and
hashed as for SASL (``handlers/accounts.py``): off the event loop, throttled, never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from email.utils import formatdate

from ...protocol.casemap import casefold
from ...protocol.message import Message
from ..accounts import AccountRecord, normalize_certfp
from ..context import Context
from . import accounts, services

log = logging.getLogger("trio_chat.server.accounts")

MAX_CERTFPS = 16
"""Certificate fingerprints one account may have."""

HELP: dict[str, tuple[str, str]] = {
    "REGISTER": (
        "REGISTER <password>",
        "Registers your current nickname as an account with this password, and logs you in.",
    ),
    "IDENTIFY": (
        "IDENTIFY [account] <password>",
        "Logs you in to an account (the one named like your nickname if you name none). "
        "With a TLS client certificate added to the account, IDENTIFY <account> needs no password.",
    ),
    "DROP": ("DROP <password>", "Deletes the account you are logged in to. It cannot be undone."),
    "INFO": ("INFO [account]", "Shows an account's name and when it was registered."),
    "CERT": (
        "CERT LIST | CERT ADD [fingerprint] | CERT DEL <fingerprint>",
        "Manages the TLS client certificates (SHA-256 fingerprints) that may log in to your account with "
        "SASL EXTERNAL. ADD without a fingerprint adds the certificate you are connected with.",
    ),
    "PASSWD": ("PASSWD <old password> <new password>", "Changes your account's password."),
    "GHOST": (
        "GHOST <nick>",
        "Disconnects whoever holds your account's nickname without being logged in to it "
        "(or a session of yours that is logged in).",
    ),
    "REGAIN": ("REGAIN <nick>", "Like GHOST, and then takes the nickname."),
    "HELP": ("HELP [command]", "Shows the commands, or how to use one."),
}


def handle_ns(ctx: Context, msg: Message) -> None:
    """``NS <command> [arguments]`` (also ``NICKSERV``): as a PRIVMSG to NickServ."""
    handle_text(ctx, " ".join(msg.params))


def handle_text(ctx: Context, text: str) -> None:
    """A message to NickServ."""
    services.run_command(ctx, text, _COMMANDS, _notice, "NS")


def _notice(ctx: Context, text: str) -> None:
    ctx.network.service_notice(ctx.user, text)


def _syntax(ctx: Context, command: str) -> None:
    _notice(ctx, f"Syntax: {HELP[command][0]}")


def _logged_in(ctx: Context) -> AccountRecord | None:
    """The account the user is logged in to; None (and the NOTICE saying so) if there is none."""
    account = ctx.user.account
    record = ctx.network.find_account(account) if account is not None else None
    if record is None:
        _notice(ctx, "You're not logged into an account")
    return record


def _now_logged_in(ctx: Context, record: AccountRecord, how: str) -> None:
    log.info("[%d] %s logged in to account %s (%s)", ctx.user.id, ctx.user.nick, record.name, how)
    _notice(ctx, f"You're now logged in as {record.name}")
    ctx.network.login(ctx.user, record)


# ---- the commands ---------------------------------------------------------------------------------------------


def _register(ctx: Context, args: list[str]) -> None:
    user, network = ctx.user, ctx.network
    if user.account is not None:
        _notice(ctx, "You're already logged into an account")
        return
    if not args:
        _syntax(ctx, "REGISTER")
        return
    password = args[0]
    problem = accounts.account_name_problem(network, user.nick)
    if problem == "ACCOUNT_EXISTS":
        _notice(ctx, "Account already exists")
        return
    if problem is not None:
        _notice(ctx, "This nickname cannot be registered")
        return
    weak = accounts.password_problem(ctx, password)
    if weak is not None:
        _notice(ctx, weak[1])
        return
    nick = user.nick

    def then(c: Context, hashed: str) -> None:
        if c.user.account is not None:
            _notice(c, "You're already logged into an account")
            return
        if casefold(c.user.nick) != casefold(nick) or accounts.account_name_problem(network, c.user.nick):
            _notice(c, "Account already exists")
            return
        record = accounts.create_account(c, c.user.nick, hashed)
        _notice(c, "Account created")
        _now_logged_in(c, record, "registered")

    accounts.new_hash(ctx, password, then)


def _identify(ctx: Context, args: list[str]) -> None:
    user, network = ctx.user, ctx.network
    if user.account is not None:
        _notice(ctx, "You're already logged into an account")
        return
    if not args:
        _syntax(ctx, "IDENTIFY")
        return
    if len(args) == 1 and user.certfp is not None:
        record = network.find_account(args[0])
        if record is not None and user.certfp in record.certfps:
            _now_logged_in(ctx, record, "certificate")
            return
    name, password = (user.nick, args[0]) if len(args) == 1 else (args[0], args[1])
    accounts.password_login(
        ctx,
        name,
        password,
        success=lambda c, record: _now_logged_in(c, record, "IDENTIFY"),
        failure=lambda c, why: _notice(c, f"Authentication failed: {why}"),
    )


def _drop(ctx: Context, args: list[str]) -> None:
    record = _logged_in(ctx)
    if record is None:
        return
    if not args or len(args) > 2:
        _syntax(ctx, "DROP")
        return
    if len(args) == 2 and casefold(args[0]) != record.folded:
        _notice(ctx, "You can only drop your own account")
        return
    network = ctx.network

    def success(c: Context, current: AccountRecord) -> None:
        network.drop_account(current)
        log.info("[%d] %s dropped account %s", c.user.id, c.user.source, current.name)
        _notice(c, f"Successfully unregistered account {current.name}")

    accounts.password_login(
        ctx, record.name, args[-1], success=success, failure=lambda c, _why: _notice(c, "Password incorrect")
    )


def _info(ctx: Context, args: list[str]) -> None:
    if args:
        record = ctx.network.find_account(args[0])
        if record is None:
            _notice(ctx, "Account does not exist")
            return
    else:
        found = _logged_in(ctx)
        if found is None:
            return
        record = found
    _notice(ctx, f"Account: {record.name}")
    _notice(ctx, f"Registered at: {formatdate(record.created, usegmt=True)}")
    if ctx.user.account is not None and casefold(ctx.user.account) == record.folded:
        _notice(ctx, f"Certificate fingerprints: {len(record.certfps)}")


def _cert(ctx: Context, args: list[str]) -> None:
    record = _logged_in(ctx)
    if record is None:
        return
    network, user = ctx.network, ctx.user
    sub = args[0].upper() if args else "LIST"
    if sub == "LIST":
        _notice(
            ctx,
            f"There are {len(record.certfps)} certificate fingerprint(s) authorized for account {record.name}.",
        )
        for known in record.certfps:
            _notice(ctx, f"- {known}")
        return
    if sub not in ("ADD", "DEL") or len(args) > 2 or (sub == "DEL" and len(args) != 2):
        _notice(ctx, "Invalid parameters")
        return
    fp = normalize_certfp(args[1]) if len(args) == 2 else user.certfp
    if fp is None:
        if len(args) == 2:
            _notice(ctx, "Invalid certificate fingerprint")
        else:
            _notice(ctx, "You must be connected with TLS and a client certificate to do this")
        return
    if sub == "ADD":
        if fp in record.certfps:
            _notice(ctx, "That certificate fingerprint was already authorized")
            return
        if network.account_by_certfp(fp) is not None:
            _notice(ctx, "That certificate fingerprint is already associated with another account")
            return
        if len(record.certfps) >= MAX_CERTFPS:
            _notice(ctx, "You already have too many certificate fingerprints")
            return
        network.save_account(replace(record, certfps=(*record.certfps, fp)))
        log.info("[%d] account %s: certificate %s added", user.id, record.name, fp)
        _notice(ctx, "Certificate fingerprint successfully added")
    else:
        if fp not in record.certfps:
            _notice(ctx, "Certificate fingerprint not found")
            return
        network.save_account(replace(record, certfps=tuple(f for f in record.certfps if f != fp)))
        log.info("[%d] account %s: certificate %s removed", user.id, record.name, fp)
        _notice(ctx, "Certificate fingerprint successfully removed")


def _passwd(ctx: Context, args: list[str]) -> None:
    record = _logged_in(ctx)
    if record is None:
        return
    if len(args) != 2:
        _syntax(ctx, "PASSWD")
        return
    old, new = args
    weak = accounts.password_problem(ctx, new)
    if weak is not None:
        _notice(ctx, weak[1])
        return
    network = ctx.network

    def set_hash(c: Context, hashed: str) -> None:
        current = network.accounts.get(record.folded)
        if current is None:
            _notice(c, "Account does not exist")
            return
        network.save_account(replace(current, password_hash=hashed))
        log.info("[%d] account %s: password changed", c.user.id, current.name)
        _notice(c, "Password changed")

    accounts.password_login(
        ctx,
        record.name,
        old,
        success=lambda c, _record: accounts.new_hash(c, new, set_hash),
        failure=lambda c, _why: _notice(c, "Password incorrect"),
    )


def _ghost_or_regain(regain: bool) -> Callable[[Context, list[str]], None]:
    command = "REGAIN" if regain else "GHOST"

    def handler(ctx: Context, args: list[str]) -> None:
        user, network = ctx.user, ctx.network
        if len(args) != 1:
            _syntax(ctx, command)
            return
        target = network.find_user(args[0])
        if target is None:
            _notice(ctx, "No such nick")
            return
        if target is user:
            _notice(ctx, "You can't GHOST yourself (try /QUIT instead)")
            return
        mine = casefold(user.account) if user.account is not None else None
        owns = mine is not None and (
            mine == target.folded or (target.account is not None and casefold(target.account) == mine)
        )
        if not owns:
            _notice(ctx, "You don't own that nick")
            return
        nick = target.nick
        log.info("[%d] %s %s %s", user.id, user.source, command, target.source)
        network.kill(target, f"GHOSTed by {user.nick}")
        if regain:
            network.change_nick(user, nick)
            network.claim_nick(user)
        else:
            _notice(ctx, f"{nick} has been ghosted")

    return handler


INTRO = "NickServ lets you register your nickname as an account and log in to it. Commands:"


def _help(ctx: Context, args: list[str]) -> None:
    services.show_help(
        ctx,
        args,
        HELP,
        _notice,
        name="NickServ",
        short="NS",
        intro=INTRO,
    )


_COMMANDS: dict[str, Callable[[Context, list[str]], None]] = {
    "REGISTER": _register,
    "IDENTIFY": _identify,
    "LOGIN": _identify,
    "DROP": _drop,
    "INFO": _info,
    "CERT": _cert,
    "PASSWD": _passwd,
    "GHOST": _ghost_or_regain(False),
    "REGAIN": _ghost_or_regain(True),
    "HELP": _help,
}
