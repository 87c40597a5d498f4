"""The run itself: the monitor's baseline, then each wave of clients in turn (connect, join, talk and misbehave,
drain, leave), each followed by a settle until the server is back to the monitor alone.

Every phase has a time limit, so a run ends by itself whatever the server does.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable

import trio

from .behaviours import MISBEHAVIOURS, judge_abrupt, nonreader_end, slowloris, start_client, well_behaved
from .clients import READ_PAUSE, Client, Monitor, Run, WellBehaved
from .judge import Figures, back_to_baseline, expected_deliveries
from .server import OPER_NAME

BATCH = 100
"""Connections opened at once; the next batch starts when this one has registered."""
SAMPLE_EVERY = 2.0
"""Seconds between two ``STATS z`` samples during a wave (the peaks)."""


async def sampler(monitor: Monitor, figures: Figures) -> None:
    while True:
        stats = await monitor.read_stats()
        if stats:
            figures.samples += 1
            for name, value in stats.items():
                figures.peak[name] = max(figures.peak.get(name, value), value)
        await trio.sleep(SAMPLE_EVERY)


async def batched(items: list[Client], work: Callable[[Client], Awaitable[None]], size: int) -> None:
    for first in range(0, len(items), size):
        async with trio.open_nursery() as batch:
            for item in items[first : first + size]:
                batch.start_soon(work, item)


async def soak(runs: list[Run], figures: Figures) -> None:
    """The monitor's baseline, then each wave of clients in turn, each followed by a settle."""
    first = runs[0]
    clock = time.monotonic
    begun = clock()

    def mark(name: str) -> None:
        figures.phases.append((name, clock() - begun))
        print(f"[{clock() - begun:6.1f} s] {name}", file=sys.stderr, flush=True)

    async with trio.open_nursery() as nursery:
        monitor = Monitor(first)
        if not await monitor.connect():
            raise RuntimeError("the monitor could not connect")
        nursery.start_soon(monitor.read_loop)
        if not await monitor.register():
            raise RuntimeError(f"the monitor could not register: {monitor.errors}")
        await monitor.send(f"OPER {OPER_NAME} {first.oper_password}\r\n".encode())
        if not await monitor.wait_for(lambda: monitor.oper, 10):
            raise RuntimeError("OPER failed for the monitor")
        await trio.sleep(1.0)
        baseline = await monitor.read_stats()
        if not baseline:
            raise RuntimeError("no STATS z answer")
        figures.baseline = baseline
        figures.peak = dict(baseline)
        mark(f"baseline: {baseline}")
        for number, run in enumerate(runs, 1):
            run.nursery_ = nursery
            if len(runs) > 1:
                mark(f"wave {number} of {len(runs)}")
            await wave(run, monitor, figures, mark)
        await monitor.quit(limit=5)
        await monitor.close()
        nursery.cancel_scope.cancel()


async def wave(run: Run, monitor: Monitor, figures: Figures, mark: Callable[[str], None]) -> None:
    """One wave: connect, join, talk and misbehave, drain, leave, settle."""
    settings = run.settings
    nursery = run.nursery
    clock = time.monotonic
    sampling = trio.CancelScope()

    async def sample() -> None:
        with sampling:
            await sampler(monitor, figures)

    nursery.start_soon(sample)

    # -- connect and register, in batches --
    with trio.move_on_after(60 + len(run.clients) / 20) as scope:
        loris = [c for c in run.clients if c.kind == "slowloris"]
        others = [c for c in run.clients if c.kind != "slowloris"]
        async with trio.open_nursery() as loris_nursery:
            for client in loris:
                loris_nursery.start_soon(slowloris, client, nursery)
                await trio.lowlevel.checkpoint()

            async def connect_one(client: Client) -> None:
                await start_client(client, nursery)

            await batched(others, connect_one, BATCH)
            mark(f"{len(others)} connected and registered ({run.connects} connects)")
            # -- join, in batches; then the barrier --
            well = [c for c in run.clients if isinstance(c, WellBehaved) and c.registered]
            joiners = [c for c in others if not isinstance(c, WellBehaved) and c.kind not in ("nonreader",)]

            async def join_one(client: Client) -> None:
                client.read_pause = 0.1
                if isinstance(client, WellBehaved):
                    names = [run.channels[c] for c in client.channel_ids]
                else:
                    names = [client.rng.choice(run.channels)]
                if client.registered and not await client.join(names, limit=60):
                    client.problem = client.problem or "JOIN not acknowledged"

            await batched([*well, *joiners], join_one, 4 * BATCH)
            mark("every well-behaved client saw its own JOINs (barrier)")
            for client in well:
                client.read_pause = READ_PAUSE
            # -- talk --
            start = trio.current_time()
            stop = start + settings.duration
            run.talking = True
            async with trio.open_nursery() as behaviours:
                for client in run.clients:
                    if not client.registered and client.kind != "nonreader":
                        continue
                    if isinstance(client, WellBehaved):
                        behaviours.start_soon(well_behaved, client, start, stop)
                    elif client.kind in MISBEHAVIOURS:
                        behaviours.start_soon(MISBEHAVIOURS[client.kind], client, start, stop)
                mark(f"talk phase: {settings.duration:.0f} s")
            run.talking = False
            mark(f"talk phase over ({sum(sum(c.sent.values()) for c in well)} messages sent)")
            # the slowloris tasks end by themselves, bounded by the registration timeout
    if scope.cancelled_caught:
        figures.timed_out = "connect/join/talk phase"

    # -- drain: until every talker has everything, or a bounded time --
    expected_total = expected_deliveries(run)
    with trio.move_on_after(settings.drain) as drain:
        while True:
            if run.received >= expected_total:
                break
            await trio.sleep(0.5)
    mark(f"drain: {run.received} of {expected_total} deliveries" + (" (timed out)" if drain.cancelled_caught else ""))
    await trio.sleep(1.0)  # anything late (a duplicate, say) has a chance to show up

    # -- leave --
    with trio.move_on_after(60) as leaving:
        run.leaving = True
        stayers = [c for c in run.clients if c.irc is not None and not c.eof and c.kind != "nonreader"]

        async def leave(client: Client) -> None:
            await client.quit(limit=20)
            await client.close()

        async with trio.open_nursery() as bye:
            for client in [c for c in run.clients if c.kind == "nonreader"]:
                bye.start_soon(nonreader_end, client)
            await batched(stayers, leave, 4 * BATCH)
        for client in run.clients:
            if client.kind == "abrupt":
                judge_abrupt(client)
            await client.close()
    if leaving.cancelled_caught:
        figures.timed_out = "leave phase"
    mark("everyone left")

    # -- settle: until the server is back to the monitor alone --
    sampling.cancel()
    settle_started = clock()
    last: dict[str, int] | None = None
    with trio.move_on_after(settings.settle):
        while True:
            last = await monitor.read_stats() or last
            if last and back_to_baseline(figures.baseline, last, settings.channels + 1):
                break
            await trio.sleep(1.0)
    await trio.sleep(1.0)
    last = await monitor.read_stats() or last
    figures.settle_seconds = clock() - settle_started
    figures.end = last or {}
    figures.wave_ends.append(figures.end)
    for name, value in figures.end.items():
        figures.peak[name] = max(figures.peak.get(name, value), value)
    mark(f"settled after {figures.settle_seconds:.1f} s: {figures.end}")
