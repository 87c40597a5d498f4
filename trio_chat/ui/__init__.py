"""The terminal interface (prompt_toolkit): the only package that imports prompt_toolkit.

``run_client(args)`` and ``add_join_arguments(parser)`` in :mod:`trio_chat.ui.app` are ``trio-chat join``.
"""

from .app import add_join_arguments, run_client

__all__ = ["add_join_arguments", "run_client"]
