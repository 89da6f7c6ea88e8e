"""Agent backends: where a prompt is sent and text comes back.

A backend only turns an `AgentRequest` into the model's raw answer and classifies what goes wrong
(`AgentError`); timeouts, retries, the concurrency limit, the circuit breaker and output validation
are the `AgentService`'s job, the same for every backend. Cancelling a `complete` call must stop
its work: an HTTP request is aborted, a subprocess killed.
"""

from __future__ import annotations

from canvas_live.services.agents.backends.base import Backend, BackendConfig
from canvas_live.services.agents.backends.command import CommandBackend
from canvas_live.services.agents.backends.http import AnthropicBackend, OpenAIBackend
from canvas_live.services.agents.backends.offline.backend import OfflineBackend

BACKENDS = ("offline", "openai", "anthropic", "command")

__all__ = ["BACKENDS", "Backend", "BackendConfig", "OfflineBackend", "create_backend"]


def create_backend(config: BackendConfig) -> Backend:
    """The backend `config.kind` names."""
    if config.kind == "offline":
        return OfflineBackend(config.offline_latency)
    if config.kind == "openai":
        return OpenAIBackend(config)
    if config.kind == "anthropic":
        return AnthropicBackend(config)
    if config.kind == "command":
        return CommandBackend(config.command)
    raise ValueError(f"unknown agent backend {config.kind!r}: use one of {', '.join(BACKENDS)}")
