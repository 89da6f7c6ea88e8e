"""Bindings of the `canvas.*` methods (DESIGN §3.2) to the `CanvasService`.

Node and edge objects travel as plain JSON objects, not typed params: JSON Canvas lets them carry
keys this server does not know, and those must reach the file untouched. The service checks them
with the same rules it applies to files and names the offending field in -32602.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from canvas_live.protocol.registry import Registry
from canvas_live.server.runtime import Context
from canvas_live.services.canvas.edit import Draft
from canvas_live.services.canvas.service import CanvasEntry

JsonArray = Annotated[msgspec.Raw, msgspec.Meta(extra_json_schema={"type": "array", "items": {"type": "object"}})]
"""An array of nodes or edges, joined from their encoded lines rather than re-encoded per read."""


class ListParams(msgspec.Struct, forbid_unknown_fields=True):
    """`canvas.list`: optionally only the canvases under one folder of the vault."""

    folder: str | None = None


class ReadParams(msgspec.Struct, forbid_unknown_fields=True):
    """`canvas.read`: `color` takes learning states (`red`, …) and/or codes (`"4"`, `#ff0000`); `type` a node type."""

    name: str
    color: str | list[str] | None = None
    type: str | None = None


class CanvasRead(msgspec.Struct, omit_defaults=True):
    """A canvas's nodes (filtered) and edges; `dangling_edges` lists edges whose ends are missing."""

    name: str
    version: str
    nodes: JsonArray
    edges: JsonArray
    dangling_edges: list[str] = []


class CreateParams(msgspec.Struct, forbid_unknown_fields=True):
    """`canvas.create`: a new canvas, empty or with nodes and edges."""

    name: str
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []


class Created(msgspec.Struct):
    """The new canvas's name and version."""

    name: str
    version: str


class AddNodeParams(msgspec.Struct, forbid_unknown_fields=True):
    """`canvas.addNode`: a node object; `id`, position and size are filled in when absent."""

    name: str
    node: dict[str, Any]
    if_version: str | None = None


class UpdateNodeParams(msgspec.Struct, forbid_unknown_fields=True):
    """`canvas.updateNode`: keys to merge into the node; `null` removes a key; `id` and `type` are fixed."""

    name: str
    id: str
    patch: dict[str, Any]
    if_version: str | None = None


class NodeResult(msgspec.Struct):
    """The node as written, and the canvas's new version."""

    node: dict[str, Any]
    version: str


class DeleteParams(msgspec.Struct, forbid_unknown_fields=True):
    """`canvas.deleteNode` / `canvas.deleteEdge`: the id to remove."""

    name: str
    id: str
    if_version: str | None = None


class NodeDeleted(msgspec.Struct):
    """The edges that went with the node, and the new version."""

    deleted_edges: list[str]
    version: str


class AddEdgeParams(msgspec.Struct, forbid_unknown_fields=True):
    """`canvas.addEdge`: an edge between two existing nodes; `id` is generated when absent."""

    name: str
    edge: dict[str, Any]
    if_version: str | None = None


class EdgeResult(msgspec.Struct):
    """The edge as written, and the canvas's new version."""

    edge: dict[str, Any]
    version: str


class Version(msgspec.Struct):
    """The canvas's new version."""

    version: str


def register(registry: Registry[Context]) -> None:
    """Bind the canvas methods."""

    @registry.method("canvas.list", params=ListParams, result=list[CanvasEntry])
    async def canvas_list(params: ListParams, ctx: Context) -> list[CanvasEntry]:
        """Every canvas in the vault (or a folder) with node and edge counts; unreadable ones say why."""
        return await ctx.runtime.canvases.list_canvases(params.folder)

    @registry.method("canvas.read", params=ReadParams, result=CanvasRead)
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

    @registry.method("canvas.create", params=CreateParams, result=Created)
    async def canvas_create(params: CreateParams, ctx: Context) -> Created:
        """Create a canvas; CONFLICT when the name is taken."""
        name, version = await ctx.runtime.canvases.create(params.name, params.nodes, params.edges)
        return Created(name, version)

    @registry.method("canvas.addNode", params=AddNodeParams, result=NodeResult)
    async def add_node(params: AddNodeParams, ctx: Context) -> NodeResult:
        """Add a node; its id is generated when absent."""
        node, version = await ctx.runtime.canvases.edit(
            params.name, lambda draft: draft.add_node(params.node), params.if_version
        )
        return NodeResult(node, version)

    @registry.method("canvas.updateNode", params=UpdateNodeParams, result=NodeResult)
    async def update_node(params: UpdateNodeParams, ctx: Context) -> NodeResult:
        """Merge a patch into a node."""
        node, version = await ctx.runtime.canvases.edit(
            params.name, lambda draft: draft.update_node(params.id, params.patch), params.if_version
        )
        return NodeResult(node, version)

    @registry.method("canvas.deleteNode", params=DeleteParams, result=NodeDeleted)
    async def delete_node(params: DeleteParams, ctx: Context) -> NodeDeleted:
        """Delete a node and the edges touching it."""
        deleted, version = await ctx.runtime.canvases.edit(
            params.name, lambda draft: draft.delete_node(params.id), params.if_version
        )
        return NodeDeleted(deleted, version)

    @registry.method("canvas.addEdge", params=AddEdgeParams, result=EdgeResult)
    async def add_edge(params: AddEdgeParams, ctx: Context) -> EdgeResult:
        """Connect two nodes of a canvas."""
        edge, version = await ctx.runtime.canvases.edit(
            params.name, lambda draft: draft.add_edge(params.edge), params.if_version
        )
        return EdgeResult(edge, version)

    @registry.method("canvas.deleteEdge", params=DeleteParams, result=Version)
    async def delete_edge(params: DeleteParams, ctx: Context) -> Version:
        """Delete an edge."""

        def change(draft: Draft) -> None:
            draft.delete_edge(params.id)

        _, version = await ctx.runtime.canvases.edit(params.name, change, params.if_version)
        return Version(version)
