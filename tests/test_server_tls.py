"""TLS: a listener beside the plaintext one, TLS only, and certificate reload on SIGHUP."""

from __future__ import annotations

import logging
import os
import signal
import ssl
from pathlib import Path

import pytest
import trio
import trustme

from tests.ircclient import IRCClient
from trio_chat.server.app import Server, listener_port, serve
from trio_chat.server.config import ConfigError, ServerConfig


def _write_cert(ca: trustme.CA, directory: Path, name: str) -> tuple[str, str]:
    cert = ca.issue_cert("localhost", "127.0.0.1")
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    return str(cert_path), str(key_path)


def _client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def _ports(server: Server) -> dict[str, int]:
    return dict(listener_port(listener) for listener in server.listeners)


async def _tls_client(port: int, context: ssl.SSLContext, nick: str) -> IRCClient:
    stream = await trio.open_ssl_over_tcp_stream("127.0.0.1", port, ssl_context=context, https_compatible=False)
    client = IRCClient(stream, nick)
    await client.register(nick)
    return client


async def test_tls_beside_plaintext(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert, key = _write_cert(ca, tmp_path, "server")
    config = ServerConfig(db=":memory:", port=0, tls_port=0, tls_cert=cert, tls_key=key, flood_rate=0.0)
    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(serve, config)
        ports = _ports(server)
        assert set(ports) == {"plain", "tls"}
        secure = await _tls_client(ports["tls"], _client_context(ca), "secure")
        plain = await IRCClient.connect_tcp("127.0.0.1", ports["plain"], "plain")
        await plain.register("plain")
        await secure.send("JOIN #both")
        await secure.expect(" 366 ")
        await plain.send("JOIN #both", "WHOIS secure")
        await plain.expect(" 671 plain secure :is using a secure connection")
        await plain.send("PRIVMSG #both :from plaintext")
        assert (await secure.expect("PRIVMSG")).params[1] == "from plaintext"
        server.shutdown()
        for client in (secure, plain):
            assert (await client.expect_closed())[-1].to_line() == "ERROR :Server shutting down"
            await client.stream.aclose()


async def test_tls_only_and_a_failed_handshake_harms_no_one(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="trio_chat")
    ca = trustme.CA()
    cert, key = _write_cert(ca, tmp_path, "server")
    config = ServerConfig(db=":memory:", port=0, plaintext=False, tls_port=0, tls_cert=cert, tls_key=key)
    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(serve, config)
        assert list(_ports(server)) == ["tls"]
        good = await _tls_client(_ports(server)["tls"], _client_context(ca), "good")
        # A plaintext IRC client on the TLS port: its handshake fails, and only it is dropped.
        confused = await trio.open_tcp_stream("127.0.0.1", _ports(server)["tls"])
        await confused.send_all(b"NICK confused\r\nUSER c 0 * :C\r\n")
        with trio.fail_after(5):
            while await confused.receive_some(4096):
                pass
        await confused.aclose()
        await good.sync()
        server.shutdown()
        await good.expect_closed()
        await good.stream.aclose()
    # Every session has ended: the confused client's is logged as what it is, not as a read error.
    said = [r.getMessage() for r in caplog.records]
    assert any("disconnected (*): TLS handshake failed: " in m for m in said), said
    assert not any("Read error" in m for m in said)


async def test_sighup_reloads_the_certificate_without_dropping_anyone(tmp_path: Path) -> None:
    old_ca, new_ca = trustme.CA(), trustme.CA()
    cert, key = _write_cert(old_ca, tmp_path, "server")
    config = ServerConfig(db=":memory:", port=0, plaintext=False, tls_port=0, tls_cert=cert, tls_key=key)
    async with trio.open_nursery() as nursery:
        server: Server = await nursery.start(serve, config)
        port = _ports(server)["tls"]
        early = await _tls_client(port, _client_context(old_ca), "early")
        # Replace the files in place, as certbot does, and send SIGHUP.
        new_cert, new_key = _write_cert(new_ca, tmp_path, "renewed")
        os.replace(new_cert, cert)
        os.replace(new_key, key)
        os.kill(os.getpid(), signal.SIGHUP)
        with trio.fail_after(5):
            while True:  # the reload happens in the server's signal task; retry until it has
                try:
                    late = await _tls_client(port, _client_context(new_ca), "late")
                    break
                except trio.BrokenResourceError:
                    await trio.sleep(0.01)
        await early.sync()
        await late.sync()
        server.shutdown()
        for client in (early, late):
            await client.expect_closed()
            await client.stream.aclose()


def test_missing_certificate_is_a_config_error(tmp_path: Path) -> None:
    config = ServerConfig(
        db=":memory:", port=0, tls_port=0, tls_cert=str(tmp_path / "nope.pem"), tls_key=str(tmp_path / "k")
    )
    with pytest.raises(ConfigError, match="cannot load TLS certificate"):
        trio.run(serve, config)
