"""Bounds on connections before they have said who they are: time to send a request, and room.

uvicorn times out idle keep-alive connections but not a request that is never finished: a client
that opens a socket and sends nothing, half a request head, half a body, or half a WebSocket
handshake would hold a file descriptor for ever, and a few hundred of them would lock every
legitimate client out, token or not. So every HTTP connection passes through a `Gate`:

- a request must be complete (head and body) within `request_timeout` of its first byte (or of the
  connection opening), or the connection is closed;
- connections waiting for a request to complete, and idle keep-alive ones, are *evictable*: when
  the process holds `capacity` connections of any kind (WebSockets included), the oldest
  evictable one is closed to make room for the newcomer; if none is evictable, the newcomer is;
- the capacity is the process's file-descriptor limit (raised to its hard limit at start-up) less
  a reserve for the listener, files and the task store, so a flood never starves `accept`.

A request being handled, and a WebSocket once upgraded, are never evicted.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections import OrderedDict
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("canvas_live.gate")

RESERVE = 64
"""File descriptors kept free of connections: the listening socket, canvases, backups, SQLite, logs."""


def raise_descriptor_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit; the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 16)
    if wanted > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            log.warning("could not raise the open-file limit from %d", soft)
    return soft


class Gate:
    """The evictable connections, oldest first, and the deadlines of unfinished requests."""

    def __init__(self, capacity: int, request_timeout: float) -> None:
        self.capacity = capacity
        self.request_timeout = request_timeout
        self._evictable: OrderedDict[GuardedProtocol, asyncio.TimerHandle | None] = OrderedDict()
        self.evicted = 0
        self.timed_out = 0

    def opened(self, connection: GuardedProtocol) -> None:
        """A connection was accepted: make room for it, then wait for its request."""
        while len(connection.connections) > self.capacity:
            if not self._evictable:
                connection.transport.abort()  # every slot is doing real work: refuse the newcomer
                return
            oldest, _ = self._evictable.popitem(last=False)
            self._cancel(oldest)
            self.evicted += 1
            oldest.connections.discard(oldest)
            oldest.transport.abort()
        self.waiting(connection)

    def waiting(self, connection: GuardedProtocol) -> None:
        """A request has begun (or may begin): it must be complete within `request_timeout`."""
        self._cancel(connection)
        handle = asyncio.get_running_loop().call_later(self.request_timeout, self._expire, connection)
        self._evictable[connection] = handle
        self._evictable.move_to_end(connection)

    def working(self, connection: GuardedProtocol) -> None:
        """The request is complete and being answered: it is not to be disturbed."""
        self._cancel(connection)
        self._evictable.pop(connection, None)

    def idle(self, connection: GuardedProtocol) -> None:
        """The answer went out: the connection may be kept alive (uvicorn closes it after a while) or evicted."""
        self._cancel(connection)
        self._evictable[connection] = None
        self._evictable.move_to_end(connection)

    def forget(self, connection: GuardedProtocol) -> None:
        """The connection closed, or became a WebSocket."""
        self._cancel(connection)
        self._evictable.pop(connection, None)

    def _cancel(self, connection: GuardedProtocol) -> None:
        handle = self._evictable.get(connection)
        if handle is not None:
            handle.cancel()
            self._evictable[connection] = None

    def _expire(self, connection: GuardedProtocol) -> None:
        self._evictable.pop(connection, None)
        self.timed_out += 1
        connection.transport.abort()


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, reporting each connection's state to the server's `Gate`."""

    gate: Gate

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Accept, then let the gate make room and set the request deadline."""
        super().connection_made(transport)
        self.gate.opened(self)

    def on_message_begin(self) -> None:
        """The first byte of a request (a keep-alive connection's next one, too)."""
        super().on_message_begin()
        self.gate.waiting(self)

    def on_message_complete(self) -> None:
        """The whole request, head and body, has arrived."""
        self.gate.working(self)
        super().on_message_complete()

    def on_response_complete(self) -> None:
        """The answer went out; the connection may wait for another request."""
        super().on_response_complete()
        if not self.transport.is_closing():
            self.gate.idle(self)

    def handle_websocket_upgrade(self) -> None:
        """A WebSocket from here on: its own limits apply (`max_connections`, pings)."""
        self.gate.forget(self)
        super().handle_websocket_upgrade()

    def connection_lost(self, exc: Exception | None) -> None:
        """Gone: nothing to guard any more."""
        self.gate.forget(self)
        super().connection_lost(exc)


def guarded_protocol(request_timeout: float, capacity: int | None = None) -> type[GuardedProtocol]:
    """A protocol class for uvicorn's `http` option, with a gate of its own (one per server)."""
    limit = capacity if capacity is not None else max(RESERVE, raise_descriptor_limit() - RESERVE)
    gate = Gate(limit, request_timeout)
    namespace: dict[str, Any] = {"gate": gate}
    return type("Guarded", (GuardedProtocol,), namespace)
