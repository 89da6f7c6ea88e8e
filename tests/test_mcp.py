"""The MCP endpoint through the official SDK's client: `/mcp` on the real server, and `canvas-live mcp` on stdio.

An MCP client lists the tools, reads a canvas with its colour legend, generates a review
canvas while progress notifications stream in, cancels a long one, and gets named errors for bad
input; the HTTP endpoint refuses a missing token and a foreign browser Origin like `/ws` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import msgspec
import pytest
from mcp.client.session import ClientSession
from mcp.shared.exceptions import MCPError

from canvas_live.server.methods.canvas import ReadParams
from canvas_live.services.workflows import ReviewParams
from tests.support.canvases import CANVAS_FIXTURES
from tests.support.mcp_client import ProgressLog, mcp_over_http, mcp_over_stdio, structured
from tests.support.server import LiveServer

TOKEN = "s3cret-token"
SOURCE = "thermodynamics"
TOOLS = {
    "list_canvases", "read_canvas", "add_node", "generate_review", "decompose_node", "score_explanations",
    "explain_node", "get_task", "wait_task", "cancel_task",
}  # fmt: skip
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "curl", "version": "1"}},
}


@pytest.fixture
def learning_vault(vault: Path) -> Path:
    """The vault with an English learning canvas (Canvas Learning System colours: red "4", purple "3")."""
    shutil.copy(CANVAS_FIXTURES / "learning" / f"{SOURCE}.canvas", vault)
    return vault


@pytest.fixture
def serve(learning_vault: Path, make_server: Callable[..., LiveServer]) -> Callable[..., LiveServer]:
    """A token-guarded server on the learning vault; agent calls one at a time, each taking `latency` seconds."""

    def start(latency: float = 0.05, **overrides: Any) -> LiveServer:
        settings = {"palette": "cls", "token": TOKEN, "offline_latency": latency, "max_concurrent_agents": 1}
        return make_server(**settings, **overrides)

    return start


def targets(vault: Path) -> int:
    """The red and purple text nodes of the source canvas: one step of a review each."""
    nodes = msgspec.json.decode((vault / f"{SOURCE}.canvas").read_bytes())["nodes"]
    return sum(node.get("color") in ("4", "3") for node in nodes)


async def test_tools_take_the_methods_own_params_and_a_canvas_comes_with_its_legend(
    serve: Callable[..., LiveServer],
) -> None:
    async with mcp_over_http(serve(), TOKEN) as session:
        assert "red (not understood)" in (session.instructions or "")
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
        assert set(tools) == TOOLS
        for tool, params in (("generate_review", ReviewParams), ("read_canvas", ReadParams)):
            schema = msgspec.json.schema(params)
            assert tools[tool].input_schema == schema["$defs"][params.__name__]
        assert tools["read_canvas"].annotations and tools["read_canvas"].annotations.read_only_hint
        assert "review.generate" in (tools["generate_review"].description or "")

        listed = structured(await session.call_tool("list_canvases", {}))
        assert [entry["name"] for entry in listed["canvases"]] == [SOURCE]
        canvas = structured(await session.call_tool("read_canvas", {"name": SOURCE, "color": "red"}))
        assert canvas["legend"]["4"] == {"state": "red", "means": "not understood"}
        assert canvas["legend"]["6"] == {"state": "yellow", "means": "the learner's own explanation"}
        assert canvas["legend"]["1"]["state"] == "red"  # older Canvas Learning System files use "1" for red
        assert canvas["nodes"] and all(node["color"] == "4" for node in canvas["nodes"])

        added = structured(
            await session.call_tool(
                "add_node", {"name": SOURCE, "node": {"type": "text", "text": "Why?", "color": "4"}}
            )
        )
        again = structured(await session.call_tool("read_canvas", {"name": SOURCE}))
        assert again["version"] == added["version"]
        assert added["node"] in again["nodes"]


async def test_a_review_reports_progress_and_answers_with_the_tasks_result(
    serve: Callable[..., LiveServer], learning_vault: Path
) -> None:
    steps = targets(learning_vault)
    async with mcp_over_http(serve(), TOKEN) as session:
        progress = ProgressLog()
        result = await session.call_tool("generate_review", {"canvas": SOURCE}, progress_callback=progress)
        assert not result.is_error
        task = structured(result)
        assert task["status"] == "completed" and task["kind"] == "review.generate"
        assert progress.seen[0] == (0, None, f"task {task['id']} scheduled")
        values = [value for value, _, _ in progress.seen]
        assert values == sorted(set(values)) and len(values) >= 3  # one step at a time, every value new
        assert progress.seen[-1][:2] == (steps, steps)
        stored = structured(await session.call_tool("get_task", {"id": task["id"]}))
        assert stored["result"] == task["result"] and stored["status"] == "completed"
        assert (learning_vault / task["result"]["path"]).is_file()


async def test_without_a_progress_token_a_workflow_answers_at_once(serve: Callable[..., LiveServer]) -> None:
    async with mcp_over_http(serve(), TOKEN) as session:
        scheduled = structured(await session.call_tool("score_explanations", {"canvas": SOURCE}))
        assert scheduled["status"] == "scheduled"
        done = structured(await session.call_tool("wait_task", {"id": scheduled["task_id"], "timeout": 20}))
        assert done["status"] == "completed" and done["kind"] == "learn.score"


@pytest.mark.parametrize("era", ["handshake", "discover"])
async def test_cancelling_the_call_cancels_the_task(
    serve: Callable[..., LiveServer], learning_vault: Path, era: str
) -> None:
    live = serve(latency=5.0)
    async with mcp_over_http(live, TOKEN, era) as session:
        progress = ProgressLog()
        with anyio.move_on_after(20) as waited:
            async with anyio.create_task_group() as calls:
                calls.start_soon(
                    lambda: session.call_tool("generate_review", {"canvas": SOURCE}, progress_callback=progress)
                )
                await progress.first.wait()
                calls.cancel_scope.cancel()
        assert not waited.cancelled_caught
        task = structured(await session.call_tool("wait_task", {"id": progress.task_id, "timeout": 10}))
        assert task["status"] == "cancelled"
    assert [path.name for path in learning_vault.glob("*.canvas")] == [f"{SOURCE}.canvas"]  # no review written


@pytest.mark.parametrize(("latency", "status"), [(0.3, "completed"), (5.0, "failed")])
async def test_a_server_shutting_down_gives_the_followed_task_its_grace(
    serve: Callable[..., LiveServer], restart: Callable[[LiveServer], LiveServer], latency: float, status: str
) -> None:
    live = serve(latency, shutdown_grace=1.5)
    progress = ProgressLog()

    async def review(session: ClientSession) -> None:
        with contextlib.suppress(MCPError):  # cut off when the task outlives the grace
            await session.call_tool("generate_review", {"canvas": SOURCE}, progress_callback=progress)

    async with mcp_over_http(live, TOKEN) as session:
        await session.list_tools()  # so that an answer needs no new listing from a server that is gone
        async with anyio.create_task_group() as calls:
            calls.start_soon(review, session)
            await progress.first.wait()
            await asyncio.to_thread(live.stop)
    again = restart(live)
    async with httpx.AsyncClient(base_url=again.base_url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        asked = {"jsonrpc": "2.0", "id": 1, "method": "task.get", "params": {"id": progress.task_id}}
        task = (await http.post("/rpc", json=asked)).json()["result"]
    assert task["status"] == status  # finished within the grace, else interrupted: never cancelled
    if status == "failed":
        assert task["error"]["error"] == "INTERRUPTED"


async def test_bad_input_is_a_tool_error_with_the_contracts_name(serve: Callable[..., LiveServer]) -> None:
    async with mcp_over_http(serve(), TOKEN) as session:
        cases = [
            ("read_canvas", {"name": 5}, "INVALID_PARAMS", {"field": "name"}),
            ("read_canvas", {"name": "../outside"}, "FORBIDDEN_PATH", {}),
            ("read_canvas", {"name": "missing"}, "NOT_FOUND", {"kind": "canvas"}),
            ("read_canvas", {"name": SOURCE, "colour": "red"}, "INVALID_PARAMS", {"field": "colour"}),
            ("add_node", {"name": SOURCE, "node": {"type": "text", "text": "x", "x": 1.5}}, "INVALID_PARAMS",
             {"field": "node.x"}),
            ("decompose_node", {"canvas": SOURCE, "node_id": "nope"}, "NOT_FOUND", {"kind": "node"}),
            ("cancel_task", {"id": "0000"}, "NOT_FOUND", {"kind": "task"}),
        ]  # fmt: skip
        for tool, arguments, name, data in cases:
            result = await session.call_tool(tool, arguments)
            assert result.is_error, (tool, arguments)
            error = structured(result)["error"]
            assert error["error"] == name and error["message"], (tool, arguments, error)
            assert data.items() <= error.get("data", {}).items(), (tool, arguments, error)
        with pytest.raises(MCPError) as unknown:
            await session.call_tool("format_disk", {})
        assert unknown.value.code == -32602 and "format_disk" in unknown.value.message


async def test_http_is_guarded_like_the_websocket(serve: Callable[..., LiveServer]) -> None:
    live = serve()
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as http:
        anonymous = await http.post("/mcp", json=INITIALIZE, headers=headers)
        assert anonymous.status_code == 401 and anonymous.json()["error"] == "UNAUTHORIZED"
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        signed = {**headers, "Authorization": f"Bearer {TOKEN}"}
        foreign = await http.post("/mcp", json=INITIALIZE, headers={**signed, "Origin": "https://evil.example"})
        assert foreign.status_code == 403 and foreign.json()["error"] == "FORBIDDEN_ORIGIN"
        rebound = await http.post("/mcp", json=INITIALIZE, headers={**signed, "Host": "evil.example"})
        assert rebound.status_code == 421
        obsidian = await http.post("/mcp", json=INITIALIZE, headers={**signed, "Origin": "app://obsidian.md"})
        assert obsidian.status_code == 200 and obsidian.headers.get("mcp-session-id")


async def test_stdio_serves_the_same_tools_in_process(learning_vault: Path) -> None:
    steps = targets(learning_vault)
    with tempfile.TemporaryFile("w+") as errlog:
        flags = ("--palette", "cls", "--offline-latency", "0.5")
        async with mcp_over_stdio(learning_vault, *flags, errlog=errlog) as session:
            assert {tool.name for tool in (await session.list_tools()).tools} == TOOLS
            progress = ProgressLog()
            result = await session.call_tool("generate_review", {"canvas": SOURCE}, progress_callback=progress)
            task = structured(result)
            assert task["status"] == "completed" and progress.seen[-1][:2] == (steps, steps)
            assert (learning_vault / task["result"]["path"]).is_file()

            slow = ProgressLog()
            async with anyio.create_task_group() as calls:
                calls.start_soon(
                    lambda: session.call_tool(
                        "explain_node",
                        {"canvas": SOURCE, "node_id": "r000000000000001", "style": "oral"},
                        progress_callback=slow,
                    )
                )
                await slow.first.wait()
                calls.cancel_scope.cancel()
            cancelled = structured(await session.call_tool("wait_task", {"id": slow.task_id, "timeout": 10}))
            assert cancelled["status"] == "cancelled"
        errlog.seek(0)
        logged = errlog.read()
    assert "MCP over stdio" in logged and str(learning_vault.resolve()) in logged
    assert (learning_vault / ".canvas-live" / "mcp" / "tasks.sqlite3").is_file()  # its own task store
