"""The dashboard in a real browser (Debian's Chromium): what a learner sees, live.

Each story opens the page of a real server, acts on it as a person would (or as another client
would, over the wire), and checks what the page shows; each saves a screenshot under
test-artifacts/ and ends with no console errors.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests.support.browser import BrowserPage
from tests.support.client import open_client
from tests.support.provider import FakeProvider, slow_score
from tests.support.server import LiveServer

NEWEST = "离散数学-命题逻辑"


def seed(vault: Path) -> None:
    """The demo canvases, with the Chinese one the most recently modified."""
    for item in (resources.files("canvas_live.services.canvas") / "demo_vault").iterdir():
        if item.name.endswith(".canvas"):
            (vault / item.name).write_bytes(item.read_bytes())
    now = time.time()
    for index, path in enumerate(sorted(vault.glob("*.canvas"))):
        stamp = now + (60 if path.stem == NEWEST else index)
        os.utime(path, (stamp, stamp))


def rpc(live: LiveServer, method: str, params: Any) -> Any:
    """Call a method over `POST /rpc`, as a script would."""
    body: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": 1}
    if params is not None:
        body["params"] = params
    answer = httpx.post(f"{live.base_url}/rpc", json=body, timeout=10).json()
    assert "error" not in answer, answer
    return answer["result"]


async def open_dashboard(new_page: Callable[..., Any], live: LiveServer, query: str = "", **size: int) -> BrowserPage:
    """The dashboard of `live`, connected."""
    opened: BrowserPage = await new_page(**size)
    await opened.page.goto(f"{live.base_url}/{query}")
    await expect(opened.page.locator("#connection")).to_have_attribute("data-state", "open")
    return opened


def red_and_purple(canvas: dict[str, Any]) -> list[dict[str, Any]]:
    """Text nodes in the (default) `obsidian` palette's red ("1") and purple ("6")."""
    return [node for node in canvas["nodes"] if node["type"] == "text" and node.get("color") in ("1", "6")]


async def test_the_page_connects_lists_canvases_and_draws_the_newest(
    make_server: Callable[..., LiveServer], vault: Path, new_page: Callable[..., Any]
) -> None:
    seed(vault)
    live = make_server()
    canvas = rpc(live, "canvas.read", {"name": NEWEST})
    ids = {node["id"] for node in canvas["nodes"]}
    drawn_edges = [edge for edge in canvas["edges"] if edge["fromNode"] in ids and edge["toNode"] in ids]

    opened = await open_dashboard(new_page, live)
    page = opened.page
    await expect(page.locator("#canvas-list button")).to_have_count(3)
    await expect(page.locator("#canvas-list button[aria-current=true]")).to_have_attribute("data-name", NEWEST)
    await expect(page.locator("#canvas-title")).to_have_text(NEWEST)
    await expect(page.locator("#canvas-svg g.node")).to_have_count(len(canvas["nodes"]))
    await expect(page.locator("#canvas-svg g.edge")).to_have_count(len(drawn_edges))
    await expect(page.locator("#canvas-svg g.node.group")).to_have_count(2)
    await expect(page.locator("#canvas-svg g.node.state-red")).to_have_count(2)
    await expect(page.locator("#canvas-svg")).to_contain_text("逆否命题")
    await expect(page.locator("#gauge-text")).to_have_text("0 / 12 in flight")
    await expect(page.locator("#circuit")).to_have_text("circuit closed")
    await opened.screenshot("dashboard-canvas")

    # Keyboard: a node is reached with Tab and chosen with Enter, which enables "Decompose".
    first = page.locator("#canvas-svg g.node.text").first
    await first.focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#action-decompose")).to_be_enabled()
    await expect(page.locator("#selection")).to_contain_text("Selected (red)")
    await page.keyboard.press("Escape")
    await expect(page.locator("#action-decompose")).to_be_disabled()

    # Another canvas from the list.
    await page.locator("#canvas-list button", has_text="Photosynthesis").click()
    await expect(page.locator("#canvas-title")).to_have_text("Photosynthesis")
    photosynthesis = rpc(live, "canvas.read", {"name": "Photosynthesis"})
    await expect(page.locator("#canvas-svg g.node")).to_have_count(len(photosynthesis["nodes"]))

    # A narrow window: one column, nothing wider than the window.
    await page.set_viewport_size({"width": 420, "height": 900})
    await page.locator("#canvas-list button", has_text=NEWEST).click()
    await expect(page.locator("#canvas-svg g.node")).to_have_count(len(canvas["nodes"]))
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    await opened.screenshot("dashboard-narrow")
    assert opened.errors == []


async def test_a_batch_started_from_the_page_reaches_100_percent_and_streams_agent_results(
    make_server: Callable[..., LiveServer], vault: Path, new_page: Callable[..., Any]
) -> None:
    seed(vault)
    live = make_server(offline_latency=0.4)
    studied = red_and_purple(rpc(live, "canvas.read", {"name": NEWEST}))
    opened = await open_dashboard(new_page, live)
    page = opened.page
    await expect(page.locator("#canvas-svg g.node").first).to_be_visible()

    await page.locator("#action-batch").click()
    row = page.locator("#task-body tr").first
    await expect(row).to_have_attribute("data-status", "running")
    await expect(page.locator("#notice")).to_contain_text(f"Asking agents about {len(studied)} nodes")
    await expect(row.locator(".status")).to_have_text("completed")
    await expect(row.locator(".progress-text")).to_have_text(f"{len(studied)}/{len(studied)} · 100 %")
    await expect(row.locator("[role=progressbar]")).to_have_attribute("aria-valuenow", "100")
    await expect(row.locator("button.cancel")).to_have_count(0)

    # The detail pane opened on the new task, and every agent's result streamed in.
    results = page.locator("#task-detail .results > li")
    await expect(results).to_have_count(len(studied))
    await expect(page.locator("#task-detail [data-field=status]")).to_have_text("completed")
    keys = set(await page.locator("#task-detail .results > li code").all_inner_texts())
    assert keys == {node["id"] for node in studied}
    await expect(results.first.locator("ol.output li")).not_to_have_count(0)
    await opened.screenshot("dashboard-batch")
    assert opened.errors == []


async def test_a_running_task_is_cancelled_from_its_row(
    make_server: Callable[..., LiveServer], vault: Path, new_page: Callable[..., Any]
) -> None:
    seed(vault)
    live = make_server(offline_latency=30, shutdown_grace=0.2)
    opened = await open_dashboard(new_page, live)
    page = opened.page
    await expect(page.locator("#action-batch")).to_be_enabled()
    await page.locator("#action-batch").click()
    row = page.locator("#task-body tr").first
    await expect(row).to_have_attribute("data-status", "running")
    await expect(page.locator("#gauge-text")).to_have_text(re.compile(r"^[1-9]\d* / 12 in flight$"))
    await row.locator("button.cancel").click()
    await expect(row.locator(".status")).to_have_text("cancelled")
    await expect(row.locator("button.cancel")).to_have_count(0)
    await expect(page.locator("#gauge-text")).to_have_text("0 / 12 in flight")
    await opened.screenshot("dashboard-cancelled")
    assert opened.errors == []


async def test_the_drawing_follows_another_clients_edit(
    make_server: Callable[..., LiveServer], vault: Path, new_page: Callable[..., Any]
) -> None:
    seed(vault)
    live = make_server()
    opened = await open_dashboard(new_page, live)
    page = opened.page
    nodes = page.locator("#canvas-svg g.node")
    before = len(rpc(live, "canvas.read", {"name": NEWEST})["nodes"])
    await expect(nodes).to_have_count(before)
    await page.locator("#canvas-list button", has_text=NEWEST).focus()

    async with open_client(live) as other:
        node = {"type": "text", "text": "新问题：逆否命题和反证法有什么关系？", "color": "1", "x": 0, "y": 1300}
        added = await other.call("canvas.addNode", {"name": NEWEST, "node": node})
    await expect(nodes).to_have_count(before + 1)
    new_node = page.locator(f'#canvas-svg g.node[data-id="{added["node"]["id"]}"]')
    await expect(new_node).to_have_class(re.compile(r"\bstate-red\b"))
    await expect(new_node).to_contain_text("逆否命题和反证法")
    await expect(page.locator("#canvas-list button[aria-current=true]")).to_contain_text(f"{before + 1} nodes")
    # The list was drawn again with the new count; keyboard focus stayed where it was.
    await expect(page.locator("#canvas-list button", has_text=NEWEST)).to_be_focused()
    await opened.screenshot("dashboard-live-edit")
    assert opened.errors == []


async def test_the_page_survives_a_server_restart(
    make_server: Callable[..., LiveServer],
    restart: Callable[[LiveServer], LiveServer],
    vault: Path,
    new_page: Callable[..., Any],
) -> None:
    seed(vault)
    live = make_server(offline_latency=30, shutdown_grace=0.2)
    opened = await open_dashboard(new_page, live)
    page = opened.page
    await page.locator("#action-batch").click()
    row = page.locator("#task-body tr").first
    await expect(row).to_have_attribute("data-status", "running")

    epoch = rpc(live, "server.info", None)["epoch"]
    live = restart(live)
    assert rpc(live, "server.info", None)["epoch"] != epoch
    await expect(page.locator("#connection")).to_have_attribute("data-state", "open")

    # The state was read again: the task the restart interrupted shows as failed ...
    await expect(row.locator(".status")).to_have_text("failed")
    await row.locator("button.link").click()
    await expect(page.locator("#task-detail .error")).to_contain_text("INTERRUPTED")
    # ... and the subscriptions are live on the new server.
    rpc(live, "canvas.create", {"name": "重启之后", "nodes": [{"type": "text", "text": "after the restart"}]})
    await expect(page.locator("#canvas-list button", has_text="重启之后")).to_be_visible()
    async with open_client(live) as other:
        await other.call("canvas.addNode", {"name": NEWEST, "node": {"type": "text", "text": "新节点", "y": 1300}})
    before = len(rpc(live, "canvas.read", {"name": NEWEST})["nodes"])
    await expect(page.locator("#canvas-svg g.node")).to_have_count(before)
    await opened.screenshot("dashboard-after-restart")
    # While the server was down, Chromium itself logs each refused connection; the page logs nothing.
    assert [error for error in opened.errors if not error.startswith("WebSocket connection to")] == []


async def test_an_unreadable_canvas_shows_the_servers_error(
    make_server: Callable[..., LiveServer], vault: Path, new_page: Callable[..., Any]
) -> None:
    (vault / "broken.canvas").write_text('{"nodes": [', encoding="utf-8")
    live = make_server()
    opened = await open_dashboard(new_page, live)
    page = opened.page
    entry = page.locator("#canvas-list button", has_text="broken")
    await expect(entry).to_contain_text("unreadable")
    await expect(page.locator("#notice")).to_have_attribute("data-kind", "error")
    await expect(page.locator("#notice")).to_contain_text("INVALID_CANVAS")
    await expect(page.locator("#canvas-meta")).to_contain_text("not valid JSON Canvas")
    await opened.screenshot("dashboard-invalid-canvas")
    assert opened.errors == []


async def test_the_page_hands_its_token_to_the_websocket(
    make_server: Callable[..., LiveServer], new_page: Callable[..., Any]
) -> None:
    live = make_server(token="s3cret")
    opened = await open_dashboard(new_page, live, query="?token=s3cret")
    await expect(opened.page.locator("#canvas-list")).to_contain_text("No canvases")
    assert opened.errors == []


async def test_a_review_canvas_is_generated_from_the_page(
    make_server: Callable[..., LiveServer], vault: Path, new_page: Callable[..., Any]
) -> None:
    seed(vault)
    live = make_server(offline_latency=0.2)
    studied = red_and_purple(rpc(live, "canvas.read", {"name": NEWEST}))
    opened = await open_dashboard(new_page, live)
    page = opened.page
    await expect(page.locator("#action-review")).to_be_enabled()
    await page.locator("#action-review").click()

    row = page.locator("#task-body tr").first
    await expect(row.locator(".canvas-name")).to_have_text(NEWEST)
    await expect(row.locator(".status")).to_have_text("completed", timeout=15_000)
    await expect(row.locator("[role=progressbar]")).to_have_attribute("aria-valuenow", "100")
    await expect(page.locator("#task-detail .results > li")).to_have_count(len(studied))
    review = page.locator("#canvas-list button", has_text="检验白板")
    await expect(review).to_be_visible()
    await review.click()
    await expect(page.locator("#canvas-title")).to_contain_text("检验白板")
    await expect(page.locator("#canvas-svg g.node.group")).not_to_have_count(0)
    await opened.screenshot("dashboard-review")
    assert opened.errors == []


async def test_a_node_is_decomposed_and_the_canvas_scored_from_the_page(
    make_server: Callable[..., LiveServer], vault: Path, new_page: Callable[..., Any]
) -> None:
    seed(vault)
    live = make_server()
    before = rpc(live, "canvas.read", {"name": NEWEST})
    red = next(node for node in red_and_purple(before) if node["color"] == "1")
    opened = await open_dashboard(new_page, live)
    page = opened.page

    await page.locator(f'#canvas-svg g.node[data-id="{red["id"]}"]').click()
    await page.locator("#action-decompose").click()
    row = page.locator("#task-body tr").first
    await expect(row.locator("button.link")).to_have_text("learn.decompose")
    await expect(row.locator(".status")).to_have_text("completed", timeout=15_000)
    decomposed = rpc(live, "canvas.read", {"name": NEWEST})
    assert len(decomposed["nodes"]) > len(before["nodes"])
    await expect(page.locator("#canvas-svg g.node")).to_have_count(len(decomposed["nodes"]))

    await page.locator("#action-score").click()
    await expect(row.locator("button.link")).to_have_text("learn.score")
    await expect(row.locator(".status")).to_have_text("completed", timeout=15_000)
    scored = rpc(live, "canvas.read", {"name": NEWEST})
    await expect(page.locator("#canvas-meta")).to_contain_text(scored["version"])
    await opened.screenshot("dashboard-decompose-score")
    assert opened.errors == []


async def test_a_slow_models_calls_count_their_tokens_until_their_results_arrive(
    make_server: Callable[..., LiveServer],
    provider: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
    vault: Path,
    new_page: Callable[..., Any],
) -> None:
    seed(vault)
    monkeypatch.setenv("CANVAS_LIVE_TEST_KEY", "sk-test-0123456789abcdef")
    provider.default = slow_score()  # each call streams its answer for about five seconds
    live = make_server(agent_backend="openai", agent_base_url=provider.url, agent_api_key_env="CANVAS_LIVE_TEST_KEY")
    opened = await open_dashboard(new_page, live)
    page = opened.page
    await expect(page.locator("#action-score")).to_be_enabled()
    await page.locator("#action-score").click()

    # The canvas's two explanations are scored at once (its third answer is a placeholder, left
    # unscored): while they stream, the row counts the calls and their tokens, and the detail has a
    # line for each.
    row = page.locator("#task-body tr").first
    await expect(row.locator("button.link")).to_have_text("learn.score")
    answering = re.compile(r"^2 calls answering · [1-9]\d* tokens$")
    await expect(row.locator(".answering")).to_have_text(answering, timeout=20_000)
    calls = page.get_by_role("list", name="Answering now").get_by_role("listitem")
    await expect(calls).to_have_count(2)
    await expect(calls.first).to_contain_text("scoring")
    await expect(calls.first.locator(".tokens")).to_have_text(re.compile(r"^[1-9]\d* tokens?$"))
    await opened.screenshot("dashboard-answering")

    # A call's count rises as its answer streams on.
    key = await calls.first.locator("code").inner_text()
    seen = int((await calls.first.locator(".tokens").inner_text()).split()[0])
    await page.wait_for_function(
        """([key, seen]) => [...document.querySelectorAll('#task-detail .calls li')].some(
             (line) => line.querySelector('code')?.textContent === key
               && Number.parseInt(line.querySelector('.tokens')?.textContent ?? '0', 10) > seen)""",
        arg=[key, seen],
        timeout=30_000,
    )

    # Each line gives way to its call's result; once the task is done nothing is answering.
    await expect(row.locator(".status")).to_have_text("completed", timeout=60_000)
    await expect(calls).to_have_count(0)
    results = page.locator("#task-detail .results > li")
    await expect(results).to_have_count(2)
    assert key in await results.locator("code").all_inner_texts()
    await expect(results.first).to_contain_text("score 85/100")
    await expect(row.locator(".answering")).to_have_text("")
    assert opened.errors == []
