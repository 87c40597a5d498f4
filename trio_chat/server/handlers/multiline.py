"""IRCv3 ``draft/multiline``: ``BATCH +ref draft/multiline target``, the PRIVMSG or NOTICE lines tagged
``batch=ref`` (``draft/multiline-concat`` on a line that continues the one before), ``BATCH -ref``.

The lines are held in ``user.multiline`` (a :class:`~..multiline.MultilineBatch`) until the batch ends, then the
whole message is delivered (``messaging.send_multiline``).  Errors are ``FAIL BATCH`` with the spec's codes; a
failed batch is dropped, and its remaining lines and its end are ignored without further errors, as they were
already answered by the one FAIL.  Any other command while a batch is open ends it with ``MULTILINE_INVALID`` and
is not run (as in ergo), except QUIT.
"""

from __future__ import annotations

from ...protocol import caps
from ...protocol.casemap import casefold
from ...protocol.message import Message
from ..context import Context
from ..multiline import MultilineBatch
from . import messaging

BATCH_TYPE = "draft/multiline"
ALLOWED = frozenset({"BATCH", "PRIVMSG", "NOTICE"})
"""The commands a client may send while a multiline batch is open."""


def fail(ctx: Context, code: str, *params: str) -> None:
    ctx.server_message("FAIL", "BATCH", code, *params)


def _give_up(ctx: Context, batch: MultilineBatch, code: str, *params: str) -> None:
    """The batch fails: the client is told once, what it held is let go, and the rest of it will be ignored."""
    fail(ctx, code, *params)
    batch.failed = True
    batch.lines = []


def interrupts(ctx: Context, verb: str) -> bool:
    """Called for every command before it runs: True if it must not run because it broke an open batch."""
    batch = ctx.user.multiline
    if batch is None or verb in ALLOWED:
        return False
    if batch.failed:
        ctx.user.multiline = None
        return False  # the failed batch is over: the client has moved on
    _give_up(ctx, batch, "MULTILINE_INVALID", f"{verb} is not allowed inside a multiline batch")
    return verb != "QUIT"


def handle_batch(ctx: Context, msg: Message) -> None:
    user = ctx.user
    ref = msg.params[0]
    batch = user.multiline
    if ref[:1] == "+" and len(ref) > 1:
        if batch is not None and batch.open:
            _give_up(ctx, batch, "MULTILINE_INVALID", "A multiline batch is already open")
            return
        kind = msg.params[1] if len(msg.params) > 1 else ""
        if kind != BATCH_TYPE:
            user.multiline = None
            fail(ctx, "INVALID_PARAMS", f"Unsupported batch type: {kind or '(none)'}")
            return
        target = msg.params[2] if len(msg.params) > 2 else ""
        if not target:
            user.multiline = MultilineBatch(ref[1:], "", failed=True)
            fail(ctx, "MULTILINE_INVALID", "A multiline batch needs a target")
            return
        label = msg.tags.get("label") or None if msg.tags else None
        user.multiline = MultilineBatch(ref[1:], target, label=label, client_tags=messaging.client_tags_of(msg))
    elif ref[:1] == "-" and len(ref) > 1:
        user.multiline = None
        if batch is None or batch.ref != ref[1:]:
            if batch is None or not batch.failed:
                fail(ctx, "MULTILINE_INVALID", f"No multiline batch {ref[1:]} is open")
            return
        if batch.failed:
            return
        if not any(text for text, _ in batch.lines):
            fail(ctx, "MULTILINE_INVALID", "Invalid multiline batch with blank lines only")
            return
        batch.delivered = True
        messaging.send_multiline(ctx, batch)
    else:
        fail(ctx, "MULTILINE_INVALID", "Invalid batch reference")


def absorb(ctx: Context, msg: Message, verb: str) -> bool:
    """A PRIVMSG or NOTICE while a batch is open, or with a ``batch`` tag: taken into the batch (or refused).
    False when it is an ordinary message after all (the failed batch before it is over)."""
    user = ctx.user
    batch = user.multiline
    tag = msg.tags.get("batch") if msg.tags else None
    if batch is not None and batch.failed:
        if tag is not None and tag == batch.ref:
            return True  # the rest of a batch that failed
        user.multiline = batch = None
    if batch is None:
        if tag is None:
            return False
        fail(ctx, "MULTILINE_INVALID", f"No multiline batch {tag} is open")
        return True
    if tag != batch.ref:
        _give_up(ctx, batch, "MULTILINE_INVALID", "Line sent outside the open multiline batch")
        return True
    if batch.verb is not None and batch.verb != verb:
        _give_up(ctx, batch, "MULTILINE_INVALID", "A multiline batch cannot mix PRIVMSG and NOTICE")
        return True
    batch.verb = verb
    if len(msg.params) < 2:
        _give_up(ctx, batch, "MULTILINE_INVALID", "Invalid multiline batch")
        return True
    target, text = msg.params[0], msg.params[1]
    if casefold(target) != casefold(batch.target):
        _give_up(ctx, batch, "MULTILINE_INVALID_TARGET", batch.target, target, "Invalid multiline target")
        return True
    concat = caps.MULTILINE_CONCAT in msg.tags
    if concat and not text:
        _give_up(ctx, batch, "MULTILINE_INVALID", "Invalid multiline batch with concatenated blank line")
        return True
    batch.add(text, concat)
    config = ctx.config
    if batch.size > config.multiline_max_bytes:
        limit = str(config.multiline_max_bytes)
        _give_up(ctx, batch, "MULTILINE_MAX_BYTES", limit, "Multiline batch max-bytes exceeded")
    elif len(batch.lines) > config.multiline_max_lines:
        limit = str(config.multiline_max_lines)
        _give_up(ctx, batch, "MULTILINE_MAX_LINES", limit, "Multiline batch max-lines exceeded")
    return True


def handle_privmsg(ctx: Context, msg: Message) -> None:
    # Most messages are in no batch: they go straight on (this runs for every PRIVMSG).
    if (ctx.user.multiline is None and not (msg.tags and "batch" in msg.tags)) or not absorb(ctx, msg, "PRIVMSG"):
        messaging.handle_privmsg(ctx, msg)


def handle_notice(ctx: Context, msg: Message) -> None:
    if (ctx.user.multiline is None and not (msg.tags and "batch" in msg.tags)) or not absorb(ctx, msg, "NOTICE"):
        messaging.handle_notice(ctx, msg)
