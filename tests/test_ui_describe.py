"""Events in words (trio_chat/ui/describe.py): what the screen and the log say for each kind of event."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import get_args

import pytest

from trio_chat.client import events as ev
from trio_chat.client.chatlog import format_line
from trio_chat.client.model import Line, LineKind
from trio_chat.ui.describe import date_text, describe, line_text
from trio_chat.ui.render import plain, render_line

NOW = datetime(2024, 5, 1, 12, 34, 56, tzinfo=UTC)
STAMP = "1700000000"
WHEN = datetime.fromtimestamp(1_700_000_000).astimezone().strftime("%Y-%m-%d %H:%M")

WORDS: list[tuple[ev.Event, str]] = [
    (ev.Joined("#c", "alice", own=True), "You joined #c"),
    (ev.Joined("#c", "bob"), "bob joined #c"),
    (ev.Joined("#c", "bob", user="b", host="h"), "bob (b@h) joined #c"),
    (ev.Joined("#c", "bob", user="b", host="h", account="bobby"), "bob (b@h, account bobby) joined #c"),
    (ev.Parted("#c", "alice", own=True), "You left #c"),
    (ev.Parted("#c", "bob", reason="later"), "bob left #c (later)"),
    (ev.Kicked("#c", "alice", "op", own=True, reason="spam"), "You were kicked from #c by op (spam)"),
    (ev.Kicked("#c", "bob", "op"), "bob was kicked from #c by op"),
    (ev.Quit("bob"), "bob quit"),
    (ev.Quit("bob", "gone"), "bob quit (gone)"),
    (ev.NickChanged("alice", "alicia", own=True), "You are now known as alicia"),
    (ev.NickChanged("bob", "robert"), "bob is now known as robert"),
    (ev.ModeChanged("#c", "op", "+o bob"), "op sets mode +o bob"),
    (ev.ModeChanged("alice", "alice", "+i", channel=False), "alice sets mode +i on alice"),
    (ev.ChannelModes("#c", "+nt"), "#c modes: +nt"),
    (ev.ChannelCreated("#c", STAMP), f"#c was created on {WHEN}"),
    (ev.ChannelCreated("#c", "soon"), "#c was created on soon"),
    (ev.TopicChanged("#c", "bob", "news"), "bob changed the topic to: news"),
    (ev.TopicChanged("#c", "bob", ""), "bob cleared the topic"),
    (ev.TopicIs("#c", "news"), "Topic: news"),
    (ev.TopicIs("#c", None), "No topic is set"),
    (ev.TopicSetBy("#c", "bob", STAMP), f"Set by bob on {WHEN}"),
    (ev.Names("#c", ("@alice",)), "1 person in #c: @alice"),
    (ev.Names("#c", ("@alice", "bob")), "2 people in #c: @alice bob"),
    (ev.Invited("bob", "alice", "#s", to_me=True), "bob invites you to #s (/join #s)"),
    (ev.Invited("bob", "carol", "#s"), "bob invited carol to #s"),
    (ev.AccountChanged("bob", "bobby"), "bob is now logged in as bobby"),
    (ev.AccountChanged("bob", None), "bob is now logged out"),
    (ev.CtcpRequest("bob", "VERSION", "alice"), "bob asked for your VERSION"),
    (ev.CtcpRequest("bob", "TIME", "#c", to_channel=True), "bob asked for #c's TIME"),
    (ev.CtcpReply("bob", "PING", round_trip=0.123), "PING reply from bob: 0.12 s"),
    (ev.CtcpReply("bob", "VERSION", "irssi"), "VERSION reply from bob: irssi"),
    (ev.CtcpReply("bob", "FINGER"), "FINGER reply from bob"),
    (ev.CtcpSent("PING", "bob"), "CTCP PING sent to bob"),
    (ev.WhoisStart("bob"), "─── whois bob ───"),
    (ev.WhoisUser("bob", "~b", "host", "Bob"), "bob is ~b@host (Bob)"),
    (ev.WhoisServer("bob", "irc.example", "Example"), "bob is on irc.example (Example)"),
    (ev.WhoisIdle("bob", "5"), "bob has been idle 5 s"),
    (ev.WhoisIdle("bob", "5", STAMP), f"bob has been idle 5 s, connected since {WHEN}"),
    (ev.WhoisChannels("bob", "@#c"), "bob is in @#c"),
    (ev.WhoisAccount("bob", "bobby"), "bob is logged in as bobby"),
    (ev.Away("bob", "lunch"), "bob is away: lunch"),
    (ev.WhoEntry("#c", "bob", "~b", "host", "H@", "0 Bob"), "#c bob (~b@host) H@ 0 Bob"),
    (ev.ListEntry("#c", "3", "chat"), "#c (3): chat"),
    (ev.ErrorReply("482", ("#c", "You're not channel operator")), "#c: You're not channel operator"),
    (ev.ErrorReply("481", ("Permission denied",)), "Permission denied"),
    (ev.ErrorReply("400", ()), "400"),
    (ev.UnknownCommand("FROB"), "The server does not know FROB"),
    (ev.UnknownCommand(None), "The server does not know that command"),
    (ev.HistoryFailed("too busy"), "Could not load older messages: too busy"),
    (ev.NoMotd(), "No message of the day"),
    (ev.Connected("irc.example:6697", "alice"), "Connected to irc.example:6697; registering as alice"),
    (ev.Reconnecting(2.0), "Reconnecting in 2 s…"),
    (ev.Reconnecting(0.5), "Reconnecting in 0.5 s…"),
    (ev.RegisteredAs("alice_", "alice"), "Registered as alice_; alice is in use"),
    (ev.NickInUse("bob"), "The nick bob is already in use"),
    (ev.NickInUse("alice", "alice_"), "The nick alice is in use; trying alice_"),
    (ev.NickRegained("alice"), "Got the nick alice back"),
    (ev.LoggedIn("alice", by_sasl=True), "Logged in as alice"),
    (ev.LoggedIn("alice"), "You are now logged in as alice"),
    (ev.LoggedOut(), "You are now logged out"),
    (ev.Registering("carol"), "Registering the account carol…"),
    (ev.Identifying("carol"), "Logging in to the account carol (NickServ)…"),
    (ev.AlreadyLoggedIn("carol"), "You are already logged in as carol"),
    (ev.AccountRegistered("carol"), "Account carol registered"),
    (ev.AccountRegistered("carol", "check your mail"), "Account carol registered; verify it: check your mail"),
    (ev.RegistrationFailed("ACCOUNT_EXISTS", "taken"), "Registration failed: taken (ACCOUNT_EXISTS)"),
]


@pytest.mark.parametrize(("event", "words"), WORDS)
def test_each_event_in_words(event: ev.Event, words: str) -> None:
    assert describe(event) == words


def test_every_kind_of_event_has_words_here() -> None:
    assert {type(event) for event, _words in WORDS} == set(get_args(ev.Event))


def test_an_unreadable_time_is_shown_as_it_came() -> None:
    assert date_text(STAMP) == WHEN
    assert date_text("99999999999999999999") == "99999999999999999999"


def test_the_screen_and_the_log_say_an_event_the_same_way() -> None:
    kick = Line(NOW, LineKind.KICK, "", "bob", event=ev.Kicked("#c", "bob", "op", reason="spam"))
    assert line_text(kick) == "bob was kicked from #c by op (spam)"
    assert [plain(row) for row in render_line(kick, 80)] == ["12:34 <-- bob was kicked from #c by op (spam)"]
    assert format_line(kick, line_text) == "2024-05-01 12:34:56 <-- bob was kicked from #c by op (spam)"
    said = Line(NOW, LineKind.MESSAGE, "hi", "bob")
    assert line_text(said) == "hi", "a line without an event says its own text"
