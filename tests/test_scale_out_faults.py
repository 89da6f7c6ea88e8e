"""Scale-out under faults, through real processes and a real redis-server: Redis going away and
coming back, a process killed mid-task, a slow subscriber on the other process, bad start-ups."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from canvas_live.server.cli import main
from canvas_live.services.cluster import Cluster
from canvas_live.services.hub import Hub, RedisBroker
from tests.support.client import RpcError, open_client
from tests.support.process import free_port, server_process, start_server
from tests.support.redis import RedisServer
from tests.support.server import LiveServer
from tests.support.stalled import BURST, burst, close_received, stalled_subscriber

NOTE = {"type": "text", "text": "导数", "x": 0, "y": 0, "width": 250, "height": 60}
ORAL = {"agent": "oral", "input": {"concept": "导数", "material_content": "导数是函数的瞬时变化率。"}}


async def test_redis_away_gives_clear_errors_and_delivery_resumes_when_it_is_back(
    pair: tuple[LiveServer, LiveServer], redis_server: RedisServer, vault: Path
) -> None:
    a, b = pair
    async with open_client(a) as watcher, open_client(b) as writer:
        await writer.call("canvas.create", {"name": "c"})
        await watcher.call("subscribe", {"topics": ["canvas:c"]})
        for index in range(3):
            await writer.call("canvas.addNode", {"name": "c", "node": {**NOTE, "id": f"before{index}"}})
        before = [(await watcher.event("canvas.changed"))["seq"] for _ in range(3)]
        epoch = (await watcher.call("server.info"))["epoch"]

        redis_server.stop()
        with pytest.raises(RpcError) as refused:
            await writer.call("canvas.addNode", {"name": "c", "node": {**NOTE, "id": "during"}})
        assert refused.value.code == -32010 and "Redis" in refused.value.message
        assert refused.value.data["retry_after"] == 1.0
        with pytest.raises(RpcError) as refused:
            await watcher.call("subscribe", {"topics": ["tasks"]})
        assert refused.value.code == -32010
        assert await watcher.call("ping") == "pong"  # the sockets stay open
        async with httpx.AsyncClient(base_url=a.base_url) as http:
            health = (await http.get("/api/v1/health")).json()
            assert health["status"] == "degraded" and health["redis"]["reachable"] is False
            assert (await http.get("/api/v1/ready")).status_code == 503
        assert "during" not in (vault / "c.canvas").read_text()  # nothing was written

        redis_server.start()  # same port, no data: Redis lost everything
        for attempt in range(100):
            try:
                await writer.call("canvas.addNode", {"name": "c", "node": {**NOTE, "id": "after"}})
                break
            except RpcError as exc:
                assert exc.code == -32010 and attempt < 99
                await asyncio.sleep(0.1)
        after = await watcher.event("canvas.changed", timeout=15)
        assert after["ops"][0]["node"]["id"] == "after"
        assert after["seq"] > before[-1]  # seqs keep rising though Redis forgot them
        assert (await watcher.call("server.info"))["epoch"] != epoch  # the history was lost: a new epoch
        async with httpx.AsyncClient(base_url=a.base_url) as http:
            for _ in range(50):
                if (await http.get("/api/v1/ready")).status_code == 200:
                    break
                await asyncio.sleep(0.2)
            assert (await http.get("/api/v1/health")).json()["redis"]["reachable"] is True
            scraped = (await http.get("/metrics")).text
            assert "canvas_live_hub_publish_buffered 0.0" in scraped
            assert "canvas_live_hub_publish_dropped_total 0.0" in scraped
        probe = redis_server.client()
        assert probe.keys("*lock*") == []  # every canvas lock was given back, none left to expire


async def test_a_client_leaving_while_its_write_waits_for_redis_leaves_the_canvas_unlocked(
    redis_server: RedisServer, make_server: Callable[..., LiveServer], vault: Path
) -> None:
    """The leaving client's request is cancelled with its lock's SET sent and not yet answered: the
    SET still runs, and the lock it takes must be released, not left to block writers for a minute."""
    (vault / "c.canvas").write_text('{"nodes":[],"edges":[]}')  # there before the watchers: none looks at it
    a = make_server(redis=redis_server.url, instance="a")
    b = make_server(redis=redis_server.url, instance="b")
    async with open_client(a) as writer:
        async with open_client(b) as leaving:
            stall = asyncio.create_task(asyncio.to_thread(redis_server.stall, 1.0))
            await asyncio.sleep(0.3)  # Redis is busy: what is sent now waits in its queue
            frame = {"jsonrpc": "2.0", "id": 1, "method": "canvas.addNode", "params": {"name": "c", "node": NOTE}}
            await leaving.ws.send(json.dumps(frame))
            await asyncio.sleep(0.3)
        await stall
        added = await writer.call("canvas.addNode", {"name": "c", "node": {**NOTE, "id": "after"}}, timeout=5)
        assert added["node"]["id"] == "after"
    with redis_server.client() as raw:
        assert raw.exists("cl:{canvas:c}:lock") == 0


async def test_a_client_leaving_while_its_agent_call_waits_for_redis_leaks_no_slot(
    redis_server: RedisServer, make_server: Callable[..., LiveServer]
) -> None:
    """As for a canvas lock: the lease the cancelled take still adds is given back, not left to
    expire, which with a limit of one would stall every call for `LEASE_TTL` (10 s)."""
    live = make_server(redis=redis_server.url, max_concurrent_agents=1)
    async with open_client(live) as caller:
        await caller.call("agent.call", ORAL)  # Redis now knows the lease script: the stalled call runs it
        async with open_client(live) as leaving:
            stall = asyncio.create_task(asyncio.to_thread(redis_server.stall, 1.0))
            await asyncio.sleep(0.3)
            await leaving.ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "agent.call", "params": ORAL}))
            await asyncio.sleep(0.3)
        await stall
        answer = await caller.call("agent.call", ORAL, timeout=5)
        assert answer["agent"] == "oral"


async def test_a_burst_drops_only_the_slow_subscriber_of_the_other_process(
    redis_server: RedisServer, make_server: Callable[..., LiveServer]
) -> None:
    publisher = make_server(redis=redis_server.url, instance="a")
    subscriber = make_server(redis=redis_server.url, instance="b", send_queue=64)
    async with (
        stalled_subscriber(subscriber) as stalled,
        open_client(subscriber) as reader,
        open_client(publisher) as local,
    ):
        await reader.call("subscribe", {"topics": ["tasks"]})
        await local.call("subscribe", {"topics": ["tasks"]})
        await asyncio.sleep(0.2)
        for _ in range(100):
            burst(publisher)
            for _ in range(BURST):
                await reader.event(timeout=10)
                await local.event(timeout=10)
            if subscriber.runtime.slow_consumers_dropped:
                break
        assert subscriber.runtime.slow_consumers_dropped == 1
        assert publisher.runtime.slow_consumers_dropped == 0
        assert (await close_received(stalled)).code == 4008


async def test_the_tasks_of_a_killed_process_are_interrupted_by_a_survivor(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    vault = tmp_path / "vault"
    vault.mkdir()
    flags = ("--redis", redis_server.url)
    doomed_run = server_process(vault, *flags, "--offline-latency", "1")
    with doomed_run as (doomed, doomed_port), server_process(vault, *flags) as (_, port):
        async with open_client(None, url=f"ws://127.0.0.1:{doomed_port}/ws") as on_doomed:
            task_id = (await on_doomed.call("agent.batch", {"calls": [ORAL] * 30}))["task_id"]
        async with open_client(None, url=f"ws://127.0.0.1:{port}/ws") as survivor:
            await survivor.call("subscribe", {"topics": [f"task:{task_id}"]})
            assert (await survivor.call("task.get", {"id": task_id}))["status"] in ("pending", "running")
            doomed.send_signal(signal.SIGKILL)
            doomed.wait(timeout=10)
            failed = await survivor.event("task.failed", timeout=30)
            assert failed["error"]["error"] == "INTERRUPTED"
            record = await survivor.call("task.get", {"id": task_id})
            assert record["status"] == "failed" and record["error"]["error"] == "INTERRUPTED"


def test_redis_that_is_not_there_fails_start_up_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--vault", str(tmp_path / "v"), "--redis", f"redis://user:secret@127.0.0.1:{port}/0"])
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith(f"canvas-live: cannot use Redis at redis://user:***@127.0.0.1:{port}/0")
    assert "secret" not in err and err.count("\n") == 1


def test_workers_without_redis_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--vault", str(tmp_path / "v"), "--workers", "2"])
    assert stopped.value.code == 2
    assert "--workers 2 needs --redis" in capsys.readouterr().err


async def test_two_workers_on_one_port_behave_as_one_server(redis_server: RedisServer, tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    vault.mkdir()
    port = free_port()
    process = start_server(vault, port, "--workers", "2", "--redis", redis_server.url)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            seen = set()
            for _ in range(50):
                async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as fresh:  # a new connection each
                    seen.add((await fresh.get("/api/v1/health")).json()["instance"])
                if len(seen) == 2:
                    break
            assert seen == {f"{socket.gethostname()}:{port}/0", f"{socket.gethostname()}:{port}/1"}
            assert (await http.get("/api/v1/ready")).status_code == 200
        url = f"ws://127.0.0.1:{port}/ws"
        clients = [open_client(None, url=url) for _ in range(6)]
        opened = [await client.__aenter__() for client in clients]
        try:
            instances = {(await client.call("server.info"))["instance"] for client in opened}
            assert len(instances) == 2  # the kernel spread the connections over both workers
            await opened[0].call("canvas.create", {"name": "c"})
            for client in opened:
                await client.call("subscribe", {"topics": ["canvas:c"]})
            await opened[-1].call("canvas.addNode", {"name": "c", "node": {**NOTE, "id": "n1"}})
            for client in opened:
                event = await client.event("canvas.changed", timeout=10)
                assert event["seq"] == 1 and event["source"] == "server"
        finally:
            for client in clients:
                await client.__aexit__(None, None, None)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0


async def test_the_agent_limit_holds_across_processes(
    redis_server: RedisServer, make_server: Callable[..., LiveServer]
) -> None:
    a, b = (
        make_server(redis=redis_server.url, instance=name, max_concurrent_agents=3, offline_latency=0.3)
        for name in "ab"
    )
    leases = redis_server.client()
    async with open_client(a) as on_a, open_client(b) as on_b:
        tasks = [(await client.call("agent.batch", {"calls": [ORAL] * 8}))["task_id"] for client in (on_a, on_b)]
        peak = 0
        waits = [asyncio.create_task(on_a.call("task.wait", {"id": task_id, "timeout": 60})) for task_id in tasks]
        while not all(wait.done() for wait in waits):
            peak = max(peak, leases.zcard("cl:agents:leases"))
            await asyncio.sleep(0.02)
        assert peak == 3  # saturated, never above the one limit of both processes
        for wait in waits:
            assert (await wait)["status"] == "completed"


async def test_a_killed_process_leaks_no_agent_slot(redis_server: RedisServer, tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    vault.mkdir()
    flags = ("--redis", redis_server.url, "--max-concurrent-agents", "2")
    with server_process(vault, *flags, "--offline-latency", "30") as (doomed, doomed_port):
        async with open_client(None, url=f"ws://127.0.0.1:{doomed_port}/ws") as on_doomed:
            await on_doomed.call("agent.batch", {"calls": [ORAL] * 2})
        leases = redis_server.client()
        for _ in range(100):
            if leases.zcard("cl:agents:leases") == 2:
                break
            await asyncio.sleep(0.05)
        assert leases.zcard("cl:agents:leases") == 2  # both slots held by calls that will never end
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=10)
    with server_process(vault, *flags) as (_, port):
        async with open_client(None, url=f"ws://127.0.0.1:{port}/ws") as survivor:
            result = await survivor.call("agent.call", {"agent": "oral", "input": ORAL["input"]}, timeout=30)
            assert result["ok"] is True  # the dead process's leases ran out


async def test_publishes_wait_in_a_bounded_buffer_while_redis_is_away(redis_server: RedisServer) -> None:
    cluster = Cluster(redis_server.url, "buffering")
    await cluster.start()
    broker = RedisBroker(cluster, buffer_size=5)
    hub = Hub(broker)
    await hub.start()
    try:
        hub.publish("tasks", "task.progress", {"n": 0})
        for _ in range(500):
            if broker.stats()["published"] == 1:
                break
            await asyncio.sleep(0.01)
        redis_server.stop()
        for index in range(1, 9):
            hub.publish("tasks", "task.progress", {"n": index})  # never blocks, never raises
        assert broker.stats()["publish_dropped"] == 3  # the three oldest of eight went
        redis_server.start()
        for _ in range(200):
            if broker.stats()["publish_buffered"] == 0 and broker.stats()["published"] == 6:
                break
            await asyncio.sleep(0.05)
        history = await broker.history("tasks", 0, partial=True)
        assert history is not None
        assert [json.loads(frame)["params"]["n"] for _, frame in history] == [4, 5, 6, 7, 8]
        assert [seq for seq, _ in history] == [2, 3, 4, 5, 6]  # above the seq seen before Redis lost it
    finally:
        await hub.close()
        await cluster.close()


async def test_a_process_that_restarts_settles_its_own_tasks_at_once(redis_server: RedisServer, tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    vault.mkdir()
    port = free_port()
    flags = ("--redis", redis_server.url, "--instance", "steady")
    process = start_server(vault, port, *flags, "--offline-latency", "30")
    try:
        async with open_client(None, url=f"ws://127.0.0.1:{port}/ws") as client:
            task_id = (await client.call("agent.batch", {"calls": [ORAL] * 2}))["task_id"]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        process = start_server(vault, port, *flags)  # at once: its heartbeat has not even expired
        async with open_client(None, url=f"ws://127.0.0.1:{port}/ws") as client:
            record = await client.call("task.get", {"id": task_id})
            assert record["status"] == "failed" and record["error"]["error"] == "INTERRUPTED"
            # Its events go out again: a new start counts its publishes anew, and Redis knows it.
            await client.call("subscribe", {"topics": ["tasks"]})
            again = (await client.call("agent.batch", {"calls": [ORAL]}))["task_id"]
            assert (await client.event("task.created"))["task_id"] == again
    finally:
        process.kill()
        process.wait(timeout=10)
