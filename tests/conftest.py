"""Fixtures shared by several test modules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.tmux import Tmux


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    """A private tmux server, killed (by its PID) after the test."""
    t = Tmux()
    try:
        yield t
    finally:
        t.close()
