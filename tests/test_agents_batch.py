"""Many agent calls at once: the server-wide limit, batches streaming results, and cancelling a batch."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.support.client import Client, open_client
from tests.support.server import LiveServer

ORAL = {"agent": "oral", "input": {"concept": "导数", "material_content": "导数是函数的瞬时变化率。"}}


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def events_until(client: Client, final: str, topic: str, timeout: float = 10) -> list[dict[str, Any]]:
    """Events (method and params) up to and including the first `final` one on `topic`."""
    seen = []
    while True:
        message = await asyncio.wait_for(client.events.get(), timeout)
        seen.append(message)
        if message["method"] == final and message["params"]["topic"] == topic:
            return seen


async def test_forty_calls_from_four_connections_never_exceed_twelve_in_flight(
    make_server: Callable[..., LiveServer],
) -> None:
    live = make_server(offline_latency=0.15)
    observed: list[int] = []

    async def watch(stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            while not stop.is_set():
                observed.append((await http.get("/api/v1/health")).json()["agents"]["in_flight"])
                await asyncio.sleep(0.01)

    async def ten_calls() -> list[Any]:
        async with open_client(live) as client:
            return await asyncio.gather(*(client.call("agent.call", ORAL) for _ in range(10)))

    stop = asyncio.Event()
    watcher = asyncio.create_task(watch(stop))
    started = time.perf_counter()
    results = await asyncio.gather(*(ten_calls() for _ in range(4)))
    elapsed = time.perf_counter() - started
    stop.set()
    await watcher
    assert all(result["ok"] for batch in results for result in batch)
    assert max(observed) <= 12
    async with open_client(live) as client:
        agents = (await client.call("server.info"))["agents"]
    assert agents["peak_in_flight"] == 12 and agents["in_flight"] == 0 and agents["total"] == 40
    assert elapsed >= 4 * 0.15 * 0.9, "40 calls through 12 slots take four rounds"


async def test_a_batch_pushes_every_result_and_lists_them_all(client: Client) -> None:
    calls = [{"agent": "oral", "input": {"concept": f"c{index}"}, "key": f"k{index}"} for index in range(5)]
    calls.append({"agent": "scoring", "input": {"question_text": "q?", "user_understanding": ""}, "key": "score"})
    await client.call("subscribe", {"topics": ["tasks"]})
    scheduled = await client.call("agent.batch", {"calls": calls})
    assert scheduled["status"] == "scheduled"
    task_id = scheduled["task_id"]
    await client.call(
        "subscribe", {"topics": [f"task:{task_id}"], "since": {f"task:{task_id}": 0}, "epoch": client.hello["epoch"]}
    )
    seen = await events_until(client, "task.completed", f"task:{task_id}")
    mine = [m["params"] for m in seen if m["params"]["topic"] == f"task:{task_id}"]
    pushed = [event for event in mine if "agent" in event]
    assert sorted(event["key"] for event in pushed) == sorted(call["key"] for call in calls)
    assert all(event["task_id"] == task_id and event["ok"] for event in pushed)
    info = await client.call("task.wait", {"id": task_id})
    assert info["status"] == "completed" and info["progress"]["done"] == info["progress"]["total"] == 6
    result = info["result"]
    assert result["succeeded"] == 6 and result["failed"] == 0 and len(result["results"]) == 6
    feed = [m["method"] for m in seen if m["params"]["topic"] == "tasks"]
    assert feed[:2] == ["task.created", "task.started"] and feed[-1] == "task.completed"
    assert [event["seq"] for event in mine] == list(range(1, len(mine) + 1)), "replayed from the start, in order"


async def test_one_failing_call_does_not_sink_the_batch(make_server: Callable[..., LiveServer], tmp_path: Path) -> None:
    folder = tmp_path / "agents"
    folder.mkdir()
    (folder / "custom.md").write_text("---\nname: custom\n---\nDo something.", encoding="utf-8")
    live = make_server(agents_dir=folder)
    async with open_client(live) as client:
        calls = [ORAL, {"agent": "custom", "input": {}, "key": "bad"}, ORAL]
        task_id = (await client.call("agent.batch", {"calls": calls}))["task_id"]
        info = await client.call("task.wait", {"id": task_id})
    assert info["status"] == "completed"
    assert info["result"]["succeeded"] == 2 and info["result"]["failed"] == 1
    failed = next(result for result in info["result"]["results"] if not result["ok"])
    assert (
        failed["key"] == "bad" and failed["error"]["error"] == "UNAVAILABLE" and failed["error"]["category"] == "fatal"
    )


SLOW_AGENT = """
import os, pathlib, subprocess, sys, time
folder = pathlib.Path(sys.argv[1])
child = subprocess.Popen(["sleep", "30"])
(folder / str(os.getpid())).write_text(str(child.pid))
sys.stdin.read()
time.sleep(30)
"""


async def test_cancelling_a_batch_stops_its_calls_and_kills_their_processes(
    make_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    pids = tmp_path / "pids"
    pids.mkdir()
    script = tmp_path / "slow_agent.py"
    script.write_text(SLOW_AGENT, encoding="utf-8")
    live = make_server(
        agent_backend="command", agent_command=f"{sys.executable} {script} {pids}", max_concurrent_agents=4
    )
    async with open_client(live) as client:
        calls = [{**ORAL, "key": str(index)} for index in range(10)]
        task_id = (await client.call("agent.batch", {"calls": calls}))["task_id"]
        await client.call("subscribe", {"topics": [f"task:{task_id}"]})
        deadline = time.monotonic() + 10
        while len(list(pids.iterdir())) < 4:
            assert time.monotonic() < deadline, "four agent processes should start"
            await asyncio.sleep(0.02)
        running = [int(path.name) for path in pids.iterdir()] + [int(path.read_text()) for path in pids.iterdir()]
        assert all(alive(pid) for pid in running)

        cancelled = await client.call("task.cancel", {"id": task_id})
        assert cancelled["status"] == "cancelled" and cancelled["finished_at"]
        # SIGKILL has been sent to every group; a killed process still needs the CPU to finish dying,
        # which on a loaded machine can take a moment.
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in running):
            assert time.monotonic() < deadline, "the agent processes and their children are killed"
            await asyncio.sleep(0.01)
        while (agents := (await client.call("server.info"))["agents"])["in_flight"] or agents["queued"]:
            assert time.monotonic() < deadline, f"every call stops: {agents}"
            await asyncio.sleep(0.01)
        seen = await events_until(client, "task.cancelled", f"task:{task_id}")
        assert not any(m["method"] == "agent.result" for m in seen)
        await asyncio.sleep(0.3)
        assert client.events.empty(), "nothing is published for a task after it is cancelled"
        assert len(list(pids.iterdir())) == 4, "calls still queued never start"
        info = await client.call("task.get", {"id": task_id})
        assert info["status"] == "cancelled" and "result" not in info


async def test_the_command_backend_gets_the_prompt_on_stdin(
    make_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    folder = tmp_path / "agents"
    folder.mkdir()
    (folder / "oral.md").write_text("---\nname: oral\ndescription: mine\n---\nSpeak like a pirate.", encoding="utf-8")
    live = make_server(agent_backend="command", agent_command="cat", agents_dir=folder)
    async with open_client(live) as client:
        result = await client.call("agent.call", ORAL)
    assert result["output"].startswith("Speak like a pirate.")
    assert "导数是函数的瞬时变化率" in result["output"]


async def test_a_failing_command_is_not_retried(make_server: Callable[..., LiveServer]) -> None:
    live = make_server(agent_backend="command", agent_command="sh -c 'echo broken >&2; exit 3'")
    async with open_client(live) as client:
        response = await client.request("agent.call", ORAL)
    error = response["error"]
    assert error["code"] == -32005 and error["data"]["category"] == "non_retryable" and error["data"]["attempts"] == 1
    assert "broken" in error["message"] and error["data"]["exit_status"] == 3


async def test_a_missing_command_is_unavailable(make_server: Callable[..., LiveServer]) -> None:
    for command in ("/nonexistent/agent-cli -p", None):
        live = make_server(agent_backend="command", agent_command=command)
        async with open_client(live) as client:
            response = await client.request("agent.call", ORAL)
        assert response["error"]["code"] == -32010
