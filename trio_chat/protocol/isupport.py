"""RPL_ISUPPORT (005): tokens to lines, at most 13 tokens per line, built once at start-up."""

from __future__ import annotations

from collections.abc import Mapping

MAX_TOKENS_PER_LINE = 13


def isupport_lines(tokens: Mapping[str, str | int | None]) -> list[list[str]]:
    """Group tokens (``NAME`` or ``NAME=value``) into the parameter lists of 005 lines."""
    words = [name if value is None or value == "" else f"{name}={value}" for name, value in tokens.items()]
    return [words[i : i + MAX_TOKENS_PER_LINE] for i in range(0, len(words), MAX_TOKENS_PER_LINE)]
