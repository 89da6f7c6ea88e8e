"""The command backend: a local CLI (`claude -p`, `ollama run llama3`, …) with the prompt on stdin.

The command line is split like a shell would (shlex) but run without one. The process gets its own
session, so cancelling or timing out a call kills the whole process group: a wrapper script's
children go too, and no model keeps running for an answer nobody will read.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal

from canvas_live.services.agents.backends.base import TokenSink
from canvas_live.services.agents.calls import AgentRequest, Completion
from canvas_live.services.agents.errors import AgentError, Category, unavailable

STDERR_TAIL = 300


class CommandBackend:
    """Runs one process per attempt."""

    name = "command"
    output_mode = "prompt"
    """A command has no structured-output switch: the schema is in the prompt it reads."""
    estimates = False

    def __init__(self, command: str | None) -> None:
        self.argv = shlex.split(command) if command else []

    async def complete(self, request: AgentRequest, on_tokens: TokenSink | None = None) -> Completion:
        """Write the prompt to the command's stdin and return its stdout; a failing exit is NON_RETRYABLE.

        Its output arrives whole at the exit, so there is nothing to count while it runs."""
        if not self.argv:
            raise unavailable('the command backend needs --agent-command (e.g. "claude -p")')
        try:
            process = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            raise unavailable(f"cannot run agent command {self.argv[0]!r}: {exc.strerror or exc}") from None
        try:
            stdout, stderr = await _exchange(process, request.transcript().encode())
        except BaseException:
            _kill_group(process.pid)
            with contextlib.suppress(ProcessLookupError):
                await process.wait()
            raise
        if process.returncode != 0:
            tail = stderr.decode("utf-8", "replace").strip()[-STDERR_TAIL:]
            raise AgentError(
                Category.NON_RETRYABLE,
                f"agent command exited with status {process.returncode}" + (f": {tail}" if tail else ""),
                exit_status=process.returncode,
            )
        return Completion(stdout.decode("utf-8", "replace"))

    async def close(self) -> None:
        """Nothing to release: every process is waited for by its own call."""


async def _exchange(process: asyncio.subprocess.Process, prompt: bytes) -> tuple[bytes, bytes]:
    """Write the prompt, read both outputs to the end, wait for the exit.

    Like `communicate`, except that a command which exits without reading its input is not an
    error here: under uvloop writing to its closed pipe raises RuntimeError, not BrokenPipeError.
    """
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    output = asyncio.gather(process.stdout.read(), process.stderr.read())
    try:
        try:
            process.stdin.write(prompt)
            await process.stdin.drain()
            process.stdin.close()
        except (BrokenPipeError, ConnectionResetError, RuntimeError):
            pass  # the command did not read its input: its output and exit status still say what happened
        stdout, stderr = await output
    finally:
        output.cancel()
    await process.wait()
    return stdout, stderr


def _kill_group(pid: int) -> None:
    """SIGKILL the process and everything it started."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
