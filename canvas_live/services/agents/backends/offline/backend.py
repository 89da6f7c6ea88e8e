"""The offline backend: the built-in agents answered by deterministic heuristics, no network.

`latency` adds the same fixed delay to every call (no jitter), to make demos and benchmarks behave
like a real model without the randomness.
"""

from __future__ import annotations

import asyncio

import msgspec

from canvas_live.services.agents.backends.base import TokenSink
from canvas_live.services.agents.backends.offline.heuristics import HEURISTICS
from canvas_live.services.agents.calls import AgentRequest, Completion
from canvas_live.services.agents.errors import unavailable


class OfflineBackend:
    """Answers the built-in agents from the input text alone."""

    name = "offline"
    output_mode = "offline"
    estimates = True  # heuristics, not judgement: see offline/scoring.py

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency

    async def complete(self, request: AgentRequest, on_tokens: TokenSink | None = None) -> Completion:
        """Run the agent's heuristic after the configured latency; other agents are UNAVAILABLE."""
        heuristic = HEURISTICS.get(request.definition.name)
        if heuristic is None:
            raise unavailable(
                f"agent {request.definition.name!r} has no offline version: "
                "run the server with --agent-backend openai, anthropic or command to use it"
            )
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        output = await asyncio.to_thread(heuristic, request.input)  # jieba may load its dictionary first
        return Completion(output if isinstance(output, str) else msgspec.json.encode(output).decode())

    async def close(self) -> None:
        """Nothing to release."""
