"""Agents: definitions, backends, and the AgentService every call goes through."""

from __future__ import annotations

from canvas_live.services.agents.backends import BACKENDS, Backend, BackendConfig, OfflineBackend, create_backend
from canvas_live.services.agents.calls import AgentRequest, AgentResult
from canvas_live.services.agents.definitions import AgentCatalog, AgentDefinition
from canvas_live.services.agents.service import AgentInfo, AgentService, AgentServiceConfig, AgentStats, RetryPolicy

__all__ = [
    "BACKENDS",
    "AgentCatalog",
    "AgentDefinition",
    "AgentInfo",
    "AgentRequest",
    "AgentResult",
    "AgentService",
    "AgentServiceConfig",
    "AgentStats",
    "Backend",
    "BackendConfig",
    "OfflineBackend",
    "RetryPolicy",
    "create_backend",
]
