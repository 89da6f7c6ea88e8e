"""A real `redis-server` (Debian's package) on a free port, without persistence, for the scale-out stories.

Outside CI a machine without `redis-server` skips these tests, saying why; under `CI=true` they
fail instead, since CI installs it and a skip there would hide a broken set-up.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import redis

from tests.support.process import free_port

REDIS_SERVER = shutil.which("redis-server")

STALL = """
local started = redis.call('TIME')
repeat
    local now = redis.call('TIME')
until (now[1] - started[1]) * 1000000 + (now[2] - started[2]) >= tonumber(ARGV[1])
"""


def require_redis() -> str:
    """The path of `redis-server`, or skip (fail under CI) when it is missing."""
    if REDIS_SERVER is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is missing: .ci/run installs Debian's redis-server package")
        pytest.skip("redis-server is not installed (Debian package redis-server)")
    return REDIS_SERVER


class RedisServer:
    """One `redis-server` process; `stop` and `start` again on the same port lose its data, as a restart does."""

    def __init__(self, workdir: Path) -> None:
        self.binary = require_redis()
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        command = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(self.workdir), "--loglevel", "warning",
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.02)
        client.close()
        return self

    def client(self) -> redis.Redis:
        """A synchronous client, for a test to look at the keys."""
        return redis.Redis(port=self.port)

    def stall(self, seconds: float) -> None:
        """Keep Redis busy for `seconds` with a script, as a loaded server is: every other command
        waits in its queue meanwhile, and runs afterwards (blocking; call it from a thread)."""
        with self.client() as client:
            client.eval(STALL, 0, int(seconds * 1_000_000))

    def stop(self) -> None:
        """Kill it (no chance to save anything, which it would not anyway)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None
