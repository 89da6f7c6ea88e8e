"""`canvas.read` and `canvas.addNode` latency over the WebSocket on 100, 5,000 and 20,000-node canvases.

The real server runs as `canvas-live serve` in its own process (pinned to one core when there are
two); this client sends one request at a time and times it end to end: send, server work (for
addNode the write, fsync and rename), the response frame, and decoding it. `ping` on the same
connection is the baseline measured in the same run. Targets on 5,000 nodes: read p50 < 20 ms,
addNode p50 < 50 ms.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
import uvloop
from websockets.asyncio.client import ClientConnection, connect

from bench.lean import CLIENT_CPU, SERVER_CPU, free_port, pin

ROOT = Path(__file__).resolve().parents[1]
SIZES = (100, 5_000, 20_000)
TARGETS = {"read": 20.0, "addNode": 50.0}
COLORS = ("4", "3", "2", "6", "5", None)


def sample_canvas(nodes: int, seed: int = 1) -> bytes:
    """A learning canvas in Obsidian's layout: mixed colours and text, one edge per two nodes."""
    rng = random.Random(seed)
    items: list[dict[str, Any]] = []
    for index in range(nodes):
        node: dict[str, Any] = {
            "id": f"{rng.getrandbits(64):016x}",
            "type": "text",
            "text": f"## 概念 {index}\n\nMaterial paragraph {index}: " + "explain it simply. " * rng.randint(2, 8),
            "x": (index % 50) * 450,
            "y": (index // 50) * 300,
            "width": 400,
            "height": 240,
        }
        color = rng.choice(COLORS)
        if color is not None:
            node["color"] = color
        items.append(node)
    edges = [
        {"id": f"{rng.getrandbits(64):016x}", "fromNode": items[i]["id"], "fromSide": "right",
         "toNode": items[i + 1]["id"], "toSide": "left"}
        for i in range(0, nodes - 1, 2)
    ]  # fmt: skip
    lines = [msgspec.json.encode(item) for item in items]
    edge_lines = [msgspec.json.encode(edge) for edge in edges]
    return (
        b'{\n\t"nodes":[\n\t\t' + b",\n\t\t".join(lines) + b'\n\t],\n\t"edges":[\n\t\t' + b",\n\t\t".join(edge_lines)
    ) + b"\n\t]\n}"


def start_server(vault: Path) -> tuple[subprocess.Popen[bytes], int]:
    """`canvas-live serve` on its own core; returns once it answers the health probe."""
    port = free_port()
    cpus = ["taskset", "-c", str(SERVER_CPU)] if (os.cpu_count() or 1) > 1 else []
    command = [*cpus, sys.executable, "-m", "canvas_live", "serve", "--vault", str(vault), "--port", str(port)]
    process = subprocess.Popen([*command, "--log-level", "warning"], cwd=ROOT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
            return process, port
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("canvas-live did not start")


class Caller:
    """One connection, one request at a time, each timed from send to decoded response."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.decoding: list[float] = []

    async def call(self, method: str, params: dict[str, Any] | None = None) -> tuple[float, Any]:
        request_id = next(self.ids)
        frame: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": request_id}
        if params is not None:
            frame["params"] = params
        start = time.perf_counter()
        await self.ws.send(msgspec.json.encode(frame).decode())
        while True:
            raw = await self.ws.recv(decode=False)
            received = time.perf_counter()
            message = msgspec.json.decode(raw)
            if message.get("id") == request_id:
                break
        end = time.perf_counter()
        elapsed = (end - start) * 1000
        self.decoding.append((end - received) * 1000)
        if "error" in message:
            raise RuntimeError(f"{method} failed: {message['error']}")
        return elapsed, message["result"]

    async def timings(self, count: int, method: str, params: dict[str, Any] | None = None) -> list[float]:
        return [(await self.call(method, params))[0] for _ in range(count)]


def p(samples: list[float], q: float) -> float:
    """The q-quantile of `samples` (q in 0..1)."""
    return statistics.quantiles(samples, n=100, method="inclusive")[max(0, min(98, round(q * 100) - 1))]


async def measure(port: int, rounds: int) -> tuple[float, dict[int, dict[str, float]]]:
    """Ping p50, then per canvas size: the first (parsing) read, read p50/p95, addNode p50/p95."""
    figures: dict[int, dict[str, float]] = {}
    async with connect(f"ws://127.0.0.1:{port}/ws", max_size=None, compression=None) as ws:
        await ws.recv()  # server.hello
        caller = Caller(ws)
        await caller.timings(200, "ping")
        ping = statistics.median(await caller.timings(rounds * 4, "ping"))
        for size in SIZES:
            name = f"bench-{size}"
            cold, result = await caller.call("canvas.read", {"name": name})
            assert len(result["nodes"]) == size
            await caller.timings(3, "canvas.read", {"name": name})
            caller.decoding.clear()
            reads = await caller.timings(rounds, "canvas.read", {"name": name})
            decode = statistics.median(caller.decoding)
            node = {"type": "text", "text": "新的问题 new question", "color": "4"}
            adds = await caller.timings(rounds, "canvas.addNode", {"name": name, "node": node})
            figures[size] = {
                "cold": cold,
                "read_p50": statistics.median(reads),
                "read_p95": p(reads, 0.95),
                "read_decode": decode,
                "add_p50": statistics.median(adds),
                "add_p95": p(adds, 0.95),
            }
    return ping, figures


def report(ping: float, figures: dict[int, dict[str, float]], sizes: dict[int, int]) -> bool:
    """Print the table, the growth between sizes and the verdict on the targets; True when met."""
    print(f"ping p50 {ping:.2f} ms (baseline, same connection)\n")
    header = f"{'nodes':>7} {'file':>8} {'1st read':>9} {'read p50':>9} {'p95':>7} {'(decode)':>9}"
    print(header + f" {'addNode p50':>12} {'p95':>7}")
    for size, row in figures.items():
        print(
            f"{size:>7,} {sizes[size] / 1024:>6.0f}KB {row['cold']:>7.1f}ms {row['read_p50']:>7.2f}ms "
            f"{row['read_p95']:>5.1f}ms {row['read_decode']:>7.2f}ms {row['add_p50']:>10.2f}ms {row['add_p95']:>5.1f}ms"
        )
    print("(decode: the client's own msgspec decode of the read response, included in read p50)")
    print()
    for small, large in itertools.pairwise(SIZES):
        read = figures[large]["read_p50"] / figures[small]["read_p50"]
        add = figures[large]["add_p50"] / figures[small]["add_p50"]
        print(f"growth {small:,} -> {large:,} nodes (x{large // small}): read x{read:.1f}, addNode x{add:.1f}")
    for size in SIZES:
        row = figures[size]
        print(f"{size:>7,} nodes vs ping: read x{row['read_p50'] / ping:.1f}, addNode x{row['add_p50'] / ping:.1f}")
    at = figures[5_000]
    met = at["read_p50"] < TARGETS["read"] and at["add_p50"] < TARGETS["addNode"]
    print(
        f"\ntargets on 5,000 nodes: read p50 {at['read_p50']:.2f} < {TARGETS['read']:.0f} ms, "
        f"addNode p50 {at['add_p50']:.2f} < {TARGETS['addNode']:.0f} ms: {'met' if met else 'MISSED'}"
    )
    return met


def main() -> int:
    """Seed a vault, start the server, measure, print; exit status 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=60, help="timed calls per method and size")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-canvas-") as folder:
        vault = Path(folder)
        sizes = {}
        for size in SIZES:
            data = sample_canvas(size)
            (vault / f"bench-{size}.canvas").write_bytes(data)
            sizes[size] = len(data)
        process, port = start_server(vault)
        try:
            pin(CLIENT_CPU)
            ping, figures = uvloop.run(measure(port, args.rounds))
        finally:
            process.terminate()
            process.wait()
    return 0 if report(ping, figures, sizes) else 1


if __name__ == "__main__":
    sys.exit(main())
