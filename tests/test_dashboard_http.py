"""The dashboard's files over HTTP: public, revalidated, confined to web/, and shipped with the package."""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import Callable
from pathlib import Path

import httpx

from server.dashboard import WEB_DIR
from tests.conftest import LiveServer

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

        for path in sorted(WEB_DIR.iterdir()):
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


def test_every_web_file_ships_in_the_package() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert "web" in setuptools["packages"]["find"]["include"]
    patterns = setuptools["package-data"]["web"]
    assert WEB_DIR == ROOT / "web"
    for path in WEB_DIR.iterdir():
        assert any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns), f"{path.name} is not package data"
