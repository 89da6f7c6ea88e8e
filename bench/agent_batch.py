"""Agent batches on the offline backend at a fixed latency L: parallel speed-up, waves, memory, event cost.

Through a real server process (`python -m canvas_live serve --offline-latency L`, pinned to one
core, the client on the other) and a WebSocket client, measured in the same run:
- 10 calls one after another (`agent.call` x 10, the serial baseline) vs one `agent.batch` of 10
  (request sent -> `task.completed` received): target <= 1.05 L, i.e. >= 9.5x over serial;
- a batch of 120 calls vs the ideal ceil(120 / 12) x L: target within 3 %;
- a batch of 1,000 calls, all queued at once: the server's peak RSS over its idle RSS, target < 50 MB.
In process, with no latency (so only overhead is left): 1,000 calls through `call_agents_batch`
directly vs the same calls as an `agent.batch` task (events on `tasks` and `task:<id>`, an
`agent.result` per call, progress, SQLite records): the task machinery's CPU cost per call.

Run: `.venv/bin/python -m bench.agent_batch [--latency 0.2]`; exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
from websockets.asyncio.client import ClientConnection, connect

from bench.lean import CLIENT_CPU, SERVER_CPU, pin
from canvas_live.services.agents import AgentCatalog, AgentService, AgentServiceConfig, OfflineBackend
from canvas_live.services.hub import Hub, MemoryBroker
from canvas_live.services.tasks import BackgroundTaskManager, TaskManagerConfig
from canvas_live.services.tasks.store import SqliteTaskStore
from canvas_live.services.workflows.batch import KIND, BatchParams, batch_kind

ROOT = Path(__file__).resolve().parents[1]
SLOTS = 12
CALL = {"agent": "oral", "input": {"concept": "导数", "material_content": "导数是函数在某一点的瞬时变化率。"}}


class Client:
    """A minimal JSON-RPC client that also hands out events."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.next_id = 0
        self.replies: dict[int, asyncio.Future[Any]] = {}
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            message = msgspec.json.decode(raw)
            if "id" in message:
                self.replies.pop(message["id"]).set_result(message)
            else:
                self.events.put_nowait(message)

    async def call(self, method: str, params: Any = None) -> Any:
        self.next_id += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.replies[self.next_id] = future
        request = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            request["params"] = params
        await self.ws.send(msgspec.json.encode(request))
        reply = await future
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply["result"]

    async def finished(self, task_id: str) -> dict[str, Any]:
        """The terminal event of `task_id` on the `tasks` topic."""
        while True:
            message = await self.events.get()
            params = message["params"]
            if params.get("task_id") == task_id and message["method"] in ("task.completed", "task.failed"):
                return params  # type: ignore[no-any-return]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@contextlib.asynccontextmanager
async def server(latency: float) -> AsyncIterator[tuple[subprocess.Popen[bytes], Client]]:
    """`canvas-live serve` with the offline backend at `latency`, and a client subscribed to `tasks`."""
    with tempfile.TemporaryDirectory() as vault:
        port = free_port()
        command = [sys.executable, "-m", "canvas_live", "serve", "--vault", vault, "--port", str(port)]
        cpus = ["taskset", "-c", str(SERVER_CPU)] if (os.cpu_count() or 1) > 1 else []
        flags = ["--offline-latency", str(latency), "--log-level", "warning"]
        process = subprocess.Popen([*cpus, *command, *flags], cwd=ROOT)
        try:
            async with httpx.AsyncClient() as http:
                for _ in range(400):
                    with contextlib.suppress(httpx.TransportError):
                        if (await http.get(f"http://127.0.0.1:{port}/api/v1/health")).status_code == 200:
                            break
                    await asyncio.sleep(0.05)
            async with connect(f"ws://127.0.0.1:{port}/ws", max_size=None) as ws:
                await ws.recv()  # server.hello
                client = Client(ws)
                await client.call("subscribe", {"topics": ["tasks"]})
                yield process, client
                client.reader.cancel()
        finally:
            process.terminate()
            process.wait(timeout=30)


async def timed_batch(client: Client, calls: int) -> float:
    started = time.perf_counter()
    task_id = (await client.call("agent.batch", {"calls": [CALL] * calls}))["task_id"]
    final = await client.finished(task_id)
    elapsed = time.perf_counter() - started
    assert final["status"] == "completed" and final["result"]["succeeded"] == calls, final.get("error")
    return elapsed


async def end_to_end(latency: float) -> dict[str, float]:
    async with server(latency) as (process, client):
        await timed_batch(client, SLOTS)  # warm up: imports, first SQLite writes
        started = time.perf_counter()
        for _ in range(10):
            await client.call("agent.call", CALL)
        serial = time.perf_counter() - started
        batch10 = min([await timed_batch(client, 10) for _ in range(3)])
        batch120 = await timed_batch(client, 120)
        idle = rss_mb(process.pid)
        peak = idle
        task_id = (await client.call("agent.batch", {"calls": [CALL] * 1000}))["task_id"]
        waiter = asyncio.create_task(client.finished(task_id))
        while not waiter.done():
            peak = max(peak, rss_mb(process.pid))
            await asyncio.wait({waiter}, timeout=0.02)
        info = (await client.call("server.info"))["agents"]
    return {"serial": serial, "batch10": batch10, "batch120": batch120, "idle": idle, "peak": peak, **info}


async def event_overhead(calls: int = 1000, rounds: int = 3) -> dict[str, float]:
    """CPU per call: direct `call_agents_batch` vs the same calls as an `agent.batch` task."""
    hub = Hub(MemoryBroker())
    agents = AgentService(AgentCatalog.load(None), OfflineBackend(0.0), AgentServiceConfig(), hub)
    with tempfile.TemporaryDirectory() as folder:
        tasks = BackgroundTaskManager(SqliteTaskStore(Path(folder) / "tasks.sqlite3"), hub, TaskManagerConfig())
        tasks.register(batch_kind(agents))
        await tasks.start()
        requests = [(agents.prepare(CALL["agent"], CALL["input"]), None) for _ in range(calls)]
        direct, via_task, events = [], [], 0.0
        for _ in range(rounds):
            started = time.process_time()
            await agents.call_agents_batch(requests)
            direct.append(time.process_time() - started)
            published = hub.published
            started = time.process_time()
            info = await tasks.create_task(KIND, msgspec.convert({"calls": [CALL] * calls}, BatchParams))
            await tasks.wait(info.id, 60)
            via_task.append(time.process_time() - started)
            events = hub.published - published
        await tasks.close()
    return {"direct_us": min(direct) / calls * 1e6, "task_us": min(via_task) / calls * 1e6, "events": events}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2, help="offline latency L in seconds (default 0.2)")
    latency = parser.parse_args().latency
    pin(CLIENT_CPU)
    e2e = asyncio.run(end_to_end(latency))
    cost = asyncio.run(event_overhead())
    ideal120 = math.ceil(120 / SLOTS) * latency
    checks = [
        ("batch of 10 / L", e2e["batch10"] / latency, "<= 1.05", e2e["batch10"] <= 1.05 * latency),
        ("serial 10 / batch of 10", e2e["serial"] / e2e["batch10"], ">= 9.5", e2e["serial"] / e2e["batch10"] >= 9.5),
        ("batch of 120 / ideal", e2e["batch120"] / ideal120, "<= 1.03", e2e["batch120"] <= 1.03 * ideal120),
        ("1,000 queued: extra MB", e2e["peak"] - e2e["idle"], "< 50", e2e["peak"] - e2e["idle"] < 50),
        ("peak in flight", e2e["peak_in_flight"], f"== {SLOTS}", e2e["peak_in_flight"] == SLOTS),
    ]
    print(f"offline latency L = {latency * 1000:.0f} ms, max concurrent = {SLOTS}")
    print(f"  10 calls one by one      {e2e['serial'] * 1000:8.1f} ms")
    print(f"  batch of 10              {e2e['batch10'] * 1000:8.1f} ms")
    print(f"  batch of 120             {e2e['batch120'] * 1000:8.1f} ms  (ideal {ideal120 * 1000:.0f} ms)")
    print(f"  1,000 queued calls       RSS {e2e['idle']:.1f} MB idle -> {e2e['peak']:.1f} MB peak")
    extra = cost["task_us"] - cost["direct_us"]
    print(
        f"  task-event overhead      {cost['direct_us']:.0f} us/call direct, {cost['task_us']:.0f} us/call as a task "
        f"(+{extra:.0f} us/call, {cost['events'] / 1000:.1f} events/call published)"
    )
    missed = 0
    for name, value, target, ok in checks:
        print(f"  {name:26} {value:8.3f}  target {target:8}  {'ok' if ok else 'MISSED'}")
        missed += not ok
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
