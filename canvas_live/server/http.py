"""HTTP routes: JSON-RPC over `POST /rpc`, the health probe, the task API, and the HTTP error shape.

HTTP errors are `{"code": <status>, "error": "<NAME>", "message": "…", "details"?: {…}}`
(DESIGN §8), so every failure names itself the same way on HTTP as on the WebSocket.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from canvas_live import __version__
from canvas_live.protocol.errors import ErrorCode, RpcError
from canvas_live.protocol.jsonrpc import encode
from canvas_live.server.methods import learn
from canvas_live.server.methods.tasks import TaskListParams
from canvas_live.server.runtime import Context, Runtime
from canvas_live.server.security import origin_ok, token_ok

JSON = "application/json"


def json_response(body: Any, status: int = 200) -> Response:
    """A compact JSON response encoded with msgspec."""
    return Response(encode(body), status_code=status, media_type=JSON)


def http_error(status: int, error: str, message: str, details: dict[str, Any] | None = None) -> Response:
    """The HTTP API's one error shape."""
    body: dict[str, Any] = {"code": status, "error": error, "message": message}
    if details:
        body["details"] = details
    return json_response(body, status)


def runtime_of(request: Request) -> Runtime:
    """The runtime the lifespan put on the app state."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def refused(request: Request, runtime: Runtime) -> Response | None:
    """The answer to a request without the token or from a foreign browser origin; None when it may go on."""
    if not origin_ok(request, runtime.settings):
        return http_error(403, "FORBIDDEN_ORIGIN", f"origin {request.headers.get('origin', '')!r} is not allowed")
    if not token_ok(request, runtime.settings):
        return unauthorized()
    return None


def unauthorized() -> Response:
    """401 with a hint on how to present the token."""
    return http_error(401, "UNAUTHORIZED", "a valid token is required (Authorization: Bearer <token> or ?token=)")


async def read_body(request: Request, limit: int) -> bytes | Response:
    """The request body, or a 413 as soon as it is known to be over `limit` (declared or streamed)."""
    too_large = http_error(413, "TOO_LARGE", f"request body over {limit} bytes", {"limit": limit})
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return too_large
    return bytes(body)


async def rpc(request: Request) -> Response:
    """`POST /rpc`: the same registry as the WebSocket; subscriptions answer -32010."""
    runtime = runtime_of(request)
    refusal = refused(request, runtime)
    if refusal is not None:
        return refusal
    body = await read_body(request, runtime.settings.max_message_size)
    if isinstance(body, Response):
        return body
    answer = await runtime.registry.handle_frame(body, Context(runtime), websocket=False)
    if answer is None:
        return Response(status_code=204)
    return Response(answer, media_type=JSON)


async def health(request: Request) -> Response:
    """`GET /api/v1/health`: counters from memory only, no disk I/O, so it stays fast under load."""
    runtime = runtime_of(request)
    if not token_ok(request, runtime.settings):
        return unauthorized()
    agents = runtime.agents.stats()
    problems = runtime.problems()
    return json_response(
        {
            "status": "degraded" if problems else "ok",
            "problems": problems,
            "version": __version__,
            "uptime_s": round(runtime.uptime_s, 3),
            "connections": len(runtime.connections),
            "tasks": runtime.tasks.counts(),
            "agents": {
                "in_flight": agents.in_flight,
                "max_concurrent": agents.max_concurrent,
                "peak_in_flight": agents.peak_in_flight,
                "queued": agents.queued,
                "total": agents.total,
                "failed": agents.failed,
                "circuit": agents.circuit,
            },
        }
    )


_HTTP_STATUS = {
    ErrorCode.PARSE_ERROR: 400,
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.INVALID_PARAMS: 400,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.INVALID_CANVAS: 422,
    ErrorCode.FORBIDDEN_PATH: 403,
    ErrorCode.AGENT_FAILED: 502,
    ErrorCode.CIRCUIT_OPEN: 503,
    ErrorCode.OVERLOADED: 429,
    ErrorCode.TIMEOUT: 504,
    ErrorCode.CANCELLED: 409,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.STORAGE: 507,
    ErrorCode.BUSY: 503,
}
"""The HTTP status of each contract error on the HTTP API (bugs, -32603, are 500)."""


async def internal_error(request: Request, exc: Exception) -> Response:
    """Any other failure: logged by Starlette, answered in the contract's shape with nothing leaked."""
    return http_error(500, "INTERNAL_ERROR", "internal error")


def rpc_error_response(error: RpcError) -> Response:
    """An `RpcError` in the HTTP error shape, with the status that matches its code."""
    return http_error(_HTTP_STATUS.get(error.code, 500), error.name, error.message, error.data or None)


Endpoint = Callable[[Request, Runtime], Awaitable[Response]]


def api(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    """An HTTP API route: the token is checked first, and a contract error becomes the HTTP error shape."""

    @functools.wraps(endpoint)
    async def route(request: Request) -> Response:
        runtime = runtime_of(request)
        refusal = refused(request, runtime)
        if refusal is not None:
            return refusal
        try:
            return await endpoint(request, runtime)
        except RpcError as exc:
            return rpc_error_response(exc)

    return route


@api
async def tasks_list(request: Request, runtime: Runtime) -> Response:
    """`GET /api/v1/tasks?status=&kind=&canvas=&limit=&before=`: tasks newest first, as `task.list`."""
    query = {key: value for key, value in request.query_params.items() if key != "token"}
    try:
        params = msgspec.convert(query, TaskListParams, strict=False)
    except msgspec.ValidationError as exc:
        return http_error(400, "INVALID_PARAMS", f"invalid query: {exc}")
    return json_response(await runtime.tasks.list(params.query()))


@api
async def task_get(request: Request, runtime: Runtime) -> Response:
    """`GET /api/v1/tasks/{id}`: one task, as `task.get`."""
    return json_response(await runtime.tasks.get(request.path_params["task_id"]))


@api
async def task_cancel(request: Request, runtime: Runtime) -> Response:
    """`POST /api/v1/tasks/{id}/cancel`: cancel a task, as `task.cancel` (409 when it has finished)."""
    return json_response(await runtime.tasks.cancel(request.path_params["task_id"]))


class ReviewRequest(msgspec.Struct, forbid_unknown_fields=True):
    """`POST /api/v1/review/generate` body."""

    canvas_name: str
    node_ids: list[str] | None = None


@api
async def review_generate(request: Request, runtime: Runtime) -> Response:
    """`POST /api/v1/review/generate`: 202 with the task id at once; the job starts once the answer is out.

    The task is recorded before the answer (so its id is real and `GET /api/v1/tasks/{id}` finds
    it) and started by Starlette's `BackgroundTask` on the response.
    """
    data = await read_body(request, runtime.settings.max_message_size)
    if isinstance(data, Response):
        return data
    try:
        body = msgspec.json.decode(data, type=ReviewRequest)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        return http_error(400, "INVALID_PARAMS", f"invalid body: {exc}")
    info = await runtime.workflows.review(body.canvas_name, body.node_ids, start=False)
    scheduled = learn.scheduled(info)

    async def launch() -> None:  # async, so Starlette runs it on the loop rather than in a thread
        runtime.tasks.launch(info.id)

    return Response(encode(scheduled), 202, media_type=JSON, background=BackgroundTask(launch))
