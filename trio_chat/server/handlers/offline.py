"""Messages while you were away: what logged-in users sent to an account whose nick was offline, delivered when
the account logs in.

``PRIVMSG alice`` from a logged-in user, while nobody uses the nick ``alice`` and ``alice`` is a registered
account, is stored in the two accounts' private conversation (``Network.remember_offline``) instead of being
answered with 401, and the time of the first such message is noted per account and conversation
(``Network.offline``, kept in the store as a pseudo read marker).  When a session logs in to the account
(SASL, IDENTIFY, REGISTER: ``Network.login``), or completes registration after logging in with SASL, it gets
those messages after the command's replies (after the welcome burst):

* clients with ``batch``, ``server-time`` and ``message-tags``: one ``chathistory`` batch per conversation with
  the messages as they were sent (as CHATHISTORY gives them);
* other clients: NOTICEs from NickServ, ``While you were away, bob wrote: [2026-12-01 09:15:02 UTC] text``.

What is delivered: the conversation's messages from the first one kept while offline up to the login, except
those older than (or as old as) the account's read marker for the other party (``MARKREAD bob``).  At most
``history_replay`` (the newest) per conversation; a NOTICE tells how many more there are and the CHATHISTORY
command that fetches them.  Once taken for delivery the note is cleared (``Network.take_offline``), so the same
messages are never delivered twice, to this session or to a later one; if the store cannot answer, or the
session is gone before the answer, the note is put back for the next login.
"""

from __future__ import annotations

from ...protocol import caps
from ...protocol.message import Message
from ..context import Context
from ..history import StoredMessage, StoreError, TimeRef, conversation_key
from ..state import NICKSERV_SOURCE, Network, User
from .history import action_text, batch_lines, readable_time


def on_login(network: Network, user: User) -> None:
    """``user`` (registered) is now logged in: deliver what was kept for the account while it was offline."""
    history = network.history
    if user.account is None or history is None:
        return
    account = network.find_account(user.account)
    if account is None or account.folded not in network.offline:
        return
    folded = account.folded
    pending = network.take_offline(folded)
    until_ms = int(network.clock() * 1000)

    async def answer() -> list[bytes]:
        lines: list[bytes] = []
        failed: dict[str, int] = {}
        for other, since_ms in sorted(pending.items(), key=lambda item: item[1]):
            marker = network.read_marker(folded, other)
            low = since_ms - 1 if marker is None else max(since_ms - 1, marker)
            try:
                # The newest messages strictly between the read marker (or just before the first kept one)
                # and the login; a message that arrives while this runs is for the next login.
                found = await history.between(
                    conversation_key(folded, other),
                    TimeRef(until_ms + 1),
                    TimeRef(low),
                    network.config.chathistory_limit,
                )
            except StoreError:
                failed[other] = since_ms
                continue
            if found:
                lines += _conversation_lines(network, user, other, found)
        if user.gone:
            network.give_back_offline(folded, pending)
            return []
        if failed:
            network.give_back_offline(folded, failed)
            lines.append(
                _notice(
                    network,
                    user,
                    "Your messages from while you were away cannot be retrieved now; "
                    "they will be shown at your next login",
                )
            )
        return lines

    Context(network, user).defer(answer)


def _conversation_lines(network: Network, user: User, other: str, found: list[StoredMessage]) -> list[bytes]:
    """The messages of one conversation for ``user``, at most ``history_replay`` of them, and how to get the rest."""
    record = network.accounts.get(other)
    name = record.name if record is not None else other
    replay = max(network.config.history_replay, 0)
    shown = found[len(found) - replay :] if replay else []
    hidden = len(found) - len(shown)
    lines: list[bytes] = []
    if shown:
        if user.has(caps.BATCH) and user.has(caps.SERVER_TIME) and user.has(caps.MESSAGE_TAGS):
            lines += batch_lines(network, user, name, shown)
        else:
            lines += [_notice(network, user, _away_text(m)) for m in shown]
    if hidden:
        at_least = "at least " if len(found) >= network.config.chathistory_limit else ""
        plural = hidden != 1 or at_least
        count = f"{at_least}{hidden}{' earlier' if shown else ''} message{'s' if plural else ''}"
        if shown:
            fetch = f"CHATHISTORY BEFORE {name} msgid={shown[0].msgid} {hidden}"
        else:
            fetch = f"CHATHISTORY LATEST {name} * {hidden}"
        verb, them = ("are", "them") if plural else ("is", "it")
        text = f"{count} of your conversation with {name} {verb} not shown; to read {them}: /quote {fetch}"
        lines.append(_notice(network, user, text))
    return lines


def _away_text(stored: StoredMessage) -> str:
    """``While you were away, bob wrote: [2026-12-01 09:15:02 UTC] text`` (an ACTION as ``* bob text``)."""
    nick = stored.source.split("!", 1)[0]
    action = action_text(stored)
    text = stored.text if action is None else f"* {nick} {action}"
    return f"While you were away, {nick} wrote: [{readable_time(stored)}] {text}"


def _notice(network: Network, user: User, text: str) -> bytes:
    return Message("NOTICE", (user.nick, text), NICKSERV_SOURCE).to_bytes()
