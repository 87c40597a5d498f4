"""Registering one connection, without I/O: capability negotiation, the SASL PLAIN login, and the refusals.

``CAP LS 302`` -> ``CAP REQ`` of what we want and the server offers -> ``ACK``/``NAK`` -> (with ``--sasl``)
``AUTHENTICATE PLAIN`` and the payload -> 903 -> ``CAP END``; meanwhile a nick in use is answered with another,
and a wrong password or a ban ends it.  The lifecycle (:mod:`trio_chat.client.core`) makes one
:class:`Negotiation` per connection, hands it these messages, and ends the connection when
:attr:`Negotiation.fatal` is set.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field

from trio_chat.protocol import Message, casefold
from trio_chat.protocol import numerics as rpl
from trio_chat.protocol.caps import (
    ACCOUNT_NOTIFY,
    ACCOUNT_TAG,
    AWAY_NOTIFY,
    BATCH,
    CAP_NOTIFY,
    CHATHISTORY,
    ECHO_MESSAGE,
    EXTENDED_JOIN,
    MESSAGE_TAGS,
    MULTI_PREFIX,
    SASL,
    SERVER_TIME,
)

from . import events as ev
from .config import ClientConfig
from .formatting import strip_formatting
from .model import LineKind
from .translate import LinkState, Translator

WANTED_CAPS = (
    SERVER_TIME,
    ECHO_MESSAGE,
    MESSAGE_TAGS,
    MULTI_PREFIX,
    AWAY_NOTIFY,
    EXTENDED_JOIN,
    CAP_NOTIFY,
    BATCH,
    CHATHISTORY,
    ACCOUNT_NOTIFY,
    ACCOUNT_TAG,
)
"""Capabilities requested when the server offers them; the client works the same with none of them.  ``sasl``
is requested too when logging in with ``--sasl``, and then the client does not work without it."""

SASL_CHUNK = 400
"""Base64 characters per ``AUTHENTICATE`` line; a payload that is an exact multiple ends with ``AUTHENTICATE +``."""


def sasl_plain_lines(account: str, password: str) -> list[str]:
    """The ``AUTHENTICATE`` arguments that carry a SASL PLAIN login: ``account\0account\0password`` in base64,
    in chunks of 400 characters, with ``+`` after a last chunk of exactly 400 (or for an empty payload)."""
    encoded = base64.b64encode(f"{account}\0{account}\0{password}".encode()).decode("ascii")
    chunks = [encoded[i : i + SASL_CHUNK] for i in range(0, len(encoded), SASL_CHUNK)]
    if not chunks or len(chunks[-1]) == SASL_CHUNK:
        chunks.append("+")
    return chunks


@dataclass
class Negotiation:
    """Where one connection is in CAP and SASL.  ``send`` queues a message for the server."""

    config: ClientConfig
    state: LinkState
    translator: Translator
    send: Callable[[Message], bool]
    offered: list[str] = field(default_factory=list)
    """What the server offered in ``CAP LS``."""
    values: dict[str, str] = field(default_factory=dict)
    """Values the server gave its capabilities in ``CAP LS 302`` (``sasl=PLAIN,EXTERNAL``)."""
    ended: bool = False
    sasl: str = ""
    """The SASL login: "" (none or not yet), "requested" (in CAP REQ), "authenticating" (AUTHENTICATE PLAIN sent),
    "sent" (the payload sent), "done" (903)."""
    fatal: str | None = None
    """Why the connection must end (the first reason given)."""
    nick_attempts: int = 0
    """Other nicks tried because the one asked for was in use."""

    @property
    def sasl_wanted(self) -> bool:
        return self.config.sasl_account is not None and self.config.sasl_password is not None

    def fail(self, why: str) -> None:
        if not self.fatal:
            self.fatal = why

    @property
    def logging_in(self) -> bool:
        return self.sasl in ("authenticating", "sent")

    def registered_too_early(self) -> bool:
        """001 came, but the SASL login asked for is not done: we must not stay unauthenticated."""
        if self.sasl_wanted and self.sasl != "done":
            self.fail(f"{self.config.address} registered us without the SASL login; disconnected")
            return True
        self.ended = True
        return False

    def no_cap_support(self) -> None:
        """421 for CAP: a server without capability negotiation; registration simply goes on without it."""
        self.ended = True
        if self.sasl_wanted:
            self.fail(
                f"{self.config.address} does not support capability negotiation, so --sasl cannot log in; "
                "not connecting without it"
            )

    def on_cap(self, msg: Message) -> None:
        if len(msg.params) < 2:
            return
        caps = self.state.caps
        sub = msg.params[1].upper()
        listed = msg.params[-1].split()
        names = [c.partition("=")[0] for c in listed]
        if sub == "LS":
            self.offered += names
            self.values.update(c.partition("=")[::2] for c in listed)
            if len(msg.params) > 3 and msg.params[2] == "*":
                return  # more LS lines follow
            self._request(self.offered, login=True)
        elif sub == "NEW":
            self._request(names)
        elif sub == "ACK":
            for name in names:
                if name.startswith("-"):
                    caps.discard(name[1:])
                else:
                    caps.add(name)
            if SASL in names and self.sasl == "requested" and not self.state.registered:
                self.sasl = "authenticating"
                self.send(Message("AUTHENTICATE", ("PLAIN",)))
                return  # CAP END once the login is done
            self.end()
        elif sub == "NAK":
            if SASL in names and self.sasl == "requested":
                self.fail(f"{self.config.address} refused the sasl capability: cannot log in")
                return
            self.end()
        elif sub == "DEL":
            caps.difference_update(names)

    def _request(self, offered: list[str], *, login: bool = False) -> None:
        wanted = [c for c in WANTED_CAPS if c in offered and c not in self.state.caps]
        if login and self.sasl_wanted and not self.state.registered:
            mechanisms = self.values.get(SASL, "")
            if SASL not in offered:
                self.fail(
                    f"{self.config.address} does not offer SASL, so --sasl cannot log in; not connecting without it"
                )
                return
            if mechanisms and "PLAIN" not in mechanisms.upper().split(","):
                self.fail(f"{self.config.address} does not offer SASL PLAIN (only {mechanisms}); cannot log in")
                return
            wanted.append(SASL)
            self.sasl = "requested"
        if wanted:
            self.send(Message("CAP", ("REQ", " ".join(wanted))))
        else:
            self.end()

    def end(self) -> None:
        if self.sasl in ("requested", "authenticating", "sent"):
            return  # registration waits for the SASL login
        if not self.ended and not self.state.registered:
            self.ended = True
            self.send(Message("CAP", ("END",)))

    # -- nicks and refusals ------------------------------------------------------------------------------------

    def on_nick_in_use(self, msg: Message) -> None:
        t = self.translator
        taken = msg.params[1] if len(msg.params) > 2 else "?"
        if self.state.registered:
            retry = self.state.nick_retry
            if retry is not None and casefold(taken) == casefold(retry):
                self.state.nick_retry = None  # still taken: try again later, without a word
                return
            t.event(t.model.current, None, ev.NickInUse(taken), kind=LineKind.ERROR)
            return
        self.nick_attempts += 1
        if self.nick_attempts > self.config.max_nick_attempts:
            self.fail(f"Every nick tried is in use (last: {taken}); try another nick")
            return
        base = t.wanted_nick
        alt = base + "_" * self.nick_attempts if self.nick_attempts <= 3 else f"{base}{self.nick_attempts}"
        t.event(t.model.server, None, ev.NickInUse(taken, alt), kind=LineKind.ERROR)
        self.send(Message("NICK", (alt,)))

    def on_bad_nick(self, msg: Message) -> None:
        bad = msg.params[1] if len(msg.params) > 2 else "?"
        text = f"The server refuses the nick {bad}: {msg.params[-1]}"
        if self.state.registered:
            self.translator.error(text)
        else:
            self.fail(text)

    def on_password_mismatch(self, msg: Message) -> None:
        if self.config.password:
            self.fail(f"Wrong password for {self.config.address} (the server said: {msg.params[-1]})")
        else:
            self.fail(f"{self.config.address} needs a password: use --password")

    def on_banned(self, msg: Message) -> None:
        self.fail(f"You are banned from {self.config.address}: {msg.params[-1]}")

    # -- SASL and the account ---------------------------------------------------------------------------------

    def on_authenticate(self, msg: Message) -> None:
        account, password = self.config.sasl_account, self.config.sasl_password
        if self.sasl != "authenticating" or account is None or password is None:
            return
        if msg.params[:1] != ("+",):
            self.fail(f"{self.config.address} answered SASL PLAIN strangely; not logging in")
            return
        self.sasl = "sent"
        for chunk in sasl_plain_lines(account, password):
            self.send(Message("AUTHENTICATE", (chunk,)))

    def on_sasl_success(self, msg: Message) -> None:
        t = self.translator
        if self.logging_in:
            self.sasl = "done"
            account = t.model.account or self.config.sasl_account
            if account is not None:
                t.account_news(ev.LoggedIn(account, by_sasl=True), time=t.time_of(msg))
            self.end()
        else:
            t.account_news(msg.params[-1] if msg.params else "SASL authentication successful")

    def on_sasl_failure(self, msg: Message) -> None:
        """904 (wrong password, no such account), 905 (too long), 906 (aborted), 902 (nick locked)."""
        said = strip_formatting(msg.params[-1]) if len(msg.params) > 1 else msg.command
        if self.sasl in ("requested", "authenticating", "sent") and not self.state.registered:
            account = self.config.sasl_account
            why = f"wrong password, or no account {account}" if msg.command == rpl.ERR_SASLFAIL else "refused"
            self.fail(f"Logging in as {account} failed: {why} (the server said: {said})")
            return
        self.translator.error(f"{said}", buf=self.translator.model.server)

    def on_sasl_already(self, msg: Message) -> None:
        if self.logging_in:
            self.sasl = "done"
            self.end()
        self.translator.info(msg.params[-1] if msg.params else "Already logged in", buf=self.translator.model.server)

    def on_logged_in(self, msg: Message) -> None:
        """``900 me nick!user@host account :You are now logged in as account``."""
        if len(msg.params) < 3:
            return
        t = self.translator
        account = msg.params[2]
        t.model.account = account
        t.model.set_account(t.model.nick, account)
        t.model.changed()
        if not self.logging_in:  # SASL says it with 903
            t.account_news(ev.LoggedIn(account), time=t.time_of(msg))

    def on_logged_out(self, msg: Message) -> None:
        t = self.translator
        t.model.account = None
        t.model.set_account(t.model.nick, None)
        t.model.changed()
        t.account_news(ev.LoggedOut(), time=t.time_of(msg))


NEGOTIATION_HANDLERS: dict[str, Callable[[Negotiation, Message], None]] = {
    "CAP": Negotiation.on_cap,
    "AUTHENTICATE": Negotiation.on_authenticate,
    rpl.ERR_NICKNAMEINUSE: Negotiation.on_nick_in_use,
    rpl.ERR_ERRONEUSNICKNAME: Negotiation.on_bad_nick,
    rpl.ERR_PASSWDMISMATCH: Negotiation.on_password_mismatch,
    rpl.ERR_YOUREBANNEDCREEP: Negotiation.on_banned,
    rpl.RPL_LOGGEDIN: Negotiation.on_logged_in,
    rpl.RPL_LOGGEDOUT: Negotiation.on_logged_out,
    rpl.RPL_SASLSUCCESS: Negotiation.on_sasl_success,
    rpl.ERR_SASLFAIL: Negotiation.on_sasl_failure,
    rpl.ERR_SASLTOOLONG: Negotiation.on_sasl_failure,
    rpl.ERR_SASLABORTED: Negotiation.on_sasl_failure,
    rpl.ERR_NICKLOCKED: Negotiation.on_sasl_failure,
    rpl.ERR_SASLALREADY: Negotiation.on_sasl_already,
}
"""The messages a :class:`Negotiation` takes, by command."""
