"""Conversation logs: every buffer's lines appended to ``<logs>/<network>/<buffer>.log``, as irssi and weechat do,
so a person can grep what was said.

Plain text, one line per line, formatting codes removed, the date and time in front.  History replayed by the
server is not logged again (it was logged when it was said, if we were there).  Each write is one short append to
a file kept open and line-buffered: the client's loop waits on the disk for no longer than that.  A write that
fails (disk full, no permission) turns logging off and says so once.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TextIO

from trio_chat.protocol.casemap import casefold

from .formatting import strip_formatting
from .model import Line, LineKind

log = logging.getLogger(__name__)

LOG_SUBDIR = Path("trio-chat") / "logs"
MAX_PENDING_LINES = 500
"""Lines held until the server names its network (ISUPPORT ``NETWORK``), to be written in its directory."""
MAX_OPEN_FILES = 64
"""Log files kept open at once; the least recently written is closed past that (and reopened when needed)."""

_MARKERS = {
    LineKind.JOIN: "-->",
    LineKind.PART: "<--",
    LineKind.QUIT: "<--",
    LineKind.KICK: "<--",
    LineKind.ERROR: "!!!",
}


def default_log_dir(environ: Mapping[str, str]) -> Path:
    """``$XDG_DATA_HOME/trio-chat/logs``, or ``~/.local/share/trio-chat/logs`` when that is not set."""
    data_home = environ.get("XDG_DATA_HOME")
    if data_home and os.path.isabs(data_home):
        return Path(data_home) / LOG_SUBDIR
    home = environ.get("HOME")
    return (Path(home) if home else Path.home()) / ".local" / "share" / LOG_SUBDIR


def safe_file_name(name: str) -> str:
    """A channel, nick or network name as one file name: case-folded, anything but letters, digits and the
    characters IRC names use turned into ``_``, never hidden nor a path."""
    out = "".join(c if c.isalnum() or c in "#&+!-_[]{}^`|" else "_" for c in casefold(name))
    return out or "_"


def line_text(line: Line) -> str:
    """A line's own text, or its event as data when it records one (the words for events are the interface's,
    which passes its own ``describe``)."""
    return line.text if line.event is None else repr(line.event)


def format_line(line: Line, describe: Callable[[Line], str] = line_text) -> str:
    """``2024-05-01 12:34:56 <bob> hello``: how a line reads in a log; ``describe`` says it in words."""
    when = line.time.strftime("%Y-%m-%d %H:%M:%S")
    text = strip_formatting(describe(line))
    nick = line.nick or ""
    if line.kind is LineKind.MESSAGE:
        return f"{when} <{nick}> {text}"
    if line.kind is LineKind.ACTION:
        return f"{when}  * {nick} {text}"
    if line.kind is LineKind.NOTICE:
        return f"{when} -{nick}- {text}"
    return f"{when} {_MARKERS.get(line.kind, '--')} {text}"


class ChatLog:
    """Appends buffers' lines to files under ``directory/<network>/``."""

    def __init__(
        self,
        directory: Path,
        fallback: str,
        *,
        on_failure: Callable[[str], None] | None = None,
        describe: Callable[[Line], str] | None = None,
    ) -> None:
        self.directory = directory
        self.describe = describe or line_text
        """Puts a line into words (the interface's :func:`~trio_chat.ui.describe.line_text`)."""
        self.fallback = fallback
        """The directory's name if the server never names its network (the host we connect to)."""
        self.network: str | None = None
        """The directory under ``directory``: the server's NETWORK name; lines wait until it is known."""
        self.enabled = True
        self._on_failure = on_failure
        self._files: dict[Path, TextIO] = {}
        self._pending: list[tuple[str, Line]] = []

    def path(self, buffer: str) -> Path:
        network = self.network if self.network is not None else self.fallback
        return self.directory / safe_file_name(network) / f"{safe_file_name(buffer)}.log"

    def set_network(self, name: str | None) -> None:
        """The server said its network's name (``None``: it will not, use the fallback): write what waited."""
        if self.network is not None:
            return
        self.network = name or self.fallback
        pending, self._pending = self._pending, []
        for buffer, line in pending:
            self.write(buffer, line)

    def write(self, buffer: str, line: Line) -> None:
        """Append ``line`` to ``buffer``'s log (history lines and separators are not logged)."""
        if not self.enabled or line.history or line.kind in (LineKind.SEPARATOR, LineKind.DAY):
            return
        if self.network is None:
            if len(self._pending) < MAX_PENDING_LINES:
                self._pending.append((buffer, line))
            return
        path = self.path(buffer)
        try:
            file = self._files.pop(path, None) or self._open(path, line.time)
            self._files[path] = file  # most recently written last
            file.write(format_line(line, self.describe) + "\n")
        except OSError as exc:
            self.enabled = False
            self.close()
            log.warning("logging stopped: %s", exc)
            if self._on_failure is not None:
                self._on_failure(f"Logging stopped: cannot write {path}: {exc.strerror or exc}")

    def _open(self, path: Path, when: datetime) -> TextIO:
        while len(self._files) >= MAX_OPEN_FILES:
            oldest = next(iter(self._files))
            self._files.pop(oldest).close()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Conversations are private: only the person who had them may read the files.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        file = open(fd, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - kept open across writes
        file.write(f"--- Log opened {when:%a %d %b %Y %H:%M:%S}\n")
        return file

    def close(self) -> None:
        """Write what waits, close the files, and log nothing more."""
        self.set_network(None)
        self.enabled = False
        for file in self._files.values():
            with contextlib.suppress(OSError):
                file.close()
        self._files.clear()
