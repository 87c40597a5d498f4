"""The command line: parse the settings, start the server, run the waves, stop the server by its PID, report.

The exit status is 0 when every check passed, 1 otherwise, 130 when interrupted (Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

from .clients import Run, build_run
from .judge import Figures, judge
from .plan import Settings
from .report import report
from .server import (
    FLOOD_RATE,
    HOST,
    REGISTRATION_TIMEOUT,
    ServerProcess,
    raise_nofile_limit,
    server_command,
    write_config,
)
from .waves import soak

DESCRIPTION = "Soak test for the trio-chat server: thousands of clients connect, join, talk, misbehave and leave."


def parse_args(argv: list[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=DESCRIPTION)
    parser.add_argument("--clients", type=int, default=2000, help="clients in all, misbehavers included (2000)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of the talk phase (60)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: a new one, printed)")
    parser.add_argument("--channels", type=int, default=20, help="channels (20)")
    parser.add_argument(
        "--interval", type=float, default=10.0, help="mean seconds between one client's messages (10; jitter +-50%%)"
    )
    parser.add_argument("--drain", type=float, default=20.0, help="most seconds to wait for late messages (20)")
    parser.add_argument("--settle", type=float, default=30.0, help="most seconds for the server to settle (30)")
    parser.add_argument(
        "--waves",
        type=int,
        default=3,
        help="run the whole load this many times on the same server (3); with 2 or more, also checks that the "
        "server's memory does not grow from wave to wave (from the second wave on, with 3 or more)",
    )
    parser.add_argument(
        "--server-command",
        default=None,
        help="how to start the server, before 'serve ...' (default: the trio-chat script next to this Python)",
    )
    args = parser.parse_args(argv)
    if args.duration < REGISTRATION_TIMEOUT + 5:
        parser.error(f"--duration must be at least {REGISTRATION_TIMEOUT + 5} s (the slowloris must time out)")
    if args.interval < 1.0 / FLOOD_RATE * 2:
        parser.error("--interval must stay well under the flood limit (at least 1 s)")
    seed: int = args.seed if args.seed is not None else random.SystemRandom().randrange(1_000_000)
    return Settings(
        clients=args.clients,
        duration=args.duration,
        seed=seed,
        channels=args.channels,
        interval=args.interval,
        drain=args.drain,
        settle=args.settle,
        waves=args.waves,
        server_command=tuple(args.server_command.split()) if args.server_command else None,
    )


def run_trio(function: Callable[[], Awaitable[None]]) -> None:
    """trio.run, with a KeyboardInterrupt inside exception groups raised as a plain KeyboardInterrupt."""
    try:
        trio.run(function)
    except BaseExceptionGroup as group:
        interrupted, _ = group.split(KeyboardInterrupt)
        if interrupted is not None:
            raise KeyboardInterrupt from None
        raise


def describe(exc: BaseException) -> str:
    """``Type: message`` of an exception, or of the first leaf of an exception group."""
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return f"{exc.__class__.__name__}: {exc}"


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    # Ctrl-C must reach us even when started from a shell that ignores SIGINT in background jobs.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    limit = raise_nofile_limit()
    if limit < 2 * settings.clients + 64:
        print(f"warning: open-file limit {limit} is low for {settings.clients} clients", file=sys.stderr)
    oper_password = f"soak-{random.SystemRandom().randrange(1 << 60):x}"
    began = time.monotonic()
    figures = Figures()
    with tempfile.TemporaryDirectory(prefix="trio-chat-soak-") as tmp:
        command = list(settings.server_command) if settings.server_command else server_command()
        server = ServerProcess(write_config(Path(tmp), oper_password), command)
        runs: list[Run] = []
        try:
            port = server.start()
            print(
                f"server pid {server.pid or '?'} on {HOST} port {port}, seed {settings.seed}",
                file=sys.stderr,
                flush=True,
            )
            runs = [build_run(settings, port, oper_password, wave) for wave in range(settings.waves)]
            hard_limit = 60 + settings.waves * (
                120 + settings.clients / 20 + settings.duration + settings.drain + settings.settle
            )

            terminated = False

            async def bounded() -> None:
                nonlocal terminated
                with trio.open_signal_receiver(signal.SIGTERM) as signals:
                    async with trio.open_nursery() as nursery:

                        async def on_sigterm() -> None:
                            nonlocal terminated
                            async for _ in signals:
                                terminated = True
                                nursery.cancel_scope.cancel()

                        nursery.start_soon(on_sigterm)
                        with trio.move_on_after(hard_limit) as scope:
                            await soak(runs, figures)
                        if scope.cancelled_caught:
                            figures.failure = f"the whole run exceeded its {hard_limit:.0f} s limit"
                        nursery.cancel_scope.cancel()

            run_trio(bounded)
            if terminated:
                raise KeyboardInterrupt
        except KeyboardInterrupt:
            print("interrupted: stopping the server", file=sys.stderr)
            server.stop()
            return 130
        except Exception as exc:
            figures.failure = describe(exc)
            print(f"soak run failed: {figures.failure}", file=sys.stderr)
        finally:
            alive = server.alive()
            server.stop()
            if not alive and server.exit_code is not None and figures.failure is None:
                figures.failure = f"the server died during the run (exit {server.exit_code})"
        if not runs:
            print(f"FAIL: {figures.failure}; server log tail: {server.tail[-5:]}")
            return 1
        verdict = judge(runs, figures, server)
        return 0 if report(runs, figures, server, time.monotonic() - began, verdict) else 1
