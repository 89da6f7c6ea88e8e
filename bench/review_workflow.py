"""Review canvas generation on the offline backend at latency L: wall time vs the ideal number of waves.

Through a real server process and a WebSocket client (bench/agent_batch.py's), measured in the
same run: a canvas of N red/purple nodes is created, `review.generate` is sent, and the clock
stops at `task.completed`. The agent calls are the whole cost when the server adds nothing, so
the baseline is ceil(N / 12) x L (12 calls in flight); the seed took N x L (serial).
Targets: 10 nodes <= 1.2 s and 100 nodes <= 9.5 s at L = 1.0 s.

Run: `.venv/bin/python -m bench.review_workflow [--latency 1.0]`; exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time

from bench.agent_batch import SLOTS, Client, server

TARGETS = {10: 1.2, 100: 9.5}
"""Seconds allowed at L = 1.0; scaled by the latency used."""


def learning_canvas(count: int) -> dict[str, object]:
    """A canvas of `count` material nodes, alternately red and purple, each with a learner's note."""
    nodes, edges = [], []
    for index in range(count):
        color = "4" if index % 2 == 0 else "3"
        nodes.append(
            {"id": f"n{index:015d}", "type": "text", "x": 0, "y": index * 200, "width": 300, "height": 120,
             "color": color, "text": f"Concept {index}: entropy, heat engines and the second law, part {index}."}
        )  # fmt: skip
        nodes.append(
            {"id": f"y{index:015d}", "type": "text", "x": 400, "y": index * 200, "width": 300, "height": 120,
             "color": "6", "text": f"My note on concept {index}: heat flows from hot to cold."}
        )  # fmt: skip
        edges.append({"id": f"e{index:015d}", "fromNode": f"n{index:015d}", "toNode": f"y{index:015d}"})
    return {"nodes": nodes, "edges": edges}


async def timed_review(client: Client, name: str) -> tuple[float, dict[str, object]]:
    started = time.perf_counter()
    task_id = (await client.call("review.generate", {"canvas": name}))["task_id"]
    final = await client.finished(task_id)
    elapsed = time.perf_counter() - started
    assert final["status"] == "completed", final.get("error")
    return elapsed, final["result"]


async def run(latency: float) -> bool:
    ok = True
    async with server(latency) as (_process, client):
        await client.call("canvas.create", {"name": "warm-up", **learning_canvas(2)})
        await timed_review(client, "warm-up")  # imports, first writes
        print(f"offline latency L = {latency:g} s, {SLOTS} agent calls in flight")
        print(f"{'nodes':>6} {'wall s':>8} {'ideal s':>8} {'ratio':>6} {'serial s':>9} {'speed-up':>9} {'target s':>9}")
        for count, target in TARGETS.items():
            await client.call("canvas.create", {"name": f"review-{count}", **learning_canvas(count)})
            elapsed, result = await timed_review(client, f"review-{count}")
            ideal = math.ceil(count / SLOTS) * latency
            limit = target * latency
            ok &= elapsed <= limit
            verdict = "ok" if elapsed <= limit else "MISSED"
            print(
                f"{count:>6} {elapsed:>8.3f} {ideal:>8.1f} {elapsed / ideal:>6.3f} {count * latency:>9.1f} "
                f"{count * latency / elapsed:>8.1f}x {limit:>9.2f} {verdict}  ({result['question_count']} questions)"
            )
    return ok


def main() -> None:
    """Print the figures; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency", type=float, default=1.0)
    args = parser.parse_args()
    sys.exit(0 if asyncio.run(run(args.latency)) else 1)


if __name__ == "__main__":
    main()
