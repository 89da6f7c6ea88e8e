"""One agent call: the request a backend is given, the output check, and the result a caller gets."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

import msgspec

from canvas_live.protocol.errors import ErrorInfo
from canvas_live.services.agents.definitions import AgentDefinition
from canvas_live.services.agents.errors import AgentError, Category

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n(?P<body>.*?)\n?```", re.DOTALL)
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()

EXCERPT = 400
"""Characters of a refused answer kept in the call's result: enough to see what went wrong, never a whole essay."""


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
class Completion:
    """A model's answer: its text, and whether the model stopped at `max_tokens` (so the text is cut short)."""

    text: str
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class Repair:
    """A second turn after an answer that did not fit: the answer as the model gave it, and what was wrong."""

    answer: str
    problem: str


@dataclass(frozen=True, slots=True)
class AgentRequest:
    """A validated call, ready for a backend: the definition, the decoded input, and a repair turn if one is due."""

    definition: AgentDefinition
    input: Any
    repair: Repair | None = None

    @property
    def max_tokens(self) -> int:
        """The most tokens the model may answer with: the agent's own limit, sized for its output type."""
        return self.definition.max_tokens

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

    def repair_message(self) -> str:
        """The user turn that asks again after an answer that did not fit, saying what was wrong."""
        assert self.repair is not None
        again = "only the JSON value, matching the schema" if self.definition.output == "json" else "the text"
        return f"That answer cannot be used: {self.repair.problem}. Answer again with {again}, and keep it short."

    def messages(self) -> list[dict[str, str]]:
        """The chat: system prompt, input, and after a misfit the refused answer with what was wrong."""
        chat = [{"role": "system", "content": self.system_prompt()}, {"role": "user", "content": self.user_message()}]
        if self.repair is not None:
            chat += [
                {"role": "assistant", "content": self.repair.answer},
                {"role": "user", "content": self.repair_message()},
            ]
        return chat

    def transcript(self) -> str:
        """The chat as one text, for backends without roles (a command's stdin)."""
        text = f"{self.system_prompt()}\n\n{self.user_message()}\n"
        if self.repair is not None:
            text += f"\nYour previous answer:\n{self.repair.answer}\n\n{self.repair_message()}\n"
        return text

    def repaired(self, answer: str, problem: str) -> AgentRequest:
        """The same request with a repair turn after `answer`."""
        return replace(self, repair=Repair(answer, problem))

    def parse_output(self, completion: Completion) -> Any:
        """Check a model's answer against the agent's output type.

        A misfit is NON_RETRYABLE with `reason` "invalid_output", or "length" when the model was cut
        off at `max_tokens` (a cut answer is never taken, even if what came parses), and an excerpt
        of the answer, so that a learner's task result shows what the model said.
        """
        text = completion.text
        if completion.truncated:
            raise self._misfit(text, f"the answer stopped at the limit of {self.max_tokens} tokens", "length")
        if self.definition.output == "markdown":
            value: Any = text.strip()
        else:
            value = first_json_object(text)
            if value is None:
                raise self._misfit(text, "the answer holds no complete JSON value")
        try:
            return msgspec.convert(value, self.definition.schema.output)
        except msgspec.ValidationError as exc:
            raise self._misfit(text, f"it does not fit the schema: {exc}") from None

    def _misfit(self, text: str, problem: str, reason: str = "invalid_output") -> AgentError:
        excerpt = text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"
        return AgentError(
            Category.NON_RETRYABLE,
            f"agent {self.definition.name!r} answered output that cannot be used: {problem}",
            reason=reason,
            problem=problem,
            excerpt=excerpt,
        )


def first_json_object(text: str) -> Any:
    """The JSON value in a model's answer, or None: the whole text, a fenced block, or else the first
    complete JSON object or array in it (small models write prose before and after, or a second object)."""
    candidates = [text.strip()]
    fenced = _FENCE.search(text)
    if fenced:
        candidates.append(fenced["body"].strip())
    for candidate in candidates:
        try:
            return _decoder.decode(candidate)
        except msgspec.DecodeError:
            continue
    for start in (index for index, char in enumerate(text) if char in "{["):
        end = _balanced_end(text, start)
        if end is not None:
            try:
                return _decoder.decode(text[start:end])
            except msgspec.DecodeError:
                continue
    return None


def _balanced_end(text: str, start: int) -> int | None:
    """Where the bracketed JSON value opening at `start` closes (strings and escapes respected), or None."""
    depth = 0
    in_string = escaped = False
    for index in range(start, len(text)):
        char = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return index + 1
    return None
