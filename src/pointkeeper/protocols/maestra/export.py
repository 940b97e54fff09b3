"""ExportBalanceChanges (seed 000): every customer action with balance
changes dated in [since, till), oldest first, streamed.

An export may hold millions of actions, so it is never a tree in memory:
rows come from the store a few thousand at a time and are written as text
into chunks of about ``chunk_bytes`` that go out as they fill. Names that
repeat (templates, points of contact) are escaped once per export.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from pointkeeper import limits
from pointkeeper.errors import InvalidRequest, NotFound
from pointkeeper.store.tx import SqliteTx

from .codec import escape_text
from .dates import format_date
from .fields import Fields

__all__ = ["ExportRequest", "export_chunks", "read_export_request"]

chunk_bytes = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ExportRequest:
    since: int
    till: int
    segment: str | None


def read_export_request(fields: Fields) -> ExportRequest:
    since = fields.date("sinceDateTimeUtc", required=True)
    till = fields.date("tillDateTimeUtc", required=True)
    assert since is not None and till is not None
    if till <= since:
        raise InvalidRequest(
            "must come after sinceDateTimeUtc", field=fields.where("tillDateTimeUtc")
        )
    segment = fields.text("segment", "ids", "externalId", chars_max=limits.id_chars_max)
    return ExportRequest(since, till, segment)


# The same escaping as every other answer of the protocol.
_xml = escape_text


def _xml_action(row: tuple[Any, ...], templates: dict[int, str], places: dict[int, str]) -> str:
    action_id, at, transaction_id, template_id, place_id, customer_id, website_id = row[:7]
    return "".join(
        (
            "<customerAction><ids><customerActionId>",
            str(action_id),
            "</customerActionId>",
            ""
            if transaction_id is None
            else f"<transactionId>{_xml(transaction_id)}</transactionId>",
            "</ids>",
            templates[template_id],
            "<dateTimeUtc>",
            format_date(at),
            "</dateTimeUtc>",
            "" if place_id is None else places[place_id],
            "<customer><ids><customerId>",
            str(customer_id),
            "</customerId>",
            "" if website_id is None else f"<webSiteId>{_xml(website_id)}</webSiteId>",
            "</ids></customer><customerBalanceChanges>",
        )
    )


def _xml_change(row: tuple[Any, ...]) -> str:
    amount, expires_at, kind = row[7:]
    expiry = (
        ""
        if expires_at is None
        else f"<expirationDateTimeUtc>{format_date(expires_at)}</expirationDateTimeUtc>"
    )
    return (
        f"<customerBalanceChange><changeAmount>{amount}</changeAmount>{expiry}"
        f"<balanceChangeKind><systemName>{_xml(kind)}</systemName></balanceChangeKind>"
        "</customerBalanceChange>"
    )


def _xml_rows(tx: SqliteTx, rows: Iterator[tuple[Any, ...]]) -> Iterator[str]:
    templates = {
        template_id: (
            f"<actionTemplate><systemName>{_xml(system_name)}</systemName>"
            f"<name>{_xml(name)}</name></actionTemplate>"
        )
        for template_id, (system_name, name) in tx.templates_by_id().items()
    }
    places = {
        place_id: f"<pointOfContact><ids><externalId>{_xml(external_id)}</externalId></ids>"
        "</pointOfContact>"
        for place_id, external_id in tx.points_of_contact_by_id().items()
    }
    yield '<?xml version="1.0" encoding="utf-8"?><result><status>Success</status><customerActions>'
    current = None
    for row in rows:
        if row[0] != current:
            if current is not None:
                yield "</customerBalanceChanges></customerAction>"
            current = row[0]
            yield _xml_action(row, templates, places)
        yield _xml_change(row)
    if current is not None:
        yield "</customerBalanceChanges></customerAction>"
    yield "</customerActions></result>"


def _json_rows(tx: SqliteTx, rows: Iterator[tuple[Any, ...]]) -> Iterator[str]:
    templates = {
        template_id: {"systemName": system_name, "name": name}
        for template_id, (system_name, name) in tx.templates_by_id().items()
    }
    places = tx.points_of_contact_by_id()
    yield '{"status":"Success","customerActions":['
    action: dict[str, Any] | None = None
    separator = ""
    for row in rows:
        if action is None or row[0] != action["ids"]["customerActionId"]:
            if action is not None:
                yield separator + orjson.dumps(action).decode()
                separator = ","
            action_id, at, transaction_id, template_id, place_id, customer_id, website_id = row[:7]
            ids: dict[str, Any] = {"customerId": customer_id}
            if website_id is not None:
                ids["webSiteId"] = website_id
            action = {
                "ids": {"customerActionId": action_id}
                | ({} if transaction_id is None else {"transactionId": transaction_id}),
                "actionTemplate": templates[template_id],
                "dateTimeUtc": format_date(at),
            }
            if place_id is not None:
                action["pointOfContact"] = {"ids": {"externalId": places[place_id]}}
            action["customer"] = {"ids": ids}
            action["customerBalanceChanges"] = []
        change: dict[str, Any] = {"changeAmount": row[7]}
        if row[8] is not None:
            change["expirationDateTimeUtc"] = format_date(row[8])
        change["balanceChangeKind"] = {"systemName": row[9]}
        action["customerBalanceChanges"].append(change)
    if action is not None:
        yield separator + orjson.dumps(action).decode()
    yield "]}"


def export_chunks(tx: SqliteTx, request: ExportRequest, answer_format: str) -> Iterator[bytes]:
    """The whole answer as chunks of about ``chunk_bytes``; runs on a reader
    connection inside one snapshot."""
    segment_id = None
    if request.segment is not None:
        segment_id = tx.segment_id(request.segment)
        if segment_id is None:
            raise NotFound("Segment not found", field="/operation/segment/ids/externalId")
    rows = tx.export_rows(request.since, request.till, segment_id)
    pieces: Callable[[SqliteTx, Iterator[tuple[Any, ...]]], Iterator[str]] = (
        _xml_rows if answer_format == "xml" else _json_rows
    )
    buffer: list[str] = []
    size = 0
    for piece in pieces(tx, rows):
        buffer.append(piece)
        size += len(piece)
        if size >= chunk_bytes:
            yield "".join(buffer).encode()
            buffer.clear()
            size = 0
    yield "".join(buffer).encode()
