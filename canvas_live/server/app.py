"""The application factory: routes, the WebSocket endpoint, and the lifespan that owns the services."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from canvas_live.protocol.errors import RpcError
from canvas_live.server.api import OPERATIONS
from canvas_live.server.connection import Connection
from canvas_live.server.dashboard import dashboard_routes
from canvas_live.server.http import http_error, internal_error, rpc_error_response
from canvas_live.server.mcp import McpEndpoint, McpRoute
from canvas_live.server.methods import build_registry
from canvas_live.server.runtime import Runtime
from canvas_live.server.security import HostGuard, refusal
from canvas_live.server.settings import Settings


async def websocket_endpoint(websocket: WebSocket) -> None:
    """`GET /ws`: check the handshake, then hand the socket to a `Connection`."""
    runtime: Runtime = websocket.app.state.runtime
    settings = runtime.settings
    refused = refusal(websocket, settings)
    if refused is not None:
        await websocket.send_denial_response(http_error(*refused))
        return
    if len(runtime.connections) >= settings.max_connections:
        await websocket.send_denial_response(
            http_error(503, "OVERLOADED", f"at most {settings.max_connections} connections", {"retry_after": 1.0})
        )
        return
    await Connection(websocket, runtime).serve()


def create_app(settings: Settings) -> Starlette:
    """Build the Starlette app for `settings`; services start and stop in its lifespan."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runtime = Runtime(settings, build_registry(settings.max_batch))
        app.state.runtime = runtime
        await runtime.start()
        app.state.mcp = mcp = McpEndpoint(runtime)
        # Everything built so far lives as long as the process: keep the collector from
        # rescanning it on every collection, which otherwise shows up in the latency tail.
        gc.collect()
        gc.freeze()
        try:
            async with mcp.serving_http():
                yield
        finally:
            await runtime.close()

    routes = [
        WebSocketRoute("/ws", websocket_endpoint, name="ws"),
        *(operation.route() for operation in OPERATIONS),
        Route("/mcp", McpRoute()),  # MCP's own protocol, described by MCP, not OpenAPI
        *dashboard_routes(),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(HostGuard, settings=settings)],
        exception_handlers={RpcError: rpc_error_response, Exception: internal_error},
    )
