"""One version number for everything canvas-live releases, and the Obsidian plugin's release.

The version lives in `canvas_live/__init__.py` (setuptools reads it from there); the npm client's
package.json, the Obsidian plugin's manifest.json, `canvas-live --version`, the newest entry of
CHANGELOG.md, versions.json and the examples in the docs follow it by hand, and these tests fail
when one does not. The plugin's release (`make obsidian-release`) must hand Obsidian the very files
`canvas-live obsidian-install` copies.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import canvas_live
from canvas_live.server.dashboard import WEB_DIR
from canvas_live.server.obsidian import PLUGIN_FILES, install, plugin_source
from tools.obsidian_release import ReleaseError, release

ROOT = Path(__file__).resolve().parents[1]
VERSION = canvas_live.__version__

# How the docs show the version: the server's hello, and the names of the files a release makes.
SHOWN_VERSIONS = {
    "server.hello": r'"name":"canvas-live","version":"([^"]+)"',
    "npm tarball": r"canvas-live-client-([0-9][^/\s]*)\.tgz",
    "plugin zip": r"canvas-live-([0-9][^/\s]*)\.zip",
    "wheel": r"canvas_live-([0-9][^-\s]*)-py3-none-any\.whl",
    "sdist": r"canvas_live-([0-9][^/\s]*)\.tar\.gz",
}


def test_the_version_is_a_release_number() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", VERSION), VERSION


def read_json(path: Path) -> dict[str, str]:
    """A JSON object of strings, as package.json, manifest.json and versions.json are at their top."""
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_the_npm_client_and_the_obsidian_plugin_carry_the_servers_version() -> None:
    package = read_json(WEB_DIR / "package.json")
    manifest = read_json(plugin_source() / "manifest.json")
    assert (package["version"], manifest["version"]) == (VERSION, VERSION)


def test_versions_json_maps_each_plugin_version_to_the_obsidian_it_needs() -> None:
    """Obsidian reads versions.json from the repository's root; an older app takes the newest version it can run."""
    versions = read_json(ROOT / "versions.json")
    assert versions[VERSION] == read_json(plugin_source() / "manifest.json")["minAppVersion"]
    for plugin, app in versions.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", plugin) and re.fullmatch(r"\d+\.\d+\.\d+", app), (plugin, app)


def test_the_command_line_reports_the_version() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "canvas_live", "--version"], capture_output=True, text=True, check=True, timeout=30
    )
    assert shown.stdout == f"canvas-live {VERSION}\n"


def test_the_changelog_has_an_unreleased_section_above_the_current_version() -> None:
    headings = re.findall(r"^## \[([^\]]+)\](.*)$", (ROOT / "CHANGELOG.md").read_text(encoding="utf-8"), re.M)
    assert headings[0] == ("Unreleased", "")
    released, date = headings[1]
    assert released == VERSION
    assert re.fullmatch(r" - \d{4}-\d{2}-\d{2}", date), date


def test_the_docs_show_the_current_version() -> None:
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    text = "\n".join(path.read_text(encoding="utf-8") for path in docs)
    for what, pattern in SHOWN_VERSIONS.items():
        shown = set(re.findall(pattern, text))
        assert shown == {VERSION}, f"the docs show the {what} of version {shown}, not {VERSION}"


def test_the_obsidian_release_is_what_obsidian_install_copies(tmp_path: Path) -> None:
    out = tmp_path / "release"
    out.mkdir()
    (out / "canvas-live-0.0.1.zip").write_bytes(b"an earlier release")
    made = subprocess.run(
        [sys.executable, "-m", "tools.obsidian_release", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert made.returncode == 0, made.stderr
    archive = f"canvas-live-{VERSION}.zip"
    assert sorted(path.name for path in out.iterdir()) == sorted([*PLUGIN_FILES, archive])

    installed = install(tmp_path)  # tmp_path is the vault
    for name in PLUGIN_FILES:
        assert (out / name).read_bytes() == (installed / name).read_bytes(), name
    with zipfile.ZipFile(out / archive) as zipped:
        assert zipped.namelist() == [f"canvas-live/{name}" for name in PLUGIN_FILES]
        for name in PLUGIN_FILES:
            assert zipped.read(f"canvas-live/{name}") == (installed / name).read_bytes(), name

    # The same checkout makes the same zip, byte for byte.
    first = (out / archive).read_bytes()
    assert [path.name for path in release(tmp_path / "again")][-1] == archive
    assert (tmp_path / "again" / archive).read_bytes() == first


def test_a_release_versions_json_does_not_place_is_refused(tmp_path: Path) -> None:
    versions = tmp_path / "versions.json"
    versions.write_text('{"0.0.1": "0.15.0"}')
    with pytest.raises(ReleaseError, match=f'add "{re.escape(VERSION)}"'):
        release(tmp_path / "release", versions)
    assert not (tmp_path / "release").exists()
