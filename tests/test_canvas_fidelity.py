"""A learner's files survive the server: unknown keys, order, bytes, and a crash in the middle of a write."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import re
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from canvas_live.services.canvas.format import parse
from tests.support.canvases import CANVAS_FIXTURES, ordered
from tests.support.client import Client
from tests.support.process import free_port, start_server

ROOT = Path(__file__).resolve().parents[1]
OBSIDIAN_LAYOUT = {"jsoncanvas-sample.canvas", "obsidian-layout.canvas"}
"""Files written by Obsidian itself (or exactly as it would): they must come back byte for byte."""
STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


SAMPLES = CANVAS_FIXTURES / "samples"
"""Canvases from Obsidian, the JSON Canvas spec and the Canvas Learning System (see its README)."""


def sample_canvases() -> list[Path]:
    return sorted(CANVAS_FIXTURES.glob("*.canvas")) + sorted(SAMPLES.glob("*.canvas"))


def in_obsidian_layout(data: bytes) -> bool:
    """Tab-indented, one compact object per line, no trailing newline: checked without the server's code."""
    text = data.decode()
    lines = text.split("\n")
    if lines[0] != "{" or lines[-1] != "}" or text.endswith("\n"):
        return False
    for line in lines[1:-1]:
        if line.startswith("\t\t"):
            item = line[2:].removesuffix(",")
            json.loads(item)
            if any(space in STRING.sub('""', item) for space in " \t\r"):
                return False
        elif not line.startswith("\t") or line.startswith("\t "):
            return False
    return True


def copy_into(vault: Path, source: Path) -> bytes:
    """Put a sample canvas into the vault (as a fresh, writable file); returns its bytes."""
    shutil.copyfile(source, vault / source.name)
    return source.read_bytes()


@pytest.mark.parametrize("source", sample_canvases(), ids=lambda path: path.name)
async def test_add_then_delete_gives_back_the_same_document(client: Client, vault: Path, source: Path) -> None:
    original = copy_into(vault, source)
    name = source.name.removesuffix(".canvas")
    before = await client.call("canvas.read", {"name": name})
    assert (vault / source.name).read_bytes() == original  # reading never rewrites

    added = await client.call("canvas.addNode", {"name": name, "node": {"type": "text", "text": "临时 temporary"}})
    await client.call("canvas.deleteNode", {"name": name, "id": added["node"]["id"]})

    after = (vault / source.name).read_bytes()
    assert ordered(after) == ordered(original)
    assert in_obsidian_layout(after) or after == b"{}"
    if source.name in OBSIDIAN_LAYOUT:
        assert after == original
    reread = await client.call("canvas.read", {"name": name})
    assert (reread["nodes"], reread["edges"]) == (before["nodes"], before["edges"])


def test_the_files_obsidian_wrote_are_in_obsidian_layout_and_the_others_are_not() -> None:
    samples = {path.name: path.read_bytes() for path in sample_canvases()}
    assert set(samples) >= OBSIDIAN_LAYOUT and len(samples) >= 8
    for name, data in samples.items():
        assert in_obsidian_layout(data) == (name in OBSIDIAN_LAYOUT), name


async def test_unknown_keys_at_every_level_survive_an_edit(client: Client, vault: Path) -> None:
    shutil.copyfile(CANVAS_FIXTURES / "obsidian-layout.canvas", vault / "c.canvas")
    original = msgspec.json.decode((vault / "c.canvas").read_bytes())
    await client.call("canvas.updateNode", {"name": "c", "id": "9a8b7c6d5e4f3a2b", "patch": {"color": "2"}})
    await client.call(
        "canvas.addEdge", {"name": "c", "edge": {"fromNode": "a1b2c3d4e5f60718", "toNode": "c0ffee00c0ffee00"}}
    )
    data = (vault / "c.canvas").read_bytes()
    edited = msgspec.json.decode(data)
    assert list(edited) == ["nodes", "edges", "metadata"]
    assert edited["metadata"] == original["metadata"]
    assert edited["nodes"][1] == original["nodes"][1]  # `sourceNodeId: null`, nested plugin data, floats
    assert edited["nodes"][2] == {**original["nodes"][2], "color": "2"}
    assert edited["edges"][:3] == original["edges"]
    # Untouched lines are written back byte for byte, escapes and number spellings included.
    assert r'back\u00e9","x":0' in data.decode()
    assert '"tags":["logic",1.50,-0,1e3]' in data.decode()


async def test_a_pretty_printed_file_is_rewritten_in_obsidian_layout(client: Client, vault: Path) -> None:
    shutil.copyfile(CANVAS_FIXTURES / "pretty.canvas", vault / "p.canvas")
    await client.call("canvas.updateNode", {"name": "p", "id": "answer-1", "patch": {"text": "水"}})
    data = (vault / "p.canvas").read_bytes()
    assert in_obsidian_layout(data)
    assert data.decode().split("\n")[1] == '\t"x-generator":"cls 1.1",'


async def add_nodes_until_killed(ws: ClientConnection, acknowledged: set[str], numbers: Iterator[int]) -> None:
    """Add nodes one after another, remembering each one the server confirmed, until the socket dies."""
    for number in numbers:
        node = {"id": f"new{number:013x}", "type": "text", "text": "新"}
        frame = {"jsonrpc": "2.0", "id": number, "method": "canvas.addNode", "params": {"name": "big", "node": node}}
        await ws.send(msgspec.json.encode(frame).decode())
        answer = msgspec.json.decode(await ws.recv())
        acknowledged.add(answer["result"]["node"]["id"])


async def test_a_server_killed_while_writing_leaves_the_old_or_the_new_canvas(vault: Path) -> None:
    nodes = [
        {"id": f"{index:016x}", "type": "text", "text": f"材料 {index} " * 8, "x": 0, "y": index * 80,
         "width": 400, "height": 60}
        for index in range(3000)
    ]  # fmt: skip
    (vault / "big.canvas").write_bytes(msgspec.json.encode({"nodes": nodes, "edges": []}))
    acknowledged: set[str] = set()
    numbers = itertools.count(1)
    rng = random.Random(7)
    for _ in range(3):
        port = free_port()
        process = start_server(vault, port)
        try:
            async with connect(f"ws://127.0.0.1:{port}/ws", max_size=None) as ws:
                await ws.recv()  # server.hello
                task = asyncio.create_task(add_nodes_until_killed(ws, acknowledged, numbers))
                await asyncio.sleep(rng.uniform(0.3, 0.8))
                os.kill(process.pid, signal.SIGKILL)
                with pytest.raises(ConnectionClosed):
                    await task
        finally:
            process.kill()
            process.wait()
        document = parse((vault / "big.canvas").read_bytes())  # whole, never a mix of two versions
        ids = [node["id"] for node in document.nodes]
        assert ids[:3000] == [node["id"] for node in nodes]
        added = set(ids[3000:])
        assert acknowledged <= added
        assert len(added - acknowledged) <= 1  # at most the write the kill cut off between rename and answer
        acknowledged.update(added)
    assert len(acknowledged) > 3
    process = start_server(vault, free_port())  # a restart removes what the kills left half-written
    process.kill()
    process.wait()
    assert list((vault / ".canvas-live" / "tmp").iterdir()) == []
    assert sorted(os.listdir(vault)) == [".canvas-live", "big.canvas"]
