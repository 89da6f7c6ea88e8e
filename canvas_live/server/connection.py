"""One WebSocket client: a reader loop, a writer task, a bounded outgoing queue.

Sending (docs/protocol.md, "Subscriptions and events"). A publisher must never wait on a client,
yet waking a writer task for every frame is what makes fan-out slow. So `deliver` (called
synchronously by the hub for every subscriber, and for every response) starts the socket send in
place: on a socket that can take the bytes, which is nearly always, the frame is written there and
then with no task switch at all, just as a plain `for ws in sockets: await ws.send_text(...)` loop
would. Only when the send has to wait (the client is not reading and the transport buffer is full)
does the connection go *busy*: the half-started send is handed to this connection's writer task,
and later frames queue behind it in order. A queue that overflows means a client that stopped
reading: it is closed with 4008 and its memory released at once, while every other client goes on.

Requests run concurrently, at most `max_inflight` tasks per connection; a request beyond that is
answered -32007 without running. Methods declared inline (they never wait) run in place on the
reader, which with the in-place send makes a `ping` cost no task switch at all.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import deque
from collections.abc import Coroutine
from enum import Enum
from typing import Any

from starlette.websockets import WebSocket

from canvas_live.protocol import logcontext
from canvas_live.protocol.errors import ErrorCode, RpcError
from canvas_live.protocol.jsonrpc import Batch, Parsed, encode_notification
from canvas_live.server.runtime import Context, Runtime

log = logging.getLogger("canvas_live.ws")

SLOW_CONSUMER = 4008

Send = Coroutine[Any, Any, None]


def start_eagerly(coro: Send) -> Send | None:
    """Run `coro` up to its first suspension; None if it finished, else a coroutine that finishes it.

    This is what an eager task does (Python 3.12's `eager_task_factory`) without creating a task:
    most sends complete without suspending, and those pay nothing for the machinery.
    """
    try:
        awaited = coro.send(None)
    except StopIteration:
        return None
    except BaseException:
        coro.close()
        raise
    return _drive(coro, awaited)


async def _drive(coro: Send, awaited: Any) -> None:
    """Drive a coroutine that `start_eagerly` left suspended, as its task would have."""
    try:
        while True:
            if awaited is None:
                await asyncio.sleep(0)  # a bare yield: let the loop run once
            else:
                # Wait for what the coroutine waits on; its own resumption surfaces any error.
                await asyncio.wait((awaited,))
            try:
                awaited = coro.send(None)
            except StopIteration:
                return
            except asyncio.CancelledError:
                # What the send waited on was cancelled, not this task: the send failed.
                raise ConnectionError("the send was cancelled") from None
    finally:
        coro.close()


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
        self.context = Context(runtime, websocket, self)
        self._queue: deque[str] = deque()
        self._queue_limit = runtime.settings.send_queue
        # Busy: the writer task owns the socket (a send that had to wait, then the queue).
        self._busy = False
        self._stalled: Send | None = None
        self._wakeup: asyncio.Future[None] | None = None
        self._requests: set[asyncio.Task[None]] = set()
        self._load = 0
        """Calls running: a request counts one, a batch one per call."""
        self._writer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None

    # -- outgoing ---------------------------------------------------------------------------

    def _send(self, frame: str) -> Send:
        return self.websocket.send({"type": "websocket.send", "text": frame})

    def deliver(self, frame: str) -> None:
        """Send a frame now if the socket takes it, else queue it; never blocks, never raises."""
        if self.state is not State.OPEN:
            return
        self.runtime.frames_delivered += 1
        if self._busy:
            if len(self._queue) >= self._queue_limit:
                self._drop_slow_consumer()
            else:
                self._queue.append(frame)
            return
        try:
            stalled = start_eagerly(self._send(frame))
        except Exception:  # the peer is gone; the reader sees the disconnect and cleans up
            log.debug("send to %s failed", self.peer, exc_info=True)
            self.state = State.CLOSING
            return
        if stalled is not None:
            self._busy = True
            self._stalled = stalled
            if self._wakeup is not None and not self._wakeup.done():
                self._wakeup.set_result(None)

    async def _write_loop(self) -> None:
        """Finish the send that had to wait, then drain the queue; the socket is free again after."""
        loop = asyncio.get_running_loop()
        queue = self._queue
        while True:
            if self._stalled is None:
                self._wakeup = loop.create_future()
                await self._wakeup
            stalled, self._stalled = self._stalled, None
            try:
                if stalled is not None:
                    await stalled
                while queue:
                    await self._send(queue.popleft())
            except Exception:
                log.debug("send to %s failed", self.peer, exc_info=True)
                self.state = State.CLOSING
                return
            self._busy = False

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
            # A waiting send is parked before its frame is written, never inside one.
            self._writer.cancel()
        self._closer = asyncio.create_task(self._send_close(code, reason))

    async def _send_close(self, code: int, reason: str) -> None:
        try:
            await self.websocket.close(code, reason)
        except Exception:  # the peer vanished first: nothing left to tell it
            log.debug("close %d to %s not sent", code, self.peer)

    # -- incoming ---------------------------------------------------------------------------

    async def serve(self) -> None:
        """Accept the handshake and run the connection until the client or the server closes it.

        The connection counts against `max_connections` from before the handshake completes, so
        many handshakes at once cannot overshoot the limit.
        """
        runtime = self.runtime
        runtime.connections.add(self)
        runtime.connections_total += 1
        receive = self.websocket.receive
        try:
            await self.websocket.accept()
            logcontext.peer.set(self.peer)  # every request task of this connection inherits it
            self._writer = asyncio.create_task(self._write_loop())
            self.deliver(encode_notification("server.hello", runtime.hello()).decode())
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
        # Every call of a batch counts; a batch larger than the limit may still run alone.
        limit = self.runtime.settings.max_inflight
        weight = len(parsed.items) if isinstance(parsed, Batch) else 1
        if self._load and self._load + weight > limit:
            error = RpcError(
                ErrorCode.OVERLOADED, f"at most {limit} requests may run at once on a connection", retry_after=0.1
            )
            refusal = registry.refuse(parsed, error)
            if refusal is not None:
                self.deliver(refusal.decode())
            return
        task = asyncio.create_task(self._run(parsed))
        self._requests.add(task)
        self._load += weight
        task.add_done_callback(functools.partial(self._done, weight=weight))

    def _done(self, task: asyncio.Task[None], weight: int) -> None:
        self._requests.discard(task)
        self._load -= weight

    async def _run(self, parsed: Parsed | Batch) -> None:
        response = await self.runtime.registry.answer(parsed, self.context, websocket=True)
        if response is not None:
            self.deliver(response.decode())

    def _finish(self) -> None:
        self.state = State.CLOSED
        if self._stalled is not None:
            self._stalled.close()
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
