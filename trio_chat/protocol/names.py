"""Validation of nicknames, channel names and user names, and hostmask matching."""

from __future__ import annotations

from .casemap import casefold

CHANTYPES = "#&"
_NICK_FIRST = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz[]\\`_^{|}")
_NICK_REST = _NICK_FIRST | set("0123456789-")
_CHANNEL_FORBIDDEN = set(" ,\x07:\r\n\0")


def is_valid_nick(nick: str, max_len: int) -> bool:
    """RFC 2812 nicknames: a letter or special first, then letters, digits, specials and ``-``."""
    if not nick or len(nick) > max_len or nick[0] not in _NICK_FIRST:
        return False
    return all(c in _NICK_REST for c in nick)


def is_channel_name(name: str) -> bool:
    """Whether ``name`` is shaped as a channel (starts with a CHANTYPES character): a target, not a nick."""
    return bool(name) and name[0] in CHANTYPES


def is_valid_channel(name: str, max_len: int) -> bool:
    """A channel name: a CHANTYPES prefix, then no space, comma, BEL or colon, within ``max_len`` characters."""
    if len(name) < 2 or len(name) > max_len or name[0] not in CHANTYPES:
        return False
    return not any(c in _CHANNEL_FORBIDDEN for c in name)


def is_valid_username(user: str) -> bool:
    """The USER parameter: non-empty, no space, ``@`` or control characters."""
    return bool(user) and not any(c in " @" or ord(c) < 0x20 for c in user)


def split_userhost(source: str) -> tuple[str, str, str]:
    """Split ``nick!user@host`` into its three parts; missing parts are empty strings."""
    nick, _, rest = source.partition("!")
    if _:
        user, _, host = rest.partition("@")
    else:
        user = ""
        nick, _, host = nick.partition("@")
    return nick, user, host


def glob_matches(pattern: str, text: str) -> bool:
    """``*`` matches any run, ``?`` one character; at most len(pattern) x len(text) steps, whatever the stars.

    A regex (``*`` -> ``.*``) backtracks exponentially in the number of stars when it fails: a mask such as
    ``*a*a*a*a*a*a*a*a*a*b`` in a WHO or a ban would stop the whole server.  This greedy matcher only ever
    goes back to the last star seen, which is enough for globs.
    """
    p = t = 0
    star = -1
    resume = 0
    while t < len(text):
        if p < len(pattern) and pattern[p] == "*":  # before the literal test: a "*" in the text is no wildcard
            star, resume = p, t
            p += 1
        elif p < len(pattern) and (pattern[p] == "?" or pattern[p] == text[t]):
            p += 1
            t += 1
        elif star >= 0:
            resume += 1
            p, t = star + 1, resume
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


def mask_matches(mask: str, hostmask: str) -> bool:
    """Glob-match an IRC mask (``*`` any run, ``?`` one character) against ``nick!user@host``, case-folded."""
    return glob_matches(casefold(mask), casefold(hostmask))


def normalize_mask(mask: str) -> str:
    """Complete a partial ban mask the way servers do: ``nick`` -> ``nick!*@*``, ``u@h`` -> ``*!u@h``."""
    if "!" not in mask and "@" not in mask:
        return mask + "!*@*" if "." not in mask else "*!*@" + mask
    if "!" not in mask:
        return "*!" + mask
    if "@" not in mask:
        return mask + "@*"
    return mask
