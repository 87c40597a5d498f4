"""The state alone, with fake SendQs: no tasks, no sockets.  What each change delivers, to whom, and in what order."""

from __future__ import annotations

from tests.fakes import FakeOutbox, FakeSendQ
from trio_chat.protocol import Message, parse_line
from trio_chat.protocol import caps as C
from trio_chat.server.config import ServerConfig
from trio_chat.server.state import Network, User


class Person:
    def __init__(self, network: Network, nick: str, *, caps: set[str] | None = None) -> None:
        self.sendq = FakeSendQ()
        self.outbox = FakeOutbox()
        self.user: User = network.add_connection("10.0.0.1", self.outbox, self.sendq)
        self.user.nick, self.user.username, self.user.realname = nick, "~" + nick, nick.title()
        if caps:
            self.user.set_caps(caps)
        network.register(self.user)

    def lines(self) -> list[str]:
        return [parse_line(line).to_line() for line in self.sendq.take()]


def _network(**overrides: object) -> Network:
    clock = [1_700_000_000.0]
    network = Network(ServerConfig(**overrides), clock=lambda: clock[0])  # type: ignore[arg-type]
    return network


def _crowd(network: Network, count: int) -> list[Person]:
    crowd = [Person(network, f"u{i}") for i in range(count)]
    for person in crowd:
        network.join(person.user, "#big")
    return crowd


def test_a_broadcast_puts_one_line_per_member_and_schedules_each_sendq_once() -> None:
    network = _network()
    alice, bob, carol = _crowd(network, 3)
    for person in (alice, bob, carol):
        person.sendq.take()
        person.sendq.readies = 0
    for text in ("one", "two", "three"):
        relay = network.relay(Message("PRIVMSG", ("#big", text), alice.user.source))
        network.deliver_all(network.channels["#big"].members, relay, skip=alice.user)
    assert alice.sendq.lines == []
    for person in (bob, carol):
        assert person.sendq.queued == 3
        assert person.sendq.readies == 1  # written out once for the three lines
        assert person.lines() == [f":u0!~u0@10.0.0.1 PRIVMSG #big :{t}" for t in ("one", "two", "three")]


def test_each_recipient_gets_the_tags_it_asked_for() -> None:
    network = _network()
    sender = Person(network, "alice")
    plain = Person(network, "bob")
    timed = Person(network, "carol", caps={C.SERVER_TIME})
    tagged = Person(network, "dave", caps={C.SERVER_TIME, C.MESSAGE_TAGS})
    for person in (sender, plain, timed, tagged):
        network.join(person.user, "#c")
    for person in (sender, plain, timed, tagged):
        person.sendq.take()
    relay = network.relay(
        Message("PRIVMSG", ("#c", "hi"), sender.user.source), client_tags={"+draft/react": "x"}, msgid=True
    )
    network.deliver_all(network.channels["#c"].members, relay, skip=sender.user)
    assert plain.sendq.take() == [b":alice!~alice@10.0.0.1 PRIVMSG #c :hi\r\n"]
    [timed_line] = timed.sendq.take()
    assert parse_line(timed_line).tags == {"time": "2023-11-14T22:13:20.000Z"}
    [tagged_line] = tagged.sendq.take()
    assert parse_line(tagged_line).tags == {
        "time": "2023-11-14T22:13:20.000Z",
        "msgid": relay.msgid,
        "+draft/react": "x",
    }


def test_lines_for_the_user_whose_command_runs_wait_in_order_in_pending() -> None:
    network = _network()
    alice, bob = _crowd(network, 2)
    alice.sendq.take()
    bob.sendq.take()
    pending = network.start_command(alice.user)
    network.deliver(alice.user, b"first\r\n")
    network.deliver_all([alice.user, bob.user], network.relay(Message("TOPIC", ("#big", "t"), "x")))
    network.deliver(alice.user, b"last\r\n")
    network.end_command(alice.user)
    assert alice.sendq.lines == []
    assert pending == [b"first\r\n", b":x TOPIC #big :t\r\n", b"last\r\n"]
    assert bob.lines() == [":x TOPIC #big :t"]


def test_thousands_of_full_sendqs_at_once_are_all_disconnected() -> None:
    """One QUIT overflowing 3000 stalled clients at once: each is dropped, without recursing per client."""
    network = _network()
    crowd = _crowd(network, 3000)
    for person in crowd[1:]:
        person.sendq.size = 0
    network.remove_user(crowd[0].user, "Quit: bye")
    assert network.users == {} and network.channels == {} and network.connections == set()
    assert all(p.outbox.closed == "SendQ exceeded" and p.outbox.aborted for p in crowd[1:])


def test_overflow_during_a_broadcast_spares_the_others() -> None:
    network = _network()
    alice, bob, carol = _crowd(network, 3)
    for person in (alice, bob, carol):
        person.sendq.take()
    bob.sendq.size = 0
    relay = network.relay(Message("PRIVMSG", ("#big", "hi"), alice.user.source))
    network.deliver_all(network.channels["#big"].members, relay, skip=alice.user)
    assert bob.user.gone and bob.outbox.closed is None  # disconnected once the change is complete
    network.reap()
    assert bob.outbox.closed == "SendQ exceeded" and network.find_user("u1") is None
    assert carol.lines() == [":u0!~u0@10.0.0.1 PRIVMSG #big :hi", ":u1!~u1@10.0.0.1 QUIT :SendQ exceeded"]
    assert alice.lines() == [":u1!~u1@10.0.0.1 QUIT :SendQ exceeded"]
    # Nothing more is put into a departed user's SendQ.
    network.deliver(bob.user, b"late\r\n")
    assert bob.sendq.lines == []


def test_join_creates_the_channel_with_its_first_member_as_operator_and_tells_everyone() -> None:
    network = _network()
    alice = Person(network, "alice")
    bob = Person(network, "bob", caps={C.EXTENDED_JOIN})
    channel = network.join(alice.user, "#Room")
    assert channel.name == "#Room" and channel.members == {alice.user: "o"}
    assert network.find_channel("#ROOM") is channel
    network.join(bob.user, "#room")
    assert channel.members[bob.user] == ""
    assert alice.lines() == [":alice!~alice@10.0.0.1 JOIN #Room", ":bob!~bob@10.0.0.1 JOIN #Room"]
    assert bob.lines() == [":bob!~bob@10.0.0.1 JOIN #Room * Bob"]


def test_part_kick_and_the_last_member_leaving_removes_the_channel() -> None:
    network = _network()
    alice, bob, carol = _crowd(network, 3)
    channel = network.channels["#big"]
    for person in (alice, bob, carol):
        person.sendq.take()
    network.kick(alice.user, channel, bob.user, "out")
    assert bob.lines() == [":u0!~u0@10.0.0.1 KICK #big u1 :out"]
    assert carol.lines() == [":u0!~u0@10.0.0.1 KICK #big u1 :out"]
    assert bob.user not in channel.members and "#big" not in bob.user.channels
    network.part(carol.user, channel, "bye")
    assert alice.lines()[-1] == ":u2!~u2@10.0.0.1 PART #big :bye"
    network.part(alice.user, channel, None)
    assert network.channels == {}


def test_nick_change_reaches_each_neighbour_once_and_carries_invitations() -> None:
    network = _network()
    alice, bob = _crowd(network, 2)
    network.join(alice.user, "#other")
    network.join(bob.user, "#other")
    network.channels["#other"].invited.add("u0")
    for person in (alice, bob):
        person.sendq.take()
    network.change_nick(alice.user, "Alicia")
    assert bob.lines() == [":u0!~u0@10.0.0.1 NICK Alicia"]  # two shared channels, one line
    assert alice.lines() == [":u0!~u0@10.0.0.1 NICK Alicia"]
    assert network.find_user("alicia") is alice.user and network.find_user("u0") is None
    assert network.channels["#other"].invited == {"alicia"}
    assert network.whowas[0].nick == "u0"


def test_quit_tells_neighbours_once_and_is_idempotent() -> None:
    network = _network()
    alice, bob = _crowd(network, 2)
    network.join(alice.user, "#second")
    network.join(bob.user, "#second")
    bob.sendq.take()
    network.remove_user(alice.user, "Quit: bye")
    network.remove_user(alice.user, "again")
    assert bob.lines() == [":u0!~u0@10.0.0.1 QUIT :Quit: bye"]
    assert alice.user.gone and network.find_user("u0") is None


def test_away_is_told_only_to_neighbours_that_asked() -> None:
    network = _network()
    alice = Person(network, "alice")
    bob = Person(network, "bob", caps={C.AWAY_NOTIFY})
    carol = Person(network, "carol")
    for person in (alice, bob, carol):
        network.join(person.user, "#c")
    for person in (alice, bob, carol):
        person.sendq.take()
    network.set_away(alice.user, "lunch")
    assert bob.lines() == [":alice!~alice@10.0.0.1 AWAY :lunch"] and carol.lines() == []
    network.set_away(alice.user, None)
    network.set_away(alice.user, None)  # not away: nothing to tell
    assert bob.lines() == [":alice!~alice@10.0.0.1 AWAY"]


def test_kline_disconnects_matching_users_and_is_listed() -> None:
    network = _network()
    alice, bob = Person(network, "alice"), Person(network, "bob")
    bob.user.host = "10.9.9.9"
    assert network.add_kline("*@10.9.*", "spam", "oper") == 1
    assert bob.outbox.closed == "K-Lined: spam" and alice.outbox.closed is None
    assert network.kline_for(bob.user) is not None
    assert network.remove_kline("*@10.9.*") and not network.remove_kline("*@10.9.*")


def test_msgids_are_unique_and_server_time_follows_the_clock() -> None:
    clock = [1_700_000_000.25]
    network = Network(ServerConfig(), clock=lambda: clock[0])
    ids = {network.next_msgid() for _ in range(1000)}
    assert len(ids) == 1000
    assert network.server_time() == "2023-11-14T22:13:20.250Z"
    clock[0] += 61.5
    assert network.server_time() == "2023-11-14T22:14:21.750Z"
