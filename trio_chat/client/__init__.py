"""The chat client without its screen: a pure model, slash-command parsing, a translator from the server's
messages to model updates (no trio), and the trio core that keeps the connection.

Nothing in here imports prompt_toolkit (that is ``trio_chat.ui``) or the server.
"""

from .core import ChatClient, ClientConfig, backoff_delay
from .model import Buffer, BufferKind, ChatModel, ConnectionState, Line, LineKind

__all__ = [
    "Buffer",
    "BufferKind",
    "ChatClient",
    "ChatModel",
    "ClientConfig",
    "ConnectionState",
    "Line",
    "LineKind",
    "backoff_delay",
]
