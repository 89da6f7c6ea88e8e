"""HTTP routes: JSON-RPC over `POST /rpc`, the health probe, the task API, and the HTTP error shape.

HTTP errors are `{"code": <status>, "error": "<NAME>", "message": "…", "details"?: {…}}`
(docs/protocol.md), so every failure names itself the same way on HTTP as on the WebSocket.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from canvas_live import __version__
from canvas_live.protocol.errors import ErrorCode, ErrorInfo, RpcError, convert_params, misfit
from canvas_live.protocol.jsonrpc import encode, too_deep
from canvas_live.server.methods import learn
from canvas_live.server.methods.tasks import TaskListParams
from canvas_live.server.runtime import Context, Runtime
from canvas_live.server.security import refusal
from canvas_live.services.workflows import ReviewParams

JSON = "application/json"


class HttpError(msgspec.Struct, omit_defaults=True):
    """The HTTP API's one error shape: the status, the error's stable name, words for people, details."""

    code: Annotated[int, msgspec.Meta(description="The HTTP status.")]
    error: Annotated[str, msgspec.Meta(description="The stable UPPER_SNAKE name (`NOT_FOUND`, `UNAUTHORIZED`, …).")]
    message: str
    details: dict[str, Any] | None = None


class HealthAgents(msgspec.Struct):
    """The agent calls running, waiting and made, and the backend's circuit state."""

    in_flight: int
    max_concurrent: int
    peak_in_flight: int
    queued: int
    total: int
    failed: int
    circuit: str


class HealthRedis(msgspec.Struct):
    """The shared Redis as this process last saw it (the heartbeat's word, from memory)."""

    url: Annotated[str, msgspec.Meta(description="The Redis URL, its password masked.")]
    reachable: bool


class Health(msgspec.Struct, omit_defaults=True):
    """`GET /api/v1/health`: `degraded` when a part does not work (`problems` says which and why)."""

    status: Literal["ok", "degraded"]
    problems: dict[str, ErrorInfo]
    version: str
    uptime_s: float
    connections: int
    tasks: Annotated[dict[str, int], msgspec.Meta(description="Unfinished tasks: `running` and `pending`.")]
    agents: HealthAgents
    instance: Annotated[str, msgspec.Meta(description="This process's name among those sharing one Redis.")]
    engine: Annotated[str, msgspec.Meta(description="What carries events and tasks: `memory` or `redis`.")]
    redis: HealthRedis | None = None
    """With `--redis`: where it is and whether this process reaches it."""


class Readiness(msgspec.Struct):
    """`GET /api/v1/ready` when the server can take work."""

    status: Literal["ready"]


def json_response(body: Any, status: int = 200) -> Response:
    """A compact JSON response encoded with msgspec."""
    return Response(encode(body), status_code=status, media_type=JSON)


def http_error(status: int, error: str, message: str, details: dict[str, Any] | None = None) -> Response:
    """The HTTP API's one error shape."""
    return json_response(HttpError(status, error, message, details or None), status)


def runtime_of(request: Request) -> Runtime:
    """The runtime the lifespan put on the app state."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def refused(request: Request, runtime: Runtime) -> Response | None:
    """The answer to a request without the token or from a foreign browser origin; None when it may go on."""
    why = refusal(request, runtime.settings)
    return None if why is None else http_error(*why)


async def read_body(request: Request, limit: int) -> bytes | Response:
    """The request body, or a 413 as soon as it is known to be over `limit` (declared or streamed)."""
    too_large = http_error(413, "TOO_LARGE", f"request body over {limit} bytes", {"limit": limit})
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return too_large
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                return too_large
    except ClientDisconnect:  # gone mid-body (or cut off by the gate): nobody to answer, nothing to log
        return Response(status_code=400)
    return bytes(body)


async def rpc(request: Request) -> Response:
    """`POST /rpc`: the same registry as the WebSocket; subscriptions answer -32010."""
    runtime = runtime_of(request)
    denied = refused(request, runtime)
    if denied is not None:
        return denied
    body = await read_body(request, runtime.settings.max_message_size)
    if isinstance(body, Response):
        return body
    answer = await runtime.registry.handle_frame(body, Context(runtime, request), websocket=False)
    if answer is None:
        return Response(status_code=204)
    return Response(answer, media_type=JSON)


async def metrics(request: Request) -> Response:
    """`GET /metrics`: the Prometheus text exposition, under the same token and Origin rule as the API."""
    runtime = runtime_of(request)
    denied = refused(request, runtime)
    if denied is not None:
        return denied
    assert runtime.metrics is not None
    return Response(runtime.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


async def ready(request: Request) -> Response:
    """`GET /api/v1/ready`: 200 when the server can take work, 503 while starting, shutting down, or
    while the task store cannot be written (for orchestrators; `/api/v1/health` is liveness)."""
    runtime = runtime_of(request)
    denied = refused(request, runtime)
    if denied is not None:
        return denied
    problems = runtime.problems() if runtime.ready else {}
    if runtime.ready and not problems:
        return json_response(Readiness("ready"))
    reason = "; ".join(info.message for info in problems.values()) if problems else "starting or shutting down"
    return http_error(503, "UNAVAILABLE", f"not ready: {reason}", {"problems": problems} if problems else None)


async def health(request: Request) -> Response:
    """`GET /api/v1/health`: counters from memory only, no disk I/O, so it stays fast under load."""
    runtime = runtime_of(request)
    denied = refused(request, runtime)
    if denied is not None:
        return denied
    agents = runtime.agents.stats()
    problems = runtime.problems()
    return json_response(
        Health(
            "degraded" if problems else "ok",
            problems,
            __version__,
            round(runtime.uptime_s, 3),
            len(runtime.connections),
            runtime.tasks.counts(),
            HealthAgents(
                agents.in_flight,
                agents.max_concurrent,
                agents.peak_in_flight,
                agents.queued,
                agents.total,
                agents.failed,
                agents.circuit,
            ),
            runtime.instance,
            runtime.hub.engine,
            None if runtime.cluster is None else HealthRedis(runtime.cluster.where, runtime.cluster.reachable),
        )
    )


HTTP_STATUS = {
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


async def rpc_error_response(request: Request, error: Exception) -> Response:
    """A contract error raised by a route, in the HTTP error shape with the status that matches its code.

    Installed as the app's handler for `RpcError`, so routes just raise.
    """
    assert isinstance(error, RpcError)
    return http_error(HTTP_STATUS.get(error.code, 500), error.name, error.message, error.data or None)


S = TypeVar("S", bound=msgspec.Struct)


def decode_body(data: bytes, kind: type[S], aliases: dict[str, str] | None = None) -> S:
    """A JSON body as the params type `kind`, older names in `aliases` accepted; -32602 (400) if it does not fit."""
    try:
        value = msgspec.json.decode(data)
    except msgspec.DecodeError:
        raise RpcError(ErrorCode.PARSE_ERROR, "parse error: the body is not valid JSON") from None
    except RecursionError:
        raise too_deep() from None
    if isinstance(value, dict):
        for old, new in (aliases or {}).items():
            if old in value and new not in value:
                value[new] = value.pop(old)
    return convert_params(value, kind)


Endpoint = Callable[[Request, Runtime], Awaitable[Response]]


def api(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
    """An HTTP API route: the Origin and the token are checked first (a contract error it raises is
    answered by the app's `RpcError` handler)."""

    @functools.wraps(endpoint)
    async def route(request: Request) -> Response:
        runtime = runtime_of(request)
        denied = refused(request, runtime)
        return denied if denied is not None else await endpoint(request, runtime)

    return route


@api
async def tasks_list(request: Request, runtime: Runtime) -> Response:
    """`GET /api/v1/tasks?status=&kind=&canvas=&limit=&before=`: tasks newest first, as `task.list`."""
    query = {key: value for key, value in request.query_params.items() if key != "token"}
    try:
        params = msgspec.convert(query, TaskListParams, strict=False)  # query values are all strings
    except msgspec.ValidationError as exc:
        raise misfit(exc, "invalid query") from None
    return json_response(await runtime.tasks.list(params.query()))


@api
async def task_get(request: Request, runtime: Runtime) -> Response:
    """`GET /api/v1/tasks/{id}`: one task, as `task.get`."""
    return json_response(await runtime.tasks.get(request.path_params["task_id"]))


@api
async def task_cancel(request: Request, runtime: Runtime) -> Response:
    """`POST /api/v1/tasks/{id}/cancel`: cancel a task, as `task.cancel` (409 when it has finished)."""
    return json_response(await runtime.tasks.cancel(request.path_params["task_id"]))


@api
async def review_generate(request: Request, runtime: Runtime) -> Response:
    """`POST /api/v1/review/generate`: 202 with the task id at once; the job starts once the answer is out.

    The body is `review.generate`'s params (`canvas_name` is accepted for `canvas`, as earlier
    versions named it). The task is recorded before the answer (so its id is real and
    `GET /api/v1/tasks/{id}` finds it) and started by Starlette's `BackgroundTask` on the response.
    """
    data = await read_body(request, runtime.settings.max_message_size)
    if isinstance(data, Response):
        return data
    params = decode_body(data, ReviewParams, aliases={"canvas_name": "canvas"})
    info = await runtime.workflows.review(params, start=False)
    scheduled = learn.scheduled(info)

    async def launch() -> None:  # async, so Starlette runs it on the loop rather than in a thread
        runtime.tasks.launch(info.id)

    return Response(encode(scheduled), 202, media_type=JSON, background=BackgroundTask(launch))
