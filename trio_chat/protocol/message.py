"""IRC messages: parsing and serialising lines, with IRCv3 message tags.

The grammar is the one modern.ircdocs.horse documents and the ircdocs parser test vectors pin down::

    [@tags SPACE] [:source SPACE] command [params] crlf

Parameters are separated by one or more spaces; the last may be a *trailing* parameter introduced by ``:``
that can hold spaces.  Limits (from the IRCv3 message-tags spec and RFC 1459):

* the part after the tags is at most 512 bytes including the CRLF, so 510 bytes of content;
* the tag section a client sends is at most 4094 bytes of tag data (4096 with ``@`` and the space);
* a server may send a tag section of up to 8191 bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .errors import (
    EmptyLine,
    ForbiddenCharacter,
    InputTooLong,
    InvalidUTF8,
    MalformedMessage,
    ProtocolError,
)

MAX_BODY_BYTES = 510
"""Bytes of a line after its tag section, without the CRLF (512 with it)."""
MAX_CLIENT_TAG_BYTES = 4094
"""Bytes of tag data a client may send, without the leading ``@`` and the trailing space."""
MAX_SERVER_TAG_BYTES = 8191
"""Bytes of the tag section a server may send, ``@`` and trailing space included."""
MAX_LINE_BYTES = MAX_CLIENT_TAG_BYTES + 2 + MAX_BODY_BYTES + 2
"""The longest line a client may legally send, CRLF included: the size of a sane read buffer."""

_EMPTY_TAGS: Mapping[str, str] = MappingProxyType({})

_UNESCAPE = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_ESCAPE_TABLE = str.maketrans({"\\": "\\\\", ";": "\\:", " ": "\\s", "\r": "\\r", "\n": "\\n"})


def unescape_tag_value(value: str) -> str:
    """Undo IRCv3 tag-value escaping: ``\\:`` -> ``;``, ``\\s`` -> space, ``\\\\`` -> ``\\``, ``\\r``, ``\\n``.

    A backslash before any other character is dropped; a lone trailing backslash is dropped.
    """
    if "\\" not in value:
        return value
    out: list[str] = []
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if ch == "\\":
            i += 1
            if i < n:
                nxt = value[i]
                out.append(_UNESCAPE.get(nxt, nxt))
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def escape_tag_value(value: str) -> str:
    """Escape a tag value for the wire; the backslash is escaped first so nothing is escaped twice."""
    return value.translate(_ESCAPE_TABLE)


def _valid_tag_key(key: str) -> bool:
    # key = ['+'] [vendor '/'] name; names are letters, digits and hyphens; vendor is a host name.
    if not key:
        return False
    body = key[1:] if key[0] == "+" else key
    if not body:
        return False
    vendor, _, name = body.rpartition("/")
    if not name or not all(c.isascii() and (c.isalnum() or c == "-") for c in name):
        return False
    return all(c.isascii() and (c.isalnum() or c in "-.") for c in vendor)


def parse_tags(section: str) -> dict[str, str]:
    """Parse the tag section without its ``@``; a later duplicate key wins, as the vectors require."""
    tags: dict[str, str] = {}
    for item in section.split(";"):
        if not item:
            continue
        key, _, value = item.partition("=")
        if not _valid_tag_key(key):
            raise MalformedMessage(f"invalid tag key {key[:40]!r}")
        tags[key] = unescape_tag_value(value)
    return tags


def format_tags(tags: Mapping[str, str]) -> str:
    """Serialise tags without the ``@``; an empty value is written as a bare key."""
    return ";".join(f"{k}={escape_tag_value(v)}" if v else k for k, v in tags.items())


TEXT_PARAMETER: Mapping[str, int] = MappingProxyType(
    {"PRIVMSG": 1, "NOTICE": 1, "PART": 1, "QUIT": 0, "KICK": 2, "TOPIC": 1, "AWAY": 0, "ERROR": 0}
)
"""Commands whose free-text parameter is written with its colon even when it has no space (``PRIVMSG bob :psst``),
by its index: scripts and bots written against ergo, InspIRCd and ngIRCd expect it.  Numerics get it on their
last parameter (:func:`forces_trailing`)."""


def forces_trailing(command: str, count: int) -> bool:
    """Whether the last of ``count`` parameters of ``command`` is written as a trailing parameter (with its colon)
    even when it does not need one: it is the command's text parameter, or the command is a numeric."""
    index = TEXT_PARAMETER.get(command)
    if index is not None:
        return index == count - 1
    return len(command) == 3 and command.isdigit()


@dataclass(frozen=True, slots=True)
class Message:
    """One IRC message.  ``params`` holds every parameter, the trailing one last and without its colon."""

    command: str
    params: tuple[str, ...] = ()
    source: str | None = None
    tags: Mapping[str, str] = field(default_factory=lambda: _EMPTY_TAGS)

    def to_line(self, *, trailing: bool | None = None) -> str:
        """The message as text without CRLF.  Raises ValueError for parameters that cannot be written.

        ``trailing`` says whether the last parameter gets its ``:`` when it does not need one: None (the
        default) follows :func:`forces_trailing` (the text parameter of PRIVMSG, NOTICE, PART, QUIT, KICK,
        TOPIC, AWAY, ERROR and the last parameter of a numeric, as ergo, InspIRCd and ngIRCd send them), True
        always writes it, False only where the grammar needs it (empty, a space, or a leading colon).
        """
        parts: list[str] = []
        if self.tags:
            parts.append("@" + format_tags(self.tags))
        if self.source:
            parts.append(":" + self.source)
        parts.append(self.command)
        params = self.params
        if params:
            last = len(params) - 1
            force = forces_trailing(self.command, len(params)) if trailing is None else trailing
            for i, p in enumerate(params):
                if i == last:
                    if force or not p or " " in p or p[0] == ":":
                        parts.append(":" + p)
                    else:
                        parts.append(p)
                elif not p or " " in p or p[0] == ":":
                    raise ValueError(f"middle parameter {p!r} cannot be serialised")
                else:
                    parts.append(p)
        return " ".join(parts)

    def to_bytes(self, *, trailing: bool | None = None) -> bytes:
        """The message as wire bytes, CRLF included; ``trailing`` as for :meth:`to_line`."""
        return self.to_line(trailing=trailing).encode("utf-8", "surrogateescape") + b"\r\n"

    def __str__(self) -> str:
        return self.to_line()


def _command_hint(raw: bytes) -> str:
    """Best-effort command name of a broken line, for error replies that name it."""
    words = raw.split()
    while words and (words[0].startswith(b"@") or words[0].startswith(b":")):
        words.pop(0)
    if not words:
        return "*"
    word = words[0][:32].decode("ascii", "replace").upper()
    return word if word.isalnum() else "*"


def parse_line(
    line: bytes, *, max_tag_bytes: int = MAX_CLIENT_TAG_BYTES, max_body_bytes: int = MAX_BODY_BYTES
) -> Message:
    """Parse one line (with or without its CRLF / LF) into a :class:`Message`.

    Raises only :class:`ProtocolError` subclasses: :class:`EmptyLine`, :class:`InputTooLong` (417),
    :class:`ForbiddenCharacter` (NUL or a bare CR), :class:`InvalidUTF8`, :class:`MalformedMessage`.
    """
    if line.endswith(b"\n"):
        line = line[:-1]
    if line.endswith(b"\r"):
        line = line[:-1]
    if b"\0" in line or b"\r" in line or b"\n" in line:
        raise ForbiddenCharacter("line contains NUL or CR", command=_command_hint(line.replace(b"\0", b" ")))
    rest = line.lstrip(b" ")
    if not rest:
        raise EmptyLine("empty line")
    tag_section: bytes | None = None
    if rest[:1] == b"@":
        end = rest.find(b" ")
        if end == -1:
            raise MalformedMessage("tags without a command", command=_command_hint(rest))
        tag_section = rest[1:end]
        if len(tag_section) > max_tag_bytes:
            raise InputTooLong("tag section too long", command=_command_hint(rest))
        rest = rest[end + 1 :].lstrip(b" ")
    if len(rest) > max_body_bytes:
        raise InputTooLong("line too long", command=_command_hint(rest))
    try:
        text = rest.decode("utf-8")
        tag_text = tag_section.decode("utf-8") if tag_section is not None else None
    except UnicodeDecodeError:
        raise InvalidUTF8("line is not valid UTF-8", command=_command_hint(rest)) from None
    return _parse_text(text, tag_text)


def _parse_text(text: str, tag_text: str | None) -> Message:
    tags = parse_tags(tag_text) if tag_text else _EMPTY_TAGS
    source: str | None = None
    if text.startswith(":"):
        src, sep, text = text.partition(" ")
        source = src[1:]
        if not sep or not source:
            raise MalformedMessage("source without a command")
        text = text.lstrip(" ")
    trailing: str | None = None
    head, sep, tail = text.partition(" :")
    if sep:
        trailing = tail
    elif text.startswith(":"):
        raise MalformedMessage("no command")
    words = head.split(" ")
    words = [w for w in words if w]
    if not words:
        raise MalformedMessage("no command")
    command = words[0]
    if not command.isascii() or not command.isprintable():
        # Anything else (NONEXISTENT_COMMAND, a typo with a dash) is a word the server may not know: the
        # dispatcher answers it with 421, as other servers do, not with a parse error.
        raise MalformedMessage(f"invalid command {command[:32]!r}", command="*")
    params = words[1:]
    if trailing is not None:
        params.append(trailing)
    return Message(command, tuple(params), source, MappingProxyType(tags) if tags else _EMPTY_TAGS)


__all__ = [
    "MAX_BODY_BYTES",
    "MAX_CLIENT_TAG_BYTES",
    "MAX_LINE_BYTES",
    "MAX_SERVER_TAG_BYTES",
    "TEXT_PARAMETER",
    "Message",
    "ProtocolError",
    "escape_tag_value",
    "forces_trailing",
    "format_tags",
    "parse_line",
    "parse_tags",
    "unescape_tag_value",
]
