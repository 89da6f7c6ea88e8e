"""client.js's own Node tests, run under `make test` through this module.

tests/js/client.test.mjs plays the server on a fake socket; tests/js/live.test.mjs talks to the
real server started here.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.server import LiveServer

ROOT = Path(__file__).resolve().parents[1]
TSC = ROOT / "node_modules" / ".bin" / "tsc"
JS_DIR = Path(__file__).parent / "js"


def run(
    command: list[str | Path], cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run node, npm or tsc; the output is kept for the assertion messages.

    The pinned npm tools are part of the suite (`make test` installs them): without them this fails.
    """
    if not TSC.exists():
        pytest.fail(f"{TSC} is missing: run `make node_modules/.installed`")
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def node_tests(path: Path, *flags: str, env: dict[str, str] | None = None) -> None:
    """Run one `node --test` file; every test in it must pass, none skipped."""
    ran = run(["node", *flags, "--test", "--test-reporter=tap", path], env=env)
    summary = dict(re.findall(r"^# (\w+) (\d+)$", ran.stdout, re.M))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert int(summary["pass"]) > 0 and summary["fail"] == summary["skipped"] == summary["todo"] == "0", ran.stdout


def test_the_node_unit_tests_of_the_client_pass() -> None:
    node_tests(JS_DIR / "client.test.mjs")


def test_the_client_in_node_against_the_real_server(make_server: Callable[..., LiveServer]) -> None:
    live = make_server(token="s3cret", history_size=2)
    env = {"CANVAS_LIVE_WS": live.ws_url, "CANVAS_LIVE_TOKEN": "s3cret"}
    node_tests(JS_DIR / "live.test.mjs", "--experimental-websocket", env=env)
