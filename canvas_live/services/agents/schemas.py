"""Input and output types of the built-in agents (keys as the Canvas Learning System named them).

These types are the single source of truth for an agent's contract: they validate what a client
sends, they validate what a model answers, and their JSON Schema is written into the prompt so a
model is told exactly the shape it must produce.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec

Text = Annotated[str, msgspec.Meta(min_length=1)]
Difficulty = Literal["easy", "medium", "hard"]
Score = Annotated[int, msgspec.Meta(ge=0, le=25)]
ColorAction = Literal["change_to_green", "change_to_purple", "keep_red"]


class DecompositionInput(msgspec.Struct, forbid_unknown_fields=True):
    """Material to break into guiding questions; `user_understanding` steers them to the gaps."""

    material_content: Text
    topic: str | None = None
    user_understanding: str | None = None


class DeepDecompositionInput(msgspec.Struct, forbid_unknown_fields=True):
    """Deep decomposition starts from what the learner already wrote, so it is required."""

    material_content: Text
    user_understanding: Text
    topic: str | None = None


class SubQuestion(msgspec.Struct, omit_defaults=True):
    """One guiding question."""

    text: Text
    type: Text
    difficulty: Difficulty
    guidance: str | None = None


class DecompositionOutput(msgspec.Struct):
    """3-7 guiding questions."""

    sub_questions: Annotated[list[SubQuestion], msgspec.Meta(min_length=3, max_length=7)]


class ScoringInput(msgspec.Struct, forbid_unknown_fields=True):
    """A learner's explanation of a question, with the material to check it against."""

    question_text: Text
    user_understanding: str
    reference_material: str | None = None


class Breakdown(msgspec.Struct):
    """The four rubric dimensions, 0-25 each."""

    accuracy: Score
    imagery: Score
    completeness: Score
    originality: Score


class ScoringOutput(msgspec.Struct, omit_defaults=True):
    """Rubric score; `color_action` tells the canvas how to recolour the question node.

    An answer that is no explanation at all (empty, or a placeholder left to be filled in such as
    "[Answer in your own words]") is `{"unscorable": true, "reason": …}` and carries no score: a 0
    would claim it was judged, and recolour its question as if it had been.
    """

    total_score: Annotated[int, msgspec.Meta(ge=0, le=100)] | None = None
    breakdown: Breakdown | None = None
    passed: bool | None = msgspec.field(name="pass", default=None)
    feedback: str | None = None
    color_action: ColorAction | None = None
    unscorable: bool = False
    reason: str | None = None

    def __post_init__(self) -> None:
        """Either a whole score or a reason it could not be given, never a mix (msgspec reports it as a misfit)."""
        scored = (self.total_score, self.breakdown, self.passed, self.feedback, self.color_action)
        if self.unscorable:
            if not self.reason or any(part is not None for part in scored):
                raise ValueError("an unscorable answer has a `reason` and no score")
        elif any(part is None for part in scored) or self.reason is not None:
            raise ValueError(
                "a score needs `total_score`, `breakdown`, `pass`, `feedback` and `color_action`"
                " (or `unscorable: true` with a `reason`)"
            )


class WholeScore(msgspec.Struct):
    """A whole score: the first of the two shapes a scoring answer is shown to take."""

    total_score: Annotated[int, msgspec.Meta(ge=0, le=100)]
    breakdown: Breakdown
    passed: bool = msgspec.field(name="pass")
    feedback: str
    color_action: ColorAction


UNSCORABLE_SHAPE: dict[str, Any] = {
    "type": "object",
    "properties": {"unscorable": {"const": True}, "reason": {"type": "string", "minLength": 1}},
    "required": ["unscorable", "reason"],
}
"""The second shape: no score, and why."""


class VerificationNode(msgspec.Struct, forbid_unknown_fields=True):
    """A red or purple node to test, with the learner's yellow notes and its parent's text."""

    id: Text
    content: Text
    state: Literal["red", "purple"]
    related_yellow: list[str] = []
    parent_content: str | None = None


class VerificationInput(msgspec.Struct, forbid_unknown_fields=True):
    """The nodes a review canvas asks about."""

    nodes: Annotated[list[VerificationNode], msgspec.Meta(min_length=1)]


class VerificationQuestion(msgspec.Struct, omit_defaults=True):
    """One recall question about one source node."""

    source_node_id: Text
    question_text: Text
    question_type: Text
    difficulty: Difficulty
    guidance: str | None = None


class VerificationOutput(msgspec.Struct):
    """1-2 questions per red node, 2-3 per purple node."""

    questions: Annotated[list[VerificationQuestion], msgspec.Meta(min_length=1)]


class ExplainInput(msgspec.Struct, forbid_unknown_fields=True):
    """A concept to explain in one of the explanation styles."""

    concept: Text
    material_content: str | None = None
    user_understanding: str | None = None


@dataclass(frozen=True, slots=True)
class AgentSchema:
    """What an agent accepts, what it must answer, and how many tokens that answer may take.

    `max_tokens` is sized for the output type: room for the longest answer that fits it, so that a
    model that keeps going (small local models repeat themselves) is stopped, and told so, long
    before a call's time limit.
    """

    input: Any
    output: Any
    max_tokens: int
    shapes: tuple[Any, ...] = ()
    """Where the output type cannot say it in JSON Schema (`ScoringOutput` checks in code that it is
    one of two shapes), the shapes a model is shown instead, as types or schemas: each complete,
    so that an engine enforcing the schema as a grammar produces one of them whole."""

    def output_schema(self) -> dict[str, Any]:
        """The JSON Schema of the output, written into the prompt of a JSON agent and sent to engines
        that enforce it: self-contained, every `$ref` replaced by its definition, since some engines
        (llama-cpp-python's grammar builder) cannot follow `$defs` and silently enforce nothing."""
        if not self.shapes:
            return inline_refs(msgspec.json.schema(self.output))
        shapes = [
            shape if isinstance(shape, dict) else inline_refs(msgspec.json.schema(shape)) for shape in self.shapes
        ]
        return {"anyOf": shapes}


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with each `{"$ref": "#/$defs/X"}` replaced by the definition of X, and no `$defs`.

    The output types are not recursive; a recursive one would have no finite inline form, so it is
    a programming error (ValueError)."""
    definitions = schema.get("$defs", {})

    def inline(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [inline(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.removeprefix("#/$defs/")
            if name in seen:
                raise ValueError(f"the output type {name} is recursive")
            return inline(definitions[name], (*seen, name))
        return {key: inline(value, seen) for key, value in node.items() if key != "$defs"}

    result: dict[str, Any] = inline(schema, ())
    return result


EXPLANATION_STYLES = ("oral", "clarification", "comparison", "memory-anchor", "four-level", "example")

BUILTIN_SCHEMAS: dict[str, AgentSchema] = {
    "basic-decomposition": AgentSchema(DecompositionInput, DecompositionOutput, 1024),
    "deep-decomposition": AgentSchema(DeepDecompositionInput, DecompositionOutput, 1024),
    "scoring": AgentSchema(ScoringInput, ScoringOutput, 512, (WholeScore, UNSCORABLE_SHAPE)),
    "verification-question": AgentSchema(VerificationInput, VerificationOutput, 1536),
    **{style: AgentSchema(ExplainInput, Text, 1024) for style in EXPLANATION_STYLES},
}

USER_JSON = AgentSchema(dict[str, Any], dict[str, Any] | list[Any], 2048)
"""A user-defined JSON agent: any object in, any JSON object or array out."""

USER_MARKDOWN = AgentSchema(dict[str, Any], Text, 2048)
"""A user-defined Markdown agent: any object in, non-empty text out."""
