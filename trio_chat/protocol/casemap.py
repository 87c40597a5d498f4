"""Case-mapping: which nicks and channel names count as the same.

We announce ``CASEMAPPING=rfc1459``: ASCII letters fold, and so do ``[]\\~`` to ``{}|^`` (the Scandinavian
heritage of RFC 1459).
"""

from __future__ import annotations

CASEMAPPING = "rfc1459"

_RFC1459 = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ[]\\~",
    "abcdefghijklmnopqrstuvwxyz{}|^",
)


def casefold(name: str) -> str:
    """Fold a nick or channel name for comparison under rfc1459 case-mapping."""
    return name.translate(_RFC1459)
