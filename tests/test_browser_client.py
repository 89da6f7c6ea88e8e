"""web/client.js in a real browser page, against a real server: calls, errors, reconnect and resume.

The page is a document of the server's origin that imports the module, as an application would;
the tests drive it with `page.evaluate` and cut its connection from the server side.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.support.browser import BrowserPage
from tests.support.server import LiveServer


def rpc(live: LiveServer, method: str, params: dict[str, Any]) -> Any:
    """Call a method over `POST /rpc`, as another client would."""
    body = {"jsonrpc": "2.0", "method": method, "params": params, "id": 1}
    answer = httpx.post(f"{live.base_url}/rpc", json=body, timeout=10).json()
    assert "error" not in answer, answer
    return answer["result"]


def add_node(live: LiveServer, canvas: str, text: str) -> None:
    """One `canvas.changed` event on `canvas:<canvas>`."""
    rpc(live, "canvas.addNode", {"name": canvas, "node": {"type": "text", "text": text}})


def drop_connections(live: LiveServer) -> None:
    """Close every WebSocket from the server side, as a network failure would end it."""
    live.run(lambda: [connection.close(1012, "test") for connection in list(live.runtime.connections)])


async def client_page(new_page: Callable[..., Any], live: LiveServer) -> BrowserPage:
    """A page on the server's origin (the module's own source, shown as text) with the module loaded as `window.lib`.

    The page must come from the server itself: Chromium lets only a page served from loopback open
    connections to loopback (Local Network Access).
    """
    opened: BrowserPage = await new_page()
    await opened.page.goto(f"{live.base_url}/web/client.js")
    await opened.page.evaluate("async () => { window.lib = await import('/web/client.js'); window.log = []; }")
    return opened


def refused(errors: list[str]) -> list[str]:
    """Console errors other than Chromium's own report of a refused connection while a server is down."""
    return [error for error in errors if not error.startswith("WebSocket connection to")]


async def test_calls_resolve_and_errors_carry_code_name_and_data(
    make_server: Callable[..., LiveServer], new_page: Callable[..., Any]
) -> None:
    live = make_server(offline_latency=1.0)
    opened = await client_page(new_page, live)
    out = await opened.page.evaluate(
        """async (url) => {
          const { connect, RpcError } = window.lib;
          const failure = async (promise) => {
            try { await promise; return null; } catch (e) {
              return { rpc: e instanceof RpcError, code: e.code, error: e.error, data: e.data, message: e.message };
            }
          };
          const client = connect(url, { timeout: 5000 });
          const out = { state: client.state };
          out.pong = await client.call('ping');  // made before the connection opened: it waited
          out.positional = await client.call('canvas.list', []);
          out.unknown = await failure(client.call('no.such'));
          out.missing = await failure(client.call('canvas.read', { name: 'missing' }));
          out.invalid = await failure(client.call('subscribe', { topics: [7] }));
          const slow = { agent: 'oral', input: { concept: '导数' } };
          out.timeout = await failure(client.call('agent.call', slow, { timeout: 100 }));
          out.notified = client.notify('ping');
          out.open = client.state;
          client.close();
          out.closed = await failure(client.call('ping'));
          out.final = client.state;
          return out;
        }""",
        live.ws_url,
    )
    assert out["state"] == "connecting" and out["open"] == "open" and out["final"] == "closed"
    assert out["pong"] == "pong"
    assert out["positional"] == []
    assert out["unknown"] == {
        "rpc": True,
        "code": -32601,
        "error": "METHOD_NOT_FOUND",
        "data": {"method": "no.such"},
        "message": "method not found: no.such",
    }
    assert (out["missing"]["code"], out["missing"]["error"], out["missing"]["data"]["kind"]) == (
        -32001,
        "NOT_FOUND",
        "canvas",
    )
    assert (out["invalid"]["code"], out["invalid"]["error"], out["invalid"]["data"]["field"]) == (
        -32602,
        "INVALID_PARAMS",
        "topics[0]",
    )
    timeout = out["timeout"]
    assert (timeout["code"], timeout["error"], timeout["data"]) == (None, "TIMEOUT", {"timeout": 100})
    assert out["notified"] is True
    assert (out["closed"]["code"], out["closed"]["error"]) == (None, "CLOSED")
    assert opened.errors == []


async def test_a_dropped_connection_replays_every_missed_event_in_order(
    make_server: Callable[..., LiveServer], new_page: Callable[..., Any]
) -> None:
    live = make_server(offline_latency=5.0)
    rpc(live, "canvas.create", {"name": "notes"})
    opened = await client_page(new_page, live)
    page = opened.page
    await page.evaluate(
        """async (url) => {
          const onState = (state) => window.log.push(state);
          const client = window.lib.connect(url, { minDelay: 1000, maxDelay: 1000, onState });
          window.client = client;
          await client.subscribe(['canvas:notes'], (method, event) => window.log.push(event.seq), {
            onResync: (topic) => window.log.push(`resync ${topic}`),
          });
          const slow = { agent: 'oral', input: { concept: '导数' } };
          window.inFlight = client.call('agent.call', slow).catch((e) => e.error);
        }""",
        live.ws_url,
    )
    add_node(live, "notes", "one")
    add_node(live, "notes", "two")
    await page.wait_for_function("window.log.length === 3")

    drop_connections(live)
    await page.wait_for_function("window.log.includes('reconnecting')")
    # The client waits about a second before it tries again: these happen while it is away.
    await page.evaluate("() => { window.queued = window.client.call('ping'); }")
    for text in ("three", "four", "five"):
        add_node(live, "notes", text)
    await page.wait_for_function("window.log.filter((entry) => entry === 'open').length === 2")

    # Replayed before the resubscription was answered, so before the second "open"; no resync.
    assert await page.evaluate("window.log") == ["open", 1, 2, "reconnecting", 3, 4, 5, "open"]
    assert await page.evaluate("window.inFlight") == "DISCONNECTED"
    assert await page.evaluate("window.queued") == "pong"
    add_node(live, "notes", "six")
    await page.wait_for_function("window.log.at(-1) === 6")
    assert opened.errors == []


async def test_after_a_server_restart_the_client_resyncs_and_follows_the_new_epoch(
    make_server: Callable[..., LiveServer], restart: Callable[[LiveServer], LiveServer], new_page: Callable[..., Any]
) -> None:
    live = make_server()
    rpc(live, "canvas.create", {"name": "notes"})
    opened = await client_page(new_page, live)
    page = opened.page
    first_epoch = await page.evaluate(
        """async (url) => {
          const onState = (state) => window.log.push(state);
          const client = window.lib.connect(url, { minDelay: 100, maxDelay: 400, onState });
          window.client = client;
          await client.subscribe(['canvas:notes'], (method, event) => window.log.push(event.seq), {
            onResync: (topic) => window.log.push(`resync ${topic}`),
          });
          return client.epoch;
        }""",
        live.ws_url,
    )
    add_node(live, "notes", "before")
    await page.wait_for_function("window.log.at(-1) === 1")

    live = restart(live)
    await page.wait_for_function("window.log.at(-1) === 'resync canvas:notes'")
    epoch = await page.evaluate("window.client.epoch")
    assert epoch != first_epoch
    assert epoch == live.runtime.hub.epoch
    # Seqs start again at 1 in the new epoch; the client must not take them for duplicates.
    add_node(live, "notes", "after")
    await page.wait_for_function("window.log.at(-1) === 1")
    log = await page.evaluate("window.log")
    assert log[:3] == ["open", 1, "reconnecting"]
    assert log[-3:] == ["open", "resync canvas:notes", 1]
    assert refused(opened.errors) == []


async def test_replay_unsubscribe_and_back_off(
    make_server: Callable[..., LiveServer], new_page: Callable[..., Any]
) -> None:
    live = make_server()
    rpc(live, "canvas.create", {"name": "notes"})
    add_node(live, "notes", "one")
    add_node(live, "notes", "two")
    opened = await client_page(new_page, live)
    page = opened.page
    await page.evaluate(
        """async (url) => {
          const onState = (state, detail) => window.log.push([state, detail.retryIn ?? null]);
          const client = window.lib.connect(url, { minDelay: 100, maxDelay: 400, onState });
          window.client = client;
          window.seen = [];
          const onEvent = (method, event) => window.seen.push(event.seq);
          window.subscription = await client.subscribe(['canvas:notes'], onEvent, { replay: true });
        }""",
        live.ws_url,
    )
    # `replay` delivered what happened before the subscription.
    await page.wait_for_function("window.seen.length === 2")
    add_node(live, "notes", "three")
    await page.wait_for_function("window.seen.length === 3")
    assert await page.evaluate("window.seen") == [1, 2, 3]

    await page.evaluate("window.subscription.unsubscribe()")
    add_node(live, "notes", "four")
    assert await page.evaluate("window.client.call('ping')") == "pong"
    assert await page.evaluate("window.seen") == [1, 2, 3]

    # With the server gone, attempts back off: each delay within [ceiling/2, ceiling], the
    # ceiling doubling from 100 ms up to 400 ms.
    live.stop()
    await page.wait_for_function("window.log.filter(([state]) => state === 'reconnecting').length >= 5", timeout=10_000)
    await page.evaluate("window.client.close()")
    delays = [delay for state, delay in await page.evaluate("window.log") if state == "reconnecting"][:5]
    for delay, ceiling in zip(delays, (100, 200, 400, 400, 400), strict=True):
        assert ceiling / 2 <= delay <= ceiling, delays
    assert await page.evaluate("window.client.state") == "closed"
    assert refused(opened.errors) == []
