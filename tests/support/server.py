"""The real server under uvicorn, in a thread of the test process, on a free port.

`LiveServer` runs uvicorn (uvloop, websockets-sansio: the CLI's own configuration) in a thread, so
tests reach it only through sockets, while coverage still sees the server's code and a test can,
where a story needs it, make the server do something (`live.run(...)`, `on_server_loop`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn
from starlette.applications import Starlette

from canvas_live.server.cli import uvicorn_config
from canvas_live.server.runtime import Runtime
from canvas_live.server.settings import Settings


class LiveServer:
    """A running server: its URLs, and a way to run code on its event loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"
        config = uvicorn_config(settings, port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        factory = self.server.config.get_loop_factory()
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(self._serve())

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        await self.server.serve(sockets=[self.sock])

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)

    @property
    def app(self) -> Starlette:
        """The Starlette app under uvicorn's and the middleware's wrappers."""
        app = self.server.config.loaded_app
        while hasattr(app, "app"):
            app = app.app
        return app  # type: ignore[no-any-return]

    @property
    def runtime(self) -> Runtime:
        return self.app.state.runtime  # type: ignore[no-any-return]

    def run(self, fn: Callable[[], Any]) -> Any:
        """Call `fn` on the server's loop (e.g. a hub publish) and return its result."""
        assert self.loop is not None
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def call() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:  # pragma: no cover - surfaced to the test
                future.set_exception(exc)

        self.loop.call_soon_threadsafe(call)
        return future.result(timeout=10)


class SamePortServer(LiveServer):
    """A server listening on a port a stopped one used: what a client sees when the server restarts."""

    def __init__(self, settings: Settings, port: int) -> None:
        super().__init__(settings)
        self.sock.close()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}/ws"


async def on_server_loop(live: LiveServer, awaitable: Any) -> Any:
    """Await a coroutine on the server's own loop (a service query a workflow would make) from a test."""
    assert live.loop is not None
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(awaitable, live.loop))
