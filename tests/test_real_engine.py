"""The agents and the learning workflows against a real inference engine, through the real server.

The engine is llama-cpp-python's OpenAI-compatible server running SmolLM2-135M-Instruct on the
CPU (tests/support/engine.py): the one real engine that installs here, and a demanding one. It
refuses `response_format: json_schema` (with HTTP 500), enforces a schema only as a grammar,
answers one request at a time, and as a 135M-parameter model writes schema-shaped nonsense. So
these tests hold canvas-live to what it promises whatever the model says: every answer is either
checked output or the named `invalid_output`/`length` failure, the negotiation costs no retry,
and faults of the engine itself (killed mid-answer, a cancelled stream) behave as documented.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from canvas_live.services.agents.schemas import BUILTIN_SCHEMAS
from tests.support.client import Client, RpcError, open_client
from tests.support.engine import ENGINE_GROUP, Engine
from tests.support.server import LiveServer

PHOTOSYNTHESIS = (
    "Photosynthesis turns light energy into chemical energy. In the thylakoids light splits water and "
    "releases oxygen; in the stroma the Calvin cycle fixes CO2 into sugar."
)
CONTRAPOSITIVE = "命题「若 p 则 q」的逆否命题是「若非 q 则非 p」，二者同真同假。"
INPUTS: dict[str, dict[str, Any]] = {
    "basic-decomposition": {"material_content": PHOTOSYNTHESIS, "topic": "Photosynthesis"},
    "deep-decomposition": {"material_content": PHOTOSYNTHESIS, "user_understanding": "Plants eat sunlight."},
    "scoring": {
        "question_text": "Where does the oxygen a plant releases come from?",
        "user_understanding": "From water: light splits water in the thylakoids and the oxygen is left over.",
        "reference_material": PHOTOSYNTHESIS,
    },
    "verification-question": {"nodes": [{"id": "n1", "content": PHOTOSYNTHESIS, "state": "red"}]},
    **{
        style: {"concept": "逆否命题", "material_content": CONTRAPOSITIVE}
        for style in ("oral", "clarification", "comparison", "memory-anchor", "four-level", "example")
    },
}
NAMED_FAILURES = {"invalid_output", "length"}
TERMINAL = {"task.completed", "task.failed", "task.cancelled"}

pytestmark = [pytest.mark.timeout(900), pytest.mark.xdist_group(ENGINE_GROUP)]


def on_engine(engine: Engine, **overrides: Any) -> dict[str, Any]:
    """Settings of a server whose agents run on `engine`, one call at a time as docs/models.md says:
    llama-cpp-python's server answers one request at a time and cuts a streaming answer short when
    another request arrives."""
    settings = {"agent_backend": "openai", "agent_base_url": engine.url, "agent_model": "smollm2"}
    return {**settings, "max_concurrent_agents": 1, **overrides}


async def follow(client: Client, task_id: str, timeout: float = 600) -> list[dict[str, Any]]:
    """Every event of a task, from its first (replayed) to its terminal one."""
    topic = f"task:{task_id}"
    await client.call("subscribe", {"topics": [topic], "since": {topic: 0}, "epoch": client.hello["epoch"]})
    events = []
    while True:
        message = await asyncio.wait_for(client.events.get(), timeout)
        if message["params"].get("topic") != topic:
            continue
        events.append({"event": message["method"], **message["params"]})
        if message["method"] in TERMINAL:
            return events


async def first_of_each(client: Client, methods: set[str], timeout: float = 60) -> dict[str, dict[str, Any]]:
    """The params of the first event of each of `methods`, in whatever order they come."""
    seen: dict[str, dict[str, Any]] = {}
    while set(seen) != methods:
        message = await asyncio.wait_for(client.events.get(), timeout)
        if message["method"] in methods:
            seen.setdefault(message["method"], message["params"])
    return seen


def assert_checked_or_named(result: dict[str, Any]) -> None:
    """A call's result is output that fits the agent's type, or a failure named for what the model did."""
    if result["ok"]:
        msgspec.convert(result["output"], BUILTIN_SCHEMAS[result["agent"]].output)
    else:
        data = result["error"]["data"]
        assert result["error"]["error"] == "AGENT_FAILED" and data["reason"] in NAMED_FAILURES, result
        assert 0 < len(data["excerpt"]) <= 400


async def test_every_agent_answers_checked_output_or_a_named_failure_without_a_retry(
    engine: Engine, make_server: Callable[..., LiveServer]
) -> None:
    live = make_server(**on_engine(engine))
    async with open_client(live) as client:
        assert {agent["name"] for agent in await client.call("agent.list")} == set(INPUTS)
        calls = [{"agent": name, "input": value, "key": name} for name, value in INPUTS.items()]
        task_id = (await client.call("agent.batch", {"calls": calls}))["task_id"]
        events = await follow(client, task_id)
        info = await client.call("server.info")
    assert events[-1]["event"] == "task.completed"
    results = events[-1]["result"]["results"]
    for result in results:
        assert_checked_or_named(result)
    assert sum(result["ok"] for result in results) >= len(results) // 2, results
    # The engine refused json_schema on the first call: a capability answer, so no call needed a second attempt.
    assert all(result["attempts"] == 1 for result in results)
    agents = info["agents"]
    assert agents["output_mode"] == "json_object" and agents["retries"] == 0 and agents["circuit"] == "closed"
    # Each call's tokens were counted while it ran, rising, and tagged with the call's key.
    progress = [event for event in events if event["event"] == "agent.progress"]
    assert {event["key"] for event in progress} == set(INPUTS)
    for key in INPUTS:
        counts = [event["tokens"] for event in progress if event["key"] == key]
        assert counts == sorted(counts) and counts[0] > 0


DEMO = {
    "en": {
        "canvas": "Photosynthesis",
        "material": "b6b6538976b79e2d",
        "purple": "6e4f33c53b11090c",
        "question": "c6f5c29c9697739b",
        "explanation": "90747159e9b074a8",
        "explanation2": "ee7b31bff8da8a30",
    },
    "zh": {
        "canvas": "离散数学-命题逻辑",
        "material": "96bd7fd39b9b3ab2",
        "purple": "40905ed45fd6daf8",
        "question": "28b3fa9fdfd3b0e4",
        "explanation": "cd05930114f82efa",
        "explanation2": "8f6795984f7ec5cf",
    },
}


@pytest.mark.parametrize("language", ["en", "zh"])
async def test_every_workflow_completes_on_the_demo_canvases(
    engine: Engine, make_server: Callable[..., LiveServer], vault: Path, language: str
) -> None:
    demo = DEMO[language]
    canvas = demo["canvas"]
    live = make_server(**on_engine(engine, demo=True))
    async with open_client(live) as client:
        before = await client.call("canvas.read", {"name": canvas})
        started = {
            # Three nodes to review and two answers to score: a 135M model sometimes answers one call
            # with output that cannot be used, and a review or a scoring fails only when every call does.
            "review.generate": await client.call(
                "review.generate", {"canvas": canvas, "node_ids": [demo["material"], demo["purple"], demo["question"]]}
            ),
            "learn.decompose": await client.call("learn.decompose", {"canvas": canvas, "node_id": demo["material"]}),
            "learn.score": await client.call(
                "learn.score", {"canvas": canvas, "node_ids": [demo["explanation"], demo["explanation2"]]}
            ),
            "learn.explain": await client.call(
                "learn.explain", {"canvas": canvas, "node_id": demo["purple"], "style": "oral"}
            ),
        }
        finished = {kind: await follow(client, answer["task_id"]) for kind, answer in started.items()}
        after = await client.call("canvas.read", {"name": canvas})
        listed = {entry["name"] for entry in await client.call("canvas.list")}
    for kind, events in finished.items():
        assert any(event["event"] == "agent.progress" for event in events), kind
        for event in events:
            if event["event"] == "agent.result":
                assert_checked_or_named(event)
    # A review and a scoring fail only if every one of their calls does; they complete.
    review = finished["review.generate"][-1]
    assert review["event"] == "task.completed", review
    assert review["result"]["question_count"] >= 1 and review["result"]["review_canvas"] in listed
    assert finished["learn.score"][-1]["event"] == "task.completed", finished["learn.score"][-1]
    # Decompose and explain make one call: a 135M model's answer to it is used, or the task fails
    # by the name of what the model did, never otherwise.
    decomposed, explained = finished["learn.decompose"][-1], finished["learn.explain"][-1]
    for last in (decomposed, explained):
        if last["event"] != "task.completed":
            assert last["event"] == "task.failed" and last["error"]["error"] == "AGENT_FAILED", last
            assert last["error"]["data"]["reason"] in NAMED_FAILURES, last
    if decomposed["event"] == "task.completed":
        assert decomposed["result"]["questions"]
    if explained["event"] == "task.completed":
        assert (vault / explained["result"]["file"]).is_file()
    assert len(after["nodes"]) > len(before["nodes"])  # questions, feedback and the explanation were added


async def test_a_format_refusal_never_opens_the_breaker(engine: Engine, make_server: Callable[..., LiveServer]) -> None:
    """With a breaker that opens at the first retryable failure, the engine's HTTP 500 refusing
    `json_schema` must still not count: it is the engine saying what it can do."""
    live = make_server(**on_engine(engine, breaker_threshold=1, agent_retry_attempts=1))
    async with open_client(live) as client:
        await client.call("subscribe", {"topics": ["agents"]})
        result = await client.call("agent.call", {"agent": "scoring", "input": INPUTS["scoring"]}, timeout=300)
        info = await client.call("server.info")
        with pytest.raises(TimeoutError):
            await client.event("agent.circuit", timeout=0.5)
    assert result["ok"] and result["attempts"] == 1
    assert info["agents"]["circuit"] == "closed" and info["agents"]["failed"] == 0
    assert info["agents"]["output_mode"] == "json_object"


async def test_a_killed_engine_is_retried_then_opens_the_breaker(
    make_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    """kill -9 of the engine mid-answer: the call is retried as documented (RETRYABLE, with back-off)
    until its attempts run out, the breaker opens, and the next call fails fast with CIRCUIT_OPEN."""
    doomed = Engine(tmp_path).start()
    try:
        settings = on_engine(
            doomed, agent_retry_attempts=2, agent_retry_wait_min=0.05, agent_retry_wait_max=0.1, breaker_threshold=2
        )
        live = make_server(**settings)
        async with open_client(live) as client:
            await client.call("subscribe", {"topics": ["agents"]})
            call = {"agent": "oral", "input": INPUTS["oral"], "key": "doomed"}
            task_id = (await client.call("agent.batch", {"calls": [call]}))["task_id"]
            topic = f"task:{task_id}"
            await client.call("subscribe", {"topics": [topic], "since": {topic: 0}, "epoch": client.hello["epoch"]})
            await client.event("agent.progress", timeout=300)
            doomed.kill()
            seen = await first_of_each(client, {"agent.result", "agent.circuit"})
            result, circuit = seen["agent.result"], seen["agent.circuit"]
            with pytest.raises(RpcError) as fast:
                await client.call("agent.call", {"agent": "oral", "input": INPUTS["oral"]})
    finally:
        doomed.kill()
    assert result["attempts"] == 2 and result["error"]["category"] == "retryable", result
    assert circuit["state"] == "open"
    assert fast.value.data["error"] == "CIRCUIT_OPEN"


async def test_cancelling_a_task_stops_the_engine_generating(
    make_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    """A cancel closes the stream; the engine notices the client went and stops (its log says so)."""
    own = Engine(tmp_path).start()
    try:
        live = make_server(**on_engine(own))
        async with open_client(live) as client:
            call = {"agent": "four-level", "input": INPUTS["four-level"], "key": "cancelled"}
            task_id = (await client.call("agent.batch", {"calls": [call]}))["task_id"]
            topic = f"task:{task_id}"
            await client.call("subscribe", {"topics": [topic], "since": {topic: 0}, "epoch": client.hello["epoch"]})
            await client.event("agent.progress", timeout=300)
            await client.call("task.cancel", {"id": task_id})
            assert (await client.event("task.cancelled", timeout=30))["task_id"] == task_id
        deadline = asyncio.get_running_loop().time() + 30
        while "Disconnected from client" not in own.log_text():
            assert asyncio.get_running_loop().time() < deadline, own.log_text()[-2000:]
            await asyncio.sleep(0.1)
    finally:
        own.kill()


async def test_an_answer_cut_at_max_tokens_fails_by_name_after_its_repair_turn(
    engine: Engine, make_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    """An agent whose token limit is too small for its answer (three questions at the least, in
    16 tokens): the engine stops at the limit (finish_reason "length"), the repair turn is cut too,
    and the call fails as `length`. A file named like a built-in agent keeps its output type."""
    folder = tmp_path / "agents"
    folder.mkdir()
    (folder / "basic-decomposition.md").write_text(
        "---\nname: basic-decomposition\noutput: json\nmax_tokens: 16\n---\nAsk three to seven guiding questions.",
        encoding="utf-8",
    )
    live = make_server(**on_engine(engine, agents_dir=folder))
    call = {"agent": "basic-decomposition", "input": INPUTS["basic-decomposition"]}
    async with open_client(live) as client:
        with pytest.raises(RpcError) as cut:
            await client.call("agent.call", call, timeout=300)
    data = cut.value.data
    assert data["error"] == "AGENT_FAILED" and data["reason"] == "length" and data["attempts"] == 1
    assert "16 tokens" in data["problem"] and 0 < len(data["excerpt"]) <= 400
