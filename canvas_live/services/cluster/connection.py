"""The shared Redis of a scale-out deployment: one client per process, its identity and heartbeat.

Every part that must be shared between processes (the hub's broker, the task store, the agent
leases, the canvas locks) goes through one `Cluster`, so that there is one connection pool, one
place that turns "Redis is unreachable" into the contract's `UNAVAILABLE`, and one heartbeat by
which the other processes know this one is alive.

Keys all start with `cl:`; those of one topic or canvas share a hash tag (`{…}`), so a Redis
Cluster could spread them over shards without a change of design.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from canvas_live.protocol.errors import ErrorCode, RpcError

log = logging.getLogger("canvas_live.cluster")

T = TypeVar("T")

HEARTBEAT_TTL = 10.0
"""Seconds after its last beat when a process counts as gone (its tasks are then interrupted)."""

HEARTBEAT_EVERY = 3.0
"""Seconds between two beats: three may be lost before the TTL runs out."""

LOST = (RedisConnectionError, RedisTimeoutError, OSError)
"""What a call raises when Redis cannot be reached (as opposed to a command Redis refused)."""

INSTANCES = b"cl:instances"
"""Every process that ever registered and may still own unfinished tasks."""


class ClusterError(Exception):
    """Redis could not be used at start-up; the message says where and why, without credentials."""


def redact(url: str) -> str:
    """The URL without its password (in the user part or as `?password=`), for messages and logs."""
    parts = urlsplit(url)
    if parts.password is not None:
        host = parts.hostname or ""
        netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
        parts = parts._replace(netloc=netloc)
    if parts.query:
        query = [(key, "***" if key.lower() == "password" else value) for key, value in parse_qsl(parts.query)]
        parts = parts._replace(query=urlencode(query, safe="*"))
    return urlunsplit(parts)


def text(raw: bytes | str) -> str:
    """A Redis reply as text (the client answers bytes; typing says either)."""
    return raw.decode() if isinstance(raw, bytes) else raw


def alive_key(instance: str) -> bytes:
    """The heartbeat key of a process: present while it beats."""
    return f"cl:alive:{instance}".encode()


class Cluster:
    """This process's connection to the shared Redis."""

    def __init__(self, url: str, instance: str) -> None:
        self.url = url
        self.instance = instance
        # A pooled connection that Redis closed (a restart) fails once: try again at once on a fresh one,
        # rather than fail a request (or leave a lock unreleased) for a connection nobody needs any more.
        # Every script is safe to run twice (publish counters, lease ids, terminal records).
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            url,
            socket_connect_timeout=2.0,
            socket_timeout=5.0,
            health_check_interval=10,
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 2),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
        )
        # The pub/sub connection must see every loss (the hub catches up from the history after
        # one), so its client does not retry behind the hub's back.
        self.subscriber: aioredis.Redis = aioredis.Redis.from_url(
            url, socket_connect_timeout=2.0, socket_timeout=None, retry=Retry(ExponentialBackoff(), 0)
        )
        self.reachable = False
        self._beat: asyncio.Task[None] | None = None
        self._mark = f"{socket.gethostname()} {os.getpid()}".encode()
        self._undoing: set[asyncio.Task[None]] = set()

    @property
    def where(self) -> str:
        """The Redis URL as it may be shown (no password)."""
        return redact(self.url)

    async def start(self) -> None:
        """Reach Redis, or fail start-up with one clear line; then start beating."""
        try:
            await self.client.ping()
            await self._beat_once()
        except RedisError as exc:
            await self.client.aclose()
            await self.subscriber.aclose()
            raise ClusterError(f"cannot use Redis at {self.where}: {exc}") from None
        self.reachable = True
        self._beat = asyncio.create_task(self._beat_forever(), name="cluster heartbeat")
        log.info("instance %s joined Redis at %s", self.instance, self.where)

    async def _beat_once(self) -> None:
        """Say this process is alive, and that it is one whose tasks a survivor must settle should it die."""
        pipe = self.client.pipeline(transaction=False)
        pipe.set(alive_key(self.instance), self._mark, px=int(HEARTBEAT_TTL * 1000))
        pipe.sadd(INSTANCES, self.instance)  # again on every beat: Redis may have lost it, or a survivor dropped it
        await pipe.execute()

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY)
            try:
                await self._beat_once()
            except LOST as exc:
                if self.reachable:
                    log.warning("Redis at %s is unreachable: %s", self.where, exc)
                self.reachable = False
            except RedisError:
                log.exception("the heartbeat failed")
            else:
                if not self.reachable:
                    log.warning("Redis at %s is reachable again", self.where)
                self.reachable = True

    async def alive(self, instance: str) -> bool:
        """Whether `instance` beat within the last `HEARTBEAT_TTL` seconds."""
        return bool(await self.client.exists(alive_key(instance)))

    async def once(self, key: str, ttl: float) -> bool:
        """True for the first process (of all) to claim `key` within `ttl` seconds."""
        return bool(await self.client.set(key.encode(), self._mark, nx=True, px=int(ttl * 1000)))

    async def taking(self, take: Awaitable[T], undo: Callable[[T], Awaitable[None]]) -> T:
        """Await a call that takes something on Redis (a lock, a lease), given back should the caller
        be cancelled.

        A cancelled command is not one Redis did not run: redis-py drops the connection, and what
        was sent still runs, holding what it took until it expires. So the call is left to finish,
        and `undo` is given its outcome; the caller's cancellation goes on at once.
        """
        running = asyncio.ensure_future(take)
        try:
            return await asyncio.shield(running)
        except asyncio.CancelledError:
            task = asyncio.create_task(self._undo_when_done(running, undo), name="undo a cancelled take")
            self._undoing.add(task)
            task.add_done_callback(self._undoing.discard)
            raise

    @staticmethod
    async def _undo_when_done(running: asyncio.Future[T], undo: Callable[[T], Awaitable[None]]) -> None:
        try:
            outcome = await running
        except Exception:
            return  # it failed: nothing was taken, or it expires by itself
        try:
            await undo(outcome)
        except RedisError as exc:
            log.debug("giving back what a cancelled call took failed (it expires by itself): %s", exc)

    @contextmanager
    def needed(self, what: str) -> Iterator[None]:
        """Turn Redis being unreachable into `UNAVAILABLE` for the request that needed it."""
        try:
            yield
        except LOST as exc:
            self.reachable = False
            raise RpcError(
                ErrorCode.UNAVAILABLE, f"{what}: Redis at {self.where} is unreachable", retry_after=1.0
            ) from exc

    async def close(self) -> None:
        """Stop beating; a clean stop leaves no heartbeat behind, so nothing waits for it to expire."""
        if self._beat is not None:
            self._beat.cancel()
            await asyncio.gather(self._beat, return_exceptions=True)
        await asyncio.gather(*self._undoing, return_exceptions=True)
        with contextlib.suppress(RedisError):
            await self.client.delete(alive_key(self.instance))
        await self.client.aclose()
        await self.subscriber.aclose()
