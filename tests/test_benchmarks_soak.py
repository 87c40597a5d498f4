"""The soak test's own logic (``benchmarks/soak/``): its mix of clients, and the judge that must notice a lost,
duplicated or reordered message.  The soak itself runs for minutes against a server process, so it is not run
here: ``python -m benchmarks.soak`` (benchmarks/README.md)."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from benchmarks.soak.clients import WellBehaved, build_run
from benchmarks.soak.judge import back_to_baseline, check_deliveries, expected_deliveries
from benchmarks.soak.plan import MISBEHAVING, WELL_BEHAVED, Settings, plan_kinds

ROOT = Path(__file__).resolve().parent.parent


def test_the_documented_command_starts() -> None:
    command = [sys.executable, "-m", "benchmarks.soak", "--help"]
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: python -m benchmarks.soak")


def test_every_kind_of_client_is_in_the_mix_and_most_are_well_behaved() -> None:
    kinds = Counter(plan_kinds(60))
    assert sum(kinds.values()) == 60
    assert set(kinds) == {*WELL_BEHAVED, *MISBEHAVING}
    assert sum(kinds[k] for k in WELL_BEHAVED) > sum(kinds[k] for k in MISBEHAVING)


def test_too_few_clients_for_the_mix_are_refused() -> None:
    with pytest.raises(SystemExit, match="too few"):
        plan_kinds(15)


def _one_channel_wave() -> tuple[list[WellBehaved], WellBehaved]:
    """A wave whose well-behaved clients are all in #soak00; returns its talkers and one sender among them."""
    run = build_run(Settings(clients=40, channels=1, seed=3), port=0, oper_password="-", wave=0)
    talkers = [c for c in run.clients if isinstance(c, WellBehaved) and c.kind == "talker"]
    assert len(talkers) > 3
    return talkers, talkers[0]


def _deliver(receiver: WellBehaved, sender: WellBehaved, *sequence: int) -> None:
    """PRIVMSGs from ``sender`` to #soak00 as ``receiver`` reads them (the text after the colon, as on the wire)."""
    for seq in sequence:
        receiver.on_privmsg(f":{sender.nick}!u@h".encode(), b"#soak00", f":{seq} {sender.nick} xxxx".encode())


def test_the_judge_passes_a_wave_where_every_message_arrived_once_in_order() -> None:
    talkers, sender = _one_channel_wave()
    sender.sent[0] = 4
    for receiver in talkers[1:]:
        _deliver(receiver, sender, 1, 2, 3, 4)
    delivery = check_deliveries(sender.run)
    assert (delivery.lost, delivery.duplicated, delivery.reordered, delivery.extra) == (0, 0, 0, 0)
    assert delivery.received == delivery.expected == 4 * (len(talkers) - 1) == expected_deliveries(sender.run)
    assert sender.run.misdelivered == 0


def test_the_judge_counts_a_lost_a_duplicated_and_a_reordered_message() -> None:
    talkers, sender = _one_channel_wave()
    sender.sent[0] = 4
    late, *others = talkers[1:]
    for receiver in others:
        _deliver(receiver, sender, 1, 2, 3, 4)
    _deliver(late, sender, 1, 3, 2, 2)  # 2 after 3, then 2 again; 4 never
    delivery = check_deliveries(sender.run)
    assert (delivery.lost, delivery.duplicated, delivery.reordered, delivery.extra) == (1, 1, 1, 0)


def test_a_message_never_sent_is_an_unexpected_extra() -> None:
    talkers, sender = _one_channel_wave()
    sender.sent[0] = 1
    for receiver in talkers[1:]:
        _deliver(receiver, sender, 1)
    _deliver(talkers[1], sender, 2)
    assert check_deliveries(sender.run).extra == 1


def test_the_server_is_back_to_its_baseline_only_when_every_figure_is() -> None:
    baseline = {"connections": 1, "users": 1, "memberships": 0, "sessions": 1, "channels": 0, "tasks": 13}
    assert back_to_baseline(baseline, {**baseline, "channels": 21, "tasks": 15}, kept_channels=21)
    assert not back_to_baseline(baseline, {**baseline, "channels": 22}, kept_channels=21)
    assert not back_to_baseline(baseline, {**baseline, "tasks": 16}, kept_channels=21)
    assert not back_to_baseline(baseline, {**baseline, "memberships": 1}, kept_channels=21)
    assert not back_to_baseline(baseline, {**baseline, "users": 2}, kept_channels=21)
