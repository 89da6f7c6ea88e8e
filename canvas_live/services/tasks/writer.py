"""One writer for task records: changes reach the store in the order they happened, bursts batched.

Saves run in a thread (`asyncio.to_thread` in the store); two saves of one task racing in two
threads could land out of order and leave a finished task recorded as running. So every change is
queued here and a single task writes them, the latest version of each task per batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import msgspec

from canvas_live.services.tasks.models import TaskInfo
from canvas_live.services.tasks.store import TaskStore

log = logging.getLogger("canvas_live.tasks")

RETRY_DELAY = 1.0
"""Seconds between attempts to write records after a failed write."""


class TaskWriter:
    """Queues task records and writes them through the store, in order."""

    def __init__(self, store: TaskStore, on_final: Callable[[str], None]) -> None:
        self.store = store
        self.on_final = on_final
        self._pending: dict[str, TaskInfo] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the writing task."""
        self._task = asyncio.create_task(self._run(), name="task writer")

    def put(self, info: TaskInfo) -> None:
        """Queue the task's current state (a copy: later changes go in a later write)."""
        self._pending[info.id] = msgspec.structs.replace(info)
        self._wake.set()

    def discard(self, task_id: str) -> None:
        """Forget a queued record that must not be written (its creation failed)."""
        self._pending.pop(task_id, None)

    async def save(self, info: TaskInfo) -> None:
        """Queue the task's state and wait until it is written."""
        self.put(info)
        await self.flush()

    async def flush(self) -> None:
        """Wait until everything queued so far is written (raises if that write failed)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._wake.set()
        await waiter

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending or self._waiters:
                batch, self._pending = list(self._pending.values()), {}
                waiters, self._waiters = self._waiters, []
                try:
                    if batch:
                        await self.store.save(batch)
                except Exception as exc:
                    log.exception("writing %d task record(s) failed; retrying in %g s", len(batch), RETRY_DELAY)
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_exception(exc)
                    # Keep the records (a newer state queued meanwhile wins) and try again: a full
                    # disk or a locked file passes, and a lost final state would leave a task in limbo.
                    self._pending = {info.id: info for info in batch} | self._pending
                    await asyncio.sleep(RETRY_DELAY)
                    continue
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)
                for info in batch:
                    if info.status.terminal:
                        self.on_final(info.id)

    async def close(self) -> None:
        """Write what is queued, then stop."""
        if self._task is None:
            return
        try:
            await self.flush()
        finally:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
