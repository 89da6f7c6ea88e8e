"""Explanations: one of six styles of explanation of a node, kept as a note in the vault and on the canvas.

The agent's Markdown is written as a note beside the canvas
(`<canvas> - <style> - <node id>.md`, never over an existing file), then a blue node with the
explanation and a file node opening the note are placed right of the source node, both linked from
it, in one canvas write. If that write fails the note is removed again, so the vault never keeps
half of an explanation.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Annotated, Any

import msgspec

from canvas_live.protocol.errors import invalid_params, not_found
from canvas_live.services.agents.schemas import EXPLANATION_STYLES
from canvas_live.services.agents.service import AgentService, failure
from canvas_live.services.canvas.edit import Draft
from canvas_live.services.canvas.files import Vault, forbidden
from canvas_live.services.canvas.format import Document
from canvas_live.services.canvas.palette import Palette
from canvas_live.services.canvas.service import CanvasService
from canvas_live.services.tasks import TaskContext, TaskKind
from canvas_live.services.workflows.layout import MARGIN, Rect, obstacles, place_right_of
from canvas_live.services.workflows.report import ResultReporter
from canvas_live.services.workflows.text import headline, joined, material_node, material_parents, yellow_notes

KIND = "learn.explain"
DECLINED = frozenset({"yellow", "blue"})
"""States of nodes that are not material to explain (`text.REFUSALS` says why)."""
_UNSAFE = re.compile(r"[^0-9A-Za-z_-]")
TEXT_W, TEXT_H, FILE_W = 480, 360, 400


Style = Annotated[str, msgspec.Meta(description=f"One of {', '.join(EXPLANATION_STYLES)}: the agent that writes it.")]


class ExplainParams(msgspec.Struct, forbid_unknown_fields=True):
    """`learn.explain`: one node and one of the six explanation styles."""

    canvas: Annotated[str, msgspec.Meta(description="The canvas the node is on.")]
    node_id: Annotated[str, msgspec.Meta(description="The text node to explain.")]
    style: Style


class ExplainResult(msgspec.Struct):
    """What an explanation added: the note's vault path and the two nodes."""

    node_id: str
    style: str
    file: str
    explanation_id: str
    file_node_id: str
    version: str


def plan_explain(document: Document, palette: Palette, node_id: str, style: str) -> dict[str, Any]:
    """The agent input for explaining a node: NOT_FOUND for an unknown node, -32602 for a bad style or a
    node that is not material (not text, an explanation, a legend entry)."""
    if style not in EXPLANATION_STYLES:
        raise invalid_params(f"unknown style {style!r}: use one of {', '.join(EXPLANATION_STYLES)}", "style")
    _node, text = material_node(document, palette, node_id, "explain", DECLINED)
    value: dict[str, Any] = {"concept": headline(text, 80)}  # its title, not a Markdown heading line
    material = "\n\n".join(part for part in (text, joined(material_parents(document, palette, node_id))) if part)
    value["material_content"] = material
    notes = yellow_notes(document, palette, node_id)
    if notes:
        value["user_understanding"] = "\n\n".join(notes)
    return value


def _write_note(vault: Vault, canvas: str, style: str, node_id: str, body: str) -> str:
    """Write the note under a free name beside the canvas; returns its vault path.

    A node id is any string a client chose, so only its letters and digits go into the file name,
    and the path is checked to stay inside the vault whatever the names hold.
    """
    root = vault.root
    folder, _, base = canvas.rpartition("/")
    tag = _UNSAFE.sub("", node_id)[:8] or "node"
    for attempt in range(1, 1000):
        suffix = "" if attempt == 1 else f" {attempt}"
        relative = f"{folder}/" if folder else ""
        relative += f"{base} - {style} - {tag}{suffix}.md"
        if not (root / relative).resolve().is_relative_to(root):
            raise forbidden(relative, "the note would leave the vault")
        try:
            vault.write_new(root / relative, body.encode())
        except FileExistsError:
            continue
        return relative
    raise FileExistsError(f"no free note name for {canvas!r}")


def _add_nodes(draft: Draft, palette: Palette, node_id: str, style: str, text: str, note: str) -> tuple[str, str]:
    source = draft.nodes[draft.node_index[node_id]] if node_id in draft.node_index else None
    if source is None:
        raise not_found("node", node_id)  # deleted while the agent was writing
    spot = place_right_of(Rect.of(source), TEXT_W + MARGIN + FILE_W, TEXT_H, obstacles(draft.nodes))
    explanation = draft.add_node(
        {"type": "text", "text": text, "x": spot.x, "y": spot.y, "width": TEXT_W, "height": TEXT_H,
         "color": palette.code_of("blue")}
    )  # fmt: skip
    opened = draft.add_node(
        {"type": "file", "file": note, "x": spot.x + TEXT_W + MARGIN, "y": spot.y, "width": FILE_W, "height": TEXT_H}
    )
    draft.add_edge({"fromNode": node_id, "toNode": explanation["id"], "label": style})
    draft.add_edge({"fromNode": node_id, "toNode": opened["id"]})
    return explanation["id"], opened["id"]


def explain_kind(canvases: CanvasService, agents: AgentService) -> TaskKind[ExplainParams]:
    """The `learn.explain` task kind over these services."""

    async def run(ctx: TaskContext, params: ExplainParams) -> ExplainResult:
        node_id, style = params.node_id, params.style
        view = await canvases.read(params.canvas)
        value = plan_explain(view.document, canvases.palette, node_id, style)
        report = ResultReporter(ctx, 1, f"{style} explanation of {node_id}")
        request = agents.prepare(style, value)
        result = await agents.run(request, key=node_id, on_tokens=report.tokens_of(request, node_id))
        report(result)
        if result.error is not None:
            raise failure(result)
        text = str(result.output)
        body = f"# {headline(value['concept'], 80)}\n\n> {style} · [[{view.name}.canvas]]\n\n{text}\n"
        root = canvases.vault.root
        note = await asyncio.to_thread(_write_note, canvases.vault, view.name, style, node_id, body)
        palette = canvases.palette

        async def write() -> ExplainResult:
            try:
                (explanation_id, file_node_id), version = await canvases.edit(
                    view.name, lambda draft: _add_nodes(draft, palette, node_id, style, text, note)
                )
            except BaseException:
                with contextlib.suppress(OSError):
                    await asyncio.to_thread((root / note).unlink)
                raise
            return ExplainResult(node_id, style, note, explanation_id, file_node_id, version)

        return await ctx.final(write())

    return TaskKind(KIND, ExplainParams, run)
