"""canvas-live installed from its wheel, with no checkout in sight.

`python -m build` makes the sdist and then builds the wheel from the unpacked sdist, so a wheel
at all shows that the sdist holds what a build needs. The wheel goes into a fresh venv on the
locked dependency versions (requirements/server.txt), and the installed `canvas-live`, started in
a folder outside the checkout, must serve or install everything the package ships: the dashboard,
client.js, the demo vault, the agent definitions and the Obsidian plugin.

It is one test because the build writes canvas_live.egg-info into the checkout, which two builds
on two xdist workers would write at once, and because the venv takes 30-60 s to fill. It stays out
of the paired run: its server is a process of its own, with nothing to pair it with.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import httpx
import pytest

import canvas_live
from canvas_live.server.obsidian import PLUGIN_FILES
from tests.support.client import open_client
from tests.support.process import ROOT, server_process

pytestmark = [pytest.mark.single_process, pytest.mark.timeout(600)]

VERSION = canvas_live.__version__
PACKAGE = ROOT / "canvas_live"
# The plugin's sources and build files stay in the checkout: the package ships the built plugin.
PLUGIN_SOURCES = tuple(f"web/obsidian/{name}" for name in ("src/", "build.mjs", "eslint.config.mjs", "tsconfig.json"))


def run(command: list[str | Path], cwd: Path) -> str:
    """Run a step of the build or the install; its output is the failure's message."""
    done = subprocess.run([str(part) for part in command], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{command}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def shipped() -> dict[str, bytes]:
    """Every file of the package in the checkout, by its path in the wheel, but the plugin's sources."""
    files = {}
    for path in PACKAGE.rglob("*"):
        inside = path.relative_to(PACKAGE).as_posix()
        if path.is_file() and "__pycache__" not in path.parts and not inside.startswith(PLUGIN_SOURCES):
            files[f"canvas_live/{inside}"] = path.read_bytes()
    return files


def build(out: Path) -> tuple[Path, Path]:
    """`make dist`: the sdist, and the wheel built from it, with the locked build tools (no isolation).

    As there, the checkout's canvas_live.egg-info goes first: setuptools would put into the sdist
    every file its SOURCES.txt lists from an earlier build, declared as package data or not.
    """
    shutil.rmtree(ROOT / "canvas_live.egg-info", ignore_errors=True)
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ROOT], cwd=ROOT)
    return out / f"canvas_live-{VERSION}.tar.gz", out / f"canvas_live-{VERSION}-py3-none-any.whl"


def check_sdist(sdist: Path) -> None:
    """The sources, the project's description and its changelog; not the half of the suite setuptools would add."""
    with tarfile.open(sdist) as archive:
        top = {Path(name).parts[1] for name in archive.getnames() if len(Path(name).parts) > 1}
    assert {"pyproject.toml", "README.md", "CHANGELOG.md", "canvas_live"} <= top, top
    assert "tests" not in top


def check_wheel(wheel: Path) -> None:
    """The package, every file as it is in the checkout (the plugin built), and nothing beside it."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert {name.split("/")[0] for name in names} == {"canvas_live", f"canvas_live-{VERSION}.dist-info"}
        packaged = {name: archive.read(name) for name in names if name.startswith("canvas_live/")}
    expected = shipped()
    assert sorted(packaged) == sorted(expected)
    assert [name for name in expected if packaged[name] != expected[name]] == []


def install(wheel: Path, venv: Path) -> Path:
    """A fresh venv with the locked dependencies and then the wheel alone; its bin folder."""
    run([sys.executable, "-m", "venv", venv], cwd=venv.parent)
    pip = [venv / "bin" / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    run([*pip, "--require-hashes", "-r", ROOT / "requirements" / "build.txt"], cwd=venv.parent)
    run([*pip, "--require-hashes", "--no-build-isolation", "-r", ROOT / "requirements" / "server.txt"], cwd=venv.parent)
    run([*pip, "--no-deps", wheel], cwd=venv.parent)
    return venv / "bin"


async def test_the_installed_wheel_serves_and_installs_everything_it_ships(tmp_path: Path) -> None:
    sdist, wheel = build(tmp_path / "dist")
    check_sdist(sdist)
    check_wheel(wheel)
    bin_dir = install(wheel, tmp_path / "venv")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    located = run([bin_dir / "python", "-c", "import canvas_live; print(canvas_live.__file__)"], cwd=elsewhere)
    assert Path(located.strip()).is_relative_to(tmp_path / "venv"), located
    assert run([bin_dir / "canvas-live", "--version"], cwd=elsewhere) == f"canvas-live {VERSION}\n"

    vault = elsewhere / "vault"
    with server_process(vault, "--demo", program=[bin_dir / "canvas-live"], cwd=elsewhere) as (_, port):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            page = await http.get("/")
            assert page.status_code == 200 and page.content == (PACKAGE / "web" / "index.html").read_bytes()
            client = await http.get("/web/client.js")
            assert client.status_code == 200 and client.content == (PACKAGE / "web" / "client.js").read_bytes()
        async with open_client(None, url=f"ws://127.0.0.1:{port}/ws") as connected:
            assert connected.hello["version"] == VERSION
            canvases = await connected.call("canvas.list")
            agents = await connected.call("agent.list")
    demo = PACKAGE / "services" / "canvas" / "demo_vault"
    assert sorted(canvas["name"] for canvas in canvases) == sorted(path.stem for path in demo.glob("*.canvas"))
    assert all("error" not in canvas and canvas["nodes"] > 0 for canvas in canvases), canvases
    definitions = PACKAGE / "services" / "agents" / "definitions"
    assert sorted(agent["name"] for agent in agents) == sorted(path.stem for path in definitions.glob("*.md"))

    installed = run([bin_dir / "canvas-live", "obsidian-install", "--vault", vault], cwd=elsewhere)
    plugin = vault / ".obsidian" / "plugins" / "canvas-live"
    for name in PLUGIN_FILES:
        assert f"copied {name}" in installed
        assert (plugin / name).read_bytes() == (PACKAGE / "web" / "obsidian" / name).read_bytes(), name
