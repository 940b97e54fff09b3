"""The Swagger UI page of the admin API (``/admin/docs``), served together
with the files it loads, so that it works on a machine without internet.

FastAPI's own page loads Swagger UI's script and style sheet from a CDN and
shows a blank page where that CDN cannot be reached. This page names only
URLs of this server. The files come from the installed ``fastapi-offline``
package, which ships Swagger UI's release build (Apache-2.0) and FastAPI's
favicon; nothing is downloaded at run time. Only the three files the page
needs are served, each at an exact path, so the token check can list them as
public the way it lists the page.

Each file's URL carries the package's version: a browser may keep the file
for a year, since an upgrade changes the URL. The page itself is revalidated
on every load, so it always names the current URLs.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse

__all__ = ["install_docs"]

_assets_package = "fastapi_offline"
_assets_distribution = "fastapi-offline"
_assets_folder = "static"
# Starlette adds "; charset=utf-8" to the text types.
_asset_media_types = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}
_asset_cache_control = "public, max-age=31536000, immutable"
_page_cache_control = "no-cache"


def _asset_files() -> dict[str, Path]:
    folder = importlib.resources.files(_assets_package) / _assets_folder
    # FileResponse reads from the file system, where pip installs packages;
    # a broken install must stop the start-up, not blank the page later.
    if not isinstance(folder, Path):
        raise RuntimeError(f"{_assets_distribution} is not installed as files: {folder}")
    files = {name: folder / name for name in _asset_media_types}
    missing = sorted(str(path) for path in files.values() if not path.is_file())
    if missing:
        raise RuntimeError(f"{_assets_distribution} lacks Swagger UI files: {', '.join(missing)}")
    return files


def _add_asset_route(app: FastAPI, *, path: str, file: Path, media_type: str) -> None:
    headers = {"Cache-Control": _asset_cache_control}

    async def asset(request: Request) -> FileResponse:
        return FileResponse(file, media_type=media_type, headers=headers)

    app.add_route(path, asset, include_in_schema=False)


def install_docs(app: FastAPI, *, docs_path: str) -> frozenset[str]:
    """Add the page at ``docs_path``, its OAuth2 redirect page and its files
    to ``app`` (made with ``docs_url=None``); answer the paths added, all of
    which are to be open without a token."""
    assert app.docs_url is None and app.redoc_url is None, "FastAPI's CDN pages are off"
    assert app.openapi_url is not None, "the page shows the OpenAPI document"
    openapi_path = app.openapi_url
    redirect_path = f"{docs_path}/oauth2-redirect"
    version = importlib.metadata.version(_assets_distribution)
    asset_paths = {name: f"{docs_path}/assets/{version}/{name}" for name in _asset_media_types}
    for name, file in _asset_files().items():
        _add_asset_route(
            app, path=asset_paths[name], file=file, media_type=_asset_media_types[name]
        )

    async def page(request: Request) -> HTMLResponse:
        # Mounted at /admin: the browser needs the full paths.
        root = str(request.scope.get("root_path", "")).rstrip("/")
        answer = get_swagger_ui_html(
            openapi_url=root + openapi_path,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=root + asset_paths["swagger-ui-bundle.js"],
            swagger_css_url=root + asset_paths["swagger-ui.css"],
            swagger_favicon_url=root + asset_paths["favicon.png"],
            oauth2_redirect_url=root + redirect_path,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters=app.swagger_ui_parameters,
        )
        answer.headers["Cache-Control"] = _page_cache_control
        return answer

    async def oauth2_redirect(request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    app.add_route(docs_path, page, include_in_schema=False)
    app.add_route(redirect_path, oauth2_redirect, include_in_schema=False)
    return frozenset({docs_path, redirect_path, *asset_paths.values()})
