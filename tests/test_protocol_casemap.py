"""rfc1459 case-mapping: which nicks and channel names the server (and the client) count as the same."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_chat.protocol import CASEMAPPING, casefold

UPPER = string.ascii_uppercase + "[]\\~"
LOWER = string.ascii_lowercase + "{}|^"
_TO_UPPER = str.maketrans(LOWER, UPPER)

NAMES = st.text(alphabet=st.one_of(st.sampled_from(UPPER + LOWER + "`_-0123456789#&@!.*?"), st.characters()))


def test_the_announced_casemapping_is_rfc1459() -> None:
    # Clients fold names by what ISUPPORT CASEMAPPING says: it must name the mapping casefold() implements.
    assert CASEMAPPING == "rfc1459"


def test_ascii_letters_fold_to_lower_case() -> None:
    assert casefold("ALICE") == "alice"
    assert casefold("NiCk_42") == "nick_42"
    assert casefold("#Lobby") == "#lobby"


def test_brackets_backslash_and_tilde_fold_to_braces_pipe_and_caret() -> None:
    assert casefold("[") == "{"
    assert casefold("]") == "}"
    assert casefold("\\") == "|"
    assert casefold("~") == "^"
    assert casefold("[]\\~") == "{}|^"


def test_the_lower_case_side_is_left_alone() -> None:
    assert casefold("{}|^") == "{}|^"
    assert casefold(string.ascii_lowercase) == string.ascii_lowercase


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Guest[1]", "guest{1}"),
        ("a\\b", "A|B"),
        ("~tilde", "^TILDE"),
        ("#Chan[x]", "#chan{X}"),
    ],
)
def test_names_differing_only_in_rfc1459_case_are_the_same_name(a: str, b: str) -> None:
    assert casefold(a) == casefold(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("`", "@"),  # the ASCII mapping would fold ` and @; rfc1459 does not
        ("_", "-"),
        ("é", "É"),  # rfc1459 is ASCII-only: non-ASCII letters are distinct names
        ("ß", "ss"),
        ("k", "\u212a"),  # KELVIN SIGN is not K (str.casefold/lower would say otherwise)
        ("i", "İ"),
        ("alice", "alice_"),
    ],
)
def test_names_that_rfc1459_keeps_apart(a: str, b: str) -> None:
    assert casefold(a) != casefold(b)


def test_non_ascii_and_other_punctuation_are_unchanged() -> None:
    other = "0123456789`_-@!.#&*?: ÉÖßİ\u212a日本"
    assert casefold(other) == other


@given(NAMES)
def test_folding_is_idempotent_and_keeps_the_length(name: str) -> None:
    folded = casefold(name)
    assert casefold(folded) == folded
    assert len(folded) == len(name)
    assert not set(folded) & set(UPPER)


@given(NAMES)
def test_any_rfc1459_upper_casing_of_a_name_folds_to_the_same_name(name: str) -> None:
    assert casefold(name.translate(_TO_UPPER)) == casefold(name)


@given(NAMES)
def test_only_the_mapped_characters_change(name: str) -> None:
    for original, folded in zip(name, casefold(name), strict=True):
        assert folded == original or (original in UPPER and folded == LOWER[UPPER.index(original)])
