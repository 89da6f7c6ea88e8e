"""Bindings of the `canvas.*` methods (docs/protocol.md, docs/canvases.md) to the `CanvasService`.

Node and edge objects travel as plain JSON objects, not typed params: JSON Canvas lets them carry
keys this server does not know, and those must reach the file untouched. The service checks them
with the same rules it applies to files and names the offending field in -32602.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from canvas_live.protocol.errors import ErrorCode
from canvas_live.protocol.registry import Registry
from canvas_live.server.runtime import Context
from canvas_live.services.canvas.edit import Draft
from canvas_live.services.canvas.service import CanvasEntry

JsonArray = Annotated[msgspec.Raw, msgspec.Meta(extra_json_schema={"type": "array", "items": {"type": "object"}})]
"""An array of nodes or edges, joined from their encoded lines rather than re-encoded per read."""

CanvasName = Annotated[str, msgspec.Meta(description="The canvas: its path in the vault (`.canvas` may be left off).")]
IfVersion = Annotated[
    str | None, msgspec.Meta(description="Apply only if the canvas is still at this version, else CONFLICT.")
]


class ListParams(msgspec.Struct, forbid_unknown_fields=True):
    """`canvas.list`: optionally only the canvases under one folder of the vault."""

    folder: Annotated[
        str | None, msgspec.Meta(description="A folder of the vault, relative to it; all by default.")
    ] = None


class ReadParams(msgspec.Struct, forbid_unknown_fields=True):
    """`canvas.read`: `color` takes learning states (`red`, …) and/or codes (`"4"`, `#ff0000`); `type` a node type."""

    name: CanvasName
    color: Annotated[
        str | list[str] | None,
        msgspec.Meta(description='Only nodes of these learning states (`red`, …) or colour codes (`"4"`, `#ff0000`).'),
    ] = None
    type: Annotated[
        str | None, msgspec.Meta(description="Only nodes of this type (`text`, `file`, `link`, `group`).")
    ] = None


class CanvasRead(msgspec.Struct, omit_defaults=True):
    """A canvas's nodes (filtered) and edges; `dangling_edges` lists edges whose ends are missing."""

    name: str
    version: str
    nodes: JsonArray
    edges: JsonArray
    dangling_edges: list[str] = []


class CreateParams(msgspec.Struct, forbid_unknown_fields=True):
    """`canvas.create`: a new canvas, empty or with nodes and edges."""

    name: CanvasName
    nodes: Annotated[list[dict[str, Any]], msgspec.Meta(description="JSON Canvas nodes to start with.")] = []
    edges: Annotated[list[dict[str, Any]], msgspec.Meta(description="JSON Canvas edges between those nodes.")] = []


class Created(msgspec.Struct):
    """The new canvas's name and version."""

    name: str
    version: str


class AddNodeParams(msgspec.Struct, forbid_unknown_fields=True):
    """`canvas.addNode`: a node object; `id`, position and size are filled in when absent."""

    name: CanvasName
    node: Annotated[
        dict[str, Any], msgspec.Meta(description="A JSON Canvas node; `id`, position and size are optional.")
    ]
    if_version: IfVersion = None


class UpdateNodeParams(msgspec.Struct, forbid_unknown_fields=True):
    """`canvas.updateNode`: keys to merge into the node; `null` removes a key; `id` and `type` are fixed."""

    name: CanvasName
    id: Annotated[str, msgspec.Meta(description="The node's id.")]
    patch: Annotated[dict[str, Any], msgspec.Meta(description="Keys to merge into the node; `null` removes a key.")]
    if_version: IfVersion = None


class NodeResult(msgspec.Struct):
    """The node as written, and the canvas's new version."""

    node: dict[str, Any]
    version: str


class DeleteParams(msgspec.Struct, forbid_unknown_fields=True):
    """`canvas.deleteNode` / `canvas.deleteEdge`: the id to remove."""

    name: CanvasName
    id: Annotated[str, msgspec.Meta(description="The id of the node or edge to delete.")]
    if_version: IfVersion = None


class NodeDeleted(msgspec.Struct):
    """The edges that went with the node, and the new version."""

    deleted_edges: list[str]
    version: str


class AddEdgeParams(msgspec.Struct, forbid_unknown_fields=True):
    """`canvas.addEdge`: an edge between two existing nodes; `id` is generated when absent."""

    name: CanvasName
    edge: Annotated[
        dict[str, Any], msgspec.Meta(description="A JSON Canvas edge (`fromNode`, `toNode`, …); `id` is optional.")
    ]
    if_version: IfVersion = None


class EdgeResult(msgspec.Struct):
    """The edge as written, and the canvas's new version."""

    edge: dict[str, Any]
    version: str


class Version(msgspec.Struct):
    """The canvas's new version."""

    version: str


LIST_ERRORS = (ErrorCode.NOT_FOUND, ErrorCode.FORBIDDEN_PATH)
"""`canvas.list`: an unknown folder, or one outside the vault."""
READ_ERRORS = (
    ErrorCode.NOT_FOUND,
    ErrorCode.INVALID_CANVAS,
    ErrorCode.FORBIDDEN_PATH,
    ErrorCode.STORAGE,
    ErrorCode.BUSY,
    ErrorCode.UNAVAILABLE,
)
"""Reading a canvas: missing, not JSON Canvas, a bad name, unreadable, being saved by another program
(or written by another process past the lock's wait), or Redis away where processes share its lock."""
CREATE_ERRORS = (
    ErrorCode.NOT_FOUND, ErrorCode.CONFLICT, ErrorCode.FORBIDDEN_PATH, ErrorCode.STORAGE, ErrorCode.UNAVAILABLE
)  # fmt: skip
"""`canvas.create`: an edge to a node it lacks, a name taken, a bad name, a disk that refuses, Redis away."""
EDIT_ERRORS = (*READ_ERRORS, ErrorCode.CONFLICT)
"""An edit reads the canvas first; then a stale `if_version` or an id taken is CONFLICT, a missing node NOT_FOUND."""


@dataclass(frozen=True, slots=True)
class Edit:
    """One `canvas.*` edit method: what it changes in the draft, and how its answer is built."""

    name: str
    summary: str
    params: type[msgspec.Struct]
    result: type[msgspec.Struct]
    change: Callable[[Any, Draft], Any]
    answer: Callable[[Any, str], msgspec.Struct]

    def handler(self) -> Callable[[Any, Context], Awaitable[msgspec.Struct]]:
        """The method's handler: one edit under the canvas's lock, `if_version` honoured."""

        async def handle(params: Any, ctx: Context) -> msgspec.Struct:
            value, version = await ctx.runtime.canvases.edit(
                params.name, lambda draft: self.change(params, draft), params.if_version
            )
            return self.answer(value, version)

        handle.__doc__ = self.summary
        return handle


EDITS = (
    Edit("canvas.addNode", "Add a node; its id is generated when absent.", AddNodeParams, NodeResult,
         lambda params, draft: draft.add_node(params.node), NodeResult),
    Edit("canvas.updateNode", "Merge a patch into a node.", UpdateNodeParams, NodeResult,
         lambda params, draft: draft.update_node(params.id, params.patch), NodeResult),
    Edit("canvas.deleteNode", "Delete a node and the edges touching it.", DeleteParams, NodeDeleted,
         lambda params, draft: draft.delete_node(params.id), NodeDeleted),
    Edit("canvas.addEdge", "Connect two nodes of a canvas.", AddEdgeParams, EdgeResult,
         lambda params, draft: draft.add_edge(params.edge), EdgeResult),
    Edit("canvas.deleteEdge", "Delete an edge.", DeleteParams, Version,
         lambda params, draft: draft.delete_edge(params.id), lambda _, version: Version(version)),
)  # fmt: skip
"""The edit methods, each one op (or a node with its edges) applied to a draft and written once."""


def register(registry: Registry[Context]) -> None:
    """Bind the canvas methods."""

    @registry.method("canvas.list", params=ListParams, result=list[CanvasEntry], errors=LIST_ERRORS)
    async def canvas_list(params: ListParams, ctx: Context) -> list[CanvasEntry]:
        """Every canvas in the vault (or a folder) with node and edge counts; unreadable ones say why."""
        return await ctx.runtime.canvases.list_canvases(params.folder)

    @registry.method("canvas.read", params=ReadParams, result=CanvasRead, errors=READ_ERRORS)
    async def canvas_read(params: ReadParams, ctx: Context) -> CanvasRead:
        """A canvas's nodes and edges, optionally only the nodes of some colours or states and of one type."""
        service = ctx.runtime.canvases
        view = await service.read(params.name)
        document = view.document
        colors = params.color
        codes = None if colors is None else service.palette.select([colors] if isinstance(colors, str) else colors)
        positions = None if codes is None and params.type is None else document.select(codes, params.type)
        return CanvasRead(
            view.name,
            view.version,
            msgspec.Raw(document.nodes_json(positions)),
            msgspec.Raw(document.edges_json()),
            document.dangling_edges(),
        )

    @registry.method("canvas.create", params=CreateParams, result=Created, errors=CREATE_ERRORS)
    async def canvas_create(params: CreateParams, ctx: Context) -> Created:
        """Create a canvas; CONFLICT when the name is taken."""
        name, version = await ctx.runtime.canvases.create(params.name, params.nodes, params.edges)
        return Created(name, version)

    for edit in EDITS:
        registry.method(edit.name, params=edit.params, result=edit.result, errors=EDIT_ERRORS)(edit.handler())
