"""The IRCv3 capabilities we implement: one table, advertised by ``CAP LS`` and checked by ``CAP REQ``."""

from __future__ import annotations

from collections.abc import Mapping

SERVER_TIME = "server-time"
MESSAGE_TAGS = "message-tags"
ECHO_MESSAGE = "echo-message"
MULTI_PREFIX = "multi-prefix"
USERHOST_IN_NAMES = "userhost-in-names"
AWAY_NOTIFY = "away-notify"
EXTENDED_JOIN = "extended-join"
CAP_NOTIFY = "cap-notify"
INVITE_NOTIFY = "invite-notify"
SETNAME = "setname"
LABELED_RESPONSE = "labeled-response"
"""Answers to labeled commands (ACK, the label on a single line, a ``labeled-response`` batch); given to clients
that negotiated ``batch`` too, as the spec builds on it (InspIRCd does the same)."""
BATCH = "batch"
CHATHISTORY = "draft/chathistory"
MESSAGE_REDACTION = "draft/message-redaction"
SASL = "sasl"
ACCOUNT_TAG = "account-tag"
ACCOUNT_NOTIFY = "account-notify"
ACCOUNT_REGISTRATION = "draft/account-registration"
READ_MARKER = "draft/read-marker"
EXTENDED_MONITOR = "extended-monitor"
CHANNEL_RENAME = "draft/channel-rename"
"""RENAME (a draft): members with it get ``RENAME #old #new :reason``, others a PART and a JOIN."""
MULTILINE = "draft/multiline"
"""Multi-line messages sent and received as a ``draft/multiline`` batch; its value (the limits) comes from the
configuration, see :func:`ls_tokens`."""
MULTILINE_CONCAT = "draft/multiline-concat"
"""The tag on a line of a multiline batch that continues the previous line (no line break between them)."""
METADATA = "draft/metadata-3"
"""IRCv3 metadata (the draft irctest and ergo implement): its value carries the server's limits, see
:func:`metadata_value`."""
DRAFT_EXTENDED_MONITOR = "draft/extended-monitor"
"""The name extended-monitor had before it was ratified, still requested by some clients and irctest."""

SUPPORTED: dict[str, str] = {
    # name -> value advertised with CAP LS 302 ("" for none)
    ACCOUNT_NOTIFY: "",
    ACCOUNT_REGISTRATION: "before-connect",
    ACCOUNT_TAG: "",
    AWAY_NOTIFY: "",
    BATCH: "",
    CAP_NOTIFY: "",
    CHANNEL_RENAME: "",
    CHATHISTORY: "",
    DRAFT_EXTENDED_MONITOR: "",
    ECHO_MESSAGE: "",
    EXTENDED_JOIN: "",
    EXTENDED_MONITOR: "",
    INVITE_NOTIFY: "",
    LABELED_RESPONSE: "",
    MESSAGE_REDACTION: "",
    MESSAGE_TAGS: "",
    METADATA: "before-connect",
    MULTI_PREFIX: "",
    MULTILINE: "max-bytes=4096,max-lines=100",
    READ_MARKER: "",
    SASL: "PLAIN,EXTERNAL",
    SERVER_TIME: "",
    SETNAME: "",
    USERHOST_IN_NAMES: "",
}

STICKY: frozenset[str] = frozenset({CAP_NOTIFY})
"""Capabilities implied by ``CAP LS 302`` and that cannot be removed (IRCv3 cap-notify)."""


def ls_tokens(version: int, values: Mapping[str, str] | None = None) -> list[str]:
    """The tokens of a ``CAP LS`` reply: values are shown only to clients that asked for version 302.

    ``values`` replaces the advertised value of some capabilities (those that depend on the configuration).
    """
    table = {**SUPPORTED, **values} if values else SUPPORTED
    return [f"{name}={value}" if value and version >= 302 else name for name, value in sorted(table.items())]


def multiline_value(max_bytes: int, max_lines: int) -> str:
    """The value of ``draft/multiline`` in ``CAP LS 302``: its limits."""
    return f"max-bytes={max_bytes},max-lines={max_lines}"


def metadata_value(*, max_subs: int, max_keys: int, max_value_bytes: int) -> str:
    """The value of :data:`METADATA` in ``CAP LS 302``: keys may be set before registration, and the limits."""
    return f"before-connect,max-subs={max_subs},max-keys={max_keys},max-value-bytes={max_value_bytes}"
