"""The servers the benchmarks measure, each started as its own process pinned to one core.

`python -m bench.apps NAME PORT` serves one of:
- `canvas-live`: the real app, plus `POST /bench/publish` that publishes through the hub;
- `echo`: a bare Starlette WebSocket endpoint that sends every text frame back (the RPC baseline);
- `plain-fanout`: a minimal Starlette app whose `POST /bench/publish` sends each frame to every
  socket with a plain `await websocket.send_text(...)` loop, no queues (the fan-out baseline).
All run under the same uvicorn options as `canvas-live serve`.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from canvas_live.server.app import create_app
from canvas_live.server.cli import uvicorn_options
from canvas_live.server.runtime import Runtime
from canvas_live.server.settings import Settings

TOPIC = "tasks"


def _payload(index: int, size: int) -> dict[str, Any]:
    return {"task_id": "bench", "done": index, "ts": time.monotonic(), "pad": "x" * size}


async def _paced(count: int, rate: float, publish: Any, size: int) -> None:
    """Call `publish` `count` times, `rate` per second (0: as fast as possible)."""
    start = time.monotonic()
    for index in range(count):
        if rate:
            delay = start + index / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await publish(index, size)


def _params(request: Request) -> tuple[int, float, int]:
    query = request.query_params
    return int(query.get("count", "100")), float(query.get("rate", "0")), int(query.get("size", "64"))


def canvas_live_app(settings: Settings) -> Starlette:
    """The real app with a publish trigger for the fan-out benchmark."""
    app = create_app(settings)

    async def trigger(request: Request) -> Response:
        runtime: Runtime = request.app.state.runtime
        count, rate, size = _params(request)

        async def publish(index: int, size: int) -> None:
            runtime.hub.publish(TOPIC, "task.progress", _payload(index, size))
            if not rate and index % 64 == 63:
                await asyncio.sleep(0)  # a burst publisher still lets the writers run

        asyncio.get_running_loop().create_task(_paced(count, rate, publish, size))
        return Response(status_code=202)

    app.router.routes.append(Route("/bench/publish", trigger, methods=["POST"]))
    return app


def echo_app() -> Starlette:
    """The round-trip baseline: receive a text frame, send it back."""

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                await websocket.send_text(await websocket.receive_text())
        except WebSocketDisconnect:
            pass

    return Starlette(routes=[WebSocketRoute("/ws", echo)])


def plain_fanout_app() -> Starlette:
    """The fan-out baseline: one loop awaiting `send_text` on every socket in turn."""
    sockets: set[WebSocket] = set()
    seq = 0

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        sockets.add(websocket)
        try:
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect:
            sockets.discard(websocket)

    async def trigger(request: Request) -> Response:
        count, rate, size = _params(request)

        async def publish(index: int, size: int) -> None:
            nonlocal seq
            seq += 1
            params = {"topic": TOPIC, "seq": seq, **_payload(index, size)}
            frame = msgspec.json.encode({"jsonrpc": "2.0", "method": "task.progress", "params": params}).decode()
            for websocket in list(sockets):
                await websocket.send_text(frame)

        asyncio.get_running_loop().create_task(_paced(count, rate, publish, size))
        return Response(status_code=202)

    return Starlette(routes=[WebSocketRoute("/ws", endpoint), Route("/bench/publish", trigger, methods=["POST"])])


def main() -> None:
    """Serve the named app on 127.0.0.1:PORT; canvas-live takes extra settings as NAME=VALUE (e.g. redis=URL)."""
    name, port = sys.argv[1], int(sys.argv[2])
    extra = dict(argument.split("=", 1) for argument in sys.argv[3:])
    settings = Settings(vault=Path(tempfile.mkdtemp(prefix="bench-vault-")), port=port, log_level="warning", **extra)  # type: ignore[arg-type]
    apps = {"canvas-live": lambda: canvas_live_app(settings), "echo": echo_app, "plain-fanout": plain_fanout_app}
    options = uvicorn_options(settings)
    if name != "canvas-live":
        options["lifespan"] = "off"
    uvicorn.Server(uvicorn.Config(apps[name](), **options)).run()  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
