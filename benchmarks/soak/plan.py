"""The mix: what kinds of client a soak runs, how many of each, and the settings from the command line."""

from __future__ import annotations

from dataclasses import dataclass

KINDS = (
    "talker",  # well-behaved, stays from the barrier to the end: a receiver in the check
    "rejoiner",  # well-behaved, PARTs one channel midway and JOINs it again: a sender only
    "reconnecter",  # well-behaved, QUITs midway and comes back with the same nick: a sender only
    "flooder",  # sends 300 lines at once: expects ERROR :Excess flood
    "slowed",  # sends 30 PINGs at once: expects every PONG, slowed to 2 lines/s, and no disconnection
    "garbage",  # invalid UTF-8, NUL, bare CR, overlong lines, unknown commands, too many targets
    "readq",  # 20 KB without a line end: expects ERROR :ReadQ exceeded
    "nonreader",  # joins every channel and never reads: expects to be dropped with SendQ exceeded
    "slowloris",  # never finishes registering: expects ERROR :Registration timed out
    "abrupt",  # closes the socket without QUIT (half of them with a reset)
)
WELL_BEHAVED = ("talker", "rejoiner", "reconnecter")
MISBEHAVING = KINDS[len(WELL_BEHAVED) :]
NICK_LETTER = {
    "talker": "w",
    "rejoiner": "w",
    "reconnecter": "w",
    "flooder": "f",
    "slowed": "p",
    "garbage": "g",
    "readq": "q",
    "nonreader": "n",
    "slowloris": "s",
    "abrupt": "a",
}
"""The first letter of each kind's nicks: ``w`` for every well-behaved one, so their lines are told apart by it."""


@dataclass(frozen=True)
class Settings:
    """What the command line asked for."""

    clients: int = 2000
    duration: float = 60.0
    seed: int = 0
    channels: int = 20
    interval: float = 10.0
    drain: float = 20.0
    settle: float = 30.0
    waves: int = 3
    server_command: tuple[str, ...] | None = None
    """How to start the server, before ``serve ...``; None: :func:`.server.server_command`."""


def plan_kinds(clients: int) -> list[str]:
    """The kind of each of ``clients`` clients: a few of each misbehaviour, the rest well-behaved."""

    def share(fraction: float, minimum: int) -> int:
        return max(minimum, round(clients * fraction))

    misbehaving = {
        "flooder": share(0.005, 1),
        "slowed": share(0.005, 1),
        "garbage": share(0.006, 1),
        "readq": share(0.002, 1),
        "nonreader": share(0.005, 4),
        "slowloris": share(0.01, 2),
        "abrupt": share(0.02, 2),
    }
    well = clients - sum(misbehaving.values())
    if well < 10:
        raise SystemExit(f"--clients {clients} is too few: at least {sum(misbehaving.values()) + 10} needed")
    rejoiners = max(1, round(well * 0.05))
    reconnecters = max(1, round(well * 0.02))
    kinds = ["talker"] * (well - rejoiners - reconnecters) + ["rejoiner"] * rejoiners
    kinds += ["reconnecter"] * reconnecters
    for kind, count in misbehaving.items():
        kinds += [kind] * count
    return kinds
