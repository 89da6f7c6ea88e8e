"""`canvas-live obsidian-install --vault V`: put the Obsidian plugin (web/obsidian/) into a vault.

Obsidian loads a community plugin from `<vault>/.obsidian/plugins/<id>/`: its manifest.json, the
built main.js and styles.css. The package ships those three files; this copies them there, over
an older copy, and leaves the plugin's saved settings (data.json) alone.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from importlib import resources
from pathlib import Path
from typing import Any

PLUGIN_FILES = ("manifest.json", "main.js", "styles.css")


def plugin_source() -> Path:
    """The folder of the shipped plugin files."""
    return Path(str(resources.files("canvas_live.web"))) / "obsidian"


def add_command(commands: Any) -> None:
    """Add `obsidian-install` to the CLI's subcommands; it runs `run` instead of the server."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "obsidian-install", help="install the Obsidian plugin into a vault"
    )
    parser.add_argument("--vault", type=Path, required=True, help="the vault's folder (the one Obsidian opens)")
    parser.set_defaults(run=run)


def install(vault: Path) -> Path:
    """Copy the plugin files into `vault` and return the plugin folder; the vault must exist."""
    if not vault.is_dir():
        raise FileNotFoundError(f"no vault folder at {vault}")
    target = vault / ".obsidian" / "plugins" / plugin_id()
    target.mkdir(parents=True, exist_ok=True)
    for name in PLUGIN_FILES:
        shutil.copyfile(plugin_source() / name, target / name)
    return target


def plugin_id() -> str:
    """The plugin's id, from its manifest (the folder name Obsidian expects)."""
    manifest = json.loads((plugin_source() / "manifest.json").read_text(encoding="utf-8"))
    return str(manifest["id"])


def run(args: argparse.Namespace) -> int:
    """Install, then say what was copied and what the user still has to do."""
    vault: Path = args.vault
    try:
        target = install(vault)
    except OSError as exc:
        print(f"canvas-live: cannot install the Obsidian plugin: {exc}", file=sys.stderr)
        return 1
    for name in PLUGIN_FILES:
        print(f"copied {name} -> {target / name}")
    print(
        "Now enable it in Obsidian: Settings → Community plugins → turn on Canvas Live "
        "(reload the plugins or restart Obsidian if it was already open); "
        "set the server URL and token in its settings."
    )
    return 0
