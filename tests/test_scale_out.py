"""Several processes on one Redis behave as one server: one seq order, resume anywhere, tasks and
canvases shared (docs/scale-out.md). Each story runs a real redis-server and two servers on one vault."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.client import Client, RpcError, open_client
from tests.support.redis import RedisServer
from tests.support.server import LiveServer

NOTE = {"type": "text", "text": "极限的定义", "x": 0, "y": 0, "width": 250, "height": 60}


async def events_of(client: Client, method: str, count: int, timeout: float = 10) -> list[dict]:
    """The next `count` events named `method` (others are skipped)."""
    return [await client.event(method, timeout) for _ in range(count)]


async def test_one_epoch_and_one_seq_order_seen_by_both_processes(pair: tuple[LiveServer, LiveServer]) -> None:
    a, b = pair
    async with open_client(a) as on_a, open_client(b) as on_b:
        assert on_a.hello["epoch"] == on_b.hello["epoch"] != ""
        info_a, info_b = await on_a.call("server.info"), await on_b.call("server.info")
        assert (info_a["instance"], info_a["engine"]) == ("a", "redis")
        assert (info_b["instance"], info_b["engine"]) == ("b", "redis")
        await on_a.call("canvas.create", {"name": "c"})
        for watcher in (on_a, on_b):
            await watcher.call("subscribe", {"topics": ["canvas:c"]})
        for index in range(10):
            writer = on_a if index % 2 else on_b
            await writer.call("canvas.addNode", {"name": "c", "node": {**NOTE, "id": f"n{index}"}})
        seen_a = await events_of(on_a, "canvas.changed", 10)
        seen_b = await events_of(on_b, "canvas.changed", 10)
        assert [e["seq"] for e in seen_a] == [e["seq"] for e in seen_b] == list(range(1, 11))
        assert [e["version"] for e in seen_a] == [e["version"] for e in seen_b]
        assert {e["source"] for e in seen_a} == {"server"}  # the other process's writes are never "external"
        await on_a.no_reply(0.5)
        await on_b.no_reply(0.5)
        assert on_a.events.empty() and on_b.events.empty()


async def test_a_client_resumes_on_the_other_process(pair: tuple[LiveServer, LiveServer]) -> None:
    a, b = pair
    async with open_client(a) as first:
        await first.call("canvas.create", {"name": "c"})
        await first.call("subscribe", {"topics": ["canvas:c"]})
        await first.call("canvas.addNode", {"name": "c", "node": {**NOTE, "id": "n0"}})
        last = (await events_of(first, "canvas.changed", 1))[0]["seq"]
        epoch = first.hello["epoch"]
    async with open_client(b) as writer:
        for index in range(1, 4):
            await writer.call("canvas.addNode", {"name": "c", "node": {**NOTE, "id": f"n{index}"}})
    async with open_client(b) as again:
        answer = await again.call("subscribe", {"topics": ["canvas:c"], "since": {"canvas:c": last}, "epoch": epoch})
        assert answer["recovered"] == {"canvas:c": True} and answer["replayed"] == 3
        replayed = await events_of(again, "canvas.changed", 3)
        assert [e["seq"] for e in replayed] == [last + 1, last + 2, last + 3]
        assert [e["ops"][0]["node"]["id"] for e in replayed] == ["n1", "n2", "n3"]


async def test_an_external_edit_is_announced_once_not_once_per_process(
    pair: tuple[LiveServer, LiveServer], vault: Path
) -> None:
    a, b = pair
    async with open_client(a) as on_a, open_client(b) as on_b:
        await on_a.call("canvas.create", {"name": "c"})
        for watcher in (on_a, on_b):
            await watcher.call("subscribe", {"topics": ["canvas:c"]})
        (vault / "c.canvas").write_text(
            '{"nodes":[{"id":"e1","type":"text","text":"x","x":0,"y":0,"width":1,"height":1}]}'
        )
        external = await events_of(on_a, "canvas.changed", 1)
        assert external[0]["source"] == "external"
        assert (await events_of(on_b, "canvas.changed", 1)) == external
        await asyncio.sleep(2.0)  # both watchers have long since looked
        assert on_a.events.empty() and on_b.events.empty()


async def test_concurrent_writes_through_both_processes_all_land(pair: tuple[LiveServer, LiveServer]) -> None:
    a, b = pair
    async with open_client(a) as on_a, open_client(b) as on_b:
        await on_a.call("canvas.create", {"name": "c"})
        writes = [
            (on_a if index % 2 else on_b).call("canvas.addNode", {"name": "c", "node": {**NOTE, "id": f"n{index}"}})
            for index in range(100)
        ]
        await asyncio.gather(*writes)
        read = await on_b.call("canvas.read", {"name": "c"})
        assert sorted(node["id"] for node in read["nodes"]) == sorted(f"n{index}" for index in range(100))


async def test_a_stale_if_version_from_the_other_process_is_a_conflict(pair: tuple[LiveServer, LiveServer]) -> None:
    a, b = pair
    async with open_client(a) as on_a, open_client(b) as on_b:
        created = await on_a.call("canvas.create", {"name": "c"})
        await on_b.call("canvas.addNode", {"name": "c", "node": {**NOTE, "id": "n1"}, "if_version": created["version"]})
        with pytest.raises(RpcError) as refused:
            await on_a.call(
                "canvas.addNode", {"name": "c", "node": {**NOTE, "id": "n2"}, "if_version": created["version"]}
            )
        assert refused.value.code == -32002
        assert refused.value.data["version"] == (await on_a.call("canvas.read", {"name": "c"}))["version"]


ORAL = {"agent": "oral", "input": {"concept": "导数", "material_content": "导数是函数的瞬时变化率。"}}


async def test_tasks_are_read_listed_and_waited_from_either_process(pair: tuple[LiveServer, LiveServer]) -> None:
    a, b = pair
    async with open_client(a) as on_a, open_client(b) as on_b:
        task_id = (await on_a.call("agent.batch", {"calls": [ORAL] * 3}))["task_id"]
        assert (await on_b.call("task.get", {"id": task_id}))["id"] == task_id
        assert task_id in [task["id"] for task in (await on_b.call("task.list", {}))["tasks"]]
        done = await on_b.call("task.wait", {"id": task_id, "timeout": 20})
        assert done["status"] == "completed" and len(done["result"]["results"]) == 3
        assert (await on_a.call("task.get", {"id": task_id})) == done


async def test_a_cancel_travels_to_the_process_running_the_task(
    redis_server: RedisServer, make_server: Callable[..., LiveServer]
) -> None:
    a = make_server(redis=redis_server.url, instance="a", offline_latency=0.5)
    b = make_server(redis=redis_server.url, instance="b")
    async with open_client(a) as on_a, open_client(b) as on_b:
        task_id = (await on_a.call("agent.batch", {"calls": [ORAL] * 40}))["task_id"]
        await on_b.call("subscribe", {"topics": [f"task:{task_id}"]})
        cancelled = await on_b.call("task.cancel", {"id": task_id})
        assert cancelled["status"] == "cancelled"
        assert (await on_a.call("task.get", {"id": task_id}))["status"] == "cancelled"
        assert (await on_b.event("task.cancelled"))["task_id"] == task_id
        with pytest.raises(RpcError) as again:
            await on_b.call("task.cancel", {"id": task_id})
        assert again.value.code == -32002
        with pytest.raises(RpcError) as unknown:
            await on_b.call("task.get", {"id": "0123456789abcdef"})
        assert unknown.value.code == -32001
