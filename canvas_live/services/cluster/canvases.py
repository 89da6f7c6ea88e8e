"""Canvas locks and announcement claims in Redis, for processes sharing one vault."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from redis.exceptions import LockError

from canvas_live.protocol.errors import ErrorCode, RpcError
from canvas_live.services.cluster.connection import Cluster, text

LOCK_TIMEOUT = 60.0
"""Seconds a canvas lock outlives a holder that died: far longer than the slowest write (0.1 s for 20,000 nodes)."""

LOCK_WAIT = 30.0
"""Seconds a write waits for another process's lock before answering BUSY."""

CLAIM_TTL = 300.0
"""Seconds a claimed version is remembered: longer than any watcher takes to look."""


class ClusterCanvases:
    """Per-canvas Redis locks (redis-py's `Lock`) and first-claim announcements."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def lock(self, name: str) -> AbstractAsyncContextManager[object]:
        """The canvas's lock, shared by every process on the vault."""
        return self._locked(name)

    @asynccontextmanager
    async def _locked(self, name: str) -> AsyncIterator[object]:
        lock = self.cluster.client.lock(f"cl:{{canvas:{name}}}:lock", timeout=LOCK_TIMEOUT, blocking_timeout=LOCK_WAIT)
        with self.cluster.needed(f"canvas {name!r} could not be locked"):
            taken = await lock.acquire()
        if not taken:
            raise RpcError(
                ErrorCode.BUSY, f"canvas {name!r} is being written by another process", name=name, retry_after=1.0
            )
        try:
            yield lock
        finally:
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
