"""The judging: what the server's figures must come back to, whether every message arrived once and in order, and
the list of checks the report prints.

How each misbehaver was answered is judged where it misbehaves (:mod:`.behaviours`); this module turns those
verdicts, the deliveries and the ``STATS z`` figures into named checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .clients import Run, WellBehaved
from .plan import MISBEHAVING
from .server import ServerProcess

STATE_NAMES = ("connections", "users", "memberships", "sessions")
"""``STATS z`` figures that must come back to the baseline exactly."""
TASK_TOLERANCE = 2
"""Server tasks after the run may differ from the baseline by this many."""
RSS_SLACK_KB = 4096
RSS_SLACK_FRACTION = 0.20
BLOCKS_SLACK = 10_000
"""Allocated blocks a later wave may add to what the first left (a leak of one object per client is 2,000)."""

Checks = list[tuple[str, bool, str]]
"""(what is checked, whether it holds, the figures behind it)."""


@dataclass
class Figures:
    """What the monitor read from ``STATS z`` over the run, and how the run went."""

    baseline: dict[str, int] = field(default_factory=dict)
    peak: dict[str, int] = field(default_factory=dict)
    end: dict[str, int] = field(default_factory=dict)
    samples: int = 0
    settle_seconds: float = 0.0
    wave_ends: list[dict[str, int]] = field(default_factory=list)
    phases: list[tuple[str, float]] = field(default_factory=list)
    timed_out: str | None = None
    failure: str | None = None


def back_to_baseline(baseline: dict[str, int], now: dict[str, int], kept_channels: int) -> bool:
    """Everything back where it was, except channels with stored history, which stay, empty, when everyone has
    left: at most ``kept_channels`` more (the soak's channels and #sink).  Memberships must come back exactly."""
    if any(now.get(name) != baseline.get(name) for name in STATE_NAMES):
        return False
    if not 0 <= now.get("channels", 0) - baseline.get("channels", 0) <= kept_channels:
        return False
    return abs(now.get("tasks", 0) - baseline.get("tasks", 0)) <= TASK_TOLERANCE


def expected_deliveries(run: Run) -> int:
    """Messages every talker should have received: from every other well-behaved member of its channels."""
    sent_per_channel = [0] * len(run.channels)
    for client in run.clients:
        if isinstance(client, WellBehaved):
            for c, n in client.sent.items():
                sent_per_channel[c] += n
    total = 0
    for client in run.clients:
        if isinstance(client, WellBehaved) and client.kind == "talker" and client.expect:
            for c in client.channel_ids:
                total += sent_per_channel[c] - client.sent[c]
    return total


@dataclass
class Delivery:
    sent: int = 0
    expected: int = 0
    received: int = 0
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0
    extra: int = 0
    receivers: int = 0
    streams: int = 0
    """(receiver, sender, channel) streams checked."""

    def add(self, other: Delivery) -> None:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def check_deliveries(run: Run) -> Delivery:
    """Every talker's view of every (sender, channel) stream: lost, duplicated, reordered or unexpected messages."""
    result = Delivery()
    well = {c.index: c for c in run.clients if isinstance(c, WellBehaved)}
    result.sent = sum(sum(c.sent.values()) for c in well.values())
    for receiver in well.values():
        if receiver.kind != "talker" or not receiver.expect:
            continue
        result.receivers += 1
        result.received += receiver.received
        for c, following in receiver.expect.values():
            for pos, sender_index in enumerate(run.chan_members[c]):
                if sender_index == receiver.index:
                    continue
                result.streams += 1
                n = well[sender_index].sent[c]
                result.expected += n
                history = receiver.anomalies.get((c, pos))
                if history is None:
                    got = following[pos] - 1
                    result.lost += max(0, n - got)
                    result.extra += max(0, got - n)
                    continue
                seen: set[int] = set()
                highest = 0
                for seq in history:
                    if seq in seen:
                        result.duplicated += 1
                        continue
                    seen.add(seq)
                    if seq < highest:
                        result.reordered += 1
                    highest = max(highest, seq)
                result.lost += len(set(range(1, n + 1)) - seen)
                result.extra += len(seen - set(range(1, n + 1)))
    return result


def merge(runs: list[Run]) -> Run:
    """One Run with every wave's clients and the sums of their counters (for the report)."""
    first = runs[0]
    total = Run(first.settings, first.port, first.rng, first.channels, first.chan_index, first.oper_password)
    for number, run in enumerate(runs, 1):
        total.clients += run.clients
        for name in ("connects", "connect_failures", "received", "misdelivered", "bad_lines", "foreign", "reconnects"):
            setattr(total, name, getattr(total, name) + getattr(run, name))
        total.quit_reasons.update({f"{nick} (wave {number})": reason for nick, reason in run.quit_reasons.items()})
    return total


def rss_verdict(figures: Figures) -> tuple[bool, str]:
    """RSS at the end against the baseline (reported, not judged: the allocator keeps its high-water mark)."""
    base = figures.baseline.get("rss_kb", 0)
    peak = max(figures.peak.get("rss_kb", 0), figures.end.get("rss_kb", 0))
    end = figures.end.get("rss_kb", 0)
    allowed = max(RSS_SLACK_KB, int(RSS_SLACK_FRACTION * (peak - base)))
    text = (
        f"end - baseline = {end - base:+d} KB; allowed {allowed} KB "
        f"(the larger of {RSS_SLACK_KB} KB and {RSS_SLACK_FRACTION:.0%} of the peak growth {peak - base} KB)"
    )
    return end > 0 and end - base <= allowed, text


def blocks_plateau(figures: Figures) -> tuple[bool, str]:
    """Objects alive in the server's allocator (``STATS z`` py_blocks) do not grow from wave to wave.

    After the first wave some stay for good: WHOWAS (500 entries), the interpreter's free lists and caches
    filled at the peak. A leak would add to them with every wave.
    """
    base = figures.baseline.get("py_blocks", 0)
    peak = figures.peak.get("py_blocks", 0)
    first = figures.wave_ends[0].get("py_blocks", 0)
    last = figures.wave_ends[-1].get("py_blocks", 0)
    text = (
        f"baseline {base}, peak {peak}, end of wave 1 {first}, end of wave {len(figures.wave_ends)} {last}: "
        f"{last - first:+d} blocks from wave 1 to the last; allowed {BLOCKS_SLACK}"
    )
    return first > 0 and last - first <= BLOCKS_SLACK, text


def rss_plateau(figures: Figures) -> tuple[bool, str]:
    """A leak grows with every wave; memory the allocator keeps after the warm-up does not.

    The warm-up is the first wave, or the first two when there are three or more: the history store's thread
    (its malloc arena) and SQLite's page cache settle during the second wave (measured: 82, 91, 92, 92 MB at
    the ends of four waves), so from the second wave on the figure must stay flat.
    """
    base = figures.baseline.get("rss_kb", 0)
    ends = figures.wave_ends
    warm = 1 if len(ends) >= 3 else 0
    first = ends[warm].get("rss_kb", 0)
    last = ends[-1].get("rss_kb", 0)
    growth = ends[0].get("rss_kb", 0) - base
    allowed = max(RSS_SLACK_KB, int(RSS_SLACK_FRACTION * growth))
    text = (
        f"end of wave {len(ends)} - end of wave {warm + 1} = {last - first:+d} KB; allowed {allowed} KB "
        f"(the larger of {RSS_SLACK_KB} KB and {RSS_SLACK_FRACTION:.0%} of wave 1's growth {growth} KB)"
    )
    return first > 0 and last - first <= allowed, text


@dataclass
class Verdict:
    run: Run
    """Every wave's clients and counters in one."""
    delivery: Delivery
    checks: Checks

    @property
    def passed(self) -> bool:
        return all(passed for _, passed, _ in self.checks)


def judge(runs: list[Run], figures: Figures, server: ServerProcess) -> Verdict:
    """Every check of the run, in the order the report prints them."""
    delivery = Delivery()
    for one in runs:
        delivery.add(check_deliveries(one))
    run = merge(runs)
    well = [c for c in run.clients if isinstance(c, WellBehaved)]
    checks: Checks = []

    def check(name: str, ok: bool, detail: str = "") -> None:
        checks.append((name, ok, detail))

    check("server ran the whole time and exited 0 on SIGTERM", server.exit_code == 0, f"exit {server.exit_code}")
    check("server logged no traceback or internal error", server.tracebacks == 0, f"{server.tracebacks}")
    check(
        "run finished within its time limits",
        figures.timed_out is None and figures.failure is None,
        figures.failure or figures.timed_out or "",
    )
    check("every connection attempt succeeded", run.connect_failures == 0, f"{run.connect_failures} failed")
    broken = [c for c in well if c.problem or c.unexpected_close]
    check(
        "every well-behaved client registered, joined, talked and left normally",
        not broken,
        "; ".join(f"{c.nick}: {c.problem or c.unexpected_close}" for c in broken[:5]),
    )
    check("zero lost messages", delivery.lost == 0, f"{delivery.lost}")
    check("zero duplicated messages", delivery.duplicated == 0, f"{delivery.duplicated}")
    check("zero reordered messages", delivery.reordered == 0, f"{delivery.reordered}")
    check(
        "no message delivered that was never sent, or to a non-member",
        delivery.extra == 0 and run.misdelivered == 0,
        f"extra {delivery.extra}, misdelivered {run.misdelivered}",
    )
    check("nobody received NUL or invalid UTF-8", run.bad_lines == 0, f"{run.bad_lines}")
    check("messages were actually exchanged", delivery.sent > 0 and delivery.expected > 0, f"{delivery.expected}")
    for kind in MISBEHAVING:
        members = [c for c in run.clients if c.kind == kind]
        bad = [c for c in members if c.problem]
        if members:
            check(
                f"every {kind} got the expected answer",
                not bad,
                "; ".join(f"{c.nick}: {c.problem}" for c in bad[:4]),
            )
    for name in STATE_NAMES:
        base, end = figures.baseline.get(name), figures.end.get(name)
        check(f"{name} back to the baseline", base is not None and base == end, f"baseline {base}, end {end}")
    base_channels, end_channels = figures.baseline.get("channels", 0), figures.end.get("channels", -1)
    kept = runs[0].settings.channels + 1
    check(
        f"channels back to the baseline but those with history (at most {kept}, kept empty)",
        0 <= end_channels - base_channels <= kept,
        f"baseline {base_channels}, end {end_channels}",
    )
    base_tasks, end_tasks = figures.baseline.get("tasks", -1), figures.end.get("tasks", -(10**9))
    check(
        f"tasks back to the baseline (within {TASK_TOLERANCE})",
        abs(end_tasks - base_tasks) <= TASK_TOLERANCE,
        f"baseline {base_tasks}, peak {figures.peak.get('tasks')}, end {end_tasks}",
    )
    if len(figures.wave_ends) > 1:
        ok, text = blocks_plateau(figures)
        check("Python objects did not grow from wave to wave (py_blocks; no leak)", ok, text)
        ok, text = rss_plateau(figures)
        check("rss_kb did not grow from wave to wave (no leak)", ok, text)
    return Verdict(run, delivery, checks)
