"""mIRC formatting: parsed into spans, drawn as styles, typed with Ctrl-B / Ctrl-_ / Ctrl-K."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st
from prompt_toolkit.styles import Style

from tests.test_ui import FakeClient, chat_model, pipe_session, running, until
from trio_chat.client.formatting import Format, clean_formatting, parse_formatting, strip_formatting
from trio_chat.client.model import Line, LineKind
from trio_chat.ui.render import colour_style, line_fragments, plain
from trio_chat.ui.view import ChatUI

NOW = datetime(2024, 5, 1, 12, 34, tzinfo=UTC)


def test_toggles_and_reset() -> None:
    spans = parse_formatting("a\x02b\x1dc\x1fd\x1ee\x11f\x16g\x02\x1dh\x0fi")
    assert spans == [
        (Format(), "a"),
        (Format(bold=True), "b"),
        (Format(bold=True, italic=True), "c"),
        (Format(bold=True, italic=True, underline=True), "d"),
        (Format(bold=True, italic=True, underline=True, strikethrough=True), "e"),
        (Format(bold=True, italic=True, underline=True, strikethrough=True, monospace=True), "f"),
        (Format(bold=True, italic=True, underline=True, strikethrough=True, monospace=True, reverse=True), "g"),
        (Format(underline=True, strikethrough=True, monospace=True, reverse=True), "h"),
        (Format(), "i"),
    ]


def test_colours_by_number_and_hex() -> None:
    assert parse_formatting("\x034red\x03plain") == [(Format(fg=4), "red"), (Format(), "plain")]
    assert parse_formatting("\x0304,01x\x038y") == [(Format(fg=4, bg=1), "x"), (Format(fg=8, bg=1), "y")]
    assert parse_formatting("\x0399,99d") == [(Format(), "d")], "99 is the default colour"
    assert parse_formatting("\x0352z") == [(Format(fg=52), "z")], "the extended palette, 16-98"
    assert parse_formatting("\x03123") == [(Format(fg=12), "3")], "two digits at most"
    assert parse_formatting("\x034,x") == [(Format(fg=4), ",x")], "a comma without a digit is text"
    assert parse_formatting("\x04FF0000hex\x04,00ff00") == [(Format(fg="#ff0000"), "hex"), (Format(), ",00ff00")]
    assert parse_formatting("\x04ff0000,0000ffboth") == [(Format(fg="#ff0000", bg="#0000ff"), "both")]


def test_other_control_characters_never_reach_the_terminal() -> None:
    assert strip_formatting("esc\x1b[2Jape\tand\x07bell\x02!") == "esc[2Jape andbell!"
    assert clean_formatting("\x02b\x02\x1b[31m\x0304r\x07") == "\x02b\x02[31m\x0304r"


@given(st.text())
def test_spans_hold_exactly_the_visible_text(text: str) -> None:
    visible = "".join(part for _fmt, part in parse_formatting(text))
    assert visible == strip_formatting(text) == strip_formatting(clean_formatting(text))
    assert not any(ord(c) < 32 or c == "\x7f" for c in visible)


def test_messages_are_drawn_with_their_formatting() -> None:
    line = Line(NOW, LineKind.MESSAGE, "\x02bold\x02 \x0304,01red\x03 \x1d\x1fit\x0f \x1estruck \x04ff8800hex", "bob")
    fragments = line_fragments(line)
    assert plain(fragments) == "12:34 <bob> bold red it struck hex"
    styles = {text: style for style, text, *_ in fragments}
    assert styles["bold"] == "bold"
    assert styles["red"] == "fg:ansibrightred bg:ansiblack"
    assert styles["it"] == "italic underline"
    assert styles["struck "] == "strike"
    assert styles["hex"] == "strike fg:#ff8800", "strikethrough is still on: only colour changed"
    action = line_fragments(Line(NOW, LineKind.ACTION, "waves \x0352wildly", "bob", highlight=True))
    assert action[-1] == ("class:action class:highlight fg:#ff0000", "wildly")


def test_ctrl_b_underscore_and_k_insert_the_codes() -> None:
    async def main() -> None:
        model = chat_model()
        client = FakeClient()
        with pipe_session() as pipe:
            ui = ChatUI(model, client)
            async with running(ui):
                pipe.send_text("\x02bold\x02 \x1fund\x1f \x0b4red \x0fplain")  # Ctrl-B, Ctrl-_, Ctrl-K, Ctrl-O
                await until(lambda: ui.input_buffer.text.endswith("plain"), "typing")
                assert ui.input_buffer.text == "\x02bold\x02 \x1fund\x1f \x034red \x0fplain"
                pipe.send_text("\r")
                await until(lambda: bool(client.submitted), "Enter")
                assert client.submitted == ["\x02bold\x02 \x1fund\x1f \x034red \x0fplain"]

    asyncio.run(main())


def test_every_colour_is_a_style_prompt_toolkit_knows() -> None:
    style = Style([])
    for number in range(99):
        colour = colour_style(number)
        attrs = style.get_attrs_for_style_str(f"fg:{colour} bg:{colour} strike")
        assert attrs.color and attrs.bgcolor and attrs.strike
