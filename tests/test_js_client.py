"""The typed JS client: its declarations, its npm package, a TypeScript plugin built on it, its Node tests.

`web/client.d.ts` is generated from client.js's JSDoc (`make client-types`, which writes
task-feeds.d.ts too) and checked in; these tests fail when either is stale, when client.js does
not type-check under strict settings, when the packed package does not compile in a plugin's
strict build (or a plugin's mistakes do), and they run the Node tests of client.js:
tests/js/client.test.mjs against a fake socket, and tests/js/live.test.mjs against the real server
started here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from canvas_live.protocol.errors import ErrorCode
from canvas_live.server.dashboard import WEB_DIR
from tests.support.server import LiveServer

ROOT = Path(__file__).resolve().parents[1]
TSC = ROOT / "node_modules" / ".bin" / "tsc"
TS_DIR = Path(__file__).parent / "ts"
JS_DIR = Path(__file__).parent / "js"

# What an Obsidian plugin's tsconfig sets (strict, ES2018+, the DOM), by module resolution.
PLUGIN_SETTINGS = {
    "strict": True,
    "noImplicitAny": True,
    "strictNullChecks": True,
    "isolatedModules": True,
    "target": "ES2018",
    "lib": ["DOM", "ES2018"],
    "types": [],
    "noEmit": True,
}
RESOLUTIONS = {
    "bundler": {"module": "ESNext", "moduleResolution": "bundler"},
    "node16": {"module": "Node16", "moduleResolution": "node16"},
    # The Obsidian sample plugin's own setting: it reads `types`, not `exports`.
    "node10": {"module": "ESNext", "moduleResolution": "node"},
}


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
    for name in ("client.d.ts", "task-feeds.d.ts"):
        assert (tmp_path / name).read_text() == (WEB_DIR / name).read_text(), (
            f"canvas_live/web/{name} is stale: run `make client-types` and commit it"
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


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """`npm pack` of web/: the tarball and the paths in it."""
    out = tmp_path_factory.mktemp("pack")
    packing = run(["npm", "pack", WEB_DIR, "--pack-destination", out, "--json"], env=npm_env(out))
    assert packing.returncode == 0, packing.stderr
    (report,) = json.loads(packing.stdout)
    return out / report["filename"], sorted(entry["path"] for entry in report["files"])


def npm_env(where: Path) -> dict[str, str]:
    """npm kept off the network and out of the user's cache."""
    return {
        "npm_config_cache": str(where / "npm-cache"),
        "npm_config_offline": "true",
        "npm_config_audit": "false",
        "npm_config_fund": "false",
        "npm_config_update_notifier": "false",
    }


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory, packed: tuple[Path, list[str]]) -> Path:
    """A plugin project with the packed client installed from its tarball, offline."""
    project = tmp_path_factory.mktemp("plugin")
    (project / "package.json").write_text(json.dumps({"name": "plugin", "private": True, "type": "module"}))
    tarball, _ = packed
    installed = run(["npm", "install", "--ignore-scripts", tarball], cwd=project, env=npm_env(project))
    assert installed.returncode == 0, installed.stderr
    for name in ("plugin.ts", "broken.ts"):
        shutil.copy(TS_DIR / name, project / name)
    return project


def compile_plugin(project: Path, source: str, resolution: str) -> subprocess.CompletedProcess[str]:
    """`tsc --noEmit` of one file of the plugin project under a plugin's settings."""
    config = project / f"tsconfig.{source}.{resolution}.json"
    options = {**PLUGIN_SETTINGS, **RESOLUTIONS[resolution]}
    config.write_text(json.dumps({"compilerOptions": options, "files": [source]}))
    return tsc("--project", config, cwd=project)


def test_the_package_holds_only_the_client_and_its_types(packed: tuple[Path, list[str]]) -> None:
    _, paths = packed
    assert paths == ["client.d.ts", "client.js", "package.json"]
    package = json.loads((WEB_DIR / "package.json").read_text())
    assert package["type"] == "module"
    assert package["exports"]["."] == {"types": "./client.d.ts", "default": "./client.js"}


@pytest.mark.parametrize("resolution", sorted(RESOLUTIONS))
def test_a_plugin_compiles_against_the_installed_package(plugin: Path, resolution: str) -> None:
    installed = plugin / "node_modules" / "canvas-live-client"
    assert (installed / "client.js").read_bytes() == (WEB_DIR / "client.js").read_bytes()
    compiled = compile_plugin(plugin, "plugin.ts", resolution)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr


def test_a_plugin_with_type_errors_does_not_compile(plugin: Path) -> None:
    source = (TS_DIR / "broken.ts").read_text().splitlines()
    expected = {
        (number, match.group(1))
        for number, line in enumerate(source, start=1)
        if (match := re.search(r"// expect (TS\d+)$", line))
    }
    assert len(expected) == 5
    compiled = compile_plugin(plugin, "broken.ts", "bundler")
    assert compiled.returncode != 0
    found = {
        (int(line), code)
        for line, code in re.findall(r"^broken\.ts\((\d+),\d+\): error (TS\d+)", compiled.stdout, re.M)
    }
    assert found == expected, compiled.stdout


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
