"""`rpc.discover`: a valid OpenRPC document whose errors, params and events are true to the server."""

from __future__ import annotations

import asyncio
import copy
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from tests.support.client import Client, RpcError, open_client
from tests.support.provider import FakeProvider, Reply
from tests.support.schemas import misfits, openrpc_problems
from tests.support.server import LiveServer

RED = "1"  # the default (Obsidian) palette's red
LESSON = {"name": "lesson", "nodes": [{"id": "n1", "type": "text", "text": "Entropy never decreases.", "color": RED}]}
ORAL = {"agent": "oral", "input": {"concept": "熵", "material_content": "熵是系统无序程度的量度。"}}


def errors_of(document: dict[str, Any], method: str) -> set[str]:
    """The names of the errors `method` declares, through their references."""
    (entry,) = [each for each in document["methods"] if each["name"] == method]
    names = {reference["$ref"].removeprefix("#/components/errors/") for reference in entry["errors"]}
    assert names <= set(document["components"]["errors"]), "every reference resolves"
    return names


async def test_discover_is_a_valid_openrpc_document(live: LiveServer, client: Client) -> None:
    document = await client.call("rpc.discover")
    assert openrpc_problems(document) == []
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        over_http = (await http.post("/rpc", json={"jsonrpc": "2.0", "method": "rpc.discover", "id": 1})).json()
    assert openrpc_problems(over_http["result"]) == []
    assert document["servers"] == [{"name": "canvas-live", "url": live.ws_url}]
    assert over_http["result"]["servers"] == document["servers"], "the WebSocket URL, also when asked over HTTP"
    assert live.runtime.openrpc is not None
    built = live.runtime.openrpc
    await client.call("rpc.discover")
    assert live.runtime.openrpc is built, "built once per process"


async def test_the_meta_schema_check_catches_a_broken_document(client: Client) -> None:
    document = await client.call("rpc.discover")
    breakages: list[Callable[[dict[str, Any]], None]] = [
        lambda broken: broken["methods"][0].pop("params"),
        lambda broken: broken["methods"][0]["errors"].append({"code": "NOT_FOUND", "message": "no"}),
        lambda broken: broken["components"]["errors"]["BUSY"].update(retry=True),
        lambda broken: broken["servers"][0].update(url=7),
        lambda broken: broken.update(events=[]),  # an extension must be named x-…
    ]
    for breakage in breakages:
        broken = copy.deepcopy(document)
        breakage(broken)
        assert openrpc_problems(broken), "the check fails for a document the meta-schema refuses"


async def test_every_param_is_described_and_every_method_names_its_errors(client: Client) -> None:
    document = await client.call("rpc.discover")
    for method in document["methods"]:
        for param in method["params"]:
            assert param.get("description"), f"{method['name']}.{param['name']} has no description"
            assert "description" not in param["schema"], "said once, beside the param"
        assert "INVALID_PARAMS" in errors_of(document, method["name"])
    for name, error in document["components"]["errors"].items():
        assert error["data"] == {"error": name} and error["message"]
    assert document["components"]["errors"]["NOT_FOUND"]["code"] == -32001
    assert errors_of(document, "ping") == {"INVALID_PARAMS", "OVERLOADED"}
    assert errors_of(document, "subscribe") == {"INVALID_PARAMS", "OVERLOADED", "UNAVAILABLE"}
    assert {"NOT_FOUND", "CONFLICT", "BUSY", "STORAGE", "INVALID_CANVAS"} <= errors_of(document, "canvas.updateNode")
    assert {"AGENT_FAILED", "CIRCUIT_OPEN", "TIMEOUT"} <= errors_of(document, "agent.call")
    assert "CONFLICT" in errors_of(document, "review.generate")
    assert "CONFLICT" not in errors_of(document, "learn.score")
    assert "CONFLICT" in errors_of(document, "task.cancel") and "CONFLICT" not in errors_of(document, "task.get")


FAILING = [
    ("ping", [1], "INVALID_PARAMS"),
    ("subscribe", {"topics": ["nowhere"]}, "INVALID_PARAMS"),
    ("canvas.list", {"folder": "nowhere"}, "NOT_FOUND"),
    ("canvas.read", {"name": "missing"}, "NOT_FOUND"),
    ("canvas.read", {"name": "../outside"}, "FORBIDDEN_PATH"),
    ("canvas.read", {"name": "broken"}, "INVALID_CANVAS"),
    ("canvas.create", LESSON, "CONFLICT"),
    ("canvas.addNode", {"name": "lesson", "node": {"type": "text", "text": "x"}, "if_version": "old"}, "CONFLICT"),
    ("canvas.updateNode", {"name": "lesson", "id": "n1", "patch": {"type": "file"}}, "INVALID_PARAMS"),
    ("canvas.deleteEdge", {"name": "lesson", "id": "nope"}, "NOT_FOUND"),
    ("agent.call", {"agent": "nobody"}, "NOT_FOUND"),
    ("agent.batch", {"calls": [{"agent": "nobody"}]}, "NOT_FOUND"),
    ("task.get", {"id": "nope"}, "NOT_FOUND"),
    ("task.wait", {"id": "nope", "timeout": 0}, "NOT_FOUND"),
    ("task.cancel", {"id": "nope"}, "NOT_FOUND"),
    ("task.list", {"before": "nope"}, "INVALID_PARAMS"),
    ("review.generate", {"canvas": "missing"}, "NOT_FOUND"),
    ("review.generate", {"canvas": "lesson", "name": "lesson"}, "CONFLICT"),
    ("learn.decompose", {"canvas": "lesson", "node_id": "nope"}, "NOT_FOUND"),
    ("learn.explain", {"canvas": "lesson", "node_id": "n1", "style": "poetry"}, "INVALID_PARAMS"),
    ("learn.score", {"canvas": "lesson"}, "INVALID_PARAMS"),
]


async def test_the_errors_methods_answer_are_the_ones_they_declare(
    live: LiveServer, client: Client, vault: Path
) -> None:
    document = await client.call("rpc.discover")
    await client.call("canvas.create", LESSON)
    (vault / "broken.canvas").write_text('{"nodes": 5}')
    for method, params, expected in FAILING:
        with pytest.raises(RpcError) as failed:
            await client.call(method, params)
        name = failed.value.data["error"]
        assert name == expected, (method, params, failed.value.message)
        assert name in errors_of(document, method), f"{method} answered {name}, which it does not declare"
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        frame = {"jsonrpc": "2.0", "method": "unsubscribe", "params": {"topics": ["tasks"]}, "id": 1}
        answered = (await http.post("/rpc", json=frame)).json()["error"]["data"]["error"]
    assert answered == "UNAVAILABLE" and answered in errors_of(document, "unsubscribe")


class Events:
    """Every event a client receives, each checked against its `x-events` entry as it arrives."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.described = [event["name"] for event in document["x-events"]]
        self.seen: set[str] = set()

    def check(self, name: str, params: dict[str, Any]) -> None:
        """Assert that the event is described, came on one of its topics, and fits its params schema."""
        assert name in self.described, f"{name} is not described"
        index = self.described.index(name)
        patterns = self.document["x-events"][index]["topics"]
        if patterns:
            assert any(re.fullmatch(re.sub(r"<\w+>", ".+", pattern), params["topic"]) for pattern in patterns)
        else:
            assert "topic" not in params
        assert misfits(self.document, ["x-events", index, "params"], params) == [], (name, params)
        self.seen.add(name)

    async def until(self, client: Client, *names: str, timeout: float = 20, **fields: Any) -> None:
        """Check the client's events until each of `names` has been seen; with `fields`, one from now on with them."""
        deadline = time.monotonic() + timeout
        waiting = set(names) if fields else set(names) - self.seen
        while waiting:
            message = await asyncio.wait_for(client.events.get(), deadline - time.monotonic())
            self.check(message["method"], message["params"])
            if fields.items() <= message["params"].items():
                waiting.discard(message["method"])


async def test_every_event_is_described_and_fits_its_schema(
    make_server: Callable[..., LiveServer], vault: Path, provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = make_server(offline_latency=0.3, task_timeouts=("learn.decompose=0.05",))
    async with open_client(live) as client:
        document = await client.call("rpc.discover")
        events = Events(document)
        events.check("server.hello", client.hello)
        await client.call("subscribe", {"topics": ["tasks", "canvases", "canvas:lesson"]})

        await client.call("canvas.create", LESSON)
        added = await client.call("canvas.addNode", {"name": "lesson", "node": {"type": "text", "text": "Heat"}})
        edge = {"fromNode": "n1", "toNode": added["node"]["id"]}
        await client.call("canvas.addEdge", {"name": "lesson", "edge": edge})
        await client.call("canvas.deleteNode", {"name": "lesson", "id": added["node"]["id"]})
        await events.until(client, "canvas.created", "canvas.changed")

        batch = (await client.call("agent.batch", {"calls": [ORAL, {**ORAL, "key": "second"}]}))["task_id"]
        topic = f"task:{batch}"
        await client.call("subscribe", {"topics": [topic], "since": {topic: 0}, "epoch": client.hello["epoch"]})
        doomed = (await client.call("agent.batch", {"calls": [ORAL]}))["task_id"]
        await client.call("task.cancel", {"id": doomed})
        await client.call("learn.decompose", {"canvas": "lesson", "node_id": "n1"})  # over its time limit
        await events.until(client, "task.created", "task.started", "task.progress", "agent.result")
        await events.until(client, "task.completed", "task.cancelled", "task.failed")

        on_disk = msgspec.json.decode((vault / "lesson.canvas").read_bytes())
        on_disk["nodes"][0]["text"] = "Edited in Obsidian."
        (vault / "lesson.canvas").write_text(json.dumps(on_disk))
        await events.until(client, "canvas.changed", source="external")
        (vault / "outside.canvas").write_text("{}")
        await events.until(client, "canvas.created", source="external")
        (vault / "outside.canvas").unlink()
        await events.until(client, "canvas.deleted")

    # A streaming backend reports a running call's tokens; then the circuit opens on it when it keeps failing.
    monkeypatch.setenv("CANVAS_LIVE_TEST_KEY", "sk-test-key")
    provider.default = Reply(content="Heat flows from the warmer body to the colder one. " * 4)
    failing = make_server(
        agent_backend="openai",
        agent_base_url=provider.url,
        agent_api_key_env="CANVAS_LIVE_TEST_KEY",
        breaker_threshold=1,
        agent_retry_attempts=1,
    )
    async with open_client(failing) as client:
        streamed = (await client.call("agent.batch", {"calls": [ORAL]}))["task_id"]
        topic = f"task:{streamed}"
        await client.call("subscribe", {"topics": [topic], "since": {topic: 0}, "epoch": client.hello["epoch"]})
        await events.until(client, "agent.progress")
        provider.default = Reply(500)
        await client.call("subscribe", {"topics": ["agents"]})
        with pytest.raises(RpcError) as failed:
            await client.call(
                "agent.call", {"agent": "scoring", "input": {"question_text": "?", "user_understanding": "."}}
            )
        assert failed.value.data["error"] in errors_of(document, "agent.call")
        await events.until(client, "agent.circuit")
    assert events.seen == set(events.described), "every described event is one the server sends"
