"""The state alone, with fake outboxes: no trio, no sockets."""

from __future__ import annotations

from trio_chat.protocol import Message
from trio_chat.server.config import ServerConfig
from trio_chat.server.state import Network, User


class FakeOutbox:
    """Collects lines until told it is full; then refuses them, as a SendQ of a client that stopped reading."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.full = False
        self.closed: str | None = None

    def put(self, line: bytes) -> bool:
        if self.full:
            return False
        self.lines.append(line)
        return True

    def close(self, reason: str, *, abort: bool = False) -> None:
        self.closed = reason


def _crowd(network: Network, count: int) -> list[tuple[User, FakeOutbox]]:
    crowd = []
    for i in range(count):
        outbox = FakeOutbox()
        user = network.add_connection("10.0.0.1", outbox)
        user.nick, user.username = f"u{i}", "~u"
        network.register(user)
        network.join(user, "#big")
        crowd.append((user, outbox))
    return crowd


def test_thousands_of_full_sendqs_at_once_are_all_disconnected() -> None:
    """One QUIT overflowing 3000 stalled clients at once: each is dropped, without recursing per client."""
    network = Network(ServerConfig(), clock=lambda: 0.0)
    crowd = _crowd(network, 3000)
    for _, outbox in crowd[1:]:
        outbox.full = True
    leaver, _ = crowd[0]
    network.remove_user(leaver, "Quit: bye")
    assert network.users == {} and network.channels == {} and network.connections == set()
    assert all(outbox.closed == "SendQ exceeded" for _, outbox in crowd[1:])


def test_overflow_during_a_broadcast_spares_the_others() -> None:
    network = Network(ServerConfig(), clock=lambda: 0.0)
    (alice, alice_box), (_, bob_box), (_, carol_box) = _crowd(network, 3)
    bob_box.full = True
    relay = network.relay(Message("PRIVMSG", ("#big", "hi"), alice.source))
    network.deliver_all(network.channels["#big"].members, relay, skip=alice)
    network.reap()
    assert bob_box.closed == "SendQ exceeded" and network.find_user("bob") is None
    assert carol_box.lines[-2:] == [relay.line(0), b":u1!~u@10.0.0.1 QUIT :SendQ exceeded\r\n"]
    assert alice_box.lines[-1] == b":u1!~u@10.0.0.1 QUIT :SendQ exceeded\r\n"
