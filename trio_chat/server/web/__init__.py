"""The web listener: the bundled web client (``static/``) and IRC over WebSocket (IRCv3 ``text.ircv3.net`` and
``binary.ircv3.net``), on ``web_port``.

The only package that imports hypercorn and starlette, which are the optional extra ``web``
(``pip install 'trio-chat[web]'``): the IRC server runs without them.  A WebSocket connection becomes a
:class:`~.stream.WebSocketStream` handed to ``Server.handle_connection``, so it is a session like any other.
"""

from __future__ import annotations

import importlib.util

WEB_PACKAGES = ("hypercorn", "starlette")


def web_missing() -> str | None:
    """Why the web listener cannot run here (a package of the ``web`` extra is missing), or None."""
    missing = [name for name in WEB_PACKAGES if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    return f"web_port needs {' and '.join(missing)}: pip install 'trio-chat[web]'"
