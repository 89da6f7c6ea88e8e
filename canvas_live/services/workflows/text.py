"""Reading the learner's words off a canvas: node text, and the language to answer in."""

from __future__ import annotations

import re
from typing import Any

from canvas_live.protocol.errors import invalid_params, not_found
from canvas_live.services.canvas.format import Document
from canvas_live.services.canvas.palette import Palette

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


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


def is_chinese(text: str) -> bool:
    """True when the text is mostly written in Chinese, so labels we add should be too."""
    return bool(_CJK.search(text))


def headline(text: str, limit: int = 40) -> str:
    """The first line of a text, without Markdown heading marks, shortened to `limit` characters."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    line = line.lstrip("#").strip()
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
