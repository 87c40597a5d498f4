"""The full-screen layout and the keys: it draws the model and hands typed lines to the client, nothing more.

Layout, top to bottom (in the spirit of prompt_toolkit's ``examples/full-screen/calculator.py``)::

    topic bar
    message pane                     | nick list (F2)
    status line: time, nick, buffer, connection state, lag, activity
    [#lobby] input line

Incoming lines change the model, and the model's listener only calls ``invalidate()``: the input buffer is
never touched by anything but the keyboard.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from prompt_toolkit.application import Application
from prompt_toolkit.buffer import Buffer as InputBuffer
from prompt_toolkit.document import Document
from prompt_toolkit.filters import Condition
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.input import Input
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.keys import Keys
from prompt_toolkit.layout import (
    BufferControl,
    ConditionalContainer,
    FormattedTextControl,
    HSplit,
    Layout,
    UIContent,
    UIControl,
    VSplit,
    Window,
)
from prompt_toolkit.layout.dimension import Dimension
from prompt_toolkit.layout.processors import BeforeInput, Processor, Transformation, TransformationInput
from prompt_toolkit.output import Output
from prompt_toolkit.styles import Style

from trio_chat.client.commands import InputContext, command_names, is_secret, secret_start
from trio_chat.client.formatting import BOLD, COLOUR, RESET, UNDERLINE
from trio_chat.client.model import Buffer, BufferKind, ChatModel, ConnectionState, Member
from trio_chat.protocol.casemap import casefold

from .render import STYLE_RULES, render_line

FORMATTING_KEYS = {"c-b": BOLD, "c-_": UNDERLINE, "c-k": COLOUR, "c-o": RESET}
"""Keys that insert mIRC formatting codes in the input line, as in weechat and irssi (Ctrl-K then ``4,1``: red
on black); the input line shows them as ``^B``, ``^_``, ``^C``, ``^O``."""
DOUBLE_CTRL_C_SECONDS = 3.0
"""A second Ctrl-C within this long quits; one alone only clears the input line."""
NICKLIST_WIDTH = 18
ACCOUNT_MARK = "✓"
"""After a nick in the nick list and the status line: logged in to the account of that name (``✓name`` when the
account is named otherwise)."""


def account_label(nick: str, account: str | None) -> str:
    """``nick``, then `` ✓`` when logged in to the account ``nick``, `` ✓account`` to another, nothing if not."""
    if not account:
        return nick
    return f"{nick} {ACCOUNT_MARK}" if casefold(account) == casefold(nick) else f"{nick} {ACCOUNT_MARK}{account}"


def nicklist_entry(member: Member, width: int = NICKLIST_WIDTH) -> str:
    """One row of the nick list: the highest prefix (or a space), the nick, and the account mark, in ``width``."""
    prefix = member.prefixes[:1] or " "
    text = prefix + account_label(member.nick, member.account)
    if len(text) > width and member.account:
        text = (prefix + member.nick)[: width - 2] + " " + ACCOUNT_MARK  # a long nick keeps its mark
    return text[:width]


class MaskSecret(Processor):
    """Shows what follows ``/register`` or ``/identify`` on the input line as ``*``, one for each character (so
    the cursor stays where it is): a password is not for whoever looks over your shoulder."""

    def apply_transformation(self, transformation_input: TransformationInput) -> Transformation:
        fragments = transformation_input.fragments
        start = secret_start(transformation_input.document.text)
        if start is None or transformation_input.lineno != 0:
            return Transformation(fragments)
        out: StyleAndTextTuples = []
        pos = 0
        for style, text, *_handler in fragments:
            keep = max(0, min(len(text), start - pos))
            out.append((style, text[:keep] + "".join(" " if c == " " else "*" for c in text[keep:])))
            pos += len(text)
        return Transformation(out)


class ClientControl(Protocol):
    """What the UI needs from the client core (``ChatClient`` provides it)."""

    def submit(self, text: str) -> None: ...

    def quit(self, reason: str | None = None) -> None: ...

    def fetch_older(self, name: str) -> bool:
        """Ask for the history before the top line of buffer ``name``; False if nothing was asked."""
        ...


class MessagePane(UIControl):
    """The current buffer's last lines, wrapped to the width and aligned to the bottom, scrolled by ``scroll``."""

    def __init__(self, model: ChatModel) -> None:
        self.model = model
        self.height = 0
        self.width = 0

    def top_scroll(self, buf: Buffer, scroll: int) -> int | None:
        """The scroll that shows ``buf``'s oldest line at the top, if scrolling up by ``scroll`` rows reaches it
        (as last drawn: that width and height); None when there is more above."""
        count = 0
        for line in reversed(buf.lines):
            count += len(render_line(line, self.width, self.model.settings.timestamp_format))
            if count > self.height + scroll:
                return None
        return max(0, count - self.height)

    def scroll_rows(self, buf: Buffer) -> int:
        """How many rows above the bottom the view of ``buf`` is: ``scroll``, plus the rows (at the width last
        drawn) of the lines that came since while scrolled up."""
        held = min(buf.held, len(buf.lines))
        if not held:
            return buf.scroll
        width = self.width or 80
        time_format = self.model.settings.timestamp_format
        return buf.scroll + sum(len(render_line(buf.lines[-i], width, time_format)) for i in range(1, held + 1))

    def create_content(self, width: int, height: int) -> UIContent:
        self.height = height
        self.width = width
        buf = self.model.current
        scroll = self.scroll_rows(buf)
        need = height + scroll
        chunks: list[list[StyleAndTextTuples]] = []
        count = 0
        exhausted = True
        for line in reversed(buf.lines):
            if count >= need:
                exhausted = False
                break
            rows = render_line(line, width, self.model.settings.timestamp_format)
            chunks.append(rows)
            count += len(rows)
        if exhausted:
            scroll = max(0, min(scroll, count - height))  # drawn clamped; the model is left as it is
        all_rows = [row for rows in reversed(chunks) for row in rows]
        end = len(all_rows) - scroll
        visible = all_rows[max(0, end - height) : end]
        shown: list[StyleAndTextTuples] = [[] for _ in range(height - len(visible))] + visible
        return UIContent(get_line=lambda i: shown[i], line_count=len(shown), show_cursor=False)


class ChatUI:
    """The prompt_toolkit Application for one chat session."""

    def __init__(
        self,
        model: ChatModel,
        client: ClientControl,
        *,
        input: Input | None = None,
        output: Output | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.model = model
        self.client = client
        self.clock = clock
        self.show_nicklist = True
        self._last_ctrl_c = -1e9
        self.input_buffer = InputBuffer(name="input", multiline=False, accept_handler=self._accept)
        self.pane = MessagePane(model)
        self.application: Application[None] = Application(
            layout=Layout(self._container(), focused_element=self.input_buffer),
            key_bindings=self._key_bindings(),
            style=Style(STYLE_RULES),
            full_screen=True,
            mouse_support=False,
            input=input,
            output=output,
        )
        model.add_listener(self.invalidate)

    # -- layout ----------------------------------------------------------------------------------------------

    def _container(self) -> HSplit:
        nicklist_visible = Condition(lambda: self.show_nicklist and self.model.current.kind is BufferKind.CHANNEL)
        return HSplit(
            [
                Window(FormattedTextControl(self._topic_fragments), height=1, style="class:topic-bar"),
                VSplit(
                    [
                        Window(self.pane, wrap_lines=False),
                        ConditionalContainer(
                            VSplit(
                                [
                                    Window(width=1, char="│", style="class:separator"),
                                    Window(
                                        FormattedTextControl(self._nicklist_fragments),
                                        width=lambda: self.model.settings.nicklist_width,
                                        style="class:nicklist",
                                    ),
                                ]
                            ),
                            filter=nicklist_visible,
                        ),
                    ]
                ),
                Window(FormattedTextControl(self._status_fragments), height=1, style="class:status"),
                Window(
                    BufferControl(
                        self.input_buffer,
                        input_processors=[MaskSecret(), BeforeInput(self._prompt, style="class:prompt")],
                    ),
                    height=Dimension(min=1, max=4),
                    wrap_lines=True,
                    dont_extend_height=True,
                ),
            ]
        )

    def _prompt(self) -> str:
        buf = self.model.current
        return f"[{buf.name}] " if buf.kind is not BufferKind.SERVER else "[server] "

    def _topic_fragments(self) -> StyleAndTextTuples:
        buf = self.model.current
        if buf.kind is BufferKind.CHANNEL:
            text = f" {buf.name}: {buf.topic}" if buf.topic else f" {buf.name}"
        elif buf.kind is BufferKind.QUERY:
            text = f" Private conversation with {buf.name}"
        else:
            text = " trio-chat — server messages.  /help lists the commands."
        return [("", text)]

    def _nicklist_fragments(self) -> StyleAndTextTuples:
        buf = self.model.current
        out: StyleAndTextTuples = []
        for member in buf.sorted_members(self.model.prefix_order):
            prefix = member.prefixes[:1] or " "
            if member.away:
                style = "class:nicklist.away"
            elif prefix in "~&@%":
                style = "class:nicklist.op"
            elif prefix == "+":
                style = "class:nicklist.voice"
            else:
                style = "class:nicklist"
            out.append((style, nicklist_entry(member, self.model.settings.nicklist_width) + "\n"))
        return out

    def _status_fragments(self) -> StyleAndTextTuples:
        return status_fragments(self.model)

    # -- keys ------------------------------------------------------------------------------------------------

    def _key_bindings(self) -> KeyBindings:
        kb = KeyBindings()

        @kb.add("enter")
        def _enter(event: KeyPressEvent) -> None:
            self.input_buffer.validate_and_handle()

        @kb.add("c-d")
        def _ctrl_d(event: KeyPressEvent) -> None:
            self.client.quit(None)

        @kb.add("c-c")
        @kb.add(Keys.SIGINT)
        def _ctrl_c(event: KeyPressEvent) -> None:
            now = self.clock()
            if now - self._last_ctrl_c <= DOUBLE_CTRL_C_SECONDS:
                self.client.quit(None)
                return
            self._last_ctrl_c = now
            self.input_buffer.reset()
            self.model.info("Press Ctrl-C again to quit (or Ctrl-D, or /quit).", time=_now())

        for n in range(1, 10):

            @kb.add("escape", str(n))
            def _alt_n(event: KeyPressEvent, n: int = n) -> None:
                self.model.switch(n - 1)

        @kb.add("escape", "0")
        def _alt_0(event: KeyPressEvent) -> None:
            self.model.switch(9)

        @kb.add("c-n")
        @kb.add("escape", "right")
        def _next(event: KeyPressEvent) -> None:
            self.model.switch_next()

        @kb.add("c-p")
        @kb.add("escape", "left")
        def _previous(event: KeyPressEvent) -> None:
            self.model.switch_previous()

        @kb.add("pageup")
        def _page_up(event: KeyPressEvent) -> None:
            self.scroll(+1)

        @kb.add("pagedown")
        def _page_down(event: KeyPressEvent) -> None:
            self.scroll(-1)

        @kb.add("f2")
        def _toggle_nicks(event: KeyPressEvent) -> None:
            self.show_nicklist = not self.show_nicklist
            self.invalidate()

        @kb.add("up")
        def _up(event: KeyPressEvent) -> None:
            text = self.model.history.previous(self.input_buffer.text)
            if text is not None:
                self.input_buffer.document = Document(text, len(text))

        @kb.add("down")
        def _down(event: KeyPressEvent) -> None:
            text = self.model.history.next()
            if text is not None:
                self.input_buffer.document = Document(text, len(text))

        @kb.add("tab")
        def _tab(event: KeyPressEvent) -> None:
            self.complete()

        for key, code in FORMATTING_KEYS.items():

            @kb.add(key)
            def _format(event: KeyPressEvent, code: str = code) -> None:
                self.input_buffer.insert_text(code)

        return kb

    # -- actions ---------------------------------------------------------------------------------------------

    def _accept(self, buffer: InputBuffer) -> bool:
        text = buffer.text
        current = self.model.current
        target = None if current.kind is BufferKind.SERVER else current.name
        if is_secret(text, InputContext(self.model.nick, target)):
            self.model.history.skip()  # a password is never kept for Up to bring back
        else:
            self.model.history.add(text)
        self.client.submit(text)
        return False  # clear the line

    def complete(self) -> None:
        doc = self.input_buffer.document
        done = self.model.completer.complete(
            doc.text,
            doc.cursor_position,
            self.model.completion_nicks(),
            command_names(),
            self.model.channel_names(),
        )
        if done is not None:
            self.input_buffer.document = Document(done.text, done.cursor)

    def scroll(self, pages: int) -> None:
        """Page up (``pages`` > 0) or down.  Up to the oldest line of a channel asks the server for older history,
        which is inserted above without moving what is on screen; PageUp again shows it."""
        buf = self.model.current
        step = max(1, self.pane.height - 2)
        buf.scroll = max(0, self.pane.scroll_rows(buf) + pages * step)
        buf.held = 0
        if buf.scroll == 0:
            buf.follow()
        if pages > 0:
            top = self.pane.top_scroll(buf, buf.scroll)
            if top is not None:
                buf.scroll = top  # stop at the oldest line: what comes from the server goes above it
                if buf.kind is BufferKind.CHANNEL:
                    self.client.fetch_older(buf.name)
        self.invalidate()

    def invalidate(self) -> None:
        self.application.invalidate()

    def exit(self) -> None:
        app = self.application
        if app.is_running and not app.future.done():  # type: ignore[union-attr]
            app.exit()


def _now() -> datetime:
    return datetime.now().astimezone()


def status_fragments(model: ChatModel) -> StyleAndTextTuples:
    """The status line: ``[alice] 2:#lobby  connected  lag 0.02s  Act: 3:bob(1!) 4:#dev(2)  -- more --``."""
    buf = model.current
    me = account_label(model.nick, model.account)
    out: StyleAndTextTuples = [("class:status", f" [{me}{' (away)' if model.away else ''}] ")]
    out.append(("class:status", f"{model.current_index + 1}:{buf.name} "))
    state = model.state
    label = state.value + (f" {model.state_detail}" if state is ConnectionState.WAITING else "")
    bad = state in (ConnectionState.WAITING, ConnectionState.FAILED, ConnectionState.DISCONNECTED)
    out.append(("class:status.state-bad" if bad else "class:status", f" {label} "))
    if model.lag is not None:
        out.append(("class:status", f" lag {model.lag:.2f}s "))
    activity = model.activity()
    if activity:
        out.append(("class:status", " Act:"))
        for number, other in activity:
            mark = "!" if other.highlights else ""
            cls = "class:status.highlight" if other.highlights else "class:status.activity"
            out.append((cls, f" {number}:{other.name}({other.unread}{mark})"))
    if buf.history_loading:
        out.append(("class:status", "  loading older messages…"))
    if buf.new_below:
        lines = "line" if buf.new_below == 1 else "lines"
        out.append(("class:status.activity", f"  -- {buf.new_below} new {lines} below (PageDown) --"))
    elif buf.scrolled:
        out.append(("class:status.activity", "  -- more below (PageDown) --"))
    return out
