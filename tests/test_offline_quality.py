"""The offline agents' output read the way a teacher would check it, on the demo vault and the fixtures.

Through the real server (offline backend), in Chinese and in English: every question names a term
that occurs in its source node's material; no question repeats another on the same node; every hint
quotes a sentence of the material; scores rise as an explanation covers more of the material's terms
and fall for off-topic text; review groups are named after the material, never "Other" when a node
has a parent; and none of the outputs that once came out of a poor term extractor ever appears.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from canvas_live.services.agents.backends.offline.questions import TEMPLATES
from canvas_live.services.markdown import plain
from tests.support.canvases import CANVAS_FIXTURES
from tests.support.client import Client, RpcError, open_client
from tests.support.server import LiveServer

DEMO = resources.files("canvas_live.services.canvas") / "demo_vault"
BANNED = [
    r"(?:Hint|提示)\s*[:：]\s*(?:Hint|提示)", r"## ##", r"^#+\s*$",
    r"core idea of (where|what|why|how|released|it|this|that)\b", r"Why does released matter", r"Why does plant matter",
    r"apply calvin\.", r"\b(of|apply|about) (the|a|an|is|are|it)\.",
    r"\b(?:what|of|about|apply|does|do|is|are) (?:the |a |an )?(?:red|purple|green|yellow|blue)(?: nodes?)?\b[.?,]",
    r"「(?:红色|紫色|绿色|黄色|蓝色|[红紫绿黄蓝]色?[ ·:：])", r"「Red|「Yellow",
]  # fmt: skip
"""What the offline agents once wrote and must never write again: doubled hint labels, colours asked
about as if they were terms, templates around a word that is not a term."""
MARKDOWN = re.compile(r"\*\*|`|\[[^\]]*\]\(|^#")
"""Markup that must not leak into a question or its hint (an explanation note is Markdown itself)."""
LEGEND = re.compile(r"^\*\*(?:Red|Purple|Green|Yellow|Blue) · ")
"""The demo's colour legend entries, which are not material (the workflows refuse them)."""
HINT = re.compile(r"^(?:Hint|提示)[:：]\s*(?:.*?[:：]\s*)?(?P<quote>.+)$", re.S)
ARTICLE = "(?:(?:the|a|an) )?"
GRAMMAR = {
    "be": "(?:is|are)",
    "does": "(?:does|do)",
    "does_it": "(?:does it|do they)",
    "it_does": "(?:it does|they do)",
    "it": "(?:it|them)",
}


def slot_patterns() -> list[re.Pattern[str]]:
    """Each question template as a regex whose groups are the terms (or the sentence) it names."""
    patterns = []
    for chinese, english in TEMPLATES.values():
        for template in (chinese, english):
            pattern = re.escape(template)
            for slot in ("term", "other", "topic"):
                article = ARTICLE if template is english and slot != "topic" else ""
                pattern = pattern.replace(re.escape("{" + slot + "}"), f"{article}(?P<{slot}>.+?)", 1)
            pattern = pattern.replace(re.escape("{sentence}"), "(?P<sentence>.+)")
            for slot, words in GRAMMAR.items():
                pattern = pattern.replace(re.escape("{" + slot + "}"), words)
            patterns.append(re.compile(f"^{pattern}$"))
    return patterns


SLOTS = slot_patterns()


def named_terms(question: str) -> list[str]:
    """The terms (or the material's sentence) a question asks about, read back out of its template."""
    for pattern in SLOTS:
        match = pattern.match(question)
        if match:
            return [value.rstrip("…") for value in match.groupdict().values() if value]
    raise AssertionError(f"no template says {question!r}")


def occurs(term: str, material: str) -> bool:
    return " ".join(term.lower().split()) in " ".join(plain(material).lower().split())


def check_no_banned(text: str) -> None:
    for banned in BANNED:
        assert not re.search(banned, text, re.M | re.I), f"{banned!r} in {text!r}"


async def task_result(client: Client, method: str, params: dict[str, Any]) -> Any:
    task_id = (await client.call(method, params))["task_id"]
    task = await client.call("task.wait", {"id": task_id, "timeout": 30})
    assert task["status"] == "completed", task
    return task["result"]


@pytest.fixture(params=["demo", "fixtures"])
def vault_with_canvases(request: pytest.FixtureRequest, vault: Path) -> tuple[Path, str]:
    """The demo vault (obsidian palette) or the project's learning fixtures (made in the cls palette)."""
    if request.param == "demo":
        for item in DEMO.iterdir():
            if item.name.endswith(".canvas"):
                (vault / item.name).write_bytes(item.read_bytes())
        return vault, "obsidian"
    for path in (CANVAS_FIXTURES / "learning").glob("*.canvas"):
        shutil.copy(path, vault / path.name)
    return vault, "cls"


async def test_questions_hints_and_groups_a_teacher_would_accept(
    vault_with_canvases: tuple[Path, str], make_server: Callable[..., LiveServer]
) -> None:
    vault, palette = vault_with_canvases
    live = make_server(palette=palette)
    async with open_client(live) as client:
        names = [entry["name"] for entry in await client.call("canvas.list")]
        reviewed = 0
        for name in names:
            source = await client.call("canvas.read", {"name": name})
            studied = await client.call("canvas.read", {"name": name, "color": ["red", "purple"], "type": "text"})
            if all(LEGEND.match(node["text"]) for node in studied["nodes"]):
                with pytest.raises(RpcError) as legend_only:  # a legend explains colours: nothing to ask about
                    await client.call("review.generate", {"canvas": name})
                assert legend_only.value.code == -32602 and "legend" in legend_only.value.message
                continue
            nodes = {node["id"]: node for node in source["nodes"]}
            parents = {edge["toNode"]: nodes.get(edge["fromNode"]) for edge in source["edges"]}
            result = await task_result(client, "review.generate", {"canvas": name})
            review = await client.call("canvas.read", {"name": result["review_canvas"]})
            reviewed += 1
            asked: dict[str, list[str]] = {}
            for node in review["nodes"]:
                check_no_banned(node.get("text", "") + node.get("label", ""))
                if "sourceNodeId" not in node:
                    continue
                assert not MARKDOWN.search(node["text"]), node["text"]
                own = nodes[node["sourceNodeId"]]
                parent = parents.get(own["id"])
                material = own["text"] + "\n" + (parent or {}).get("text", "")
                question, _, hint = node["text"].partition("\n\n")
                for term in named_terms(question):
                    assert occurs(term, material), f"{term!r} of {question!r} is not in the material"
                assert question not in asked.setdefault(own["id"], []), f"{question!r} asked twice"
                asked[own["id"]].append(question)
                if hint:
                    quote = HINT.match(hint)
                    assert quote, hint
                    assert occurs(quote["quote"].rstrip("…").strip()[:30], material), f"{hint!r} quotes nothing"
            labels = [node["label"] for node in review["nodes"] if node["type"] == "group"]
            assert labels and not {"Other", "其他"} & set(labels), labels
        assert reviewed >= 2

        for name in names:
            studied = await client.call("canvas.read", {"name": name, "color": ["red", "purple"], "type": "text"})
            materials = [node for node in studied["nodes"] if not LEGEND.match(node["text"])]
            for node in materials[:2]:
                try:
                    decomposed = await task_result(client, "learn.decompose", {"canvas": name, "node_id": node["id"]})
                except RpcError as exc:
                    assert exc.data["field"] == "depth"  # a purple node without the learner's explanation
                    continue
                written = {node["id"]: node for node in (await client.call("canvas.read", {"name": name}))["nodes"]}
                for question in decomposed["questions"]:
                    check_no_banned(written[question["id"]]["text"])  # as the canvas shows it, hint and all
                    assert not MARKDOWN.search(written[question["id"]]["text"]), written[question["id"]]["text"]
                    assert written[question["id"]]["text"].count("\n\n") <= 1
                explained = await task_result(
                    client, "learn.explain", {"canvas": name, "node_id": node["id"], "style": "oral"}
                )
                check_no_banned((vault / explained["file"]).read_text())


@pytest.mark.parametrize(
    ("material", "terms", "off_topic"),
    [
        (
            "Photosynthesis is the process by which green plants use light energy to make glucose. The light "
            "reactions take place in the thylakoid membranes and produce ATP and NADPH. The Calvin cycle uses ATP "
            "and NADPH to fix carbon dioxide in the stroma.",
            ["light energy", "thylakoid membranes", "ATP and NADPH", "Calvin cycle", "carbon dioxide", "stroma"],
            "My favourite football team won the league again this year after a long and exciting season.",
        ),
        (
            "逆否命题：命题「若p则q」的逆否命题是「若非q则非p」。原命题与它的逆否命题同真同假。逆命题「若q则p」不一定成立。"
            "充分条件与必要条件：当p能推出q时，p是q的充分条件，q是p的必要条件。",
            ["逆否命题", "同真同假", "逆命题", "充分条件", "必要条件"],
            "今天天气很好，我们去公园散步，吃了冰淇淋，看了一场电影，然后回家睡觉了。",
        ),
    ],
    ids=["english", "chinese"],
)
async def test_scores_rise_with_coverage_and_fall_off_topic(
    client: Client, material: str, terms: list[str], off_topic: str
) -> None:
    async def score(answer: str) -> int:
        result = await client.call(
            "agent.call",
            {"agent": "scoring", "input": {"question_text": material, "user_understanding": answer}},
        )
        return int(result["output"]["total_score"])

    joiner = "，" if terms[0][0] > "\u3000" else ", "
    scores = []
    for covered in range(1, len(terms) + 1):
        answer = ("我的理解：" if joiner == "，" else "In my own words: ") + joiner.join(terms[:covered])
        scores.append(await score(answer + ("。" if joiner == "，" else ".")))
    assert scores == sorted(scores), scores
    assert scores[-1] > scores[0]
    assert await score(off_topic) < scores[-1]


async def test_a_new_red_node_is_red_in_obsidian_and_a_cls_vault_is_noticed(
    make_server: Callable[..., LiveServer], vault: Path
) -> None:
    for path in (CANVAS_FIXTURES / "learning").glob("*.canvas"):
        shutil.copy(path, vault / path.name)  # made by the Canvas Learning System: red "4", yellow "6"
    live = make_server()
    async with open_client(live) as client:
        info = await client.call("server.info")
        assert info["palette"] == "obsidian"
        assert "--palette cls" in info["palette_hint"]
        await client.call("canvas.create", {"name": "new", "nodes": [{"type": "text", "text": "What is entropy?"}]})
        # Two nodes only: the review canvas's own question -> answer edges must not outvote the vault's.
        chosen = {"canvas": "thermodynamics", "node_ids": ["r000000000000001", "p000000000000001"]}
        result = await task_result(client, "review.generate", chosen)
        review = await client.call("canvas.read", {"name": result["review_canvas"]})
        assert {node["color"] for node in review["nodes"] if "sourceNodeId" in node} == {"1"}  # what Obsidian shows red
    again = make_server(palette="cls")
    async with open_client(again) as client:
        assert (await client.call("server.info"))["palette_hint"] is None


async def test_a_review_canvas_can_be_given_its_name(make_server: Callable[..., LiveServer], vault: Path) -> None:
    for item in DEMO.iterdir():
        if item.name.endswith(".canvas"):
            (vault / item.name).write_bytes(item.read_bytes())
    async with open_client(make_server()) as client:
        result = await task_result(client, "review.generate", {"canvas": "Photosynthesis", "name": "review/photo"})
        assert result["review_canvas"] == "review/photo" and (vault / "review" / "photo.canvas").is_file()
        with pytest.raises(RpcError) as caught:
            await client.call("review.generate", {"canvas": "Photosynthesis", "name": "review/photo"})
        assert caught.value.data["error"] == "CONFLICT"  # refused before any task exists
