"""One publisher, 1,000 subscribers on one topic: the delivery ceiling and the latency at 100 events/s.

Compared with a minimal Starlette app (bench/apps.py, `plain-fanout`) that sends each frame to
every socket with a plain `await websocket.send_text(...)` loop and no queues. canvas-live pays
for slow-consumer isolation (a bounded queue and a writer per connection); the targets are a
ceiling >= 0.7 of the plain loop, and 100 events/s to 1,000 subscribers with p99 < 20 ms.
Server and client are pinned to different cores; the client only walks frame headers, decoding
the payload (for its publish timestamp) on every 50th connection.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import time

import httpx
import msgspec
import uvloop

from bench.lean import CLIENT_CPU, FrameCounter, pin, start_server, text_frame

SUBSCRIBE = b'{"jsonrpc":"2.0","method":"subscribe","params":{"topics":["tasks"]},"id":1}'


class Fleet:
    """The subscribers, and what they have received."""

    def __init__(self, port: int, size: int, sample_every: int) -> None:
        self.port = port
        self.size = size
        self.sample_every = sample_every
        self.latencies: list[float] = []
        self.counters: list[FrameCounter] = []

    def _sample(self, payload: bytes) -> None:
        message = msgspec.json.decode(payload)
        ts = message.get("params", {}).get("ts") if isinstance(message, dict) else None
        if ts is not None:
            self.latencies.append(time.monotonic() - ts)

    async def connect(self, subscribe: bool) -> None:
        loop = asyncio.get_running_loop()
        for index in range(self.size):
            sample = self._sample if index % self.sample_every == self.sample_every - 1 else None
            transport, counter = await loop.create_connection(
                lambda sample=sample: FrameCounter(self.port, sample), "127.0.0.1", self.port
            )
            await counter.opened
            if subscribe:
                transport.write(text_frame(SUBSCRIBE))
            self.counters.append(counter)
        await asyncio.sleep(1.0)  # hello frames and subscribe answers arrive

    @property
    def frames(self) -> int:
        return sum(counter.frames for counter in self.counters)

    async def wait_for(self, total: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.frames < total:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.002)
        return True


async def trigger(port: int, count: int, rate: float, size: int) -> None:
    async with httpx.AsyncClient() as http:
        reply = await http.post(f"http://127.0.0.1:{port}/bench/publish?count={count}&rate={rate}&size={size}")
        reply.raise_for_status()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """User + system CPU time of this (the client) process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(name: str, subscribers: int, burst: int, paced: int, rate: float) -> dict[str, float]:
    """Deliveries/s for a burst, then publish->receive latency at a steady rate."""
    process, port = start_server(name)
    try:
        fleet = Fleet(port, subscribers, sample_every=50)
        await fleet.connect(subscribe=name == "canvas-live")
        base = fleet.frames
        start = time.perf_counter()
        await trigger(port, burst, 0, 64)
        complete = await fleet.wait_for(base + burst * subscribers, 120)
        elapsed = time.perf_counter() - start
        delivered = fleet.frames - base
        await asyncio.sleep(0.5)
        fleet.latencies.clear()
        base = fleet.frames
        server_cpu, client_cpu, wall = cpu_seconds(process.pid), own_cpu_seconds(), time.perf_counter()
        await trigger(port, paced, rate, 64)
        sustained = await fleet.wait_for(base + paced * subscribers, paced / rate + 30)
        wall = time.perf_counter() - wall
        server_cpu, client_cpu = cpu_seconds(process.pid) - server_cpu, own_cpu_seconds() - client_cpu
        latencies = sorted(fleet.latencies)
        return {
            "deliveries_per_s": delivered / elapsed,
            "complete": float(complete),
            "sustained": float(sustained),
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
            "server_cpu": server_cpu / wall * 100,
            "client_cpu": client_cpu / wall * 100,
        }
    finally:
        process.terminate()
        process.wait()


def main() -> None:
    """Print both servers' figures and the ratios against the targets."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--burst", type=int, default=300, help="events published as fast as possible")
    parser.add_argument("--paced", type=int, default=300, help="events published at --rate")
    parser.add_argument("--rate", type=float, default=100.0)
    args = parser.parse_args()
    pin(CLIENT_CPU)
    results = {
        name: uvloop.run(measure(name, args.subscribers, args.burst, args.paced, args.rate))
        for name in ("plain-fanout", "canvas-live")
    }
    print(f"{args.subscribers} subscribers, burst of {args.burst} events, then {args.paced} at {args.rate:.0f}/s")
    print(
        f"{'server':>13} {'deliveries/s':>13} {'p50 ms':>8} {'p99 ms':>8} {'all delivered':>14}"
        f" {'server CPU %':>13} {'client CPU %':>13}"
    )
    for name, figures in results.items():
        delivered = "yes" if figures["complete"] and figures["sustained"] else "NO"
        print(
            f"{name:>13} {figures['deliveries_per_s']:>13.0f} {figures['p50_ms']:>8.2f} "
            f"{figures['p99_ms']:>8.2f} {delivered:>14} {figures['server_cpu']:>13.0f} {figures['client_cpu']:>13.0f}"
        )
    print("(CPU % during the paced phase; the client must stay well under 100 for the figures to hold)")
    ratio = results["canvas-live"]["deliveries_per_s"] / results["plain-fanout"]["deliveries_per_s"]
    p99 = results["canvas-live"]["p99_ms"]
    print(f"ceiling ratio canvas-live / plain loop: {ratio:.2f} (target >= 0.70) {'ok' if ratio >= 0.7 else 'BELOW'}")
    print(f"canvas-live p99 at {args.rate:.0f} events/s: {p99:.2f} ms (target < 20 ms) {'ok' if p99 < 20 else 'ABOVE'}")


if __name__ == "__main__":
    main()
