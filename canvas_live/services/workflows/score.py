"""Scoring: rate the learner's yellow explanations and recolour the questions they answer.

Each yellow node with text is scored against the question it answers (the non-yellow node whose
edge points at it) and that question's own material, on the rubric of four 0-25 dimensions. The
question node is recoloured by the total: >= 80 green (understood), 60-79 purple (partly), < 60
red. The feedback is attached as a blue node beside the answer, linked to it by an edge labelled
`score` (`评分` on a Chinese canvas); scoring again updates that node instead of adding another.
A yellow node that answers no question, says nothing, or still holds a placeholder
(`placeholders.unanswered`), or that the agent finds unscorable, is reported as unscorable, never
guessed, and its question keeps its colour. All the calls run at once; all the changes are one write.

A score the agent only estimated (the offline backend's: `AgentResult.estimate`) says so in its
feedback node, and never moves a question to a worse state (green > purple > red) by itself: the
learner's own colouring outranks a heuristic. `recolour: true` lets an estimate lower it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from canvas_live.protocol.errors import ErrorCode, RpcError, invalid_params, not_found
from canvas_live.services.agents.placeholders import REASONS, unanswered
from canvas_live.services.agents.schemas import ScoringOutput
from canvas_live.services.agents.service import AgentService
from canvas_live.services.canvas.edit import Draft
from canvas_live.services.canvas.format import Document
from canvas_live.services.canvas.palette import Palette
from canvas_live.services.canvas.service import CanvasService
from canvas_live.services.tasks import TaskContext, TaskKind
from canvas_live.services.workflows.layout import Rect, obstacles, place_right_of
from canvas_live.services.workflows.report import ResultReporter
from canvas_live.services.workflows.review import FailedNode
from canvas_live.services.workflows.text import is_chinese, joined, material_parents, node_text

KIND = "learn.score"
FEEDBACK_LABELS = ("score", "评分")
FEEDBACK_W, FEEDBACK_H = 360, 220


def state_for(total: int) -> str:
    """The learning state a total score means."""
    if total >= 80:
        return "green"
    if total >= 60:
        return "purple"
    return "red"


class ScoreParams(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """`learn.score`: the explanations to score; by default every yellow node with text."""

    canvas: Annotated[str, msgspec.Meta(description="The canvas the explanations are on.")]
    node_ids: Annotated[
        list[str] | None,
        msgspec.Meta(description="The explanation nodes to score; by default every yellow one with text."),
    ] = None
    recolour: Annotated[
        bool,
        msgspec.Meta(
            description="Let an estimated score (the offline backend's) lower a question's colour too; "
            "by default an estimate only ever raises it."
        ),
    ] = False


@dataclass(frozen=True, slots=True)
class Answer:
    """A yellow explanation to score, with the question it answers."""

    node_id: str
    question_id: str
    input: dict[str, Any]


class Unscorable(msgspec.Struct):
    """A yellow node that could not be scored, and why."""

    node_id: str
    reason: str


class Scored(msgspec.Struct, omit_defaults=True):
    """One explanation's score and what it did to the canvas: `state` is what the score means,
    `recoloured` whether the question's colour was changed to it, `estimate` whether a heuristic
    rather than a model gave the score."""

    node_id: str
    question_id: str
    total_score: int
    state: str
    feedback_id: str
    recoloured: bool
    estimate: bool = False


class ScoreResult(msgspec.Struct):
    """What a scoring run found and changed."""

    scored: list[Scored]
    unscorable: list[Unscorable]
    failed_nodes: list[FailedNode]
    version: str


def plan_score(
    document: Document, palette: Palette, node_ids: Sequence[str] | None
) -> tuple[list[Answer], list[Unscorable]]:
    """The answers to score (given ids, or every yellow node with text) and those that cannot be."""
    if node_ids:
        nodes = []
        for node_id in node_ids:
            node = document.node(node_id)
            if node is None:
                raise not_found("node", node_id)
            nodes.append(node)
    else:
        yellow = palette.codes_for("yellow")
        nodes = [document.nodes[index] for index in document.select(yellow, "text") if node_text(document.nodes[index])]
    answers, unscorable = [], []
    for node in nodes:
        node_id, text = node["id"], node_text(node)
        questions = [parent for parent in material_parents(document, palette, node_id) if node_text(parent)]
        nothing = unanswered(text)
        if nothing is not None:
            unscorable.append(Unscorable(node_id, REASONS[nothing][1]))
        elif not questions:
            unscorable.append(Unscorable(node_id, "no question node links to this explanation"))
        else:
            question = questions[0]
            value: dict[str, Any] = {"question_text": node_text(question), "user_understanding": text}
            material = joined(material_parents(document, palette, question["id"]))
            if material:
                value["reference_material"] = material
            answers.append(Answer(node_id, question["id"], value))
    if not answers:
        reasons = "; ".join(f"{item.node_id}: {item.reason}" for item in unscorable) or "no yellow node with text"
        raise invalid_params(f"nothing to score ({reasons})", "node_ids")
    return answers, unscorable


@dataclass(frozen=True, slots=True)
class Verdict:
    """One scored answer, as the agent gave it."""

    answer: Answer
    output: ScoringOutput
    estimate: bool


STATE_RANK = {"red": 0, "purple": 1, "green": 2}
"""How well a state says a question is understood; a node in no such state ranks with red."""


def _feedback_text(output: ScoringOutput, estimate: bool, held: bool, chinese: bool) -> str:
    parts = output.breakdown
    assert parts is not None
    if chinese:
        head = f"{'离线估计' if estimate else '评分'} {output.total_score}/100"
        head += f"（准确 {parts.accuracy}，形象 {parts.imagery}，完整 {parts.completeness}，原创 {parts.originality}）"
        if held:
            head += "\n这只是离线估计，不是模型的评判：问题保持原来的颜色，估计分数不会把它调低。"
    else:
        head = f"{'Offline estimate' if estimate else 'Score'} {output.total_score}/100 (accuracy {parts.accuracy}, "
        head += f"imagery {parts.imagery}, completeness {parts.completeness}, originality {parts.originality})"
        if held:
            head += "\nOnly an offline estimate, not a model's judgement: the question keeps its colour, "
            head += "since an estimate never lowers it."
    return f"{head}\n\n{output.feedback}"


def _apply(draft: Draft, palette: Palette, verdicts: list[Verdict], recolour: bool) -> list[Scored]:
    """Recolour each question (an estimate only upwards, unless `recolour`) and write or refresh its feedback."""
    done = []
    for verdict in verdicts:
        answer, output = verdict.answer, verdict.output
        if answer.node_id not in draft.node_index or answer.question_id not in draft.node_index:
            continue  # deleted while it was being scored: nothing left to mark
        assert output.total_score is not None
        state = state_for(output.total_score)
        color, target = draft.nodes[draft.node_index[answer.question_id]].get("color"), palette.code_of(state)
        raises = STATE_RANK[state] > STATE_RANK.get(palette.state_of(color) or "red", 0)
        held = verdict.estimate and not recolour and not raises and color != target
        recoloured = not held and color != target
        if recoloured:
            draft.update_node(answer.question_id, {"color": target})
        chinese = is_chinese(answer.input["user_understanding"])
        text = _feedback_text(output, verdict.estimate, held, chinese)
        existing = _feedback_node(draft, answer.node_id)
        if existing is not None:
            feedback_id = draft.update_node(existing, {"text": text})["id"]
        else:
            spot = place_right_of(
                Rect.of(draft.nodes[draft.node_index[answer.node_id]]), FEEDBACK_W, FEEDBACK_H, obstacles(draft.nodes)
            )
            feedback = draft.add_node(
                {"type": "text", "text": text, "x": spot.x, "y": spot.y, "width": FEEDBACK_W, "height": FEEDBACK_H,
                 "color": palette.code_of("blue")}
            )  # fmt: skip
            feedback_id = feedback["id"]
            label = FEEDBACK_LABELS[1] if chinese else FEEDBACK_LABELS[0]
            draft.add_edge({"fromNode": answer.node_id, "toNode": feedback_id, "label": label})
        done.append(
            Scored(
                answer.node_id, answer.question_id, output.total_score, state, feedback_id, recoloured, verdict.estimate
            )
        )
    return done


def _feedback_node(draft: Draft, answer_id: str) -> str | None:
    for edge in draft.edges:
        if (
            edge["fromNode"] == answer_id
            and edge.get("label") in FEEDBACK_LABELS
            and edge["toNode"] in draft.node_index
        ):
            return str(edge["toNode"])
    return None


def score_kind(canvases: CanvasService, agents: AgentService) -> TaskKind[ScoreParams]:
    """The `learn.score` task kind over these services."""

    async def run(ctx: TaskContext, params: ScoreParams) -> ScoreResult:
        view = await canvases.read(params.canvas)
        answers, unscorable = plan_score(view.document, canvases.palette, params.node_ids)
        report = ResultReporter(ctx, len(answers), "scoring")
        results = await agents.call_agents_batch(
            [(agents.prepare("scoring", answer.input), answer.node_id) for answer in answers], report, report.tokens
        )
        verdicts, failed = [], []
        for answer, result in zip(answers, results, strict=True):
            output = result.output
            if isinstance(output, ScoringOutput) and output.unscorable:
                unscorable.append(Unscorable(answer.node_id, output.reason or "the agent found it unscorable"))
            elif isinstance(output, ScoringOutput):
                verdicts.append(Verdict(answer, output, result.estimate))
            else:
                error = result.error
                failed.append(
                    FailedNode(answer.node_id, error.error if error else "INVALID", error.message if error else "")
                )
        if not verdicts and failed:
            raise RpcError(
                ErrorCode.AGENT_FAILED, f"none of the {len(answers)} explanation(s) could be scored",
                failed_nodes=msgspec.to_builtins(failed),
            )  # fmt: skip
        palette = canvases.palette

        async def write() -> ScoreResult:
            applied, version = await canvases.edit(
                view.name, lambda draft: _apply(draft, palette, verdicts, params.recolour)
            )
            return ScoreResult(applied, unscorable, failed, version)

        return await ctx.final(write())

    return TaskKind(KIND, ScoreParams, run)
