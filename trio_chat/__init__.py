"""trio-chat: a multi-user IRC chat server and terminal client on trio."""

__version__ = "0.1.0"
