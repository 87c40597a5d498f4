"""This node's link to the network in Redis: the log, the message streams, heartbeats and snapshots.

Keys (under ``trio-chat:``):

* ``log``: the Stream every node applies in order (see ``replica.py``); trimmed behind the latest snapshot.
* ``ch:<channel>``: a channel's messages, read only by the nodes with members in it; ``to:<node>``: private
  messages for one node's users.  Both are capped (``channel_stream_length``).
* ``snapshot``: the network state at a position of the log, written by one node every ``snapshot_interval``.
* ``hb:<node>`` (expires after ``node_timeout``) and the hash ``nodes`` (node -> the position it has applied):
  who is alive; ``dead:<node>`` makes sure one node alone announces a node's death.
* ``epoch``: changes when Redis lost its data (it runs without persistence): every node then resynchronises.

Everything this node appends in a scheduler batch goes in one pipelined write, sent at once on the writer's own
connection without waiting for the previous batch's replies; one blocking ``XREAD``, on the reader's own
connection, reads the log and every stream this node follows at once.  Both speak RESP2 directly (``link.py``);
the rest goes through coredis.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from ...protocol.message import Message
from ..config import ConfigError, ServerConfig
from ..state import Network
from .link import Link
from .replica import LOG, ZERO, Replica, channel_stream, decode, encode, id_of, node_stream, position_of
from .resp import Arg, RespError, RespProtocolError, pack, stream_entries

log = logging.getLogger("trio_chat.cluster")

PREFIX = "trio-chat:"
READ_BLOCK_MS = 1000
READ_COUNT = 2000
RETRY_DELAY = 1.0
LINK_TIMEOUT = 10.0
"""Seconds the writer's or the reader's connection may take to open, and an XREAD to answer beyond its block."""
LOG_EVERY = 300.0
"""Seconds between two INFO lines on the network's health (nodes, lag, Redis round trip)."""


def _redis_errors() -> tuple[type[BaseException], ...]:
    import coredis.exceptions

    return (
        coredis.exceptions.RedisError,
        OSError,
        trio.BrokenResourceError,
        trio.ClosedResourceError,
        TimeoutError,
        trio.TooSlowError,
        RespError,
        RespProtocolError,
    )


def _first_error(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return str(exc) or exc.__class__.__name__


def link_trouble(exc: BaseException) -> bool:
    """Whether ``exc`` means Redis cannot be reached (coredis may raise it in an exception group)."""
    if isinstance(exc, BaseExceptionGroup):
        return all(link_trouble(e) for e in exc.exceptions)
    return isinstance(exc, _redis_errors())


class Node:
    """Runs the cluster side of one server (``Server.run_services`` starts it when ``redis_url`` is set)."""

    def __init__(self, network: Network, config: ServerConfig) -> None:
        self.network = network
        self.config = config
        self.instance = f"{config.server_name}/{secrets.token_hex(4)}"
        self._me = self.instance.encode()
        """This node in the message streams' ``n`` field (its own entries are skipped without decoding)."""
        self.replica = Replica(network, self.instance)
        self.replica.wake = self._wake_writer
        self.replica.subscribe = self._subscribe
        self.replica.joined = self._joined
        self.replica.describer = self.describe
        self._joining: dict[str, int] = {}
        """Channel streams followed for a JOIN not applied yet: kept even while no member is here."""
        self._write_wanted = trio.Event()
        self.following: dict[str, str] = {node_stream(self.instance): "$"}
        """Streams read besides the log (this node's own, and channels with members here) -> last id read."""
        self.epoch = ""
        self.rtt_us = 0
        self.lag_ms = 0
        self.nodes: dict[str, str] = {}
        """Live nodes (from the ``nodes`` hash) -> the log position each has applied."""
        self._redis: Any = None
        self._healthy = trio.Event()
        self._recovering = False
        self._unacked: deque[tuple[list[tuple[str, bytes]], float]] = deque()
        """Batches sent and not answered yet, with the time each was sent."""
        self._acks_wanted = trio.Event()
        self.links: set[Link] = set()
        """The writer's and the reader's connections, while they are open."""
        self._generation = 0
        """Counts the troubles :meth:`_lost` dealt with; connections opened before the latest one are stale."""
        self._drained = trio.Event()
        """Set by the writer when it has sent everything (see :meth:`flush`)."""
        network.probes.update(
            {
                "cluster_nodes": lambda: len(self.nodes),
                "cluster_log_lag_ms": lambda: self.lag_ms,
                "cluster_rtt_us": lambda: self.rtt_us,
                "cluster_degraded": lambda: int(self.replica.degraded),
                "cluster_applied": lambda: self.replica.applied,
            }
        )

    def describe(self) -> list[str]:
        """The nodes with the log position each last told, this one marked; then lag, round trip, health."""
        lines = []
        for instance, position in sorted(self.nodes.items()):
            mine = " (this node)" if instance == self.instance else ""
            users = sum(1 for u in self.network.users.values() if (u.home or self.instance) == instance)
            lines.append(f"node {instance} at {position} with {users} user(s){mine}")
        state = "degraded (Redis unreachable)" if self.replica.degraded else "healthy"
        lines.append(
            f"log at {id_of(self.replica.position)}, lag {self.lag_ms} ms, Redis round trip {self.rtt_us} us, {state}"
        )
        return lines

    def key(self, name: str) -> str:
        return PREFIX + name

    # ---- running ------------------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Join the network (snapshot, then the log up to now), then keep in step until cancelled."""
        import coredis

        assert self.config.redis_url is not None
        self._redis = coredis.Redis.from_url(self.config.redis_url, decode_responses=False)
        try:
            async with self._redis:
                await self._run(task_status)
        except Exception as exc:
            if not link_trouble(exc) or self._healthy.is_set():
                raise
            # Starting without the network would split it: say why, in one line, and stop.
            raise ConfigError(f"cannot reach Redis at {self.config.redis_url}: {_first_error(exc)}") from None

    async def check(self) -> None:
        """Reach Redis once before serving: a ConfigError (one line) if it cannot be reached."""
        import coredis

        assert self.config.redis_url is not None
        try:
            async with coredis.Redis.from_url(self.config.redis_url) as redis:
                await redis.ping()
        except Exception as exc:
            if not link_trouble(exc):
                raise
            raise ConfigError(f"cannot reach Redis at {self.config.redis_url}: {_first_error(exc)}") from None

    async def _run(self, task_status: trio.TaskStatus[None]) -> None:
        await self._join()
        self._healthy.set()
        log.info("node %s joined the network at %s", self.instance, id_of(self.replica.position))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._writer)
            nursery.start_soon(self._reader)
            nursery.start_soon(self._heartbeat)
            nursery.start_soon(self._snapshots)
            task_status.started()

    async def _join(self) -> None:
        redis = self._redis
        self.epoch = await self._current_epoch()
        data = await redis.get(self.key("snapshot"))
        if data:
            snapshot = decode(data)
            if snapshot.get("epoch") == self.epoch:
                self.replica.load(snapshot)
        await self._catch_up()
        await self._beat()
        # A node that restarts under the same name: its previous life's users are gone now, not in 15 s.
        name = self.config.server_name
        for instance in list(self.replica.homes):
            if instance.rpartition("/")[0] == name and instance != self.instance:
                await self._announce_death(instance)

    async def _catch_up(self) -> None:
        """Apply the log up to its end, without blocking."""
        while True:
            result = await self._redis.xread({self.key(LOG): id_of(self.replica.position)}, count=READ_COUNT)
            if not result:
                return
            self._handle([(k, [(e.identifier, e.field_values) for e in v]) for k, v in result.items()])

    @asynccontextmanager
    async def _link(self) -> AsyncIterator[Link]:
        """A connection of the writer's or the reader's own (see ``link.py``), closed when they leave it."""
        assert self.config.redis_url is not None
        with trio.fail_after(LINK_TIMEOUT):
            link = await Link.open(self.config.redis_url)
        self.links.add(link)
        try:
            async with link:
                yield link
        finally:
            self.links.discard(link)

    # ---- writing ------------------------------------------------------------------------------------------

    def _wake_writer(self) -> None:
        self._write_wanted.set()

    async def _writer(self) -> None:
        """Append what the replica produced, in order, on a link of the writer's own: each batch is sent as soon
        as it is taken, without waiting for the previous batch's replies (one connection keeps them in order);
        :meth:`_acks` reads the replies behind it."""
        while True:
            await self._healthy.wait()
            generation = self._generation
            try:
                async with self._link() as link, trio.open_nursery() as nursery:
                    nursery.start_soon(self._acks, link)
                    await self._send_batches(link, generation)
                    nursery.cancel_scope.cancel()
            except Exception as exc:
                if not link_trouble(exc):
                    raise
                self._requeue()
                if generation == self._generation:  # else _lost has dealt with this trouble already
                    await self._lost(exc)
            self._requeue()

    def _requeue(self) -> None:
        """What was sent on a connection that is gone and not answered: the changes of the log are sent again
        (quits, bounded by this node's users); messages are not kept."""
        unsent = [(s, d) for batch, _ in self._unacked for s, d in batch if s == LOG]
        self._unacked.clear()
        self.replica.outgoing[:0] = unsent

    async def _send_batches(self, link: Link, generation: int) -> None:
        """Until the link is stale (:meth:`_lost` opened a new generation of connections)."""
        replica = self.replica
        length = str(self.config.channel_stream_length).encode()
        log_key = self.key(LOG).encode()
        while True:
            # Waits only when there is nothing to do: Event.wait on a set event still yields, which would hold
            # every batch for one more pass of the scheduler.  (What a stale link left is sent on the new one.)
            if not self._write_wanted.is_set() and not replica.outgoing:
                await self._write_wanted.wait()
            self._write_wanted = trio.Event()
            if not self._healthy.is_set():
                await self._healthy.wait()
            if generation != self._generation:
                return
            batch, replica.outgoing = replica.outgoing, []
            if not batch:
                if not self._unacked:
                    self._drained.set()
                continue
            commands = []
            for stream, data in batch:
                if stream == LOG:
                    commands.append(pack(b"XADD", log_key, b"*", b"e", data))
                else:
                    # The sender's node marked beside the event: it skips its own without decoding them.
                    key = self.key(stream).encode()
                    commands.append(pack(b"XADD", key, b"MAXLEN", b"~", length, b"*", b"n", self._me, b"e", data))
            self._unacked.append((batch, time.perf_counter()))
            self._acks_wanted.set()
            await link.send(b"".join(commands))

    async def _acks(self, link: Link) -> None:
        """The replies to what :meth:`_send_batches` sent, in order: the round trip of each batch, and whether
        everything sent has landed (see :meth:`flush`)."""
        unacked = self._unacked
        while True:
            while not unacked:
                await self._acks_wanted.wait()
                self._acks_wanted = trio.Event()
            batch, started = unacked[0]
            for stream, _ in batch:
                reply = await link.reply()
                if isinstance(reply, RespError):
                    log.warning("Redis refused an entry of %s: %s", stream, reply)
            unacked.popleft()
            self.rtt_us = int((time.perf_counter() - started) * 1e6)
            if not unacked and not self.replica.outgoing:
                self._drained.set()

    async def _subscribe(self, folded: list[str]) -> None:
        """Follow the streams of these channels from their current end (before this node's JOIN is appended)."""
        for f in folded:
            self._joining[f] = self._joining.get(f, 0) + 1
        new = [channel_stream(f) for f in folded if channel_stream(f) not in self.following]
        if not new or self.replica.degraded:
            return
        try:
            lasts = await self._last_ids(new)
        except Exception as exc:
            if not link_trouble(exc):
                raise
            await self._lost(exc)
            return
        # The blocking read returns with the JOIN (it reads the log) and starts again with the new streams in it.
        self.following.update(lasts)

    def _joined(self, folded: list[str]) -> None:
        for f in folded:
            left = self._joining.get(f, 0) - 1
            if left > 0:
                self._joining[f] = left
            else:
                self._joining.pop(f, None)

    async def _last_ids(self, streams: list[str]) -> dict[str, str]:
        """The id of the last entry of each stream ("0-0" if it has none): reading from there gets what comes
        next, however many reads later."""
        async with self._redis.pipeline(transaction=False) as pipe:
            lasts = [pipe.xrevrange(self.key(stream), count=1) for stream in streams]
        out = {}
        for stream, last in zip(streams, lasts, strict=True):
            entries = await last
            out[stream] = entries[0].identifier.decode() if entries else "0-0"
        return out

    # ---- reading ------------------------------------------------------------------------------------------

    async def _reader(self) -> None:
        """One blocking ``XREAD`` at a time, on a link of the reader's own: the next one is sent as soon as the
        previous one's entries are handled."""
        while True:
            await self._healthy.wait()
            generation = self._generation
            try:
                async with self._link() as link:
                    await self._read(link, generation)
            except Exception as exc:
                if not link_trouble(exc):
                    raise
                if generation == self._generation:  # else _lost has dealt with this trouble already
                    await self._lost(exc)

    async def _read(self, link: Link, generation: int) -> None:
        while True:
            if not self._healthy.is_set():  # as in _send_batches: the next XREAD goes out in this pass
                await self._healthy.wait()
            if generation != self._generation:
                return
            unknown = [stream for stream, last in self.following.items() if last == "$"]
            if unknown:
                self.following.update(await self._last_ids(unknown))
            keys: list[Arg] = [self.key(LOG)]
            ids: list[Arg] = [id_of(self.replica.position)]
            for stream, last in self.following.items():
                keys.append(self.key(stream))
                ids.append(last)
            # A Redis that went away without closing the connection must not hold the reader for good.
            with trio.fail_after(READ_BLOCK_MS / 1000 + LINK_TIMEOUT):
                reply = await link.command(
                    b"XREAD", b"COUNT", READ_COUNT, b"BLOCK", READ_BLOCK_MS, b"STREAMS", *keys, *ids
                )
            if reply is not None:
                self._handle(stream_entries(reply))

    def _handle(self, result: list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]) -> None:
        """Hand the replica the messages of one read, then apply its log entries: a message waits (``held``) only
        for the entries its sender's node had applied, so it comes out between the same entries as it did there
        (a PART read in the same batch does not overtake a message sent before it)."""
        replica = self.replica
        log_key = self.key(LOG).encode()
        for key, entries in result:
            if key == log_key:
                continue
            stream = key.decode().removeprefix(PREFIX)
            for identifier, fields in entries:
                self.following[stream] = identifier.decode()
                if fields.get(b"n") == self._me:
                    continue
                try:
                    event = decode(fields[b"e"])
                except (KeyError, ValueError):
                    continue
                if event.get("k") == "m":
                    replica.receive(stream, event)
        applied = False
        for key, entries in result:
            if key != log_key:
                continue
            for identifier, fields in entries:
                position = position_of(identifier)
                applied = True
                try:
                    event = decode(fields[b"e"])
                except (KeyError, ValueError):
                    log.warning("log entry %s is not an event: skipped", id_of(position))
                    replica.position = max(replica.position, position)
                    replica.release()
                    continue
                replica.apply(position, event)  # releases the messages that waited for this entry
        if applied:
            self.lag_ms = max(0, int(time.time() * 1000) - replica.position[0])
            # Who is in which channel changes only through the log.
            self._follow_new_channels()
            self._unfollow_empty()

    def _follow_new_channels(self) -> None:
        """A user of this node is in a channel this node does not follow (after a resynchronisation): follow it
        from now on."""
        for user in self.replica.local_users():
            for folded in user.channels:
                stream = channel_stream(folded)
                if stream not in self.following:
                    self.following[stream] = "$"

    def _unfollow_empty(self) -> None:
        """Stop reading channels in which this node has nobody any more."""
        for stream in [s for s in self.following if s.startswith("ch:") and s[3:] not in self._joining]:
            channel = self.network.channels.get(stream[3:])
            if channel is None or not any(m.home is None for m in channel.members):
                del self.following[stream]

    # ---- liveness -----------------------------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        told = trio.current_time()
        while True:
            await trio.sleep(self.config.node_timeout / 3)
            await self._healthy.wait()
            if trio.current_time() - told >= LOG_EVERY:
                told = trio.current_time()
                log.info("network: %s", "; ".join(self.describe()))
            try:
                await self._beat()
                await self._check_nodes()
            except Exception as exc:
                if not link_trouble(exc):
                    raise
                await self._lost(exc)

    async def _beat(self) -> None:
        redis = self._redis
        position = id_of(self.replica.position).encode()
        started = time.perf_counter()
        async with redis.pipeline(transaction=False) as pipe:
            pipe.set(self.key(f"hb:{self.instance}"), position, px=int(self.config.node_timeout * 1000))
            pipe.hset(self.key("nodes"), {self.instance.encode(): position})
            nodes = pipe.hgetall(self.key("nodes"))
            epoch = pipe.get(self.key("epoch"))
        self.rtt_us = int((time.perf_counter() - started) * 1e6)
        self.nodes = {k.decode(): v.decode() for k, v in (await nodes).items()}
        current = (await epoch or b"").decode()
        if current != self.epoch:
            # Redis restarted without its data between two of our calls (the client reconnects by itself).
            await self._resync("Redis lost the network's state")

    async def _check_nodes(self) -> None:
        """Nodes whose heartbeat expired are announced dead (by one node: ``SET NX``)."""
        others = [n for n in set(self.nodes) | set(self.replica.homes) if n != self.instance]
        if not others:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            alive = [pipe.exists([self.key(f"hb:{n}")]) for n in others]
        for instance, exists in zip(others, alive, strict=True):
            if not await exists:
                await self._announce_death(instance)

    async def _announce_death(self, instance: str) -> None:
        redis = self._redis
        if await redis.set(self.key(f"dead:{instance}"), self.instance.encode(), condition=_nx(), ex=3600):
            log.warning("node %s stopped answering: its users leave the network", instance)
            self.replica.emit(LOG, {"k": "s", "n": instance})
            # Nobody reads what was on its way to it any more.
            await redis.delete([self.key(node_stream(instance))])
        await redis.hdel(self.key("nodes"), [instance.encode()])
        self.nodes.pop(instance, None)

    # ---- snapshots ----------------------------------------------------------------------------------------

    async def _snapshots(self) -> None:
        interval = self.config.snapshot_interval
        while True:
            await trio.sleep(interval)
            await self._healthy.wait()
            try:
                await self.write_snapshot()
            except Exception as exc:
                if not link_trouble(exc):
                    raise
                await self._lost(exc)

    async def write_snapshot(self) -> bool:
        """Write a snapshot at this node's position and trim the log behind it, unless another node did so
        within this interval; True if this node wrote one."""
        redis = self._redis
        lock_ms = int(self.config.snapshot_interval * 900)
        if not await redis.set(self.key("snaplock"), self.instance.encode(), condition=_nx(), px=lock_ms):
            return False
        snapshot = self.replica.snapshot()
        snapshot["epoch"] = self.epoch
        await redis.set(self.key("snapshot"), encode(snapshot))
        # Trim what every live node has applied and the snapshot covers.
        positions = [position_of(p) for p in self.nodes.values()] + [self.replica.position]
        floor = min(positions)
        if floor > ZERO:
            await redis.xtrim(self.key(LOG), trim_strategy=_minid(), threshold=id_of(floor))
        # The streams of channels the network no longer has go too: Redis keeps what the network holds.
        gone = []
        async for key in redis.scan_iter(match=self.key("ch:*"), count=1000):
            folded = key.decode().removeprefix(self.key("ch:"))
            if folded not in self.network.channels and channel_stream(folded) not in self.following:
                gone.append(key)
        if gone:
            await redis.delete(gone)
        log.info(
            "snapshot of the network at %s written; %d stream(s) of channels gone deleted",
            id_of(self.replica.position),
            len(gone),
        )
        return True

    # ---- trouble ------------------------------------------------------------------------------------------

    async def _lost(self, exc: BaseException) -> None:
        """Redis cannot be reached: tell this node's users, refuse what needs the network, retry until it is
        back, then resynchronise if it lost the network's state.  Every task that meets the trouble comes here;
        the first one recovers, the others wait for it."""
        replica = self.replica
        if self._recovering:
            await self._healthy.wait()
            return
        self._recovering = True
        try:
            replica.degraded = True
            self._healthy = trio.Event()
            log.error("Redis cannot be reached (%s): the network is degraded", exc)
            # The writer and the reader start again on new connections once Redis is back (the trouble may have
            # been seen by another task, on a connection that still looks open); what fails on the old ones is
            # this trouble, not a new one.
            self._generation += 1
            for link in list(self.links):
                await trio.aclose_forcefully(link.stream)
            self._notice_all("This server lost its link to the network; local chat goes on, the rest is back soon")
            for waiter in list(replica.waiters.values()):
                waiter.lines = [replica.degraded_notice(waiter.user)]
                waiter.done.set()
            while True:
                await trio.sleep(RETRY_DELAY)
                try:
                    current = await self._current_epoch()
                except Exception as again:
                    if not link_trouble(again):
                        raise
                    continue
                break
            replica.degraded = False
            if current != self.epoch:
                await self._resync("Redis lost the network's state")
            log.warning("Redis is back: the network is whole again")
            self._notice_all("This server is linked to the network again")
        finally:
            self._recovering = False
            self._healthy.set()
            self._write_wanted.set()

    async def _current_epoch(self) -> str:
        """The network's epoch in Redis; a new one if Redis has none (it restarted without its data)."""
        redis = self._redis
        await redis.set(self.key("epoch"), secrets.token_hex(8).encode(), condition=_nx())
        return (await redis.get(self.key("epoch")) or b"").decode()

    async def _resync(self, why: str) -> None:
        log.warning("%s: this node's users are introduced again", why)
        self.epoch = await self._current_epoch()
        self.replica.resync()
        self.following = {node_stream(self.instance): "0-0"}

    async def flush(self) -> None:
        """Send what is still to be appended (the quits of a server shutting down)."""
        if (self.replica.outgoing or self._unacked) and not self.replica.degraded:
            self._drained = trio.Event()
            self._write_wanted.set()
            await self._drained.wait()

    def _notice_all(self, text: str) -> None:
        network = self.network
        server = self.config.server_name
        for user in [u for u in network.connections if u.home is None and u.registered]:
            network.deliver(user, Message("NOTICE", (user.nick, f"*** {text}"), server).to_bytes())
        network.reap()


def _nx() -> Any:
    from coredis.tokens import PureToken

    return PureToken.NX


def _minid() -> Any:
    from coredis.tokens import PureToken

    return PureToken.MINID
