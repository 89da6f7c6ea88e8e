"""A test's JSON-RPC client over a real WebSocket: calls by id, events in a queue, the hello kept."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from websockets.asyncio.client import ClientConnection, connect

from tests.support.server import LiveServer


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
async def open_client(live: LiveServer | None, url: str | None = None, **kwargs: Any) -> AsyncIterator[Client]:
    """Connect to `live` (or to `url`, a server in another process), read `server.hello`, then the rest in the
    background."""
    if url is None:
        assert live is not None
        url = live.ws_url
    async with connect(url, **kwargs) as ws:
        hello = msgspec.json.decode(await asyncio.wait_for(ws.recv(), 5))
        assert hello["method"] == "server.hello"
        client = Client(ws, hello["params"])
        client.reader = asyncio.create_task(client._read())
        try:
            yield client
        finally:
            client.reader.cancel()
