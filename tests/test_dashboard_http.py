"""The dashboard's files over HTTP: public, revalidated, confined to web/, and shipped with the package."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import httpx

from canvas_live.server.dashboard import WEB_DIR
from tests.support.server import LiveServer

ROOT = Path(__file__).resolve().parents[1]


async def test_the_page_and_its_assets_need_no_token_while_the_api_does(
    make_server: Callable[..., LiveServer],
) -> None:
    live = make_server(token="s3cret")
    async with httpx.AsyncClient(base_url=live.base_url, timeout=10) as http:
        page = await http.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-cache"
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert '<script type="module" src="web/dashboard.js"></script>' in page.text

        for path in sorted(path for path in WEB_DIR.iterdir() if path.is_file()):  # obsidian/: the plugin
            asset = await http.get(f"/web/{path.name}")
            assert asset.status_code == 200, path.name
            assert asset.content == path.read_bytes()
            assert asset.headers["cache-control"] == "no-cache"
            if path.suffix == ".js":
                assert "javascript" in asset.headers["content-type"], path.name

        icon = await http.get("/favicon.ico")
        assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
        assert (await http.head("/")).status_code == 200
        assert (await http.get("/api/v1/health")).status_code == 401


async def test_nothing_outside_the_web_folder_is_served(http: httpx.AsyncClient) -> None:
    for path in ("/web/%2e%2e/server/app.py", "/web/..%2fpyproject.toml", "/web/missing.js", "/web/", "/index.html"):
        response = await http.get(path)
        assert response.status_code == 404, path


def test_the_wheel_holds_one_package_with_the_dashboard_inside(tmp_path: Path) -> None:
    """`pip wheel .` gives `canvas_live` as the only top-level name, with every web file in it."""
    source = tmp_path / "source"  # a copy, so that the build leaves nothing in the checkout
    shutil.copytree(ROOT / "canvas_live", source / "canvas_live", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp_path), str(source)],
        check=True,
    )
    (wheel,) = tmp_path.glob("canvas_live-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if ".dist-info/" not in name}
    assert tops == {"canvas_live"}
    shipped = (".html", ".js", ".css", ".svg", ".ts", ".json")  # `.ts`, `.json`: the client's npm package
    web = {f"canvas_live/web/{path.name}" for path in WEB_DIR.iterdir() if path.suffix in shipped}
    assert {"canvas_live/web/client.d.ts", "canvas_live/web/package.json"} <= web <= set(names)
    plugin = {f"canvas_live/web/obsidian/{name}" for name in ("manifest.json", "main.js", "styles.css")}
    assert plugin <= set(names)  # what `canvas-live obsidian-install` copies into a vault
    assert not [name for name in names if name.startswith("canvas_live/web/obsidian/src/")]
    assert "canvas_live/services/canvas/demo_vault/Photosynthesis.canvas" in names
    assert "canvas_live/__main__.py" in names
