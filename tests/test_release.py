"""One version number for everything canvas-live releases, and the files a release is made of.

The version lives in `canvas_live/__init__.py` (setuptools reads it from there); the npm client's
package.json, the Obsidian plugin's manifest.json, `canvas-live --version`, the newest entry of
CHANGELOG.md and the examples in the docs follow it by hand, and these tests fail when one does not.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import canvas_live
from canvas_live.server.dashboard import WEB_DIR
from canvas_live.server.obsidian import plugin_source

ROOT = Path(__file__).resolve().parents[1]
VERSION = canvas_live.__version__

# How the docs show the version: the server's hello, and the names of the files a release makes.
SHOWN_VERSIONS = {
    "server.hello": r'"name":"canvas-live","version":"([^"]+)"',
    "npm tarball": r"canvas-live-client-([0-9][^/\s]*)\.tgz",
}


def test_the_version_is_a_release_number() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", VERSION), VERSION


def test_the_npm_client_and_the_obsidian_plugin_carry_the_servers_version() -> None:
    package = json.loads((WEB_DIR / "package.json").read_text(encoding="utf-8"))
    manifest = json.loads((plugin_source() / "manifest.json").read_text(encoding="utf-8"))
    assert (package["version"], manifest["version"]) == (VERSION, VERSION)


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
