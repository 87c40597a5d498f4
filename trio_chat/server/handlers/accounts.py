"""Accounts: SASL (``AUTHENTICATE`` with PLAIN and EXTERNAL), ``REGISTER`` (IRCv3 draft/account-registration),
and the password checks NickServ shares with them.

Password hashing (scrypt) is slow on purpose, so it never runs on the event loop: a command that needs it
finishes asynchronously (``ctx.defer``), hashing in a worker thread (``trio.to_thread.run_sync``), and applies
its result in one synchronous step when the hash is ready, re-checking what may have changed meanwhile (the
connection reads none of the client's later lines until then).  Hashes of cost ``INLINE_COST`` or below take
well under a millisecond: they are computed inline, which keeps the in-process tests (``password_hash_cost``
4, on trio's MockClock with autojump, where waiting for a thread would let virtual time jump) deterministic.

Failed logins are counted per account and per address (``Network.login_throttle``) and logged at WARNING with
the account and the address, never the password.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable

import trio

from ...protocol import numerics as N
from ...protocol.casemap import casefold
from ...protocol.message import Message
from ...protocol.names import is_valid_nick
from ..accounts import AccountRecord
from ..context import Context
from ..passwords import hash_cost, hash_password, verify_password
from ..state import SERVICE_NICKS, Network, SaslExchange, User

log = logging.getLogger("trio_chat.server.accounts")

INLINE_COST = 10
"""scrypt costs (log2 n) up to this are computed on the event loop (about a millisecond at 10)."""

MECHANISMS = ("PLAIN", "EXTERNAL")
SASL_CHUNK = 400
SASL_MAX = 8192
"""Most base64 characters one SASL exchange may send."""


# ---- running a step after the hash ------------------------------------------------------------------------


def _as_command(network: Network, user: User, step: Callable[[Context], None]) -> list[bytes]:
    """Run ``step`` as if it were a command of ``user``: its lines for them are returned, in order."""
    if user.gone:
        return []
    pending = network.start_command(user)
    try:
        step(Context(network, user))
    finally:
        network.end_command(user)
    return pending


def check_password(ctx: Context, password: str, stored: str, then: Callable[[Context, bool], None]) -> None:
    """Compare ``password`` with the hash ``stored`` (in constant time), off the event loop, then ``then``."""
    if hash_cost(stored) <= INLINE_COST:
        then(ctx, verify_password(password, stored))
        return
    network, user = ctx.network, ctx.user

    async def answer() -> list[bytes]:
        ok = await trio.to_thread.run_sync(verify_password, password, stored)
        return _as_command(network, user, lambda c: then(c, ok))

    ctx.defer(answer)


def new_hash(ctx: Context, password: str, then: Callable[[Context, str], None]) -> None:
    """Hash ``password`` at the configured cost, off the event loop, then ``then`` with the hash."""
    cost = ctx.config.password_hash_cost
    if cost <= INLINE_COST:
        then(ctx, hash_password(password, log2_n=cost))
        return
    network, user = ctx.network, ctx.user

    async def answer() -> list[bytes]:
        hashed = await trio.to_thread.run_sync(lambda: hash_password(password, log2_n=cost))
        return _as_command(network, user, lambda c: then(c, hashed))

    ctx.defer(answer)


def password_problem(ctx: Context, password: str) -> tuple[str, str] | None:
    """``(FAIL code, message)`` if ``password`` cannot be an account's password, else None."""
    if len(password) < ctx.config.password_min_length:
        return "WEAK_PASSWORD", f"Passwords must be at least {ctx.config.password_min_length} characters long"
    if len(password.encode("utf-8", "surrogateescape")) > ctx.config.password_max_length:
        return "UNACCEPTABLE_PASSWORD", f"Passwords must be at most {ctx.config.password_max_length} bytes long"
    return None


def account_name_problem(network: Network, name: str) -> str | None:
    """Why ``name`` cannot be registered as an account (a nick that is a valid, free account name)."""
    folded = casefold(name)
    if folded in SERVICE_NICKS or not is_valid_nick(name, network.config.nicklen):
        return "BAD_ACCOUNT_NAME"
    if folded in network.accounts:
        return "ACCOUNT_EXISTS"
    return None


def _failed_login(network: Network, user: User, folded: str, name: str, why: str) -> None:
    network.login_throttle.failed(folded, user.host, trio.current_time())
    log.warning("[%d] failed login to account %s from %s (%s): %s", user.id, name, user.host, user.nick, why)


def password_login(
    ctx: Context,
    name: str,
    password: str,
    *,
    success: Callable[[Context, AccountRecord], None],
    failure: Callable[[Context, str], None],
) -> None:
    """Check ``name``'s password, throttled; ``success`` or ``failure`` (with ergo's reason text) follows, maybe
    after the hash (see :func:`check_password`).  ``success`` does the login itself."""
    network, user = ctx.network, ctx.user
    folded = casefold(name)
    if not network.login_throttle.allowed(folded, user.host, trio.current_time()):
        log.warning("[%d] login to account %s from %s refused: too many failed logins", user.id, name, user.host)
        failure(ctx, "Invalid account credentials")
        return
    record = network.accounts.get(folded)
    if record is None:
        _failed_login(network, user, folded, name, "no such account")
        failure(ctx, "Account does not exist")
        return
    if not record.password_hash:
        _failed_login(network, user, folded, name, "the account has no password")
        failure(ctx, "Invalid account credentials")
        return

    def then(c: Context, ok: bool) -> None:
        current = network.accounts.get(folded)
        if ok and current is not None and current.password_hash == record.password_hash:
            success(c, current)
        else:
            _failed_login(network, c.user, folded, name, "wrong password")
            failure(c, "Invalid account credentials")

    check_password(ctx, password, record.password_hash, then)


# ---- SASL ---------------------------------------------------------------------------------------------------


def _sasl_fail(ctx: Context) -> None:
    ctx.reply(N.ERR_SASLFAIL, "SASL authentication failed")


def _sasl_success(ctx: Context, record: AccountRecord) -> None:
    log.info("[%d] %s logged in to account %s (SASL)", ctx.user.id, ctx.user.nick, record.name)
    ctx.network.login(ctx.user, record)
    ctx.reply(N.RPL_SASLSUCCESS, "SASL authentication successful")


def handle_authenticate(ctx: Context, msg: Message) -> None:
    """``AUTHENTICATE <mechanism>``, then base64 chunks of at most 400 characters (``+`` for none or to end an
    exact multiple of 400); ``AUTHENTICATE *`` aborts."""
    user = ctx.user
    arg = msg.params[0]
    exchange = user.sasl
    if arg == "*":
        user.sasl = None
        ctx.reply(N.ERR_SASLABORTED, "SASL authentication aborted")
        return
    if exchange is None:
        if user.account is not None:
            ctx.reply(N.ERR_SASLALREADY, "You have already authenticated using SASL")
            return
        mechanism = arg.upper()
        if mechanism not in MECHANISMS:
            ctx.reply(N.RPL_SASLMECHS, ",".join(MECHANISMS), "are available SASL mechanisms")
            _sasl_fail(ctx)
            return
        if mechanism == "EXTERNAL" and user.certfp is None:
            _sasl_fail(ctx)
            return
        user.sasl = SaslExchange(mechanism)
        ctx.server_message("AUTHENTICATE", "+")
        return
    if len(arg) > SASL_CHUNK:
        user.sasl = None
        ctx.reply(N.ERR_SASLTOOLONG, "SASL message too long")
        return
    if arg != "+":
        exchange.data += arg
    if len(exchange.data) > SASL_MAX:
        # Chunks that never end: the exchange fails (904), as ergo answers; 905 is for one chunk over 400 bytes.
        user.sasl = None
        _sasl_fail(ctx)
        return
    if len(arg) == SASL_CHUNK:
        return  # more to come
    user.sasl = None
    try:
        payload = base64.b64decode(exchange.data, validate=True)
    except (binascii.Error, ValueError):
        _sasl_fail(ctx)
        return
    if exchange.mechanism == "PLAIN":
        _sasl_plain(ctx, payload)
    else:
        _sasl_external(ctx, payload)


def _sasl_plain(ctx: Context, payload: bytes) -> None:
    parts = payload.split(b"\0")
    if len(parts) != 3:
        _sasl_fail(ctx)
        return
    try:
        authzid, authcid, password = (part.decode() for part in parts)
    except UnicodeDecodeError:
        _sasl_fail(ctx)
        return
    if not authcid or (authzid and casefold(authzid) != casefold(authcid)):
        _sasl_fail(ctx)
        return
    password_login(ctx, authcid, password, success=_sasl_success, failure=lambda c, _why: _sasl_fail(c))


def _sasl_external(ctx: Context, payload: bytes) -> None:
    user = ctx.user
    record = ctx.network.account_by_certfp(user.certfp) if user.certfp else None
    try:
        authzid = payload.decode()
    except UnicodeDecodeError:
        authzid = "\0"
    if record is None or (authzid and casefold(authzid) != record.folded):
        log.warning("[%d] failed SASL EXTERNAL from %s (certificate %s)", user.id, user.host, user.certfp)
        _sasl_fail(ctx)
        return
    _sasl_success(ctx, record)


# ---- REGISTER -------------------------------------------------------------------------------------------------


def _register_fail(ctx: Context, code: str, account: str, text: str) -> None:
    ctx.server_message("FAIL", "REGISTER", code, account, text)


def handle_register(ctx: Context, msg: Message) -> None:
    """``REGISTER <account|*> <email|*> <password>``: the account is the current nick; the e-mail address is not
    used (no verification)."""
    user, network = ctx.user, ctx.network
    name, password = msg.params[0], msg.params[2]
    if not user.registered and not ctx.config.registration_before_connect:
        _register_fail(ctx, "COMPLETE_CONNECTION_REQUIRED", "*", "You must complete the connection first")
        return
    nick = user.nick
    if nick == "*":
        _register_without_a_nick(ctx, name)
        return
    if name != "*" and casefold(name) != casefold(nick):
        shown = name if name and " " not in name and name[0] != ":" else "*"
        _register_fail(ctx, "ACCOUNT_NAME_MUST_BE_NICK", shown, "You may only register your nickname as your account")
        return
    if user.account is not None:
        _register_fail(ctx, "ALREADY_AUTHENTICATED", user.account, "You are already logged in to an account")
        return
    problem = account_name_problem(network, nick)
    if problem is None and network.nick_in_use(nick, user):
        problem = "ACCOUNT_EXISTS"
    if problem == "ACCOUNT_EXISTS":
        _register_fail(ctx, problem, nick, "Username is already registered or otherwise unavailable")
        return
    if problem is not None:
        _register_fail(ctx, problem, nick, "This name cannot be registered")
        return
    weak = password_problem(ctx, password)
    if weak is not None:
        _register_fail(ctx, weak[0], nick, weak[1])
        return

    def then(c: Context, hashed: str) -> None:
        if c.user.account is not None:
            _register_fail(c, "ALREADY_AUTHENTICATED", c.user.account, "You are already logged in to an account")
            return
        current = c.user.nick
        if casefold(current) != casefold(nick) or account_name_problem(network, current) is not None:
            _register_fail(c, "ACCOUNT_EXISTS", nick, "Username is already registered or otherwise unavailable")
            return
        record = create_account(c, current, hashed)
        c.server_message("REGISTER", "SUCCESS", record.name, "Account successfully registered")
        network.login(c.user, record)

    new_hash(ctx, password, then)


def _register_without_a_nick(ctx: Context, name: str) -> None:
    """REGISTER before any NICK was accepted.  If the client's NICK was refused (in use) and it asks for that
    name (or ``*``), the name is not available: ``ACCOUNT_EXISTS`` (the spec's "a nick that is not available as
    a new account's name", after a NICK command), so that nobody registers a nick out from under the one who
    holds it.  Otherwise (no NICK yet, another name, or the name is free by now) ``NEED_NICK``."""
    network, wanted = ctx.network, ctx.user.refused_nick
    if wanted is not None and (name == "*" or casefold(name) == casefold(wanted)):
        problem = account_name_problem(network, wanted)
        if problem is None and network.nick_in_use(wanted, ctx.user):
            problem = "ACCOUNT_EXISTS"
        if problem == "ACCOUNT_EXISTS":
            _register_fail(ctx, problem, wanted, "Username is already registered or otherwise unavailable")
            return
        if problem is not None:
            _register_fail(ctx, problem, wanted, "This name cannot be registered")
            return
    _register_fail(ctx, "NEED_NICK", "*", "You must choose a nickname (NICK) first")


def create_account(ctx: Context, name: str, hashed: str) -> AccountRecord:
    """Store a new account named ``name`` (checked free) with the password hash ``hashed``."""
    record = AccountRecord(
        name=name,
        folded=casefold(name),
        password_hash=hashed,
        created=ctx.network.now(),
    )
    ctx.network.save_account(record)
    log.info("[%d] %s registered account %s", ctx.user.id, ctx.user.source, name)
    return record
