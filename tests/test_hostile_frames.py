"""What an attacker sends gets the contract's named error, the connection lives on, no secret leaks.

The last test is a fuzzer: hypothesis-made frames of the kinds that broke servers before (deep
nesting, invalid UTF-8, odd ids, batches, sizes) through the real server, each answer checked
against JSON-RPC 2.0 and the connection checked alive after it. `make fuzz` runs it with 100,000
frames; the suite runs a few thousand.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect

from tests.support.client import Client, RpcError, open_client
from tests.support.provider import FakeProvider, Reply
from tests.support.server import LiveServer
from tests.test_protocol_properties import check_response, is_notification

KEY = "sk-Proj-Zq3xV9tT2mLw8Ra1Kc5Hy7"
SCORING = {"agent": "scoring", "input": {"question_text": "What is a derivative?", "user_understanding": "A rate."}}
ORAL = {"agent": "oral", "input": {"concept": "导数"}}


async def test_deep_nesting_is_an_invalid_request_and_the_connection_goes_on(
    client: Client, http: httpx.AsyncClient
) -> None:
    for frame in ("[" * 5000, '{"jsonrpc":"2.0","id":1,"method":"ping","params":' + "[" * 3000 + "]" * 3000 + "}"):
        answer = await client.send_raw(frame)
        assert answer["error"]["code"] == -32600 and answer["id"] is None
        response = await http.post("/rpc", content=frame)
        assert response.json()["error"]["code"] == -32600
    assert await client.call("ping") == "pong"


async def test_invalid_utf8_anywhere_is_a_parse_error(client: Client, http: httpx.AsyncClient) -> None:
    for frame in (
        b'{"jsonrpc":"2.0","id":7,"method":"canvas.read","params":{"name":"\xff\xfe"}}',
        b'{"param\xec.s":{},"jsonrpc":"2.0","method":"server.info"}',  # the fuzzer's: in a key it ignores
    ):
        answer = await client.send_raw(frame)  # a binary frame: nothing checked its UTF-8 on the way
        assert answer["error"]["code"] == -32700 and answer["id"] is None  # not JSON, so no id to trust
        response = await http.post("/rpc", content=frame)
        assert response.json()["error"]["code"] == -32700
    assert await client.call("ping") == "pong"


@pytest.mark.parametrize("name", ["x" * 300, "数" * 100, "math/" + "y" * 250, "bad\x07name", "tab\tname", "del\x7f"])
async def test_names_the_disk_cannot_hold_or_a_terminal_would_obey_are_forbidden(
    client: Client, http: httpx.AsyncClient, name: str
) -> None:
    for method in ("canvas.read", "canvas.create"):
        with pytest.raises(RpcError) as caught:
            await client.call(method, {"name": name})
        assert caught.value.data["error"] == "FORBIDDEN_PATH", caught.value
    body = {"jsonrpc": "2.0", "id": 1, "method": "canvas.create", "params": {"name": name}}
    assert (await http.post("/rpc", json=body)).json()["error"]["data"]["error"] == "FORBIDDEN_PATH"


async def test_a_hard_link_to_a_file_outside_the_vault_is_not_served(client: Client, vault: Path) -> None:
    outside = vault.parent / "secret.canvas"
    outside.write_text('{"nodes":[{"id":"s","type":"text","text":"private","x":0,"y":0,"width":1,"height":1}]}')
    os.link(outside, vault / "leak.canvas")
    with pytest.raises(RpcError) as caught:
        await client.call("canvas.read", {"name": "leak"})
    assert caught.value.data["error"] == "FORBIDDEN_PATH" and "hard-linked" in caught.value.message
    assert "leak" not in {entry["name"] for entry in await client.call("canvas.list")}


async def test_the_token_never_reaches_the_log(
    make_server: Callable[..., LiveServer], caplog: pytest.LogCaptureFixture
) -> None:
    live = make_server(token="Tok3n-s3cret")
    logger = logging.getLogger("uvicorn.error")  # where uvicorn logs every WebSocket handshake, URL and all
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(caplog.handler)
    try:
        async with connect(f"{live.ws_url}?token=Tok3n-s3cret") as ws:
            await ws.recv()
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            await http.get("/api/v1/health?token=Tok3n-s3cret")
        await asyncio.sleep(0.1)
    finally:
        logger.removeHandler(caplog.handler)
        logger.setLevel(level)
    lines = [record.getMessage() for record in caplog.records]
    assert any("/ws?token=***" in line for line in lines), lines  # the handshake was logged, masked
    assert not any("Tok3n-s3cret" in line for line in lines)


@pytest.mark.single_process  # reads the task records in the SQLite file
@pytest.mark.parametrize(
    "echo",
    [
        f"Incorrect API key provided: {KEY}",
        f"key {KEY.upper()} is not valid",
        f"{'x' * 300} {KEY}",
        "key ...Kc5Hy7 revoked",
    ],
    ids=["whole", "other-case", "past-the-cut", "partial"],
)
async def test_an_api_key_echoed_by_the_provider_is_scrubbed_everywhere(
    make_server: Callable[..., LiveServer], provider: FakeProvider, monkeypatch: pytest.MonkeyPatch, vault: Path,
    echo: str,
) -> None:  # fmt: skip
    monkeypatch.setenv("CANVAS_LIVE_TEST_KEY", KEY)
    provider.default = Reply(401, echo)
    live = make_server(agent_backend="openai", agent_base_url=provider.url, agent_api_key_env="CANVAS_LIVE_TEST_KEY")
    async with open_client(live) as client:
        with pytest.raises(RpcError) as caught:
            await client.call("agent.call", SCORING)
        batch = await client.call("agent.batch", {"calls": [SCORING]})
        task = await client.call("task.wait", {"id": batch["task_id"], "timeout": 10})
    seen = msgspec.json.encode([caught.value.message, caught.value.data, task]).decode().lower()
    stored = b"".join(
        row[0] for row in sqlite3.connect(vault / ".canvas-live" / "tasks.sqlite3").execute("SELECT body FROM tasks")
    )
    for piece in (KEY[i : i + 6].lower() for i in range(len(KEY) - 5)):
        assert piece not in seen and piece.encode() not in stored.lower()


async def test_a_batch_counts_each_call_against_the_inflight_limit(make_server: Callable[..., LiveServer]) -> None:
    live = make_server(max_inflight=8, offline_latency=0.5)
    async with open_client(live) as client:
        first = [{"jsonrpc": "2.0", "id": f"a{n}", "method": "agent.call", "params": ORAL} for n in range(6)]
        await client.ws.send(msgspec.json.encode(first).decode())
        await asyncio.sleep(0.1)
        second = [{"jsonrpc": "2.0", "id": f"b{n}", "method": "agent.call", "params": ORAL} for n in range(6)]
        refused = await client.send_raw(msgspec.json.encode(second).decode())
        assert [answer["error"]["data"]["error"] for answer in refused] == ["OVERLOADED"] * 6
        answered = await asyncio.wait_for(client.replies.get(), 5)
        assert [answer["id"] for answer in answered] == [f"a{n}" for n in range(6)]


async def test_agent_batches_beyond_the_queue_caps_are_overloaded(make_server: Callable[..., LiveServer]) -> None:
    live = make_server(offline_latency=5.0, max_connection_agent_calls=30, max_queued_agent_calls=50)
    async with open_client(live) as client, open_client(live) as other:
        await client.call("agent.batch", {"calls": [ORAL] * 20})
        with pytest.raises(RpcError) as mine:
            await client.call("agent.batch", {"calls": [ORAL] * 20})
        assert (mine.value.data["error"], mine.value.data["limit"]) == ("OVERLOADED", 30)
        assert mine.value.data["retry_after"] > 0
        await other.call("agent.batch", {"calls": [ORAL] * 25})  # another connection has room of its own
        with pytest.raises(RpcError) as everyone:
            await other.call("agent.batch", {"calls": [ORAL] * 10})
        assert everyone.value.data["limit"] == 50


@pytest.mark.single_process  # counts this process's memory hub topics
async def test_re_subscribing_at_the_limit_is_fine_and_released_topics_cost_nothing(
    make_server: Callable[..., LiveServer],
) -> None:
    live = make_server(max_subscriptions=3)
    async with open_client(live) as client:
        before = live.run(lambda: live.runtime.hub.stats()["topics"])
        topics = [f"canvas:{'n' * 1000}{index}" for index in range(3)]
        await client.call("subscribe", {"topics": topics})
        await client.call("subscribe", {"topics": topics[:2]})  # held already: never refused
        with pytest.raises(RpcError):
            await client.call("subscribe", {"topics": ["canvas:one-more"]})
        await client.call("unsubscribe", {"topics": topics})
        assert live.run(lambda: live.runtime.hub.stats()["topics"]) == before
        with pytest.raises(RpcError) as caught:
            await client.call("subscribe", {"topics": ["canvas:" + "x" * 2000]})
        assert caught.value.data["field"] == "topics[0]"


async def test_health_refuses_a_foreign_origin(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/v1/health", headers={"Origin": "https://evil.example"})
    assert (response.status_code, response.json()["error"]) == (403, "FORBIDDEN_ORIGIN")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=10,
)
methods = st.sampled_from(["ping", "server.info", "canvas.read", "canvas.list", "task.get", "agent.list", "nope"])
requests = st.fixed_dictionaries(
    {"jsonrpc": st.sampled_from(["2.0", "2.0", "1.0"]), "method": methods | json_values},
    optional={"id": st.none() | st.integers() | st.text(max_size=6) | json_values, "params": json_values},
)
encoded = (requests | st.lists(requests, max_size=8) | json_values).map(lambda frame: msgspec.json.encode(frame))
nested = st.integers(min_value=900, max_value=4000).map(lambda depth: b"[" * depth + b"]" * depth)
mangled = st.tuples(encoded, st.binary(min_size=1, max_size=4), st.integers(0, 64)).map(
    lambda parts: parts[0][: parts[2]] + parts[1] + parts[0][parts[2] :]
)
frames = encoded | nested | mangled | st.binary(max_size=64)
FRAMES = int(os.environ.get("CANVAS_LIVE_FUZZ_FRAMES", "3000"))


def unanswered(frame: bytes) -> bool:
    """Whether JSON-RPC leaves the frame unanswered: a notification, or a batch of nothing else."""
    try:
        value = msgspec.json.decode(frame)
    except (msgspec.DecodeError, RecursionError):
        return False
    items = value if isinstance(value, list) else [value]
    return bool(items) and all(is_notification(item) for item in items)


def test_fuzzed_frames_get_valid_answers_and_the_connection_lives(live: LiveServer) -> None:
    loop = asyncio.new_event_loop()
    ws = loop.run_until_complete(connect(live.ws_url, max_size=None))
    loop.run_until_complete(ws.recv())  # server.hello
    sent = 0

    async def exchange(frame: bytes) -> list[Any]:
        """Send the frame (binary: what a browser cannot, an attacker can), then a ping; every answer
        until the pong is back and, unless the frame is left unanswered, its own answer too (the
        two may come in either order)."""
        nonlocal sent
        sent += 1
        alive = f"alive-check-{sent}"
        await ws.send(frame)
        await ws.send(msgspec.json.encode({"jsonrpc": "2.0", "id": alive, "method": "ping"}))
        wanted = not unanswered(frame)
        answers: list[Any] = []
        ponged = False
        while not ponged or (wanted and not answers):
            try:
                answer = msgspec.json.decode(await asyncio.wait_for(ws.recv(), 30))
            except TimeoutError:
                raise AssertionError(f"no answer, or no pong, after {frame!r} (frame {sent})") from None
            if isinstance(answer, dict) and answer.get("id") == alive:
                assert answer["result"] == "pong"
                ponged = True
            elif not (isinstance(answer, dict) and "method" in answer):  # events aside
                answers.append(answer)
        return answers

    # Generated only, not shrunk: the frames share one connection, so a failure is reported as the
    # frame it happened on, with the count of frames before it.
    @settings(
        max_examples=FRAMES, deadline=None, suppress_health_check=list(HealthCheck), database=None,
        phases=[Phase.generate],
    )  # fmt: skip
    @given(frames)
    def check(frame: bytes) -> None:
        answers = loop.run_until_complete(exchange(frame))
        if unanswered(frame):
            assert answers == [], frame
            return
        assert len(answers) == 1, (frame, answers)
        answer = answers[0]
        for item in answer if isinstance(answer, list) else [answer]:
            check_response(item)
            if "error" in item:
                assert item["error"]["code"] != -32603, frame  # -32603 is for bugs only

    try:
        check()
    finally:
        loop.run_until_complete(ws.close())
        loop.close()
