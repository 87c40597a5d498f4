"""How to reach the server and who to be there: the settings of one :class:`~trio_chat.client.core.ChatClient`."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """How to reach the server and who to be there.  Times are in seconds of trio's clock."""

    nick: str
    host: str = "127.0.0.1"
    port: int = 6667
    channels: tuple[str, ...] = ("#lobby",)
    password: str | None = field(default=None, repr=False)
    """The connection password (PASS)."""
    sasl_account: str | None = None
    """Log in to this account with SASL PLAIN before registering (and on every reconnect); with
    ``sasl_password``.  A server that does not offer SASL, or refuses the login, is not joined at all."""
    sasl_password: str | None = field(default=None, repr=False)
    tls: bool = False
    tls_insecure: bool = False
    username: str | None = None
    realname: str = "trio-chat user"
    quit_message: str = "trio-chat"
    connect_timeout: float = 20.0
    reconnect_initial: float = 1.0
    reconnect_max: float = 60.0
    ping_interval: float = 30.0
    ping_timeout: float = 120.0
    quit_grace: float = 2.0
    max_nick_attempts: int = 5
    log_dir: str | None = None
    """Where conversation logs go (``<log_dir>/<network>/<buffer>.log``); None: not logged."""
    nick_retry_interval: float = 15.0
    """Registered under another nick because ours was taken (a ghost of our last connection, most often): ask
    for ours again this often…"""
    nick_retries: int = 40
    """…this many times (ten minutes by default: longer than servers take to drop a dead connection)."""

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def backoff_delay(attempt: int, initial: float, cap: float) -> float:
    """Seconds to wait before reconnection attempt ``attempt`` (0-based): doubling from ``initial``, capped."""
    return float(min(cap, initial * 2 ** min(attempt, 30)))
