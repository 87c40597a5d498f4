"""The context a handler runs in: the network, the user whose command it is, and ways to answer them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from .. import __version__
from ..protocol import numerics as N
from ..protocol.message import Message
from .state import Network, User

VERSION = f"trio-chat-{__version__}"


class Context:
    """What a handler gets: the network, the user whose command this is, and ways to answer them."""

    __slots__ = ("config", "network", "user")

    def __init__(self, network: Network, user: User) -> None:
        self.network = network
        self.user = user
        self.config = network.config

    @property
    def server_name(self) -> str:
        return self.config.server_name

    def reply(self, numeric: str, *params: str) -> None:
        """Send a numeric to the user: ``:server NUMERIC <nick> params…``.

        Numerics often echo what the client sent (``401 <nick> nobody``).  A word that cannot stand before the
        last parameter (empty, or starting with ``:``, as ``WHOIS :`` or ``NICK ::x`` give) is shown as ``*``,
        so bad input gets its error reply instead of a line that cannot be written.
        """
        *middle, last = (self.user.nick, *params)
        middle = [p if p and p[0] != ":" and " " not in p else "*" for p in middle]
        self.send(Message(numeric, (*middle, last), self.config.server_name))

    def send(self, message: Message) -> None:
        """Send a message to the user as it is (source included)."""
        self.network.deliver(self.user, message.to_bytes())

    def server_message(self, command: str, *params: str) -> None:
        self.send(Message(command, params, self.config.server_name))

    def need_more_params(self, command: str) -> None:
        self.reply(N.ERR_NEEDMOREPARAMS, command, "Not enough parameters")

    def defer(self, answer: Callable[[], Awaitable[list[bytes]]]) -> None:
        """Finish the command asynchronously (a store query): the session awaits ``answer`` after the
        command's other replies and sends the lines it returns before reading the client's next line.  A command
        that defers twice (a login that also delivers what was kept meanwhile) gets both, in that order."""
        earlier = self.user.deferred
        if earlier is None:
            self.user.deferred = answer
            return

        async def both() -> list[bytes]:
            return [*(await earlier()), *(await answer())]

        self.user.deferred = both

    def quit(self, reason: str) -> None:
        """End the connection after this command's replies: QUIT to others now, ``ERROR`` to the user last."""
        self.network.remove_user(self.user, reason)
        self.user.outbox.close(reason)
