"""`GET /metrics`: a Prometheus exposition of the running server, under the API's token rule."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.client import RpcError, open_client
from tests.support.server import LiveServer

ORAL = {"agent": "oral", "input": {"concept": "导数"}}


async def test_a_scrape_parses_and_shows_what_the_server_did(make_server: Callable[..., LiveServer]) -> None:
    live = make_server(token="s3cret")
    async with open_client(live, url=f"{live.ws_url}?token=s3cret") as client:
        await client.call("ping")
        await client.call("canvas.create", {"name": "c", "nodes": [{"type": "text", "text": "t"}]})
        await client.call("canvas.addNode", {"name": "c", "node": {"type": "text", "text": "u"}})
        with pytest.raises(RpcError):
            await client.call("canvas.read", {"name": "missing"})
        batch = await client.call("agent.batch", {"calls": [ORAL, ORAL]})
        await client.call("task.wait", {"id": batch["task_id"], "timeout": 10})
        async with httpx.AsyncClient(base_url=live.base_url) as http:
            assert (await http.get("/metrics")).status_code == 401
            response = await http.get("/metrics", headers={"Authorization": "Bearer s3cret"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    families = {family.name: family for family in text_string_to_metric_families(response.text)}
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families.values()
        for sample in family.samples
    }
    assert samples[("canvas_live_connections_open", ())] == 1
    assert samples[("canvas_live_rpc_requests_total", (("method", "ping"), ("outcome", "ok")))] == 1
    assert samples[("canvas_live_rpc_requests_total", (("method", "canvas.read"), ("outcome", "NOT_FOUND")))] == 1
    assert samples[("canvas_live_rpc_request_seconds_count", (("method", "canvas.addNode"),))] == 1
    assert samples[("canvas_live_canvas_write_seconds_count", ())] == 1
    assert samples[("canvas_live_agent_calls_total", (("backend", "offline"), ("outcome", "ok")))] == 2
    assert samples[("canvas_live_tasks_total", (("kind", "agent.batch"), ("status", "completed")))] == 1
    assert samples[("canvas_live_agent_circuit_state", (("backend", "offline"),))] == 0
    assert samples[("canvas_live_frames_delivered_total", ())] > 0
    for name in ("canvas_live_events_published", "canvas_live_slow_consumers_dropped", "canvas_live_agent_retries"):
        assert name in families
