"""Debian's Chromium under Playwright (never a downloaded browser), and pages that record their errors."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def require_chromium() -> None:
    """Skip without /usr/bin/chromium on a developer's machine; fail in CI (`CI` set), where `.ci/run` installs it."""
    if CHROMIUM.exists():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium package")
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium fonts-noto-cjk)")


@dataclasses.dataclass
class BrowserPage:
    """A page in its own browser context, with every console error and uncaught exception it logs."""

    page: Any
    errors: list[str]

    async def screenshot(self, name: str) -> Path:
        """Save the page as test-artifacts/<name>.png, for a person to look at."""
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path
