"""A message on its way to many recipients, serialised once per variant of the tags they asked for.

A broadcast builds one :class:`Relay`; each recipient's ``tag_variant`` (from its capabilities) picks one of at
most eight byte strings, each built on first use.  Per-recipient work is an index and a queue put.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..protocol.message import Message, format_tags
from .history import line_msgid

VARIANT_TIME = 1
"""Bit of ``User.tag_variant``: the recipient negotiated server-time."""
VARIANT_TAGS = 2
"""Bit of ``User.tag_variant``: the recipient negotiated message-tags (client tags and msgid)."""
VARIANT_ACCOUNT = 4
"""Bit of ``User.tag_variant``: the recipient negotiated account-tag (the sender's account)."""


class Relay:
    """One outgoing message; ``line(variant)`` gives its wire bytes for a recipient's tag variant."""

    __slots__ = ("account", "body", "bot", "client_tags", "lines", "msgid", "time", "time_ms")

    def __init__(
        self,
        message: Message,
        *,
        time: str | None = None,
        msgid: str | None = None,
        client_tags: Mapping[str, str] | None = None,
        time_ms: int = 0,
        account: str | None = None,
        bot: bool = False,
    ) -> None:
        self.body = message.to_bytes()
        self.time = time
        self.time_ms = time_ms
        """The same instant as ``time``, in Unix milliseconds (what the history store keeps)."""
        self.msgid = msgid
        self.client_tags = client_tags
        self.account = account
        """The sender's account (the ``account`` tag), if they are logged in."""
        self.bot = bot
        """The sender is a bot (user mode +B): the ``bot`` tag goes to message-tags recipients.  Like every tag,
        it is added when a variant's line is first built, so fan-out costs the same for bots and everyone else."""
        self.lines: list[bytes | None] = [self.body, None, None, None, None, None, None, None]

    @classmethod
    def of_body(
        cls,
        body: bytes,
        *,
        time: str | None,
        msgid: str | None,
        client_tags: Mapping[str, str] | None,
        time_ms: int,
        account: str | None,
        bot: bool,
    ) -> Relay:
        """A relay of a message already serialised (without tags): one that came from another node."""
        relay = cls.__new__(cls)
        relay.body = body
        relay.time, relay.msgid, relay.client_tags = time, msgid, client_tags
        relay.time_ms, relay.account, relay.bot = time_ms, account, bot
        relay.lines = [body, None, None, None, None, None, None, None]
        return relay

    def line(self, variant: int) -> bytes:
        """The bytes for recipients of ``variant`` (a combination of VARIANT_TIME, VARIANT_TAGS and
        VARIANT_ACCOUNT)."""
        cached = self.lines[variant]
        if cached is not None:
            return cached
        tags: dict[str, str] = {}
        if variant & VARIANT_TAGS:
            if self.msgid:
                tags["msgid"] = self.msgid
            if self.client_tags:
                tags.update(self.client_tags)
            if self.bot:
                tags["bot"] = ""
        if variant & VARIANT_ACCOUNT and self.account:
            tags["account"] = self.account
        if variant & VARIANT_TIME and self.time:
            tags["time"] = self.time
        out = b"@" + format_tags(tags).encode() + b" " + self.body if tags else self.body
        self.lines[variant] = out
        return out


class MultilineRelay:
    """A ``draft/multiline`` message on its way: one ``draft/multiline`` batch for recipients that negotiated it
    (the same batch id for all; msgid, time, account and client tags on its ``BATCH +`` line), and for the others
    the non-blank lines one by one, the first with the msgid, each with the time and client tags (the spec's
    fallback: the composition the client sent is kept, a concat line comes as a line of its own)."""

    __slots__ = ("end", "fallback", "head", "inner", "msgid", "texts")

    def __init__(
        self,
        *,
        verb: str,
        target: str,
        source: str,
        lines: list[tuple[str, bool]],
        batch_id: str,
        time: str,
        time_ms: int,
        msgid: str,
        client_tags: Mapping[str, str] | None,
        account: str | None,
        bot: bool,
    ) -> None:
        def relay(message: Message, msgid: str | None) -> Relay:
            return Relay(
                message, time=time, msgid=msgid, client_tags=client_tags, time_ms=time_ms, account=account, bot=bot
            )

        self.head = relay(Message("BATCH", ("+" + batch_id, "draft/multiline", target), source), msgid)
        self.inner = [
            Message(
                verb,
                (target, text),
                source,
                {"batch": batch_id, "draft/multiline-concat": ""} if concat else {"batch": batch_id},
            ).to_bytes()
            for text, concat in lines
        ]
        self.end = Message("BATCH", ("-" + batch_id,), source).to_bytes()
        self.msgid = msgid
        self.texts = [text for text, _ in lines if text]
        """The non-blank lines: the fallback, and what the history keeps."""
        self.fallback = [
            relay(Message(verb, (target, text), source), None if i else msgid) for i, text in enumerate(self.texts)
        ]

    def kept(self) -> list[tuple[Relay, str]]:
        """What the history keeps: each non-blank line and its text, the first under the message's msgid and the
        others under msgids of their own made from it (``history.line_msgid``): each can be found and redacted,
        and a REDACT of the message's msgid removes them all."""
        out = []
        for i, (line, text) in enumerate(zip(self.fallback, self.texts, strict=True)):
            kept = line
            if i:
                kept = Relay.of_body(
                    line.body,
                    time=line.time,
                    msgid=line_msgid(self.msgid, i),
                    client_tags=line.client_tags,
                    time_ms=line.time_ms,
                    account=line.account,
                    bot=line.bot,
                )
            out.append((kept, text))
        return out

    def lines(self, variant: int, *, batched: bool) -> list[bytes]:
        """The lines for a recipient of tag ``variant``: the batch if ``batched`` (it negotiated draft/multiline
        and batch), else the fallback."""
        if batched:
            return [self.head.line(variant), *self.inner, self.end]
        return [relay.line(variant) for relay in self.fallback]
