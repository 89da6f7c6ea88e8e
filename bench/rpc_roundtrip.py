"""`ping` round trips per second over 1 and 50 connections, against a bare Starlette echo endpoint.

Both servers run under the same uvicorn options on one core; this lean client runs on the other.
Each connection keeps exactly one request outstanding. Targets: canvas-live / echo >= 0.85 on one
connection and >= 0.70 on fifty.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import uvloop

from bench.lean import CLIENT_CPU, RoundTripper, pin, start_server

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


def run(seconds: float, warmup: float, rounds: int) -> dict[tuple[str, int], float]:
    """Best of `rounds` for each server and connection count (best-of damps a noisy neighbour)."""
    results: dict[tuple[str, int], float] = {}
    for name in ("echo", "canvas-live"):
        process, port = start_server(name)
        try:
            for connections in (1, 50):
                samples = [uvloop.run(measure(port, connections, seconds, warmup)) for _ in range(rounds)]
                results[(name, connections)] = max(samples)
        finally:
            process.terminate()
            process.wait()
    return results


def main() -> None:
    """Print round trips/s for both servers and the ratios against the targets."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    pin(CLIENT_CPU)
    results = run(args.seconds, args.warmup, args.rounds)
    print(f"{'connections':>11} {'echo rt/s':>12} {'canvas-live rt/s':>17} {'ratio':>7} {'target':>7}")
    for connections, target in ((1, 0.85), (50, 0.70)):
        echo, ours = results[("echo", connections)], results[("canvas-live", connections)]
        ratio = ours / echo
        verdict = "ok" if ratio >= target else "BELOW"
        print(f"{connections:>11} {echo:>12.0f} {ours:>17.0f} {ratio:>7.2f} {target:>7.2f} {verdict}")


if __name__ == "__main__":
    main()
