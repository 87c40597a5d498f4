"""The client model: buffers, unread counts, nick lists, history and completion, without any I/O."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

import trio_chat.client
from tests.helpers import texts
from trio_chat.client.formatting import strip_formatting
from trio_chat.client.model import (
    HISTORY_BEGINNING,
    HISTORY_SEPARATOR,
    SCROLLBACK_LINES,
    BufferKind,
    ChatModel,
    InputHistory,
    Line,
    LineKind,
    TabCompleter,
    mentions,
    nick_colour,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def msg(text: str, nick: str = "bob", *, own: bool = False, highlight: bool = False) -> Line:
    return Line(NOW, LineKind.MESSAGE, text, nick=nick, own=own, highlight=highlight)


def test_buffers_are_created_once_and_found_case_folded() -> None:
    model = ChatModel("alice")
    assert [b.name for b in model.buffers] == ["server"]
    lobby = model.open("#Lobby")
    assert model.open("#lobby") is lobby
    assert model.find("#LOBBY") is lobby
    assert lobby.kind is BufferKind.CHANNEL
    assert model.open("Bob[away]").kind is BufferKind.QUERY
    assert model.find("bob{away}") is not None, "rfc1459: [] fold to {}"
    assert model.current is model.server
    model.open("#dev", switch=True)
    assert model.current.name == "#dev"


def test_unread_counts_and_highlights_only_for_other_buffers() -> None:
    model = ChatModel("alice")
    lobby = model.open("#lobby", switch=True)
    dev = model.open("#dev")
    model.add(lobby, msg("seen right away"))
    model.add(dev, msg("one"))
    model.add(dev, msg("alice: two", highlight=True))
    model.add(dev, Line(NOW, LineKind.JOIN, "carol joined", nick="carol"))
    model.add(dev, msg("my own", nick="alice", own=True))
    assert (lobby.unread, lobby.highlights) == (0, 0)
    assert (dev.unread, dev.highlights) == (2, 1)
    assert model.activity() == [(3, dev)]
    model.switch(2)
    assert (dev.unread, dev.highlights) == (0, 0)
    assert model.activity() == []


def test_switching_wraps_and_closing_keeps_a_sensible_current() -> None:
    model = ChatModel("alice")
    for name in ("#a", "#b", "#c"):
        model.open(name)
    model.switch_previous()
    assert model.current.name == "#c"
    model.switch_next()
    assert model.current is model.server
    assert not model.switch(7)
    model.switch(2)
    assert model.close("#b")
    assert model.current.name == "#c"
    model.switch(1)
    model.close("#c")
    assert model.current.name == "#a"
    assert not model.close("server")


def test_members_rename_and_queries_follow_nick_changes() -> None:
    model = ChatModel("alice")
    lobby = model.open("#lobby")
    lobby.add_member("Bob", "@")
    lobby.add_member("carol", "+")
    lobby.add_member("dave")
    model.open("bob")
    assert lobby.nicks() == ["Bob", "carol", "dave"]
    assert [b.name for b in model.buffers_with("BOB")] == ["#lobby", "bob"]
    assert lobby.rename_member("bob", "robert")
    model.rename("bob", "robert")
    assert lobby.members["robert"].prefixes == "@"
    assert model.find("robert") is not None and model.find("bob") is None
    assert lobby.remove_member("carol")
    assert not lobby.remove_member("carol")


def test_scrollback_is_bounded() -> None:
    model = ChatModel("alice")
    for i in range(SCROLLBACK_LINES + 10):
        model.add(model.server, msg(str(i)))
    assert len(model.server.lines) == SCROLLBACK_LINES
    assert model.server.lines[0].text == "10"


def test_listeners_hear_every_change() -> None:
    model = ChatModel("alice")
    calls: list[int] = []
    model.add_listener(lambda: calls.append(1))
    model.add(model.server, msg("x"))
    model.open("#a", switch=True)
    assert len(calls) >= 2


def test_input_history_walks_back_and_returns_to_the_draft() -> None:
    history = InputHistory(limit=3)
    assert history.previous("draft") is None
    for line in ("one", "two", "two", "", "three", "four"):
        history.add(line)
    assert history.entries == ["two", "three", "four"]
    assert history.previous("half typed") == "four"
    assert history.previous("four") == "three"
    assert history.previous("three") == "two"
    assert history.previous("two") is None
    assert history.next() == "three"
    assert history.next() == "four"
    assert history.next() == "half typed"
    assert history.next() is None


def test_completion_prefers_recent_speakers_and_cycles() -> None:
    model = ChatModel("alice")
    lobby = model.open("#lobby", switch=True)
    for nick in ("alice", "bob", "bobby", "Boris", "carol"):
        lobby.add_member(nick)
    model.add(lobby, msg("hi", nick="bobby"))
    nicks = model.completion_nicks()
    assert nicks == ["bobby", "bob", "Boris", "carol"], "recent speakers first, never yourself"
    completer = TabCompleter()
    first = completer.complete("bo", 2, nicks, [])
    assert first is not None and (first.text, first.cursor) == ("bobby: ", 7)
    second = completer.complete(first.text, first.cursor, nicks, [])
    assert second is not None and second.text == "bob: "
    third = completer.complete(second.text, second.cursor, nicks, [])
    assert third is not None and third.text == "Boris: "
    mid = completer.complete("thanks ca and more", 9, nicks, [])
    assert mid is not None and (mid.text, mid.cursor) == ("thanks carol and more", 13)
    assert completer.complete("xyz", 3, nicks, []) is None
    assert completer.complete("", 0, nicks, []) is None


def test_completion_of_commands_and_channels() -> None:
    completer = TabCompleter()
    done = completer.complete("/jo", 3, [], ["join", "kick"])
    assert done is not None and done.text == "/join "
    done = completer.complete("/join #de", 9, [], ["join"], ["#dev", "#lobby"])
    assert done is not None and done.text == "/join #dev "
    assert completer.complete("//jo", 4, [], ["join"]) is None, "//text is text, not a command"


def test_query_buffers_complete_the_partner() -> None:
    model = ChatModel("alice")
    model.open("bob", switch=True)
    assert model.completion_nicks() == ["bob"]


def test_nick_colours_are_stable_and_case_insensitive() -> None:
    assert nick_colour("alice") == nick_colour("ALICE")
    assert {nick_colour(f"user{i}") for i in range(200)} == set(range(12)), "all colours get used"
    assert [nick_colour(n) for n in ("alice", "bob", "carol")] == [11, 8, 11], "crc32, not hash(): same every run"


def test_mentions_are_whole_words() -> None:
    assert mentions("hey alice!", "alice")
    assert mentions("ALICE: hi", "alice")
    assert mentions("(alice) hi", "alice")
    assert not mentions("malice aforethought", "alice")
    assert not mentions("alice_ is here", "alice")
    assert not mentions("anything", "")


def test_formatting_and_control_characters_are_stripped() -> None:
    assert strip_formatting("\x02bold\x02 \x0304,01red\x03 \x1funder\x1f") == "bold red under"
    assert strip_formatting("esc\x1b[2Jape\tand\x07bell") == "esc[2Jape andbell"
    assert strip_formatting("\x04ff0000hex\x04") == "hex"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_layers_import_one_way() -> None:
    client = Path(trio_chat.client.__file__).parent
    for path in client.glob("*.py"):
        imported = _imports(path)
        assert not any(n.startswith(("prompt_toolkit", "trio_chat.server", "trio_chat.ui")) for n in imported), path
    # Only core.py runs trio: the rest of the client is synchronous code that tests call directly.
    for pure in sorted({p.name for p in client.glob("*.py")} - {"core.py", "__init__.py"}):
        assert not any(n == "trio" or n.startswith("trio.") for n in _imports(client / pure)), pure


# -- history from the server --------------------------------------------------------------------------------------


def past(text: str, msgid: str, when: datetime, nick: str = "bob") -> Line:
    """A message as a history batch brings it."""
    return Line(when, LineKind.MESSAGE, text, nick=nick, own=nick == "alice", history=True, msgid=msgid)


def test_replay_goes_above_the_join_with_dates_and_a_separator_and_is_never_unread() -> None:
    model = ChatModel("alice")
    model.open("#lobby", switch=True)
    room = model.open("#room")
    model.add(room, Line(NOW, LineKind.JOIN, "You joined #room", nick="alice", own=True))
    model.add(room, Line(NOW, LineKind.INFO, "2 people in #room: alice bob"))
    monday, tuesday = datetime(2024, 4, 29, 23, 50, tzinfo=UTC), datetime(2024, 4, 30, 0, 10, tzinfo=UTC)
    replay = [
        past("late", "m1", monday),
        past("alice: you there?", "m2", tuesday),
        past("mine", "m3", tuesday, "alice"),
    ]
    assert model.add_history(room, replay) == 3
    assert [(line.kind, line.text) for line in room.lines] == [
        (LineKind.DAY, "Monday 29 April 2024"),
        (LineKind.MESSAGE, "late"),
        (LineKind.DAY, "Tuesday 30 April 2024"),
        (LineKind.MESSAGE, "alice: you there?"),
        (LineKind.MESSAGE, "mine"),
        (LineKind.SEPARATOR, HISTORY_SEPARATOR),
        (LineKind.JOIN, "You joined #room"),
        (LineKind.INFO, "2 people in #room: alice bob"),
    ]
    assert (room.unread, room.highlights, room.scroll) == (0, 0, 0)
    assert model.activity() == []
    assert room.recent_speakers == ["bob"], "speakers of the replay are offered first in completion"
    # The same replay again (a rejoin): nothing new, nothing added, not even a separator.
    model.add(room, Line(NOW, LineKind.JOIN, "You joined #room", nick="alice", own=True))
    assert model.add_history(room, replay) == 0
    assert model.add_history(room, [*replay, past("while away", "m4", NOW)]) == 1
    assert [line.text for line in room.lines][-4:] == [
        "Wednesday 1 May 2024",
        "while away",
        HISTORY_SEPARATOR,
        "You joined #room",
    ], "only what was missed, above the latest join"
    assert room.unread == 0


def test_older_pages_go_on_top_until_the_beginning() -> None:
    model = ChatModel("alice")
    room = model.open("#room", switch=True)
    day = datetime(2024, 4, 30, 9, 0, tzinfo=UTC)
    model.add_history(room, [past("m3", "3", day), past("m4", "4", day)])
    assert room.oldest_message() is not None and room.oldest_message().msgid == "3"  # type: ignore[union-attr]
    room.history_loading = True
    yesterday = datetime(2024, 4, 29, 9, 0, tzinfo=UTC)
    assert model.add_older(room, [past("m1", "1", yesterday), past("m2", "2", day), past("m3", "3", day)]) == 2
    assert not room.history_loading and not room.history_complete
    assert [line.text for line in room.lines] == [
        "Monday 29 April 2024",
        "m1",
        "Tuesday 30 April 2024",  # one date line for the day the page ends on and the buffer began with
        "m2",
        "m3",
        "m4",
        HISTORY_SEPARATOR,
    ]
    assert model.add_older(room, [], complete=True) == 0
    assert room.history_complete
    assert [(line.kind, line.text) for line in list(room.lines)[:2]] == [
        (LineKind.SEPARATOR, HISTORY_BEGINNING),
        (LineKind.DAY, "Monday 29 April 2024"),
    ]
    assert (room.unread, room.highlights) == (0, 0)


def test_a_page_with_nothing_new_ends_the_asking() -> None:
    model = ChatModel("alice")
    room = model.open("#room")
    model.add_history(room, [past("m1", "1", NOW)])
    assert model.add_older(room, [past("m1", "1", NOW)]) == 0
    assert room.history_complete, "the same request would get the same answer"
    assert HISTORY_BEGINNING not in texts(model, room), "but the server did not say it was the beginning"


def test_older_pages_never_push_the_newest_lines_out() -> None:
    model = ChatModel("alice")
    room = model.open("#room")
    for i in range(SCROLLBACK_LINES - 3):
        model.add(room, msg(f"live {i}"))
    page = [past(f"old {i}", f"o{i}", NOW) for i in range(10)]
    assert model.add_older(room, page) == 2
    assert [line.text for line in list(room.lines)[:3]] == ["Wednesday 1 May 2024", "old 8", "old 9"]
    assert room.lines[-1].text == f"live {SCROLLBACK_LINES - 4}"
    assert room.full
