"""Bad files and bad names: every one gets a clear error, nothing is rewritten, the connection lives on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.canvases import ordered
from tests.support.client import Client, RpcError

TEXT = '{"id":"n1","type":"text","text":"t","x":0,"y":0,"width":10,"height":10}'


async def expect_error(client: Client, code: int, method: str, params: dict[str, object]) -> RpcError:
    with pytest.raises(RpcError) as caught:
        await client.call(method, params)
    assert caught.value.code == code, caught.value
    return caught.value


@pytest.mark.parametrize(
    ("content", "at", "words"),
    [
        ("this is not json", "line 1, column 5", "not valid JSON"),
        ('{"nodes": [', "line 1, column 12", "not valid JSON (Input data was truncated)"),
        ('{\n\t"nodes":[\n\t\t{"id":"材料",,}\n\t]\n}', "line 3, column 14", "not valid JSON"),
        ("[1, 2, 3]", "", "not an object"),
        ('"a string"', "", "not an object"),
        ('{"nodes": {"id": "n"}}', "nodes", "expected an array"),
        ('{"nodes": [1]}', "nodes[0]", "expected an object"),
        ('{"nodes": [{"id":"n","type":"text","text":"t","x":"0","y":0,"width":1,"height":1}]}', "nodes[0].x", "int"),
        ('{"nodes": [{"id":"n","type":"text","text":"t","x":0.5,"y":0,"width":1,"height":1}]}', "nodes[0].x", "int"),
        ('{"nodes": [{"id":"n","type":"text","text":"t","x":0,"y":0,"width":1}]}', "nodes[0].height", "missing"),
        ('{"nodes": [{"id":"n","type":"text","x":0,"y":0,"width":1,"height":1}]}', "nodes[0].text", "missing"),
        (
            '{"nodes": [{"id":"n","type":"text","text":"t","x":0,"y":0,"width":1,"height":1,"color":"9"}]}',
            "nodes[0].color",
            "",
        ),
        ('{"edges": [{"id":"e","fromNode":"a","toNode":"b","fromSide":"middle"}]}', "edges[0].fromSide", ""),
        (f'{{"nodes": [{TEXT}, {TEXT}]}}', "nodes[1].id", "duplicate id 'n1'"),
    ],
)
async def test_a_file_that_is_not_a_canvas_is_invalid_canvas(
    client: Client, vault: Path, content: str, at: str, words: str
) -> None:
    path = vault / "bad.canvas"
    path.write_text(content)
    error = await expect_error(client, -32003, "canvas.read", {"name": "bad"})
    assert error.data["error"] == "INVALID_CANVAS"
    assert error.data["at"] == at
    assert words in error.message
    # Writes refuse too, and leave the file exactly as it was.
    await expect_error(client, -32003, "canvas.addNode", {"name": "bad", "node": {"type": "text", "text": "t"}})
    assert path.read_text() == content
    assert (await client.call("canvas.list"))[0]["error"]["data"]["at"] == at
    assert await client.call("ping") == "pong"


async def test_missing_nodes_or_edges_read_as_empty_and_stay_absent(client: Client, vault: Path) -> None:
    original = b'{\n  "someOtherField": "value"\n}'
    (vault / "c.canvas").write_bytes(original)
    read = await client.call("canvas.read", {"name": "c"})
    assert (read["nodes"], read["edges"]) == ([], [])
    added = await client.call("canvas.addNode", {"name": "c", "node": {"type": "text", "text": "t"}})
    written = (vault / "c.canvas").read_bytes()
    assert written.startswith(b'{\n\t"nodes":[\n\t\t{"id":"' + added["node"]["id"].encode())
    assert written.endswith(b'\n\t],\n\t"someOtherField":"value"\n}')
    await client.call("canvas.deleteNode", {"name": "c", "id": added["node"]["id"]})
    assert ordered((vault / "c.canvas").read_bytes()) == ordered(original)


async def test_an_empty_file_is_an_empty_canvas(client: Client, vault: Path) -> None:
    (vault / "blank.canvas").write_bytes(b"")
    read = await client.call("canvas.read", {"name": "blank"})
    assert (read["nodes"], read["edges"]) == ([], [])
    added = await client.call("canvas.addNode", {"name": "blank", "node": {"type": "text", "text": "t"}})
    await client.call("canvas.deleteNode", {"name": "blank", "id": added["node"]["id"]})
    assert (vault / "blank.canvas").read_bytes() == b"{}"


async def test_unknown_node_types_are_kept_and_refused_only_for_editing(client: Client, vault: Path) -> None:
    widget = '{"id":"w1","type":"widget","x":0,"y":0,"width":10,"height":10,"config":{"a":[1,2]}}'
    (vault / "c.canvas").write_text(f'{{\n\t"nodes":[\n\t\t{widget},\n\t\t{TEXT}\n\t],\n\t"edges":[]\n}}')
    read = await client.call("canvas.read", {"name": "c"})
    assert read["nodes"][0]["config"] == {"a": [1, 2]}
    assert [node["id"] for node in (await client.call("canvas.read", {"name": "c", "type": "widget"}))["nodes"]] == [
        "w1"
    ]
    await client.call("canvas.updateNode", {"name": "c", "id": "n1", "patch": {"color": "2"}})
    assert f"\t\t{widget},\n" in (vault / "c.canvas").read_text()
    error = await expect_error(client, -32003, "canvas.updateNode", {"name": "c", "id": "w1", "patch": {"x": 5}})
    assert "widget" in error.message
    await client.call("canvas.addEdge", {"name": "c", "edge": {"fromNode": "n1", "toNode": "w1"}})
    deleted = await client.call("canvas.deleteNode", {"name": "c", "id": "w1"})
    assert len(deleted["deleted_edges"]) == 1


async def test_dangling_edges_are_kept_and_reported(client: Client, vault: Path) -> None:
    dangling = '{"id":"e9","fromNode":"n1","toNode":"gone"}'
    (vault / "c.canvas").write_text(f'{{"nodes":[{TEXT}],"edges":[{dangling}]}}')
    read = await client.call("canvas.read", {"name": "c"})
    assert read["dangling_edges"] == ["e9"]
    await client.call("canvas.addNode", {"name": "c", "node": {"type": "text", "text": "more"}})
    assert (vault / "c.canvas").read_text().endswith(f'"edges":[\n\t\t{dangling}\n\t]\n}}')
    read = await client.call("canvas.read", {"name": "c"})
    assert read["dangling_edges"] == ["e9"]


@pytest.mark.parametrize(
    "name",
    [
        "..",
        "../outside",
        "math/../../outside",
        "a/./b",
        "/etc/passwd",
        "/tmp/x",
        "a\x00b",
        "a\\..\\b",
        ".obsidian/workspace",
        ".canvas-live/backups/c.1",
        "",
        "a//b",
        "x" * 2000,
    ],
)
async def test_names_that_leave_the_vault_are_forbidden(client: Client, vault: Path, name: str) -> None:
    for method, params in [
        ("canvas.read", {}),
        ("canvas.create", {}),
        ("canvas.addNode", {"node": {"type": "text", "text": "t"}}),
    ]:
        error = await expect_error(client, -32004, method, {"name": name, **params})
        assert error.data["error"] == "FORBIDDEN_PATH"
    assert [entry for entry in os.listdir(vault) if entry != ".canvas-live"] == []
    assert await client.call("ping") == "pong"


async def test_symlinks_out_of_the_vault_are_forbidden_and_not_listed(
    client: Client, vault: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.canvas").write_text(f'{{"nodes":[{TEXT}]}}')
    (vault / "escape.canvas").symlink_to(outside / "secret.canvas")
    (vault / "elsewhere").symlink_to(outside, target_is_directory=True)
    (vault / "loop.canvas").symlink_to(vault / "loop.canvas")
    (vault / ".hidden").mkdir()
    (vault / ".hidden" / "kept.canvas").write_text("{}")
    (vault / "peek.canvas").symlink_to(vault / ".hidden" / "kept.canvas")
    await client.call("canvas.create", {"name": "inside"})

    await expect_error(client, -32004, "canvas.read", {"name": "escape"})
    await expect_error(client, -32004, "canvas.read", {"name": "elsewhere/secret"})
    await expect_error(client, -32004, "canvas.read", {"name": "loop"})
    await expect_error(client, -32004, "canvas.read", {"name": "peek"})
    await expect_error(client, -32004, "canvas.create", {"name": "elsewhere/new"})
    node = {"type": "text", "text": "t"}
    await expect_error(client, -32004, "canvas.addNode", {"name": "escape", "node": node})
    await expect_error(client, -32004, "canvas.list", {"folder": "elsewhere"})
    assert [entry["name"] for entry in await client.call("canvas.list")] == ["inside"]
    assert sorted(path.name for path in outside.iterdir()) == ["secret.canvas"]
    assert (outside / "secret.canvas").read_text() == f'{{"nodes":[{TEXT}]}}'


async def test_a_symlink_inside_the_vault_is_the_canvas_it_points_to(client: Client, vault: Path) -> None:
    await client.call("canvas.create", {"name": "math/real"})
    (vault / "alias.canvas").symlink_to(vault / "math" / "real.canvas")
    read = await client.call("canvas.read", {"name": "alias"})
    assert read["name"] == "math/real"
    added = await client.call("canvas.addNode", {"name": "alias", "node": {"type": "text", "text": "t"}})
    assert (vault / "alias.canvas").is_symlink()
    assert (await client.call("canvas.read", {"name": "math/real"}))["version"] == added["version"]
    assert [entry["name"] for entry in await client.call("canvas.list")] == ["math/real"]


async def test_files_that_are_not_canvases_are_forbidden(client: Client, vault: Path) -> None:
    (vault / "notes.md").write_text("# notes")
    (vault / "link.canvas").symlink_to(vault / "notes.md")
    (vault / "folder.canvas").mkdir()
    fifo = vault / "pipe.canvas"
    os.mkfifo(fifo)
    for name in ("notes.md", "link", "folder", "pipe"):
        error = await expect_error(client, -32004, "canvas.read", {"name": name})
        assert "not a .canvas file" in error.message
    await expect_error(client, -32004, "canvas.create", {"name": "notes.md"})
    assert (vault / "notes.md").read_text() == "# notes"
    assert await client.call("canvas.list") == []
