"""Operator password hashes: scrypt from the standard library, in a self-describing string.

``scrypt$<log2 n>$<r>$<p>$<salt, base64>$<hash, base64>``.  ``trio-chat hash-password`` prints one; the config
file stores it; ``OPER`` checks a password against it in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

LOG2_N, R, P = 14, 8, 1
"""scrypt costs: 2**14 iterations, 16 MiB of memory, about 40 ms a check here; OPER is rare."""


def hash_password(password: str, *, salt: bytes | None = None, log2_n: int = LOG2_N) -> str:
    """A salted scrypt hash of ``password``; ``log2_n`` is the cost (tests use a tiny one)."""
    if not 1 <= log2_n <= 20:
        raise ValueError("the scrypt cost (log2 n) must be between 1 and 20")
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.scrypt(
        password.encode("utf-8", "surrogateescape"), salt=salt, n=1 << log2_n, r=R, p=P, maxmem=256 << 20, dklen=32
    )
    b64 = base64.b64encode
    return f"scrypt${log2_n}${R}${P}${b64(salt).decode()}${b64(digest).decode()}"


def hash_cost(stored: str) -> int:
    """The cost (log2 n) of a stored hash; 0 when it cannot be read (checking it is then instant)."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt" or not parts[1].isdigit():
        return 0
    return int(parts[1])


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``; a malformed ``stored`` never matches."""
    try:
        scheme, log2_n, r, p, salt, expected = stored.split("$")
        if scheme != "scrypt" or not 1 <= int(log2_n) <= 20:
            return False
        digest = hashlib.scrypt(
            password.encode("utf-8", "surrogateescape"),
            salt=base64.b64decode(salt),
            n=1 << int(log2_n),
            r=int(r),
            p=int(p),
            maxmem=256 << 20,
            dklen=32,
        )
        return hmac.compare_digest(digest, base64.b64decode(expected))
    except (ValueError, TypeError):
        return False
