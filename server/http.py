"""HTTP routes: JSON-RPC over `POST /rpc`, the health probe, and the error shape of the HTTP API.

HTTP errors are `{"code": <status>, "error": "<NAME>", "message": "…", "details"?: {…}}`
(DESIGN §8), so every failure names itself the same way on HTTP as on the WebSocket.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from protocol.jsonrpc import encode
from server import __version__
from server.runtime import Context, Runtime
from server.security import token_ok

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


def unauthorized() -> Response:
    """401 with a hint on how to present the token."""
    return http_error(401, "UNAUTHORIZED", "a valid token is required (Authorization: Bearer <token> or ?token=)")


async def rpc(request: Request) -> Response:
    """`POST /rpc`: the same registry as the WebSocket; subscriptions answer -32010."""
    runtime = runtime_of(request)
    if not token_ok(request, runtime.settings):
        return unauthorized()
    limit = runtime.settings.max_message_size
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return http_error(413, "TOO_LARGE", f"request body over {limit} bytes", {"limit": limit})
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return http_error(413, "TOO_LARGE", f"request body over {limit} bytes", {"limit": limit})
    answer = await runtime.registry.handle_frame(bytes(body), Context(runtime), websocket=False)
    if answer is None:
        return Response(status_code=204)
    return Response(answer, media_type=JSON)


async def health(request: Request) -> Response:
    """`GET /api/v1/health`: counters from memory only, no disk I/O, so it stays fast under load."""
    runtime = runtime_of(request)
    if not token_ok(request, runtime.settings):
        return unauthorized()
    settings = runtime.settings
    return json_response(
        {
            "status": "ok",
            "version": __version__,
            "uptime_s": round(runtime.uptime_s, 3),
            "connections": len(runtime.connections),
            "tasks": {"running": 0, "pending": 0},
            "agents": {"in_flight": 0, "max_concurrent": settings.max_concurrent_agents},
        }
    )
