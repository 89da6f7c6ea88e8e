"""Token auth and Origin checks on the handshake and the HTTP API (docs/protocol.md, "Security")."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.support.client import open_client
from tests.support.server import LiveServer

SECRET = "s3cr3t-token-value"


async def test_websocket_needs_the_token(make_server: Callable[..., LiveServer]) -> None:
    live = make_server(token=SECRET)
    for headers, url in [
        ({}, live.ws_url),
        ({"Authorization": "Bearer wrong"}, live.ws_url),
        ({}, live.ws_url + "?token=wrong"),
    ]:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, additional_headers=headers):
                pass
        assert refused.value.response.status_code == 401
        body = refused.value.response.body.decode()
        assert json.loads(body)["error"] == "UNAUTHORIZED"
        assert SECRET not in body
    async with open_client(live, additional_headers={"Authorization": f"Bearer {SECRET}"}) as client:
        assert await client.call("ping") == "pong"
    async with open_client(live, url=f"{live.ws_url}?token={SECRET}") as client:
        assert await client.call("ping") == "pong"


async def test_http_api_needs_the_token(make_server: Callable[..., LiveServer]) -> None:
    live = make_server(token=SECRET)
    ping = {"jsonrpc": "2.0", "method": "ping", "id": 1}
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        for path, method in [("/rpc", "POST"), ("/api/v1/health", "GET")]:
            refused = await http.request(method, path, json=ping)
            assert refused.status_code == 401
            assert refused.json()["error"] == "UNAUTHORIZED"
            assert SECRET not in refused.text
        allowed = await http.post("/rpc", json=ping, headers={"Authorization": f"Bearer {SECRET}"})
        assert allowed.json()["result"] == "pong"
        assert (await http.get(f"/api/v1/health?token={SECRET}")).status_code == 200


@pytest.mark.parametrize("origin", ["https://evil.example", "http://127.0.0.1:1", "null"])
async def test_foreign_origins_are_refused(live: LiveServer, origin: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(live.ws_url, origin=origin):  # type: ignore[arg-type]
            pass
    assert refused.value.response.status_code == 403
    assert json.loads(refused.value.response.body)["error"] == "FORBIDDEN_ORIGIN"


async def test_allowed_origins(make_server: Callable[..., LiveServer]) -> None:
    live = make_server(allow_origin=("https://my.dashboard",))
    for origin in [
        f"http://127.0.0.1:{live.port}",
        "app://obsidian.md",
        "capacitor://localhost",
        "https://my.dashboard",
    ]:
        async with open_client(live, origin=origin) as client:
            assert await client.call("ping") == "pong"


async def test_dns_rebinding_is_refused(live: LiveServer) -> None:
    """A page on evil.example resolved to 127.0.0.1 sends its own name as Host and as Origin."""
    rebound = f"evil.example:{live.port}"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(live.ws_url, additional_headers={"Host": rebound}, origin=f"http://{rebound}"):  # type: ignore[arg-type]
            pass
    assert refused.value.response.status_code == 403
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        ping = {"jsonrpc": "2.0", "method": "ping", "id": 1}
        misdirected = await http.post("/rpc", json=ping, headers={"Host": rebound, "Origin": f"http://{rebound}"})
        assert misdirected.status_code == 421
        for host in (f"localhost:{live.port}", f"127.0.0.1:{live.port}", f"[::1]:{live.port}"):
            assert (await http.post("/rpc", json=ping, headers={"Host": host})).json()["result"] == "pong"


async def test_http_api_refuses_foreign_origins(live: LiveServer) -> None:
    """A cross-site form or no-cors fetch cannot drive the vault through POST."""
    ping = {"jsonrpc": "2.0", "method": "ping", "id": 1}
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        foreign = await http.post("/rpc", json=ping, headers={"Origin": "https://evil.example"})
        assert foreign.status_code == 403 and foreign.json()["error"] == "FORBIDDEN_ORIGIN"
        review = await http.post(
            "/api/v1/review/generate", json={"canvas_name": "x"}, headers={"Origin": "https://evil.example"}
        )
        assert review.status_code == 403
        own = await http.post("/rpc", json=ping, headers={"Origin": live.base_url})
        assert own.json()["result"] == "pong"
        obsidian = await http.post("/rpc", json=ping, headers={"Origin": "app://obsidian.md"})
        assert obsidian.json()["result"] == "pong"
