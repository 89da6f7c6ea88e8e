"""A server killed with tasks running, then restarted: nothing is lost track of.

The server runs as its own process (`python -m canvas_live serve`) so that it can be killed with
SIGKILL, the way a crash or an OOM kill ends it: no shutdown code runs at all.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
from websockets.asyncio.client import connect

ORAL = {"agent": "oral", "input": {"concept": "导数"}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server_process(vault: Path, *flags: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`canvas-live serve` in a child process, ready to answer; killed (if still alive) at the end."""
    port = free_port()
    command = [sys.executable, "-m", "canvas_live", "serve", "--vault", str(vault), "--port", str(port), *flags]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else "server exited"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        if process.stderr:
            process.stderr.close()


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
