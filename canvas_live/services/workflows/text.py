"""Reading the learner's words off a canvas: node text, which nodes are material, and the language to answer in."""

from __future__ import annotations

import re
from typing import Any

from canvas_live.protocol.errors import invalid_params, not_found
from canvas_live.services.canvas.format import Document
from canvas_live.services.canvas.palette import Palette
from canvas_live.services.markdown import plain

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LEGEND = re.compile(r"^(?:red|purple|green|yellow|blue|orange|cyan|[红紫绿黄蓝橙青]色?)\s*(?:[:：·=(（—–-]|$)", re.I)
HINT_LABELS = ("提示：", "Hint: ")
"""The label a question's guidance is shown under, in Chinese and in English."""


def node_text(node: dict[str, Any]) -> str:
    """What a node says: a text node's text, a file node's path, a link's URL, a group's label."""
    for key in ("text", "label", "file", "url"):
        value = node.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def text_node(document: Document, node_id: str, field: str, purpose: str) -> tuple[dict[str, Any], str]:
    """A node that must exist (else NOT_FOUND) and say something (else -32602 naming `field`), and its text."""
    node = document.node(node_id)
    if node is None:
        raise not_found("node", node_id)
    text = node_text(node)
    if not text:
        raise invalid_params(f"node {node_id!r} has no text to {purpose}", field)
    return node, text


def is_legend(text: str) -> bool:
    """Whether a node's text is an entry of a colour legend ("**Red · 红色**: not understood yet"):
    it opens with a colour's name and a separator. Such a node explains the canvas, it is not material."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    return _LEGEND.match(plain(first).strip()) is not None


REFUSALS = {
    "yellow": "is the learner's own explanation (yellow): {purpose} works on the material it explains",
    "blue": "is an AI explanation (blue): {purpose} works on the learner's material, not on an explanation of it",
    "green": "is marked understood (green): {purpose} takes red or purple material; colour it red or purple first",
}
"""Why a node in each state is not material to work on (`material_node`)."""


def material_node(
    document: Document, palette: Palette, node_id: str, purpose: str, refused: frozenset[str]
) -> tuple[dict[str, Any], str]:
    """A node to decompose or explain, and its text: NOT_FOUND for an unknown id, -32602 (`node_id`,
    naming the rule) for a node that is not material: not a text node, in a `refused` state
    (`REFUSALS` says why), or an entry of a colour legend."""
    node, text = text_node(document, node_id, "node_id", purpose)
    if node.get("type") != "text":
        raise invalid_params(f"node {node_id!r} is a {node.get('type')} node: {purpose} needs a text node", "node_id")
    state = palette.state_of(node.get("color"))
    if state in refused:
        raise invalid_params(f"node {node_id!r} {REFUSALS[state].format(purpose=purpose)}", "node_id")
    if is_legend(text):
        raise invalid_params(
            f"node {node_id!r} is an entry of the canvas's colour legend, not material: there is nothing to {purpose}",
            "node_id",
        )
    return node, text


def hint_line(guidance: str, chinese: bool) -> str:
    """The guidance under its label, once: a model may have written the label itself."""
    guidance = guidance.strip()
    if re.match(r"^(?:hint|提示)\s*[:：]", guidance, re.I):
        return guidance
    return HINT_LABELS[0 if chinese else 1] + guidance


def is_chinese(text: str) -> bool:
    """True when the text is mostly written in Chinese, so labels we add should be too."""
    return bool(_CJK.search(text))


def headline(text: str, limit: int = 40) -> str:
    """The first line of a text, without Markdown, shortened to `limit` characters."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    line = " ".join(plain(line).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def yellow_notes(document: Document, palette: Palette, node_id: str) -> list[str]:
    """The learner's own explanations of a node: the text of the yellow nodes it links to."""
    children = document.children(node_id)
    notes = (node_text(child) for child in children if palette.state_of(child.get("color")) == "yellow")
    return [note for note in notes if note]


def material_parents(document: Document, palette: Palette, node_id: str) -> list[dict[str, Any]]:
    """The nodes a node came from (edges pointing at it), leaving out the learner's yellow notes."""
    return [parent for parent in document.parents(node_id) if palette.state_of(parent.get("color")) != "yellow"]


def joined(nodes: list[dict[str, Any]]) -> str | None:
    """The texts of `nodes` as paragraphs, or None when they say nothing."""
    return "\n\n".join(filter(None, (node_text(node) for node in nodes))) or None
