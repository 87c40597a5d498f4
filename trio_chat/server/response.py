"""The response buffer: what the session does to a command's answer before it is sent, in one place.

Handlers answer through the :class:`~.context.Context` and never think about tags.  The lines a command produced
for its sender (replies, their own echo, the deferred part such as CHATHISTORY) pass through here on their way to
the SendQ, as ergo's ``irc/responsebuffer.go`` does:

* ``server-time``: a client that negotiated it gets a ``time`` tag on every line of the answer, numerics included;
  lines that already carry one (fan-out built by a :class:`~.relay.Relay` variant, replayed history with its
  stored time) keep theirs.
* ``labeled-response`` (IRCv3): a command sent with a ``label`` tag by a client that negotiated
  ``labeled-response`` and ``batch`` is answered with ``ACK`` when it produced nothing, with that one line labeled
  when it produced one, and otherwise inside a ``labeled-response`` batch whose start carries the label.  A line
  that already belongs to a batch of its own (a ``chathistory`` batch) keeps its batch tag: only the nested batch's
  start and end lines are tagged with the outer batch, so that batch nests inside the labeled one.  An answer that is
  exactly one ``draft/multiline`` batch (the echo of a multiline message) carries the label on its start instead,
  as that spec asks.

The functions work on wire bytes and never parse a line in full: a tag is found, or added, in the tag section.
Lines are only touched when the client asked for one of these (the session checks that first), so the answer to
a command without a label from a client without server-time is sent exactly as the handlers built it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..protocol.message import escape_tag_value

ACK = b"ACK"


def tag_keys(line: bytes) -> list[bytes]:
    """The keys of ``line``'s tag section (empty when it has none)."""
    if line[:1] != b"@":
        return []
    end = line.find(b" ")
    section = line[1:end] if end != -1 else line[1:]
    return [item.partition(b"=")[0] for item in section.split(b";") if item]


def has_tag(line: bytes, key: bytes) -> bool:
    """Whether ``line`` carries the tag ``key`` (client-only ``+`` tags are different keys)."""
    return key in tag_keys(line)


def add_tags(line: bytes, tags: bytes) -> bytes:
    """``line`` with ``tags`` (formatted ``key=value;key``, already escaped) put first in its tag section."""
    if not tags:
        return line
    if line[:1] == b"@":
        return b"@" + tags + b";" + line[1:]
    return b"@" + tags + b" " + line


def time_tag(time: str) -> bytes:
    return b"time=" + time.encode()


def stamp(lines: Iterable[bytes], time: str) -> list[bytes]:
    """``lines`` with a ``time`` tag on each that has none (server-time on every line, numerics included)."""
    tag = time_tag(time)
    return [line if has_tag(line, b"time") else add_tags(line, tag) for line in lines]


def labeled(
    lines: list[bytes],
    label: str,
    *,
    server: str,
    new_batch_id: Callable[[], str],
    time: str | None,
) -> list[bytes]:
    """The answer to a labeled command: ``ACK``, the one line with the label, or a ``labeled-response`` batch.

    ``time`` is the server-time to add to lines without one (None: the client did not negotiate server-time;
    lines that have one keep it, so stamped lines may come in); ``new_batch_id`` is called only when a batch is
    needed.
    """
    label_tag = b"label=" + escape_tag_value(label).encode()
    prefix = b":" + server.encode() + b" "
    if time is not None:
        lines = stamp(lines, time)
    time_part = b";" + time_tag(time) if time is not None else b""
    if not lines:
        return [b"@" + label_tag + time_part + b" " + prefix + ACK + b"\r\n"]
    if len(lines) == 1 or _one_multiline_batch(lines):
        # One line, or one draft/multiline batch (the echo of a multiline message): the label goes on that line,
        # or on the batch's start, as draft/multiline asks (ergo's ``isCollapsible``; other batches, such as a
        # chathistory batch, still nest inside a labeled-response batch).
        return [add_tags(lines[0], label_tag), *lines[1:]]
    batch = new_batch_id().encode()
    batch_tag = b"batch=" + batch
    out = [b"@" + label_tag + time_part + b" " + prefix + b"BATCH +" + batch + b" labeled-response\r\n"]
    for line in lines:
        # A line of a nested batch keeps that batch's tag; the nested BATCH lines themselves have none (or have
        # their own outer batch's, for a batch nested deeper) and are put in the labeled batch.
        out.append(line if has_tag(line, b"batch") else add_tags(line, batch_tag))
    end = prefix + b"BATCH -" + batch + b"\r\n"
    out.append(b"@" + time_tag(time) + b" " + end if time is not None else end)
    return out


def _words(line: bytes) -> list[bytes]:
    """The words of a line after its tags and source."""
    words = line.rstrip(b"\r\n").split(b" ")
    while words and words[0][:1] in (b"@", b":"):
        words.pop(0)
    return words


def _one_multiline_batch(lines: list[bytes]) -> bool:
    """Whether ``lines`` are exactly one draft/multiline batch: ``BATCH +id draft/multiline …`` first, ``BATCH -id``
    last."""
    if len(lines) < 2:
        return False
    first, last = _words(lines[0]), _words(lines[-1])
    return (
        len(first) >= 3
        and len(last) == 2
        and first[0] == last[0] == b"BATCH"
        and first[1][:1] == b"+"
        and first[2] == b"draft/multiline"
        and last[1] == b"-" + first[1][1:]
    )
