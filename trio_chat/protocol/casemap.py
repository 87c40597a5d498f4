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


def unique(names: list[str]) -> list[str]:
    """``names`` without empty ones and without repeats (by case-folded name), in order: ``bob,Bob`` is one
    target."""
    if len(names) == 1:  # the usual case, one target: nothing to compare
        return names if names[0] else []
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        folded = casefold(name)
        if name and folded not in seen:
            seen.add(folded)
            out.append(name)
    return out
