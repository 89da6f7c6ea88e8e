"""One WebSocket client: a reader loop, a writer task, a bounded outgoing queue.

Everything sent to the client (responses, events, `server.hello`) goes through one queue drained
by one writer task, so frames are never interleaved and a publisher never waits on a client:
`deliver` only appends. A client that stops reading fills the queue; on overflow it is dropped
with close code 4008 and its memory is released at once, while every other client goes on.

Requests run concurrently (a task each), at most `max_inflight` at once per connection; a request
beyond that is answered -32007 without running.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from enum import Enum

from starlette.websockets import WebSocket

from protocol.errors import ErrorCode, RpcError
from protocol.jsonrpc import Batch, Parsed, encode_notification
from server.runtime import Context, Runtime

log = logging.getLogger("canvas_live.ws")

SLOW_CONSUMER = 4008


class State(Enum):
    """Where a connection is in its life; checked at every transition."""

    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


class Connection:
    """A connected WebSocket client and its subscriptions."""

    def __init__(self, websocket: WebSocket, runtime: Runtime) -> None:
        self.websocket = websocket
        self.runtime = runtime
        self.state = State.OPEN
        self.context = Context(runtime, self)
        self._queue: deque[str] = deque()
        self._queue_limit = runtime.settings.send_queue
        self._wakeup = asyncio.Event()
        self._requests: set[asyncio.Task[None]] = set()
        self._writer: asyncio.Task[None] | None = None
        self._sending = False
        self._closer: asyncio.Task[None] | None = None

    # -- outgoing ---------------------------------------------------------------------------

    def deliver(self, frame: str) -> None:
        """Queue a frame for the writer; on overflow drop this client as a slow consumer."""
        if self.state is not State.OPEN:
            return
        if len(self._queue) >= self._queue_limit:
            self._drop_slow_consumer()
            return
        self._queue.append(frame)
        if not self._wakeup.is_set():
            self._wakeup.set()

    async def _write_loop(self) -> None:
        """Drain the whole queue on every wake-up: one task switch for a burst of frames."""
        send = self.websocket.send
        queue = self._queue
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if self._sending:
                continue  # a response is going out directly; `_respond` wakes us when it is done
            self._sending = True
            try:
                while queue:
                    await send({"type": "websocket.send", "text": queue.popleft()})
            finally:
                self._sending = False

    async def _respond(self, response: bytes) -> None:
        """Send a response, directly when nothing else is queued or being sent, else via the queue.

        The direct path saves the hop through the writer task on an idle connection, which is
        most of a round trip's cost; events still go through the queue, so their order holds.
        """
        if self._queue or self._sending or self.state is not State.OPEN:
            self.deliver(response.decode())
            return
        self._sending = True
        try:
            await self.websocket.send({"type": "websocket.send", "text": response.decode()})
        finally:
            self._sending = False
        if self._queue and not self._wakeup.is_set():
            self._wakeup.set()

    def _drop_slow_consumer(self) -> None:
        self.runtime.slow_consumers_dropped += 1
        log.warning("dropping %s: %d frames unsent (slow consumer)", self.peer, len(self._queue))
        self.close(SLOW_CONSUMER, "slow consumer")

    def close(self, code: int, reason: str = "") -> None:
        """Start closing: nothing more is sent or run; the close frame follows when the socket allows."""
        if self.state is not State.OPEN:
            return
        self.state = State.CLOSING
        self._queue.clear()
        if self._writer is not None:
            # The writer can only be parked before a frame is written, never inside one.
            self._writer.cancel()
        self._closer = asyncio.create_task(self._send_close(code, reason))

    async def _send_close(self, code: int, reason: str) -> None:
        try:
            await self.websocket.close(code, reason)
        except Exception:  # the peer vanished first: nothing left to tell it
            log.debug("close %d to %s not sent", code, self.peer)

    # -- incoming ---------------------------------------------------------------------------

    async def serve(self) -> None:
        """Run the connection until the client or the server closes it."""
        runtime = self.runtime
        runtime.connections.add(self)
        runtime.connections_total += 1
        self._writer = asyncio.create_task(self._write_loop())
        self.deliver(encode_notification("server.hello", runtime.hello()).decode())
        receive = self.websocket.receive
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    break
                data = message.get("text")
                if data is None:
                    data = message.get("bytes") or b""
                if self.state is State.OPEN:
                    await self._on_frame(data)
        finally:
            self._finish()

    async def _on_frame(self, data: str | bytes) -> None:
        """Answer at once what cannot wait (errors, inline methods); run the rest as tasks."""
        registry = self.runtime.registry
        parsed = registry.parse(data)
        if registry.answers_at_once(parsed):
            await self._run(parsed)
            return
        limit = self.runtime.settings.max_inflight
        if len(self._requests) >= limit:
            error = RpcError(
                ErrorCode.OVERLOADED, f"at most {limit} requests may run at once on a connection", retry_after=0.1
            )
            refusal = registry.refuse(parsed, error)
            if refusal is not None:
                await self._respond(refusal)
            return
        task = asyncio.create_task(self._run(parsed))
        self._requests.add(task)
        task.add_done_callback(self._requests.discard)

    async def _run(self, parsed: Parsed | Batch) -> None:
        response = await self.runtime.registry.answer(parsed, self.context, websocket=True)
        if response is not None:
            await self._respond(response)

    def _finish(self) -> None:
        self.state = State.CLOSED
        self.runtime.connections.discard(self)
        self.runtime.hub.remove(self)
        for task in self._requests:
            task.cancel()
        if self._writer is not None:
            self._writer.cancel()
        self._queue.clear()

    @property
    def peer(self) -> str:
        """`host:port` of the client, for logs."""
        client = self.websocket.client
        return f"{client.host}:{client.port}" if client else "?"
