"""Accounts: the stored value, the store interface, and the brute-force throttle.

An account is a name someone owns, with a salted scrypt hash of its password (``passwords.py``) and the SHA-256
fingerprints of TLS client certificates that may log in to it (SASL EXTERNAL).  Its folded name is also a
reserved nick (see ``Network.claim_nick``).

Accounts live in the same store as history (``HistoryStore`` has ``save_account``/``delete_account``/
``load_accounts``; SQLite keeps them in the ``accounts`` table of schema version 2).  The server loads every
account into memory at start-up, because a login must be answered synchronously, and writes each change through
the store worker without waiting (``HistoryService.save_account_nowait``), as it does for channel records.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from .flood import TokenBucket

__all__ = ["AccountRecord", "AccountStore", "LoginThrottle", "normalize_certfp"]


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """One account as stored.  Replaced as a whole when it changes."""

    name: str
    """As registered (``Alice``)."""
    folded: str
    """Case-folded; the key, and the nick it reserves (``alice``)."""
    password_hash: str
    """``scrypt$…`` (see ``passwords.py``); empty for an account without a password (certificates only)."""
    created: int
    """Registration time, Unix seconds."""
    certfps: tuple[str, ...] = ()
    """SHA-256 fingerprints (lower-case hex, no colons) of the client certificates that may log in."""


class AccountStore(Protocol):
    """Where accounts are kept; synchronous, called from the store's one thread."""

    def save_account(self, record: AccountRecord) -> None:
        """Insert or replace the account ``record.folded``."""
        ...

    def delete_account(self, folded: str) -> None:
        """Forget an account (no error if there is none)."""
        ...

    def load_accounts(self) -> list[AccountRecord]:
        """Every account, sorted by folded name."""
        ...


_CERTFP = re.compile(r"[0-9a-f]{64}")


def normalize_certfp(text: str) -> str | None:
    """A SHA-256 fingerprint as stored (64 lower-case hex digits), from hex with or without colons; None if it
    is not one."""
    fp = text.replace(":", "").lower()
    return fp if _CERTFP.fullmatch(fp) else None


class LoginThrottle:
    """Failed logins per account and per address, each in a token bucket: ``burst`` failures at once, then
    ``rate`` per second.  While either bucket is empty, logins for that account or from that address are
    refused (with the normal failure reply) without checking the password.  Successful logins cost nothing.

    Times are trio's clock (monotonic; virtual under MockClock), passed in.
    """

    MAX_BUCKETS = 10_000
    """Buckets kept before the full ones (which carry no information) are forgotten."""

    def __init__(self, burst: int, rate: float) -> None:
        self.burst = burst
        self.rate = rate
        self._buckets: dict[str, TokenBucket] = {}

    def _bucket(self, key: str, now: float) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.MAX_BUCKETS:
                self._forget_full(now)
            bucket = self._buckets[key] = TokenBucket(self.burst, self.rate, now)
        return bucket

    def _forget_full(self, now: float) -> None:
        for key, bucket in list(self._buckets.items()):
            if bucket.delay(now) == 0 and bucket.tokens >= bucket.burst:
                del self._buckets[key]

    def allowed(self, account: str, host: str, now: float) -> bool:
        """Whether a login to ``account`` (folded) from ``host`` may be checked now."""
        if self.rate <= 0:
            return True
        keys = (f"account:{account}", f"host:{host}")
        return all(self._buckets[k].delay(now) == 0 for k in keys if k in self._buckets)

    def failed(self, account: str, host: str, now: float) -> None:
        """Count a failed login."""
        if self.rate <= 0:
            return
        for key in (f"account:{account}", f"host:{host}"):
            bucket = self._bucket(key, now)
            bucket.take(now)
            bucket.tokens = max(bucket.tokens, 0.0)
