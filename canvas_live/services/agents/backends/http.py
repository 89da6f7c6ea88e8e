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

from canvas_live.protocol.errors import ErrorCode
from canvas_live.services.agents.backends.base import BackendConfig
from canvas_live.services.agents.calls import AgentRequest
from canvas_live.services.agents.errors import AgentError, Category, classify_status, unavailable

MAX_TOKENS = 4096


class _HttpBackend(ABC):
    """What both providers share: the client, the key, the status classification."""

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

    @abstractmethod
    def headers(self, key: str | None) -> dict[str, str]:
        """The provider's request headers."""

    @abstractmethod
    def body(self, request: AgentRequest, model: str) -> dict[str, Any]:
        """The provider's request body."""

    @abstractmethod
    def answer(self, payload: Any) -> str:
        """The text of the provider's response body."""

    async def complete(self, request: AgentRequest) -> str:
        """POST the request; classify transport errors and HTTP status; return the answer's text."""
        if self.key_required and self._key is None:
            raise unavailable(f"the {self.name} backend needs an API key in the environment variable {self.key_env}")
        model = request.definition.model or self.model
        try:
            response = await self._client.post(
                self.path, json=self.body(request, model), headers=self.headers(self._key)
            )
        except httpx.TimeoutException:
            raise AgentError(Category.RETRYABLE, f"the {self.name} backend timed out", ErrorCode.TIMEOUT) from None
        except httpx.TransportError as exc:
            raise AgentError(
                Category.RETRYABLE, f"cannot reach the {self.name} backend: {type(exc).__name__}"
            ) from None
        if response.status_code >= 400:
            raise self._status_error(response)
        try:
            return self.answer(response.json())
        except (ValueError, LookupError, TypeError):
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


def _cut(text: str, limit: int = 200) -> str:
    """A provider's message cut short (after `redact`: a key cut in half would no longer be found)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


log = logging.getLogger("canvas_live.agents")

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


class OpenAIBackend(_HttpBackend):
    """OpenAI's chat completions, or any server that speaks them (Ollama, vLLM, llama.cpp, LM Studio)."""

    name = "openai"
    default_url = "https://api.openai.com/v1"
    default_key_env = "OPENAI_API_KEY"
    default_model = "gpt-4o-mini"
    path = "/chat/completions"

    structured = True
    """Whether the server takes `response_format: json_schema`; set false at its first refusal."""

    def headers(self, key: str | None) -> dict[str, str]:
        """Bearer auth when a key is set; local servers usually need none."""
        return {"authorization": f"Bearer {key}"} if key else {}

    def body(self, request: AgentRequest, model: str) -> dict[str, Any]:
        """System prompt and input as two chat messages; a JSON agent asks for structured output.

        With the agent's JSON Schema (`json_schema`) where the server supports it, else plain JSON
        mode (`json_object`): OpenAI, vLLM and llama.cpp take the first, some Ollama versions only
        the second.
        """
        body: dict[str, Any] = {
            "model": model,
            "messages": [
                {"role": "system", "content": request.system_prompt()},
                {"role": "user", "content": request.user_message()},
            ],
        }
        if request.definition.output == "json":
            schema = {"name": _SCHEMA_NAME.sub("_", request.definition.name)[:64], "schema": request.schema()}
            structured = {"type": "json_schema", "json_schema": schema}
            body["response_format"] = structured if self.structured else {"type": "json_object"}
        return body

    async def complete(self, request: AgentRequest) -> str:
        """As for any HTTP backend; a server that refuses `json_schema` is asked again in JSON mode."""
        try:
            return await super().complete(request)
        except AgentError as exc:
            refused = exc.data.get("status") in (400, 422) and "response_format" in exc.message.lower()
            if not (refused and self.structured and request.definition.output == "json"):
                raise
        self.structured = False
        log.info("the %s backend refused response_format json_schema: using JSON mode from now on", self.name)
        return await super().complete(request)

    def answer(self, payload: Any) -> str:
        """`choices[0].message.content`."""
        content = payload["choices"][0]["message"]["content"]
        if not isinstance(content, str):
            raise TypeError("content is not text")
        return content


class AnthropicBackend(_HttpBackend):
    """Anthropic's Messages API."""

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
        """The system prompt as `system`, the input as the one user message."""
        return {
            "model": model,
            "max_tokens": MAX_TOKENS,
            "system": request.system_prompt(),
            "messages": [{"role": "user", "content": request.user_message()}],
        }

    def answer(self, payload: Any) -> str:
        """The text blocks of `content`, joined."""
        texts = [block["text"] for block in payload["content"] if block.get("type") == "text"]
        if not texts:
            raise LookupError("no text block")
        return "".join(texts)
