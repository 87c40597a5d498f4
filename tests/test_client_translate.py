"""The translator without trio: server lines in, model and events out (trio_chat/client/translate.py, messages.py,
replies.py, history.py).  Plain functions: each feeds parsed lines to a :class:`Translator` and looks at what the person
would see (buffers, nick lists, topics, the events of lines) and at what the client answers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from trio_chat.client import events as ev
from trio_chat.client.model import BufferKind, ChatModel, LineKind
from trio_chat.client.translate import LinkState, Translator
from trio_chat.protocol import Message, parse_line

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class Session:
    """A translator registered as ``nick`` on a link with ``caps``; what it sends is kept in ``sent``."""

    def __init__(self, nick: str = "alice", caps: tuple[str, ...] = (), *, registered: bool = True) -> None:
        self.model = ChatModel(nick)
        self.sent: list[Message] = []
        self.clock = 100.0
        self.t = Translator(self.model, self.send, now=lambda: NOW, clock=lambda: self.clock, nick=nick)
        self.t.link = LinkState(registered=registered, caps=set(caps))

    def send(self, message: Message) -> bool:
        self.sent.append(message)
        return True

    def feed(self, *lines: str) -> None:
        for line in lines:
            self.t.handle(parse_line(line.encode()))

    def events(self, name: str) -> list[ev.Event | None]:
        buf = self.model.find(name)
        assert buf is not None, name
        return [line.event for line in buf.lines]

    def join(self, channel: str, names: str = "alice") -> None:
        self.feed(f":alice!a@h JOIN {channel}", f":s 353 alice = {channel} :{names}", f":s 366 alice {channel} :End")


def test_events_land_in_their_buffers() -> None:
    s = Session()
    s.feed(":s 005 alice PREFIX=(qov)~@+ CHANMODES=b,k,l,n :are supported")
    s.join("#c", "~@alice +bob carol")
    buf = s.model.current
    assert buf.name == "#c" and buf.joined
    assert buf.nicks() == ["alice", "bob", "carol"]
    assert buf.members["alice"].prefixes == "~@"
    s.feed(
        "@time=2020-01-01T10:00:00.000Z :bob!b@h PRIVMSG #c :\x02bold\x02 \x0304red\x03 \x1b[31mtext",
        ":bob!b@h PRIVMSG alice :\x01VERSION\x01",
        ":dave!d@h JOIN #c",
        ":s MODE #c +ob-v carol *!*@spam bob",
        ":carol!c@h NICK caroline",
        ":caroline!c@h TOPIC #c :new topic",
        ":dave!d@h PART #c :later",
        ":bob!b@h KICK #c caroline :out",
        ":bob!b@h QUIT :gone",
        ":bob!b@h INVITE alice #secret",
        ":s NOTICE alice :server news",
    )
    assert s.sent[-1] == Message("NOTICE", ("bob", "\x01VERSION trio-chat\x01"))
    assert [(line.kind, line.event) for line in buf.lines if line.kind is not LineKind.MESSAGE] == [
        (LineKind.JOIN, ev.Joined("#c", "alice", own=True)),
        (LineKind.INFO, ev.Names("#c", ("~alice", "+bob", "carol"))),
        (LineKind.JOIN, ev.Joined("#c", "dave", user="d", host="h")),
        (LineKind.MODE, ev.ModeChanged("#c", "s", "+ob-v carol *!*@spam bob")),
        (LineKind.NICK, ev.NickChanged("carol", "caroline")),
        (LineKind.TOPIC, ev.TopicChanged("#c", "caroline", "new topic")),
        (LineKind.PART, ev.Parted("#c", "dave", reason="later")),
        (LineKind.KICK, ev.Kicked("#c", "caroline", "bob", reason="out")),
        (LineKind.QUIT, ev.Quit("bob", "gone")),
        (LineKind.INFO, ev.Invited("bob", "alice", "#secret", to_me=True)),
    ]
    message = next(line for line in buf.lines if line.kind is LineKind.MESSAGE)
    assert message.text == "\x02bold\x02 \x0304red\x03 [31mtext", "formatting kept, other control characters gone"
    assert message.time == datetime(2020, 1, 1, 10, tzinfo=UTC)
    assert message.event is None
    assert buf.topic == "new topic"
    assert buf.nicks() == ["alice"]
    assert [(line.text, line.event) for line in s.model.server.lines] == [
        ("PREFIX=(qov)~@+ CHANMODES=b,k,l,n are supported", None),
        ("", ev.CtcpRequest("bob", "VERSION", "alice")),
        ("server news", None),
    ]


def test_joining_switches_to_the_channel_and_marks_the_end_of_the_servers_answer() -> None:
    s = Session(caps=("batch",))
    s.t.quiet_joins = {"#quiet"}
    s.feed(":alice!a@h JOIN #quiet")
    assert s.model.current is s.model.server, "channels joined on connecting (all but the first) do not switch"
    s.feed(":alice!a@h JOIN #here")
    assert s.model.current.name == "#here"
    assert s.sent == [Message("PING", ("sync1",)), Message("PING", ("sync2",))]
    assert s.t.link is not None and s.t.link.joining == {"#quiet": "sync1", "#here": "sync2"}
    assert not s.t.can_fetch_older("#here"), "no history asked for before the JOIN is answered"
    s.t.pong("sync2")
    assert s.t.link.joining == {"#quiet": "sync1"}


def test_being_kicked_leaves_the_channel_and_is_a_highlight() -> None:
    s = Session()
    s.join("#c", "alice bob")
    s.model.switch(0)
    s.feed(":bob!b@h KICK #c alice :\x02bye\x02")
    buf = s.model.find("#c")
    assert buf is not None and not buf.joined and not buf.members
    kick = buf.lines[-1]
    assert kick.event == ev.Kicked("#c", "alice", "bob", own=True, reason="bye")
    assert kick.highlight and buf.highlights == 1
    s.feed(":alice!a@h PART #c")
    assert s.events("#c")[-1] == ev.Parted("#c", "alice", own=True)


def test_a_quit_is_said_in_every_channel_and_query_with_them() -> None:
    s = Session()
    s.join("#a", "alice bob")
    s.join("#b", "alice bob")
    s.join("#c", "alice carol")
    s.feed(":bob!b@h PRIVMSG alice :hi")
    s.feed(":bob!b@h QUIT")
    for name in ("#a", "#b", "bob"):
        assert s.events(name)[-1] == ev.Quit("bob"), name
    assert ev.Quit("bob") not in s.events("#c")
    assert s.model.find("#a") is not None and s.model.find("#a").nicks() == ["alice"]  # type: ignore[union-attr]


def test_nick_changes_follow_members_queries_and_our_own_nick() -> None:
    s = Session()
    s.join("#c", "alice bob")
    s.feed(":bob!b@h PRIVMSG alice :psst", ":bob!b@h NICK robert")
    assert s.model.find("bob") is None
    query = s.model.find("robert")
    assert query is not None and query.kind is BufferKind.QUERY, "the query follows its partner"
    assert s.events("#c")[-1] == ev.NickChanged("bob", "robert")
    assert s.model.find("#c").nicks() == ["alice", "robert"]  # type: ignore[union-attr]

    assert s.t.link is not None
    s.t.link.nick_retry = "alicia"
    s.feed(":alice!a@h NICK alicia")
    assert s.model.nick == "alicia" and s.t.wanted_nick == "alicia"
    assert s.events("#c")[-1] == ev.NickChanged("alice", "alicia", own=True)
    assert s.events("server") == [ev.NickRegained("alicia"), ev.NickChanged("alice", "alicia", own=True)]
    assert s.t.link.nick_retry is None


def test_modes_follow_prefixes_and_the_channel_key() -> None:
    s = Session()
    s.join("#c", "alice bob carol")
    s.feed(":op!o@h MODE #c +ov bob carol", ":op!o@h MODE #c +k sesame")
    buf = s.model.find("#c")
    assert buf is not None
    assert [m.prefixes for m in buf.sorted_members()] == ["@", "+", ""]
    assert s.t.keys == {"#c": "sesame"}, "kept to rejoin with after a reconnect"
    s.feed(":op!o@h MODE #c -o+l-k bob 10 *", ":s 324 alice #c +k other")
    assert s.t.keys == {"#c": "other"}
    assert buf.members["bob"].prefixes == ""
    assert s.events("#c")[-1] == ev.ChannelModes("#c", "+k other")
    s.feed(":alice MODE alice +i")
    assert s.events("server")[-1] == ev.ModeChanged("alice", "alice", "+i", channel=False)


def test_the_topic_and_its_setter_on_joining() -> None:
    s = Session()
    s.feed(":alice!a@h JOIN #c", ":s 332 alice #c :\x02the\x02 topic", ":s 333 alice #c bob!b@h 1700000000")
    s.feed(":s 329 alice #c 1600000000", ":s 331 alice #d :No topic")
    buf = s.model.find("#c")
    assert buf is not None and buf.topic == "the topic"
    assert s.events("#c")[1:] == [
        ev.TopicIs("#c", "the topic"),
        ev.TopicSetBy("#c", "bob", "1700000000"),
        ev.ChannelCreated("#c", "1600000000"),
    ]
    assert s.events("#d") == [ev.TopicIs("#d", None)]


def test_ctcp_requests_are_answered_and_ping_replies_timed() -> None:
    s = Session()
    s.feed(":bob!b@h PRIVMSG alice :\x01PING 99 1\x01", ":bob!b@h PRIVMSG #c :\x01FINGER\x01")
    assert s.sent == [Message("NOTICE", ("bob", "\x01PING 99 1\x01"))], "FINGER is not answered"
    assert s.events("server") == [
        ev.CtcpRequest("bob", "PING", "alice"),
        ev.CtcpRequest("bob", "FINGER", "#c", to_channel=True),
    ]
    s.t.ctcp_pings[("bob", "7")] = 99.88
    s.feed(":bob!b@h NOTICE alice :\x01PING 7\x01", ":bob!b@h NOTICE alice :\x01PING 7\x01")
    s.feed(":bob!b@h NOTICE alice :\x01VERSION \x02irssi\x02\x01")
    replies = s.events("server")[2:]
    timed = replies[0]
    assert isinstance(timed, ev.CtcpReply) and (timed.nick, timed.command, timed.text) == ("bob", "PING", "")
    assert timed.round_trip == pytest.approx(0.12), "timed from when it was sent"
    assert replies[1:] == [ev.CtcpReply("bob", "PING", "7"), ev.CtcpReply("bob", "VERSION", "irssi")]
    s.feed(":alice!a@h PRIVMSG bob :\x01VERSION\x01")
    assert len(s.sent) == 1 and len(s.events("server")) == 5, "our own request, echoed, is not answered nor shown"


def test_a_whois_answer_is_grouped_and_an_away_reply_shown_once_per_message() -> None:
    s = Session()
    s.feed(
        ":s 311 alice bob ~b host * :Bob \x02B\x02",
        ":s 319 alice bob :@#lobby",
        ":s 312 alice bob irc.example :Example",
        ":s 301 alice bob :lunch",
        ":s 317 alice bob 5 1700000000 :seconds idle, signon time",
        ":s 330 alice bob bobacct :is logged in as",
        ":s 318 alice bob :End of /WHOIS list",
    )
    assert s.events("server") == [
        ev.WhoisStart("bob"),
        ev.WhoisUser("bob", "~b", "host", "Bob B"),
        ev.WhoisChannels("bob", "@#lobby"),
        ev.WhoisServer("bob", "irc.example", "Example"),
        ev.Away("bob", "lunch"),
        ev.WhoisIdle("bob", "5", "1700000000"),
        ev.WhoisAccount("bob", "bobacct"),
        None,
    ]
    assert s.model.server.lines[-1].text == "bob End of /WHOIS list"
    s.feed(":bob!b@h PRIVMSG alice :hi")
    s.feed(":s 301 alice bob :lunch", ":s 301 alice bob :lunch", ":s 301 alice bob :dinner")
    assert [e for e in s.events("bob") if e is not None] == [ev.Away("bob", "lunch"), ev.Away("bob", "dinner")]
    s.feed(":bob!b@h AWAY", ":s 301 alice bob :dinner")
    assert s.events("bob")[-1] == ev.Away("bob", "dinner"), "back and away again: news again"


def test_who_list_and_error_replies_go_where_the_person_is_looking() -> None:
    s = Session()
    s.join("#c")
    s.feed(
        ":s 352 alice #c ~b host irc.example bob H@ :0 Bob",
        ":s 322 alice #dev 3 :\x02dev\x02 talk",
        ":s 482 alice #c :You're not channel operator",
        ":s 421 alice FROB :Unknown command",
        ":s 999 alice :something new",
    )
    buf = s.model.current
    assert buf.name == "#c"
    assert [(line.kind, line.event) for line in list(buf.lines)[2:]] == [
        (LineKind.INFO, ev.WhoEntry("#c", "bob", "~b", "host", "H@", "0 Bob")),
        (LineKind.INFO, ev.ListEntry("#dev", "3", "dev talk")),
        (LineKind.ERROR, ev.ErrorReply("482", ("#c", "You're not channel operator"))),
        (LineKind.ERROR, ev.UnknownCommand("FROB")),
    ]
    assert s.model.server.lines[-1].text == "something new", "other numerics: the server buffer"


def test_messages_highlight_mentions_and_queries_and_ignored_people_are_not_heard() -> None:
    s = Session(caps=("account-tag",))
    s.join("#c", "alice bob")
    s.model.settings.highlight_words = ("deploy",)
    s.model.switch(0)
    s.feed(
        ":bob!b@h PRIVMSG #c :hello alice",
        ":bob!b@h PRIVMSG #c :hello malice",
        "@account=bobby :bob!b@h PRIVMSG #c :time to Deploy",
        ":bob!b@h PRIVMSG alice :psst",
    )
    c = s.model.find("#c")
    assert c is not None
    assert [line.highlight for line in c.lines if line.kind is LineKind.MESSAGE] == [True, False, True]
    assert (c.unread, c.highlights) == (3, 2)
    assert c.members["bob"].account is None, "the last line without the tag: not logged in"
    query = s.model.find("bob")
    assert query is not None and [(line.text, line.highlight) for line in query.lines] == [("psst", True)]
    s.model.ignores.append("eve!*@*")
    s.feed(":eve!e@h PRIVMSG #c :spam", ":eve!e@h PRIVMSG alice :\x01VERSION\x01")
    assert s.model.find("eve") is None and c.unread == 3 and s.sent == []


def test_an_account_change_is_said_where_they_are() -> None:
    s = Session()
    s.join("#c", "alice bob")
    s.feed(":bob!b@h ACCOUNT bobacct", ":bob!b@h ACCOUNT *", ":alice!a@h ACCOUNT alice")
    assert s.events("#c")[-2:] == [ev.AccountChanged("bob", "bobacct"), ev.AccountChanged("bob", None)]
    assert s.model.account == "alice", "our own is said by 900, not here"


def test_the_replay_on_joining_goes_above_the_join_as_history() -> None:
    s = Session(caps=("batch", "message-tags", "draft/chathistory"))
    s.feed(":alice!a@h JOIN #c", "BATCH +r chathistory #c")
    s.feed(
        "@batch=r;time=2024-04-30T10:00:00.000Z;msgid=m1 :bob!b@h PRIVMSG #c :earlier",
        "@batch=r;time=2024-04-30T10:01:00.000Z;msgid=m2 :bob!b@h PRIVMSG #c :\x01VERSION\x01",
        "BATCH -r",
    )
    assert s.sent == [Message("PING", ("sync1",))], "a CTCP request of long ago is not answered"
    buf = s.model.find("#c")
    assert buf is not None
    kinds = [(line.kind, line.history) for line in buf.lines]
    assert kinds == [
        (LineKind.DAY, True),
        (LineKind.MESSAGE, True),
        (LineKind.SEPARATOR, True),
        (LineKind.JOIN, False),
    ]
    assert buf.lines[1].text == "earlier" and buf.lines[1].msgid == "m1"


def test_a_history_request_for_a_deleted_message_is_asked_again_by_time() -> None:
    s = Session(caps=("batch", "message-tags", "draft/chathistory"))
    s.feed(":alice!a@h JOIN #c", "@time=2024-05-01T09:00:00.000Z;msgid=m9 :bob!b@h PRIVMSG #c :hi")
    s.t.pong("sync1")
    assert s.t.can_fetch_older("#c")
    buf = s.model.find("#c")
    assert buf is not None and s.t.ask_history(buf)
    assert s.sent[-1] == Message("CHATHISTORY", ("BEFORE", "#c", "msgid=m9", "50"))
    assert buf.history_loading and not s.t.can_fetch_older("#c")
    s.feed("FAIL CHATHISTORY INVALID_MSGREFS BEFORE :Unknown msgid")
    assert s.sent[-1] == Message("CHATHISTORY", ("BEFORE", "#c", "timestamp=2024-05-01T09:00:00.001Z", "50"))
    s.feed("FAIL CHATHISTORY INVALID_MSGREFS BEFORE :Still unknown")
    assert len(s.sent) == 3, "asked by time once, not again"
    assert not buf.history_loading and buf.history_complete
    assert buf.lines[-1].kind is LineKind.ERROR
    assert buf.lines[-1].event == ev.HistoryFailed("Still unknown")


def test_nickserv_and_registration_news_is_shown_in_the_server_buffer_and_where_you_are() -> None:
    s = Session(caps=("echo-message",))
    s.join("#c")
    assert s.t.link is not None
    s.t.link.hidden_echoes = 1
    s.feed(
        ":alice!a@h PRIVMSG NickServ :IDENTIFY hunter22",
        ":NickServ!s@services NOTICE alice :You are now \x02identified\x02",
        "REGISTER SUCCESS alice :Account created",
        "FAIL REGISTER ACCOUNT_EXISTS alice :Account already exists",
    )
    assert s.model.find("NickServ") is None, "the echo of /identify is not shown, nor a query opened"
    for name in ("server", "#c"):
        buf = s.model.find(name)
        assert buf is not None
        assert [(line.kind, line.text, line.event) for line in buf.lines if line.nick != "alice"][-3:] == [
            (LineKind.NOTICE, "You are now identified", None),
            (LineKind.INFO, "", ev.AccountRegistered("alice")),
            (LineKind.ERROR, "", ev.RegistrationFailed("ACCOUNT_EXISTS", "Account already exists")),
        ], name
    s.feed(":alice!a@h PRIVMSG NickServ :IDENTIFY hunter22")
    query = s.model.find("NickServ")
    assert query is not None and [line.text for line in query.lines] == ["IDENTIFY ********"], "masked, never plain"


def test_a_server_that_does_not_know_chathistory_is_not_asked_again() -> None:
    s = Session(caps=("batch", "message-tags", "draft/chathistory"))
    s.feed(":alice!a@h JOIN #c")
    s.t.pong("sync1")
    buf = s.model.find("#c")
    assert buf is not None and s.t.ask_history(buf)
    assert s.sent[-1] == Message("CHATHISTORY", ("LATEST", "#c", "*", "50")), "nothing in the buffer yet"
    s.feed(":s 421 alice CHATHISTORY :Unknown command")
    assert buf.history_complete and not buf.history_loading
    assert not s.t.can_fetch_older("#c")
    assert s.model.current.lines[-1].event == ev.UnknownCommand("CHATHISTORY")
