"""Maestra v3 requests as the benchmarks send them: the body rendered by the product's
own codec from one tree (so XML and JSON cannot drift apart or from the server), the
`/v3/operations/sync` address and the SecretKey headers."""

from __future__ import annotations

from pointkeeper.protocols.maestra.codec import Tree, render_json, render_xml
from pointkeeper.protocols.maestra.names import REQUEST_ROOT

from .servers import Server

__all__ = ["CONTENT_TYPE", "request_body", "request_headers", "sync_url"]

CONTENT_TYPE = {"xml": "application/xml", "json": "application/json"}


def request_body(tree: Tree, answer_format: str) -> bytes:
    """The request `tree` in `answer_format` ("xml" or "json")."""
    if answer_format == "xml":
        return render_xml(tree, root=REQUEST_ROOT)
    return render_json(tree)


def request_headers(key: str, answer_format: str) -> dict[str, str]:
    content_type = CONTENT_TYPE[answer_format]
    return {
        "Authorization": f"SecretKey {key}",
        "Content-Type": content_type,
        "Accept": content_type,
    }


def sync_url(server: Server, endpoint: str, operation: str) -> str:
    return f"{server.base_url}/v3/operations/sync?endpointId={endpoint}&operation={operation}"
