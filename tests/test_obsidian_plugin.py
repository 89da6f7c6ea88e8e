"""The Obsidian plugin (web/obsidian/): its manifest, its checked-in build, its lint, its installer,
and its built main.js driven on a stand-in of Obsidian's API against the real server.

Obsidian itself cannot run here; tests/js/obsidian-standin.mjs plays the part of its API that the
plugin uses, after obsidian.d.ts, and tests/js/obsidian.test.mjs runs the installed main.js on it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from canvas_live.server.cli import main
from canvas_live.server.obsidian import PLUGIN_FILES, plugin_source
from tests.support.provider import FakeProvider, slow_score
from tests.support.server import LiveServer
from tests.test_js_client import JS_DIR, ROOT, node_tests, run

PLUGIN = ROOT / "canvas_live" / "web" / "obsidian"
SAMPLES = Path(__file__).parent / "fixtures" / "samples"
# A question and the learner's explanation of it (red, yellow), for a model to score.
LESSON = {
    "nodes": [
        {
            "id": "question",
            "type": "text",
            "text": "Why is a contrapositive true whenever its statement is?",
            "color": "1",
            "x": 0,
            "y": 0,
            "width": 400,
            "height": 200,
        },
        {
            "id": "explanation",
            "type": "text",
            "text": "Both are false in exactly the same case.",
            "color": "3",
            "x": 500,
            "y": 0,
            "width": 400,
            "height": 200,
        },
    ],
    "edges": [{"id": "answers", "fromNode": "question", "toNode": "explanation"}],
}


def test_the_manifest_has_what_obsidian_requires() -> None:
    manifest = json.loads((PLUGIN / "manifest.json").read_text())
    assert set(manifest) == {"id", "name", "version", "minAppVersion", "description", "author", "isDesktopOnly"}
    assert manifest["id"] == "canvas-live"
    assert isinstance(manifest["isDesktopOnly"], bool)


def test_the_checked_in_main_js_is_a_fresh_build(tmp_path: Path) -> None:
    built = run(["node", PLUGIN / "build.mjs", tmp_path / "main.js"])
    assert built.returncode == 0, built.stderr
    assert (tmp_path / "main.js").read_bytes() == (PLUGIN / "main.js").read_bytes(), (
        "canvas_live/web/obsidian/main.js is stale: run `make obsidian-plugin` and commit it"
    )


def test_main_js_is_commonjs_with_the_client_bundled_in_and_obsidian_left_out() -> None:
    source = (PLUGIN / "main.js").read_text()
    assert 'require("obsidian")' in source and "module.exports" in source
    modules = [line.removeprefix("// ") for line in source.splitlines() if line.startswith("// ")]
    assert modules == ["src/main.ts", "../client.js", "../task-feeds.js", "src/tasks.ts", "src/view.ts", "src/main.ts"]
    assert source.count("var RpcError = class extends Error") == 1  # web/client.js, bundled from its only copy
    assert source.count("var RunningCalls = class") == 1  # web/task-feeds.js, likewise


def test_the_plugin_source_type_checks_against_obsidians_types() -> None:
    checked = run([ROOT / "node_modules" / ".bin" / "tsc", "--pretty", "false", "--project", PLUGIN / "tsconfig.json"])
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_plugin_source_passes_obsidians_lint_rules() -> None:
    linted = run(["npm", "run", "--silent", "lint:obsidian"])
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_the_lint_catches_what_obsidians_review_rejects(tmp_path: Path) -> None:
    """The same lint over a copy with a mistake Obsidian's reviewers flag (the plugin's name in a command's)."""
    copy = tmp_path / "obsidian"
    shutil.copytree(PLUGIN, copy, ignore=shutil.ignore_patterns("main.js"))
    main_ts = copy / "src" / "main.ts"
    main_ts.write_text(main_ts.read_text().replace("name: 'Score explanations'", "name: 'Canvas Live: score'"))
    (tmp_path / "node_modules").symlink_to(ROOT / "node_modules")
    linted = run([ROOT / "node_modules" / ".bin" / "eslint", "--max-warnings", "0", "src"], cwd=copy)
    assert linted.returncode != 0
    rule = "obsidianmd/commands/no-plugin-name-in-command-name"
    assert "main.ts" in linted.stdout and rule in linted.stdout, linted.stdout


def test_obsidian_install_copies_the_plugin_into_the_vault(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / ".obsidian" / "plugins" / "canvas-live"
    target.mkdir(parents=True)
    (target / "data.json").write_text('{"token": "kept"}')
    (target / "main.js").write_text("an older build")
    assert main(["obsidian-install", "--vault", str(tmp_path)]) == 0
    for name in PLUGIN_FILES:
        assert (target / name).read_bytes() == (plugin_source() / name).read_bytes()
    assert (target / "data.json").read_text() == '{"token": "kept"}'
    out = capsys.readouterr().out
    assert f"copied main.js -> {target / 'main.js'}" in out
    assert "Settings → Community plugins" in out


def test_obsidian_install_refuses_a_vault_that_is_not_there(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["obsidian-install", "--vault", str(tmp_path / "missing")]) == 1
    assert "no vault folder at" in capsys.readouterr().err
    assert not (tmp_path / "missing").exists()


def test_the_installed_plugin_drives_the_real_server(
    vault: Path,
    tmp_path: Path,
    make_server: Callable[..., LiveServer],
    provider: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (vault / "study").mkdir()
    shutil.copy(SAMPLES / "cls-test-basic.canvas", vault / "study" / "basics.canvas")
    installed = subprocess.run(
        [sys.executable, "-m", "canvas_live", "obsidian-install", "--vault", str(vault)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "copied main.js" in installed.stdout, installed.stdout
    live = make_server(token="s3cret", offline_latency=0.2, task_timeouts=("learn.explain=0.1",))
    # A second vault, served on a model that streams slowly, with the plugin in it too.
    slow_vault = tmp_path / "slow-vault"
    slow_vault.mkdir()
    (slow_vault / "lesson.canvas").write_text(json.dumps(LESSON))
    assert main(["obsidian-install", "--vault", str(slow_vault)]) == 0
    monkeypatch.setenv("CANVAS_LIVE_TEST_KEY", "sk-test-0123456789abcdef")
    provider.default = slow_score()
    slow = make_server(
        vault=slow_vault, agent_backend="openai", agent_base_url=provider.url, agent_api_key_env="CANVAS_LIVE_TEST_KEY"
    )
    env = {
        "CANVAS_LIVE_WS": live.ws_url,
        "CANVAS_LIVE_TOKEN": "s3cret",
        "CANVAS_LIVE_VAULT": str(vault),
        "CANVAS_LIVE_CANVAS": "study/basics",
        "CANVAS_LIVE_SLOW_WS": slow.ws_url,
        "CANVAS_LIVE_SLOW_VAULT": str(slow_vault),
        "CANVAS_LIVE_SLOW_CANVAS": "lesson",
    }
    node_tests(JS_DIR / "obsidian.test.mjs", "--experimental-websocket", env=env)
