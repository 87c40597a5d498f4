"""``trio-chat join``: the command-line options, and running the UI on asyncio with the trio core as a guest.

prompt_toolkit is asyncio-native and trio is not, so the Application owns the thread's event loop and the
client core runs inside it through ``trio.lowlevel.start_guest_run`` (trio's guest mode).  Both live on one
thread: the UI calls the core's synchronous methods directly, and the core's model changes call
``invalidate()``.  Quitting cancels the trio side; its done-callback ends the Application.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import signal
import sys
import traceback
from collections.abc import Awaitable, Callable, Mapping

import trio
from outcome import Outcome

from trio_chat.client.chatlog import default_log_dir
from trio_chat.client.core import ChatClient, ClientConfig, insecure_warning
from trio_chat.client.model import ChatModel
from trio_chat.protocol.names import is_channel_name, is_valid_nick

from .describe import line_text
from .view import ChatUI

DEFAULT_PORT = 6667
DEFAULT_TLS_PORT = 6697
MAX_NICK = 30
PASSWORD_ENV = "TRIO_CHAT_PASSWORD"
"""Where ``--sasl`` takes the account's password from, when set; otherwise it is asked for on the terminal."""


def add_join_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``trio-chat join`` (the lead's ``cli.py`` adds them to its subparser)."""
    parser.add_argument("nick", help="your nickname (alice_ is tried if it is taken)")
    parser.add_argument("--host", default="127.0.0.1", help="server host (default: %(default)s)")
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"server port (default: {DEFAULT_PORT}, or {DEFAULT_TLS_PORT} with --tls)",
    )
    parser.add_argument(
        "--channel",
        dest="channels",
        action="append",
        metavar="#CHANNEL",
        help="channel to join on connect; repeat for more (default: #lobby)",
    )
    parser.add_argument("--password", default=None, help="connection password (PASS)")
    parser.add_argument(
        "--sasl",
        nargs="?",
        const="",
        default=None,
        metavar="ACCOUNT",
        help=f"log in to ACCOUNT (default: the nick) with SASL; the password comes from ${PASSWORD_ENV} or is "
        "asked for (never give it on the command line)",
    )
    parser.add_argument("--tls", action="store_true", help="connect with TLS")
    parser.add_argument(
        "--tls-insecure", action="store_true", help="with TLS, do not verify the certificate (implies --tls)"
    )
    parser.add_argument("--username", default=None, help="user name (ident) to register with (default: the nick)")
    parser.add_argument("--realname", default="trio-chat user", help="real name shown by /whois")
    parser.add_argument(
        "--no-log",
        dest="log",
        action="store_false",
        help="do not log conversations (by default they go to $XDG_DATA_HOME/trio-chat/logs/NETWORK/BUFFER.log, "
        "~/.local/share/trio-chat/logs/… without XDG_DATA_HOME)",
    )


class UsageError(Exception):
    pass


def sasl_account(args: argparse.Namespace) -> str | None:
    """The account ``--sasl`` names (the nick when it names none); None without ``--sasl``."""
    chosen: str | None = getattr(args, "sasl", None)
    if chosen is None:
        return None
    account = chosen or args.nick
    if not account or any(c in account for c in " \0\r\n"):
        raise UsageError(f"--sasl {account!r} is not an account name")
    return str(account)


def read_password(
    account: str,
    *,
    environ: Mapping[str, str] = os.environ,
    ask: Callable[[str], str] = getpass.getpass,
) -> str:
    """The password of ``account``: ``$TRIO_CHAT_PASSWORD``, or asked for on the terminal without echo.

    Raises :class:`UsageError` for an empty one (or when asking was interrupted).
    """
    password = environ.get(PASSWORD_ENV)
    if not password:
        try:
            password = ask(f"Password for account {account}: ")
        except (EOFError, KeyboardInterrupt):
            raise UsageError("no password given") from None
    if not password:
        raise UsageError(f"an empty password cannot log in (set {PASSWORD_ENV} or type it when asked)")
    if any(c in password for c in "\0\r\n"):
        raise UsageError("the password holds a line break or NUL, which SASL PLAIN cannot carry")
    return password


def config_from_args(
    args: argparse.Namespace, *, sasl_password: str | None = None, environ: Mapping[str, str] = os.environ
) -> ClientConfig:
    """Check the options and turn them into a :class:`ClientConfig` (raises :class:`UsageError`).

    With ``--sasl``, ``sasl_password`` (from :func:`read_password`) is the account's password.
    """
    nick: str = args.nick
    if not is_valid_nick(nick, MAX_NICK):
        raise UsageError(f"{nick!r} is not a valid nick: a letter first, then letters, digits or -[]\\`_^{{|}}")
    channels = []
    for name in args.channels if args.channels is not None else ["#lobby"]:
        for part in name.split(","):
            if part:
                channels.append(part if is_channel_name(part) else "#" + part)
    tls = bool(args.tls or args.tls_insecure)
    port = args.port if args.port is not None else (DEFAULT_TLS_PORT if tls else DEFAULT_PORT)
    if not 0 < port < 65536:
        raise UsageError(f"--port {port} is not a port number")
    account = sasl_account(args)
    if account is not None and sasl_password is None:
        raise UsageError("--sasl needs a password")
    return ClientConfig(
        nick=nick,
        host=args.host,
        port=port,
        channels=tuple(channels),
        password=args.password,
        tls=tls,
        tls_insecure=bool(args.tls_insecure),
        username=args.username,
        realname=args.realname,
        sasl_account=account,
        sasl_password=sasl_password if account is not None else None,
        log_dir=str(default_log_dir(environ)) if getattr(args, "log", True) else None,
    )


async def run_with_guest(
    ui: ChatUI,
    trio_main: Callable[[], Awaitable[None]],
    cancel: Callable[[], None],
    *,
    on_terminate: Callable[[], None] | None = None,
) -> int:
    """Run the Application on this asyncio loop and ``trio_main`` as trio's guest; 0 when both end cleanly.

    When the trio side ends (``/quit``, Ctrl-D, a fatal refusal) its done-callback exits the Application.
    When the Application ends first, ``cancel()`` stops the trio side and we wait for it.  With
    ``on_terminate``, SIGTERM and SIGHUP (the terminal went away) call it for a goodbye instead of killing us
    with the terminal still in raw mode.
    """
    loop = asyncio.get_running_loop()
    if on_terminate is not None:
        for signum in (signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(signum, on_terminate)
    done: asyncio.Future[Outcome[None]] = loop.create_future()
    started = False

    def on_done(outcome: Outcome[None]) -> None:
        if not done.done():
            done.set_result(outcome)
        ui.exit()

    def start() -> None:
        nonlocal started
        started = True
        trio.lowlevel.start_guest_run(
            trio_main,
            run_sync_soon_threadsafe=loop.call_soon_threadsafe,
            run_sync_soon_not_threadsafe=loop.call_soon,
            done_callback=on_done,
            host_uses_signal_set_wakeup_fd=True,
        )

    try:
        await ui.application.run_async(pre_run=start)
    finally:
        if on_terminate is not None:
            for signum in (signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(signum)
        if started:
            if not done.done():
                cancel()
            outcome = await done
    try:
        outcome.unwrap()
    except Exception:
        traceback.print_exc()
        return 1
    return 0


def run_client(args: argparse.Namespace) -> int:
    """``trio-chat join``: the exit code.

    0 after ``/quit``, Ctrl-D or Ctrl-C twice; 1 when the server refused us for good (wrong password, a SASL
    login refused or not offered, banned, no usable nick: the reason is printed once the screen is restored);
    2 for bad usage or no terminal.
    """
    if not sys.stdout.isatty() or not sys.stdin.isatty():
        which = "stdout" if not sys.stdout.isatty() else "stdin"
        print(
            f"trio-chat join: {which} is not a terminal. The chat client draws a full-screen interface and needs "
            "an interactive terminal; run it directly in a terminal (not through a pipe or redirection).",
            file=sys.stderr,
        )
        return 2
    try:
        account = sasl_account(args)
        # Asked for here, before the full-screen interface takes the terminal; kept in memory only.
        password = read_password(account) if account is not None else None
        config = config_from_args(args, sasl_password=password)
    except UsageError as exc:
        print(f"trio-chat join: {exc}", file=sys.stderr)
        return 2
    root = logging.getLogger()
    quiet = logging.NullHandler()
    if not root.handlers:
        # Log records must never be printed over the full-screen interface (logging's last-resort handler would).
        root.addHandler(quiet)
    try:
        model = ChatModel(config.nick)
        client = ChatClient(config, model, describe=line_text)
        ui = ChatUI(model, client)
        code = asyncio.run(run_with_guest(ui, client.run, client.cancel, on_terminate=client.quit))
    finally:
        root.removeHandler(quiet)
    # The screen is gone by now: what must not be missed goes to the restored terminal, where it stays readable.
    for note in exit_notes(config, client.fatal_error if code == 0 else None):
        print(f"trio-chat join: {note}", file=sys.stderr)
    if code == 0 and client.fatal_error:
        return 1
    return code


def exit_notes(config: ClientConfig, fatal_error: str | None) -> list[str]:
    """What is printed on the terminal after the screen closes: the ``--tls-insecure`` warning (said in the
    server buffer too, where it scrolls away), then why the client gave up, if it did."""
    notes = [insecure_warning(config)] if config.tls and config.tls_insecure else []
    if fatal_error:
        notes.append(fatal_error)
    return notes
