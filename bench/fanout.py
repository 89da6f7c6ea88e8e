"""One publisher, 1,000 subscribers on one topic: the delivery ceiling and the latency at 100 events/s.

Three set-ups run at once, each with its own 1,000 subscribers connected for the whole run:
- `plain`: a minimal Starlette app (bench/apps.py, `plain-fanout`) that sends each frame to every
  socket with a plain `await websocket.send_text(...)` loop and no queues;
- `memory`: canvas-live, one process (slow-consumer isolation: a bounded queue and a writer per
  connection);
- `redis`: two canvas-live processes on a redis-server of the run's own, the publisher on one and
  the 1,000 subscribers on the other, so every event crosses Redis.
They are measured in alternating windows (a burst for the ceiling, then a paced phase for the
latency), the order rotating from round to round, so a slowdown of the shared machine hits every
side of a round; each round gives one ratio per comparison and the median is printed with its
spread. Targets: memory / plain ceiling >= 0.70 and p99 < 20 ms at 100 events/s; redis / memory
ceiling >= 0.60 and p99 within 2x of memory's. Servers share one core, the client the other; it
only walks frame headers, decoding the payload (for its publish timestamp) on every 50th connection.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time

import httpx
import msgspec
import uvloop

from bench.lean import CLIENT_CPU, FrameCounter, free_port, pin, server_core, start_server, text_frame

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


class Setup:
    """One side of the comparison: where events are published and the fleet that receives them."""

    def __init__(self, name: str, publish_port: int, fleet: Fleet) -> None:
        self.name = name
        self.publish_port = publish_port
        self.fleet = fleet
        self.pids: list[int] = []

    async def window(self, burst: int, paced: int, rate: float) -> dict[str, float]:
        """Deliveries/s for a burst, then publish->receive latency at a steady rate."""
        fleet = self.fleet
        base = fleet.frames
        start = time.perf_counter()
        await trigger(self.publish_port, burst, 0, 64)
        complete = await fleet.wait_for(base + burst * fleet.size, 120)
        elapsed = time.perf_counter() - start
        delivered = fleet.frames - base
        await asyncio.sleep(0.3)
        fleet.latencies.clear()
        base = fleet.frames
        server_cpu, client_cpu, wall = self._cpu(), own_cpu_seconds(), time.perf_counter()
        await trigger(self.publish_port, paced, rate, 64)
        sustained = await fleet.wait_for(base + paced * fleet.size, paced / rate + 30)
        wall = time.perf_counter() - wall
        server_cpu, client_cpu = self._cpu() - server_cpu, own_cpu_seconds() - client_cpu
        latencies = sorted(fleet.latencies) or [float("nan")]  # nothing sampled arrived: shown as nan
        await asyncio.sleep(0.3)
        return {
            "deliveries_per_s": delivered / elapsed,
            "complete": float(complete and sustained),
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000,
            "server_cpu": server_cpu / wall * 100,
            "client_cpu": client_cpu / wall * 100,
        }

    def _cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)


def start_redis() -> tuple[subprocess.Popen[bytes], str]:
    """A redis-server of this run's own, without persistence, on the servers' core."""
    port = free_port()
    command = [*server_core(), "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    process = subprocess.Popen([*command, "--appendonly", "no"], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis-server did not start")


async def run(
    subscribers: int, burst: int, paced: int, rate: float, rounds: int, redis: bool
) -> dict[str, list[dict[str, float]]]:
    """Every set-up's figures, round by round."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        plain, plain_port = start_server("plain-fanout")
        memory, memory_port = start_server("canvas-live")
        processes += [plain, memory]
        setups = [
            Setup("plain", plain_port, Fleet(plain_port, subscribers, 50)),
            Setup("memory", memory_port, Fleet(memory_port, subscribers, 50)),
        ]
        setups[0].pids, setups[1].pids = [plain.pid], [memory.pid]
        if redis:
            broker, url = start_redis()
            publisher, publisher_port = start_server("canvas-live", f"redis={url}", "instance=publisher")
            receiver, receiver_port = start_server("canvas-live", f"redis={url}", "instance=receiver")
            processes += [broker, publisher, receiver]
            setup = Setup("redis", publisher_port, Fleet(receiver_port, subscribers, 50))
            setup.pids = [broker.pid, publisher.pid, receiver.pid]
            setups.append(setup)
        for setup in setups:
            await setup.fleet.connect(subscribe=setup.name != "plain")
        results: dict[str, list[dict[str, float]]] = {setup.name: [] for setup in setups}
        for round_ in range(rounds):
            for setup in setups[round_ % len(setups) :] + setups[: round_ % len(setups)]:
                figures = await setup.window(burst, paced, rate)
                results[setup.name].append(figures)
                print(f"  round {round_ + 1}, {setup.name}: {figures['deliveries_per_s']:.0f} deliveries/s, "
                      f"p99 {figures['p99_ms']:.1f} ms", file=sys.stderr, flush=True)  # fmt: skip
        return results
    finally:
        for process in processes:
            process.terminate()
            process.wait()


def ratio_line(label: str, ratios: list[float], target: str, ok: bool) -> str:
    ratios = sorted(ratios)
    spread = f"{ratios[0]:.2f}-{ratios[-1]:.2f}"
    verdict = "ok" if ok else "MISSED"
    return f"{label:<38} {statistics.median(ratios):>6.2f}  spread {spread:<11} target {target:<8} {verdict}"


def main() -> None:
    """Print each set-up's median figures and the median ratios, with their spread, against the targets."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--burst", type=int, default=300, help="events published as fast as possible")
    parser.add_argument("--paced", type=int, default=300, help="events published at --rate")
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--rounds", type=int, default=3, help="windows of each set-up, interleaved")
    parser.add_argument("--no-redis", dest="redis", action="store_false", help="leave out the Redis pair")
    args = parser.parse_args()
    redis = args.redis and shutil.which("redis-server") is not None
    pin(CLIENT_CPU)
    results = uvloop.run(run(args.subscribers, args.burst, args.paced, args.rate, args.rounds, redis))
    print(
        f"{args.subscribers} subscribers; per round a burst of {args.burst} events, "
        f"then {args.paced} at {args.rate:.0f}/s"
    )
    print(
        f"{'set-up':>7} {'deliveries/s':>13} {'p50 ms':>8} {'p99 ms':>8} {'all delivered':>14}"
        f" {'server CPU %':>13} {'client CPU %':>13}"
    )
    for name, windows in results.items():
        figures = {key: statistics.median(window[key] for window in windows) for key in windows[0]}
        delivered = "yes" if all(window["complete"] for window in windows) else "NO"
        print(
            f"{name:>7} {figures['deliveries_per_s']:>13.0f} {figures['p50_ms']:>8.2f} {figures['p99_ms']:>8.2f} "
            f"{delivered:>14} {figures['server_cpu']:>13.0f} {figures['client_cpu']:>13.0f}"
        )
    print("(medians over the rounds; CPU % during the paced phase, the client must stay well under 100)")

    def ratios(top: str, bottom: str, key: str) -> list[float]:
        return [a[key] / b[key] for a, b in zip(results[top], results[bottom], strict=True)]

    ceiling = ratios("memory", "plain", "deliveries_per_s")
    print(ratio_line("ceiling memory / plain", ceiling, ">= 0.70", statistics.median(ceiling) >= 0.7))
    p99 = statistics.median(window["p99_ms"] for window in results["memory"])
    label = f"memory p99 at {args.rate:.0f} events/s (ms)"
    print(f"{label:<38} {p99:>6.2f}  target < 20 ms {'ok' if p99 < 20 else 'MISSED'}")
    if "redis" in results:
        across = ratios("redis", "memory", "deliveries_per_s")
        print(ratio_line("ceiling redis / memory", across, ">= 0.60", statistics.median(across) >= 0.6))
        tail = ratios("redis", "memory", "p99_ms")
        print(ratio_line("p99 redis / memory", tail, "<= 2.00", statistics.median(tail) <= 2.0))
    else:
        print("redis-server is not installed: the Redis pair was left out")


if __name__ == "__main__":
    main()
