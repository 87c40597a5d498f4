"""Fixtures shared by several test modules."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redis_server import REDIS, RedisServer, redis_server
from tests.tmux import Tmux


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    """A private tmux server, killed (by its PID) after the test."""
    t = Tmux()
    try:
        yield t
    finally:
        t.close()


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server of the test's own, on a free port, persistence off; killed (by PID) after it."""
    if REDIS is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed (.ci/run installs the Debian package)")
        pytest.skip("redis-server is not installed")
    with redis_server(tmp_path) as server:
        yield server
