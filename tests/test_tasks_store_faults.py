"""The task manager against a store that is slow or failing: no task is ever left in limbo.

In process (a real SQLite store wrapped to misbehave), since neither fault can be timed from
outside the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import msgspec
import pytest

from canvas_live.services.hub import Hub, MemoryBroker
from canvas_live.services.tasks import (
    BackgroundTaskManager,
    TaskContext,
    TaskInfo,
    TaskKind,
    TaskManagerConfig,
    TaskQuery,
    TaskStatus,
)
from canvas_live.services.tasks import writer as writer_module
from canvas_live.services.tasks.store import SqliteTaskStore


class FlakyStore(SqliteTaskStore):
    """Saves slowly, and fails the first `failures` saves."""

    def __init__(self, path: Path, delay: float = 0.0, failures: int = 0) -> None:
        super().__init__(path)
        self.delay = delay
        self.failures = failures

    async def save(self, tasks: Sequence[TaskInfo]) -> None:
        await asyncio.sleep(self.delay)
        if self.failures:
            self.failures -= 1
            raise OSError("disk full")
        await super().save(tasks)


class NoParams(msgspec.Struct):
    """A task that takes nothing."""


async def quick(ctx: TaskContext, params: NoParams) -> str:
    return "done"


async def manager_with(store: FlakyStore) -> BackgroundTaskManager:
    manager = BackgroundTaskManager(store, Hub(MemoryBroker()), TaskManagerConfig())
    manager.register(TaskKind("quick", NoParams, quick))
    await manager.start()
    return manager


async def test_a_caller_cancelled_mid_save_still_gets_its_task_run(tmp_path: Path) -> None:
    manager = await manager_with(FlakyStore(tmp_path / "tasks.sqlite3", delay=0.2))
    creating = asyncio.create_task(manager.create_task("quick", NoParams()))
    await asyncio.sleep(0.05)
    creating.cancel()
    with pytest.raises(asyncio.CancelledError):
        await creating
    await asyncio.sleep(0.6)
    page = await manager.store.list(TaskQuery(None, None, None, 50, None))
    assert [task.status for task in page.tasks] == [TaskStatus.COMPLETED]
    await manager.close()


async def test_a_failed_write_is_retried_until_it_lands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer_module, "RETRY_DELAY", 0.05)
    store = FlakyStore(tmp_path / "tasks.sqlite3")
    manager = await manager_with(store)
    info = await manager.create_task("quick", NoParams())
    store.failures = 2  # the running and completed records hit a failing disk
    finished = await manager.wait(info.id, 5)
    assert finished.status is TaskStatus.COMPLETED
    stored = await store.get(info.id)
    assert stored is not None and stored.status is TaskStatus.COMPLETED and stored.result == "done"
    await manager.close()
