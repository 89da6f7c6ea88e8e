"""The offline scoring rubric against explanations a teacher labelled, and the score workflow on the
demo vault: offline scores are estimates, say so, and never make a learner's colours worse.

`tests/fixtures/explanations.yaml` holds the labelled set (correct, partial, wrong, off-topic,
placeholder; in English and Chinese). The whole set is scored through the real server in one
`agent.batch`; what must hold is the order a teacher would accept, not any one number.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from tests.support.client import Client, RpcError, open_client
from tests.support.server import LiveServer

LABELLED = Path(__file__).parent / "fixtures" / "explanations.yaml"
DEMO = resources.files("canvas_live.services.canvas") / "demo_vault"
RED, PURPLE, GREEN, YELLOW, BLUE = "1", "6", "4", "3", "5"  # the obsidian palette


class Labelled(msgspec.Struct):
    """One explanation and its label."""

    label: str
    text: str


class Topic(msgspec.Struct):
    """A question (with its material, unless the question is the material) and answers to it."""

    id: str
    question: str
    answers: list[Labelled]
    material: str | None = None


def labelled_set() -> list[Topic]:
    return msgspec.convert(yaml.safe_load(LABELLED.read_text(encoding="utf-8"))["topics"], list[Topic])


async def finished(client: Client, task_id: str) -> dict[str, Any]:
    task: dict[str, Any] = await client.call("task.wait", {"id": task_id, "timeout": 60}, timeout=70)
    assert task["status"] == "completed", task
    return task


async def test_offline_scores_order_the_labelled_explanations(client: Client) -> None:
    topics = labelled_set()
    calls = []
    for topic in topics:
        for index, answer in enumerate(topic.answers):
            value = {"question_text": topic.question, "user_understanding": answer.text}
            if topic.material:
                value["reference_material"] = topic.material
            calls.append({"agent": "scoring", "input": value, "key": f"{topic.id}/{index}"})
    assert len(calls) >= 40
    assert {label for topic in topics for label in (answer.label for answer in topic.answers)} == {
        "correct", "partial", "wrong", "off-topic", "placeholder",
    }  # fmt: skip
    task = await finished(client, (await client.call("agent.batch", {"calls": calls}))["task_id"])
    results = {result["key"]: result for result in task["result"]["results"]}
    assert all(result["ok"] and result["estimate"] is True for result in results.values())

    scores: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for topic in topics:
        for index, answer in enumerate(topic.answers):
            output = results[f"{topic.id}/{index}"]["output"]
            if answer.label == "placeholder":
                assert output["unscorable"] is True and output["reason"], output
                assert "total_score" not in output, output
                continue
            assert "unscorable" not in output, (answer.text, output)
            scores[topic.id][answer.label].append(output["total_score"])

    everywhere: dict[str, list[int]] = defaultdict(list)
    for topic_id, by_label in scores.items():
        for label, values in by_label.items():
            everywhere[label] += values
        # On one question: nothing wrong or off-topic above any correct answer, nothing off-topic
        # above any partly right one.
        worse = by_label["wrong"] + by_label["off-topic"]
        assert max(worse) < min(by_label["correct"]), (topic_id, dict(by_label))
        assert max(by_label["off-topic"]) < min(by_label["partial"]), (topic_id, dict(by_label))
    # An answer about something else is below every answer about the question, on any question.
    assert max(everywhere["off-topic"]) < min(everywhere["correct"] + everywhere["partial"]), dict(everywhere)
    for label in ("correct", "partial"):
        assert sorted(everywhere[label])[len(everywhere[label]) // 2] > max(everywhere["off-topic"]), label


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


@pytest.mark.parametrize(
    ("material", "says", "only_inside", "term"),
    [
        (
            "## Light-dependent reactions\n\nIn the thylakoid membranes, light energy splits water (photolysis), "
            "releasing **O₂** and producing **ATP** and **NADPH**.",
            "Light splits water, and the O₂ the plant releases comes from that water.",
            "Light splits the CO₂ the plant takes in, and the oxygen comes from that.",
            "O₂",
        ),
        (
            "## 逆否命题\n\n命题「若 p 则 q」的逆否命题是「若非 q 则非 p」。",
            "逆否命题把原命题的条件和结论倒过来再否定。",
            "逆否命题就是把条件和结论倒过来再否定。",
            "命题",
        ),
    ],
    ids=["CO₂ is not O₂", "逆否命题 is not 命题"],
)
async def test_terms_match_as_words_never_inside_other_words(
    client: Client, material: str, says: str, only_inside: str, term: str
) -> None:
    async def feedback(answer: str) -> str:
        value = {"question_text": material, "user_understanding": answer}
        text: str = (await client.call("agent.call", {"agent": "scoring", "input": value}))["output"]["feedback"]
        return text

    def credited(text: str) -> set[str]:
        """The terms the feedback credits the answer with: tied to the material, or at least named."""
        lists = re.findall(
            r"ties (.+?) to the material|(.+?) only named|把(.+?)和材料联系起来|(「.+?」)只是提到了名字", text
        )
        return {term for found in lists for part in found for term in re.split(r"[,、「」]\s*", part) if term}

    assert term in credited(await feedback(says))
    assert term not in credited(await feedback(only_inside))
