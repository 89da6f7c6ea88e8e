"""Background tasks through the real server: states, events, listing, waiting, cancelling, failing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import msgspec
import pytest

from canvas_live.protocol.errors import ErrorCode
from canvas_live.protocol.errors import RpcError as ServerRpcError
from canvas_live.services.tasks import TaskContext, TaskKind
from tests.support.client import Client, RpcError, open_client
from tests.support.server import LiveServer, on_server_loop

ORAL = {"agent": "oral", "input": {"concept": "x"}}


async def run_batch(client: Client, calls: int = 1) -> dict[str, Any]:
    task_id = (await client.call("agent.batch", {"calls": [ORAL] * calls}))["task_id"]
    info: dict[str, Any] = await client.call("task.wait", {"id": task_id, "timeout": 10})
    return info


class NoParams(msgspec.Struct):
    """The params of the tasks these tests add: none."""


def add_kind(live: LiveServer, name: str, runner: Callable[[TaskContext], Any], timeout: float | None = None) -> None:
    kind = TaskKind(name, NoParams, lambda ctx, params: runner(ctx), timeout)
    live.run(lambda: live.runtime.tasks.register(kind))


async def start_task(live: LiveServer, kind: str) -> str:
    info = await on_server_loop(live, live.runtime.tasks.create_task(kind, NoParams(), canvas="notes/math"))
    return str(info.id)


async def test_unknown_task_is_not_found(client: Client, http: httpx.AsyncClient) -> None:
    for method in ("task.get", "task.cancel", "task.wait"):
        with pytest.raises(RpcError) as raised:
            await client.call(method, {"id": "0000000000000000"})
        assert raised.value.code == -32001 and raised.value.data["kind"] == "task"
    for response in (await http.get("/api/v1/tasks/nope"), await http.post("/api/v1/tasks/nope/cancel")):
        assert response.status_code == 404
        assert response.json()["error"] == "NOT_FOUND" and response.json()["details"]["kind"] == "task"


async def test_cancelling_a_finished_task_is_a_conflict_naming_its_status(
    client: Client, http: httpx.AsyncClient
) -> None:
    info = await run_batch(client)
    assert info["status"] == "completed"
    with pytest.raises(RpcError) as raised:
        await client.call("task.cancel", {"id": info["id"]})
    assert raised.value.code == -32002 and raised.value.data["status"] == "completed"
    assert "completed" in raised.value.message
    response = await http.post(f"/api/v1/tasks/{info['id']}/cancel")
    assert response.status_code == 409 and response.json()["details"]["status"] == "completed"
    assert (await client.call("task.get", {"id": info["id"]}))["status"] == "completed"


async def test_task_list_is_newest_first_with_filters_and_a_cursor(
    client: Client, http: httpx.AsyncClient, live: LiveServer
) -> None:
    ids = [(await run_batch(client))["id"] for _ in range(5)]
    add_kind(live, "test.fail", failing_runner)
    failed = await start_task(live, "test.fail")
    await client.call("task.wait", {"id": failed})

    first = await client.call("task.list", {"limit": 2})
    assert [task["id"] for task in first["tasks"]] == [failed, ids[4]]
    second = await client.call("task.list", {"limit": 2, "before": first["next"]})
    assert [task["id"] for task in second["tasks"]] == [ids[3], ids[2]]
    rest = await client.call("task.list", {"limit": 2, "before": second["next"]})
    assert [task["id"] for task in rest["tasks"]] == [ids[1], ids[0]] and "next" not in rest

    assert [t["id"] for t in (await client.call("task.list", {"status": "failed"}))["tasks"]] == [failed]
    assert len((await client.call("task.list", {"kind": "agent.batch"}))["tasks"]) == 5
    assert [t["id"] for t in (await client.call("task.list", {"canvas": "notes/math"}))["tasks"]] == [failed]

    with pytest.raises(RpcError) as bad_status:
        await client.call("task.list", {"status": "sleeping"})
    assert bad_status.value.code == -32602 and bad_status.value.data["field"] == "status"
    with pytest.raises(RpcError) as bad_limit:
        await client.call("task.list", {"limit": 501})
    assert bad_limit.value.data["field"] == "limit"
    with pytest.raises(RpcError) as bad_cursor:
        await client.call("task.list", {"before": "gone"})
    assert bad_cursor.value.data["field"] == "before"

    page = (await http.get("/api/v1/tasks", params={"limit": "2", "status": "completed"})).json()
    assert [task["id"] for task in page["tasks"]] == [ids[4], ids[3]] and page["next"] == ids[3]
    assert (await http.get(f"/api/v1/tasks/{ids[0]}")).json()["status"] == "completed"
    assert (await http.get("/api/v1/tasks", params={"limit": "many"})).status_code == 400
    assert (await http.get("/api/v1/tasks", params={"before": "gone"})).status_code == 400


async def failing_runner(ctx: TaskContext) -> None:
    ctx.progress(1, 3, "about to fail")
    raise ValueError("a bug in the runner, with /secret/path in its message")


async def test_a_runner_that_raises_fails_its_task_and_nothing_else(client: Client, live: LiveServer) -> None:
    add_kind(live, "test.fail", failing_runner)
    await client.call("subscribe", {"topics": ["tasks"]})
    task_id = await start_task(live, "test.fail")
    info = await client.call("task.wait", {"id": task_id})
    assert info["status"] == "failed"
    assert info["error"]["error"] == "INTERNAL_ERROR" and "/secret/path" not in info["error"]["message"]
    assert info["progress"] == {"done": 1, "total": 3, "message": "about to fail"}
    events = [await client.event() for _ in range(4)]
    assert [event["status"] for event in events] == ["pending", "running", "running", "failed"]
    assert events[-1]["error"]["error"] == "INTERNAL_ERROR"
    assert await client.call("ping") == "pong"
    assert (await run_batch(client))["status"] == "completed"


async def test_a_runner_raising_a_contract_error_records_it(client: Client, live: LiveServer) -> None:
    async def missing(ctx: TaskContext) -> None:
        raise ServerRpcError(ErrorCode.NOT_FOUND, "canvas 'x' not found", kind="canvas", id="x")

    add_kind(live, "test.missing", missing)
    info = await client.call("task.wait", {"id": await start_task(live, "test.missing")})
    assert info["status"] == "failed"
    assert info["error"] == {
        "code": -32001,
        "error": "NOT_FOUND",
        "message": "canvas 'x' not found",
        "data": {"kind": "canvas", "id": "x"},
    }


async def test_each_kind_has_a_time_limit(make_server: Callable[..., LiveServer]) -> None:
    live = make_server(task_timeouts=("test.slow=0.2",))

    async def slow(ctx: TaskContext) -> None:
        await asyncio.sleep(30)

    add_kind(live, "test.slow", slow)
    add_kind(live, "test.own-limit", slow, timeout=0.1)
    async with open_client(live) as client:
        for kind, limit in (("test.slow", "0.2"), ("test.own-limit", "0.1")):
            info = await client.call("task.wait", {"id": await start_task(live, kind)})
            assert info["status"] == "failed" and info["error"]["error"] == "TIMEOUT"
            assert f"{limit} s" in info["error"]["message"]


async def test_wait_returns_the_current_state_when_its_timeout_passes(make_server: Callable[..., LiveServer]) -> None:
    live = make_server(offline_latency=0.5)
    async with open_client(live) as client:
        task_id = (await client.call("agent.batch", {"calls": [ORAL]}))["task_id"]
        early = await client.call("task.wait", {"id": task_id, "timeout": 0.05})
        assert early["status"] == "running" and early["started_at"] and "finished_at" not in early
        health = (await client.call("server.info"))["agents"]
        assert health["in_flight"] == 1
        done = await client.call("task.wait", {"id": task_id, "timeout": 5})
        assert done["status"] == "completed" and done["finished_at"] >= done["started_at"] >= done["created_at"]


async def test_progress_events_are_coalesced_and_the_final_state_follows_them(client: Client, live: LiveServer) -> None:
    async def busy(ctx: TaskContext) -> str:
        for step in range(1, 201):
            ctx.progress(step, 200)
            if step % 20 == 0:
                await asyncio.sleep(0.01)
        return "done"

    add_kind(live, "test.busy", busy)
    task_id = await start_task(live, "test.busy")
    await client.call(
        "subscribe", {"topics": [f"task:{task_id}"], "since": {f"task:{task_id}": 0}, "epoch": client.hello["epoch"]}
    )
    events = []
    while not events or events[-1]["status"] != "completed":
        events.append(await client.event())
    progress = [event for event in events if "done" in event]
    assert 1 <= len(progress) < 50, "200 updates coalesced to a few events"
    assert progress[-1]["done"] == 200
    assert events[-1]["result"] == "done" and events[-1]["progress"] == {"done": 200, "total": 200}


async def test_progress_of_two_tasks_on_one_topic_is_throttled_separately(client: Client, live: LiveServer) -> None:
    async def busy(ctx: TaskContext) -> str:
        for step in range(1, 51):
            ctx.progress(step, 50)
        await asyncio.sleep(0.2)
        return "done"

    add_kind(live, "test.parallel", busy)
    await client.call("subscribe", {"topics": ["tasks"]})
    first, second = await start_task(live, "test.parallel"), await start_task(live, "test.parallel")
    latest: dict[str, int] = {}
    finished: set[str] = set()
    while finished != {first, second}:
        event = await client.event(timeout=5)
        if "done" in event:
            latest[event["task_id"]] = event["done"]
        if event.get("status") == "completed":
            finished.add(event["task_id"])
    assert latest == {first: 50, second: 50}  # neither task's latest progress hides the other's


async def test_health_counts_running_and_pending_tasks(
    make_server: Callable[..., LiveServer],
) -> None:
    live = make_server(offline_latency=0.3)
    async with open_client(live) as client, httpx.AsyncClient(base_url=live.base_url) as http:
        task_id = (await client.call("agent.batch", {"calls": [ORAL, ORAL]}))["task_id"]
        await asyncio.sleep(0.1)
        health = (await http.get("/api/v1/health")).json()
        assert health["tasks"] == {"running": 1, "pending": 0}
        assert health["agents"]["in_flight"] == 2 and health["agents"]["max_concurrent"] == 12
        cancelled = (await http.post(f"/api/v1/tasks/{task_id}/cancel")).json()
        assert cancelled["status"] == "cancelled"
        assert (await http.get("/api/v1/health")).json()["tasks"] == {"running": 0, "pending": 0}


async def test_the_task_api_checks_the_token(make_server: Callable[..., LiveServer]) -> None:
    live = make_server(token="s3cret")
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        assert (await http.get("/api/v1/tasks")).status_code == 401
        assert (await http.get("/api/v1/tasks/x")).status_code == 401
        assert (await http.post("/api/v1/tasks/x/cancel")).status_code == 401
        assert (await http.get("/api/v1/tasks", params={"token": "s3cret"})).json() == {"tasks": []}


async def test_finished_tasks_are_pruned_by_count_and_age(make_server: Callable[..., LiveServer]) -> None:
    live = make_server(task_retention_max=2)
    async with open_client(live) as client:
        ids = [(await run_batch(client))["id"] for _ in range(4)]
        assert await on_server_loop(live, live.runtime.tasks.prune()) == 2
        assert [t["id"] for t in (await client.call("task.list"))["tasks"]] == [ids[3], ids[2]]
    aged = make_server(task_retention_days=1e-9, data_dir=live.settings.state_dir)
    async with open_client(aged) as client:
        assert (await client.call("task.list"))["tasks"] == [], "pruned at start-up: older than the retention"


async def test_shutdown_gives_tasks_their_grace_then_records_them_interrupted(
    make_server: Callable[..., LiveServer],
) -> None:
    live = make_server(offline_latency=0.2, shutdown_grace=0.5)

    async def forever(ctx: TaskContext) -> None:
        await asyncio.sleep(60)

    add_kind(live, "test.forever", forever)
    async with open_client(live) as client:
        quick = (await client.call("agent.batch", {"calls": [ORAL]}))["task_id"]
    stuck = await start_task(live, "test.forever")
    live.stop()
    again = make_server(data_dir=live.settings.state_dir)
    async with open_client(again) as client:
        assert (await client.call("task.get", {"id": quick}))["status"] == "completed", "finished within the grace"
        interrupted = await client.call("task.get", {"id": stuck})
    assert interrupted["status"] == "failed" and interrupted["error"]["error"] == "INTERRUPTED"
