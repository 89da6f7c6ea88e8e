"""Connections that never finish saying anything cannot lock out the clients that do.

The server runs as its own process held to 1,024 file descriptors (soft and hard, so it cannot
raise them). Eleven hundred sockets of one kind, more than it has descriptors, are opened and left
stalled: silent, a half-sent request head, a half-sent body, a half-sent WebSocket handshake, or
idle after a request. A legitimate client must still be served; the stalled ones are evicted.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest
from websockets.asyncio.client import connect

from tests.support.process import server_process

STALLED = 1100
LIMIT = 1024

HEAD = b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
BODY = b"POST /rpc HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
HANDSHAKE = b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
IDLE = b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT))


@pytest.fixture
def limited_server(vault: Path) -> Iterator[int]:
    """A server that may hold 1,024 descriptors; its port."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 4 * STALLED:
        pytest.skip(f"this test opens {STALLED} sockets and needs a hard open-file limit of {4 * STALLED}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        with server_process(vault, "--request-timeout", "30", preexec_fn=descriptors) as (_, port):
            yield port
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def served(port: int) -> float:
    """A real client's ping over the WebSocket and an HTTP health probe; how long both took."""
    started = time.monotonic()
    async with connect(f"ws://127.0.0.1:{port}/ws", open_timeout=5) as ws:
        await asyncio.wait_for(ws.recv(), 5)  # server.hello
        await ws.send('{"jsonrpc":"2.0","method":"ping","id":1}')
        assert msgspec.json.decode(await asyncio.wait_for(ws.recv(), 5))["result"] == "pong"
    async with httpx.AsyncClient(timeout=5) as http:
        assert (await http.get(f"http://127.0.0.1:{port}/api/v1/health")).status_code == 200
    return time.monotonic() - started


@pytest.mark.parametrize(
    "sent", [b"", HEAD, BODY, HANDSHAKE, IDLE], ids=["silent", "head", "body", "handshake", "idle"]
)
async def test_stalled_sockets_beyond_the_descriptor_limit_do_not_lock_out_a_real_client(
    limited_server: int, sent: bytes
) -> None:
    port = limited_server
    stalled = []
    try:
        for _ in range(STALLED):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            if sent:
                writer.write(sent)
            stalled.append((reader, writer))
        await asyncio.sleep(0.2)
        took = await served(port)
        print(f"{sent[:20]!r}: a real client was served in {took * 1000:.0f} ms beside {STALLED} stalled sockets")
        ends = await asyncio.gather(
            *(asyncio.wait_for(reader.read(), 1.0) for reader, _ in stalled[:100]), return_exceptions=True
        )
        closed = [end for end in ends if not isinstance(end, TimeoutError)]  # EOF or reset: the server let go
        assert closed, "the oldest stalled sockets were evicted to make room"
    finally:
        for _, writer in stalled:
            writer.close()


async def test_a_request_that_never_finishes_is_cut_off(vault: Path) -> None:
    with server_process(vault, "--request-timeout", "0.5") as (_, port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(HEAD)
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the server, nothing answered
        writer.close()
        async with httpx.AsyncClient(timeout=5) as http:
            health = (await http.get(f"http://127.0.0.1:{port}/api/v1/health")).json()
        assert health["status"] == "ok"
