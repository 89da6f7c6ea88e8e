"""The Redis broker: one seq order and one history per topic for every process on one Redis.

Publishing: each event is encoded once, around its seq (which only Redis knows), and queued; one
sender task pipelines the queue to Redis in order, where a script gives the event the topic's
next seq, appends it to the topic's history (a Stream capped at `history_size`, whose entry ids
are the seqs) and publishes it on the topic's sharded channel, in one atomic step. While Redis is
unreachable the queue holds up to `buffer_size` events (the oldest dropped beyond, counted and
logged) and the sender retries with back-off. Each event carries this process's publish counter,
which the script remembers per topic, so a batch sent again after a lost reply is not
published twice.

Receiving: one pub/sub connection listens to the channels of the topics this process's clients
hold, and hands each event to the hub as it comes back, this process's own included. When that
connection was lost, the hub catches every held topic up from the history once it is back.

The epoch is a key of its own, created by the first process to find it missing: it changes only
when Redis lost its data. Seqs never go back even then: a publish passes the highest seq this
process knows for the topic, and the script continues above it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from typing import Any

from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from canvas_live.protocol.errors import RpcError
from canvas_live.protocol.events import encode_event_around_seq
from canvas_live.services.cluster import Cluster
from canvas_live.services.cluster.connection import LOST, text
from canvas_live.services.hub.broker import Deliver, Held, Resync

log = logging.getLogger("canvas_live.hub")

EPOCH = b"cl:epoch"

_PUBLISH = """
local last = tonumber(redis.call('HGET', KEYS[3], ARGV[6]) or '0')
if tonumber(ARGV[7]) <= last then return -1 end
local seq = redis.call('INCR', KEYS[1])
local floor = tonumber(ARGV[3])
if seq <= floor then
  seq = floor + 1
  redis.call('SET', KEYS[1], seq)
end
local frame = ARGV[1] .. seq .. ARGV[2]
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[4], seq .. '-0', 'f', frame)
redis.call('HSET', KEYS[3], ARGV[6], ARGV[7])
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[5]) end
redis.call('SPUBLISH', KEYS[4], seq .. ' ' .. frame)
return seq
"""
"""KEYS: seq, history, publishers, channel. ARGV: head, tail, floor, history size, ttl, instance, counter."""

BATCH = 256
"""Events sent in one round trip at most."""

FLOORS_KEPT = 10_000
"""Topics whose last seq this process remembers, to keep seqs rising should Redis lose its data."""

IDLE_SWEEP = 30.0
"""Seconds between two passes that stop listening to topics no local client holds any more."""


def _keys(topic: str) -> tuple[str, str, str, str]:
    tag = f"cl:{{{topic}}}"
    return f"{tag}:seq", f"{tag}:h", f"{tag}:p", tag


class RedisBroker:
    """Seq, history, epoch and transport in Redis."""

    engine = "redis"

    def __init__(
        self, cluster: Cluster, history_size: int = 1000, topic_ttl: float = 86_400.0, buffer_size: int = 10_000
    ) -> None:
        self.cluster = cluster
        self.history_size = history_size
        self.topic_ttl = int(topic_ttl)
        self.buffer_size = buffer_size
        self.epoch = ""
        self._script = cluster.client.register_script(_PUBLISH)
        self._queue: deque[tuple[str, str, str, int]] = deque()
        self._sending: list[tuple[str, str, str, int]] = []
        self._counter = 0
        self._publisher = f"{cluster.instance}#{secrets.token_hex(4)}"
        """Whose publish counter this is: the instance and this start of it (a restart counts from 0 again)."""
        self._floors: OrderedDict[str, int] = OrderedDict()
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._deliver: Deliver | None = None
        self._held: Held | None = None
        self._resync: Resync | None = None
        self._pubsub: PubSub = cluster.subscriber.pubsub()
        self._listened: set[str] = set()
        self._confirmations: dict[bytes, asyncio.Future[None]] = {}
        self._commands = asyncio.Lock()
        """Orders (un)subscribe commands on the pub/sub connection."""
        self._subscribed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.published = 0
        self.dropped = 0
        self._dropping = False

    def bind(self, deliver: Deliver, held: Held, resync: Resync) -> None:
        """Attach the hub."""
        self._deliver, self._held, self._resync = deliver, held, resync

    async def start(self) -> None:
        """Read (or create) the epoch, then start sending and receiving."""
        with self.cluster.needed("the hub could not start"):
            await self._check_epoch()
        self._tasks = [
            asyncio.create_task(self._send_forever(), name="hub sender"),
            asyncio.create_task(self._receive_forever(), name="hub receiver"),
            asyncio.create_task(self._sweep_forever(), name="hub sweeper"),
        ]

    async def _check_epoch(self) -> None:
        await self.cluster.client.set(EPOCH, secrets.token_hex(4), nx=True)
        epoch = text(await self.cluster.client.get(EPOCH) or b"")
        if self.epoch and epoch != self.epoch:
            log.warning("Redis lost its data: the history starts again under epoch %s (was %s)", epoch, self.epoch)
        self.epoch = epoch

    # -- publishing -------------------------------------------------------------------------------

    def publish(self, topic: str, event: str, fields: Mapping[str, Any]) -> None:
        """Encode once and queue; the sender gives it its seq in Redis."""
        head, tail = encode_event_around_seq(event, topic, fields)
        self._counter += 1
        self._queue.append((topic, head, tail, self._counter))
        self._drained.clear()
        if len(self._queue) > self.buffer_size:
            self._queue.popleft()
            self.dropped += 1
            if not self._dropping:
                self._dropping = True
                log.warning("Redis is unreachable and %d events wait: the oldest are being dropped", self.buffer_size)
        self._wake.set()

    async def _send_forever(self) -> None:
        delay = 0.1
        while True:
            if not self._sending:
                if not self._queue:
                    self._drained.set()
                    self._wake.clear()
                    await self._wake.wait()
                self._sending = [self._queue.popleft() for _ in range(min(BATCH, len(self._queue)))]
            try:
                seqs = await self._send(self._sending)
            except LOST as exc:
                if self.cluster.reachable:
                    log.warning(
                        "publishing to Redis failed (%s): %d event(s) wait", exc, len(self._queue) + len(self._sending)
                    )
                self.cluster.reachable = False
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                with contextlib.suppress(*LOST, RedisError):
                    await self._check_epoch()
                continue
            except RedisError:
                log.exception("Redis refused %d event(s); they are dropped", len(self._sending))
                self.dropped += len(self._sending)
                self._sending = []
                continue
            delay = 0.1
            self._dropping = False
            for (topic, *_), seq in zip(self._sending, seqs, strict=True):
                if seq > 0:
                    self._floors[topic] = seq
                    self._floors.move_to_end(topic)
            while len(self._floors) > FLOORS_KEPT:
                self._floors.popitem(last=False)
            self.published += len(self._sending)
            self._sending = []

    async def _send(self, batch: list[tuple[str, str, str, int]]) -> list[int]:
        pipe = self.cluster.client.pipeline(transaction=False)
        for topic, head, tail, counter in batch:
            floor = self._floors.get(topic, 0)
            args = (head, tail, floor, self.history_size, self.topic_ttl, self._publisher, counter)
            await self._script(keys=_keys(topic), args=args, client=pipe)
        return [int(seq) for seq in await pipe.execute()]

    # -- receiving --------------------------------------------------------------------------------

    async def listen(self, topics: Iterable[str]) -> None:
        """Subscribe this process to the topics' channels, and wait until Redis confirmed each of them.

        A topic whose subscription another caller began is waited for too: nobody goes live on a
        channel Redis has not confirmed yet.
        """
        topics = list(topics)
        channels = {topic: _keys(topic)[3].encode() for topic in topics}
        new = [topic for topic in topics if channels[topic] not in self._confirmations]
        loop = asyncio.get_running_loop()
        with self.cluster.needed("the subscription could not be made"):
            if new:
                for topic in new:
                    self._confirmations[channels[topic]] = loop.create_future()
                self._listened.update(new)  # before sending: a reconnect meanwhile subscribes them too
                try:
                    async with self._commands:
                        await self._pubsub.ssubscribe(*(channels[topic] for topic in new))
                except BaseException as exc:
                    self._forget(new, exc)
                    raise
                self._subscribed.set()
            waiting = [self._confirmations[channels[topic]] for topic in topics]
            try:
                async with asyncio.timeout(5.0):
                    await asyncio.gather(*(asyncio.shield(future) for future in waiting))
            except TimeoutError:
                raise TimeoutError("Redis did not confirm the subscription") from None

    def _forget(self, topics: list[str], exc: BaseException | None = None) -> None:
        """Stop counting on subscriptions that failed (their waiters get `exc`) or were dropped."""
        self._listened.difference_update(topics)
        for topic in topics:
            future = self._confirmations.pop(_keys(topic)[3].encode(), None)
            if future is not None and not future.done():
                future.set_exception(exc if isinstance(exc, Exception) else ConnectionError("unsubscribed"))
                future.exception()  # retrieved: nobody else may be waiting for it

    def unlisten(self, topics: Iterable[str]) -> None:
        """Topics no local client holds: the sweeper unsubscribes them unless a client came back."""

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(IDLE_SWEEP)
            idle = [topic for topic in self._listened if self._held is not None and not self._held(topic)]
            if not idle:
                continue
            with contextlib.suppress(*LOST):
                async with self._commands:
                    idle = [topic for topic in idle if self._held is not None and not self._held(topic)]
                    await self._pubsub.sunsubscribe(*(_keys(topic)[3].encode() for topic in idle))
                    self._forget(idle)

    async def _receive_forever(self) -> None:
        delay = 0.1
        lost = False
        while True:
            if lost:  # try again, with back-off, until the subscription is whole again
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                try:
                    lost = not await self._reconnect()
                except Exception:
                    log.exception("reconnecting the Redis subscription failed")
                continue
            if self._pubsub.connection is None:  # nothing subscribed yet
                self._subscribed.clear()
                await self._subscribed.wait()
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except LOST as exc:
                log.warning("the Redis subscription was lost (%s); reconnecting", exc)
                self.cluster.reachable = False
                lost = True
                continue
            except Exception:
                log.exception("reading the Redis subscription failed; reconnecting")
                lost = True
                continue
            delay = 0.1
            if message is not None:
                self._receive(message)

    def _receive(self, message: dict[str, Any]) -> None:
        kind, channel = message["type"], message["channel"]
        if kind == "smessage":
            seq, _, frame = message["data"].partition(b" ")
            if self._deliver is not None:
                self._deliver(channel[4:-1].decode(), int(seq), frame.decode())
        elif kind == "ssubscribe":
            future = self._confirmations.get(channel)
            if future is not None and not future.done():
                future.set_result(None)

    async def _reconnect(self) -> bool:
        """A new pub/sub connection on the same channels; then the epoch, then the missed events. True if done."""
        with contextlib.suppress(*LOST, RedisError):
            await self._pubsub.aclose()
        self._pubsub = self.cluster.subscriber.pubsub()
        early: list[dict[str, Any]] = []  # events that beat the confirmations: delivered after the catch-up
        try:
            await self._check_epoch()
            async with self._commands:
                channels = [_keys(topic)[3].encode() for topic in self._listened]
                if channels:
                    await self._pubsub.ssubscribe(*channels)
                    confirmed = 0
                    while confirmed < len(channels):
                        message = await self._pubsub.get_message(timeout=5.0)
                        if message is None:
                            raise TimeoutError("Redis did not confirm the subscriptions")
                        confirmed += message["type"] == "ssubscribe"
                        early.append(message)
            if self._resync is not None:
                await self._resync()
            for message in early:
                self._receive(message)
        except (*LOST, RpcError) as exc:
            log.debug("reconnecting to Redis failed: %s", exc)
            return False
        self.cluster.reachable = True
        log.warning("the Redis subscription is back; missed events were caught up from the history")
        return True

    async def history(self, topic: str, after: int, *, partial: bool = False) -> list[tuple[int, str]] | None:
        """The frames after `after`, read from the topic's Stream in one transaction with its seq."""
        if after < 0:
            return None
        seq_key, history_key, _, _ = _keys(topic)
        with self.cluster.needed("the history could not be read"):
            pipe = self.cluster.client.pipeline(transaction=True)
            pipe.get(seq_key)
            pipe.xrange(history_key, "-", "+", count=1)
            pipe.xrange(history_key, f"{after + 1}-0", "+")
            raw_seq, first, entries = await pipe.execute()
        seq = int(raw_seq or 0)
        if after > seq:
            return None
        if after == seq:
            return []
        oldest = int(first[0][0].split(b"-")[0]) if first else seq + 1
        if after + 1 < oldest and not partial:
            return None
        return [(int(entry_id.split(b"-")[0]), fields[b"f"].decode()) for entry_id, fields in entries]

    def stats(self) -> dict[str, int]:
        """What this process sent, holds back and dropped."""
        return {
            "topics": len(self._listened),
            "published": self.published,
            "publish_buffered": len(self._queue) + len(self._sending),
            "publish_dropped": self.dropped,
        }

    async def close(self) -> None:
        """Give the queue up to two seconds to reach Redis, then stop."""
        if self.cluster.reachable:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2.0):
                    await self._drained.wait()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(*LOST, RedisError):
            await self._pubsub.aclose()
