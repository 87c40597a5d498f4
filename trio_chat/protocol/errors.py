"""The one exception family of the protocol layer.

Every way a line can be malformed raises a :class:`ProtocolError` (or a subclass) that carries the numeric the
server should answer with, in the manner of h11's ``RemoteProtocolError(error_status_hint=...)``.  Nothing in the
parser raises anything else, which a hypothesis test checks with arbitrary bytes.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """A line or byte stream that breaks the IRC grammar or one of its limits.

    ``numeric`` is the reply a server sends (``"417"``, ``"421"``…) or ``None`` when the right answer is a
    ``FAIL`` or a disconnect.  ``command`` is the command of the offending line when it could be recovered, so
    that a reply can name it.
    """

    numeric: str | None = None

    def __init__(self, message: str, *, command: str = "*") -> None:
        super().__init__(message)
        self.message = message
        self.command = command


class EmptyLine(ProtocolError):
    """A line with nothing in it: servers ignore these silently."""


class InputTooLong(ProtocolError):
    """The line (or its tag section) is longer than the protocol allows: ERR_INPUTTOOLONG."""

    numeric = "417"


class InvalidUTF8(ProtocolError):
    """The line is not valid UTF-8: answered with ``FAIL <command> INVALID_UTF8`` (IRCv3 UTF8ONLY)."""


class ForbiddenCharacter(ProtocolError):
    """NUL, or a CR that does not end the line: ERR_UNKNOWNERROR, and the line is discarded."""

    numeric = "400"


class MalformedMessage(ProtocolError):
    """Anything else the grammar refuses (no command, a bad tag section, a bad command token)."""

    numeric = "400"


class ReadQExceeded(ProtocolError):
    """The peer sent more than the read buffer holds without ending a line: it is disconnected."""
