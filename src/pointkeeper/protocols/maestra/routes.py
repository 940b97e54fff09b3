"""``POST /v3/operations/sync`` and ``/async``: the Maestra v3 protocol.

Checks run in this order, the first failure answering: endpoint and secret
key (401), operation known (400), operation allowed on the endpoint (403),
transactionId well-formed (400), body size (413), body well-formed (400),
request valid (200 ``ValidationError``); transactionId reused for another
request (409).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import parse_qs

from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from pointkeeper import limits
from pointkeeper.app_state import AppState
from pointkeeper.config import Config, OperationConfig
from pointkeeper.errors import DuplicateTransaction, Overloaded, PointkeeperError, StoreError
from pointkeeper.logs import new_error_id
from pointkeeper.protocols.body import BodyTooLarge, ClientDisconnect, header, read_body
from pointkeeper.protocols.fingerprint import request_fingerprint
from pointkeeper.protocols.text import refusal
from pointkeeper.services import async_calls
from pointkeeper.services.idempotency import NothingDone
from pointkeeper.store.tx import Tx

from . import codec, wording
from .export import export_chunks, read_export_request
from .fields import Fields
from .kinds import prepare, reads_exact_decimals

__all__ = ["ProtocolError", "maestra_routes"]

_log = logging.getLogger(__name__)
_content_types = {"xml": b"application/xml; charset=utf-8", "json": b"application/json"}
# A 503 says the call changed nothing and may be sent again: this soon.
_retry_after = (b"retry-after", b"%d" % limits.retry_after_seconds)


class ProtocolError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _format_of(content_type: bytes | None) -> str | None:
    if content_type is None:
        return None
    media = content_type.split(b";", 1)[0].strip().lower()
    if media in (b"application/xml", b"text/xml"):
        return "xml"
    if media == b"application/json":
        return "json"
    return None


def _answer_format(scope: Scope) -> str:
    """By ``Accept``; by the body's format when it is absent or ``*/*``."""
    accept = header(scope, b"accept")
    if accept is not None:
        for part in accept.split(b","):
            wanted = _format_of(part) or ("any" if part.strip().startswith(b"*/*") else None)
            if wanted in ("xml", "json"):
                return wanted
    return _format_of(header(scope, b"content-type")) or "xml"


def _secret_key(value: bytes | None) -> str | None:
    if value is None:
        return None
    text = value.decode("latin-1").strip()
    if text.startswith("SecretKey "):
        return text.removeprefix("SecretKey ").strip()
    if text.startswith("Mindbox "):
        rest = text.removeprefix("Mindbox ").strip()
        if rest.startswith('secretKey="') and rest.endswith('"'):
            return rest[len('secretKey="') : -1]
    return None


def _operation(config: Config, query: dict[str, str], scope: Scope) -> OperationConfig:
    endpoint_id = query.get("endpointId") or query.get("endpoint")
    key = _secret_key(header(scope, b"authorization"))
    endpoint = next((e for e in config.endpoints if e.id == endpoint_id), None)
    # The key is checked even for an unknown endpoint, so that timing tells nothing.
    known = endpoint is not None and key is not None and key in endpoint.secret_key
    if not known:
        raise ProtocolError(401, "Unknown endpoint or wrong secret key")
    operation = next((o for o in config.operations if o.name == query.get("operation")), None)
    if operation is None:
        raise ProtocolError(400, "Operation not found")
    if endpoint_id not in operation.endpoints:
        raise ProtocolError(403, "Operation is not allowed for this endpoint")
    return operation


def _transaction_id(query: dict[str, str]) -> str | None:
    """The call's idempotency key: an id like every other, refused as a
    ProtocolError because it is a query parameter, not part of the body."""
    value = query.get("transactionId")
    if value is None:
        return None
    if len(value) > limits.id_chars_max:
        raise ProtocolError(400, f"transactionId must be at most {limits.id_chars_max} characters")
    problem = refusal(value, free_text=False)
    if problem is not None:
        raise ProtocolError(400, f"transactionId {problem}")
    return value


def _parse(body: bytes, body_format: str | None, operation: OperationConfig) -> dict[str, Any]:
    if body_format is None:
        raise ProtocolError(400, "Content-Type must be application/xml or application/json")
    try:
        if body_format == "xml":
            return codec.parse_xml(body)
        return codec.parse_json(body, exact_decimals=reads_exact_decimals(operation))
    except codec.MalformedRequest as exc:
        raise ProtocolError(400, exc.message) from None


def _render(tree: dict[str, Any], answer_format: str) -> bytes:
    return codec.render_xml(tree) if answer_format == "xml" else codec.render_json(tree)


def _internal_error(
    status: int, message: str, *, logged: str, exc: Exception | None = None
) -> tuple[int, dict[str, Any]]:
    """An ``InternalServerError`` answer whose ``errorId`` is also in the log:
    503 when the store cannot serve now (the call changed nothing and may be
    sent again), 500 for a failure of the server itself."""
    error_id = new_error_id()
    log = _log.warning if status == 503 else _log.error
    log("internal error: %s", logged, exc_info=exc, extra={"error_id": error_id})
    return status, {"status": "InternalServerError", "errorMessage": message, "errorId": error_id}


async def _send(send: Send, status: int, body: bytes, answer_format: str) -> None:
    headers = [
        (b"content-type", _content_types[answer_format]),
        (b"content-length", b"%d" % len(body)),
    ]
    if status == 503:
        headers.append(_retry_after)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _disconnected(receive: Receive) -> None:
    """Returns once the client has gone (the body was read whole before)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def _stream_export(
    state: AppState, receive: Receive, send: Send, fields: Fields, answer_format: str
) -> tuple[int, dict[str, Any]] | None:
    """Streams the export; answers a status and tree only when it fails
    before the first byte went out. Stops when the client goes away: the
    server drops what is sent after that without a word, and the query would
    otherwise run to its end for no one."""
    request = read_export_request(fields)
    chunks = state.ready_store.stream(export_chunks, request, answer_format)
    try:
        first = await anext(chunks)
    except StoreError:
        raise
    except PointkeeperError as exc:
        return 200, wording.refusal_tree(exc)
    headers = [(b"content-type", _content_types[answer_format])]
    gone = asyncio.ensure_future(_disconnected(receive))
    try:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": first, "more_body": True})
        async for chunk in chunks:
            if gone.done():
                _log.info("export stopped: the client went away")
                return None
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except Exception:
        # Too late for another status: the answer stays unfinished, which
        # no parser takes for a complete export.
        _log.exception("export failed while streaming")
        raise
    finally:
        gone.cancel()
        await chunks.aclose()
    await send({"type": "http.response.body", "body": b""})
    return None


async def _run(
    state: AppState, scope: Scope, receive: Receive, send: Send, answer_format: str
) -> tuple[int, dict[str, Any]] | None:
    query = {key: values[0] for key, values in parse_qs(scope["query_string"].decode()).items()}
    config = state.config
    operation = _operation(config, query, scope)
    transaction_id = _transaction_id(query)
    body = await read_body(scope, receive, config.server.body_bytes_max)
    body_format = _format_of(header(scope, b"content-type"))
    tree = _parse(body, body_format, operation)
    fields = Fields(tree, from_xml=body_format == "xml")
    endpoint_id = query.get("endpointId") or query["endpoint"]
    asynchronous_call = scope["path"].endswith("/async")
    if operation.kind == "ExportBalanceChanges":
        if asynchronous_call:
            raise ProtocolError(400, "ExportBalanceChanges cannot run asynchronously")
        return await _stream_export(state, receive, send, fields, answer_format)
    prepared = prepare(fields, operation, transaction_id)
    # Only a kept answer needs the request's fingerprint.
    key = "" if transaction_id is None else request_fingerprint(operation.name, tree)
    if asynchronous_call:
        await state.ready_store.write(
            async_calls.enqueue,
            endpoint_id=endpoint_id,
            operation=operation.name,
            transaction_id=transaction_id,
            fingerprint=key,
            request_format=body_format or "xml",
            body=body,
            now=state.clock(),
        )
        state.async_work.set()
        return 200, {"status": "Success"}

    def work(tx: Tx) -> dict[str, Any]:
        return prepared.run(
            tx,
            endpoint_id=endpoint_id,
            transaction_id=transaction_id,
            fingerprint=key,
            now=state.clock(),
        )

    return 200, {"status": "Success", **await state.ready_store.write(work)}


async def _operations(scope: Scope, receive: Receive, send: Send) -> None:
    state: AppState = scope["app"].state.pointkeeper
    answer_format = _answer_format(scope)
    try:
        outcome = await _run(state, scope, receive, send, answer_format)
    except ProtocolError as exc:
        outcome = exc.status, {"status": "ProtocolError", "errorMessage": exc.message}
    except BodyTooLarge:
        outcome = 413, {"status": "ProtocolError", "errorMessage": "Request body too large"}
    except ClientDisconnect:
        outcome = None  # no one to answer
    except NothingDone as done:
        outcome = 200, {"status": "Success", **done.answer}
    except DuplicateTransaction as exc:
        outcome = 409, wording.refusal_tree(exc)
    except Overloaded as exc:
        outcome = _internal_error(503, exc.message, logged=exc.message)
    except StoreError as exc:
        outcome = _internal_error(503, "Service unavailable; retry later", logged=exc.message)
    except PointkeeperError as exc:
        outcome = 200, wording.refusal_tree(exc)
    except Exception as exc:
        outcome = _internal_error(
            500, "Unexpected server error", logged="unexpected failure", exc=exc
        )
    if outcome is not None:
        status, tree = outcome
        await _send(send, status, _render(tree, answer_format), answer_format)


class _Endpoint:
    """An ASGI endpoint (Starlette would wrap a plain function in its
    request/response machinery, which streaming and raw answers do not use)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _operations(scope, receive, send)


def maestra_routes() -> list[Route]:
    return [
        Route("/v3/operations/sync", _Endpoint(), methods=["POST"]),
        Route("/v3/operations/async", _Endpoint(), methods=["POST"]),
    ]
