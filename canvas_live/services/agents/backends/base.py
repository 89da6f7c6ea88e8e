"""The backend interface and its configuration, shared by every backend module."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from canvas_live.services.agents.calls import AgentRequest, Completion


@dataclass(frozen=True, slots=True)
class BackendConfig:
    """How to reach the configured backend; secrets are named by environment variable, never held here."""

    kind: str = "offline"
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    command: str | None = None
    offline_latency: float = 0.0
    max_connections: int = 12


TokenSink = Callable[[int], None]
"""Told the running count of tokens a model has answered so far, as they arrive."""


class Backend(Protocol):
    """One way of running an agent."""

    name: str
    estimates: bool
    """True when the answers are heuristic estimates, not a model's judgement (only the offline backend)."""

    @property
    def output_mode(self) -> str:
        """How JSON agents get structured output from this backend now (`server.info` shows it):
        `json_schema`, `json_object` (with the schema), `prompt` (the schema in the prompt only),
        or `offline`."""

    async def complete(self, request: AgentRequest, on_tokens: TokenSink | None = None) -> Completion:
        """The model's answer to `request`; raise `AgentError` when it fails. A backend that streams
        tells `on_tokens` how many tokens have come so far."""

    async def close(self) -> None:
        """Release connections; called once at shutdown."""
