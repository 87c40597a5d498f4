"""IRCv3 metadata (draft/metadata-3): METADATA GET/LIST/SET/CLEAR/SUB/UNSUB/SUBS/SYNC, notifications to
subscribers, the sync on JOIN, before-connect, WHOIS 760, and each FAIL."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import InProcessNetwork, drain, join, running_server, settle
from tests.ircclient import IRCClient
from trio_chat.protocol import Message
from trio_chat.server.config import ConfigError, ServerConfig

CAPS = "draft/metadata-3 batch"


def replies(messages: list[Message]) -> list[tuple[str, tuple[str, ...]]]:
    """Commands and parameters, BATCH lines left out (their ids vary)."""
    return [(m.command, m.params) for m in messages if m.command != "BATCH"]


async def two_in_chan(net: InProcessNetwork) -> tuple[IRCClient, IRCClient]:
    foo = await net.client("foo", caps=CAPS)
    bar = await net.client("bar", caps=CAPS)
    await join(foo, "foo", "#chan")
    await join(bar, "bar", "#chan")
    await settle(foo, bar)
    return foo, bar


async def test_cap_ls_advertises_the_limits() -> None:
    async with running_server(metadata_max_keys=7, metadata_max_subs=9, metadata_max_value_bytes=100) as net:
        foo = await net.connect("foo")
        await foo.send("CAP LS 302")
        tokens = (await foo.expect(r" CAP \* LS ")).params[-1].split()
        assert "draft/metadata-3=before-connect,max-subs=9,max-keys=7,max-value-bytes=100" in tokens


async def test_get_of_unset_keys_is_one_keynotset_each_in_a_batch() -> None:
    async with running_server() as net:
        foo = await net.client("foo", caps=CAPS)
        await foo.send("METADATA * GET display-name avatar")
        lines = await drain(foo)
        assert lines[0].command == "BATCH" and lines[0].params[1:] == ("metadata", "foo")
        batch = lines[0].params[0][1:]
        assert all(m.tags.get("batch") == batch for m in lines[1:-1])
        assert replies(lines) == [
            ("766", ("foo", "foo", "display-name", "Key is not set")),
            ("766", ("foo", "foo", "avatar", "Key is not set")),
        ]


async def test_set_get_list_and_unset_own_metadata() -> None:
    async with running_server() as net:
        foo = await net.client("foo", caps=CAPS)
        await foo.send("METADATA * SET display-name :Foo \U0001f49c", "METADATA foo GET display-name")
        await foo.send("METADATA * LIST", "METADATA * SET display-name", "METADATA * LIST")
        assert replies(await drain(foo)) == [
            ("761", ("foo", "foo", "display-name", "*", "Foo \U0001f49c")),
            ("761", ("foo", "foo", "display-name", "*", "Foo \U0001f49c")),
            ("761", ("foo", "foo", "display-name", "*", "Foo \U0001f49c")),
            ("766", ("foo", "foo", "display-name", "Key deleted")),
        ]


async def test_others_read_a_users_metadata_and_unsubscribed_hear_nothing() -> None:
    async with running_server() as net:
        foo, bar = await two_in_chan(net)
        await foo.send("METADATA * SET display-name :Foo")
        await foo.expect(r" 761 ")
        assert await drain(bar) == []
        await bar.send("METADATA foo GET display-name")
        assert replies(await drain(bar)) == [("761", ("bar", "foo", "display-name", "*", "Foo"))]


async def test_subscribers_sharing_a_channel_hear_changes() -> None:
    async with running_server() as net:
        foo, bar = await two_in_chan(net)
        far = await net.client("far", caps=CAPS)
        for client in (bar, far):
            await client.send("METADATA * SUB display-name avatar")
        assert replies(await drain(bar)) == [
            ("770", ("bar", "display-name", "avatar")),
            ("774", ("bar", "*ALL", "0")),
        ]
        await drain(far)
        await foo.send("METADATA * SET display-name :Foo", "METADATA * SET color red", "METADATA * SET display-name")
        await settle(foo)
        assert replies(await drain(bar)) == [
            ("761", ("*", "foo", "display-name", "*", "Foo")),
            ("766", ("*", "foo", "display-name", "Key deleted")),
        ]
        assert await drain(far) == [], "not to those sharing no channel"


async def test_unsub_and_subs() -> None:
    async with running_server() as net:
        foo = await net.client("foo", caps=CAPS)
        await foo.send("METADATA * SUB a b c", "METADATA * UNSUB b", "METADATA * SUBS")
        assert replies(await drain(foo)) == [
            ("770", ("foo", "a", "b", "c")),
            ("774", ("foo", "*ALL", "0")),
            ("771", ("foo", "b")),
            ("772", ("foo", "a", "c")),
        ]


async def test_join_sends_the_subscribed_metadata_of_channel_and_members() -> None:
    async with running_server() as net:
        foo = await net.client("foo", caps=CAPS)
        bar = await net.client("bar", caps=CAPS)
        await bar.send("METADATA * SUB display-name")
        await join(foo, "foo", "#chan")
        await foo.send("METADATA * SET display-name :Foo", "METADATA #chan SET display-name :Chan")
        await foo.send("METADATA * SET avatar :x")
        await settle(foo, bar)
        await bar.send("JOIN #chan")
        lines = await drain(bar)
        batch = [m for m in lines if m.command == "BATCH"]
        assert batch[0].params[1:] == ("metadata", "#chan")
        assert [(m.command, m.params) for m in lines if m.command == "761"] == [
            ("761", ("*", "#chan", "display-name", "*", "Chan")),
            ("761", ("*", "foo", "display-name", "*", "Foo")),
        ]


async def test_sync_of_a_channel_and_of_all() -> None:
    async with running_server() as net:
        foo, bar = await two_in_chan(net)
        await foo.send("METADATA * SET display-name :Foo", "METADATA #chan SET display-name :Chan")
        await settle(foo)
        await bar.send("METADATA * SUB display-name")
        await drain(bar)
        await bar.send("METADATA #chan SYNC", "METADATA *ALL SYNC")
        values = [m.params for m in await drain(bar) if m.command == "761"]
        assert values == [
            ("*", "#chan", "display-name", "*", "Chan"),
            ("*", "foo", "display-name", "*", "Foo"),
            ("*", "#chan", "display-name", "*", "Chan"),
            ("*", "foo", "display-name", "*", "Foo"),
        ]


async def test_channel_metadata_by_operators_and_clear() -> None:
    async with running_server() as net:
        foo, bar = await two_in_chan(net)
        await bar.send("METADATA * SUB avatar")
        await drain(bar)
        await foo.send("METADATA #chan SET display-name :Chan", "METADATA #chan SET avatar :a.png")
        await settle(foo)
        assert replies(await drain(bar)) == [("761", ("*", "#chan", "avatar", "*", "a.png"))]
        await bar.send("METADATA #chan LIST")
        assert replies(await drain(bar)) == [
            ("761", ("bar", "#chan", "display-name", "*", "Chan")),
            ("761", ("bar", "#chan", "avatar", "*", "a.png")),
        ]
        await foo.send("METADATA #chan CLEAR")
        assert replies(await drain(foo)) == [
            ("766", ("foo", "#chan", "display-name", "Key deleted")),
            ("766", ("foo", "#chan", "avatar", "Key deleted")),
        ]
        assert replies(await drain(bar)) == [("766", ("*", "#chan", "avatar", "Key deleted"))]


async def test_whois_shows_metadata_to_clients_with_the_cap() -> None:
    async with running_server() as net:
        foo = await net.client("foo", caps=CAPS)
        bar = await net.client("bar", caps=CAPS)
        baz = await net.client("baz")
        await foo.send("METADATA * SET display-name :Foo")
        await settle(foo)
        await bar.send("WHOIS foo")
        assert [m.params for m in await drain(bar) if m.command == "760"] == [
            ("bar", "foo", "display-name", "*", "Foo")
        ]
        await baz.send("WHOIS foo")
        assert [m for m in await drain(baz) if m.command == "760"] == []


async def test_set_before_connect_is_shown_after_the_welcome() -> None:
    async with running_server() as net:
        foo = await net.connect("foo")
        await foo.send("CAP LS 302", f"CAP REQ :{CAPS}", "METADATA * SET display-name :Early")
        await foo.expect(r" 761 \* \* display-name \* :?Early")
        await foo.send("NICK foo", "USER foo 0 * :Foo", "CAP END")
        lines = await foo.collect_until(r" 761 ")
        assert lines[-1].params == ("foo", "foo", "display-name", "*", "Early")
        assert lines[-2].command == "BATCH" and lines[-2].params[1:] == ("metadata", "foo")


async def test_before_connect_only_own_metadata() -> None:
    async with running_server() as net:
        foo = await net.connect("foo")
        await foo.send("METADATA bar SET a b")
        msg = await foo.expect(r" FAIL ")
        assert msg.params[:4] == ("METADATA", "KEY_NO_PERMISSION", "bar", "*")


async def test_fail_invalid_target() -> None:
    async with running_server() as net:
        foo = await net.client("foo", caps=CAPS)
        await foo.send("METADATA nobody LIST", "METADATA #nowhere GET a")
        assert [m.params[:3] for m in await drain(foo)] == [
            ("METADATA", "INVALID_TARGET", "nobody"),
            ("METADATA", "INVALID_TARGET", "#nowhere"),
        ]


async def test_fail_invalid_key() -> None:
    async with running_server() as net:
        foo = await net.client("foo", caps=CAPS)
        await foo.send("METADATA * SET Bad!Key x", "METADATA * SUB :a b", "METADATA * GET ok Nope")
        assert [(m.command, m.params[:3]) for m in await drain(foo) if m.command != "BATCH"] == [
            ("FAIL", ("METADATA", "INVALID_KEY", "Bad!Key")),
            ("FAIL", ("METADATA", "INVALID_KEY", "*")),
            ("766", ("foo", "foo", "ok")),
            ("FAIL", ("METADATA", "INVALID_KEY", "Nope")),
        ]


async def test_fail_key_no_permission_on_another_user() -> None:
    async with running_server() as net:
        foo, bar = await two_in_chan(net)
        await foo.send("METADATA bar SET display-name :Not Foo", "METADATA bar CLEAR")
        assert [m.params[:4] for m in await drain(foo)] == [
            ("METADATA", "KEY_NO_PERMISSION", "bar", "display-name"),
            ("METADATA", "KEY_NO_PERMISSION", "bar", "*"),
        ]
        assert await drain(bar) == []


async def test_fail_key_no_permission_on_a_channel_for_non_operators() -> None:
    async with running_server() as net:
        foo, bar = await two_in_chan(net)
        await bar.send("METADATA #chan SET display-name :Mine")
        assert [m.params[:4] for m in await drain(bar)] == [("METADATA", "KEY_NO_PERMISSION", "#chan", "display-name")]
        assert await drain(foo) == []


async def test_fail_key_no_permission_to_read_a_channel_one_is_not_in() -> None:
    async with running_server() as net:
        foo = await net.client("foo", caps=CAPS)
        bar = await net.client("bar", caps=CAPS)
        await join(foo, "foo", "#chan")
        await foo.send("METADATA #chan SET display-name :Secret", "MODE #chan +i")
        await settle(foo)
        await bar.send("METADATA #chan GET display-name", "METADATA #chan LIST", "METADATA #chan SYNC")
        assert [m.params[:4] for m in await drain(bar)] == [("METADATA", "KEY_NO_PERMISSION", "#chan", "*")] * 3


async def test_fail_invalid_value_when_too_long() -> None:
    async with running_server(metadata_max_value_bytes=8) as net:
        foo, bar = await two_in_chan(net)
        await bar.send("METADATA * SUB display-name")
        await drain(bar)
        await foo.send(
            "METADATA * SET display-name :12345678", "METADATA * SET display-name :\U0001f49c\U0001f49c\U0001f49c"
        )
        assert [(m.command, m.params[:3]) for m in await drain(foo)] == [
            ("761", ("foo", "foo", "display-name")),
            ("FAIL", ("METADATA", "INVALID_VALUE", "display-name")),
        ]
        assert len(await drain(bar)) == 1, "only the accepted value is relayed"


async def test_fail_invalid_utf8() -> None:
    async with running_server() as net:
        foo = await net.client("foo", caps=CAPS)
        await foo.send_raw(b"METADATA * SET display-name :bad \xc3<-\r\n")
        assert replies(await drain(foo)) == [
            ("FAIL", ("METADATA", "INVALID_UTF8", "Message rejected: it is not valid UTF-8"))
        ]


async def test_fail_limit_reached() -> None:
    async with running_server(metadata_max_keys=2) as net:
        foo = await net.client("foo", caps=CAPS)
        await foo.send("METADATA * SET a 1", "METADATA * SET b 2", "METADATA * SET c 3", "METADATA * SET a 4")
        assert [(m.command, m.params[:4]) for m in await drain(foo)] == [
            ("761", ("foo", "foo", "a", "*")),
            ("761", ("foo", "foo", "b", "*")),
            ("FAIL", ("METADATA", "LIMIT_REACHED", "foo", "2")),
            ("761", ("foo", "foo", "a", "*")),
        ]


async def test_fail_too_many_subs() -> None:
    async with running_server(metadata_max_subs=2) as net:
        foo = await net.client("foo", caps=CAPS)
        await foo.send("METADATA * SUB a b c")
        assert replies(await drain(foo))[:2] == [
            ("FAIL", ("METADATA", "TOO_MANY_SUBS", "c", "2", "Too many subscriptions")),
            ("770", ("foo", "a", "b")),
        ]


async def test_fail_invalid_params_for_an_unknown_subcommand_and_461() -> None:
    async with running_server() as net:
        foo = await net.client("foo", caps=CAPS)
        await foo.send("METADATA * FROB", "METADATA * GET", "METADATA *")
        assert [(m.command, m.params[:3]) for m in await drain(foo)] == [
            ("FAIL", ("METADATA", "INVALID_PARAMS", "FROB")),
            ("461", ("foo", "METADATA", "Not enough parameters")),
            ("461", ("foo", "METADATA", "Not enough parameters")),
        ]


@pytest.mark.parametrize(
    "field,value",
    [("metadata_max_keys", 0), ("metadata_max_value_bytes", 301), ("metadata_max_subs", 0)],
)
def test_config_limits_are_checked(field: str, value: int) -> None:
    with pytest.raises(ConfigError, match=field):
        changes: dict[str, Any] = {field: value}
        replace(ServerConfig(), **changes)


async def test_channel_metadata_survives_a_restart_with_the_channel(tmp_path: Path) -> None:
    """A channel that keeps its topic and modes across a restart (it has history) keeps its metadata, in the
    order it was set, with what was deleted still deleted; a channel that keeps nothing keeps no metadata."""
    db = str(tmp_path / "chat.db")
    async with running_server(db=db) as net:
        foo, _bar = await two_in_chan(net)
        await foo.send("PRIVMSG #chan :hello", "TOPIC #chan :the topic")
        await foo.send(
            "METADATA #chan SET url :https://example.org/ \U0001f49c",
            "METADATA #chan SET avatar :old.png",
            "METADATA #chan SET gone :soon",
            "METADATA #chan SET avatar :new.png",
            "METADATA #chan SET gone",
        )
        await join(foo, "foo", "#fleeting")
        await foo.send("TOPIC #fleeting :nobody said anything", "METADATA #fleeting SET url :lost")
        await settle(foo)
    async with running_server(db=db) as net:
        baz = await net.client("baz", caps=CAPS)
        await join(baz, "baz", "#chan")
        await baz.send("METADATA #chan LIST", "METADATA #fleeting LIST")
        assert [r for r in replies(await drain(baz)) if r[0] != "NOTICE"] == [
            ("761", ("baz", "#chan", "url", "*", "https://example.org/ \U0001f49c")),
            ("761", ("baz", "#chan", "avatar", "*", "new.png")),
            ("FAIL", ("METADATA", "INVALID_TARGET", "#fleeting", "Invalid metadata target")),
        ]
        assert net.server.network.find_channel("#chan") is not None


async def test_cleared_channel_metadata_stays_cleared_after_a_restart(tmp_path: Path) -> None:
    db = str(tmp_path / "chat.db")
    async with running_server(db=db) as net:
        foo, _bar = await two_in_chan(net)
        await foo.send("METADATA #chan SET url :https://example.org/", "PRIVMSG #chan :hello")
        await settle(foo)
        await foo.send("METADATA #chan CLEAR")
        await settle(foo)
    async with running_server(db=db) as net:
        baz = await net.client("baz", caps=CAPS)
        await join(baz, "baz", "#chan")
        await baz.send("METADATA #chan LIST")
        assert [r for r in replies(await drain(baz)) if r[0] != "NOTICE"] == [], "an empty LIST"
