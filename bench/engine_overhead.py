"""What canvas-live adds to a real model call: `agent.call` through the server vs the same request
sent straight to the engine with httpx.

The engine is the suite's (llama-cpp-python's server with SmolLM2-135M, built by `make engine`).
Both sides send the very same body: the one canvas-live's OpenAI backend builds for the call,
after negotiating the structured-output mode (json_object with the schema, on this engine).
Pairs are interleaved, alternating which side goes first, so that a noisy machine hits both; the
engine samples, so answers differ in length from one request to the next, and the figure that
counts is the ratio of the two medians over many pairs. Target: canvas-live's median at most
1.05 x the engine's own.

Run: `.venv/bin/python -m bench.engine_overhead [--pairs 12]`; exits 1 if the target is missed
(`--no-target` for the suite's one-pair run, which only checks that the benchmark still works).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
from websockets.asyncio.client import connect

from canvas_live.services.agents import AgentCatalog
from canvas_live.services.agents.backends import BackendConfig
from canvas_live.services.agents.backends.http import OpenAIBackend
from canvas_live.services.agents.calls import AgentRequest
from tests.support.engine import Engine, locate_engine
from tests.support.process import free_port, wait_until_answering

ROOT = Path(__file__).resolve().parents[1]
MODEL = "smollm2"
AGENT = "scoring"
INPUT = {
    "question_text": "Where does the oxygen a plant releases come from?",
    "user_understanding": "From water: light splits water in the thylakoids and the oxygen is left over.",
}
TARGET = 1.05


async def direct(engine_url: str, body: dict[str, Any]) -> float:
    """Seconds for the engine to stream its whole answer to `body`, read as canvas-live reads it."""
    async with httpx.AsyncClient(base_url=engine_url, timeout=None) as client:
        started = time.perf_counter()
        async with client.stream("POST", "/chat/completions", json=body) as response:
            response.raise_for_status()
            async for _ in response.aiter_lines():
                pass
        return time.perf_counter() - started


async def through_canvas_live(ws: Any, call_id: int) -> float:
    """Seconds from sending `agent.call` to its answer, over an open WebSocket."""
    request = {"jsonrpc": "2.0", "id": call_id, "method": "agent.call", "params": {"agent": AGENT, "input": INPUT}}
    started = time.perf_counter()
    await ws.send(msgspec.json.encode(request).decode())
    while True:
        message = msgspec.json.decode(await ws.recv())
        if message.get("id") == call_id:
            elapsed = time.perf_counter() - started
            if "error" in message and message["error"]["data"].get("reason") is None:
                raise RuntimeError(f"agent.call failed: {message['error']}")
            return elapsed


async def engine_body(engine_url: str) -> dict[str, Any]:
    """The body canvas-live sends for the call, once its backend has negotiated the engine's mode."""
    backend = OpenAIBackend(BackendConfig(kind="openai", base_url=engine_url, model=MODEL))
    definition = AgentCatalog.load(None).get(AGENT)
    request = AgentRequest(definition, definition.decode_input(INPUT))
    try:
        await backend.complete(request)  # steps down from json_schema, as the server will
        return backend.body(request, MODEL)
    finally:
        await backend.close()


async def measure(engine_url: str, port: int, pairs: int) -> tuple[list[float], list[float]]:
    """`pairs` interleaved timings of each side; the first call of each is a warm-up, not counted."""
    body = await engine_body(engine_url)
    ours: list[float] = []
    theirs: list[float] = []
    async with connect(f"ws://127.0.0.1:{port}/ws", max_size=None) as ws:
        await ws.recv()  # server.hello
        await through_canvas_live(ws, 0)
        await direct(engine_url, body)
        for index in range(pairs):
            if index % 2 == 0:
                ours.append(await through_canvas_live(ws, index + 1))
                theirs.append(await direct(engine_url, body))
            else:
                theirs.append(await direct(engine_url, body))
                ours.append(await through_canvas_live(ws, index + 1))
            print(f"pair {index + 1}: canvas-live {ours[-1]:.2f} s, engine {theirs[-1]:.2f} s", flush=True)
    return ours, theirs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pairs", type=int, default=12, help="interleaved pairs of calls (default 12)")
    parser.add_argument("--no-target", action="store_true", help="report only; do not fail on the target")
    args = parser.parse_args()
    located = locate_engine()
    if isinstance(located, str):
        print(f"engine_overhead: {located}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        engine = Engine(Path(folder), located).start()
        port = free_port()
        command = [
            sys.executable, "-m", "canvas_live", "serve", "--vault", folder, "--port", str(port),
            "--agent-backend", "openai", "--agent-base-url", engine.url, "--agent-model", MODEL,
            "--max-concurrent-agents", "1", "--log-level", "warning",
        ]  # fmt: skip
        server = subprocess.Popen(command, cwd=ROOT)
        try:
            wait_until_answering(server, f"http://127.0.0.1:{port}/api/v1/health", 30, lambda: "", "canvas-live")
            ours, theirs = asyncio.run(measure(engine.url, port, args.pairs))
        finally:
            server.terminate()
            server.wait(timeout=10)
            engine.kill()
    ratio = statistics.median(ours) / statistics.median(theirs)
    spread = sorted(mine / engine_own for mine, engine_own in zip(ours, theirs, strict=True))
    low, high = spread[len(spread) // 4], spread[(3 * len(spread)) // 4]
    met = ratio <= TARGET
    print(
        f"agent.call through canvas-live vs straight to the engine: median {statistics.median(ours):.2f} s vs "
        f"{statistics.median(theirs):.2f} s, ratio {ratio:.3f} (pairs' IQR {low:.3f}-{high:.3f}; target <= {TARGET})"
        f" {'met' if met else 'MISSED'}"
    )
    return 0 if met or args.no_target else 1


if __name__ == "__main__":
    sys.exit(main())
