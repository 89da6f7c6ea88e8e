"""HTTP model backends over httpx: any OpenAI-compatible `/chat/completions`, and Anthropic's Messages API.

The API key is read from an environment variable when the backend is built and only ever put in a
request header; error messages carry the provider's own message with the key scrubbed out. HTTP
status is classified as docs/architecture.md says (429/5xx retryable, 401/403 fatal, other 4xx not retryable), and
a 429's `Retry-After` is passed on so the retry policy can wait at least that long.
"""

from __future__ import annotations

import logging
import os
import re
from abc import ABC, abstractmethod
from difflib import SequenceMatcher
from typing import Any

import httpx
import msgspec

from canvas_live.protocol.errors import ErrorCode
from canvas_live.services.agents.backends.base import BackendConfig, TokenSink
from canvas_live.services.agents.calls import AgentRequest, Completion
from canvas_live.services.agents.errors import AgentError, Category, classify_status, unavailable

log = logging.getLogger("canvas_live.agents")


class _Refused(Exception):
    """The server refused the request's `response_format`: a capability answer, not a failure."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class _HttpBackend(ABC):
    """What both providers share: the client, the key, the exchange and its error classification."""

    name = ""
    estimates = False
    default_url = ""
    default_key_env = ""
    default_model = ""
    path = ""
    key_required = False

    def __init__(self, config: BackendConfig) -> None:
        self.model = config.model or self.default_model
        self.key_env = config.api_key_env or self.default_key_env
        self._key = os.environ.get(self.key_env) or None
        self._client = httpx.AsyncClient(
            base_url=config.base_url or self.default_url,
            timeout=httpx.Timeout(None, connect=10.0),
            limits=httpx.Limits(
                max_connections=config.max_connections, max_keepalive_connections=config.max_connections
            ),
        )

    @property
    def output_mode(self) -> str:
        """The schema is in the prompt; a provider with a structured-output switch says otherwise."""
        return "prompt"

    @abstractmethod
    def headers(self, key: str | None) -> dict[str, str]:
        """The provider's request headers."""

    @abstractmethod
    def body(self, request: AgentRequest, model: str) -> dict[str, Any]:
        """The provider's request body."""

    @abstractmethod
    def answer(self, payload: Any) -> Completion:
        """The answer in a whole (not streamed) response body."""

    async def read_stream(self, response: httpx.Response, on_tokens: TokenSink | None) -> Completion:
        """The answer of a streamed response (server-sent events), read as it comes."""
        raise TypeError(f"the {self.name} backend does not stream")

    def refused(self, response: httpx.Response, body: dict[str, Any]) -> bool:
        """Whether an error response refuses the request's structured-output format (see OpenAIBackend)."""
        return False

    def check_key(self) -> None:
        """`UNAVAILABLE` when the provider needs a key and the environment has none."""
        if self.key_required and self._key is None:
            raise unavailable(f"the {self.name} backend needs an API key in the environment variable {self.key_env}")

    async def complete(self, request: AgentRequest, on_tokens: TokenSink | None = None) -> Completion:
        """Send the request and return the answer."""
        self.check_key()
        return await self.send(self.body(request, request.definition.model or self.model), on_tokens)

    async def send(self, body: dict[str, Any], on_tokens: TokenSink | None) -> Completion:
        """POST `body`; classify transport errors and HTTP status; read the answer, streamed or whole.

        Cancelling this closes the response, and with it the connection: a streaming engine sees
        the client go and stops generating.
        """
        try:
            async with self._client.stream("POST", self.path, json=body, headers=self.headers(self._key)) as response:
                if response.status_code >= 400:
                    await response.aread()
                    if self.refused(response, body):
                        detail = " ".join(_provider_message(response).split())
                        raise _Refused(response.status_code, _cut(redact(detail, self._key)))
                    raise self._status_error(response)
                if response.headers.get("content-type", "").startswith("text/event-stream"):
                    return await self.read_stream(response, on_tokens)
                await response.aread()
                return self.answer(response.json())
        except httpx.TimeoutException:
            raise AgentError(Category.RETRYABLE, f"the {self.name} backend timed out", ErrorCode.TIMEOUT) from None
        except httpx.TransportError as exc:
            raise AgentError(
                Category.RETRYABLE, f"lost the connection to the {self.name} backend: {type(exc).__name__}"
            ) from None
        except (ValueError, LookupError, TypeError, msgspec.DecodeError):
            raise AgentError(
                Category.NON_RETRYABLE, f"the {self.name} backend answered in an unexpected format"
            ) from None

    def _status_error(self, response: httpx.Response) -> AgentError:
        status = response.status_code
        detail = _cut(redact(_provider_message(response), self._key))
        message = f"the {self.name} backend answered HTTP {status}" + (f": {detail}" if detail else "")
        data: dict[str, Any] = {"status": status}
        retry_after = _seconds(response.headers.get("retry-after"))
        if retry_after is not None:
            data["retry_after"] = retry_after
        return AgentError(classify_status(status), message, **data)

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


def _provider_message(response: httpx.Response) -> str:
    """The `error.message` both providers put in an error body; nothing else of the body."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return ""
    message = error.get("message") if isinstance(error, dict) else error
    return str(message) if message else ""


def _error_text(response: httpx.Response) -> str:
    """What an error body says, and nothing it echoes of the request: `error.message` (OpenAI,
    llama-cpp-python), a top-level `message` (vLLM), or the `loc` and `msg` of FastAPI's `detail`."""
    try:
        payload = response.json()
    except ValueError:
        return ""
    if not isinstance(payload, dict):
        return ""
    detail = payload.get("detail")
    if isinstance(detail, list):
        detail = [{"loc": item.get("loc"), "msg": item.get("msg")} for item in detail if isinstance(item, dict)]
    parts = (_provider_message(response), payload.get("message"), detail)
    return " ".join(str(part) for part in parts if part)


def _cut(text: str, limit: int = 200) -> str:
    """A provider's message cut short (after `redact`: a key cut in half would no longer be found)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


_SCHEMA_NAME = re.compile(r"[^A-Za-z0-9_-]")
_RUN = re.compile(r"[A-Za-z0-9_\-.+/=:]{4,}")

PARTIAL = 6
"""Characters of an API key, in a row, that a message may not show: providers echo keys partly too."""


def redact(text: str, secret: str | None) -> str:
    """`text` with every run of characters that shares `PARTIAL` or more in a row with `secret` (in any
    case) replaced by `[redacted]`: the key whole, its start, its end, or a middle piece."""
    if not secret:
        return text
    key = secret.lower()
    need = min(PARTIAL, len(key))

    def hide(match: re.Match[str]) -> str:
        run = match.group(0).lower()
        found = SequenceMatcher(None, run, key, autojunk=False).find_longest_match(0, len(run), 0, len(key))
        return "[redacted]" if found.size >= need else match.group(0)

    return _RUN.sub(hide, text)


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


MODES = ("json_schema", "json_object", "prompt")
"""Structured-output modes, strongest first: the schema enforced by name (OpenAI, vLLM, Ollama,
llama.cpp's llama-server), JSON mode with a `schema` member (llama-cpp-python's server turns it into
a grammar), and plain text with the schema in the prompt only (every server takes that)."""

_FORMAT_WORDS = ("response_format", *MODES[:2])

ENUMERATED_RANGE = 1000
"""Integer ranges up to this many values are spelt out for grammar engines (see `grammar_schema`)."""


def grammar_schema(schema: Any) -> Any:
    """`schema` with each bounded integer range written as the enum of its values: the same set of
    answers, in a form llama-cpp-python's grammar builder enforces (it ignores `minimum` and
    `maximum`, so a small model's 67 out of 25 would pass the grammar and fail validation)."""
    if isinstance(schema, list):
        return [grammar_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    low, high = schema.get("minimum"), schema.get("maximum")
    integer = schema.get("type") == "integer"
    if integer and isinstance(low, int) and isinstance(high, int) and 0 <= high - low < ENUMERATED_RANGE:
        rest = {key: value for key, value in schema.items() if key not in ("minimum", "maximum")}
        return {**rest, "enum": list(range(low, high + 1))}
    return {key: grammar_schema(value) for key, value in schema.items()}


_STREAM_CHUNK = msgspec.json.Decoder()


class OpenAIBackend(_HttpBackend):
    """OpenAI's chat completions, or any server that speaks them (Ollama, vLLM, llama.cpp, LM Studio).

    Answers are streamed (`stream: true`), so a running call's tokens can be counted as they come
    and a cancelled call closes the stream. Structured output is negotiated per model: each model
    starts with the strongest mode; a refusal of `response_format` moves it to the next one for the
    rest of the process, and the request is sent again at once. Servers refuse with many statuses
    (llama-cpp-python answers HTTP 500), so a refusal is recognised by its body naming the format:
    it is a capability answer, never retried as a failure nor counted by the circuit breaker.
    """

    name = "openai"
    default_url = "https://api.openai.com/v1"
    default_key_env = "OPENAI_API_KEY"
    default_model = "gpt-4o-mini"
    path = "/chat/completions"

    def __init__(self, config: BackendConfig) -> None:
        super().__init__(config)
        self._modes: dict[str, str] = {}

    @property
    def output_mode(self) -> str:
        """The mode JSON agents get with the configured model now."""
        return self.mode(self.model)

    def mode(self, model: str) -> str:
        """The strongest mode `model` has not refused."""
        return self._modes.get(model, MODES[0])

    def headers(self, key: str | None) -> dict[str, str]:
        """Bearer auth when a key is set; local servers usually need none."""
        return {"authorization": f"Bearer {key}"} if key else {}

    def body(self, request: AgentRequest, model: str) -> dict[str, Any]:
        """The chat, streamed, with the agent's token limit; a JSON agent asks for structured output
        in the mode `model` takes (the schema is in the system prompt in every mode)."""
        body: dict[str, Any] = {
            "model": model,
            "messages": request.messages(),
            "max_tokens": request.max_tokens,
            "stream": True,
        }
        if request.definition.temperature is not None:
            body["temperature"] = request.definition.temperature
        mode = self.mode(model)
        if request.definition.output == "json" and mode != "prompt":
            schema = request.schema()
            if mode == "json_schema":
                named = {"name": _SCHEMA_NAME.sub("_", request.definition.name)[:64], "schema": schema}
                body["response_format"] = {"type": "json_schema", "json_schema": named}
            else:
                body["response_format"] = {"type": "json_object", "schema": grammar_schema(schema)}
        return body

    def refused(self, response: httpx.Response, body: dict[str, Any]) -> bool:
        """An error about the request's `response_format`: a 400, 422, 500 or 501 whose error
        message names it or the mode (llama-cpp-python answers 500). Only the provider's message is
        read, never the rest of the body, which may echo the whole request back."""
        if "response_format" not in body or response.status_code not in (400, 422, 500, 501):
            return False
        text = _error_text(response).lower()
        return any(word in text for word in _FORMAT_WORDS)

    async def complete(self, request: AgentRequest, on_tokens: TokenSink | None = None) -> Completion:
        """Send the request in the strongest mode the model takes, stepping down at each refusal."""
        self.check_key()
        model = request.definition.model or self.model
        while True:
            mode = self.mode(model)
            try:
                return await self.send(self.body(request, model), on_tokens)
            except _Refused as refusal:
                if self.mode(model) == mode:  # a concurrent call may have stepped down already
                    self._modes[model] = MODES[MODES.index(mode) + 1]
                    log.warning(
                        "the %s backend refused response_format %s for model %s (HTTP %d: %s): using %s from now on",
                        self.name, mode, model, refusal.status, refusal.detail, self._modes[model],
                    )  # fmt: skip

    async def read_stream(self, response: httpx.Response, on_tokens: TokenSink | None) -> Completion:
        """The streamed chunks' content joined; each chunk with content is one token (engines send one
        token a chunk). A stream that ends without a finish reason was cut off: RETRYABLE."""
        parts: list[str] = []
        finish: str | None = None
        async for line in response.aiter_lines():
            field, _, data = line.partition(":")
            data = data.strip()
            if field not in ("data", "error") or not data:
                continue
            if data == "[DONE]":
                break
            chunk = _STREAM_CHUNK.decode(data)
            error = chunk.get("error", chunk if field == "error" else None) if isinstance(chunk, dict) else chunk
            if error is not None:
                message = error.get("message", error) if isinstance(error, dict) else error
                detail = _cut(redact(str(message), self._key))
                raise AgentError(Category.NON_RETRYABLE, f"the {self.name} backend failed while answering: {detail}")
            for choice in chunk.get("choices") or ():
                content = (choice.get("delta") or {}).get("content")
                if content:
                    parts.append(content)
                    if on_tokens is not None:
                        on_tokens(len(parts))
                finish = choice.get("finish_reason") or finish
        if finish is None:  # llama-cpp-python's server ends a stream so when another request arrives
            raise AgentError(
                Category.RETRYABLE,
                f"the {self.name} backend ended its answer early, without a finish reason: an engine that "
                "serves fewer requests at once than --max-concurrent-agents interrupts one for another",
            )
        return Completion("".join(parts), truncated=finish == "length")

    def answer(self, payload: Any) -> Completion:
        """`choices[0].message.content`, from a server that answered without streaming."""
        choice = payload["choices"][0]
        content = choice["message"]["content"]
        if not isinstance(content, str):
            raise TypeError("content is not text")
        return Completion(content, truncated=choice.get("finish_reason") == "length")


class AnthropicBackend(_HttpBackend):
    """Anthropic's Messages API (not streamed: its answer arrives whole)."""

    name = "anthropic"
    default_url = "https://api.anthropic.com/v1"
    default_key_env = "ANTHROPIC_API_KEY"
    default_model = "claude-sonnet-4-5"
    path = "/messages"
    key_required = True
    version = "2023-06-01"

    def headers(self, key: str | None) -> dict[str, str]:
        """`x-api-key` and the API version the request is written for."""
        return {"x-api-key": key or "", "anthropic-version": self.version}

    def body(self, request: AgentRequest, model: str) -> dict[str, Any]:
        """The system prompt as `system`, the rest of the chat as `messages`."""
        system, *messages = request.messages()
        body = {"model": model, "max_tokens": request.max_tokens, "system": system["content"], "messages": messages}
        if request.definition.temperature is not None:
            body["temperature"] = request.definition.temperature
        return body

    def answer(self, payload: Any) -> Completion:
        """The text blocks of `content`, joined."""
        texts = [block["text"] for block in payload["content"] if block.get("type") == "text"]
        if not texts:
            raise LookupError("no text block")
        return Completion("".join(texts), truncated=payload.get("stop_reason") == "max_tokens")
