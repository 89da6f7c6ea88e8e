"""`ping` round trips per second over 1 and 50 connections, against a bare Starlette echo endpoint.

Both servers run at once, under the same uvicorn options, on one core; this lean client runs on
the other. Each connection keeps exactly one request outstanding. The two are measured in short
alternating windows (echo then canvas-live, then the other way round), and each pair of windows
gives one ratio, so a slowdown of the shared machine (CPU steal) hits both sides of a pair; the
median ratio is printed with its spread. Targets: canvas-live / echo >= 0.85 on one connection and
>= 0.70 on fifty.

Then, where `redis-server` is installed, `canvas-live serve --workers 2 --redis …` against one
process over 100 connections, also interleaved (no target: on a 2-core machine shared with the
client a gain is not expected; the figure lets larger machines be judged).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import uvloop

from bench.fanout import start_redis
from bench.lean import CLIENT_CPU, ROOT, RoundTripper, free_port, pin, start_server

PING = b'{"jsonrpc":"2.0","method":"ping","id":1}'


async def measure(port: int, connections: int, seconds: float, warmup: float) -> float:
    """Round trips per second across `connections` sockets, after a warm-up."""
    loop = asyncio.get_running_loop()
    url = f"ws://127.0.0.1:{port}/ws"
    clients = []
    for _ in range(connections):
        _, client = await loop.create_connection(
            lambda: RoundTripper(url, PING, lambda data: data.startswith(b'{"jsonrpc":"2.0","result"') or data == PING),
            "127.0.0.1",
            port,
        )
        await client.opened
        clients.append(client)
    for client in clients:
        client.send()
    await asyncio.sleep(warmup)
    start_counts, start = sum(client.count for client in clients), time.perf_counter()
    await asyncio.sleep(seconds)
    done, elapsed = sum(client.count for client in clients) - start_counts, time.perf_counter() - start
    for client in clients:
        client.running = False
        if client.transport is not None:
            client.transport.close()
    return done / elapsed


def run(seconds: float, warmup: float, pairs: int) -> dict[int, tuple[list[float], list[float]]]:
    """For each connection count, the echo and canvas-live rates of `pairs` interleaved window pairs."""
    servers = {name: start_server(name) for name in ("echo", "canvas-live")}
    results: dict[int, tuple[list[float], list[float]]] = {}
    try:
        for connections in (1, 50):
            echo: list[float] = []
            ours: list[float] = []
            for pair in range(pairs):
                order = ("echo", "canvas-live") if pair % 2 == 0 else ("canvas-live", "echo")
                for name in order:
                    rate = uvloop.run(measure(servers[name][1], connections, seconds, warmup))
                    (echo if name == "echo" else ours).append(rate)
            results[connections] = (echo, ours)
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait()
    return results


def start_cli(*flags: str) -> tuple[subprocess.Popen[bytes], int]:
    """`canvas-live serve` as a user runs it, on a free port, once it answers."""
    port = free_port()
    vault = tempfile.mkdtemp(prefix="bench-vault-")
    command = [sys.executable, "-m", "canvas_live", "serve", "--vault", vault, "--port", str(port), *flags]
    process = subprocess.Popen([*command, "--log-level", "warning"], cwd=ROOT, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            uvloop.run(measure(port, 1, 0.05, 0.0))
            return process, port
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("canvas-live did not start")


def run_workers(seconds: float, warmup: float, pairs: int) -> tuple[list[float], list[float]]:
    """Round trips/s over 100 connections: one process, and two workers on one Redis, interleaved."""
    broker, url = start_redis()
    servers = {"one": start_cli(), "workers": start_cli("--workers", "2", "--redis", url)}
    one: list[float] = []
    two: list[float] = []
    try:
        for pair in range(pairs):
            for name in ("one", "workers") if pair % 2 == 0 else ("workers", "one"):
                rate = uvloop.run(measure(servers[name][1], 100, seconds, warmup))
                (one if name == "one" else two).append(rate)
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait()
        broker.terminate()
        broker.wait()
    return one, two


def main() -> None:
    """Print round trips/s for both servers and the median ratio, with its spread, against the targets."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.5, help="length of one window")
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--pairs", type=int, default=6, help="window pairs per connection count")
    args = parser.parse_args()
    pin(CLIENT_CPU)
    results = run(args.seconds, args.warmup, args.pairs)
    print(f"{'connections':>11} {'echo rt/s':>12} {'canvas-live rt/s':>17} {'ratio':>7} {'spread':>13} {'target':>7}")
    for connections, target in ((1, 0.85), (50, 0.70)):
        echo, ours = results[connections]
        ratios = sorted(mine / theirs for mine, theirs in zip(ours, echo, strict=True))
        ratio = statistics.median(ratios)
        verdict = "ok" if ratio >= target else "BELOW"
        spread = f"{ratios[0]:.2f}-{ratios[-1]:.2f}"
        print(
            f"{connections:>11} {statistics.median(echo):>12.0f} {statistics.median(ours):>17.0f} "
            f"{ratio:>7.2f} {spread:>13} {target:>7.2f} {verdict}"
        )
    if shutil.which("redis-server") is None:
        print("redis-server is not installed: --workers 2 was not measured")
        return
    one, two = run_workers(args.seconds, args.warmup, args.pairs)
    ratios = sorted(mine / theirs for mine, theirs in zip(two, one, strict=True))
    print(
        f"100 connections: one process {statistics.median(one):.0f} rt/s, --workers 2 on Redis "
        f"{statistics.median(two):.0f} rt/s, ratio {statistics.median(ratios):.2f} "
        f"(spread {ratios[0]:.2f}-{ratios[-1]:.2f})"
    )


if __name__ == "__main__":
    main()
