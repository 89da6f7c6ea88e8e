"""JSON Canvas 1.0 on disk: parse and validate a file, and write it back in Obsidian's layout.

The decoded document, not a typed model, is the source of truth: nodes and edges stay plain dicts
in file order, so every key this server does not know survives a read-modify-write. The msgspec
types below only *check* those dicts (node types, integer geometry, sides, ends, colours).

Each node and edge also keeps its compact JSON line as read from the file (whitespace removed,
strings and numbers byte for byte), so a file already in Obsidian's layout is written back
identically and an edit re-encodes only what it touched.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Literal

import msgspec

Color = Annotated[str, msgspec.Meta(pattern=r"^(?:[1-6]|#[0-9a-fA-F]{6})$")]
Side = Literal["top", "right", "bottom", "left"]
End = Literal["none", "arrow"]
NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]

KNOWN_TYPES = ("text", "file", "link", "group")


class _Node(msgspec.Struct):
    """What every node has, whatever its type."""

    id: NonEmpty
    type: NonEmpty
    x: int
    y: int
    width: int
    height: int
    color: Color | msgspec.UnsetType = msgspec.UNSET


class _Text(msgspec.Struct):
    text: str


class _File(msgspec.Struct):
    file: str
    subpath: str | msgspec.UnsetType = msgspec.UNSET


class _Link(msgspec.Struct):
    url: str


class _Group(msgspec.Struct):
    label: str | msgspec.UnsetType = msgspec.UNSET
    background: str | msgspec.UnsetType = msgspec.UNSET
    backgroundStyle: Literal["cover", "ratio", "repeat"] | msgspec.UnsetType = msgspec.UNSET


_BY_TYPE: dict[str, type[msgspec.Struct]] = {"text": _Text, "file": _File, "link": _Link, "group": _Group}


class _Edge(msgspec.Struct):
    id: NonEmpty
    fromNode: NonEmpty
    toNode: NonEmpty
    fromSide: Side | msgspec.UnsetType = msgspec.UNSET
    toSide: Side | msgspec.UnsetType = msgspec.UNSET
    fromEnd: End | msgspec.UnsetType = msgspec.UNSET
    toEnd: End | msgspec.UnsetType = msgspec.UNSET
    color: Color | msgspec.UnsetType = msgspec.UNSET
    label: str | msgspec.UnsetType = msgspec.UNSET


class Document:
    """One canvas as read: top-level keys in file order, nodes and edges as dicts with their lines.

    A document is never changed in place once built (an edit builds a new one, see
    `canvas.edit`), so a reader may keep one while a writer replaces it.
    """

    __slots__ = (
        "_edge_index",
        "_node_index",
        "edge_lines",
        "edges",
        "extras",
        "implicit",
        "keys",
        "node_lines",
        "nodes",
    )

    def __init__(
        self,
        keys: list[str],
        extras: dict[str, bytes],
        nodes: list[dict[str, Any]],
        node_lines: list[bytes],
        edges: list[dict[str, Any]],
        edge_lines: list[bytes],
        implicit: frozenset[str] = frozenset(),
    ) -> None:
        self.keys = keys
        self.extras = extras
        self.nodes = nodes
        self.node_lines = node_lines
        self.edges = edges
        self.edge_lines = edge_lines
        self.implicit = implicit
        self._node_index: dict[str, int] | None = None
        self._edge_index: dict[str, int] | None = None

    @classmethod
    def empty(cls, implicit: bool = False) -> Document:
        """A canvas without nodes or edges; `implicit` ones are written only once they hold something."""
        return cls(["nodes", "edges"], {}, [], [], [], [], frozenset(("nodes", "edges")) if implicit else frozenset())

    @property
    def node_index(self) -> dict[str, int]:
        """Position of each node by id, built on first use."""
        if self._node_index is None:
            self._node_index = {node["id"]: index for index, node in enumerate(self.nodes)}
        return self._node_index

    @property
    def edge_index(self) -> dict[str, int]:
        """Position of each edge by id, built on first use."""
        if self._edge_index is None:
            self._edge_index = {edge["id"]: index for index, edge in enumerate(self.edges)}
        return self._edge_index

    def node(self, node_id: str) -> dict[str, Any] | None:
        """The node with this id, or None."""
        index = self.node_index.get(node_id)
        return None if index is None else self.nodes[index]

    def edge(self, edge_id: str) -> dict[str, Any] | None:
        """The edge with this id, or None."""
        index = self.edge_index.get(edge_id)
        return None if index is None else self.edges[index]

    def children(self, node_id: str) -> list[dict[str, Any]]:
        """Nodes that edges leaving `node_id` point to, in edge order (e.g. a question's answers)."""
        found = (self.node(edge["toNode"]) for edge in self.edges if edge["fromNode"] == node_id)
        return [node for node in found if node is not None]

    def parents(self, node_id: str) -> list[dict[str, Any]]:
        """Nodes with an edge pointing at `node_id`, in edge order (e.g. the material a question came from)."""
        found = (self.node(edge["fromNode"]) for edge in self.edges if edge["toNode"] == node_id)
        return [node for node in found if node is not None]

    def dangling_edges(self) -> list[str]:
        """Ids of edges whose ends are not both nodes of this canvas: kept as they are, reported."""
        index = self.node_index
        return [edge["id"] for edge in self.edges if edge["fromNode"] not in index or edge["toNode"] not in index]

    def select(self, colors: frozenset[str] | None = None, node_type: str | None = None) -> list[int]:
        """Positions of the nodes whose colour is one of `colors` (lower case) and whose type matches."""
        chosen = []
        for index, node in enumerate(self.nodes):
            if node_type is not None and node["type"] != node_type:
                continue
            if colors is not None and str(node.get("color", "")).lower() not in colors:
                continue
            chosen.append(index)
        return chosen

    def nodes_json(self, positions: Iterable[int] | None = None) -> bytes:
        """The nodes (or those at `positions`) as one JSON array, joined from their encoded lines."""
        lines = self.node_lines if positions is None else [self.node_lines[index] for index in positions]
        return b"[" + b",".join(lines) + b"]"

    def edges_json(self) -> bytes:
        """The edges as one JSON array, joined from their encoded lines."""
        return b"[" + b",".join(self.edge_lines) + b"]"


class CanvasFormatError(ValueError):
    """A document that is not valid JSON Canvas; `path` says where (`nodes[3].x`), `reason` what."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}" if path else reason)
        self.path = path
        self.reason = reason


_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_MISSING = re.compile(r"missing required field `(?P<field>[^`]+)`")


def _format_error(exc: msgspec.ValidationError, where: str) -> CanvasFormatError:
    """msgspec's `Expected int, got str - at $[3].x` as path `nodes[3].x` and a plain reason."""
    message = str(exc)
    suffix = ""
    match = _AT.search(message)
    if match:
        suffix = match["path"]
        message = message[: match.start()]
    missing = _MISSING.search(message)
    if missing:
        suffix += "." + missing["field"]
    reason = message[:1].lower() + message[1:]
    return CanvasFormatError(where + suffix, reason.replace("`", ""))


def check_node(node: dict[str, Any], where: str) -> None:
    """Validate one node; a type this server does not know is checked only for the common keys."""
    try:
        msgspec.convert(node, _Node)
        specific = _BY_TYPE.get(node["type"])
        if specific is not None:
            msgspec.convert(node, specific)
    except msgspec.ValidationError as exc:
        raise _format_error(exc, where) from None


def check_edge(edge: dict[str, Any], where: str) -> None:
    """Validate one edge (its ends need not exist: dangling edges are kept and reported)."""
    try:
        msgspec.convert(edge, _Edge)
    except msgspec.ValidationError as exc:
        raise _format_error(exc, where) from None


def _check_all(items: Sequence[dict[str, Any]], kind: Literal["nodes", "edges"]) -> None:
    """Validate a whole array in one msgspec pass, then the per-type keys and unique ids."""
    try:
        msgspec.convert(items, list[_Node] if kind == "nodes" else list[_Edge])
    except msgspec.ValidationError as exc:
        raise _format_error(exc, kind) from None
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        specific = _BY_TYPE.get(item["type"]) if kind == "nodes" else None
        if specific is not None:
            try:
                msgspec.convert(item, specific)
            except msgspec.ValidationError as exc:
                raise _format_error(exc, f"nodes[{index}]") from None
        first = seen.setdefault(item["id"], index)
        if first != index:
            raise CanvasFormatError(f"{kind}[{index}].id", f"duplicate id {item['id']!r} (also {kind}[{first}])")


_BYTE = re.compile(r"\(byte (?P<offset>\d+)\)")


def _where(data: bytes, message: str) -> str:
    """`line L, column C` of a JSON syntax error: msgspec names the byte (or none: the file ends early)."""
    match = _BYTE.search(message)
    offset = min(int(match["offset"]), len(data)) if match else len(data)
    start = data.rfind(b"\n", 0, offset) + 1
    line = data.count(b"\n", 0, offset) + 1
    column = len(data[start:offset].decode("utf-8", "replace")) + 1
    return f"line {line}, column {column}"


_top_decoder = msgspec.json.Decoder(dict[str, msgspec.Raw])
_raw_list_decoder = msgspec.json.Decoder(list[msgspec.Raw])
_any_decoder = msgspec.json.Decoder()


def _compact(raw: msgspec.Raw) -> bytes:
    """The value without insignificant whitespace, its strings and numbers untouched."""
    return msgspec.json.format(raw, indent=-1)


def _array(raw: msgspec.Raw, kind: str) -> tuple[list[dict[str, Any]], list[bytes]]:
    try:
        raws = _raw_list_decoder.decode(raw)
    except msgspec.ValidationError:
        raise CanvasFormatError(kind, "expected an array") from None
    values = _any_decoder.decode(raw)
    for index, value in enumerate(values):
        if not isinstance(value, dict):
            raise CanvasFormatError(f"{kind}[{index}]", f"expected an object, got {type(value).__name__}")
    return values, [_compact(item) for item in raws]


def parse(data: bytes) -> Document:
    """Decode and validate a canvas file; raise `CanvasFormatError` saying where it is wrong.

    `nodes` and `edges` are optional in JSON Canvas 1.0: a missing one reads as empty and is
    written back only once it holds something. An empty file reads as an empty canvas, as in
    Obsidian.
    """
    if not data.strip():
        return Document.empty(implicit=True)
    try:
        top = _top_decoder.decode(data)
    except msgspec.ValidationError:
        raise CanvasFormatError("", "the file is JSON but not an object with nodes and edges") from None
    except msgspec.DecodeError as exc:
        message = str(exc)
        raise CanvasFormatError(_where(data, message), f"not valid JSON ({_BYTE.sub('', message).strip()})") from None
    keys = list(top)
    implicit = frozenset(key for key in ("nodes", "edges") if key not in top)
    if "nodes" in implicit:
        keys.insert(0, "nodes")
    if "edges" in implicit:
        keys.insert(keys.index("nodes") + 1, "edges")
    nodes, node_lines = _array(top["nodes"], "nodes") if "nodes" in top else ([], [])
    edges, edge_lines = _array(top["edges"], "edges") if "edges" in top else ([], [])
    _check_all(nodes, "nodes")
    _check_all(edges, "edges")
    extras = {key: _compact(value) for key, value in top.items() if key not in ("nodes", "edges")}
    return Document(keys, extras, nodes, node_lines, edges, edge_lines, implicit=implicit)


_encode_key = msgspec.json.encode


def _array_entry(key: str, lines: Iterable[bytes]) -> bytes:
    body = b",\n\t\t".join(lines)
    if not body:
        return b'\t"' + key.encode() + b'":[]'
    return b'\t"' + key.encode() + b'":[\n\t\t' + body + b"\n\t]"


def serialise(document: Document) -> bytes:
    """Obsidian's layout: one node or edge per line, tab indentation, no trailing newline."""
    entries: list[bytes] = []
    for key in document.keys:
        if key == "nodes" or key == "edges":
            lines = document.node_lines if key == "nodes" else document.edge_lines
            if lines or key not in document.implicit:
                entries.append(_array_entry(key, lines))
        else:
            entries.append(b"\t" + _encode_key(key) + b":" + document.extras[key])
    if not entries:
        return b"{}"
    return b"{\n" + b",\n".join(entries) + b"\n}"
