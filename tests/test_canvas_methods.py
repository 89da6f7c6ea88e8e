"""The canvas.* methods as a client uses them: create, read, list, edit, and the events they cause."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.canvases import CANVAS_FIXTURES
from tests.support.client import Client, RpcError, open_client
from tests.support.server import LiveServer, on_server_loop

HEX16 = re.compile(r"^[0-9a-f]{16}$")

MATERIAL = {"id": "m1", "type": "text", "text": "逆否命题", "x": 0, "y": 0, "width": 400, "height": 200, "color": "4"}
ANSWER = {"id": "y1", "type": "text", "text": "我的理解", "x": 500, "y": 0, "width": 300, "height": 150, "color": "6"}
EDGE = {"id": "e1", "fromNode": "m1", "toNode": "y1", "fromSide": "right", "toSide": "left"}


async def test_create_writes_obsidian_layout_and_read_returns_it(client: Client, vault: Path) -> None:
    created = await client.call(
        "canvas.create", {"name": "math/离散数学", "nodes": [MATERIAL, ANSWER], "edges": [EDGE]}
    )
    assert created["name"] == "math/离散数学"
    assert HEX16.match(created["version"])
    data = (vault / "math" / "离散数学.canvas").read_bytes()
    assert data.decode().splitlines()[:2] == ["{", '\t"nodes":[']
    assert '\t\t{"id":"m1","type":"text","text":"逆否命题","x":0,' in data.decode()
    assert data.endswith(b'"toSide":"left"}\n\t]\n}')

    read = await client.call("canvas.read", {"name": "math/离散数学"})
    assert read == {
        "name": "math/离散数学",
        "version": created["version"],
        "nodes": [MATERIAL, ANSWER],
        "edges": [EDGE],
    }
    # A trailing .canvas in a name is accepted and means the same canvas.
    assert (await client.call("canvas.read", {"name": "math/离散数学.canvas"}))["version"] == created["version"]


async def test_create_empty_canvas_and_conflict_on_existing(client: Client, vault: Path) -> None:
    await client.call("canvas.create", {"name": "empty"})
    assert (vault / "empty.canvas").read_bytes() == b'{\n\t"nodes":[],\n\t"edges":[]\n}'
    with pytest.raises(RpcError) as caught:
        await client.call("canvas.create", {"name": "empty", "nodes": [MATERIAL]})
    assert caught.value.code == -32002
    assert caught.value.data["error"] == "CONFLICT"
    assert (vault / "empty.canvas").read_bytes() == b'{\n\t"nodes":[],\n\t"edges":[]\n}'


async def test_create_rejects_bad_nodes_and_edges_naming_the_field(client: Client, vault: Path) -> None:
    bad = {"type": "text", "text": "x", "x": "0", "y": 0, "width": 1, "height": 1}
    with pytest.raises(RpcError) as caught:
        await client.call("canvas.create", {"name": "c", "nodes": [MATERIAL, bad]})
    assert caught.value.code == -32602
    assert caught.value.data["field"] == "nodes[1].x"
    with pytest.raises(RpcError) as caught:
        await client.call("canvas.create", {"name": "c", "nodes": [MATERIAL], "edges": [EDGE]})
    assert caught.value.code == -32001
    assert caught.value.data == {"error": "NOT_FOUND", "kind": "node", "id": "y1", "field": "edges[0].toNode"}
    with pytest.raises(RpcError) as caught:
        await client.call("canvas.create", {"name": "c", "nodes": [MATERIAL, MATERIAL]})
    assert caught.value.code == -32002
    assert not (vault / "c.canvas").exists()


async def test_add_node_fills_id_size_and_place_and_publishes(client: Client, vault: Path) -> None:
    await client.call("canvas.create", {"name": "c", "nodes": [MATERIAL]})
    await client.call("subscribe", {"topics": ["canvas:c"]})
    added = await client.call("canvas.addNode", {"name": "c", "node": {"type": "text", "text": "新问题", "color": "3"}})
    node = added["node"]
    assert HEX16.match(node["id"])
    assert list(node) == ["id", "type", "text", "x", "y", "width", "height", "color"]
    assert (node["x"], node["y"], node["width"], node["height"]) == (0, 240, 250, 60)  # below the material
    event = await client.event("canvas.changed")
    assert event == {
        "topic": "canvas:c",
        "seq": 1,
        "name": "c",
        "version": added["version"],
        "source": "server",
        "ops": [{"op": "node.added", "node": node}],
    }
    read = await client.call("canvas.read", {"name": "c"})
    assert read["nodes"] == [MATERIAL, node]


async def test_add_node_bad_input_is_invalid_params_and_the_connection_lives(client: Client, vault: Path) -> None:
    await client.call("canvas.create", {"name": "c", "nodes": [MATERIAL]})
    before = (vault / "c.canvas").read_bytes()
    cases = [
        ({"type": "widget"}, "node.type"),
        ({"text": "no type"}, "node.type"),
        ({"type": "text", "text": "t", "x": 1.5, "y": 0}, "node.x"),
        ({"type": "text", "text": "t", "width": True}, "node.width"),
        ({"type": "text", "text": "t", "color": "7"}, "node.color"),
        ({"type": "text"}, "node.text"),
        ({"type": "file", "file": 3}, "node.file"),
        ({"type": "link"}, "node.url"),
        ({"type": "group", "backgroundStyle": "tile"}, "node.backgroundStyle"),
        ({"type": "text", "text": "t", "id": 7}, "node.id"),
    ]
    for node, field in cases:
        with pytest.raises(RpcError) as caught:
            await client.call("canvas.addNode", {"name": "c", "node": node})
        assert caught.value.code == -32602, node
        assert caught.value.data["field"] == field, node
    with pytest.raises(RpcError) as caught:
        await client.call("canvas.addNode", {"name": "c", "node": {"type": "text", "text": "t"}, "surprise": 1})
    assert caught.value.code == -32602
    with pytest.raises(RpcError) as caught:
        await client.call("canvas.addNode", {"name": "c", "node": ["not", "an", "object"]})
    assert caught.value.code == -32602
    with pytest.raises(RpcError) as caught:
        await client.call("canvas.addNode", {"name": "c", "node": {**ANSWER, "id": "m1"}})
    assert caught.value.code == -32002
    assert caught.value.data == {"error": "CONFLICT", "kind": "node", "id": "m1"}
    assert (vault / "c.canvas").read_bytes() == before
    assert await client.call("ping") == "pong"


async def test_update_node_merges_removes_and_keeps_id_and_type(client: Client, vault: Path) -> None:
    created = await client.call("canvas.create", {"name": "c", "nodes": [{**MATERIAL, "x-note": {"k": 1}}]})
    await client.call("subscribe", {"topics": ["canvas:c"]})
    updated = await client.call(
        "canvas.updateNode", {"name": "c", "id": "m1", "patch": {"color": None, "text": "已理解", "score": 92}}
    )
    node = updated["node"]
    assert node == {
        "id": "m1",
        "type": "text",
        "text": "已理解",
        "x": 0,
        "y": 0,
        "width": 400,
        "height": 200,
        "x-note": {"k": 1},
        "score": 92,
    }
    assert list(node)[-2:] == ["x-note", "score"]
    event = await client.event("canvas.changed")
    assert event["ops"] == [{"op": "node.updated", "node": node}]

    # A patch that changes nothing writes nothing and keeps the version.
    mtime = (vault / "c.canvas").stat().st_mtime_ns
    same = await client.call("canvas.updateNode", {"name": "c", "id": "m1", "patch": {"text": "已理解", "id": "m1"}})
    assert same["version"] == updated["version"] != created["version"]
    assert (vault / "c.canvas").stat().st_mtime_ns == mtime

    for patch, field in [({"id": "other"}, "patch.id"), ({"type": "file"}, "patch.type"), ({"x": None}, "patch.x")]:
        with pytest.raises(RpcError) as caught:
            await client.call("canvas.updateNode", {"name": "c", "id": "m1", "patch": patch})
        assert (caught.value.code, caught.value.data["field"]) == (-32602, field)
    with pytest.raises(RpcError) as caught:
        await client.call("canvas.updateNode", {"name": "c", "id": "ghost", "patch": {"x": 1}})
    assert caught.value.data == {"error": "NOT_FOUND", "kind": "node", "id": "ghost"}


async def test_delete_node_takes_its_edges(client: Client) -> None:
    other = {"id": "b1", "type": "text", "text": "AI", "x": 0, "y": 300, "width": 300, "height": 100, "color": "5"}
    edges = [EDGE, {"id": "e2", "fromNode": "b1", "toNode": "y1"}, {"id": "e3", "fromNode": "m1", "toNode": "b1"}]
    await client.call("canvas.create", {"name": "c", "nodes": [MATERIAL, ANSWER, other], "edges": edges})
    await client.call("subscribe", {"topics": ["canvas:c"]})
    deleted = await client.call("canvas.deleteNode", {"name": "c", "id": "m1"})
    assert deleted["deleted_edges"] == ["e1", "e3"]
    event = await client.event("canvas.changed")
    assert event["ops"] == [
        {"op": "edge.deleted", "id": "e1"},
        {"op": "edge.deleted", "id": "e3"},
        {"op": "node.deleted", "id": "m1"},
    ]
    read = await client.call("canvas.read", {"name": "c"})
    assert [node["id"] for node in read["nodes"]] == ["y1", "b1"]
    assert [edge["id"] for edge in read["edges"]] == ["e2"]
    with pytest.raises(RpcError) as caught:
        await client.call("canvas.deleteNode", {"name": "c", "id": "m1"})
    assert caught.value.data["kind"] == "node"


async def test_add_and_delete_edge(client: Client) -> None:
    await client.call("canvas.create", {"name": "c", "nodes": [MATERIAL, ANSWER]})
    await client.call("subscribe", {"topics": ["canvas:c"]})
    added = await client.call(
        "canvas.addEdge", {"name": "c", "edge": {"toSide": "left", "toNode": "y1", "fromNode": "m1", "label": "解释"}}
    )
    edge = added["edge"]
    assert HEX16.match(edge["id"])
    assert list(edge) == ["id", "fromNode", "toNode", "toSide", "label"]
    assert (await client.event("canvas.changed"))["ops"] == [{"op": "edge.added", "edge": edge}]

    for bad, field in [
        ({"fromNode": "m1"}, "edge.toNode"),
        ({"fromNode": "m1", "toNode": "y1", "toEnd": "x"}, "edge.toEnd"),
    ]:
        with pytest.raises(RpcError) as caught:
            await client.call("canvas.addEdge", {"name": "c", "edge": bad})
        assert (caught.value.code, caught.value.data["field"]) == (-32602, field)
    with pytest.raises(RpcError) as caught:
        await client.call("canvas.addEdge", {"name": "c", "edge": {"fromNode": "m1", "toNode": "nowhere"}})
    assert caught.value.data["kind"] == "node"
    with pytest.raises(RpcError) as caught:
        await client.call("canvas.addEdge", {"name": "c", "edge": {"id": edge["id"], "fromNode": "m1", "toNode": "y1"}})
    assert caught.value.data == {"error": "CONFLICT", "kind": "edge", "id": edge["id"]}

    removed = await client.call("canvas.deleteEdge", {"name": "c", "id": edge["id"]})
    assert removed["version"] != added["version"]
    assert (await client.event("canvas.changed"))["ops"] == [{"op": "edge.deleted", "id": edge["id"]}]
    assert (await client.call("canvas.read", {"name": "c"}))["edges"] == []
    with pytest.raises(RpcError) as caught:
        await client.call("canvas.deleteEdge", {"name": "c", "id": edge["id"]})
    assert caught.value.data == {"error": "NOT_FOUND", "kind": "edge", "id": edge["id"]}


async def test_stale_if_version_is_a_conflict_naming_the_current_version(client: Client, vault: Path) -> None:
    first = await client.call("canvas.create", {"name": "c", "nodes": [MATERIAL]})
    second = await client.call("canvas.addNode", {"name": "c", "node": ANSWER, "if_version": first["version"]})
    before = (vault / "c.canvas").read_bytes()
    edits: list[tuple[str, dict[str, Any]]] = [
        ("canvas.addNode", {"node": {"type": "text", "text": "late"}}),
        ("canvas.updateNode", {"id": "m1", "patch": {"color": "2"}}),
        ("canvas.deleteNode", {"id": "m1"}),
        ("canvas.addEdge", {"edge": {"fromNode": "m1", "toNode": "y1"}}),
        ("canvas.deleteEdge", {"id": "e1"}),
    ]
    for method, params in edits:
        with pytest.raises(RpcError) as caught:
            await client.call(method, {"name": "c", "if_version": first["version"], **params})
        assert caught.value.code == -32002
        assert caught.value.data["version"] == second["version"]
    assert (vault / "c.canvas").read_bytes() == before


async def test_missing_canvas_is_not_found(client: Client) -> None:
    calls: list[tuple[str, dict[str, Any]]] = [
        ("canvas.read", {}),
        ("canvas.addNode", {"node": {"type": "text", "text": "t"}}),
        ("canvas.deleteEdge", {"id": "e"}),
    ]
    for method, params in calls:
        with pytest.raises(RpcError) as caught:
            await client.call(method, {"name": "nowhere/nothing", **params})
        assert caught.value.code == -32001
        assert caught.value.data == {"error": "NOT_FOUND", "kind": "canvas", "id": "nowhere/nothing"}


async def test_read_filters_by_state_code_and_type(make_server: Callable[..., LiveServer]) -> None:
    async with open_client(make_server(palette="cls")) as client:
        await _filters_in_the_cls_palette(client)


async def _filters_in_the_cls_palette(client: Client) -> None:
    nodes = [
        {"id": "r4", "type": "text", "text": "a", "x": 0, "y": 0, "width": 1, "height": 1, "color": "4"},
        {"id": "r1", "type": "text", "text": "b", "x": 0, "y": 0, "width": 1, "height": 1, "color": "1"},
        {"id": "p", "type": "text", "text": "c", "x": 0, "y": 0, "width": 1, "height": 1, "color": "3"},
        {"id": "hex", "type": "file", "file": "f.md", "x": 0, "y": 0, "width": 1, "height": 1, "color": "#FF0000"},
        {"id": "plain", "type": "group", "x": 0, "y": 0, "width": 1, "height": 1},
    ]
    await client.call("canvas.create", {"name": "c", "nodes": nodes})

    async def ids(**filters: object) -> list[str]:
        read = await client.call("canvas.read", {"name": "c", **filters})
        return [node["id"] for node in read["nodes"]]

    assert await ids(color="red") == ["r4", "r1"]  # cls reads the older "1" as red too
    assert await ids(color=["purple", "1"]) == ["r1", "p"]
    assert await ids(color="#ff0000") == ["hex"]
    assert await ids(type="group") == ["plain"]
    assert await ids(type="text", color="red") == ["r4", "r1"]
    with pytest.raises(RpcError) as caught:
        await ids(color=["red", "mauve"])
    assert (caught.value.code, caught.value.data["field"]) == (-32602, "color[1]")


async def test_the_default_obsidian_palette_reads_its_own_codes(make_server: Callable[..., LiveServer]) -> None:
    live = make_server()
    async with open_client(live) as client:
        nodes = [
            {"id": code, "type": "text", "text": code, "x": 0, "y": 0, "width": 1, "height": 1, "color": code}
            for code in "123456"
        ]
        await client.call("canvas.create", {"name": "c", "nodes": nodes})
        read = await client.call("canvas.read", {"name": "c", "color": ["red", "green", "yellow"]})
        assert [node["id"] for node in read["nodes"]] == ["1", "3", "4"]


async def test_list_counts_and_folders(client: Client, vault: Path) -> None:
    await client.call("canvas.create", {"name": "b", "nodes": [MATERIAL, ANSWER], "edges": [EDGE]})
    await client.call("canvas.create", {"name": "math/a"})
    (vault / ".obsidian").mkdir()
    (vault / ".obsidian" / "hidden.canvas").write_text("{}")
    (vault / "notes.md").write_text("# not a canvas")
    (vault / "broken.canvas").write_text("{nope")

    listed = await client.call("canvas.list")
    assert [entry["name"] for entry in listed] == ["b", "broken", "math/a"]
    b, broken, a = listed
    assert (b["nodes"], b["edges"], a["nodes"], a["edges"]) == (2, 1, 0, 0)
    assert b["version"] == (await client.call("canvas.read", {"name": "b"}))["version"]
    assert isinstance(b["modified"], float)
    assert set(broken) == {"name", "modified", "error"}
    assert broken["error"]["code"] == -32003
    assert broken["error"]["error"] == "INVALID_CANVAS"

    assert [entry["name"] for entry in await client.call("canvas.list", {"folder": "math"})] == ["math/a"]
    with pytest.raises(RpcError) as caught:
        await client.call("canvas.list", {"folder": "physics"})
    assert caught.value.data["kind"] == "folder"
    with pytest.raises(RpcError) as caught:
        await client.call("canvas.list", {"folder": "../"})
    assert caught.value.code == -32004


async def test_creation_is_announced_on_the_canvases_topic(client: Client) -> None:
    await client.call("subscribe", {"topics": ["canvases"]})
    created = await client.call("canvas.create", {"name": "新白板"})
    event = await client.event("canvas.created")
    assert event == {"topic": "canvases", "seq": 1, "name": "新白板", "version": created["version"], "source": "server"}


async def test_methods_work_over_http_too(client: Client, http: httpx.AsyncClient) -> None:
    await client.call("canvas.create", {"name": "c", "nodes": [MATERIAL]})
    response = await http.post("/rpc", json={"jsonrpc": "2.0", "id": 1, "method": "canvas.read", "params": ["c"]})
    assert response.json()["result"]["nodes"] == [MATERIAL]


async def test_last_three_versions_are_kept_as_backups(client: Client, vault: Path) -> None:
    await client.call("canvas.create", {"name": "math/c"})
    versions = [(vault / "math" / "c.canvas").read_bytes()]
    for number in range(4):
        await client.call("canvas.addNode", {"name": "math/c", "node": {"type": "text", "text": str(number)}})
        versions.append((vault / "math" / "c.canvas").read_bytes())
    backups = vault / ".canvas-live" / "backups" / "math"
    assert sorted(path.name for path in backups.iterdir()) == ["c.1.canvas", "c.2.canvas", "c.3.canvas"]
    assert [(backups / f"c.{number}.canvas").read_bytes() for number in (1, 2, 3)] == versions[-2:-5:-1]
    assert not any(path.name.endswith(".tmp") for path in (vault / "math").iterdir())


async def test_backups_can_be_turned_off(make_server: Callable[..., LiveServer], vault: Path) -> None:
    live = make_server(canvas_backups=0)
    async with open_client(live) as client:
        await client.call("canvas.create", {"name": "c"})
        await client.call("canvas.addNode", {"name": "c", "node": {"type": "text", "text": "t"}})
    assert not (vault / ".canvas-live" / "backups").exists()
    assert list((vault / ".canvas-live" / "tmp").iterdir()) == []


async def test_queries_for_the_workflows(make_server: Callable[..., LiveServer], vault: Path) -> None:
    live = make_server(palette="cls")  # the fixture is a Canvas Learning System canvas
    shutil.copyfile(CANVAS_FIXTURES / "pretty.canvas", vault / "p.canvas")
    service = live.runtime.canvases
    view = await on_server_loop(live, service.read("p"))
    red = view.document.select(service.palette.select(["red"]))
    assert [view.document.nodes[index]["id"] for index in red] == ["material-1"]
    assert [node["id"] for node in view.document.children("question-1")] == ["answer-1"]
    assert [node["id"] for node in view.document.parents("answer-1")] == ["question-1"]
    assert view.document.parents("question-1") == []
    assert service.palette.state_of("6") == "yellow"
    assert service.palette.state_of("1") == "red"  # older cls files
    assert service.palette.state_of("#123456") is None
    assert service.palette.state_of(None) is None
    assert service.palette.code_of("blue") == "5"


async def test_discover_describes_the_canvas_methods(client: Client) -> None:
    document = await client.call("rpc.discover")
    names = {method["name"] for method in document["methods"]}
    assert {"canvas.list", "canvas.read", "canvas.create", "canvas.addNode", "canvas.updateNode"} <= names
    assert {"canvas.deleteNode", "canvas.addEdge", "canvas.deleteEdge"} <= names


async def test_reads_stay_right_when_the_cache_is_full(live: LiveServer, client: Client) -> None:
    live.run(lambda: setattr(live.runtime.canvases, "cache_bytes", 600))
    for name in ("a", "b", "c"):
        await client.call("canvas.create", {"name": name, "nodes": [{**MATERIAL, "text": name * 200}]})
    for _ in range(2):
        for name in ("a", "b", "c"):
            read = await client.call("canvas.read", {"name": name})
            assert read["nodes"][0]["text"] == name * 200
