"""The score workflow on the demo vault: offline scores are estimates, say so, and never make a
learner's colours worse; placeholders are not scored."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from tests.support.client import Client, RpcError, open_client
from tests.support.server import LiveServer

DEMO = resources.files("canvas_live.services.canvas") / "demo_vault"
RED, PURPLE, GREEN, YELLOW, BLUE = "1", "6", "4", "3", "5"  # the obsidian palette


async def finished(client: Client, task_id: str) -> dict[str, Any]:
    task: dict[str, Any] = await client.call("task.wait", {"id": task_id, "timeout": 60}, timeout=70)
    assert task["status"] == "completed", task
    return task


def demo_vault(vault: Path) -> None:
    for item in DEMO.iterdir():
        if item.name.endswith(".canvas"):
            (vault / item.name).write_bytes(item.read_bytes())


async def test_offline_scores_are_estimates_that_never_make_a_colour_worse(
    make_server: Callable[..., LiveServer], vault: Path
) -> None:
    demo_vault(vault)
    name = "离散数学-命题逻辑"
    async with open_client(make_server()) as client:
        before = {node["id"]: node for node in (await client.call("canvas.read", {"name": name}))["nodes"]}
        task = await finished(client, (await client.call("learn.score", {"canvas": name}))["task_id"])
        result = task["result"]
        assert [item["node_id"] for item in result["unscorable"]] == ["c398f49a3f1ce698"]  # [用自己的话回答]
        assert "placeholder" in result["unscorable"][0]["reason"]
        after = {node["id"]: node for node in (await client.call("canvas.read", {"name": name}))["nodes"]}
        assert after["28b3fa9fdfd3b0e4"]["color"] == RED  # the placeholder's question: left alone
        scored = {item["node_id"]: item for item in result["scored"]}
        assert set(scored) == {"cd05930114f82efa", "8f6795984f7ec5cf"}
        for item in scored.values():
            assert item["estimate"] is True
            feedback = after[item["feedback_id"]]
            assert feedback["color"] == BLUE and feedback["text"].startswith(f"离线估计 {item['total_score']}/100")
            question = item["question_id"]
            rank = {RED: 0, PURPLE: 1, GREEN: 2}
            assert rank[after[question]["color"]] >= rank[before[question]["color"]], item
            assert item["recoloured"] == (after[question]["color"] != before[question]["color"])

        # A thin explanation of the purple 充分条件与必要条件 scores red: the estimate says so, and the
        # node stays purple; asked for explicitly, the estimate may lower it.
        await client.call("canvas.updateNode", {"name": name, "id": "8f6795984f7ec5cf", "patch": {"text": "p 和 q。"}})
        task = await finished(
            client,
            (await client.call("learn.score", {"canvas": name, "node_ids": ["8f6795984f7ec5cf"]}))["task_id"],
        )
        kept = task["result"]["scored"][0]
        assert (kept["state"], kept["recoloured"]) == ("red", False)
        nodes = {node["id"]: node for node in (await client.call("canvas.read", {"name": name}))["nodes"]}
        assert nodes["40905ed45fd6daf8"]["color"] == PURPLE
        assert "问题保持原来的颜色" in nodes[kept["feedback_id"]]["text"]
        task = await finished(
            client,
            (await client.call("learn.score", {"canvas": name, "node_ids": ["8f6795984f7ec5cf"], "recolour": True}))[
                "task_id"
            ],
        )
        assert task["result"]["scored"][0]["recoloured"] is True
        nodes = {node["id"]: node for node in (await client.call("canvas.read", {"name": name}))["nodes"]}
        assert nodes["40905ed45fd6daf8"]["color"] == RED

        with pytest.raises(RpcError) as only_placeholders:
            await client.call("learn.score", {"canvas": name, "node_ids": ["c398f49a3f1ce698"]})
        assert only_placeholders.value.code == -32602 and "placeholder" in only_placeholders.value.message
