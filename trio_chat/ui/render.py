"""How a model line looks: styled fragments, wrapped to the pane's width.  Pure functions over prompt_toolkit types."""

from __future__ import annotations

from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.utils import get_cwidth

from trio_chat.client.formatting import EXTENDED_COLOURS, Colour, Format, parse_formatting
from trio_chat.client.model import Line, LineKind, nick_colour

from .describe import line_text

TIME_FORMAT = "%H:%M"
TIME_WIDTH = 6
"""``HH:MM`` and a space: continuation rows of a wrapped line are indented this much, under the text."""

NICK_PALETTE = (
    "ansired",
    "ansigreen",
    "ansiyellow",
    "ansiblue",
    "ansimagenta",
    "ansicyan",
    "ansibrightred",
    "ansibrightgreen",
    "ansibrightyellow",
    "ansibrightblue",
    "ansibrightmagenta",
    "ansibrightcyan",
)

STYLE_RULES: list[tuple[str, str]] = [
    ("timestamp", "ansibrightblack"),
    ("own-nick", "bold"),
    ("highlight", "bold ansiyellow"),
    ("action", "ansimagenta"),
    ("notice", "ansicyan"),
    ("join", "ansigreen"),
    ("part", "ansired"),
    ("event", "ansibrightblack"),
    ("error", "bold ansired"),
    ("info", "ansibrightblack"),
    ("topic-bar", "reverse"),
    ("status", "reverse"),
    ("status.state-bad", "reverse bold ansired"),
    ("status.activity", "reverse bold"),
    ("status.highlight", "reverse bold ansiyellow"),
    ("prompt", "bold"),
    ("nicklist", ""),
    ("nicklist.op", "bold ansigreen"),
    ("nicklist.voice", "ansiyellow"),
    ("nicklist.away", "ansibrightblack"),
    ("separator", "ansibrightblack"),
    ("history", "dim"),
    ("history-rule", "ansibrightblack"),
] + [(f"nick-{i}", colour) for i, colour in enumerate(NICK_PALETTE)]

_MARKERS = {
    LineKind.JOIN: ("-->", "join"),
    LineKind.PART: ("<--", "part"),
    LineKind.QUIT: ("<--", "part"),
    LineKind.KICK: ("<--", "part"),
    LineKind.NICK: ("---", "event"),
    LineKind.TOPIC: ("---", "event"),
    LineKind.MODE: ("---", "event"),
    LineKind.ACCOUNT: ("---", "event"),
    LineKind.ERROR: ("!!!", "error"),
    LineKind.INFO: ("--", "info"),
}


def nick_style(nick: str) -> str:
    return f"class:nick-{nick_colour(nick, len(NICK_PALETTE))}"


RULE = "───"


def line_fragments(line: Line, time_format: str = TIME_FORMAT) -> StyleAndTextTuples:
    """One model line as styled text: time, then a marker or nick by kind, then the text.

    History (replayed from the server) looks like the live line it was, dimmed; separators and dates between
    history and live lines are rules, under the time column left empty.
    """
    if line.kind in (LineKind.SEPARATOR, LineKind.DAY):
        indent = time_width(time_format, line)
        return [("", " " * indent), ("class:history-rule", f"{RULE} {line.text} {RULE}")]
    out = _live_fragments(line, time_format)
    if line.history:
        out = [(f"{style} class:history", text) for style, text, *_ in out]
    return out


MIRC_ANSI = (
    "ansiwhite",
    "ansiblack",
    "ansiblue",
    "ansigreen",
    "ansibrightred",
    "ansired",
    "ansimagenta",
    "ansiyellow",
    "ansibrightyellow",
    "ansibrightgreen",
    "ansicyan",
    "ansibrightcyan",
    "ansibrightblue",
    "ansibrightmagenta",
    "ansibrightblack",
    "ansigray",
)
"""mIRC colours 0–15 as the terminal's own 16 colours (so they follow its theme, as in irssi and weechat)."""


def colour_style(colour: Colour) -> str:
    """An mIRC colour number or ``#rrggbb`` as a prompt_toolkit colour."""
    if isinstance(colour, str):
        return colour
    if colour < len(MIRC_ANSI):
        return MIRC_ANSI[colour]
    return f"#{EXTENDED_COLOURS[colour - len(MIRC_ANSI)]}"


def format_style(fmt: Format) -> str:
    """A span's :class:`Format` as a prompt_toolkit style (monospace: the terminal already is)."""
    parts = [
        name
        for name, on in (
            ("bold", fmt.bold),
            ("italic", fmt.italic),
            ("underline", fmt.underline),
            ("strike", fmt.strikethrough),
            ("reverse", fmt.reverse),
        )
        if on
    ]
    if fmt.fg is not None:
        parts.append(f"fg:{colour_style(fmt.fg)}")
    if fmt.bg is not None:
        parts.append(f"bg:{colour_style(fmt.bg)}")
    return " ".join(parts)


def text_fragments(text: str, base: str = "") -> StyleAndTextTuples:
    """Message text with its mIRC formatting drawn: one fragment per span, on top of the ``base`` style."""
    out: StyleAndTextTuples = []
    for fmt, part in parse_formatting(text):
        style = " ".join(s for s in (base, format_style(fmt)) if s)
        out.append((style, part))
    return out


def time_width(time_format: str, line: Line) -> int:
    """Cells the time column takes (the time and a space): continuation rows are indented this much."""
    return get_cwidth(line.time.strftime(time_format)) + 1


def _live_fragments(line: Line, time_format: str) -> StyleAndTextTuples:
    out: StyleAndTextTuples = [("class:timestamp", line.time.strftime(time_format) + " ")]
    nick = line.nick or ""
    nick_cls = nick_style(nick) + (" class:own-nick" if line.own else "")
    text_cls = "class:highlight" if line.highlight else ""
    if line.kind is LineKind.MESSAGE:
        out += [(nick_cls, f"<{nick}>"), ("", " "), *text_fragments(line.text, text_cls)]
    elif line.kind is LineKind.ACTION:
        out += [("class:action", " * "), (nick_cls, nick), ("class:action " + text_cls, " ")]
        out += text_fragments(line.text, "class:action " + text_cls)
    elif line.kind is LineKind.NOTICE:
        out += [("class:notice", "-"), (nick_cls, nick), ("class:notice", "- "), *text_fragments(line.text, text_cls)]
    else:
        marker, cls = _MARKERS.get(line.kind, ("--", "info"))
        out += [(f"class:{cls}", marker + " "), (f"class:{cls} " + text_cls, line_text(line))]
    return out


def wrap_fragments(fragments: StyleAndTextTuples, width: int, indent: int = TIME_WIDTH) -> list[StyleAndTextTuples]:
    """Break styled text into rows of at most ``width`` cells, continuation rows indented by ``indent``.

    Rows break after a space when the row has one, inside a word only when it does not fit a row at all.
    Widths are terminal cells (``get_cwidth``), so CJK text and emoji wrap where the terminal would.
    """
    width = max(1, width)
    if indent >= width // 2:
        indent = 0
    cells = [(style, ch, get_cwidth(ch)) for style, text, *_ in fragments for ch in text]
    rows: list[StyleAndTextTuples] = []
    start = 0
    first = True
    while True:
        room = width - (0 if first else indent)
        used = 0
        end = start
        last_space = -1
        while end < len(cells) and used + cells[end][2] <= room:
            if cells[end][1] == " ":
                last_space = end
            used += cells[end][2]
            end += 1
        if end < len(cells) and last_space > start and cells[end][1] != " ":
            end = last_space + 1  # carry the unfinished word to the next row
        if end == start and start < len(cells):
            end = start + 1  # a character wider than the row: show it anyway
        row: StyleAndTextTuples = [] if first or not indent else [("", " " * indent)]
        for style, ch, _w in cells[start:end]:
            if row and row[-1][0] == style:
                row[-1] = (style, row[-1][1] + ch)
            else:
                row.append((style, ch))
        rows.append(row)
        start = end
        if start < len(cells) and cells[start][1] == " ":
            start += 1  # the space the row broke at is not carried to the next row
        first = False
        if start >= len(cells):
            return rows


def render_line(line: Line, width: int, time_format: str = TIME_FORMAT) -> list[StyleAndTextTuples]:
    return wrap_fragments(line_fragments(line, time_format), width, time_width(time_format, line))


def plain(row: StyleAndTextTuples) -> str:
    return "".join(text for _style, text, *_ in row)
