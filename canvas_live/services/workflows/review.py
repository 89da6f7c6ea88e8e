"""Review canvas (检验白板) generation: recall questions about what the learner has not mastered yet.

From a source canvas, the red (not understood) and purple (partly understood) text nodes are
selected; for each, the learner's yellow notes below it and the text of its parents are gathered;
one `verification-question` call per node runs through the AgentService, all at once (the
server-wide limit still applies); the questions are grouped by topic (the node's parent, else the
group frame it sits in) and written as a new canvas `<source>-检验白板-<YYYYMMDD>` beside the
source, in one atomic write: a blue description node, a group per topic, and per question a red
question node (`sourceNodeId` = the source node) with an empty yellow answer node below it and an
edge between them. The source canvas is only read. The description node names the task
(`reviewTask`), and writing the canvas is the task's final step: a cancel that comes too late finds
it completed, and a crash during the write is recorded completed on restart if the canvas is there.

A node whose call fails is listed in `failed_nodes` and the task still completes; it fails only
when no question at all could be made. A cancelled task writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, NamedTuple

import msgspec

from canvas_live.protocol.errors import ErrorCode, RpcError, invalid_params
from canvas_live.services.agents.calls import AgentResult
from canvas_live.services.agents.schemas import VerificationOutput, VerificationQuestion
from canvas_live.services.agents.service import AgentService
from canvas_live.services.canvas.edit import new_id
from canvas_live.services.canvas.format import Document
from canvas_live.services.canvas.palette import Palette
from canvas_live.services.canvas.service import CanvasService
from canvas_live.services.tasks import TaskContext, TaskInfo, TaskKind
from canvas_live.services.workflows.layout import Rect
from canvas_live.services.workflows.report import ResultReporter
from canvas_live.services.workflows.text import (
    headline,
    hint_line,
    is_chinese,
    is_legend,
    joined,
    material_parents,
    node_text,
    text_node,
    yellow_notes,
)

log = logging.getLogger("canvas_live.review")

KIND = "review.generate"
SUFFIX = "检验白板"
MARK = "reviewTask"
"""Key of the review canvas's description node naming the task that wrote it (how a restart knows)."""
QUESTIONS = {"red": 2, "purple": 3}
"""At most this many questions per node of each state (the agent is asked for 1-2 and 2-3)."""

QUESTION_W, QUESTION_H, ANSWER_H = 420, 140, 180
PAD, GAP, COLUMN_GAP = 40, 60, 120


@dataclass(frozen=True, slots=True)
class Target:
    """A source node to ask about, with what the agent needs to know about it."""

    node_id: str
    content: str
    state: str
    related_yellow: list[str]
    parent_content: str | None
    topic: str | None

    def agent_input(self) -> dict[str, Any]:
        """The `verification-question` input for this node alone."""
        node: dict[str, Any] = {
            "id": self.node_id,
            "content": self.content,
            "state": self.state,
            "related_yellow": self.related_yellow,
        }
        if self.parent_content:
            node["parent_content"] = self.parent_content
        return {"nodes": [node]}


class ReviewParams(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """`review.generate`: the source canvas; by default its red and purple text nodes; `name` chooses
    the review canvas's name (by default `<source>-检验白板-<YYYYMMDD>`, then `-2`, `-3`, …)."""

    canvas: Annotated[str, msgspec.Meta(description="The source canvas, as in `canvas.read`.")]
    node_ids: Annotated[
        list[str] | None, msgspec.Meta(description="The text nodes to ask about; by default its red and purple ones.")
    ] = None
    colors: Annotated[
        list[str] | None, msgspec.Meta(description="Instead of `node_ids`: the text nodes of these states or colours.")
    ] = None
    name: Annotated[str | None, msgspec.Meta(description="The review canvas's name; it must be free.")] = None


class FailedNode(msgspec.Struct):
    """A source node no question could be made for, and why."""

    node_id: str
    error: str
    message: str


class ReviewResult(msgspec.Struct):
    """What a finished review generation made."""

    review_canvas: str
    path: str
    question_count: int
    group_count: int
    failed_nodes: list[FailedNode]


def select_targets(
    document: Document, palette: Palette, node_ids: Sequence[str] | None, colors: Sequence[str] | None
) -> list[Target]:
    """The nodes to review: the given ids, or the text nodes of the given colours (default red + purple)
    that are not entries of a colour legend.

    An unknown id is NOT_FOUND; a legend entry named by id, or a selection with nothing to ask about, is -32602.
    """
    if node_ids:
        chosen = []
        for index, node_id in enumerate(node_ids):
            node, text = text_node(document, node_id, f"node_ids[{index}]", "ask about")
            if is_legend(text):
                raise invalid_params(
                    f"node {node_id!r} is an entry of the canvas's colour legend", f"node_ids[{index}]"
                )
            chosen.append(node)
    else:
        codes = palette.select(colors or ("red", "purple"), "colors")
        found = (document.nodes[index] for index in document.select(codes, "text"))
        chosen = [node for node in found if node_text(node) and not is_legend(node_text(node))]
    if not chosen:
        raise invalid_params(
            "nothing to review: no red or purple text node, colour legend entries aside (choose node_ids or colors)",
            "node_ids",
        )
    return [_target(document, palette, node) for node in chosen]


def _target(document: Document, palette: Palette, node: dict[str, Any]) -> Target:
    node_id = node["id"]
    state = "purple" if palette.state_of(node.get("color")) == "purple" else "red"
    parents = material_parents(document, palette, node_id)
    # The group: the title of the node's material (its first heading or line), else of the frame it
    # sits in, else its own: never a catch-all "Other" for a node that says what it is about.
    topic = headline(node_text(parents[0])) if parents else _frame_label(document, node)
    topic = topic or headline(node_text(node))
    notes = yellow_notes(document, palette, node_id)
    return Target(node_id, node_text(node), state, notes, joined(parents), topic or None)


def _frame_label(document: Document, node: dict[str, Any]) -> str | None:
    """The label of the smallest group frame the node sits in, if any."""
    rect = Rect.of(node)
    centre_x, centre_y = rect.x + rect.width // 2, rect.y + rect.height // 2
    frames = [
        group
        for group in document.nodes
        if group.get("type") == "group"
        and group["x"] <= centre_x <= group["x"] + group["width"]
        and group["y"] <= centre_y <= group["y"] + group["height"]
    ]
    if not frames:
        return None
    smallest = min(frames, key=lambda group: group["width"] * group["height"])
    return headline(str(smallest.get("label", ""))) or None


@dataclass
class _Topic:
    """One group of the review canvas."""

    label: str
    questions: list[tuple[Target, VerificationQuestion]] = field(default_factory=list)


def _questions(target: Target, result: AgentResult) -> list[VerificationQuestion]:
    output = result.output
    if not isinstance(output, VerificationOutput):
        return []
    return list(output.questions[: QUESTIONS[target.state]])


class Review(NamedTuple):
    """The review canvas about to be written, and what goes into the task's result."""

    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    questions: int
    groups: int
    failed: list[FailedNode]


def build_review(
    source: str, targets: list[Target], results: list[AgentResult], palette: Palette, when: datetime
) -> Review:
    """Nodes and edges of the review canvas, laid out in one column per topic, without overlaps."""
    chinese = is_chinese(" ".join(target.content for target in targets))
    other = "其他" if chinese else "Other"
    topics: dict[str, _Topic] = {}
    failed: list[FailedNode] = []
    for target, result in zip(targets, results, strict=True):
        made = _questions(target, result)
        if not made:
            error = result.error
            failed.append(
                FailedNode(
                    target.node_id,
                    error.error if error else "NO_QUESTIONS",
                    error.message if error else "the agent made no question",
                )
            )
            continue
        label = target.topic or other
        topic = topics.setdefault(label, _Topic(label))
        topic.questions.extend((target, question) for question in made)
    count = sum(len(topic.questions) for topic in topics.values())
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    column_w = QUESTION_W + 2 * PAD
    description = _description(source, when, count, len(topics), len(failed), chinese)
    nodes.append(
        {"type": "text", "text": description, "x": 0, "y": 0, "width": 2 * column_w, "height": 200,
         "color": palette.code_of("blue")}
    )  # fmt: skip
    top = 200 + GAP + PAD
    for column, topic in enumerate(topics.values()):
        x = column * (column_w + COLUMN_GAP)
        y = top + PAD
        for target, question in topic.questions:
            text = question.question_text
            if question.guidance:
                text += "\n\n" + hint_line(question.guidance, chinese)
            asked = {
                "type": "text", "text": text, "x": x + PAD, "y": y, "width": QUESTION_W, "height": QUESTION_H,
                "color": palette.code_of("red"), "sourceNodeId": target.node_id,
                "questionType": question.question_type, "difficulty": question.difficulty,
            }  # fmt: skip
            answer = {
                "type": "text", "text": "", "x": x + PAD, "y": y + QUESTION_H + PAD // 2, "width": QUESTION_W,
                "height": ANSWER_H, "color": palette.code_of("yellow"),
            }  # fmt: skip
            nodes.extend((asked, answer))
            edges.append({"fromNode": len(nodes) - 2, "fromSide": "bottom", "toNode": len(nodes) - 1, "toSide": "top"})
            y += QUESTION_H + PAD // 2 + ANSWER_H + GAP
        height = y - GAP + PAD - top
        nodes.append({"type": "group", "label": topic.label, "x": x, "y": top, "width": column_w, "height": height})
    return Review(nodes, edges, count, len(topics), failed)


def _description(source: str, when: datetime, questions: int, groups: int, failed: int, chinese: bool) -> str:
    stamp = when.strftime("%Y-%m-%d %H:%M")
    if chinese:
        lines = [
            f"# 检验白板：{source}",
            f"来源：[[{source}.canvas]]",
            f"生成时间：{stamp}",
            f"问题：{questions}，分组：{groups}",
        ]
        if failed:
            lines.append(f"未能出题的节点：{failed}")
        lines.append("在黄色节点里写下你的回答，然后对它评分。")
    else:
        lines = [f"# Review: {source}", f"Source: [[{source}.canvas]]", f"Generated: {stamp}",
                 f"Questions: {questions} in {groups} groups"]  # fmt: skip
        if failed:
            lines.append(f"Nodes without questions: {failed}")
        lines.append("Answer in the yellow nodes, then score them.")
    return "\n".join(lines)


def _with_ids(
    nodes: list[dict[str, Any]], edges: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Give nodes fresh ids and point edges (built with node positions) at them."""
    taken: dict[str, int] = {}
    for node in nodes:
        node["id"] = new_id(taken)
        taken[node["id"]] = 0
    for edge in edges:
        edge["fromNode"] = nodes[edge["fromNode"]]["id"]
        edge["toNode"] = nodes[edge["toNode"]]["id"]
    return nodes, edges


def review_kind(canvases: CanvasService, agents: AgentService) -> TaskKind[ReviewParams]:
    """The `review.generate` task kind over these services."""

    async def run(ctx: TaskContext, params: ReviewParams) -> ReviewResult:
        source = await canvases.read(params.canvas)
        targets = select_targets(source.document, canvases.palette, params.node_ids, params.colors)
        agent = "verification-question"
        requests = [(agents.prepare(agent, target.agent_input()), target.node_id) for target in targets]
        report = ResultReporter(ctx, len(targets), "asking for questions")
        results = await agents.call_agents_batch(requests, report, report.tokens)
        when = datetime.now()
        nodes, edges, count, groups, failed = build_review(source.name, targets, results, canvases.palette, when)
        if not count:
            raise RpcError(
                ErrorCode.AGENT_FAILED,
                f"no question could be made for any of the {len(targets)} node(s)",
                failed_nodes=msgspec.to_builtins(failed),
            )
        nodes[0][MARK] = ctx.task_id
        base = params.name or f"{source.name}-{SUFFIX}-{when:%Y%m%d}"
        nodes, edges = _with_ids(nodes, edges)
        for attempt in range(1, 2 if params.name else 1000):
            name = base if attempt == 1 else f"{base}-{attempt}"
            result = ReviewResult(name, f"{name}.canvas", count, groups, failed)

            async def write(name: str = name, result: ReviewResult = result) -> ReviewResult:
                await canvases.create(name, nodes, edges)
                return result

            try:
                return await ctx.final(write(), planned=result)
            except RpcError as exc:
                if exc.code is not ErrorCode.CONFLICT:
                    raise
        if params.name:
            raise RpcError(ErrorCode.CONFLICT, f"canvas {base!r} already exists", kind="canvas", name=base)
        raise RpcError(ErrorCode.CONFLICT, f"every name from {base!r} to {base}-999 is taken", name=base)

    async def recover(info: TaskInfo) -> bool:
        """Whether the review canvas this task was writing when the server stopped is on disk, whole."""
        try:
            view = await canvases.read(info.result["review_canvas"])
        except RpcError:
            return False
        return bool(view.document.nodes) and view.document.nodes[0].get(MARK) == info.id

    return TaskKind(KIND, ReviewParams, run, recover=recover)
