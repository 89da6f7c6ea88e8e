"""The backend interface and its configuration, shared by every backend module."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from canvas_live.services.agents.calls import AgentRequest


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


class Backend(Protocol):
    """One way of running an agent."""

    name: str
    estimates: bool
    """True when the answers are heuristic estimates, not a model's judgement (only the offline backend)."""

    async def complete(self, request: AgentRequest) -> str:
        """The model's answer to `request`, as text; raise `AgentError` when it fails."""

    async def close(self) -> None:
        """Release connections; called once at shutdown."""
