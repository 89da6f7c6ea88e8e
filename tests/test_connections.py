"""Connection limits and lifecycle through the real server: in-flight cap, frame size, churn."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.support.client import Client, open_client
from tests.support.server import LiveServer


async def test_requests_beyond_max_inflight_fail_fast(make_server: Callable[..., LiveServer]) -> None:
    live = make_server(max_inflight=2)

    async def slow(params: None, ctx: object) -> str:
        await asyncio.sleep(0.5)
        return "done"

    live.run(lambda: live.runtime.registry.method("test.slow")(slow))
    async with open_client(live) as client:
        calls = [asyncio.create_task(client.request("test.slow")) for _ in range(2)]
        await asyncio.sleep(0.1)
        refused = await client.request("test.slow")
        assert refused["error"]["code"] == -32007
        assert refused["error"]["data"]["error"] == "OVERLOADED"
        assert refused["error"]["data"]["retry_after"] > 0
        batch = json.dumps([{"jsonrpc": "2.0", "method": "ping", "id": "b1"}, {"jsonrpc": "2.0", "method": "ping"}])
        refused_batch = await client.send_raw(batch)
        assert [item["error"]["code"] for item in refused_batch] == [-32007]
        # Methods that never wait are answered in place, so a busy connection can still be probed.
        assert await client.call("ping") == "pong"
        assert [(await call)["result"] for call in calls] == ["done", "done"]
        assert await client.call("ping") == "pong"


async def test_oversized_frame_closes_with_1009(make_server: Callable[..., LiveServer]) -> None:
    live = make_server(max_message_size=4096)
    async with open_client(live) as client:
        assert await client.call("ping") == "pong"
        with pytest.raises(ConnectionClosed) as closed:
            await client.ws.send(json.dumps({"jsonrpc": "2.0", "method": "ping", "params": ["x" * 5000], "id": 1}))
            await asyncio.wait_for(client.ws.wait_closed(), 5)
            await client.ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    async with open_client(live) as other:  # everyone else is fine
        assert await other.call("ping") == "pong"


async def test_rapid_connect_disconnect_leaks_nothing(live: LiveServer) -> None:
    async with open_client(live) as observer:
        before = (await observer.call("server.info"))["stats"]

        async def churn(count: int) -> None:
            for _ in range(count):
                async with connect(live.ws_url) as ws:
                    await ws.recv()
                    await ws.send('{"jsonrpc":"2.0","method":"subscribe","params":{"topics":["tasks"]},"id":1}')

        await asyncio.gather(*(churn(50) for _ in range(20)))
        await asyncio.sleep(0.5)
        after = (await observer.call("server.info"))["stats"]
    assert after["connections_total"] - before["connections_total"] == 1000
    assert after["connections"] == 1
    assert after["subscribers"] == 0 and after["subscriptions"] == 0
    assert after["asyncio_tasks"] <= before["asyncio_tasks"] + 2
    # A connection costs a few kB while open; a leak of that over 1,000 churns would show here.
    assert after["rss_bytes"] - before["rss_bytes"] < 16 << 20
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        assert (await http.get("/api/v1/health")).json()["connections"] == 0


async def test_connection_limit(make_server: Callable[..., LiveServer]) -> None:
    live = make_server(max_connections=2)
    async with open_client(live), open_client(live):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(live.ws_url):
                pass
        assert refused.value.response.status_code == 503
        assert json.loads(refused.value.response.body)["error"] == "OVERLOADED"


async def test_server_hello_comes_first(client: Client) -> None:
    assert set(client.hello) == {"name", "version", "epoch"}
    assert client.hello["name"] == "canvas-live"
    info = await client.call("server.info")
    assert info["epoch"] == client.hello["epoch"]
    assert info["limits"]["max_inflight"] == 64
    assert info["agents"]["max_concurrent"] == 12
