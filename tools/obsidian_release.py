"""`make obsidian-release`: the Obsidian plugin as a community-plugin release attaches it.

Obsidian installs a community plugin from the GitHub release whose tag is the plugin's version,
downloading that release's manifest.json, main.js and styles.css: the three files `canvas-live
obsidian-install` copies into a vault, taken here from the same place. Beside them goes a zip for
installing by hand, whose one folder, unzipped into `<vault>/.obsidian/plugins/`, is the plugin's.

An app older than the manifest's minAppVersion looks in the repository's versions.json for the
newest plugin version it can run, so a release whose version versions.json does not map to that
minAppVersion is refused before anything is written.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

from canvas_live.server.obsidian import PLUGIN_FILES, plugin_source

ROOT = Path(__file__).resolve().parents[1]
VERSIONS = ROOT / "versions.json"
# Every entry of the zip gets this time, so one checkout always gives the same zip, byte for byte.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class ReleaseError(Exception):
    """The release would not be one Obsidian can place; the message says what to fix."""


def release(out: Path, versions: Path = VERSIONS) -> list[Path]:
    """Write the release assets into `out` (created if needed) and return their paths."""
    manifest = json.loads((plugin_source() / "manifest.json").read_text(encoding="utf-8"))
    plugin, version, app = manifest["id"], manifest["version"], manifest["minAppVersion"]
    listed = json.loads(versions.read_text(encoding="utf-8")).get(version)
    if listed != app:
        raise ReleaseError(
            f"{versions} maps {version} to {listed}, not to the manifest's minAppVersion {app}: "
            f'add "{version}": "{app}" to it'
        )
    out.mkdir(parents=True, exist_ok=True)
    # An earlier release's zip left here would be uploaded with this one.
    for stale in out.glob(f"{plugin}-*.zip"):
        stale.unlink()
    assets = [out / name for name in PLUGIN_FILES]
    for asset in assets:
        shutil.copyfile(plugin_source() / asset.name, asset)
    archive = out / f"{plugin}-{version}.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for asset in assets:
            entry = zipfile.ZipInfo(f"{plugin}/{asset.name}", ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16  # rw-r--r-- when unzipped
            zipped.writestr(entry, asset.read_bytes())
    return [*assets, archive]


def main(argv: Sequence[str] | None = None) -> int:
    """Release into the folder given (by default dist/obsidian/) and print each asset written."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.obsidian_release", description="Write the Obsidian plugin's release assets."
    )
    parser.add_argument("out", type=Path, nargs="?", default=ROOT / "dist" / "obsidian", help="the folder to write")
    args = parser.parse_args(argv)
    try:
        assets = release(args.out)
    except ReleaseError as exc:
        print(f"obsidian-release: {exc}", file=sys.stderr)
        return 1
    for asset in assets:
        print(asset)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
