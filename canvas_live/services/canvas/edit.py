"""Edits of one canvas: a draft copied from a document, changed op by op, then frozen into a new one.

A draft records every op it applies (`node.added`, `edge.deleted`, …) in the shape `canvas.changed`
publishes, so one edit of many ops is one write and one event. Client input is checked here with
the same rules as a file (`canvas.format`), and a bad value is reported as invalid params
naming the field (`node.x`, `patch.color`, `nodes[2].type`).
"""

from __future__ import annotations

import secrets
from typing import Any

import msgspec

from canvas_live.protocol.errors import ErrorCode, RpcError, invalid_params, not_found
from canvas_live.services.canvas.format import KNOWN_TYPES, CanvasFormatError, Document, check_edge, check_node

DEFAULT_SIZE = {"text": (250, 60), "file": (400, 400), "link": (400, 400), "group": (400, 400)}
"""Width and height of a new node of each type when the client gives none (Obsidian's defaults)."""

GAP = 40
"""Vertical space left above a node placed without coordinates, below everything else."""

# Key order of new objects, as Obsidian writes them; other keys follow in the client's order.
_NODE_HEAD = ("id", "type", "text", "file", "subpath", "url", "x", "y", "width", "height")
_EDGE_HEAD = ("id", "fromNode", "fromSide", "fromEnd", "toNode", "toSide", "toEnd")
_IMMUTABLE = ("id", "type")

_encode = msgspec.json.Encoder().encode


def new_id(taken: dict[str, int]) -> str:
    """A fresh id of 16 lowercase hex characters, as Obsidian makes them."""
    while True:
        ident = secrets.token_hex(8)
        if ident not in taken:
            return ident


def _ordered(item: dict[str, Any], head: tuple[str, ...]) -> dict[str, Any]:
    ordered = {key: item[key] for key in head if key in item}
    ordered.update((key, value) for key, value in item.items() if key not in ordered)
    return ordered


def _invalid(exc: CanvasFormatError) -> RpcError:
    return invalid_params(f"invalid {exc}", exc.path)


def conflict(message: str, **data: Any) -> RpcError:
    """-32002: the canvas or an id in it is not in the state the caller assumed."""
    return RpcError(ErrorCode.CONFLICT, message, **data)


class Draft:
    """A canvas being edited; `finish` gives the new document, `ops` what changed."""

    def __init__(self, document: Document) -> None:
        self.base = document
        self.nodes = list(document.nodes)
        self.node_lines = list(document.node_lines)
        self.edges = list(document.edges)
        self.edge_lines = list(document.edge_lines)
        self.node_index = dict(document.node_index)
        self.edge_index = dict(document.edge_index)
        self.ops: list[dict[str, Any]] = []

    def add_node(self, node: dict[str, Any], where: str = "node") -> dict[str, Any]:
        """Append a node: id generated when absent, size and place defaulted, keys in Obsidian's order."""
        node = self._with_id(node, self.node_index, "node", where)
        kind = node.get("type")
        if kind not in KNOWN_TYPES:
            raise invalid_params(
                f"invalid {where}.type: {kind!r} is not a node type (use {', '.join(KNOWN_TYPES)})", f"{where}.type"
            )
        width, height = DEFAULT_SIZE[kind]
        node.setdefault("width", width)
        node.setdefault("height", height)
        if "x" not in node or "y" not in node:
            left, bottom = self._free_spot()
            node.setdefault("x", left)
            node.setdefault("y", bottom)
        node = _ordered(node, _NODE_HEAD)
        try:
            check_node(node, where)
        except CanvasFormatError as exc:
            raise _invalid(exc) from None
        self.node_index[node["id"]] = len(self.nodes)
        self.nodes.append(node)
        self.node_lines.append(_encode(node))
        self.ops.append({"op": "node.added", "node": node})
        return node

    def update_node(self, node_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        """Merge `patch` into a node (`None` removes a key); a patch that changes nothing is not an op."""
        index = self.node_index.get(node_id)
        if index is None:
            raise not_found("node", node_id)
        current = self.nodes[index]
        for key in _IMMUTABLE:
            if key in patch and patch[key] != current[key]:
                raise invalid_params(f"invalid patch.{key}: a node's {key} cannot be changed", f"patch.{key}")
        if current["type"] not in KNOWN_TYPES:
            raise RpcError(
                ErrorCode.INVALID_CANVAS,
                f"node {node_id!r} has type {current['type']!r}, which JSON Canvas 1.0 does not define: "
                "it is kept as it is and may be deleted, but not edited",
                kind="node",
                id=node_id,
            )
        merged = dict(current)
        for key, value in patch.items():
            if key in _IMMUTABLE:
                continue
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        if merged == current and list(merged) == list(current):
            return current
        try:
            check_node(merged, "patch")
        except CanvasFormatError as exc:
            raise _invalid(exc) from None
        self.nodes[index] = merged
        self.node_lines[index] = _encode(merged)
        self.ops.append({"op": "node.updated", "node": merged})
        return merged

    def delete_node(self, node_id: str) -> list[str]:
        """Remove a node and every edge touching it; returns the ids of those edges."""
        index = self.node_index.get(node_id)
        if index is None:
            raise not_found("node", node_id)
        touching = [
            position
            for position, edge in enumerate(self.edges)
            if edge["fromNode"] == node_id or edge["toNode"] == node_id
        ]
        deleted = [self.edges[position]["id"] for position in touching]
        for position in reversed(touching):
            del self.edges[position]
            del self.edge_lines[position]
        if touching:
            self.edge_index = {edge["id"]: position for position, edge in enumerate(self.edges)}
        del self.nodes[index]
        del self.node_lines[index]
        self.node_index = {node["id"]: position for position, node in enumerate(self.nodes)}
        self.ops.extend({"op": "edge.deleted", "id": edge_id} for edge_id in deleted)
        self.ops.append({"op": "node.deleted", "id": node_id})
        return deleted

    def add_edge(self, edge: dict[str, Any], where: str = "edge") -> dict[str, Any]:
        """Append an edge between two nodes of this canvas; id generated when absent."""
        edge = _ordered(self._with_id(edge, self.edge_index, "edge", where), _EDGE_HEAD)
        try:
            check_edge(edge, where)
        except CanvasFormatError as exc:
            raise _invalid(exc) from None
        for end in ("fromNode", "toNode"):
            if edge[end] not in self.node_index:
                raise RpcError(
                    ErrorCode.NOT_FOUND,
                    f"{where}.{end}: node {edge[end]!r} not found",
                    kind="node",
                    id=edge[end],
                    field=f"{where}.{end}",
                )
        self.edge_index[edge["id"]] = len(self.edges)
        self.edges.append(edge)
        self.edge_lines.append(_encode(edge))
        self.ops.append({"op": "edge.added", "edge": edge})
        return edge

    def delete_edge(self, edge_id: str) -> None:
        """Remove one edge."""
        index = self.edge_index.get(edge_id)
        if index is None:
            raise not_found("edge", edge_id)
        del self.edges[index]
        del self.edge_lines[index]
        self.edge_index = {edge["id"]: position for position, edge in enumerate(self.edges)}
        self.ops.append({"op": "edge.deleted", "id": edge_id})

    def finish(self) -> Document:
        """The edited document; the draft's base is left as it was."""
        base = self.base
        return Document(base.keys, base.extras, self.nodes, self.node_lines, self.edges, self.edge_lines, base.implicit)

    @staticmethod
    def _with_id(item: dict[str, Any], taken: dict[str, int], kind: str, where: str) -> dict[str, Any]:
        item = dict(item)
        ident = item.get("id")
        if ident is None:
            item["id"] = new_id(taken)
        elif not isinstance(ident, str) or not ident:
            raise invalid_params(f"invalid {where}.id: expected a non-empty string", f"{where}.id")
        elif ident in taken:
            raise conflict(f"{kind} id {ident!r} is already taken", kind=kind, id=ident)
        return item

    def _free_spot(self) -> tuple[int, int]:
        """Left edge and a y below every node: where a node without coordinates overlaps nothing."""
        if not self.nodes:
            return 0, 0
        left = min(node["x"] for node in self.nodes)
        bottom = max(node["y"] + node["height"] for node in self.nodes)
        return left, bottom + GAP


def replay(draft: Draft, op: dict[str, Any], base: Document) -> None:
    """Apply one recorded op (as `canvas.changed` carries it) again, to a document that lacks it.

    `base` is the document the op was first applied to: a node update becomes the patch that turns
    the node as it was there into the node the op carries, keys removed included.
    """
    kind = op["op"]
    if kind == "node.added":
        draft.add_node(op["node"])
    elif kind == "node.updated":
        node = op["node"]
        before = base.node(node["id"]) or {}
        patch: dict[str, Any] = dict.fromkeys(key for key in before if key not in node)
        patch.update(node)
        draft.update_node(node["id"], patch)
    elif kind == "node.deleted":
        draft.delete_node(op["id"])
    elif kind == "edge.added":
        draft.add_edge(op["edge"])
    else:
        draft.delete_edge(op["id"])
