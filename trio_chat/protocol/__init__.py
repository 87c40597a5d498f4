"""The IRC language, sans I/O: bytes <-> Message, limits, case-mapping, numerics.  Imports neither trio nor UI."""

from .casemap import CASEMAPPING, casefold
from .errors import (
    EmptyLine,
    ForbiddenCharacter,
    InputTooLong,
    InvalidUTF8,
    MalformedMessage,
    ProtocolError,
    ReadQExceeded,
)
from .linebuffer import LineBuffer
from .message import MAX_BODY_BYTES, MAX_CLIENT_TAG_BYTES, MAX_LINE_BYTES, Message, parse_line

__all__ = [
    "CASEMAPPING",
    "MAX_BODY_BYTES",
    "MAX_CLIENT_TAG_BYTES",
    "MAX_LINE_BYTES",
    "EmptyLine",
    "ForbiddenCharacter",
    "InputTooLong",
    "InvalidUTF8",
    "LineBuffer",
    "MalformedMessage",
    "Message",
    "ProtocolError",
    "ReadQExceeded",
    "casefold",
    "parse_line",
]
