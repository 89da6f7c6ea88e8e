"""The typed JS client: its declarations, and its own Node tests.

`web/client.d.ts` is generated from client.js's JSDoc (`make client-types`) and checked in; these
tests fail when it is stale or when client.js does not type-check under strict settings, and they
run the Node tests of client.js: tests/js/client.test.mjs against a fake socket, and
tests/js/live.test.mjs against the real server started here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from canvas_live.protocol.errors import ErrorCode
from canvas_live.server.dashboard import WEB_DIR
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


def tsc(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """The pinned TypeScript compiler, with one diagnostic a line (`file(line,col): error TSnnnn`)."""
    return run([TSC, "--pretty", "false", *args], cwd=cwd)


def check_client_js(tmp_path: Path, source: Path) -> subprocess.CompletedProcess[str]:
    """Type-check `source` with the settings of tsconfig.client.json, emitting nothing."""
    config = tmp_path / "tsconfig.json"
    config.write_text(
        json.dumps(
            {
                "extends": str(ROOT / "tsconfig.client.json"),
                "compilerOptions": {"noEmit": True, "emitDeclarationOnly": False},
                "files": [str(source)],
            }
        )
    )
    return tsc("--project", config)


def test_the_checked_in_declarations_are_what_make_client_types_writes(tmp_path: Path) -> None:
    made = tsc("--project", "tsconfig.client.json", "--declarationDir", tmp_path)
    assert made.returncode == 0, made.stdout + made.stderr
    assert (tmp_path / "client.d.ts").read_text() == (WEB_DIR / "client.d.ts").read_text(), (
        "canvas_live/web/client.d.ts is stale: run `make client-types` and commit it"
    )


def test_client_js_type_checks_under_strict_settings(tmp_path: Path) -> None:
    checked = check_client_js(tmp_path, WEB_DIR / "client.js")
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # The same check on a copy with one wrong assignment fails, at that line.
    source = (WEB_DIR / "client.js").read_text()
    wrong = source.replace("this.#state = state;", "this.#state = 'opne';")
    assert wrong != source
    copy = tmp_path / "client.js"
    copy.write_text(wrong)
    line = wrong[: wrong.index("'opne'")].count("\n") + 1
    failed = check_client_js(tmp_path, copy)
    assert failed.returncode != 0
    assert f"client.js({line}," in failed.stdout and "error TS2322" in failed.stdout, failed.stdout


def test_the_error_names_in_the_types_are_the_servers() -> None:
    declared = re.search(r"export type ServerErrorName = (.*);", (WEB_DIR / "client.d.ts").read_text())
    assert declared is not None
    assert set(re.findall(r'"([A-Z_]+)"', declared.group(1))) == {code.name for code in ErrorCode}


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
