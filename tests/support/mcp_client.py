"""The official MCP SDK's own client against canvas-live: over Streamable HTTP, and over stdio."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TextIO

import httpx2
import mcp_types as types
import msgspec
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from tests.support.process import ROOT
from tests.support.server import LiveServer


async def connect(session: ClientSession, era: str) -> None:
    """Open the session in one of the protocol's two eras: the `initialize` handshake, or 2026's `discover`."""
    if era == "handshake":
        await session.initialize()
    else:
        await session.discover()


@asynccontextmanager
async def mcp_over_http(
    live: LiveServer, token: str | None = None, era: str = "handshake"
) -> AsyncIterator[ClientSession]:
    """A client session on `live`'s `/mcp`, presenting `token` as a Bearer header."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=120)) as http,
        streamable_http_client(f"{live.base_url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await connect(session, era)
        yield session


@asynccontextmanager
async def mcp_over_stdio(vault: Path, *flags: str, errlog: TextIO) -> AsyncIterator[ClientSession]:
    """`python -m canvas_live mcp --vault VAULT FLAGS…` started by the SDK's stdio client; its stderr to `errlog`."""
    # The whole environment, as every server the suite starts gets it (the SDK passes only a few variables).
    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "canvas_live", "mcp", "--vault", str(vault), *flags],
        cwd=ROOT,
        env=dict(os.environ),
    )
    async with stdio_client(server, errlog=errlog) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


class ProgressLog:
    """A progress callback that keeps every notification, and tells when the first one came."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, float | None, str | None]] = []
        self.first = asyncio.Event()

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.seen.append((progress, total, message))
        self.first.set()

    @property
    def task_id(self) -> str:
        """The task the call follows, from the first notification (`task <id> scheduled`)."""
        message = self.seen[0][2]
        assert message is not None and message.startswith("task ")
        return message.split()[1]


def structured(result: types.CallToolResult) -> dict[str, Any]:
    """A tool result's structured content, which its text content repeats as JSON."""
    assert isinstance(result.structured_content, dict)
    (text,) = result.content
    assert isinstance(text, types.TextContent)
    assert msgspec.json.decode(text.text) == result.structured_content
    return result.structured_content
