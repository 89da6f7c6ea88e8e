"""The HTTP surface: JSON-RPC over POST /rpc and the health probe."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx

from tests.support.server import LiveServer


async def test_rpc_over_http(http: httpx.AsyncClient) -> None:
    single = await http.post("/rpc", json={"jsonrpc": "2.0", "method": "ping", "id": 1})
    assert single.status_code == 200
    assert single.headers["content-type"] == "application/json"
    assert single.json() == {"jsonrpc": "2.0", "result": "pong", "id": 1}
    batch = await http.post(
        "/rpc",
        json=[{"jsonrpc": "2.0", "method": "ping", "id": 1}, {"jsonrpc": "2.0", "method": "server.info", "id": 2}],
    )
    assert [item["id"] for item in sorted(batch.json(), key=lambda item: item["id"])] == [1, 2]
    notification = await http.post("/rpc", json={"jsonrpc": "2.0", "method": "ping"})
    assert notification.status_code == 204 and notification.content == b""
    broken = await http.post("/rpc", content=b"{nope")
    assert broken.json()["error"]["code"] == -32700


async def test_subscriptions_need_a_websocket(http: httpx.AsyncClient) -> None:
    for method in ("subscribe", "unsubscribe"):
        reply = await http.post("/rpc", json={"jsonrpc": "2.0", "method": method, "params": [["tasks"]], "id": 1})
        assert reply.json()["error"]["code"] == -32010
        assert reply.json()["error"]["data"]["error"] == "UNAVAILABLE"


async def test_body_size_limit(make_server: Callable[..., LiveServer]) -> None:
    live = make_server(max_message_size=1000)
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        big = b'{"jsonrpc":"2.0","method":"ping","id":1,"pad":"' + b"x" * 2000 + b'"}'
        refused = await http.post("/rpc", content=big)
        assert refused.status_code == 413
        assert refused.json() == {
            "code": 413,
            "error": "TOO_LARGE",
            "message": "request body over 1000 bytes",
            "details": {"limit": 1000},
        }

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit holds while streaming too
            yield big[:500]
            yield big[500:]

        streamed = await http.post("/rpc", content=chunks())
        assert streamed.status_code == 413


async def test_health(http: httpx.AsyncClient) -> None:
    reply = await http.get("/api/v1/health")
    assert reply.status_code == 200
    body = reply.json()
    assert body["status"] == "ok"
    assert set(body) >= {"status", "version", "uptime_s", "connections", "tasks", "agents"}
    assert body["agents"]["max_concurrent"] == 12
    assert (await http.post("/api/v1/health")).status_code == 405
