"""A subscriber that stops reading, for the stories of the slow consumer (close 4008)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close

from tests.support.server import LiveServer

BURST = 32
"""Events of one burst: well within a 64-frame send queue, so only a client that stops reading overflows."""

_PAD = "x" * 4000


@asynccontextmanager
async def stalled_subscriber(live: LiveServer) -> AsyncIterator[ClientConnection]:
    """A client subscribed to `tasks` that reads nothing more, behind a 4 kB receive buffer."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", live.port))
    async with connect(live.ws_url, sock=sock, max_queue=1) as stalled:
        await stalled.recv()  # hello
        await stalled.send('{"jsonrpc":"2.0","method":"subscribe","params":{"topics":["tasks"]},"id":1}')
        yield stalled


def burst(live: LiveServer) -> None:
    """Publish `BURST` large events on `tasks` from `live`'s loop."""

    def publish() -> None:
        for index in range(BURST):
            live.runtime.hub.publish("tasks", "task.progress", {"done": index, "pad": _PAD})

    live.run(publish)


async def close_received(stalled: ClientConnection) -> Close:
    """Read what the stalled client left unread, up to the close frame the server sent."""
    try:
        while True:
            await asyncio.wait_for(stalled.recv(), 10)
    except ConnectionClosed as closed:
        assert closed.rcvd is not None, "the server never sent a close frame"
        return closed.rcvd
