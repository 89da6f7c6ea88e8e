"""The built-in agents on the offline backend, as a client sees them through the real server."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.client import Client, RpcError, open_client
from tests.support.server import LiveServer

DERIVATIVE = (
    "导数是函数在某一点的瞬时变化率。函数f在点x0处的导数定义为极限。如果这个极限存在，则称函数在该点可导。"
    "比如汽车的速度就是位移对时间的导数。可导一定连续，但连续不一定可导。"
)
PHOTOSYNTHESIS = (
    "Photosynthesis is the process by which green plants use light energy to convert carbon dioxide and water "
    "into glucose. The light reactions take place in the thylakoid membranes and produce ATP and NADPH. The Calvin "
    "cycle uses ATP and NADPH to fix carbon dioxide in the stroma. For example, a leaf in sunlight releases oxygen "
    "bubbles under water. Photosynthesis only runs if light is available."
)
STYLES = ("oral", "clarification", "comparison", "memory-anchor", "four-level", "example")
CJK = range(0x4E00, 0xA000)


def has_chinese(text: str) -> bool:
    return any(ord(char) in CJK for char in text)


async def test_agent_list_names_every_builtin_agent_with_its_backend(client: Client) -> None:
    agents = {agent["name"]: agent for agent in await client.call("agent.list")}
    assert set(agents) == {"basic-decomposition", "deep-decomposition", "scoring", "verification-question", *STYLES}
    assert agents["scoring"]["output"] == "json"
    assert agents["oral"]["output"] == "markdown"
    assert all(agent["backend"] == "offline" and agent["description"] for agent in agents.values())


@pytest.mark.parametrize(("material", "chinese"), [(DERIVATIVE, True), (PHOTOSYNTHESIS, False)])
async def test_decomposition_asks_three_to_seven_questions_in_the_material_language(
    client: Client, material: str, chinese: bool
) -> None:
    basic = await client.call("agent.call", {"agent": "basic-decomposition", "input": {"material_content": material}})
    questions = basic["output"]["sub_questions"]
    assert basic["ok"] and basic["attempts"] == 1
    assert basic["estimate"] is True  # a heuristic's output, and the result says so
    assert 3 <= len(questions) <= 7
    assert all(has_chinese(q["text"]) == chinese for q in questions)
    assert {q["difficulty"] for q in questions} <= {"easy", "medium"}
    assert any("导数" in q["text"] or "hotosynthesis" in q["text"] for q in questions)

    understanding = "导数就是变化率。" if chinese else "Plants make glucose from light."
    deep = await client.call(
        "agent.call",
        {"agent": "deep-decomposition", "input": {"material_content": material, "user_understanding": understanding}},
    )
    deep_questions = deep["output"]["sub_questions"]
    assert 3 <= len(deep_questions) <= 7
    gaps = [q for q in deep_questions if q["type"] == "gap"]
    assert gaps, "deep decomposition starts from what the learner's explanation misses"
    assert all(has_chinese(q["text"]) == chinese for q in deep_questions)


async def test_scoring_rewards_a_fuller_explanation_and_maps_the_total_to_a_colour(client: Client) -> None:
    async def score(answer: str) -> dict[str, Any]:
        params = {"question_text": "What is photosynthesis?", "user_understanding": answer}
        params["reference_material"] = PHOTOSYNTHESIS
        result: dict[str, Any] = (await client.call("agent.call", {"agent": "scoring", "input": params}))["output"]
        return result

    empty = await score("")
    thin = await score("Plants use light.")
    full = await score(
        "Photosynthesis is how plants turn light energy into food: like a solar-powered kitchen, the leaf takes "
        "carbon dioxide from the air and water from the roots and builds glucose. First the light reactions in the "
        "thylakoid capture energy as ATP and NADPH; then the Calvin cycle spends them to fix carbon dioxide. For "
        "example, pond weed in sunlight gives off bubbles of oxygen, and in the dark it stops."
    )
    # Nothing written, or the template's own text, is not an explanation: it gets no score at all.
    assert empty == {"unscorable": True, "reason": "the explanation is empty"}
    assert (await score("[Answer in your own words]"))["unscorable"] is True
    assert thin["total_score"] < full["total_score"]
    for result in (thin, full):
        parts = result["breakdown"]
        assert set(parts) == {"accuracy", "imagery", "completeness", "originality"}
        assert all(0 <= value <= 25 for value in parts.values())
        assert result["total_score"] == sum(parts.values())
        assert result["pass"] == (result["total_score"] >= 80)
        expected = "change_to_green" if result["total_score"] >= 80 else "change_to_purple"
        assert result["color_action"] == (expected if result["total_score"] >= 60 else "keep_red")
        assert result["feedback"]
    assert full["total_score"] >= 60


async def test_verification_questions_per_node_state(client: Client) -> None:
    nodes = [
        {"id": "red1", "content": DERIVATIVE, "state": "red"},
        {"id": "purple1", "content": PHOTOSYNTHESIS, "state": "purple", "related_yellow": ["Plants make sugar."]},
    ]
    result = await client.call("agent.call", {"agent": "verification-question", "input": {"nodes": nodes}})
    questions = result["output"]["questions"]
    red = [q for q in questions if q["source_node_id"] == "red1"]
    purple = [q for q in questions if q["source_node_id"] == "purple1"]
    assert 1 <= len(red) <= 2 and 2 <= len(purple) <= 3
    assert all(has_chinese(q["question_text"]) for q in red)
    assert not any(has_chinese(q["question_text"]) for q in purple)


@pytest.mark.parametrize("style", STYLES)
async def test_every_explanation_style_writes_markdown_from_the_material(client: Client, style: str) -> None:
    for concept, material in (("导数", DERIVATIVE), ("photosynthesis", PHOTOSYNTHESIS)):
        params = {"concept": concept, "material_content": material, "user_understanding": "变化率 / light"}
        result = await client.call("agent.call", {"agent": style, "input": params})
        text = result["output"]
        assert isinstance(text, str) and text.startswith("## ")
        assert concept in text
        assert has_chinese(text) == (concept == "导数")


async def test_unknown_agent_is_not_found(client: Client) -> None:
    with pytest.raises(RpcError) as raised:
        await client.call("agent.call", {"agent": "no-such-agent", "input": {}})
    assert raised.value.code == -32001
    assert raised.value.data["kind"] == "agent" and raised.value.data["error"] == "NOT_FOUND"
    with pytest.raises(RpcError) as in_batch:
        await client.call("agent.batch", {"calls": [{"agent": "oral", "input": {"concept": "x"}}, {"agent": "nope"}]})
    assert in_batch.value.code == -32001 and in_batch.value.data["field"] == "calls[1].agent"
    assert (await client.call("task.list"))["tasks"] == [], "a refused batch creates no task"


@pytest.mark.parametrize(
    ("agent", "value", "field"),
    [
        ("basic-decomposition", {}, "input.material_content"),
        ("basic-decomposition", {"material_content": 42}, "input.material_content"),
        ("basic-decomposition", {"material_content": "x", "topc": "typo"}, "input.topc"),
        ("deep-decomposition", {"material_content": "x"}, "input.user_understanding"),
        ("scoring", {"question_text": "", "user_understanding": "x"}, "input.question_text"),
        ("verification-question", {"nodes": [{"id": "a", "content": "x", "state": "green"}]}, "input.nodes[0].state"),
    ],
)
async def test_input_that_does_not_fit_the_agent_is_invalid_params(
    client: Client, agent: str, value: dict[str, Any], field: str
) -> None:
    with pytest.raises(RpcError) as raised:
        await client.call("agent.call", {"agent": agent, "input": value})
    assert raised.value.code == -32602
    assert raised.value.data["field"] == field
    with pytest.raises(RpcError) as in_batch:
        await client.call("agent.batch", {"calls": [{"agent": agent, "input": value}]})
    assert in_batch.value.data["field"] == field.replace("input", "calls[0].input", 1)


def write_agent(folder: Path, name: str, body: str, **meta: str) -> None:
    lines = [f"name: {name}", *(f"{key}: {value}" for key, value in meta.items())]
    (folder / f"{name}.md").write_text("---\n" + "\n".join(lines) + "\n---\n" + body, encoding="utf-8")


async def test_user_defined_agents_load_but_fail_clearly_offline(
    make_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    folder = tmp_path / "agents"
    folder.mkdir()
    write_agent(folder, "haiku", "Write a haiku about the input.", description='"A poem, in YAML quotes"')
    (folder / "broken.md").write_text("no front matter here", encoding="utf-8")
    write_agent(folder, "scoring", "Be harsh.", output="markdown")  # cannot change a built-in's output kind
    write_agent(folder, "terse", "Answer in a word.", max_tokens="5")  # below the 16 a limit needs
    write_agent(folder, "wild", "Answer wildly.", temperature="9")  # past the 0-2 every provider takes
    write_agent(folder, "limited", "Answer briefly.", max_tokens="64", temperature="0.5")
    live = make_server(agents_dir=folder)
    async with open_client(live) as client:
        agents = {agent["name"]: agent for agent in await client.call("agent.list")}
        assert agents["haiku"]["description"] == "A poem, in YAML quotes"
        assert "broken" not in agents and "terse" not in agents and "wild" not in agents
        assert "limited" in agents
        assert agents["scoring"]["output"] == "json"
        with pytest.raises(RpcError) as raised:
            await client.call("agent.call", {"agent": "haiku", "input": {"topic": "rain"}})
        assert raised.value.code == -32010
        assert raised.value.data["category"] == "fatal" and raised.value.data["attempts"] == 1
        assert "offline" in raised.value.message


async def test_offline_latency_is_a_fixed_delay(make_server: Callable[..., LiveServer]) -> None:
    live = make_server(offline_latency=0.2)
    async with open_client(live) as client:
        started = time.perf_counter()
        result = await client.call("agent.call", {"agent": "oral", "input": {"concept": "x"}})
        elapsed = time.perf_counter() - started
    assert elapsed >= 0.2  # a lower bound only: a loaded machine may take longer, never less
    assert result["duration_ms"] >= 200
