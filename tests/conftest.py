"""Fixtures: the real server on a free port, clients of it, a real model engine, a fake model provider
for the faults, a browser.

Helpers live in `tests/support/`; this file only wires them into fixtures.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from canvas_live.server.settings import Settings
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, BrowserPage, require_chromium
from tests.support.client import Client, open_client
from tests.support.engine import Engine
from tests.support.provider import FakeProvider
from tests.support.redis import RedisServer
from tests.support.server import LiveServer, SamePortServer


@pytest.fixture
def vault(tmp_path: Path) -> Path:
    """An empty vault folder for one test."""
    path = tmp_path / "vault"
    path.mkdir()
    return path


PAIRED = os.environ.get("CANVAS_LIVE_TEST_PAIRED") == "1"
"""Run every server of the suite as one process of a pair on one Redis (`make test-paired`)."""


@pytest.fixture
def make_server(vault: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., LiveServer]]:
    """Start servers with settings overridden per test; all are stopped at the end.

    With `CANVAS_LIVE_TEST_PAIRED=1` each server is the second process of a pair: a companion on the
    same vault and a redis-server of the test's own runs beside it, so the test's story must hold
    with another process watching the vault, sharing seqs, tasks, locks and the agent limit.
    """
    started: list[LiveServer] = []
    engines: list[RedisServer] = []
    paired = PAIRED and request.node.get_closest_marker("single_process") is None

    def make(**overrides: Any) -> LiveServer:
        settings = Settings(**{"vault": vault, "port": 0, **overrides})
        if paired and settings.cluster_url is None:
            if not engines:
                (tmp_path / "redis").mkdir(exist_ok=True)
                engines.append(RedisServer(tmp_path / "redis").start())
            settings = dataclasses.replace(settings, redis=engines[0].url, instance=f"tested-{len(started)}")
            started.append(LiveServer(dataclasses.replace(settings, instance=f"companion-{len(started)}")).start())
        live = LiveServer(settings).start()
        started.append(live)
        return live

    yield make
    for live in started:
        live.stop()
    for engine in engines:
        engine.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server of this test's own on a free port (skipped, or failed under CI, where it is missing)."""
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def pair(redis_server: RedisServer, make_server: Callable[..., LiveServer]) -> tuple[LiveServer, LiveServer]:
    """Two servers on one vault and one Redis: what every process of a scale-out deployment shares."""
    return (
        make_server(redis=redis_server.url, instance="a"),
        make_server(redis=redis_server.url, instance="b"),
    )


@pytest.fixture
def live(make_server: Callable[..., LiveServer]) -> LiveServer:
    """A server with default settings on an empty vault."""
    return make_server()


@pytest.fixture
async def client(live: LiveServer) -> AsyncIterator[Client]:
    """A connected client of the default server."""
    async with open_client(live) as connected:
        yield connected


@pytest.fixture
async def http(live: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the default server."""
    async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as session:
        yield session


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The real inference engine, once per test process (skipped, or failed under CI, where it is missing)."""
    started = Engine(tmp_path_factory.mktemp("engine")).start()
    yield started
    started.kill()


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    """A fake model provider on loopback; answer with `provider.script` / `provider.default`."""
    fake = FakeProvider()
    yield fake
    fake.close()


@pytest.fixture
def restart() -> Iterator[Callable[[LiveServer], LiveServer]]:
    """Stop a server and start a new one on the same vault, settings and port; stopped at the end."""
    started: list[LiveServer] = []

    def again(live: LiveServer) -> LiveServer:
        live.stop()
        fresh = SamePortServer(live.settings, live.port).start()
        started.append(fresh)
        return fresh

    yield again
    for live in started:
        live.stop()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    """Debian's Chromium under Playwright, once per session; never a downloaded browser."""
    require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield launched
        await launched.close()


@pytest.fixture
async def new_page(browser: Any) -> AsyncIterator[Callable[..., Any]]:
    """Open pages (`await new_page(width=1280, height=800)`); their contexts close at the end."""
    contexts: list[Any] = []

    async def make(width: int = 1280, height: int = 800) -> BrowserPage:
        # Reduced motion: progress bars jump to their value, so a screenshot shows what the text says.
        context = await browser.new_context(viewport={"width": width, "height": height}, reduced_motion="reduce")
        contexts.append(context)
        page = await context.new_page()
        opened = BrowserPage(page, [])
        page.on("console", lambda message: opened.errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: opened.errors.append(f"uncaught: {error}"))
        return opened

    yield make
    for context in contexts:
        await context.close()
