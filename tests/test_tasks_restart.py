"""A server killed with tasks running, then restarted: nothing is lost track of.

The server runs as its own process (`python -m canvas_live serve`) so that it can be killed with
SIGKILL, the way a crash or an OOM kill ends it: no shutdown code runs at all.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import httpx
import msgspec
from websockets.asyncio.client import connect

from tests.support.process import server_process

ORAL = {"agent": "oral", "input": {"concept": "导数"}}


async def rpc(port: int, method: str, params: Any) -> Any:
    async with connect(f"ws://127.0.0.1:{port}/ws") as ws:
        await ws.recv()  # server.hello
        await ws.send(msgspec.json.encode({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).decode())
        while True:
            message = msgspec.json.decode(await ws.recv())
            if message.get("id") == 1:
                assert "error" not in message, message
                return message["result"]


async def test_tasks_killed_mid_run_read_interrupted_and_finished_ones_keep_their_results(vault: Path) -> None:
    with server_process(vault, "--offline-latency", "0.5") as (process, port):
        finished = (await rpc(port, "agent.batch", {"calls": [ORAL]}))["task_id"]
        assert (await rpc(port, "task.wait", {"id": finished, "timeout": 10}))["status"] == "completed"
        running = (await rpc(port, "agent.batch", {"calls": [ORAL] * 40}))["task_id"]
        assert (await rpc(port, "task.wait", {"id": running, "timeout": 0.3}))["status"] == "running"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    with server_process(vault) as (_, port):
        interrupted = await rpc(port, "task.get", {"id": running})
        assert interrupted["status"] == "failed"
        assert interrupted["error"]["error"] == "INTERRUPTED" and interrupted["finished_at"]
        kept = await rpc(port, "task.get", {"id": finished})
        assert kept["status"] == "completed"
        assert kept["result"]["succeeded"] == 1 and kept["result"]["results"][0]["output"].startswith("## ")
        listed = await rpc(port, "task.list", {})
        assert [task["id"] for task in listed["tasks"]] == [running, finished]
        async with httpx.AsyncClient() as http:
            health = (await http.get(f"http://127.0.0.1:{port}/api/v1/health")).json()
        assert health["tasks"] == {"running": 0, "pending": 0}
