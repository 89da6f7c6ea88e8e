"""`serve --workers N`: N processes accepting on one listening socket, kept running by a small supervisor.

Why not uvicorn's own `--workers`: its children rebuild the app from an import string and a
pickled configuration, and the gate (`server/gate.py`) is a class made per server. Here the parent
binds the socket once and starts each child with the settings themselves; the child builds the
app as `serve` does. Each child knows its number, so its instance name (`HOST:PORT/N`) is the same
after a restart, and it settles at once the tasks its predecessor left.

Workers share everything through Redis (`--redis`, required above one worker): one process or
four, clients see one server.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import signal
import socket
import time
from multiprocessing.process import BaseProcess
from types import FrameType

import uvicorn

from canvas_live.server.logs import configure_logging
from canvas_live.server.settings import Settings

log = logging.getLogger("canvas_live.workers")

RESTART_DELAY = 1.0
"""Seconds before a worker that died is started again (so a worker failing at start does not spin)."""


def worker_instance(settings: Settings, index: int) -> str:
    """The instance name of worker `index`: the same across its restarts."""
    base = settings.instance or f"{socket.gethostname()}:{settings.port}"
    return f"{base}/{index}"


def _serve_worker(settings: Settings, sock: socket.socket) -> None:
    """A child: the same server `serve` runs, on the parent's socket."""
    from canvas_live.server.cli import uvicorn_config  # the CLI imports this module

    configure_logging(settings.log_level, settings.log_format)
    server = uvicorn.Server(uvicorn_config(settings, log_config=None))
    server.run(sockets=[sock])


class Supervisor:
    """Starts the workers, starts again those that die, and stops them all on SIGTERM or SIGINT."""

    def __init__(self, settings: Settings, sock: socket.socket) -> None:
        self.settings = settings
        self.sock = sock
        self.context = multiprocessing.get_context("spawn")
        self.workers: list[BaseProcess | None] = [None] * settings.workers
        self.stopping = False

    def _start(self, index: int) -> None:
        settings = dataclasses.replace(self.settings, instance=worker_instance(self.settings, index))
        process = self.context.Process(target=_serve_worker, args=(settings, self.sock), name=f"worker {index}")
        process.start()
        self.workers[index] = process
        log.info("worker %d started (pid %s) as %s", index, process.pid, settings.instance)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def run(self) -> None:
        """Supervise until told to stop; then give every worker its graceful shutdown."""
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for index in range(self.settings.workers):
            self._start(index)
        while not self.stopping:
            time.sleep(0.2)
            for index, process in enumerate(self.workers):
                if process is not None and not process.is_alive() and not self.stopping:
                    log.warning(
                        "worker %d (pid %s) exited with %s; starting it again", index, process.pid, process.exitcode
                    )
                    time.sleep(RESTART_DELAY)
                    self._start(index)
        for process in self.workers:
            if process is not None and process.is_alive() and process.pid is not None:
                process.terminate()  # SIGTERM: each worker shuts down gracefully
        deadline = time.monotonic() + 2 * self.settings.shutdown_grace + 5
        for process in self.workers:
            if process is not None:
                process.join(max(0.0, deadline - time.monotonic()))
                if process.is_alive():
                    process.kill()


def run_workers(settings: Settings) -> None:
    """Bind the port once and run `settings.workers` processes on it."""
    config = uvicorn.Config(app=None, host=settings.host, port=settings.port)  # type: ignore[arg-type]
    sock = config.bind_socket()
    try:
        Supervisor(settings, sock).run()
    finally:
        sock.close()
