"""The report: what each kind of client met, the messages, the server's figures, and the checks."""

from __future__ import annotations

from collections import Counter

from .clients import Run, WellBehaved
from .judge import STATE_NAMES, Figures, Verdict, rss_verdict
from .plan import KINDS, WELL_BEHAVED
from .server import FLOOD_BURST, FLOOD_RATE, REGISTRATION_TIMEOUT, SENDQ_LINES, ServerProcess
from .waves import SAMPLE_EVERY

RULE = 100


def report(runs: list[Run], figures: Figures, server: ServerProcess, wall: float, verdict: Verdict) -> bool:
    """Print the report; True when every check passed."""
    run, delivery = verdict.run, verdict.delivery
    settings = run.settings
    out: list[str] = []
    w = out.append
    w("")
    w("trio-chat soak test")
    w("=" * RULE)
    w(
        f"clients {len(runs[0].clients)} (+1 monitor) x {len(runs)} wave(s), duration {settings.duration:.0f} s, "
        f"interval {settings.interval} s, "
        f"{len(run.channels)} channels, seed {settings.seed}, sendq_lines {SENDQ_LINES}, "
        f"flood {FLOOD_BURST} lines then {FLOOD_RATE:g}/s, registration_timeout {REGISTRATION_TIMEOUT} s"
    )
    w("")
    w(f"{'kind':<12} {'clients':>7}  {'problems':>8}  how the server answered")
    w(f"{'-' * 12} {'-' * 7}  {'-' * 8}  {'-' * 68}")
    for kind in KINDS:
        members = [c for c in run.clients if c.kind == kind]
        if not members:
            continue
        problems = [c for c in members if c.problem or (isinstance(c, WellBehaved) and c.unexpected_close)]
        if kind in WELL_BEHAVED:
            finals = Counter(c.final_error() for c in members)
            answered = ", ".join(f"{k} x{v}" for k, v in finals.most_common())
            answered = f"at the end: {answered}"
        else:
            answers = Counter(c.answer or "nothing" for c in members)
            answered = ", ".join(f"{k} x{v}" for k, v in answers.most_common(4))
            if len(answers) > 4:
                answered += f", ... ({len(answers)} different)"
        w(f"{kind:<12} {len(members):>7}  {len(problems):>8}  {answered}")
    w("")
    w(f"connects {run.connects} (reconnects {run.reconnects}), connect failures {run.connect_failures}")
    w(
        f"messages: sent {delivery.sent}, expected deliveries {delivery.expected} to {delivery.receivers} "
        f"receivers over {delivery.streams} (receiver, sender, channel) streams, received {delivery.received}"
    )
    w(
        f"          lost {delivery.lost}, duplicated {delivery.duplicated}, reordered {delivery.reordered}, "
        f"unexpected extra {delivery.extra}, misdelivered {run.misdelivered}, lines with NUL/bad UTF-8 "
        f"{run.bad_lines}, messages from misbehavers seen {run.foreign}"
    )
    errors_seen: Counter[str] = Counter()
    for client in run.clients:
        for reason in client.errors:
            errors_seen[reason.split(" (")[0] if reason.startswith("Quit") else reason] += 1
    w("ERROR lines received: " + ", ".join(f"{k!r} x{v}" for k, v in errors_seen.most_common()))
    quits = Counter(
        reason if not reason.startswith("Read error") else "Read error: ..."
        for nick, reason in run.quit_reasons.items()
        if not nick.startswith("w")
    )
    w("QUIT reasons peers saw for misbehavers: " + ", ".join(f"{k!r} x{v}" for k, v in quits.most_common()))
    w(
        "server log, disconnections: "
        + ", ".join(f"{k} x{v}" for k, v in server.log_counts.most_common())
        + f"; {server.log_lines} lines, {server.warnings} warnings, {server.tracebacks} tracebacks"
    )
    w("")
    waves = figures.wave_ends if len(figures.wave_ends) > 1 else []
    heads = "".join(f" {f'end w{i}':>10}" for i in range(1, len(waves) + 1))
    w(f"{'server (STATS z)':<16} {'baseline':>10} {'peak':>10}{heads} {'end':>10}")
    w(f"{'-' * 16} {'-' * 10} {'-' * 10}{' ----------' * len(waves)} {'-' * 10}")
    for name in (*STATE_NAMES, "tasks", "py_blocks", "rss_kb", "whowas"):
        cells = "".join(f" {e.get(name, '-')!s:>10}" for e in waves)
        w(
            f"{name:<16} {figures.baseline.get(name, '-')!s:>10} {figures.peak.get(name, '-')!s:>10}{cells} "
            f"{figures.end.get(name, '-')!s:>10}"
        )
    w(
        f"(peak: the highest of {figures.samples} samples taken every {SAMPLE_EVERY:g} s; "
        f"settle took {figures.settle_seconds:.1f} s)"
    )
    w("")
    phases = ", ".join(f"{name.split(':')[0].split(' (')[0]} at {t:.0f} s" for name, t in figures.phases)
    w(f"wall time {wall:.1f} s ({phases})")
    w("")
    # RSS itself does not fall back: CPython keeps freed memory in its allocator's arenas for reuse (a second
    # wave reuses it, which the plateau check shows), so it is reported, not judged.
    _, text = rss_verdict(figures)
    w(f"note: rss_kb end vs baseline (the allocator keeps its high-water mark; not a check): {text}")
    w("checks")
    w("-" * RULE)
    for name, passed, detail in verdict.checks:
        w(f"{'PASS' if passed else 'FAIL'}  {name}" + (f"  [{detail}]" if detail else ""))
    w("")
    failed = sum(not passed for _, passed, _ in verdict.checks)
    w(f"RESULT: {'PASS' if verdict.passed else 'FAIL'} ({failed} of {len(verdict.checks)} checks failed)")
    if server.tracebacks or not verdict.passed:
        w("last server log lines:")
        for line in server.tail[-8:]:
            w(f"  {line}")
    print("\n".join(out), flush=True)
    return verdict.passed
