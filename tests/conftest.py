"""Fixtures that start the real server under uvicorn on a free port and talk to it over the wire.

`LiveServer` runs uvicorn (uvloop, websockets-sansio: the CLI's own configuration) in a thread of
the test process, so tests reach it only through sockets, while coverage still sees the server's
code and a test can, where a story needs it, make the server publish (`live.run(...)`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect

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
    def runtime(self) -> Runtime:
        app = self.server.config.loaded_app
        while hasattr(app, "app"):
            app = app.app
        return app.state.runtime  # type: ignore[no-any-return]

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


@pytest.fixture
def vault(tmp_path: Path) -> Path:
    """An empty vault folder for one test."""
    path = tmp_path / "vault"
    path.mkdir()
    return path


@pytest.fixture
def make_server(vault: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start servers with settings overridden per test; all are stopped at the end."""
    started: list[LiveServer] = []

    def make(**overrides: Any) -> LiveServer:
        settings = Settings(**{"vault": vault, "port": 0, **overrides})
        live = LiveServer(settings).start()
        started.append(live)
        return live

    yield make
    for live in started:
        live.stop()


@pytest.fixture
def live(make_server: Callable[..., LiveServer]) -> LiveServer:
    """A server with default settings on an empty vault."""
    return make_server()


class RpcError(Exception):
    """A JSON-RPC error answered by the server."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error['code']} {error['message']}")
        self.code: int = error["code"]
        self.message: str = error["message"]
        self.data: dict[str, Any] = error.get("data") or {}


@dataclasses.dataclass
class Client:
    """A test's JSON-RPC client: calls by id, events in a queue, the hello kept."""

    ws: ClientConnection
    hello: dict[str, Any]
    events: asyncio.Queue[dict[str, Any]] = dataclasses.field(default_factory=asyncio.Queue)
    replies: asyncio.Queue[Any] = dataclasses.field(default_factory=asyncio.Queue)
    pending: dict[Any, asyncio.Future[Any]] = dataclasses.field(default_factory=dict)
    next_id: int = 0
    reader: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        async for raw in self.ws:
            message = msgspec.json.decode(raw)
            if isinstance(message, dict) and "id" not in message:
                await self.events.put(message)
                continue
            future = self.pending.pop(message["id"], None) if isinstance(message, dict) else None
            if future is not None and not future.done():
                future.set_result(message)
            else:
                await self.replies.put(message)

    async def send_raw(self, frame: str | bytes, timeout: float = 5) -> Any:
        """Send a frame as is and return the next reply that no `call` is waiting for."""
        await self.ws.send(frame)
        return await asyncio.wait_for(self.replies.get(), timeout)

    async def no_reply(self, wait: float = 0.3) -> None:
        """Assert that nothing but events arrives for a while."""
        with contextlib.suppress(TimeoutError):
            reply = await asyncio.wait_for(self.replies.get(), wait)
            raise AssertionError(f"unexpected reply {reply!r}")

    async def request(self, method: str, params: Any = None, timeout: float = 10) -> dict[str, Any]:
        """Send a request and return the whole response object."""
        self.next_id += 1
        request_id = self.next_id
        frame: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": request_id}
        if params is not None:
            frame["params"] = params
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        await self.ws.send(msgspec.json.encode(frame).decode())
        return await asyncio.wait_for(future, timeout)  # type: ignore[no-any-return]

    async def call(self, method: str, params: Any = None, timeout: float = 10) -> Any:
        """Call a method; return its result or raise `RpcError`."""
        response = await self.request(method, params, timeout)
        if "error" in response:
            raise RpcError(response["error"])
        return response["result"]

    async def event(self, method: str | None = None, timeout: float = 5) -> dict[str, Any]:
        """The next event (optionally the next of one type, skipping others); its params."""
        while True:
            message = await asyncio.wait_for(self.events.get(), timeout)
            if method is None or message["method"] == method:
                return message["params"]  # type: ignore[no-any-return]

    async def close(self) -> None:
        await self.ws.close()
        if self.reader is not None:
            self.reader.cancel()


@contextlib.asynccontextmanager
async def open_client(live: LiveServer, **kwargs: Any) -> AsyncIterator[Client]:
    """Connect to `live`, read `server.hello`, and read everything else in the background."""
    url = kwargs.pop("url", live.ws_url)
    async with connect(url, **kwargs) as ws:
        hello = msgspec.json.decode(await asyncio.wait_for(ws.recv(), 5))
        assert hello["method"] == "server.hello"
        client = Client(ws, hello["params"])
        client.reader = asyncio.create_task(client._read())
        try:
            yield client
        finally:
            client.reader.cancel()


@pytest.fixture
async def client(live: LiveServer) -> AsyncIterator[Client]:
    """A connected client of the default server."""
    async with open_client(live) as connected:
        yield connected


@pytest.fixture
async def http(live: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the default server."""
    async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as session:
        yield session


CANVAS_FIXTURES = Path(__file__).resolve().parent / "fixtures"


def ordered(data: bytes) -> bytes:
    """A JSON document re-encoded compactly: equal for two files only with the same keys, order and values."""
    return msgspec.json.encode(msgspec.json.decode(data))


async def on_server_loop(live: LiveServer, awaitable: Any) -> Any:
    """Await a coroutine on the server's own loop (a service query a workflow would make) from a test."""
    assert live.loop is not None
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(awaitable, live.loop))


@dataclasses.dataclass
class Reply:
    """One scripted answer of the fake model provider."""

    status: int = 200
    content: str = ""
    body: Any = None
    delay: float = 0.0
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


class FakeProvider:
    """A model provider on loopback speaking OpenAI's and Anthropic's wire formats, scripted per test.

    A bare ASGI app under uvicorn in a thread. `script` answers requests in order; once it is
    empty `default` answers every request. Each request is recorded (path, headers, JSON body).
    """

    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.default = Reply()
        self.requests: list[dict[str, Any]] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(
            self.app, interface="asgi3", lifespan="off", log_level="critical", timeout_graceful_shutdown=0.2
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])), daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {name.decode(): value.decode() for name, value in scope["headers"]}
        self.requests.append({"path": scope["path"], "headers": headers, "json": msgspec.json.decode(body)})
        reply = self.script.pop(0) if self.script else self.default
        if reply.delay:
            await asyncio.sleep(reply.delay)
        payload = reply.body if reply.body is not None else self.envelope(scope["path"], reply)
        extra = [(name.encode(), value.encode()) for name, value in reply.headers.items()]
        await send(
            {
                "type": "http.response.start",
                "status": reply.status,
                "headers": [(b"content-type", b"application/json"), *extra],
            }
        )
        await send({"type": "http.response.body", "body": msgspec.json.encode(payload)})

    @property
    def url(self) -> str:
        """The base URL a backend is configured with (`…/v1`)."""
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"

    @staticmethod
    def envelope(path: str, reply: Reply) -> Any:
        """The provider's response body for `reply`: an answer, or an error object."""
        if reply.status >= 400:
            return {"error": {"message": reply.content or f"status {reply.status}", "type": "error"}}
        if path.endswith("/messages"):
            return {"type": "message", "role": "assistant", "content": [{"type": "text", "text": reply.content}]}
        message = {"role": "assistant", "content": reply.content}
        return {"object": "chat.completion", "choices": [{"index": 0, "message": message}]}

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    """A fake model provider on loopback; answer with `provider.script` / `provider.default`."""
    fake = FakeProvider()
    yield fake
    fake.close()


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


@pytest.fixture
def restart() -> Iterator[Callable[[LiveServer], LiveServer]]:
    """Stop a server and start a new one on the same vault, settings and port; stopped at the end."""
    started: list[LiveServer] = []

    def again(live: LiveServer) -> LiveServer:
        live.stop()
        fresh = SamePortServer(live.settings, live.port).start()
        started.append(fresh)
        return fresh

    yield again
    for live in started:
        live.stop()


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


def require_chromium() -> None:
    """Skip without /usr/bin/chromium on a developer's machine; fail in CI (`CI` set), where `.ci/run` installs it."""
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium package")
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium fonts-noto-cjk)")


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    """Debian's Chromium under Playwright, once per session; never a downloaded browser."""
    require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield launched
        await launched.close()


@dataclasses.dataclass
class BrowserPage:
    """A page in its own browser context, with every console error and uncaught exception it logs."""

    page: Any
    errors: list[str]

    async def screenshot(self, name: str) -> Path:
        """Save the page as test-artifacts/<name>.png, for a person to look at."""
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
async def new_page(browser: Any) -> AsyncIterator[Callable[..., Any]]:
    """Open pages (`await new_page(width=1280, height=800)`); their contexts close at the end."""
    contexts: list[Any] = []

    async def make(width: int = 1280, height: int = 800) -> BrowserPage:
        # Reduced motion: progress bars jump to their value, so a screenshot shows what the text says.
        context = await browser.new_context(viewport={"width": width, "height": height}, reduced_motion="reduce")
        contexts.append(context)
        page = await context.new_page()
        opened = BrowserPage(page, [])
        page.on("console", lambda message: opened.errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: opened.errors.append(f"uncaught: {error}"))
        return opened

    yield make
    for context in contexts:
        await context.close()
