"""Many clients at once, edits made outside the server, and the demo vault."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.client import Client, open_client
from tests.support.server import LiveServer

NODE = '{"id":"n1","type":"text","text":"t","x":0,"y":0,"width":10,"height":10}'


async def test_a_hundred_concurrent_adds_from_ten_connections_all_land(live: LiveServer, client: Client) -> None:
    await client.call("canvas.create", {"name": "busy"})
    await client.call("subscribe", {"topics": ["canvas:busy"]})
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(open_client(live)) for _ in range(10)]

        async def add(sender: Client, number: int) -> dict[str, object]:
            node = {"type": "text", "text": f"节点 {number}", "x": number, "y": 0}
            result: dict[str, object] = await sender.call("canvas.addNode", {"name": "busy", "node": node})
            return result

        results = await asyncio.gather(
            *(add(sender, index * 10 + number) for index, sender in enumerate(clients) for number in range(10))
        )
    assert len({result["version"] for result in results}) == 100
    read = await client.call("canvas.read", {"name": "busy"})
    assert sorted(node["x"] for node in read["nodes"]) == list(range(100))
    assert len({node["id"] for node in read["nodes"]}) == 100
    events = [await client.event("canvas.changed") for _ in range(100)]
    assert [event["seq"] for event in events] == list(range(1, 101))
    assert events[-1]["version"] == read["version"]


async def test_an_external_edit_reaches_subscribers_and_own_writes_do_not(client: Client, vault: Path) -> None:
    await client.call("canvas.create", {"name": "c"})
    await client.call("subscribe", {"topics": ["canvas:c", "canvases"]})
    added = await client.call("canvas.addNode", {"name": "c", "node": {"type": "text", "text": "server"}})
    own = await client.event("canvas.changed")
    assert own["source"] == "server"
    with pytest.raises(TimeoutError):
        await client.event(timeout=1.5)  # the watcher saw the write, and knew it as the server's own

    (vault / "c.canvas").write_text(f'{{"nodes":[{NODE}],"edges":[]}}')  # as Obsidian saving
    event = await client.event("canvas.changed")
    read = await client.call("canvas.read", {"name": "c"})
    assert event == {
        "topic": "canvas:c",
        "seq": 2,
        "name": "c",
        "version": read["version"],
        "source": "external",
        "ops": [],
    }
    assert read["version"] != added["version"]
    with pytest.raises(TimeoutError):
        await client.event(timeout=1)  # announced once, though both the read and the watcher saw it


async def test_an_edit_of_a_canvas_the_server_never_read_is_announced(
    make_server: Callable[..., LiveServer], vault: Path
) -> None:
    (vault / "old.canvas").write_text("{}")
    live = make_server()
    async with open_client(live) as client:
        await client.call("subscribe", {"topics": ["canvas:old", "canvases"]})
        (vault / "old.canvas").write_text(f'{{"nodes":[{NODE}]}}')
        event = await client.event()
        assert (event["name"], event["source"], event["ops"]) == ("old", "external", [])


async def test_a_read_that_finds_an_external_edit_first_announces_it(client: Client, vault: Path) -> None:
    await client.call("canvas.create", {"name": "c"})
    await client.call("subscribe", {"topics": ["canvas:c"]})
    (vault / "c.canvas").write_text(f'{{"nodes":[{NODE}]}}')
    read = await client.call("canvas.read", {"name": "c"})
    event = await client.event("canvas.changed")
    assert (event["source"], event["version"]) == ("external", read["version"])


async def test_canvases_created_and_deleted_outside_are_announced(client: Client, vault: Path) -> None:
    await client.call("subscribe", {"topics": ["canvases"]})
    (vault / "outside").mkdir()
    (vault / "outside" / "new.canvas").write_text("{}")
    created = await client.event("canvas.created")
    assert (created["name"], created["source"]) == ("outside/new", "external")
    (vault / "outside" / "new.canvas").unlink()
    deleted = await client.event("canvas.deleted")
    assert deleted == {"topic": "canvases", "seq": 2, "name": "outside/new", "source": "external"}


async def test_demo_seeds_an_empty_vault(make_server: Callable[..., LiveServer], vault: Path) -> None:
    live = make_server(demo=True)
    async with open_client(live) as client:
        listed = await client.call("canvas.list")
        assert len(listed) == 3
        assert all(entry["nodes"] > 5 and entry["edges"] > 3 for entry in listed)
        names = [entry["name"] for entry in listed]
        assert "Photosynthesis" in names
        assert any("离散数学" in name for name in names)
        for name in names:
            read = await client.call("canvas.read", {"name": name})
            colours = {node.get("color") for node in read["nodes"]}
            assert {"4", "6"} <= colours
            assert "group" in {node["type"] for node in read["nodes"]}
            assert "dangling_edges" not in read
        reds = await client.call("canvas.read", {"name": "Photosynthesis", "color": ["red", "purple"]})
        red_ids = {node["id"] for node in reds["nodes"]}
        read = await client.call("canvas.read", {"name": "Photosynthesis"})
        yellow = {node["id"] for node in read["nodes"] if node.get("color") == "6"}
        assert any(edge["fromNode"] in red_ids and edge["toNode"] in yellow for edge in read["edges"])


async def test_demo_leaves_a_vault_with_content_alone(make_server: Callable[..., LiveServer], vault: Path) -> None:
    (vault / "mine.canvas").write_text("{}")
    live = make_server(demo=True)
    async with open_client(live) as client:
        assert [entry["name"] for entry in await client.call("canvas.list")] == ["mine"]


async def test_a_client_leaving_mid_write_neither_breaks_the_canvas_nor_fakes_an_external_edit(
    live: LiveServer, client: Client, vault: Path
) -> None:
    nodes = [
        {"id": f"{index:016x}", "type": "text", "text": "材料 " * 20, "x": 0, "y": index * 100, "width": 1, "height": 1}
        for index in range(3000)
    ]
    await client.call("canvas.create", {"name": "big", "nodes": nodes}, timeout=30)
    await client.call("subscribe", {"topics": ["canvas:big"]})
    frame = (
        '{"jsonrpc":"2.0","id":1,"method":"canvas.addNode","params":{"name":"big","node":{"type":"text","text":"x"}}}'
    )
    for delay in range(0, 16, 2):  # leave at different moments of the write
        async with open_client(live) as leaving:
            await leaving.ws.send(frame)
            await asyncio.sleep(delay / 1000)
        # The server may have run it or not; if it wrote, it says so as its own change.
        with contextlib.suppress(TimeoutError):
            while True:
                assert (await client.event("canvas.changed", timeout=0.7))["source"] == "server"
    added = await client.call("canvas.addNode", {"name": "big", "node": {"type": "text", "text": "last"}})
    read = await client.call("canvas.read", {"name": "big"})
    assert read["version"] == added["version"]
    assert read["nodes"][-1] == added["node"]
    assert [node["id"] for node in read["nodes"][:3000]] == [node["id"] for node in nodes]
