"""Decomposition: break a red or purple node into guiding questions placed beside it on the canvas.

A red node (not understood) gets `basic-decomposition`; a purple one (partly understood) gets
`deep-decomposition`, which starts from the learner's own yellow explanation and so needs one.
The 3-7 questions are added as red question nodes, each with an empty yellow answer node to its
right, in one block to the right of the source node and clear of every existing node, with edges
from the source to each question and from each question to its answer: one write, one
`canvas.changed` with all the ops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec

from canvas_live.protocol.errors import invalid_params, not_found
from canvas_live.services.agents.schemas import DecompositionOutput
from canvas_live.services.agents.service import AgentService, failure
from canvas_live.services.canvas.edit import Draft
from canvas_live.services.canvas.format import Document
from canvas_live.services.canvas.palette import Palette
from canvas_live.services.canvas.service import CanvasService
from canvas_live.services.tasks import TaskContext, TaskKind
from canvas_live.services.workflows.layout import Rect, obstacles, place_right_of
from canvas_live.services.workflows.report import ResultReporter
from canvas_live.services.workflows.text import (
    headline,
    hint_line,
    is_chinese,
    material_node,
    material_parents,
    node_text,
    yellow_notes,
)

KIND = "learn.decompose"
DECLINED = frozenset({"yellow", "blue", "green"})
"""States of nodes that are not material to decompose (`text.REFUSALS` says why)."""
QUESTION_W, ANSWER_W, ROW_H, ROW_GAP, COLUMN_GAP = 360, 360, 140, 40, 40


@dataclass(frozen=True, slots=True)
class DecomposePlan:
    """Which agent to call about which node, with what input."""

    node_id: str
    depth: str
    agent: str
    input: dict[str, Any]


class AddedQuestion(msgspec.Struct):
    """A question node and the empty answer node made for it."""

    id: str
    answer_id: str
    text: str


class DecomposeParams(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """`learn.decompose`: one node; `depth` defaults to basic for red, deep for purple."""

    canvas: Annotated[str, msgspec.Meta(description="The canvas the node is on.")]
    node_id: Annotated[str, msgspec.Meta(description="The text node to break into guiding questions.")]
    depth: Annotated[
        Literal["basic", "deep"] | None, msgspec.Meta(description="By default basic for a red node, deep for purple.")
    ] = None


class DecomposeResult(msgspec.Struct):
    """What a decomposition added to the canvas."""

    node_id: str
    depth: str
    questions: list[AddedQuestion]
    version: str


def plan_decompose(document: Document, palette: Palette, node_id: str, depth: str | None) -> DecomposePlan:
    """Check the node and pick the agent: NOT_FOUND for an unknown node, -32602 for what cannot work
    (a node that is not red, purple or uncoloured text material, or deep without an explanation)."""
    node, material = material_node(document, palette, node_id, "decompose", DECLINED)
    if depth is None:
        depth = "deep" if palette.state_of(node.get("color")) == "purple" else "basic"
    notes = "\n\n".join(yellow_notes(document, palette, node_id)) or None
    parents = material_parents(document, palette, node_id)
    value: dict[str, Any] = {"material_content": material}
    if parents:
        value["topic"] = headline(node_text(parents[0]), 80)
    if notes:
        value["user_understanding"] = notes
    elif depth == "deep":
        raise invalid_params(
            "deep decomposition starts from the learner's own explanation: link a yellow node from this one",
            "depth",
        )
    return DecomposePlan(node_id, depth, f"{depth}-decomposition", value)


def _add_questions(draft: Draft, palette: Palette, node_id: str, output: DecompositionOutput) -> list[AddedQuestion]:
    """Place question/answer rows in one block right of the source, clear of every node."""
    source = draft.nodes[draft.node_index[node_id]] if node_id in draft.node_index else None
    if source is None:
        raise not_found("node", node_id)  # deleted while the agent was thinking
    rows = output.sub_questions
    block = place_right_of(
        Rect.of(source),
        QUESTION_W + COLUMN_GAP + ANSWER_W,
        len(rows) * (ROW_H + ROW_GAP) - ROW_GAP,
        obstacles(draft.nodes),
    )
    chinese = is_chinese(node_text(source))
    added = []
    for row, sub in enumerate(rows):
        y = block.y + row * (ROW_H + ROW_GAP)
        text = f"{sub.text}\n\n{hint_line(sub.guidance, chinese)}" if sub.guidance else sub.text
        question = draft.add_node(
            {"type": "text", "text": text, "x": block.x, "y": y, "width": QUESTION_W, "height": ROW_H,
             "color": palette.code_of("red"), "questionType": sub.type, "difficulty": sub.difficulty}
        )  # fmt: skip
        answer = draft.add_node(
            {"type": "text", "text": "", "x": block.x + QUESTION_W + COLUMN_GAP, "y": y, "width": ANSWER_W,
             "height": ROW_H, "color": palette.code_of("yellow")}
        )  # fmt: skip
        draft.add_edge({"fromNode": node_id, "fromSide": "right", "toNode": question["id"], "toSide": "left"})
        draft.add_edge({"fromNode": question["id"], "fromSide": "right", "toNode": answer["id"], "toSide": "left"})
        added.append(AddedQuestion(question["id"], answer["id"], sub.text))
    return added


def decompose_kind(canvases: CanvasService, agents: AgentService) -> TaskKind[DecomposeParams]:
    """The `learn.decompose` task kind over these services."""

    async def run(ctx: TaskContext, params: DecomposeParams) -> DecomposeResult:
        view = await canvases.read(params.canvas)
        plan = plan_decompose(view.document, canvases.palette, params.node_id, params.depth)
        report = ResultReporter(ctx, 1, f"{plan.agent} on {plan.node_id}")
        request = agents.prepare(plan.agent, plan.input)
        result = await agents.run(request, key=plan.node_id, on_tokens=report.tokens_of(request, plan.node_id))
        report(result)
        if result.error is not None:
            raise failure(result)
        output = result.output
        assert isinstance(output, DecompositionOutput)
        palette = canvases.palette

        async def write() -> DecomposeResult:
            added, version = await canvases.edit(
                view.name, lambda draft: _add_questions(draft, palette, plan.node_id, output)
            )
            return DecomposeResult(plan.node_id, plan.depth, added, version)

        return await ctx.final(write())

    return TaskKind(KIND, DecomposeParams, run)
