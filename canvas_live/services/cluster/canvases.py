"""Canvas locks and announcement claims in Redis, for processes sharing one vault."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from redis.asyncio.lock import Lock
from redis.exceptions import LockError

from canvas_live.protocol.errors import ErrorCode, RpcError
from canvas_live.services.cluster.connection import Cluster, text

LOCK_TIMEOUT = 60.0
"""Seconds a canvas lock outlives a holder that died: far longer than the slowest write (0.1 s for 20,000 nodes)."""

LOCK_WAIT = 30.0
"""Seconds a write waits for another process's lock before answering BUSY."""

CLAIM_TTL = 300.0
"""Seconds a claimed version is remembered: longer than any watcher takes to look."""


class _Lock(Lock):
    """redis-py's lock, which also knows itself: a `SET NX` whose reply was lost (the connection
    dropped after Redis ran it) is retried, and finding its own token there is success, not a
    wait of `LOCK_WAIT` for a lock nobody will release."""

    async def do_acquire(self, token: str | bytes) -> bool:
        return await super().do_acquire(token) or await self.redis.get(self.name) == token


class ClusterCanvases:
    """Per-canvas Redis locks (redis-py's `Lock`) and first-claim announcements."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def lock(self, name: str) -> AbstractAsyncContextManager[object]:
        """The canvas's lock, shared by every process on the vault."""
        return self._locked(name)

    @asynccontextmanager
    async def _locked(self, name: str) -> AsyncIterator[object]:
        key = f"cl:{{canvas:{name}}}:lock"
        lock = _Lock(self.cluster.client, key, timeout=LOCK_TIMEOUT, blocking_timeout=LOCK_WAIT)

        async def undo(taken: bool) -> None:
            if taken:
                await self._release(lock, name)

        # A client that leaves mid-acquire must not leave the SET it sent to block writers for LOCK_TIMEOUT.
        taken = await self.cluster.taking(self._acquire(lock, name), undo)
        if not taken:
            raise RpcError(
                ErrorCode.BUSY, f"canvas {name!r} is being written by another process", name=name, retry_after=1.0
            )
        try:
            yield lock
        finally:
            await asyncio.shield(self._release(lock, name))  # a second cancellation never skips it

    async def _acquire(self, lock: Lock, name: str) -> bool:
        with self.cluster.needed(f"canvas {name!r} could not be locked"):
            return bool(await lock.acquire(token=secrets.token_hex(16)))

    async def _release(self, lock: Lock, name: str) -> None:
        try:
            with self.cluster.needed(f"canvas {name!r} could not be unlocked"):
                await lock.release()
        except (LockError, RpcError):
            pass  # it expires by itself

    async def release(self, name: str, version: str) -> None:
        """DEL of the claim's key."""
        with self.cluster.needed(f"canvas {name!r} could not be announced"):
            await self.cluster.client.delete(f"cl:{{canvas:{name}}}:v:{version}".encode())

    async def claim(self, name: str, version: str, source: str) -> str | None:
        """SET NX of the version's key: None for the first claimer, else the first claimer's source."""
        key = f"cl:{{canvas:{name}}}:v:{version}".encode()
        client = self.cluster.client
        with self.cluster.needed(f"canvas {name!r} could not be announced"):
            if await client.set(key, source.encode(), nx=True, px=int(CLAIM_TTL * 1000)):
                return None
            first = await client.get(key)
        return text(first) if first is not None else None
