"""The admin sub-application: routes, the token check, the body limit and
the error answers, wired into one FastAPI app that ``pointkeeper.app``
mounts at ``/admin``.

Mounted, Starlette sets the scope's ``root_path`` to ``/admin``; it is used
to link the Swagger UI (``/admin/docs``, served with its own files: see
``.docs``) to the OpenAPI document (``/admin/openapi.json``) and to list
``/admin`` as the document's server, so "Try it out" calls the right URLs.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from pointkeeper import __version__
from pointkeeper.app_state import AppState

from .auth import AdminAuth
from .body_limit import BodyLimit
from .docs import install_docs
from .errors import UnexpectedErrors, install_error_handlers
from .promo import router as promo_router
from .routes import router
from .segments import router as segments_router

__all__ = ["create_admin_app"]

_description = (
    "Administration of pointkeeper: customers, manual balance changes, refunds, "
    "reference data and jobs. Every `/v1` call needs `Authorization: Bearer <admin token>`. "
    "Dates are ISO 8601, UTC (a date without an offset is read as UTC). "
    'Errors answer `{"error": {"code", "message", "field"}}`.'
)
_security_scheme = {"adminToken": {"type": "http", "scheme": "bearer"}}


def _drop_unprocessable(schema: dict[str, Any]) -> None:
    # Validation failures answer 400 with the common error body, never
    # FastAPI's 422, so the document must not promise one.
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    for name in ("HTTPValidationError", "ValidationError"):
        schema.get("components", {}).get("schemas", {}).pop(name, None)


def _openapi(app: FastAPI) -> dict[str, Any]:
    # The token is checked by middleware (so that it comes before body
    # parsing); the document still has to tell clients about it.
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        _drop_unprocessable(schema)
        schema.setdefault("components", {})["securitySchemes"] = _security_scheme
        schema["security"] = [{"adminToken": []}]
        app.openapi_schema = schema
    return app.openapi_schema


def create_admin_app(state: AppState) -> FastAPI:
    app = FastAPI(
        title="pointkeeper admin API",
        version=__version__,
        description=_description,
        # FastAPI's pages load Swagger UI and ReDoc from CDNs; ours does not.
        docs_url=None,
        redoc_url=None,
    )
    app.state.pointkeeper = state
    app.include_router(router)
    app.include_router(segments_router)
    app.include_router(promo_router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    install_error_handlers(app)
    docs_paths = install_docs(app, docs_path="/docs")
    # Added last, runs first: whatever raises is answered, and the token is
    # checked before the body is read.
    app.add_middleware(BodyLimit, body_bytes_max=state.config.server.body_bytes_max)
    app.add_middleware(
        AdminAuth,
        tokens=state.config.admin.tokens,
        public_paths={path for path in (app.openapi_url, *docs_paths) if path},
    )
    app.add_middleware(UnexpectedErrors)
    return app
