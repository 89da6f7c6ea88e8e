"""A task and the canvas it writes tell one story: a late cancel or a crash never splits them."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.client import RpcError, open_client
from tests.support.process import free_port, start_server
from tests.support.server import LiveServer
from tests.test_workflows import EN, LEARNING, ZH


@pytest.fixture
def learning_vault(vault: Path) -> Path:
    for path in LEARNING.glob("*.canvas"):
        shutil.copy(path, vault / path.name)
    return vault


async def test_a_cancel_that_comes_during_the_final_write_finds_the_task_completed(
    learning_vault: Path, make_server: Callable[..., LiveServer]
) -> None:
    live = make_server()
    canvases = live.runtime.canvases
    writing = threading.Event()
    create = canvases.create

    async def slow_create(*args: Any, **kwargs: Any) -> Any:
        writing.set()
        await asyncio.sleep(0.5)  # the write of a large review canvas on a slow disk
        return await create(*args, **kwargs)

    live.run(lambda: setattr(canvases, "create", slow_create))
    async with open_client(live) as client:
        task_id = (await client.call("review.generate", {"canvas": EN}))["task_id"]
        assert await asyncio.to_thread(writing.wait, 10)
        with pytest.raises(RpcError) as caught:
            await client.call("task.cancel", {"id": task_id})
        assert (caught.value.data["error"], caught.value.data["status"]) == ("CONFLICT", "completed")
        task = await client.call("task.get", {"id": task_id})
        assert task["status"] == "completed"
        review = await client.call("canvas.read", {"name": task["result"]["review_canvas"]})
        assert review["nodes"][0]["reviewTask"] == task_id


@pytest.mark.parametrize("source", [EN, ZH])
async def test_a_crash_right_after_the_review_canvas_is_written_keeps_the_task_completed(
    vault: Path, source: str
) -> None:
    shutil.copy(LEARNING / f"{source}.canvas", vault)
    port = free_port()
    log = vault.parent / "server.log"  # both runs' lines, for a failure to show
    process = start_server(vault, port, log=log)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            answer = await http.post("/api/v1/review/generate", json={"canvas_name": source})
            task_id = answer.json()["task_id"]
            deadline = time.monotonic() + 20
            while (review := next(iter(vault.glob(f"{source}-检验白板-*.canvas")), None)) is None:
                assert time.monotonic() < deadline, "the review canvas never appeared"
                await asyncio.sleep(0.001)
            os.kill(process.pid, signal.SIGKILL)  # between the canvas write and the task's final record, or after
    finally:
        process.kill()
        process.wait()
    process = start_server(vault, port, log=log)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            task = (await http.get(f"/api/v1/tasks/{task_id}")).json()
    finally:
        process.kill()
        process.wait()
    assert task["status"] == "completed", (task.get("error"), log.read_text())
    assert task["result"]["path"] == review.name
    assert sorted(path.name for path in vault.glob("*.canvas")) == sorted([f"{source}.canvas", review.name])


@pytest.mark.single_process  # plants a crash in the SQLite task file
async def test_the_crash_window_is_recovered_from_the_record_and_the_marked_canvas(
    learning_vault: Path, make_server: Callable[..., LiveServer]
) -> None:
    """The record a crash leaves mid-write (running, with the result it was completing with) is settled."""
    from canvas_live.services.tasks.models import Progress, TaskInfo, TaskStatus
    from canvas_live.services.tasks.store import SqliteTaskStore

    live = make_server()
    async with open_client(live) as client:
        done = await client.call("review.generate", {"canvas": EN})
        finished = await client.call("task.wait", {"id": done["task_id"], "timeout": 20})
    live.stop()
    result = finished["result"]
    store = SqliteTaskStore(learning_vault / ".canvas-live" / "tasks.sqlite3")
    landed = TaskInfo(done["task_id"], "review.generate", TaskStatus.RUNNING, Progress(4, 4), {"canvas": EN},
                      finished["created_at"], EN, result=result)  # fmt: skip
    lost = TaskInfo("feedfacecafebeef", "review.generate", TaskStatus.RUNNING, Progress(4, 4), {"canvas": EN},
                    finished["created_at"], EN, result={**result, "review_canvas": "gone"})  # fmt: skip
    store._save([landed, lost])
    store._close()
    again = make_server()
    async with open_client(again) as client:
        assert (await client.call("task.get", {"id": landed.id}))["status"] == "completed"
        assert (await client.call("task.get", {"id": landed.id}))["result"] == result
        interrupted = await client.call("task.get", {"id": lost.id})
        assert (interrupted["status"], interrupted["error"]["error"]) == ("failed", "INTERRUPTED")
        assert "result" not in interrupted
