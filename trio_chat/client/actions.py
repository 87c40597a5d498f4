"""Carrying out what the person typed: the :mod:`~trio_chat.client.commands` actions, on the model and the link.

Synchronous, like the UI that calls it (through :meth:`ChatClient.submit <trio_chat.client.core.ChatClient.submit>`);
what goes to the server goes through the client's ``send``.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from trio_chat.protocol import Message, casefold
from trio_chat.protocol.caps import ACCOUNT_REGISTRATION, ECHO_MESSAGE

from . import commands as cmd
from . import events as ev
from .model import NICKLIST_WIDTHS, BufferKind, Line, LineKind, ignore_mask

if TYPE_CHECKING:
    from .core import ChatClient


class InputActions:
    """The actions of typed lines, for one :class:`~trio_chat.client.core.ChatClient`."""

    def __init__(self, client: ChatClient) -> None:
        self.client = client
        self.model = client.model
        self.translator = client.translator
        self._ctcp_ping_seq = itertools.count(1)

    def perform(self, action: cmd.Action) -> None:
        model, t = self.model, self.translator
        if isinstance(action, cmd.ShowError):
            t.error(action.text)
        elif isinstance(action, cmd.ShowHelp):
            for text in action.lines:
                t.info(text)
        elif isinstance(action, cmd.Quit):
            self.client.quit(action.reason)
        elif isinstance(action, cmd.OpenQuery):
            model.open(action.nick, switch=True)
        elif isinstance(action, cmd.SwitchBuffer):
            ok = model.switch(action.number - 1) if action.number is not None else self._switch_named(action.name)
            if not ok:
                t.error(f"No buffer {action.number if action.number is not None else action.name}")
        elif isinstance(action, cmd.CloseBuffer):
            self._close(action.name)
        elif isinstance(action, cmd.Ignore):
            self._ignore(action)
        elif isinstance(action, cmd.ClearBuffer):
            model.clear(model.current)
        elif isinstance(action, cmd.SetOption):
            self._set_option(action)
        elif not self.client.connected:
            t.error("Not connected; nothing was sent")
        elif isinstance(action, cmd.Send):
            self._send(action.message)
        elif isinstance(action, cmd.Say):
            self._say(action)
        elif isinstance(action, cmd.Register):
            self._register(action)
        elif isinstance(action, cmd.Identify):
            self._identify(action)
        elif isinstance(action, cmd.Ctcp):
            self._send_ctcp(action)

    def _send(self, message: Message) -> None:
        t = self.translator
        if message.command == "JOIN":
            names = message.params[0].split(",")
            keys = message.params[1].split(",") if len(message.params) > 1 else []
            for name, key in itertools.zip_longest(names, keys[: len(names)], fillvalue=""):
                t.quiet_joins.discard(casefold(name))
                if key:
                    t.keys[casefold(name)] = key
        if message.command == "NAMES" and t.link is not None:
            t.link.names.setdefault(casefold(message.params[0]), [])
        self.client.send(message)

    def _ignore(self, action: cmd.Ignore) -> None:
        t = self.translator
        ignores = self.model.ignores
        if action.mask is None:
            t.info("Ignoring: " + ", ".join(ignores) if ignores else "Ignoring no one (/ignore nick to start)")
            return
        mask = ignore_mask(action.mask)
        if action.undo:
            if mask not in ignores:
                t.error(f"{mask} is not ignored (/ignore lists who is)")
                return
            ignores.remove(mask)
            t.info(f"No longer ignoring {mask}")
        elif mask not in ignores:
            ignores.append(mask)
            t.info(f"Ignoring {mask}: what they say is not shown (/unignore {action.mask} to undo)")

    def _set_option(self, action: cmd.SetOption) -> None:
        t = self.translator
        settings = self.model.settings
        shown = {
            "timestamp_format": settings.timestamp_format,
            "nicklist_width": str(settings.nicklist_width),
            "highlight_words": ",".join(settings.highlight_words),
        }
        name, value = action.name, action.value
        if name is None or (name in shown and value is None):
            for key, current in shown.items():
                if name in (None, key):
                    t.info(f"{key} = {current}")
            return
        if name == "timestamp_format" and value is not None:
            if "\n" in value or len(t.now().strftime(value)) > 40:
                t.error("timestamp_format: a strftime format for one short time, such as %H:%M:%S")
                return
            settings.timestamp_format = value
        elif name == "nicklist_width" and value is not None:
            if not value.isdigit() or int(value) not in NICKLIST_WIDTHS:
                t.error(f"nicklist_width: a number from {NICKLIST_WIDTHS[0]} to {NICKLIST_WIDTHS[-1]}")
                return
            settings.nicklist_width = int(value)
        elif name == "highlight_words" and value is not None:
            settings.highlight_words = tuple(w for w in value.replace(",", " ").split() if w and w != "-")
        else:
            t.error(f"No setting {name}; /set lists them")
            return
        t.info(f"{name} = {value}")

    def _send_ctcp(self, action: cmd.Ctcp) -> None:
        """A CTCP request; a PING carries a token of ours, and its reply is timed on the translator's clock."""
        t = self.translator
        arg = action.arg
        if action.kind == "PING" and not arg:
            arg = f"{next(self._ctcp_ping_seq)}"
        body = f"{action.kind} {arg}" if arg else action.kind
        if not self.client.send(Message("PRIVMSG", (action.target, f"\x01{body}\x01"))):
            return
        if action.kind == "PING":
            t.ctcp_pings[(casefold(action.target), arg)] = t.clock()
        t.event(self.model.current, None, ev.CtcpSent(action.kind, action.target))

    def _register(self, action: cmd.Register) -> None:
        """``/register``: with ``REGISTER`` where the server offers draft/account-registration, else through
        NickServ.  Neither the password nor the message carrying it is shown anywhere."""
        if self.model.account is not None:
            t = self.translator
            t.event(self.model.current, None, ev.AlreadyLoggedIn(self.model.account), kind=LineKind.ERROR)
            return
        if ACCOUNT_REGISTRATION in self.client.offered_caps:
            sent = self.client.send(Message("REGISTER", ("*", action.email or "*", action.password)))
        else:
            text = f"REGISTER {action.password}" + (f" {action.email}" if action.email else "")
            sent = self._send_to_nickserv(text)
        if sent:
            self.translator.account_news(ev.Registering(self.model.nick))

    def _identify(self, action: cmd.Identify) -> None:
        """``/identify``: ``PRIVMSG NickServ :IDENTIFY [account] password``, its echo not shown."""
        words = ("IDENTIFY", action.account, action.password) if action.account else ("IDENTIFY", action.password)
        if self._send_to_nickserv(" ".join(words)):
            self.translator.account_news(ev.Identifying(action.account or self.model.nick))

    def _send_to_nickserv(self, text: str) -> bool:
        if not self.client.send(Message("PRIVMSG", (cmd.NICKSERV, text))):
            return False
        link = self.translator.link
        if link is not None and ECHO_MESSAGE in link.caps:
            link.hidden_echoes += 1
        return True

    def _switch_named(self, name: str | None) -> bool:
        buf = self.model.find(name or "")
        return buf is not None and self.model.switch(self.model.index_of(buf))

    def _close(self, name: str | None) -> None:
        buf = self.model.find(name) if name else self.model.current
        if buf is None or buf.kind is BufferKind.SERVER:
            self.translator.error("The server buffer stays open; /quit to leave")
            return
        if buf.kind is BufferKind.CHANNEL and buf.joined and self.client.connected:
            self.client.send(Message("PART", (buf.name,)))
        self.model.close(buf.name)

    def _say(self, action: cmd.Say) -> None:
        for message in action.messages():
            if not self.client.send(message):
                return
        if ECHO_MESSAGE in self.client.caps:
            return  # the server echoes each line back: it is shown then, once, in the server's order
        buf = self.model.open(action.target)
        kind = {"privmsg": LineKind.MESSAGE, "action": LineKind.ACTION, "notice": LineKind.NOTICE}[action.kind]
        for chunk in action.chunks:
            shown = shown_to(action.target, chunk)
            self.model.add(buf, Line(self.translator.now(), kind, shown, nick=self.model.nick, own=True))


def shown_to(target: str, text: str) -> str:
    """What we said to ``target`` as it is shown: a password to NickServ becomes ``********``."""
    if casefold(target) == casefold(cmd.NICKSERV):
        return cmd.mask_service_text(text) or text
    return text
