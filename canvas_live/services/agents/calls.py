"""One agent call: the request a backend is given, the output check, and the result a caller gets."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import msgspec

from canvas_live.protocol.errors import ErrorInfo
from canvas_live.services.agents.definitions import AgentDefinition
from canvas_live.services.agents.errors import AgentError, Category

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n(?P<body>.*?)\n?```", re.DOTALL)
_encoder = msgspec.json.Encoder()


class AgentResult(msgspec.Struct, omit_defaults=True):
    """How a call ended: its output, or its error, and what it took (`attempts`, `duration_ms`);
    `estimate` marks output a heuristic made rather than a model (the offline backend's)."""

    agent: str
    ok: bool
    attempts: int
    duration_ms: float
    key: str | None = None
    output: Any = None
    error: ErrorInfo | None = None
    estimate: bool = False


LANGUAGE_RULE = (
    "Write every text of your answer in the language of the material you are given: Chinese material "
    "gets a Chinese answer, English material an English one. Keep the material's own terms as it writes them."
)
"""Told to every agent: the learner reads the answer beside the material."""


@dataclass(frozen=True, slots=True)
class AgentRequest:
    """A validated call, ready for a backend: the definition and the decoded input."""

    definition: AgentDefinition
    input: Any

    @property
    def input_json(self) -> str:
        """The input as JSON text, non-ASCII kept readable for the model."""
        return msgspec.json.format(_encoder.encode(self.input).decode(), indent=2)

    def system_prompt(self) -> str:
        """The definition's prompt, the language rule, and for a JSON agent the exact schema it must answer in."""
        prompt = f"{self.definition.prompt}\n\n{LANGUAGE_RULE}"
        if self.definition.output != "json":
            return prompt
        schema = msgspec.json.encode(self.definition.schema.output_schema()).decode()
        return (
            f"{prompt}\n\nAnswer with a single JSON value and nothing else (no prose, no code fence). "
            f"It must match this JSON Schema:\n{schema}"
        )

    def schema(self) -> dict[str, Any]:
        """The JSON Schema of the agent's output."""
        return self.definition.schema.output_schema()

    def user_message(self) -> str:
        """The input, as the user turn of a chat."""
        return f"Input:\n{self.input_json}"

    def transcript(self) -> str:
        """System prompt and input as one text, for backends without roles (a command's stdin)."""
        return f"{self.system_prompt()}\n\n{self.user_message()}\n"

    def parse_output(self, text: str) -> Any:
        """Check a model's answer against the agent's output type; a misfit is NON_RETRYABLE."""
        schema = self.definition.schema
        if self.definition.output == "markdown":
            value: Any = text.strip()
        else:
            value = _json_in(text)
        try:
            return msgspec.convert(value, schema.output)
        except msgspec.ValidationError as exc:
            raise AgentError(
                Category.NON_RETRYABLE, f"agent {self.definition.name!r} answered output that does not fit: {exc}"
            ) from None


def _json_in(text: str) -> Any:
    """The JSON value in a model's answer, tolerating a code fence or prose around it."""
    candidates = [text.strip()]
    fenced = _FENCE.search(text)
    if fenced:
        candidates.append(fenced["body"].strip())
    starts = [index for index in (text.find("{"), text.find("[")) if index >= 0]
    if starts:
        start = min(starts)
        end = max(text.rfind("}"), text.rfind("]"))
        if end > start:
            candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            return msgspec.json.decode(candidate)
        except msgspec.DecodeError:
            continue
    raise AgentError(Category.NON_RETRYABLE, "the agent's answer is not JSON")
