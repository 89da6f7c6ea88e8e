"""`canvas-live serve` as a child process, for the stories that kill it, restart it or limit it."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
CHECKOUT = (sys.executable, "-m", "canvas_live")
"""The command line of this checkout's canvas-live, under the suite's Python."""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    vault: Path,
    port: int,
    *flags: str,
    preexec_fn: Callable[[], None] | None = None,
    log: Path | None = None,
    program: Sequence[str | Path] = CHECKOUT,
    cwd: Path = ROOT,
) -> subprocess.Popen[bytes]:
    """Start the server on `vault` and `port`, and return once it answers its health probe.

    Its log (warnings and worse) goes to a file nobody keeps, or, with `log`, at INFO to the end of
    that file, for a test to show when it fails. `program` runs canvas-live (an installed copy's
    `canvas-live`, say), in `cwd`.
    """
    command = [*map(str, program), "serve", "--vault", str(vault), "--port", str(port), *flags]
    level = "info" if log is not None else "warning"
    # The log goes to a file, not a pipe nobody reads: a full pipe would stall the server.
    with open(log, "a+b") if log is not None else tempfile.TemporaryFile() as output:
        process = subprocess.Popen([*command, "--log-level", level], cwd=cwd, stderr=output, preexec_fn=preexec_fn)

        def logged() -> str:
            output.flush()
            output.seek(0)
            return output.read().decode(errors="replace")

        wait_until_answering(process, f"http://127.0.0.1:{port}/api/v1/health", 20, logged, "the server")
        return process


def wait_until_answering(
    process: subprocess.Popen[bytes], url: str, seconds: float, logged: Callable[[], str], what: str
) -> None:
    """Return once GET `url` answers 200. If `process` exits first, or `seconds` pass (it is then
    killed), raise, saying what it logged."""
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited: {logged()[-2000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"{what} did not start: {logged()[-2000:]}")
        time.sleep(0.05)


@contextmanager
def server_process(
    vault: Path,
    *flags: str,
    preexec_fn: Callable[[], None] | None = None,
    program: Sequence[str | Path] = CHECKOUT,
    cwd: Path = ROOT,
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`start_server` on a free port; killed (if still alive) at the end."""
    port = free_port()
    process = start_server(vault, port, *flags, preexec_fn=preexec_fn, program=program, cwd=cwd)
    try:
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
