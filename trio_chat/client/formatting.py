"""mIRC text formatting: bold, italic, underline, strikethrough, monospace, reverse and colours, parsed into spans.

Pure and synchronous.  The codes (as modern.ircdocs.horse describes them): ``\\x02`` bold, ``\\x1d`` italic,
``\\x1f`` underline, ``\\x1e`` strikethrough, ``\\x11`` monospace and ``\\x16`` reverse toggle; ``\\x0f`` resets
everything; ``\\x03`` sets the colours by number (``\\x03FG[,BG]``, one or two digits each, 0–98, 99 = the
default) and alone resets them; ``\\x04`` does the same with ``RRGGBB`` hex colours.  The UI turns each span's
:class:`Format` into a style.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

BOLD = "\x02"
COLOUR = "\x03"
HEX_COLOUR = "\x04"
RESET = "\x0f"
MONOSPACE = "\x11"
REVERSE = "\x16"
ITALIC = "\x1d"
STRIKETHROUGH = "\x1e"
UNDERLINE = "\x1f"

Colour = int | str
"""An mIRC colour number (0–98) or a ``#rrggbb`` string (from ``\\x04``)."""

_TOGGLES = {
    BOLD: "bold",
    ITALIC: "italic",
    UNDERLINE: "underline",
    STRIKETHROUGH: "strikethrough",
    MONOSPACE: "monospace",
    REVERSE: "reverse",
}
_CODE = re.compile(
    r"\x03(?:(\d{1,2})(?:,(\d{1,2}))?)?"
    r"|\x04(?:([0-9a-fA-F]{6})(?:,([0-9a-fA-F]{6}))?)?"
    r"|[\x02\x0f\x11\x16\x1d\x1e\x1f]"
    r"|[\x00-\x01\x05-\x08\x0a-\x0e\x10\x12-\x15\x17-\x1c\x7f]"
)
"""A formatting code, or any other control character (which is dropped: a terminal must never see ESC)."""

EXTENDED_COLOURS = [
    "470000",
    "472100",
    "474700",
    "324700",
    "004700",
    "00472c",
    "004747",
    "002747",
    "000047",
    "2e0047",
    "470047",
    "47002a",
    "740000",
    "743a00",
    "747400",
    "517400",
    "007400",
    "007449",
    "007474",
    "004074",
    "000074",
    "4b0074",
    "740074",
    "740045",
    "b50000",
    "b56300",
    "b5b500",
    "7db500",
    "00b500",
    "00b571",
    "00b5b5",
    "0063b5",
    "0000b5",
    "7500b5",
    "b500b5",
    "b5006b",
    "ff0000",
    "ff8c00",
    "ffff00",
    "b2ff00",
    "00ff00",
    "00ffa0",
    "00ffff",
    "008cff",
    "0000ff",
    "a500ff",
    "ff00ff",
    "ff0098",
    "ff5959",
    "ffb459",
    "ffff71",
    "cfff60",
    "6fff6f",
    "65ffc9",
    "6dffff",
    "59b4ff",
    "5959ff",
    "c459ff",
    "ff66ff",
    "ff59bc",
    "ff9c9c",
    "ffd39c",
    "ffff9c",
    "e2ff9c",
    "9cff9c",
    "9cffdb",
    "9cffff",
    "9cd3ff",
    "9c9cff",
    "dc9cff",
    "ff9cff",
    "ff94d3",
    "000000",
    "131313",
    "282828",
    "363636",
    "4d4d4d",
    "656565",
    "818181",
    "9f9f9f",
    "bcbcbc",
    "e2e2e2",
    "ffffff",
]
"""The RGB of colours 16–98 (the extended mIRC palette weechat, irssi and mIRC share)."""
DEFAULT_COLOUR = 99


@dataclass(frozen=True, slots=True)
class Format:
    """How a span of text is drawn; colours are ``None`` for the terminal's own."""

    bold: bool = False
    italic: bool = False
    underline: bool = False
    strikethrough: bool = False
    monospace: bool = False
    reverse: bool = False
    fg: Colour | None = None
    bg: Colour | None = None


PLAIN = Format()


def _colour(number: str | None) -> Colour | None:
    if number is None:
        return None
    value = int(number)
    return None if value == DEFAULT_COLOUR else value


def parse_formatting(text: str) -> list[tuple[Format, str]]:
    """``text`` as spans of plain text with the format each is drawn in (empty spans left out); codes and other
    control characters are gone from the text.  Tabs become spaces."""
    spans: list[tuple[Format, str]] = []
    current = PLAIN
    pos = 0
    text = text.replace("\t", " ")
    for match in _CODE.finditer(text):
        if match.start() > pos:
            spans.append((current, text[pos : match.start()]))
        pos = match.end()
        code = match.group()[0]
        if code in _TOGGLES:
            name = _TOGGLES[code]
            current = replace(current, **{name: not getattr(current, name)})
        elif code == RESET:
            current = PLAIN
        elif code == COLOUR:
            fg, bg = match.group(1), match.group(2)
            if fg is None:
                current = replace(current, fg=None, bg=None)
            else:
                current = replace(current, fg=_colour(fg), bg=_colour(bg) if bg is not None else current.bg)
        elif code == HEX_COLOUR:
            fg, bg = match.group(3), match.group(4)
            if fg is None:
                current = replace(current, fg=None, bg=None)
            else:
                hex_bg = f"#{bg.lower()}" if bg is not None else current.bg
                current = replace(current, fg=f"#{fg.lower()}", bg=hex_bg)
    if pos < len(text):
        spans.append((current, text[pos:]))
    return spans


def strip_formatting(text: str) -> str:
    """The text without formatting codes or any other control character."""
    return "".join(part for _format, part in parse_formatting(text))


def clean_formatting(text: str) -> str:
    """``text`` with its formatting codes kept and every other control character dropped (tabs become spaces):
    what a line keeps, to be drawn with :func:`parse_formatting`."""
    return _CODE.sub(lambda m: m.group() if m.group()[0] in _KEPT else "", text.replace("\t", " "))


_KEPT = frozenset({BOLD, COLOUR, HEX_COLOUR, RESET, MONOSPACE, REVERSE, ITALIC, STRIKETHROUGH, UNDERLINE})
