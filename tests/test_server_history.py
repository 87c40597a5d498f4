"""The history store's query semantics, run against both stores: in memory and SQLite (a real file)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_chat.server.history import (
    ChannelRecord,
    HistoryStore,
    MemoryHistory,
    MsgidRef,
    Ref,
    StoredMessage,
    TimeRef,
    UnknownReference,
    line_msgid,
)
from trio_chat.server.store.sqlite import SQLiteHistory


def make(target: str, n: int, time_ms: int, **fields: Any) -> StoredMessage:
    """A message ``m<n>`` to ``target`` (folded by lowercasing) saying ``text <n>``; ``fields`` override."""
    message = StoredMessage(
        seq=0,
        msgid=f"m{n}",
        time_ms=time_ms,
        target=target,
        folded=target.lower(),
        source=f"nick{n}!user@host",
        account=None,
        command="PRIVMSG",
        text=f"text {n}",
    )
    return replace(message, **fields)


def texts(messages: list[StoredMessage]) -> list[int]:
    """The numbers of the messages, to compare results at a glance."""
    return [int(m.msgid[1:]) for m in messages]


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HistoryStore]:
    made: HistoryStore = MemoryHistory() if request.param == "memory" else SQLiteHistory.open(str(tmp_path / "h.db"))
    yield made
    made.close()


@pytest.fixture
def lobby(store: HistoryStore) -> HistoryStore:
    """``#Lobby``: m1..m10 at 1000, 2000, … 10000 ms; ``#other``: m11, m12 at 1500 and 20000."""
    store.append_many([make("#Lobby", n, n * 1000) for n in range(1, 6)])
    store.append_many([make("#other", 11, 1500)])
    store.append_many([make("#Lobby", n, n * 1000) for n in range(6, 11)])
    store.append_many([make("#other", 12, 20000)])
    return store


LOBBY = "#lobby"


def test_append_assigns_increasing_seqs_across_the_store(store: HistoryStore) -> None:
    first = store.append_many([make("#a", 1, 10), make("#b", 2, 10), make("#a", 3, 11)])
    second = store.append_many([make("#b", 4, 12)])
    seqs = [m.seq for m in first + second]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4 and seqs[0] > 0
    assert [m.msgid for m in first] == ["m1", "m2", "m3"]
    assert store.find("m3") == first[2]
    assert store.append_many([]) == []


def test_seqs_are_never_reused_after_the_newest_message_is_deleted(store: HistoryStore) -> None:
    (last,) = store.append_many([make("#a", 1, 10)])
    assert store.redact("#a", "m1")
    (again,) = store.append_many([make("#a", 2, 11)])
    assert again.seq > last.seq


def test_fields_and_tags_round_trip(store: HistoryStore) -> None:
    tags = (("+draft/react", "👍"), ("+example.com/x", "a;b c\\d"), ("+empty", ""))
    message = make("#Ünïcode", 1, 1234, account="alice", command="TAGMSG", text="", tags=tags)
    (stored,) = store.append_many([message])
    assert store.find("m1") == stored
    assert stored.tags == tags and stored.account == "alice" and stored.target == "#Ünïcode"
    assert store.latest("#ünïcode", 5) == [stored]


def test_awkward_text_round_trips(store: HistoryStore) -> None:
    awkward = ["\x01ACTION waves\x01", "\x02bold\x0f \x0304colour", 'quote " backslash \\ slash /', "tab\there"]
    awkward += ["emoji 😀 and ü", "\u2028\u2029", "\ufeffbom", "[1, 2]", "null", ""]
    stored = store.append_many([make("#a", n, n, text=text) for n, text in enumerate(awkward)])
    assert store.latest("#a", 100) == stored
    assert [m.text for m in stored] == awkward


def test_nul_is_refused(store: HistoryStore) -> None:
    with pytest.raises(ValueError, match="NUL"):
        store.append_many([make("#a", 1, 1), make("#a", 2, 2, text="a\0b")])
    with pytest.raises(ValueError, match="NUL"):
        store.append_many([make("#a", 3, 3, tags=(("+x", "\0"),))])
    assert store.latest("#a", 10) == []


def test_a_large_batch(store: HistoryStore) -> None:
    stored = store.append_many([make(f"#t{n % 3}", n, n) for n in range(2500)])
    assert [m.seq for m in stored] == list(range(stored[0].seq, stored[0].seq + 2500))
    assert store.latest("#t1", 5000) == [m for m in stored if m.folded == "#t1"]
    assert store.find("m2499") == stored[-1]


def test_duplicate_msgid_is_refused_and_nothing_of_the_batch_is_stored(store: HistoryStore) -> None:
    store.append_many([make("#a", 1, 10)])
    with pytest.raises(ValueError):
        store.append_many([make("#a", 2, 11), make("#a", 1, 12)])
    with pytest.raises(ValueError):
        store.append_many([make("#a", 3, 11), make("#a", 3, 12)])
    assert texts(store.latest("#a", 10)) == [1]


def test_latest(lobby: HistoryStore) -> None:
    assert texts(lobby.latest(LOBBY, 3)) == [8, 9, 10]
    assert texts(lobby.latest(LOBBY, 100)) == list(range(1, 11))
    assert lobby.latest(LOBBY, 0) == []
    assert lobby.latest("#nobody", 10) == []
    # LATEST with a reference: only newer messages, the newest of them.
    assert texts(lobby.latest(LOBBY, 3, after=MsgidRef("m4"))) == [8, 9, 10]
    assert texts(lobby.latest(LOBBY, 10, after=MsgidRef("m7"))) == [8, 9, 10]
    assert texts(lobby.latest(LOBBY, 10, after=TimeRef(7000))) == [8, 9, 10]
    assert texts(lobby.latest(LOBBY, 10, after=TimeRef(7001))) == [8, 9, 10]
    assert lobby.latest(LOBBY, 10, after=MsgidRef("m10")) == []


def test_before_is_exclusive_and_returns_the_closest(lobby: HistoryStore) -> None:
    assert texts(lobby.before(LOBBY, MsgidRef("m6"), 3)) == [3, 4, 5]
    assert texts(lobby.before(LOBBY, MsgidRef("m6"), 100)) == [1, 2, 3, 4, 5]
    assert texts(lobby.before(LOBBY, TimeRef(6000), 2)) == [4, 5]
    assert texts(lobby.before(LOBBY, TimeRef(6001), 2)) == [5, 6]
    assert lobby.before(LOBBY, MsgidRef("m1"), 5) == []
    assert lobby.before(LOBBY, TimeRef(0), 5) == []
    assert lobby.before(LOBBY, MsgidRef("m6"), 0) == []


def test_after_is_exclusive_and_returns_the_closest(lobby: HistoryStore) -> None:
    assert texts(lobby.after(LOBBY, MsgidRef("m3"), 3)) == [4, 5, 6]
    assert texts(lobby.after(LOBBY, TimeRef(3000), 2)) == [4, 5]
    assert texts(lobby.after(LOBBY, TimeRef(2999), 2)) == [3, 4]
    assert lobby.after(LOBBY, MsgidRef("m10"), 5) == []
    assert texts(lobby.after(LOBBY, TimeRef(0), 100)) == list(range(1, 11))


def test_around_a_msgid_includes_it_and_balances_the_sides(lobby: HistoryStore) -> None:
    assert texts(lobby.around(LOBBY, MsgidRef("m5"), 5)) == [3, 4, 5, 6, 7]
    assert texts(lobby.around(LOBBY, MsgidRef("m5"), 4)) == [3, 4, 5, 6]
    assert texts(lobby.around(LOBBY, MsgidRef("m5"), 1)) == [5]
    assert lobby.around(LOBBY, MsgidRef("m5"), 0) == []
    # Near an end, the other side fills in.
    assert texts(lobby.around(LOBBY, MsgidRef("m2"), 5)) == [1, 2, 3, 4, 5]
    assert texts(lobby.around(LOBBY, MsgidRef("m10"), 4)) == [7, 8, 9, 10]
    assert texts(lobby.around(LOBBY, MsgidRef("m5"), 100)) == list(range(1, 11))


def test_around_a_time_splits_at_that_time(lobby: HistoryStore) -> None:
    assert texts(lobby.around(LOBBY, TimeRef(5500), 4)) == [4, 5, 6, 7]
    # A message stamped exactly at the reference counts as the later side.
    assert texts(lobby.around(LOBBY, TimeRef(5000), 4)) == [3, 4, 5, 6]
    assert texts(lobby.around(LOBBY, TimeRef(5000), 3)) == [3, 4, 5]
    assert texts(lobby.around(LOBBY, TimeRef(0), 3)) == [1, 2, 3]
    assert texts(lobby.around(LOBBY, TimeRef(99_000), 3)) == [8, 9, 10]


def test_between_either_way_exclusive_of_both_ends(lobby: HistoryStore) -> None:
    assert texts(lobby.between(LOBBY, MsgidRef("m2"), MsgidRef("m8"), 100)) == [3, 4, 5, 6, 7]
    assert texts(lobby.between(LOBBY, MsgidRef("m8"), MsgidRef("m2"), 100)) == [3, 4, 5, 6, 7]
    # The limit counts from the first reference: forwards the oldest, backwards the newest, oldest first.
    assert texts(lobby.between(LOBBY, MsgidRef("m2"), MsgidRef("m8"), 2)) == [3, 4]
    assert texts(lobby.between(LOBBY, MsgidRef("m8"), MsgidRef("m2"), 2)) == [6, 7]
    assert texts(lobby.between(LOBBY, TimeRef(2000), TimeRef(5000), 10)) == [3, 4]
    assert texts(lobby.between(LOBBY, TimeRef(5000), TimeRef(2000), 1)) == [4]
    assert texts(lobby.between(LOBBY, TimeRef(2500), MsgidRef("m6"), 10)) == [3, 4, 5]
    assert texts(lobby.between(LOBBY, MsgidRef("m6"), TimeRef(2500), 2)) == [4, 5]
    assert lobby.between(LOBBY, MsgidRef("m4"), MsgidRef("m5"), 10) == []
    assert lobby.between(LOBBY, MsgidRef("m4"), MsgidRef("m4"), 10) == []
    assert lobby.between(LOBBY, TimeRef(1), TimeRef(99_000), 0) == []


def test_messages_with_the_same_time_are_ordered_by_seq(store: HistoryStore) -> None:
    store.append_many([make("#a", n, 5000) for n in range(1, 6)])
    assert texts(store.before("#a", MsgidRef("m4"), 2)) == [2, 3]
    assert texts(store.after("#a", MsgidRef("m2"), 2)) == [3, 4]
    assert texts(store.between("#a", MsgidRef("m5"), MsgidRef("m1"), 2)) == [3, 4]
    assert texts(store.around("#a", MsgidRef("m3"), 3)) == [2, 3, 4]
    # A time reference at that very millisecond is on neither side of BEFORE/AFTER.
    assert store.before("#a", TimeRef(5000), 10) == []
    assert store.after("#a", TimeRef(5000), 10) == []


@pytest.mark.parametrize(
    "query",
    ["latest", "before", "after", "around", "between_start", "between_end"],
)
def test_unknown_msgid_is_an_error_the_caller_can_tell_apart(lobby: HistoryStore, query: str) -> None:
    for missing in ("nope", "m11"):  # never stored; stored, but in another target
        ref = MsgidRef(missing)
        with pytest.raises(UnknownReference):
            if query == "latest":
                lobby.latest(LOBBY, 5, after=ref)
            elif query == "before":
                lobby.before(LOBBY, ref, 5)
            elif query == "after":
                lobby.after(LOBBY, ref, 5)
            elif query == "around":
                lobby.around(LOBBY, ref, 5)
            elif query == "between_start":
                lobby.between(LOBBY, ref, MsgidRef("m5"), 5)
            else:
                lobby.between(LOBBY, MsgidRef("m5"), ref, 5)


def test_negative_limit_is_a_value_error(lobby: HistoryStore) -> None:
    with pytest.raises(ValueError):
        lobby.latest(LOBBY, -1)
    with pytest.raises(ValueError):
        lobby.targets(TimeRef(0), TimeRef(1), -1)


def test_targets_lists_targets_whose_latest_message_is_in_the_window(lobby: HistoryStore) -> None:
    lobby.append_many([make("#Third", 13, 3500)])
    everything = lobby.targets(TimeRef(0), TimeRef(100_000), 10)
    assert everything == [("#Third", 3500), ("#Lobby", 10_000), ("#other", 20_000)]
    # A target's latest message *of all* must be inside the window (exclusive): #Lobby and #other have
    # messages in 1000..4000, but newer ones after it, so they are not listed.
    assert lobby.targets(TimeRef(1000), TimeRef(4000), 10) == [("#Third", 3500)]
    assert lobby.targets(TimeRef(4000), TimeRef(1000), 10) == [("#Third", 3500)]
    assert lobby.targets(TimeRef(3500), TimeRef(10_000), 10) == []
    assert lobby.targets(TimeRef(3500), TimeRef(10_001), 10) == [("#Lobby", 10_000)]
    assert lobby.targets(TimeRef(0), TimeRef(100_000), 2) == [("#Third", 3500), ("#Lobby", 10_000)]
    # Backwards: the newest are chosen, still listed oldest first.
    assert lobby.targets(TimeRef(100_000), TimeRef(0), 2) == [("#Lobby", 10_000), ("#other", 20_000)]
    assert lobby.targets(TimeRef(20_000), TimeRef(30_000), 10) == []
    assert lobby.targets(TimeRef(0), TimeRef(100_000), 0) == []


def test_targets_reports_the_display_name_of_the_latest_message(store: HistoryStore) -> None:
    store.append_many([make("#Chan", 1, 10), make("#chan", 2, 20), make("#CHAN", 3, 30)])
    assert store.targets(TimeRef(0), TimeRef(25), 5) == []  # its latest message (30) is after the window
    assert store.targets(TimeRef(0), TimeRef(99), 5) == [("#CHAN", 30)]


def test_targets_judges_by_the_latest_message_after_a_redaction(store: HistoryStore) -> None:
    store.append_many([make("#a", 1, 10), make("#a", 2, 50), make("#b", 3, 20)])
    assert store.targets(TimeRef(0), TimeRef(40), 5) == [("#b", 20)]
    assert store.redact("#a", "m2")
    assert store.targets(TimeRef(0), TimeRef(40), 5) == [("#a", 10), ("#b", 20)]


def test_find(lobby: HistoryStore) -> None:
    found = lobby.find("m11")
    assert found is not None and found.target == "#other" and found.time_ms == 1500
    assert lobby.find("missing") is None


def test_redact_of_a_multiline_message_takes_all_its_lines(store: HistoryStore) -> None:
    """The lines after the first are kept under ``line_msgid(msgid, i)``: a redaction of ``msgid`` deletes them
    too, in its target only; another message whose msgid merely starts the same way stays."""
    lines = [make("#a", 1, 10)] + [make("#a", 1, 10, msgid=line_msgid("m1", i), text=f"line {i}") for i in (1, 2, 3)]
    store.append_many(lines)
    store.append_many([make("#a", 10, 11), make("#a", 10, 11, msgid=line_msgid("m10", 1)), make("#a", 12, 12)])
    store.append_many([make("#b", 1, 13, msgid=line_msgid("m1", 4))])  # not a line of #a's m1
    assert store.redact("#a", line_msgid("m1", 2))
    assert [m.msgid for m in store.latest("#a", 10)] == ["m1", "m1/1", "m1/3", "m10", "m10/1", "m12"]
    assert store.redact("#a", "m1")
    assert [m.msgid for m in store.latest("#a", 10)] == ["m10", "m10/1", "m12"]
    assert not store.redact("#a", "m1")
    assert [m.msgid for m in store.latest("#b", 10)] == ["m1/4"]
    assert store.redact("#a", "m10")
    assert [m.msgid for m in store.latest("#a", 10)] == ["m12"]


def test_redact_deletes_only_from_its_target(lobby: HistoryStore) -> None:
    assert not lobby.redact(LOBBY, "m11")  # m11 is in #other
    assert not lobby.redact(LOBBY, "nope")
    assert lobby.redact(LOBBY, "m5")
    assert not lobby.redact(LOBBY, "m5")
    assert lobby.find("m5") is None
    assert texts(lobby.around(LOBBY, MsgidRef("m6"), 3)) == [4, 6, 7]
    with pytest.raises(UnknownReference):
        lobby.before(LOBBY, MsgidRef("m5"), 3)
    assert lobby.find("m11") is not None


def test_prune_by_count_per_target(lobby: HistoryStore) -> None:
    assert lobby.prune(max_messages=3, max_age_ms=0, now_ms=0) == 7  # #Lobby 10 -> 3; #other has 2
    assert texts(lobby.latest(LOBBY, 100)) == [8, 9, 10]
    assert texts(lobby.latest("#other", 100)) == [11, 12]
    assert lobby.find("m1") is None
    assert lobby.prune(max_messages=3, max_age_ms=0, now_ms=0) == 0


def test_prune_by_age(lobby: HistoryStore) -> None:
    # now 12000, max age 4000: keep time >= 8000.
    assert lobby.prune(max_messages=0, max_age_ms=4000, now_ms=12_000) == 8
    assert texts(lobby.latest(LOBBY, 100)) == [8, 9, 10]
    assert texts(lobby.latest("#other", 100)) == [12]
    assert lobby.targets_with_history() == ["#lobby", "#other"]
    assert lobby.prune(max_messages=0, max_age_ms=1, now_ms=10**9) == 4
    assert lobby.targets_with_history() == []


def test_prune_by_both_and_by_neither(lobby: HistoryStore) -> None:
    assert lobby.prune(max_messages=0, max_age_ms=0, now_ms=10**9) == 0
    assert lobby.prune(max_messages=1, max_age_ms=15_000, now_ms=25_000) == 10
    assert texts(lobby.latest(LOBBY, 100)) == [10]
    assert texts(lobby.latest("#other", 100)) == [12]


def test_targets_with_history(store: HistoryStore) -> None:
    assert store.targets_with_history() == []
    store.append_many([make("#B", 1, 1), make("#a", 2, 2), make("#B", 3, 3)])
    assert store.targets_with_history() == ["#a", "#b"]
    assert store.redact("#a", "m2")
    assert store.targets_with_history() == ["#b"]


def test_channel_records_round_trip(store: HistoryStore) -> None:
    lobby = ChannelRecord(
        name="#Lobby",
        folded="#lobby",
        created=1_700_000_000,
        topic="Welcome ☕",
        topic_by="alice!a@host",
        topic_time=1_700_000_100,
        modes="int",
        key="sekrit",
        limit=25,
        bans=(("*!*@bad.example", "alice", 1_700_000_200), ("troll!*@*", "bob", 1_700_000_300)),
    )
    plain = ChannelRecord(name="#a", folded="#a", created=5)
    store.save_channel(lobby)
    store.save_channel(plain)
    assert store.load_channels() == [plain, lobby]
    changed = ChannelRecord(name="#Lobby", folded="#lobby", created=1_700_000_000, topic="new", modes="nt")
    store.save_channel(changed)
    assert store.load_channels() == [plain, changed]
    store.delete_channel("#a")
    store.delete_channel("#never")
    assert store.load_channels() == [changed]


def test_memory_history_is_a_bounded_ring_per_target() -> None:
    store = MemoryHistory(max_per_target=3)
    store.append_many([make("#a", n, n) for n in range(1, 6)] + [make("#b", 9, 9)])
    assert texts(store.latest("#a", 10)) == [3, 4, 5]
    assert store.find("m1") is None and store.find("m3") is not None
    with pytest.raises(UnknownReference):
        store.after("#a", MsgidRef("m2"), 5)
    assert texts(store.latest("#b", 10)) == [9]


# -- Memory and SQLite agree ------------------------------------------------------------------------------

TARGETS = ("#A", "#b")
FOLDED = st.sampled_from([t.lower() for t in TARGETS])
LIMITS = st.integers(0, 8)
TIMES = st.integers(0, 70)
BATCH = st.lists(st.tuples(st.sampled_from(TARGETS), st.integers(0, 3)), min_size=1, max_size=6)
KINDS = ["latest", "before", "after", "around", "between", "targets", "find", "listing"] * 3 + [
    "append",
    "redact",
    "prune",
]


class Clock:
    """Message numbers and non-decreasing times (with ties) for the generated appends."""

    def __init__(self) -> None:
        self.count = 0
        self.time = 0

    def next(self, target: str, step: int) -> StoredMessage:
        self.count += 1
        self.time += step
        return make(target, self.count, self.time, account="acc" if self.count % 3 else None)


def draw_operation(data: st.DataObject, oracle: MemoryHistory) -> tuple[object, ...]:
    """One operation.  Msgid references are mostly to messages of the queried target (as ``oracle`` has
    them), sometimes to any number (another target's, pruned, redacted) or to one never stored."""
    folded = data.draw(FOLDED)
    present = [m.msgid for m in oracle.latest(folded, 10**6)]
    msgids = st.integers(1, 50).map(lambda n: f"m{n}")
    if present:
        msgids = st.one_of(st.sampled_from(present), st.sampled_from(present), st.sampled_from(present), msgids)
    refs: st.SearchStrategy[Ref] = st.one_of(msgids.map(MsgidRef), msgids.map(MsgidRef), TIMES.map(TimeRef))
    kind = data.draw(st.sampled_from(KINDS))
    if kind == "append":
        return (kind, data.draw(BATCH))
    if kind == "latest":
        return (kind, folded, data.draw(LIMITS), data.draw(st.none() | refs))
    if kind in ("before", "after", "around"):
        return (kind, folded, data.draw(refs), data.draw(LIMITS))
    if kind == "between":
        return (kind, folded, data.draw(refs), data.draw(refs), data.draw(LIMITS))
    if kind == "targets":
        return (kind, data.draw(TIMES), data.draw(TIMES), data.draw(LIMITS))
    if kind == "find":
        return (kind, data.draw(msgids))
    if kind == "redact":
        return (kind, folded, data.draw(msgids))
    if kind == "prune":
        return (kind, data.draw(st.integers(0, 12)), data.draw(st.integers(0, 60)), data.draw(st.integers(0, 100)))
    return (kind,)


def run(store: HistoryStore, clock: Clock, op: tuple[object, ...]) -> object:
    """Apply one generated operation; the outcome is its result or the type of the exception it raised."""
    try:
        match op:
            case ("append", list() as batch):
                return store.append_many([clock.next(target, step) for target, step in batch])
            case ("latest", str(folded), int(limit), MsgidRef() | TimeRef() | None as ref):
                return store.latest(folded, limit, ref)
            case ("before", str(folded), MsgidRef() | TimeRef() as ref, int(limit)):
                return store.before(folded, ref, limit)
            case ("after", str(folded), MsgidRef() | TimeRef() as ref, int(limit)):
                return store.after(folded, ref, limit)
            case ("around", str(folded), MsgidRef() | TimeRef() as ref, int(limit)):
                return store.around(folded, ref, limit)
            case ("between", str(folded), MsgidRef() | TimeRef() as start, MsgidRef() | TimeRef() as end, int(limit)):
                return store.between(folded, start, end, limit)
            case ("targets", int(start), int(end), int(limit)):
                return store.targets(TimeRef(start), TimeRef(end), limit)
            case ("find", str(msgid)):
                return store.find(msgid)
            case ("redact", str(folded), str(msgid)):
                return store.redact(folded, msgid)
            case ("prune", int(count), int(age), int(now)):
                return store.prune(count, age, now)
            case ("listing",):
                return store.targets_with_history()
    except (UnknownReference, ValueError) as exc:
        return type(exc)
    raise AssertionError(f"unknown operation {op!r}")


@settings(max_examples=200, deadline=None)
@given(st.lists(BATCH, min_size=1, max_size=8), st.data())
def test_memory_and_sqlite_give_identical_answers(batches: list[list[tuple[str, int]]], data: st.DataObject) -> None:
    memory = MemoryHistory()
    sqlite = SQLiteHistory.open(":memory:")
    clocks = Clock(), Clock()
    try:
        for batch in batches:
            assert run(sqlite, clocks[1], ("append", batch)) == run(memory, clocks[0], ("append", batch))
        for _ in range(data.draw(st.integers(1, 40))):
            op = draw_operation(data, memory)
            expected = run(memory, clocks[0], op)
            assert run(sqlite, clocks[1], op) == expected, op
    finally:
        sqlite.close()
