"""A ``draft/multiline`` batch a client is sending: what the server holds between ``BATCH +id`` and ``BATCH -id``.

Plain data, changed by the BATCH, PRIVMSG and NOTICE handlers (``handlers/multiline.py``) and read by the session
(flood control, the label of the answer).  What it holds is bounded by the configured limits: a line that takes
the batch past ``multiline_max_bytes`` or ``multiline_max_lines`` ends it with ``FAIL``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_LINE = 512
"""The classic line length ergo bills a batch by (``irc/client.go``, ``EndMultilineBatch``)."""


@dataclass(eq=False, slots=True)
class MultilineBatch:
    ref: str
    """The client's reference tag (``BATCH +ref``)."""
    target: str
    """The batch's target, as the client wrote it."""
    label: str | None = None
    """The ``label`` of the ``BATCH +ref`` line: the answer to ``BATCH -ref`` (the echo) carries it."""
    client_tags: dict[str, str] | None = None
    """Client-only tags of the ``BATCH +ref`` line: they belong to the whole message."""
    verb: str | None = None
    """PRIVMSG or NOTICE, set by the first line (the two may not be mixed)."""
    lines: list[tuple[str, bool]] = field(default_factory=list)
    """Each line's text and whether it carries ``draft/multiline-concat`` (joined to the line before)."""
    size: int = 0
    """Bytes of the combined message, as the spec counts them (a line break counts one)."""
    count: int = 0
    """Lines received, kept when ``lines`` is let go (a failed batch is billed for them all the same)."""
    failed: bool = False
    """The batch failed (the client was told): its remaining lines and its end are dropped silently."""
    delivered: bool = False
    """The batch ended well and was delivered."""

    @property
    def open(self) -> bool:
        return not self.failed and not self.delivered

    def add(self, text: str, concat: bool) -> None:
        if self.lines and not concat:
            self.size += 1
        self.size += len(text.encode("utf-8", "surrogateescape"))
        self.lines.append((text, concat))
        self.count += 1

    def flood_cost(self) -> int:
        """How many lines the batch counts as for flood control, as ergo bills it: its lines were not counted one
        by one, so that a client can send a whole batch at once."""
        return max(self.size // MAX_LINE + 1, self.count * 60 // MAX_LINE)
