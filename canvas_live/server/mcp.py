"""The MCP endpoint (docs/mcp.md): the learning loop as MCP tools, on `/mcp` and over stdio.

Built on the official SDK's low-level `Server`, so the tool listing is ours to write: each tool is
one JSON-RPC method of the registry, its input schema is generated from that method's own msgspec
params type, and a call is answered by the registry itself (params decoded and checked there, the
same handler, the same named errors), so nothing is implemented twice. A contract error comes back
as a tool error whose structured content is `{"error": ErrorInfo}`, so a model sees `NOT_FOUND` or
`INVALID_PARAMS` with the field at fault and can correct itself.

The workflow tools schedule a background task. With a progress token the call follows the task on
its hub topic (`task:<id>`, replayed from the start, so nothing is missed), forwards its progress as
`notifications/progress`, and answers with the finished task; the call owns the task, so cancelling
the call (`notifications/cancelled`, which the SDK turns into cancelling the handler) cancels it.
Without a token the call answers at once with the task id, as the JSON-RPC method does.

On HTTP the same guard as `/ws` runs first (Origin, then token; `HostGuard` checks the Host of
every request), the SDK's session manager then serves the Streamable HTTP transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import mcp_types as types
import msgspec
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from starlette.requests import HTTPConnection
from starlette.types import Receive, Scope, Send

from canvas_live import NAME, __version__
from canvas_live.protocol.errors import ErrorCode
from canvas_live.protocol.jsonrpc import Request, encode
from canvas_live.protocol.registry import Registry
from canvas_live.server.http import http_error
from canvas_live.server.methods import build_registry
from canvas_live.server.runtime import Context, Runtime
from canvas_live.server.security import refusal
from canvas_live.server.settings import Settings
from canvas_live.services.agents.schemas import EXPLANATION_STYLES
from canvas_live.services.canvas.palette import Palette


@dataclass(frozen=True, slots=True)
class Tool:
    """One MCP tool: the JSON-RPC method it calls, and what a client is told about it."""

    name: str
    method: str
    title: str
    note: str = ""
    """Said after the method's own summary in the tool's description."""
    read_only: bool = False
    destructive: bool = False
    follows_task: bool = False
    """The method schedules a task, which a call with a progress token follows to its end."""
    wraps: str | None = None
    """The key a result that is not a JSON object is returned under (structured content is an object)."""
    legend: bool = False
    """The answer carries the colour legend, so a model knows what each colour code means."""


FOLLOWS = (
    " It runs as a background task. With a progress token the call reports the task's progress and answers"
    " with the finished task (its `result`), and cancelling the call cancels the task; without one it"
    " answers at once with `task_id`: follow it with wait_task."
)

TOOLS = (
    Tool("list_canvases", "canvas.list", "List canvases", read_only=True, wraps="canvases"),
    Tool("read_canvas", "canvas.read", "Read a canvas", " `legend` says what each colour code means.",
         read_only=True, legend=True),
    Tool("add_node", "canvas.addNode", "Add a node",
         ' A text node is {"type": "text", "text": "…", "color": "<code>"}; the codes are in read_canvas\'s legend.'),
    Tool("generate_review", "review.generate", "Generate a review canvas", FOLLOWS, follows_task=True),
    Tool("decompose_node", "learn.decompose", "Decompose a node", FOLLOWS, follows_task=True),
    Tool("score_explanations", "learn.score", "Score explanations", FOLLOWS, follows_task=True),
    Tool("explain_node", "learn.explain", "Explain a node",
         f" Styles: {', '.join(EXPLANATION_STYLES)}." + FOLLOWS,
         follows_task=True),
    Tool("get_task", "task.get", "Get a task", read_only=True),
    Tool("wait_task", "task.wait", "Wait for a task", read_only=True),
    Tool("cancel_task", "task.cancel", "Cancel a task", destructive=True),
)  # fmt: skip
"""The tools, in the order of the learning loop; each is one method of the registry."""

FINAL_EVENTS = frozenset({"task.completed", "task.failed", "task.cancelled"})


def input_schema(params: type[msgspec.Struct]) -> dict[str, Any]:
    """A method's params type as a tool's input schema: an object at the root, nested types under `$defs`."""
    (root,), components = msgspec.json.schema_components([params], ref_template="#/$defs/{name}")
    schema: dict[str, Any] = components.pop(root["$ref"].rsplit("/", 1)[1])
    if components:
        schema["$defs"] = components
    return schema


def describe(tool: Tool, registry: Registry[Context]) -> types.Tool:
    """The `tools/list` entry of a tool, from the method it calls."""
    method = registry.methods[tool.method]
    assert method.params is not None  # every tool's method takes params
    return types.Tool(
        name=tool.name,
        title=tool.title,
        description=f"{method.summary}{tool.note} (JSON-RPC method `{tool.method}`.)",
        input_schema=input_schema(method.params),
        annotations=types.ToolAnnotations(
            title=tool.title,
            read_only_hint=tool.read_only,
            destructive_hint=tool.destructive,
            open_world_hint=False,
        ),
    )


def instructions(palette: Palette) -> str:
    """What a model is told about canvas-live when it connects: the canvases, the colours, the loop."""
    colours = "; ".join(f'"{code}" {entry["state"]} ({entry["means"]})' for code, entry in palette.legend().items())
    return (
        "canvas-live works on a learner's Obsidian canvases (JSON Canvas files in a vault; a canvas is named by "
        "its path without `.canvas`). A node's colour is its learning state: "
        f"{colours}. The learning loop: read_canvas; decompose_node on a red or purple node adds guiding "
        "questions with empty yellow answer nodes; the learner writes their explanations there; "
        "score_explanations recolours the questions by how good the answers are (offline scores are estimates "
        "and only ever raise a colour); explain_node writes an "
        "explanation; generate_review builds a review canvas of recall questions about what is not yet understood."
    )


def answer(value: dict[str, Any], *, error: bool = False) -> types.CallToolResult:
    """A tool result: the value as structured content, and as JSON text for clients that read only text."""
    return types.CallToolResult(
        content=[types.TextContent(text=encode(value).decode())], structured_content=value, is_error=error
    )


def failure(error: Mapping[str, Any]) -> types.CallToolResult:
    """A JSON-RPC error object as a tool error carrying the contract's `ErrorInfo` (named, with its data)."""
    data = dict(error.get("data") or {})
    info: dict[str, Any] = {"code": error["code"], "error": data.pop("error", ""), "message": error["message"]}
    if data:
        info["data"] = data
    return answer({"error": info}, error=True)


class TaskFollower:
    """A hub subscriber of one task's topic that keeps only what a report needs: the latest progress and
    whether the task has finished. Bounded, however many events the task publishes."""

    def __init__(self, task_id: str) -> None:
        self.topic = f"task:{task_id}"
        self.progress: dict[str, Any] = {"done": 0, "total": 0}
        self.finished = False
        self.changed = asyncio.Event()

    def deliver(self, frame: str) -> None:
        """Take in one event of the task (called by the hub; never blocks)."""
        message = msgspec.json.decode(frame)
        event, fields = message["method"], message["params"]
        if event == "task.progress":
            self.progress = fields
        elif event in FINAL_EVENTS:
            self.progress = fields["progress"]
            self.finished = True
        else:
            return  # agent results: the progress events count them
        self.changed.set()


class McpEndpoint:
    """canvas-live's MCP server over one runtime: the tool listing, and the calls through the registry."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.tools = {tool.name: tool for tool in TOOLS}
        self.listing = types.ListToolsResult(tools=[describe(tool, runtime.registry) for tool in TOOLS])
        palette = runtime.canvases.palette
        self.legend = palette.legend()
        self.server: Server[Any] = Server(
            NAME,
            version=__version__,
            title="canvas-live",
            instructions=instructions(palette),
            on_list_tools=self.list_tools,
            on_call_tool=self.call_tool,
        )
        self.manager: StreamableHTTPSessionManager | None = None
        self.closing = False
        """Set while the server shuts down: calls cut off then leave their tasks to the shutdown's grace."""

    async def list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        """`tools/list`: every tool, in one page."""
        return self.listing

    async def call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        """`tools/call`: the tool's method through the registry; a workflow followed when asked to."""
        tool = self.tools.get(params.name)
        if tool is None:
            raise MCPError(
                int(ErrorCode.INVALID_PARAMS),
                f"unknown tool {params.name!r}",
                {"error": ErrorCode.INVALID_PARAMS.name, "field": "name"},
            )
        reply = await self.rpc(tool.method, params.arguments or {})
        if "error" in reply:
            return failure(reply["error"])
        result = reply["result"]
        if tool.follows_task and (params.meta or {}).get("progress_token") is not None:
            return await self.follow(ctx, result["task_id"])
        if tool.wraps is not None:
            result = {tool.wraps: result}
        if tool.legend:
            result["legend"] = self.legend
        return answer(result)

    async def rpc(self, method: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Answer one request as `POST /rpc` would (same decoding, errors, logs and metrics): the response object."""
        request = Request("2.0", method, msgspec.Raw(encode(arguments)), 1)
        reply = await self.runtime.registry.answer(request, Context(self.runtime), websocket=False)
        assert reply is not None  # a request with an id is always answered
        decoded: dict[str, Any] = msgspec.json.decode(reply)
        return decoded

    async def follow(self, ctx: ServerRequestContext[Any, Any], task_id: str) -> types.CallToolResult:
        """Report a task's progress until it ends, then answer with the task; a cancelled call cancels it.

        Progress values only ever grow (the MCP rule): the first report names the task at 0, later
        ones are sent when `done` moves on, the latest message winning.
        """
        follower = TaskFollower(task_id)
        hub = self.runtime.hub
        await hub.subscribe(follower, [follower.topic], {follower.topic: 0}, hub.epoch)
        try:
            await ctx.session.report_progress(0, None, f"task {task_id} scheduled")
            reported = 0
            while True:
                await follower.changed.wait()
                follower.changed.clear()
                progress = follower.progress
                if progress["done"] > reported:
                    reported = progress["done"]
                    await ctx.session.report_progress(reported, progress["total"] or None, progress.get("message"))
                if follower.finished:
                    break
            info = await self.runtime.tasks.wait(task_id, None)
        except anyio.get_cancelled_exc_class():
            if not self.closing:
                with anyio.CancelScope(shield=True):
                    await self.rpc("task.cancel", {"id": task_id})  # CONFLICT if it finished meanwhile: fine
            raise
        finally:
            hub.remove(follower)
        return answer(msgspec.to_builtins(info), error=info.status != "completed")

    @asynccontextmanager
    async def serving_http(self) -> AsyncIterator[None]:
        """Run the SDK's Streamable HTTP session manager for as long as the app lives."""
        settings = self.runtime.settings
        self.manager = StreamableHTTPSessionManager(self.server, max_request_body_size=settings.max_message_size)
        async with self.manager.run():
            try:
                yield
            finally:
                self.closing = True


class McpRoute:
    """`/mcp` as an ASGI app: the guard of every entry point (Origin, then token), then the SDK's transport."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope["app"].state
        refused = refusal(HTTPConnection(scope), state.runtime.settings)
        if refused is not None:
            response = http_error(*refused)
            if refused.status == 401:
                response.headers["WWW-Authenticate"] = f'Bearer realm="{NAME}"'
            await response(scope, receive, send)
            return
        endpoint: McpEndpoint = state.mcp
        assert endpoint.manager is not None
        await endpoint.manager.handle_request(scope, receive, send)


def stdio_settings(settings: Settings) -> Settings:
    """The settings of `canvas-live mcp`: its tasks kept apart from a `serve` on the same vault.

    A process that starts marks the unfinished tasks of its store as interrupted; a desktop app that
    starts `canvas-live mcp` while `canvas-live serve` runs on the same vault must not do that to the
    server's tasks, so by default the stdio server keeps its own store (`<vault>/.canvas-live/mcp`).
    """
    if settings.data_dir is not None:
        return settings
    return dataclasses.replace(settings, data_dir=settings.vault / ".canvas-live" / "mcp")


async def serve_stdio(settings: Settings) -> None:
    """Serve MCP on stdin/stdout, the services in this process, until the client closes stdin or SIGTERM.

    The SDK's transport takes stdout first (pointing the process's own fd 1 at stderr), so nothing
    that starts up later can write a stray line into the protocol.
    """
    async with stdio_server() as (read, write):
        runtime = Runtime(settings, build_registry(settings.max_batch))
        await runtime.start()
        try:
            endpoint = McpEndpoint(runtime)
            main = asyncio.current_task()
            assert main is not None

            def stop() -> None:
                endpoint.closing = True  # a shutdown: running tasks get their grace, as under `serve`
                main.cancel()

            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop)
            print(f"{NAME} {__version__}: MCP over stdio, vault {settings.vault.resolve()}, "
                  f"agents {settings.agent_backend}", file=sys.stderr, flush=True)  # fmt: skip
            await endpoint.server.run(read, write, endpoint.server.create_initialization_options())
        finally:
            await runtime.close()


def run_stdio(settings: Settings) -> int:
    """`canvas-live mcp`: stdout carries the protocol and nothing else (logs go to stderr); exit status 0."""
    with contextlib.suppress(asyncio.CancelledError):  # SIGTERM: a clean stop
        asyncio.run(serve_stdio(stdio_settings(settings)))
    return 0
