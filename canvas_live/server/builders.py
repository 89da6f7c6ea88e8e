"""Build the AgentService and the BackgroundTaskManager from settings (the runtime starts them).

This is the one place where flags become service configuration, so `services/` never sees
`Settings` and each service can be built on its own in a test or a benchmark.
"""

from __future__ import annotations

import asyncio

from canvas_live.server.settings import Settings
from canvas_live.services.agents import (
    AgentCatalog,
    AgentService,
    AgentServiceConfig,
    BackendConfig,
    RetryPolicy,
    create_backend,
)
from canvas_live.services.agents.service import Slots
from canvas_live.services.cluster import Cluster
from canvas_live.services.hub import Hub
from canvas_live.services.tasks import BackgroundTaskManager, TaskManagerConfig, create_task_store

DAY = 24 * 3600.0


async def build_cluster(settings: Settings, instance: str) -> Cluster | None:
    """The connection to the Redis the processes share, joined as `instance`; None for a single process."""
    if settings.cluster_url is None:
        return None
    cluster = Cluster(settings.cluster_url, instance)
    await cluster.start()
    return cluster


async def build_agent_service(settings: Settings, hub: Hub, slots: Slots | None = None) -> AgentService:
    """The agent catalog (built-in plus `--agents-dir`), the configured backend, and the limits."""
    catalog = await asyncio.to_thread(AgentCatalog.load, settings.agents_dir)
    backend = create_backend(
        BackendConfig(
            kind=settings.agent_backend,
            model=settings.agent_model,
            base_url=settings.agent_base_url,
            api_key_env=settings.agent_api_key_env,
            command=settings.agent_command,
            offline_latency=settings.offline_latency,
            max_connections=settings.max_concurrent_agents,
        )
    )
    config = AgentServiceConfig(
        max_concurrent=settings.max_concurrent_agents,
        call_timeout=settings.agent_timeout,
        attempt_timeout=settings.agent_attempt_timeout,
        retry=RetryPolicy(
            attempts=settings.agent_retry_attempts,
            max_delay=settings.agent_retry_max_delay,
            wait_min=settings.agent_retry_wait_min,
            wait_max=settings.agent_retry_wait_max,
        ),
        breaker_threshold=settings.breaker_threshold,
        breaker_reset=settings.breaker_reset,
    )
    return AgentService(catalog, backend, config, hub, slots)


def build_task_manager(settings: Settings, hub: Hub, cluster: Cluster | None = None) -> BackgroundTaskManager:
    """The task store named by `task_store_url` (or `--redis`), with the time limits and retention of the settings."""
    config = TaskManagerConfig(
        default_timeout=settings.task_timeout,
        timeouts=parse_timeouts(settings.task_timeouts),
        retention_s=settings.task_retention_days * DAY,
        max_kept=settings.task_retention_max,
        shutdown_grace=settings.shutdown_grace,
    )
    store = create_task_store(settings.task_store, settings.state_dir, cluster)
    return BackgroundTaskManager(store, hub, config)


def parse_timeouts(entries: tuple[str, ...]) -> dict[str, float]:
    """`KIND=SECONDS` entries as a mapping; a malformed one fails start-up, naming the entry."""
    timeouts: dict[str, float] = {}
    for entry in entries:
        kind, _, seconds = entry.partition("=")
        try:
            timeouts[kind.strip()] = float(seconds)
        except ValueError:
            raise ValueError(f"--task-timeouts expects KIND=SECONDS, got {entry!r}") from None
    return timeouts
