"""The learning workflows end to end through the real server, on the offline agents.

Each test copies fixture canvases (English and Chinese) into the vault, starts a workflow over a
WebSocket or HTTP, follows its task's events (replayed from seq 0 so none are missed), and reads
the canvases back to check what a learner would see.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
import textwrap
from collections.abc import Callable
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.canvases import CANVAS_FIXTURES
from tests.support.client import Client, RpcError, open_client
from tests.support.server import LiveServer

LEARNING = CANVAS_FIXTURES / "learning"
DEMO = resources.files("canvas_live.services.canvas") / "demo_vault"
EN, ZH = "thermodynamics", "离散数学"
RED, PURPLE, GREEN, YELLOW, BLUE = "4", "3", "2", "6", "5"
TERMINAL = {"task.completed", "task.failed", "task.cancelled"}


@pytest.fixture
def learning_vault(vault: Path) -> Path:
    """The vault with the fixture learning canvases in it."""
    for path in LEARNING.glob("*.canvas"):
        shutil.copy(path, vault / path.name)
    return vault


@pytest.fixture
def learning(learning_vault: Path, make_server: Callable[..., LiveServer]) -> LiveServer:
    """A server on the learning vault."""
    return make_server(palette="cls")


async def follow(client: Client, task_id: str, timeout: float = 20) -> list[dict[str, Any]]:
    """Every event of a task, from its first (replayed) to its terminal one."""
    topic = f"task:{task_id}"
    answer = await client.call("subscribe", {"topics": [topic], "since": {topic: 0}, "epoch": client.hello["epoch"]})
    assert answer["recovered"] == {topic: True}
    events, others = [], []
    while True:
        message = await asyncio.wait_for(client.events.get(), timeout)
        if message["params"].get("topic") != topic:
            others.append(message)  # handed back below, for the test to look at
            continue
        events.append({"event": message["method"], **message["params"]})
        if message["method"] in TERMINAL:
            for other in others:
                client.events.put_nowait(other)
            return events


def rects_overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


def assert_no_overlaps(nodes: list[dict[str, Any]]) -> None:
    boxes = [node for node in nodes if node["type"] != "group"]
    for index, first in enumerate(boxes):
        for second in boxes[index + 1 :]:
            assert not rects_overlap(first, second), (first["id"], second["id"])


def inside(node: dict[str, Any], group: dict[str, Any]) -> bool:
    return (
        group["x"] <= node["x"]
        and node["x"] + node["width"] <= group["x"] + group["width"]
        and group["y"] <= node["y"]
        and node["y"] + node["height"] <= group["y"] + group["height"]
    )


async def check_review(client: Client, vault: Path, source: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    """The review canvas a completed task made, checked against the rules of docs/workflows.md."""
    assert events[-1]["event"] == "task.completed", events[-1]
    assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
    original = await client.call("canvas.read", {"name": source})
    by_id = {node["id"]: node for node in original["nodes"]}
    targets = {node["id"]: node["color"] for node in original["nodes"] if node.get("color") in (RED, PURPLE)}
    results = [event for event in events if event["event"] == "agent.result"]
    assert sorted(result["key"] for result in results) == sorted(targets)
    assert all(result["agent"] == "verification-question" and result["ok"] for result in results)
    progress = [event for event in events if event["event"] == "task.progress"]
    assert progress and progress[0]["total"] == len(targets)  # one step per source node
    assert events[-1]["progress"] == {**events[-1]["progress"], "done": len(targets), "total": len(targets)}
    task = await client.call("task.get", {"id": events[0]["task_id"]})
    outcome = task["result"]
    assert re.fullmatch(rf"{re.escape(source)}-检验白板-{datetime.now():%Y%m%d}(-\d+)?", outcome["review_canvas"])
    assert outcome["path"] == outcome["review_canvas"] + ".canvas"
    assert (vault / outcome["path"]).is_file()
    review = await client.call("canvas.read", {"name": outcome["review_canvas"]})
    nodes = {node["id"]: node for node in review["nodes"]}
    assert_no_overlaps(review["nodes"])
    questions = [node for node in review["nodes"] if "sourceNodeId" in node]
    assert len(questions) == outcome["question_count"]
    per_source: dict[str, int] = {}
    for question in questions:
        assert question["color"] == RED
        assert question["sourceNodeId"] in by_id
        per_source[question["sourceNodeId"]] = per_source.get(question["sourceNodeId"], 0) + 1
        answers = [edge["toNode"] for edge in review["edges"] if edge["fromNode"] == question["id"]]
        assert len(answers) == 1
        answer = nodes[answers[0]]
        assert (answer["color"], answer["text"]) == (YELLOW, "")
        assert answer["y"] >= question["y"] + question["height"]
    for source_id, color in targets.items():
        low, high = (1, 2) if color == RED else (2, 3)
        assert low <= per_source[source_id] <= high, (source_id, per_source.get(source_id))
    groups = [node for node in review["nodes"] if node["type"] == "group"]
    assert len(groups) == outcome["group_count"] >= 1
    for question in questions:
        assert sum(inside(question, group) for group in groups) == 1
    assert any(node.get("color") == BLUE for node in review["nodes"])
    return outcome


@pytest.mark.parametrize("source", [EN, ZH])
async def test_review_over_websocket(learning: LiveServer, learning_vault: Path, source: str) -> None:
    before = (learning_vault / f"{source}.canvas").read_bytes()
    async with open_client(learning) as client:
        answer = await client.call("review.generate", {"canvas": source})
        assert answer["status"] == "scheduled" and answer["message"]
        events = await follow(client, answer["task_id"])
        outcome = await check_review(client, learning_vault, source, events)
        assert outcome["failed_nodes"] == []
        again = await follow(client, (await client.call("review.generate", {"canvas": source}))["task_id"])
        second = (await client.call("task.get", {"id": again[0]["task_id"]}))["result"]
        assert second["review_canvas"] == outcome["review_canvas"] + "-2"
    assert (learning_vault / f"{source}.canvas").read_bytes() == before  # the source is only read


async def test_review_over_http(learning: LiveServer, learning_vault: Path) -> None:
    async with httpx.AsyncClient(base_url=learning.base_url, timeout=10) as http:
        accepted = await http.post("/api/v1/review/generate", json={"canvas_name": ZH})
        assert accepted.status_code == 202
        body = accepted.json()
        assert body["status"] == "scheduled" and body["message"]
        for _ in range(200):
            task = (await http.get(f"/api/v1/tasks/{body['task_id']}")).json()
            if task["status"] not in ("pending", "running"):
                break
            await asyncio.sleep(0.05)
        assert task["status"] == "completed", task
        assert task["kind"] == "review.generate" and task["canvas"] == ZH
        # Started by the response's BackgroundTask, not by the 5 s fallback that catches lost launches.
        started = datetime.fromisoformat(task["started_at"]) - datetime.fromisoformat(task["created_at"])
        assert started.total_seconds() < 2
        assert (learning_vault / task["result"]["path"]).is_file()
        chosen = await http.post("/api/v1/review/generate", json={"canvas_name": ZH, "node_ids": ["zr00000000000002"]})
        assert chosen.status_code == 202
        missing = await http.post("/api/v1/review/generate", json={"canvas_name": "nope"})
        assert missing.status_code == 404
        assert missing.json()["error"] == "NOT_FOUND"
        same_fields = await http.post("/api/v1/review/generate", json={"canvas": ZH, "colors": ["purple"]})
        assert same_fields.status_code == 202  # the body is review.generate's params; canvas_name is an alias
        invalid = await http.post("/api/v1/review/generate", json={"canvas": ZH, "colour": "red"})
        assert (invalid.status_code, invalid.json()["error"]) == (400, "INVALID_PARAMS")
        unparsable = await http.post("/api/v1/review/generate", content=b"{canvas")
        assert (unparsable.status_code, unparsable.json()["error"]) == (400, "PARSE_ERROR")
        escaping = await http.post("/api/v1/review/generate", json={"canvas_name": "../outside"})
        assert (escaping.status_code, escaping.json()["error"]) == (403, "FORBIDDEN_PATH")


async def test_review_of_a_missing_canvas_creates_no_task(learning: LiveServer) -> None:
    async with open_client(learning) as client:
        with pytest.raises(RpcError) as missing:
            await client.call("review.generate", {"canvas": "no/such/canvas"})
        assert missing.value.code == -32001 and missing.value.data["kind"] == "canvas"
        with pytest.raises(RpcError) as unknown_node:
            await client.call("review.generate", {"canvas": EN, "node_ids": ["nope"]})
        assert unknown_node.value.code == -32001 and unknown_node.value.data["kind"] == "node"
        with pytest.raises(RpcError) as nothing:
            await client.call("review.generate", {"canvas": EN, "colors": ["blue"]})
        assert nothing.value.code == -32602
        assert (await client.call("task.list", {}))["tasks"] == []


FLAKY_AGENT = textwrap.dedent(
    """
    import json, re, sys
    text = sys.stdin.read()
    payload = json.loads(text[text.index("Input:") + len("Input:"):])
    node = payload["nodes"][0]
    if "Carnot" in node["content"]:
        sys.exit("the model is down for this one")
    count = 3 if node["state"] == "purple" else 2
    questions = [
        {"source_node_id": node["id"], "question_text": f"Question {i} on {node['content'][:20]}",
         "question_type": "recall", "difficulty": "medium"}
        for i in range(count)
    ]
    print(json.dumps({"questions": questions}))
    """
)


async def test_review_lists_the_nodes_an_agent_failed_for(
    learning_vault: Path, make_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    script = tmp_path / "flaky_agent.py"
    script.write_text(FLAKY_AGENT)
    live = make_server(
        palette="cls", agent_backend="command", agent_command=f"{sys.executable} {script}", agent_retry_attempts=1
    )
    async with open_client(live) as client:
        task_id = (await client.call("review.generate", {"canvas": EN}))["task_id"]
        events = await follow(client, task_id)
        assert events[-1]["event"] == "task.completed"
        task = await client.call("task.get", {"id": task_id})
        failed = task["result"]["failed_nodes"]
        assert [item["node_id"] for item in failed] == ["r000000000000002"]
        results = {event["key"]: event for event in events if event["event"] == "agent.result"}
        assert results["r000000000000002"]["ok"] is False
        assert task["result"]["question_count"] == 2 + 3 + 2  # r1, p1, q1; the Carnot node failed
        review = await client.call("canvas.read", {"name": task["result"]["review_canvas"]})
        assert "r000000000000002" not in {node.get("sourceNodeId") for node in review["nodes"]}


async def test_cancelling_a_review_leaves_no_canvas(
    learning_vault: Path, make_server: Callable[..., LiveServer]
) -> None:
    live = make_server(palette="cls", offline_latency=5.0)
    async with open_client(live) as client:
        task_id = (await client.call("review.generate", {"canvas": EN}))["task_id"]
        await asyncio.sleep(0.3)
        assert (await client.call("server.info"))["agents"]["in_flight"] == 4  # all calls are waiting
        cancelled = await client.call("task.cancel", {"id": task_id})
        assert cancelled["status"] == "cancelled"
        # Cancelling stopped the calls themselves, long before their 5 s would have run out.
        assert (await client.call("server.info"))["agents"]["in_flight"] == 0
        events = await follow(client, task_id)
        assert events[-1]["event"] == "task.cancelled"
        assert not [event for event in events if event["event"] == "agent.result"]
        names = [entry["name"] for entry in await client.call("canvas.list", {})]
        assert not [name for name in names if "检验白板" in name]
        assert sorted(path.name for path in learning_vault.iterdir() if not path.name.startswith(".")) == sorted(
            path.name for path in LEARNING.glob("*.canvas")
        )


async def test_decompose_adds_questions_beside_the_node(learning: LiveServer) -> None:
    async with open_client(learning) as client:
        await client.call("subscribe", {"topics": [f"canvas:{EN}"]})
        before = await client.call("canvas.read", {"name": EN})
        task_id = (await client.call("learn.decompose", {"canvas": EN, "node_id": "r000000000000001"}))["task_id"]
        events = await follow(client, task_id)
        assert events[-1]["event"] == "task.completed"
        result = (await client.call("task.get", {"id": task_id}))["result"]
        assert result["depth"] == "basic"
        questions = result["questions"]
        assert 3 <= len(questions) <= 7
        changed = await client.event("canvas.changed")
        assert sorted({op["op"] for op in changed["ops"]}) == ["edge.added", "node.added"]
        assert len(changed["ops"]) == 4 * len(questions)
        after = await client.call("canvas.read", {"name": EN})
        assert len(after["nodes"]) == len(before["nodes"]) + 2 * len(questions)
        assert_no_overlaps(after["nodes"])
        nodes = {node["id"]: node for node in after["nodes"]}
        source = nodes["r000000000000001"]
        for added in questions:
            question, answer = nodes[added["id"]], nodes[added["answer_id"]]
            assert question["color"] == RED and answer["color"] == YELLOW and answer["text"] == ""
            assert question["x"] > source["x"] + source["width"]
            assert {"fromNode": "r000000000000001", "toNode": added["id"]}.items() <= next(
                edge for edge in after["edges"] if edge["toNode"] == added["id"]
            ).items()
        deep = (await client.call("learn.decompose", {"canvas": ZH, "node_id": "zp00000000000001"}))["task_id"]
        assert (await follow(client, deep))[-1]["event"] == "task.completed"
        assert (await client.call("task.get", {"id": deep}))["result"]["depth"] == "deep"
        with pytest.raises(RpcError) as no_notes:
            await client.call("learn.decompose", {"canvas": ZH, "node_id": "zr00000000000001", "depth": "deep"})
        assert no_notes.value.code == -32602 and no_notes.value.data["field"] == "depth"


async def test_score_recolours_and_attaches_feedback(learning: LiveServer) -> None:
    async with open_client(learning) as client:
        task_id = (await client.call("learn.score", {"canvas": EN}))["task_id"]
        events = await follow(client, task_id)
        assert events[-1]["event"] == "task.completed"
        result = (await client.call("task.get", {"id": task_id}))["result"]
        assert [item["node_id"] for item in result["unscorable"]] == ["y000000000000003"]
        scored = {item["node_id"]: item for item in result["scored"]}
        assert set(scored) == {"y000000000000001", "y000000000000002"}
        canvas = await client.call("canvas.read", {"name": EN})
        nodes = {node["id"]: node for node in canvas["nodes"]}
        colour = {"green": GREEN, "purple": PURPLE, "red": RED}
        rank = {RED: 0, PURPLE: 1, GREEN: 2}
        for item in scored.values():
            expected = "green" if item["total_score"] >= 80 else "purple" if item["total_score"] >= 60 else "red"
            assert item["state"] == expected and item["estimate"] is True  # the offline backend's estimate
            shown = nodes[item["question_id"]]["color"]
            if item["recoloured"]:
                assert shown == colour[expected]
            else:  # an estimate never lowers a question's colour
                assert rank[shown] >= rank[colour[expected]]
            feedback = nodes[item["feedback_id"]]
            assert feedback["color"] == BLUE and f"Offline estimate {item['total_score']}/100" in feedback["text"]
        assert_no_overlaps(canvas["nodes"])
        rescored = (await client.call("learn.score", {"canvas": EN, "node_ids": ["y000000000000002"]}))["task_id"]
        assert (await follow(client, rescored))[-1]["event"] == "task.completed"
        again = await client.call("canvas.read", {"name": EN})
        assert len(again["nodes"]) == len(canvas["nodes"])  # the feedback node is refreshed, not repeated
        with pytest.raises(RpcError) as nothing:
            await client.call("learn.score", {"canvas": EN, "node_ids": ["y000000000000003"]})
        assert nothing.value.code == -32602


async def test_explain_writes_a_note_and_links_it(learning: LiveServer, learning_vault: Path) -> None:
    async with open_client(learning) as client:
        task_id = (await client.call("learn.explain", {"canvas": ZH, "node_id": "zp00000000000001", "style": "oral"}))[
            "task_id"
        ]
        events = await follow(client, task_id)
        assert events[-1]["event"] == "task.completed"
        result = (await client.call("task.get", {"id": task_id}))["result"]
        note = learning_vault / result["file"]
        assert note.is_file() and note.suffix == ".md"
        assert "逆否命题" in note.read_text()
        canvas = await client.call("canvas.read", {"name": ZH})
        nodes = {node["id"]: node for node in canvas["nodes"]}
        assert nodes[result["explanation_id"]]["color"] == BLUE
        assert nodes[result["file_node_id"]] == {
            **nodes[result["file_node_id"]],
            "type": "file",
            "file": result["file"],
        }
        linked = {edge["toNode"] for edge in canvas["edges"] if edge["fromNode"] == "zp00000000000001"}
        assert {result["explanation_id"], result["file_node_id"]} <= linked
        assert_no_overlaps(canvas["nodes"])
        with pytest.raises(RpcError) as bad_style:
            await client.call("learn.explain", {"canvas": ZH, "node_id": "zp00000000000001", "style": "poem"})
        assert bad_style.value.code == -32602 and bad_style.value.data["field"] == "style"


async def test_explain_keeps_the_note_inside_the_vault(learning: LiveServer, learning_vault: Path) -> None:
    """Node ids are the client's choice: one built to climb out of the vault names no path."""
    async with open_client(learning) as client:
        await client.call("canvas.create", {"name": "c - oral - /x"})
        sneaky = "/../../pwned"
        node = {"id": sneaky, "type": "text", "text": "熵是什么？", "x": 0, "y": 0}
        await client.call("canvas.create", {"name": "c", "nodes": [node]})
        task_id = (await client.call("learn.explain", {"canvas": "c", "node_id": sneaky, "style": "oral"}))["task_id"]
        assert (await follow(client, task_id))[-1]["event"] == "task.completed"
        note = (await client.call("task.get", {"id": task_id}))["result"]["file"]
        assert note == "c - oral - pwned.md"
        assert (learning_vault / note).is_file()
        assert not (learning_vault.parent / "pwned.md").exists()


PHOTO, FEYNMAN = "Photosynthesis", "Feynman Technique 费曼学习法"


@pytest.mark.parametrize(
    ("method", "canvas", "node_id", "rule"),
    [
        ("learn.decompose", PHOTO, "90747159e9b074a8", "learner's own explanation (yellow)"),
        ("learn.decompose", PHOTO, "5773b03a022ef296", "AI explanation (blue)"),
        ("learn.decompose", PHOTO, "ba7f9686f0e03f33", "understood (green)"),
        ("learn.decompose", PHOTO, "6b251858f91f6d44", "group node"),
        ("learn.decompose", FEYNMAN, "ffb1b5cf9383938d", "colour legend"),
        ("learn.explain", PHOTO, "f3fc9af0b3279c44", "learner's own explanation (yellow)"),
        ("learn.explain", FEYNMAN, "0ed2511e440f6651", "AI explanation (blue)"),
        ("learn.explain", FEYNMAN, "6dbe75b639a52619", "colour legend"),
    ],
)
async def test_decompose_and_explain_take_only_material(
    make_server: Callable[..., LiveServer], vault: Path, method: str, canvas: str, node_id: str, rule: str
) -> None:
    """Explanations, legend entries and frames are not material: refused by name, before any task exists."""
    for item in DEMO.iterdir():
        if item.name.endswith(".canvas"):
            (vault / item.name).write_bytes(item.read_bytes())
    params = {"canvas": canvas, "node_id": node_id, **({"style": "oral"} if method == "learn.explain" else {})}
    async with open_client(make_server()) as client:
        with pytest.raises(RpcError) as refused:
            await client.call(method, params)
        assert refused.value.code == -32602 and refused.value.data["field"] == "node_id"
        assert rule in refused.value.message
        assert (await client.call("task.list", {}))["tasks"] == []


LABELLING_AGENT = textwrap.dedent(
    """
    import json, sys
    guidance = ["Hint: look at the first sentence", "提示：先看第一句", "look at the units"]
    questions = [{"text": f"Question {i}?", "type": "definition", "difficulty": "easy", "guidance": g}
                 for i, g in enumerate(guidance)]
    print(json.dumps({"sub_questions": questions}))
    """
)


async def test_decompose_labels_a_hint_once_whoever_wrote_the_label(
    learning_vault: Path, make_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    script = tmp_path / "labelling_agent.py"
    script.write_text(LABELLING_AGENT)
    live = make_server(palette="cls", agent_backend="command", agent_command=f"{sys.executable} {script}")
    async with open_client(live) as client:
        task_id = (await client.call("learn.decompose", {"canvas": EN, "node_id": "r000000000000001"}))["task_id"]
        assert (await follow(client, task_id))[-1]["event"] == "task.completed"
        added = (await client.call("task.get", {"id": task_id}))["result"]["questions"]
        nodes = {node["id"]: node for node in (await client.call("canvas.read", {"name": EN}))["nodes"]}
        assert [nodes[question["id"]]["text"] for question in added] == [
            "Question 0?\n\nHint: look at the first sentence",
            "Question 1?\n\n提示：先看第一句",
            "Question 2?\n\nHint: look at the units",
        ]


JUDGING_AGENT = textwrap.dedent(
    """
    import json, sys
    text = sys.stdin.read()
    payload = json.loads(text[text.index("Input:") + len("Input:"):])
    if "coffee" in payload["user_understanding"]:
        print(json.dumps({"unscorable": True, "reason": "an example alone, not an explanation"}))
    else:
        breakdown = {"accuracy": 10, "imagery": 10, "completeness": 10, "originality": 10}
        print(json.dumps({"total_score": 40, "breakdown": breakdown, "pass": False, "feedback": "Thin.",
                          "color_action": "keep_red"}))
    """
)


async def test_a_model_score_recolours_either_way_and_its_unscorable_answers_are_left_alone(
    learning_vault: Path, make_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    script = tmp_path / "judging_agent.py"
    script.write_text(JUDGING_AGENT)
    live = make_server(palette="cls", agent_backend="command", agent_command=f"{sys.executable} {script}")
    async with open_client(live) as client:
        await client.call("canvas.updateNode", {"name": EN, "id": "q000000000000001", "patch": {"color": GREEN}})
        task_id = (await client.call("learn.score", {"canvas": EN}))["task_id"]
        assert (await follow(client, task_id))[-1]["event"] == "task.completed"
        result = (await client.call("task.get", {"id": task_id}))["result"]
        assert result["unscorable"] == [
            {"node_id": "y000000000000003", "reason": "no question node links to this explanation"},
            {"node_id": "y000000000000001", "reason": "an example alone, not an explanation"},
        ]
        [scored] = result["scored"]
        assert scored["node_id"] == "y000000000000002" and "estimate" not in scored
        assert (scored["state"], scored["recoloured"]) == ("red", True)  # a model's score may lower a colour
        nodes = {node["id"]: node for node in (await client.call("canvas.read", {"name": EN}))["nodes"]}
        assert nodes["q000000000000001"]["color"] == RED  # was green
        assert nodes["p000000000000001"]["color"] == PURPLE  # its answer was not scored: left as it was
        assert nodes[scored["feedback_id"]]["text"].startswith("Score 40/100")
