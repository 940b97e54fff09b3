"""ExportBalanceChanges (seed 000): every customer action with balance
changes dated in [since, till), oldest first, streamed.

An export may hold millions of actions, so it is never a tree in memory:
rows come from the store a few thousand at a time and are written as text
into chunks of about ``chunk_bytes`` that go out as they fill. Names that
repeat (templates, points of contact) are read as the rows first name them
and escaped once, a bounded number kept at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from pointkeeper import limits
from pointkeeper.errors import InvalidRequest, NotFound
from pointkeeper.store.tx import Tx

from .codec import escape_text
from .dates import format_date
from .fields import Fields

__all__ = ["Batches", "ExportRequest", "chunk_bytes", "export_chunks", "read_export_request"]

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
    segment = fields.identifier("segment", "ids", "externalId")
    return ExportRequest(since, till, segment)


# The same escaping as every other answer of the protocol.
_xml = escape_text


Batches = Iterator[list[tuple[Any, ...]]]

_action_end = "</customerBalanceChanges></customerAction>"


class _Escaped(dict[Any, str]):
    """A few distinct values (change kinds), each formatted once per export."""

    def __init__(self, render: Callable[[Any], str]) -> None:
        super().__init__()
        self._render = render

    def __missing__(self, key: Any) -> str:
        value = self[key] = self._render(key)
        return value


class _Names(dict[int | None, str]):
    """The markup of the templates (or points of contact) an export's rows
    name, read from the store as batches first name them: the tables grow
    with the project, and an export needs only what its rows carry. Past
    ``limits.export_names_cached_max`` the markup kept is dropped and read
    again as needed, so memory stays bounded however many there are."""

    def __init__(
        self,
        read: Callable[[set[int]], dict[int, Any]],
        render: Callable[[Any], str],
        *,
        absent: str | None = None,
    ) -> None:
        super().__init__()
        self._read = read
        self._render = render
        self._absent = absent
        self._restart()

    def _restart(self) -> None:
        self.clear()
        if self._absent is not None:
            self[None] = self._absent

    def cover(self, ids: set[int | None]) -> None:
        """Reads the markup of those of ``ids`` not here yet."""
        missing = ids - self.keys()
        if not missing:
            return
        if len(self) + len(missing) > limits.export_names_cached_max:
            self._restart()
            missing = ids - self.keys()
        for key, value in self._read({i for i in missing if i is not None}).items():
            self[key] = self._render(value)


def _cover(templates: _Names, places: _Names, rows: list[tuple[Any, ...]]) -> None:
    # Rows are in ``ActionChangeRow`` order: the template id comes fourth,
    # the point of contact id fifth.
    templates.cover({row[3] for row in rows})
    places.cover({row[4] for row in rows})


def _xml_rows(tx: Tx, batches: Batches) -> Iterator[str]:
    """One string per batch of rows: everything an action repeats (template,
    point of contact, kind) is formatted once, with the markup around it."""
    templates = _Names(
        tx.templates_by_id,
        lambda names: (
            f"</ids><actionTemplate><systemName>{_xml(names[0])}</systemName>"
            f"<name>{_xml(names[1])}</name></actionTemplate><dateTimeUtc>"
        ),
    )
    places = _Names(
        tx.points_of_contact_by_id,
        lambda external_id: (
            f"</dateTimeUtc><pointOfContact><ids><externalId>{_xml(external_id)}"
            "</externalId></ids></pointOfContact><customer><ids><customerId>"
        ),
        absent="</dateTimeUtc><customer><ids><customerId>",
    )
    kinds = _Escaped(
        lambda kind: (
            f"<balanceChangeKind><systemName>{_xml(kind)}</systemName>"
            "</balanceChangeKind></customerBalanceChange>"
        )
    )
    yield '<?xml version="1.0" encoding="utf-8"?><result><status>Success</status><customerActions>'
    current = None
    for rows in batches:
        _cover(templates, places, rows)
        parts: list[str] = []
        append = parts.append
        for row in rows:
            (
                action_id,
                at,
                transaction_id,
                template,
                place,
                customer,
                website,
                amount,
                expiry,
                kind,
            ) = row
            if action_id != current:
                if current is not None:
                    append(_action_end)
                current = action_id
                transaction = (
                    ""
                    if transaction_id is None
                    else f"<transactionId>{_xml(transaction_id)}</transactionId>"
                )
                web = "" if website is None else f"<webSiteId>{_xml(website)}</webSiteId>"
                append(
                    f"<customerAction><ids><customerActionId>{action_id}</customerActionId>"
                    f"{transaction}{templates[template]}{format_date(at)}{places[place]}"
                    f"{customer}</customerId>{web}</ids></customer><customerBalanceChanges>"
                )
            expires = (
                ""
                if expiry is None
                else f"<expirationDateTimeUtc>{format_date(expiry)}</expirationDateTimeUtc>"
            )
            append(
                f"<customerBalanceChange><changeAmount>{amount}</changeAmount>{expires}{kinds[kind]}"
            )
        yield "".join(parts)
    if current is not None:
        yield _action_end
    yield "</customerActions></result>"


def _json_str(text: str) -> str:
    """``text`` as a JSON string, as orjson writes it: printable text without
    quotes or backslashes goes as it is."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return orjson.dumps(text).decode()


def _json_rows(tx: Tx, batches: Batches) -> Iterator[str]:
    """The same text ``orjson`` makes of each action's tree, written directly."""
    templates = _Names(
        tx.templates_by_id,
        lambda names: (
            f'}},"actionTemplate":{{"systemName":{_json_str(names[0])},'
            f'"name":{_json_str(names[1])}}},"dateTimeUtc":"'
        ),
    )
    places = _Names(
        tx.points_of_contact_by_id,
        lambda external_id: (
            f'","pointOfContact":{{"ids":{{"externalId":{_json_str(external_id)}}}}},'
            '"customer":{"ids":{"customerId":'
        ),
        absent='","customer":{"ids":{"customerId":',
    )
    kinds = _Escaped(lambda kind: f'"balanceChangeKind":{{"systemName":{_json_str(kind)}}}}}')
    yield '{"status":"Success","customerActions":['
    current = None
    for rows in batches:
        _cover(templates, places, rows)
        parts: list[str] = []
        append = parts.append
        for row in rows:
            (
                action_id,
                at,
                transaction_id,
                template,
                place,
                customer,
                website,
                amount,
                expiry,
                kind,
            ) = row
            if action_id != current:
                if current is not None:
                    append("]},")
                current = action_id
                transaction = (
                    ""
                    if transaction_id is None
                    else ',"transactionId":' + _json_str(transaction_id)
                )
                web = "" if website is None else ',"webSiteId":' + _json_str(website)
                append(
                    f'{{"ids":{{"customerActionId":{action_id}{transaction}{templates[template]}'
                    f'{format_date(at)}{places[place]}{customer}{web}}}}},"customerBalanceChanges":['
                )
            else:
                append(",")
            expires = (
                "" if expiry is None else '"expirationDateTimeUtc":"' + format_date(expiry) + '",'
            )
            append(f'{{"changeAmount":{amount},{expires}{kinds[kind]}')
        yield "".join(parts)
    if current is not None:
        yield "]}"
    yield "]}"


def export_chunks(tx: Tx, request: ExportRequest, answer_format: str) -> Iterator[bytes]:
    """The whole answer as chunks of about ``chunk_bytes``; runs on a reader
    connection inside one snapshot."""
    segment_id = None
    if request.segment is not None:
        segment_id = tx.segment_id(request.segment)
        if segment_id is None:
            raise NotFound("Segment not found", field="/operation/segment/ids/externalId")
    rows = tx.export_rows(since=request.since, till=request.till, segment_id=segment_id)
    pieces: Callable[[Tx, Batches], Iterator[str]] = (
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
