"""A message on its way to many recipients, serialised once per variant of the tags they asked for.

A broadcast builds one :class:`Relay`; each recipient's ``tag_variant`` (from its capabilities) picks one of at
most eight byte strings, each built on first use.  Per-recipient work is an index and a queue put.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..protocol.message import Message, format_tags

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
