"""Flood control in the spirit of ergo's fakelag: a per-connection token bucket with the clock passed in.

A client may send ``burst`` lines at once, then ``rate`` lines per second.  Lines beyond that are not dropped:
they wait (the client is slowed down).  The session reads on while a client waits, and a client whose backlog of
unprocessed lines grows past a bound is disconnected with ``ERROR :Excess flood``.
"""

from __future__ import annotations


class TokenBucket:
    """``burst`` tokens, refilled at ``rate`` per second; one token per line.  ``rate`` 0 disables the limit."""

    __slots__ = ("burst", "rate", "tokens", "updated")

    def __init__(self, burst: int, rate: float, now: float) -> None:
        self.burst = float(max(burst, 1))
        self.rate = rate
        self.tokens = self.burst
        self.updated = now

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def delay(self, now: float) -> float:
        """Seconds until the next line may be processed (0 when it may be now)."""
        if self.rate <= 0:
            return 0.0
        self._refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self, now: float, lines: int = 1) -> None:
        """Spend a token for a line processed now (or ``lines`` tokens for lines counted together: a multiline
        batch; the bucket may go below zero, and the client then waits until it refills)."""
        if self.rate > 0:
            self._refill(now)
            self.tokens -= lines
