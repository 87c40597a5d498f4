"""The command line: ``trio-chat serve`` and ``trio-chat join NICK``."""

from __future__ import annotations

import argparse
import errno
import getpass
import logging
import sys
from collections.abc import Sequence
from typing import Any

import trio

from . import __version__
from .server.config import ConfigError, ServerConfig, load_config_file

# Command-line options of `serve` and the config keys they set: each key is the flag's name with `_` for `-`.
# Defaults live in ServerConfig only: an option not given leaves the config file's value (or the default) alone.
SERVE_OPTIONS: list[tuple[str, str, type, str]] = [
    ("--host", "host", str, "address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)"),
    ("--port", "port", int, "TCP port (default 6667)"),
    ("--server-name", "server_name", str, "the server's name in replies (default trio-chat.local)"),
    ("--network-name", "network_name", str, "network name announced in ISUPPORT (default TrioChat)"),
    ("--motd", "motd", str, "file with the message of the day"),
    ("--password", "password", str, "connection password clients must send with PASS"),
    ("--tls-port", "tls_port", int, "also listen for TLS on this port (6697 by convention)"),
    ("--tls-cert", "tls_cert", str, "PEM certificate chain for TLS (reloaded on SIGHUP)"),
    ("--tls-key", "tls_key", str, "PEM private key for TLS (reloaded on SIGHUP)"),
    ("--web-port", "web_port", int, "serve the web client and IRC over WebSocket on this port (off by default)"),
    ("--log-level", "log_level", str, "DEBUG, INFO (default), WARNING or ERROR"),
    ("--sendq", "sendq", int, "lines queued to a client before it is dropped as not reading (default 4096)"),
    ("--ping-interval", "ping_interval", float, "seconds of silence before the server PINGs (default 90)"),
    ("--ping-timeout", "ping_timeout", float, "seconds to wait for an answer to that PING (default 60)"),
    ("--flood-limit", "flood_limit", float, "lines per second a client may send after its burst; 0 = off (default 2)"),
    ("--flood-burst", "flood_burst", int, "lines a client may send at once (default 5)"),
    ("--max-clients", "max_clients", int, "connections in all; 0 = no limit (default 4096)"),
    ("--max-per-ip", "max_per_ip", int, "connections from one address; 0 = no limit (default 256)"),
    ("--db", "db", str, "history database file (default ./trio-chat.db; :memory: keeps nothing on disk)"),
    ("--history-replay", "history_replay", int, "messages replayed to a client joining a channel; 0 = off (50)"),
    ("--history-max-messages", "history_max_messages", int, "messages kept per channel; 0 = no limit (10000)"),
    ("--history-max-days", "history_max_days", float, "days a message is kept; 0 = forever (default 0)"),
    ("--redis-url", "redis_url", str, "redis://HOST:PORT/DB: be a node of the network in that Redis (also --redis)"),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trio-chat", description="A multi-user IRC chat server and client.")
    parser.add_argument("--version", action="version", version=f"trio-chat {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the chat server", description="Run the IRC chat server.")
    for flag, dest, kind, text in SERVE_OPTIONS:
        serve.add_argument(flag, dest=dest, type=kind, default=None, help=text)
    serve.add_argument("--redis", dest="redis_url", type=str, default=None, help=argparse.SUPPRESS)
    serve.add_argument(
        "--max-per-ip-exempt",
        dest="max_per_ip_exempt",
        metavar="CIDR",
        action="append",
        default=None,
        help="address range --max-per-ip does not limit (repeatable or comma-separated; default "
        "127.0.0.0/8,::1/128; '' for none)",
    )
    serve.add_argument(
        "--no-plaintext",
        dest="plaintext",
        action="store_const",
        const=False,
        default=None,
        help="no plaintext listener: TLS only",
    )
    serve.add_argument("--config", metavar="FILE.toml", help="read settings from a TOML file (options win)")

    join = commands.add_parser(
        "join",
        help="chat in the terminal",
        description="Connect to an IRC server as NICK and chat in a full-screen terminal client.",
    )
    from .ui.app import add_join_arguments

    add_join_arguments(join)

    commands.add_parser(
        "hash-password",
        help="print a password hash for an operator account",
        description="Read a password (from the terminal, or one line of standard input) and print its hash "
        "for the [opers] table of the config file.",
    )
    return parser


def server_config(args: argparse.Namespace) -> ServerConfig:
    """Defaults, then the TOML file, then the command line."""
    config = ServerConfig()
    if args.config:
        config = config.merged(load_config_file(args.config), origin=f"config file {args.config}")
    settings: dict[str, Any] = {}
    for dest in [option[1] for option in SERVE_OPTIONS] + ["plaintext"]:
        value = getattr(args, dest)
        if value is not None:
            settings[dest] = value
    if args.max_per_ip_exempt is not None:  # each use may hold several ranges, comma-separated
        settings["max_per_ip_exempt"] = ",".join(args.max_per_ip_exempt)
    config = config.merged(settings)
    if config.log_level.upper() not in logging.getLevelNamesMapping():
        raise ConfigError(f"unknown log level {config.log_level!r}")
    return config


def run_server(args: argparse.Namespace) -> int:
    from .server.app import serve

    try:
        config = server_config(args)
    except ConfigError as exc:
        print(f"trio-chat: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if config.log_level.upper() != "DEBUG":
        # coredis logs each of its reconnection attempts at INFO; the cluster says what matters itself.
        logging.getLogger("coredis").setLevel(logging.WARNING)
    from .server.history import StoreError

    try:
        trio.run(serve, config)
    except ConfigError as exc:
        print(f"trio-chat: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(f"trio-chat: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(f"trio-chat: port {config.port} on {config.host} is already in use", file=sys.stderr)
        else:
            print(f"trio-chat: cannot listen on {config.host} port {config.port}: {exc.strerror}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def hash_password_command() -> int:
    from .server.passwords import hash_password

    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("trio-chat: the passwords differ", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        print("trio-chat: an empty password is not allowed", file=sys.stderr)
        return 1
    print(hash_password(password))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return run_server(args)
    if args.command == "join":
        from .ui.app import run_client

        return run_client(args)
    if args.command == "hash-password":
        return hash_password_command()
    return 2


if __name__ == "__main__":
    sys.exit(main())
