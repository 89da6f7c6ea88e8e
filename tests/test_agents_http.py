"""The openai and anthropic backends against a real HTTP server on loopback speaking their wire format."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from tests.support.client import RpcError, open_client
from tests.support.provider import FakeProvider, Reply
from tests.support.server import LiveServer

KEY = "sk-test-0123456789abcdef"
SCORE = {
    "total_score": 85,
    "breakdown": {"accuracy": 22, "imagery": 20, "completeness": 21, "originality": 22},
    "pass": True,
    "feedback": "Clear and concrete.",
    "color_action": "change_to_green",
}
SCORING_CALL = {
    "agent": "scoring",
    "input": {"question_text": "What is a derivative?", "user_understanding": "A rate."},
}
FAST_RETRIES = {"agent_retry_wait_min": 0.001, "agent_retry_wait_max": 0.01}


@pytest.fixture
def serve(
    make_server: Callable[..., LiveServer], provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., LiveServer]:
    """A server whose backend is the fake provider, with a key in the environment and tiny back-off."""
    monkeypatch.setenv("CANVAS_LIVE_TEST_KEY", KEY)
    provider.default = Reply(content=msgspec.json.encode(SCORE).decode())

    def start(backend: str = "openai", **overrides: Any) -> LiveServer:
        settings = {
            "agent_backend": backend,
            "agent_base_url": provider.url,
            "agent_api_key_env": "CANVAS_LIVE_TEST_KEY",
        }
        return make_server(**{**settings, **FAST_RETRIES, **overrides})

    return start


async def test_openai_request_and_answer_follow_the_chat_completions_format(
    serve: Callable[..., LiveServer], provider: FakeProvider
) -> None:
    provider.default = Reply(content="```json\n" + msgspec.json.encode(SCORE).decode() + "\n```")
    async with open_client(serve(agent_model="test-model")) as client:
        result = await client.call("agent.call", SCORING_CALL)
    assert result["ok"] and result["attempts"] == 1 and result["output"] == SCORE
    assert "estimate" not in result  # a model's answer is not marked as a heuristic estimate
    request = provider.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["authorization"] == f"Bearer {KEY}"
    body = request["json"]
    assert body["model"] == "test-model"
    system, user = body["messages"]
    assert system["role"] == "system" and "examiner" in system["content"] and '"total_score"' in system["content"]
    assert user["role"] == "user" and "What is a derivative?" in user["content"]


async def test_anthropic_request_and_answer_follow_the_messages_format(
    serve: Callable[..., LiveServer], provider: FakeProvider
) -> None:
    async with open_client(serve("anthropic")) as client:
        result = await client.call("agent.call", SCORING_CALL)
    assert result["output"] == SCORE
    request = provider.requests[0]
    assert request["path"] == "/v1/messages"
    assert request["headers"]["x-api-key"] == KEY and request["headers"]["anthropic-version"]
    assert "examiner" in request["json"]["system"] and request["json"]["max_tokens"] > 0
    assert request["json"]["messages"][0]["role"] == "user"


async def test_anthropic_without_a_key_is_unavailable(
    serve: Callable[..., LiveServer], provider: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CANVAS_LIVE_TEST_KEY")
    async with open_client(serve("anthropic")) as client:
        with pytest.raises(RpcError) as raised:
            await client.call("agent.call", SCORING_CALL)
    assert raised.value.code == -32010 and raised.value.data["category"] == "fatal"
    assert "CANVAS_LIVE_TEST_KEY" in raised.value.message
    assert provider.requests == []


async def test_rate_limited_then_answered_is_retried_and_reports_its_attempts(
    serve: Callable[..., LiveServer], provider: FakeProvider
) -> None:
    provider.script = [Reply(429, "slow down", headers={"retry-after": "0"}), Reply(500), Reply(503)]
    async with open_client(serve()) as client:
        result = await client.call("agent.call", SCORING_CALL)
        stats = (await client.call("server.info"))["agents"]
    assert result["ok"] and result["attempts"] == 4 and result["output"]["total_score"] == 85
    assert len(provider.requests) == 4
    assert stats["total"] == 1 and stats["failed"] == 0


async def test_retries_stop_after_the_configured_attempts(
    serve: Callable[..., LiveServer], provider: FakeProvider
) -> None:
    provider.default = Reply(500, "overloaded")
    async with open_client(serve(agent_retry_attempts=3)) as client:
        with pytest.raises(RpcError) as raised:
            await client.call("agent.call", SCORING_CALL)
    error = raised.value
    assert error.code == -32005 and error.data["error"] == "AGENT_FAILED"
    assert error.data["category"] == "retryable" and error.data["attempts"] == 3 and error.data["status"] == 500
    assert len(provider.requests) == 3


async def test_unauthorized_is_fatal_not_retried_and_never_shows_the_key(
    serve: Callable[..., LiveServer], provider: FakeProvider
) -> None:
    provider.default = Reply(401, f"Incorrect API key provided: {KEY}")
    async with open_client(serve()) as client:
        with pytest.raises(RpcError) as raised:
            await client.call("agent.call", SCORING_CALL)
    error = raised.value
    assert error.code == -32005 and error.data["category"] == "fatal" and error.data["attempts"] == 1
    assert len(provider.requests) == 1
    assert KEY not in error.message and KEY not in msgspec.json.encode(error.data).decode()
    assert "[redacted]" in error.message


@pytest.mark.parametrize(
    ("reply", "reason", "requests"),
    [
        (Reply(content="I think the learner did well, maybe 80 points?"), "invalid_output", 2),
        (Reply(content='{"total_score": 180, "breakdown": {}}'), "invalid_output", 2),
        (Reply(body={"unexpected": "envelope"}), None, 1),
        (Reply(400, "bad request"), None, 1),
    ],
    ids=["prose", "wrong-schema", "wrong-envelope", "http-400"],
)
async def test_malformed_output_is_non_retryable(
    serve: Callable[..., LiveServer], provider: FakeProvider, reply: Reply, reason: str | None, requests: int
) -> None:
    """An answer that does not fit gets one repair turn, then fails by name; a broken exchange fails at once."""
    provider.default = reply
    async with open_client(serve()) as client:
        with pytest.raises(RpcError) as raised:
            await client.call("agent.call", SCORING_CALL)
        assert await client.call("ping") == "pong"
    assert raised.value.code == -32005
    assert raised.value.data["category"] == "non_retryable" and raised.value.data["attempts"] == 1
    assert raised.value.data.get("reason") == reason
    assert len(provider.requests) == requests
    if reason is not None:
        assert raised.value.data["excerpt"] == reply.content
        repair = provider.requests[1]["json"]["messages"]
        assert [turn["role"] for turn in repair] == ["system", "user", "assistant", "user"]
        assert repair[2]["content"] == reply.content and raised.value.data["problem"] in repair[3]["content"]


async def test_a_hanging_backend_times_out(serve: Callable[..., LiveServer], provider: FakeProvider) -> None:
    provider.default = Reply(content=msgspec.json.encode(SCORE).decode(), delay=30)
    async with open_client(serve()) as client:
        with pytest.raises(RpcError) as raised:
            await client.call("agent.call", {**SCORING_CALL, "timeout": 0.3})
        assert raised.value.code == -32008 and raised.value.data["error"] == "TIMEOUT"
        assert raised.value.data["category"] == "retryable"
        info = (await client.call("server.info"))["agents"]
    assert info["in_flight"] == 0 and info["failed"] == 1


async def test_a_slow_attempt_is_timed_out_and_retried(
    serve: Callable[..., LiveServer], provider: FakeProvider
) -> None:
    provider.script = [Reply(delay=30)]
    async with open_client(serve(agent_attempt_timeout=0.2)) as client:
        result = await client.call("agent.call", SCORING_CALL)
    assert result["ok"] and result["attempts"] == 2


async def test_the_circuit_opens_fails_fast_and_recovers(
    serve: Callable[..., LiveServer], provider: FakeProvider
) -> None:
    answer = provider.default
    provider.default = Reply(500)
    live = serve(breaker_threshold=3, breaker_reset=0.3, agent_retry_attempts=1)
    async with open_client(live) as watcher, open_client(live) as client:
        await watcher.call("subscribe", {"topics": ["agents"]})
        for _ in range(3):
            with pytest.raises(RpcError):
                await client.call("agent.call", SCORING_CALL)
        opened = await watcher.event("agent.circuit")
        assert opened["backend"] == "openai" and opened["state"] == "open" and opened["retry_at"].endswith("Z")

        with pytest.raises(RpcError) as refused:
            await client.call("agent.call", SCORING_CALL)
        assert refused.value.code == -32006 and refused.value.data["error"] == "CIRCUIT_OPEN"
        assert refused.value.data["retry_at"]
        assert len(provider.requests) == 3, "an open circuit does not reach the backend"
        assert (await client.call("server.info"))["agents"]["circuit"] == "open"

        await asyncio.sleep(0.35)
        provider.default = Reply(500)
        with pytest.raises(RpcError):
            await client.call("agent.call", SCORING_CALL)  # the half-open probe fails: open again
        assert (await watcher.event("agent.circuit"))["state"] == "half_open"
        assert (await watcher.event("agent.circuit"))["state"] == "open"

        await asyncio.sleep(0.35)
        provider.default = answer
        result = await client.call("agent.call", SCORING_CALL)
        assert result["ok"]
        assert (await watcher.event("agent.circuit"))["state"] == "half_open"
        closed = await watcher.event("agent.circuit")
        assert closed["state"] == "closed" and "retry_at" not in closed


async def test_half_open_lets_one_probe_through(serve: Callable[..., LiveServer], provider: FakeProvider) -> None:
    answer = provider.default
    provider.default = Reply(500)
    live = serve(breaker_threshold=1, breaker_reset=0.2, agent_retry_attempts=1)
    async with open_client(live) as client:
        with pytest.raises(RpcError):
            await client.call("agent.call", SCORING_CALL)
        await asyncio.sleep(0.25)
        provider.default = Reply(content=answer.content, delay=0.3)
        outcomes = await asyncio.gather(
            *(client.call("agent.call", SCORING_CALL) for _ in range(4)), return_exceptions=True
        )
    succeeded = [outcome for outcome in outcomes if isinstance(outcome, dict)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, RpcError)]
    assert len(succeeded) == 1 and len(refused) == 3
    assert all(error.code == -32006 for error in refused)


async def test_json_agents_ask_openai_for_structured_output_with_their_schema(
    serve: Callable[..., LiveServer], provider: FakeProvider
) -> None:
    async with open_client(serve()) as client:
        await client.call("agent.call", SCORING_CALL)
        await client.call("agent.call", {"agent": "oral", "input": {"concept": "导数"}})
    scoring, oral = (request["json"] for request in provider.requests)
    assert scoring["response_format"]["type"] == "json_schema"
    # Each agent's token limit, and its temperature where its file sets one (scoring: 0), reach the request.
    assert scoring["max_tokens"] == 512 and scoring["temperature"] == 0 and scoring["stream"] is True
    assert oral["max_tokens"] == 1024 and "temperature" not in oral  # the model's own default
    schema = scoring["response_format"]["json_schema"]
    assert schema["name"] == "scoring" and "total_score" in msgspec.json.encode(schema["schema"]).decode()
    assert "response_format" not in oral  # a Markdown agent answers in prose
    assert "language of the material" in scoring["messages"][0]["content"]


async def test_a_server_without_json_schema_support_is_asked_in_json_mode(
    serve: Callable[..., LiveServer], provider: FakeProvider
) -> None:
    provider.script = [Reply(400, "response_format.type 'json_schema' is not supported by this server")]
    async with open_client(serve()) as client:
        first = await client.call("agent.call", SCORING_CALL)
        second = await client.call("agent.call", SCORING_CALL)
    assert first["ok"] and second["ok"] and first["output"]["total_score"] == SCORE["total_score"]
    formats = [request["json"]["response_format"]["type"] for request in provider.requests]
    assert formats == ["json_schema", "json_object", "json_object"]  # refused once, then JSON mode for good


LLAMA_CPP_REFUSAL = (
    "1 validation error: {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
    "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}"
)


async def test_each_refused_mode_steps_down_once_without_a_retry_or_the_breaker(
    serve: Callable[..., LiveServer], provider: FakeProvider
) -> None:
    """llama-cpp-python's HTTP 500 refusing json_schema, then a 400 refusing json_object: two capability
    answers, so the schema goes into the prompt alone; a breaker that opens at the first failure stays shut."""
    provider.script = [Reply(500, LLAMA_CPP_REFUSAL), Reply(400, "response_format json_object is not supported")]
    async with open_client(serve(breaker_threshold=1, agent_retry_attempts=1)) as client:
        result = await client.call("agent.call", SCORING_CALL)
        info = await client.call("server.info")
    formats = [request["json"].get("response_format", {}).get("type") for request in provider.requests]
    assert formats == ["json_schema", "json_object", None]
    assert result["ok"] and result["attempts"] == 1
    agents = info["agents"]
    assert agents["output_mode"] == "prompt" and agents["circuit"] == "closed" and agents["retries"] == 0
    assert "JSON Schema" in provider.requests[-1]["json"]["messages"][0]["content"]  # the schema, in the prompt


async def test_an_error_that_only_echoes_the_request_is_no_refusal(
    serve: Callable[..., LiveServer], provider: FakeProvider
) -> None:
    """A 422 about another field whose body echoes the request (response_format included) is a plain
    non-retryable failure: the model keeps its structured output."""
    echoed = {"detail": [{"loc": ["body", "messages"], "msg": "Field required", "input": {"response_format": {}}}]}
    provider.script = [Reply(422, body=echoed)]
    async with open_client(serve()) as client:
        with pytest.raises(RpcError) as failed:
            await client.call("agent.call", SCORING_CALL)
        info = await client.call("server.info")
    assert failed.value.data["category"] == "non_retryable" and len(provider.requests) == 1
    assert info["agents"]["output_mode"] == "json_schema"


async def test_a_streamed_calls_token_counts_are_throttled_and_rise(
    serve: Callable[..., LiveServer], provider: FakeProvider
) -> None:
    """80 chunks 20 ms apart: every chunk is a token, but at most 4 counts a second go out."""
    provider.default = Reply(content="x" * 320, chunk_delay=0.02)
    async with open_client(serve()) as client:
        started = asyncio.get_running_loop().time()
        task_id = (await client.call("agent.batch", {"calls": [{"agent": "oral", "input": {"concept": "x"}}]}))[
            "task_id"
        ]
        topic = f"task:{task_id}"
        await client.call("subscribe", {"topics": [topic], "since": {topic: 0}, "epoch": client.hello["epoch"]})
        counts = []
        while True:
            message = await asyncio.wait_for(client.events.get(), 30)
            if message["method"] == "agent.progress":
                counts.append(message["params"]["tokens"])
            if message["method"] == "task.completed":
                break
        elapsed = asyncio.get_running_loop().time() - started
    assert counts and counts == sorted(counts) and counts[-1] <= 80
    assert len(counts) <= 4 * elapsed + 1, (len(counts), elapsed)


async def test_a_calls_time_limit_starts_when_it_gets_a_slot(
    serve: Callable[..., LiveServer], provider: FakeProvider
) -> None:
    """One slot, three calls of 0.6 s each, a limit of 1 s a call: waiting in line is not answering
    slowly, so the last call, sent 1.2 s after the batch began, still completes."""
    provider.default = Reply(content=msgspec.json.encode(SCORE).decode(), delay=0.6)
    async with open_client(serve(max_concurrent_agents=1, agent_timeout=1.0)) as client:
        calls = [{**SCORING_CALL, "key": str(index)} for index in range(3)]
        task_id = (await client.call("agent.batch", {"calls": calls}))["task_id"]
        task = await client.call("task.wait", {"id": task_id, "timeout": 30}, timeout=40)
    results = task["result"]["results"]
    assert [result["ok"] for result in results] == [True, True, True], results
