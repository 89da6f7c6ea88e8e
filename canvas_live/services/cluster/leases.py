"""A limit on agent calls in flight across every process: leases in one Redis sorted set.

A process takes a slot with a lease that expires `LEASE_TTL` seconds on (scored by Redis's own
clock, so the processes' clocks never matter) and renews the leases it holds while it lives. A
process killed mid-call leaks nothing: its leases run out and the slots come back. Inside a
process a local semaphore keeps the waiting orderly and spares Redis the polls of callers that
could not get a slot here anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import random

from canvas_live.services.cluster.connection import HEARTBEAT_EVERY, HEARTBEAT_TTL, LOST, Cluster

log = logging.getLogger("canvas_live.cluster")

LEASES = b"cl:agents:leases"

LEASE_TTL = HEARTBEAT_TTL
"""Seconds a lease outlives its holder's last renewal."""

POLL = 0.02
"""Seconds (on average) between two tries of a caller waiting for a slot held elsewhere."""

_TAKE = """
local now = redis.call('TIME')
local ms = now[1] * 1000 + math.floor(now[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
if ARGV[3] == '' then
  return redis.call('ZCARD', KEYS[1])
end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], ms + tonumber(ARGV[2]), ARGV[3])
  return 1
end
return 0
"""
"""KEYS: the lease set. ARGV: limit, lease ms, lease id ('' only counts the live leases)."""

_RENEW = """
local now = redis.call('TIME')
local ms = now[1] * 1000 + math.floor(now[2] / 1000)
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', ms + tonumber(ARGV[1]), ARGV[i]) end
return 1
"""


class ClusterSlots:
    """`max_concurrent` slots shared by every process on one Redis; the same interface as a semaphore."""

    def __init__(self, cluster: Cluster, limit: int) -> None:
        self.cluster = cluster
        self.limit = limit
        self._local = asyncio.Semaphore(limit)
        self._take = cluster.client.register_script(_TAKE)
        self._renew = cluster.client.register_script(_RENEW)
        self._ids = (f"{cluster.instance}#{n}" for n in itertools.count())
        self._held: list[str] = []
        self._renewer: asyncio.Task[None] | None = None
        self._releases: set[asyncio.Task[None]] = set()

    async def acquire(self) -> None:
        """Wait for a slot here, then for a lease on Redis (UNAVAILABLE if Redis cannot be reached)."""
        await self._local.acquire()
        lease = next(self._ids)

        async def undo(took: int) -> None:
            if took:
                await self._give_back(lease)

        try:
            with self.cluster.needed("no agent slot could be taken"):
                # Redis has no blocking wait on a sorted set: poll, with jitter so waiters spread out.
                # A call cancelled mid-take gives back the lease the script may still add.
                lease_ms = int(LEASE_TTL * 1000)
                take = functools.partial(self._take, keys=(LEASES,), args=(self.limit, lease_ms, lease))
                while not await self.cluster.taking(take(), undo):  # noqa: ASYNC110
                    await asyncio.sleep(random.uniform(0.5, 1.5) * POLL)
        except BaseException:
            self._local.release()
            raise
        self._held.append(lease)
        if self._renewer is None:
            self._renewer = asyncio.create_task(self._renew_forever(), name="agent lease renewal")

    def release(self) -> None:
        """Give a slot back at once here, and on Redis as soon as the command goes out."""
        lease = self._held.pop()
        self._local.release()
        task = asyncio.create_task(self._give_back(lease), name="agent lease release")
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def _give_back(self, lease: str) -> None:
        with contextlib.suppress(*LOST):  # the lease expires by itself
            await self.cluster.client.zrem(LEASES, lease)

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY)
            if not self._held:
                continue
            try:
                await self._renew(keys=(LEASES,), args=(int(LEASE_TTL * 1000), *self._held))
            except LOST as exc:
                log.debug("renewing agent leases failed: %s", exc)
            except Exception:
                log.exception("renewing agent leases failed")

    async def in_flight(self) -> int:
        """Live leases of every process."""
        with self.cluster.needed("the agent leases could not be read"):
            return int(await self._take(keys=(LEASES,), args=(self.limit, 0, "")))

    async def close(self) -> None:
        """Stop renewing; leases still held expire."""
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.gather(self._renewer, return_exceptions=True)
        await asyncio.gather(*self._releases, return_exceptions=True)
