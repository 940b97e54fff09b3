"""The admin API's promo code endpoints: pools, importing, generating and
blocking codes. Parse, call one service, render.

They share the other endpoints' prefix, documented error answers and
application state (``routes``); errors are translated by ``errors``.

Importing takes JSON or, as ``Content-Type: text/csv``, a CSV file read by
``codes_csv``. FastAPI cannot parse a body of either kind into one parameter,
so that endpoint reads the raw body itself (the body limit still applies: it
is enforced by middleware around the whole app) and raises JSON validation
failures as FastAPI would, so they answer like every other bad body.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from pointkeeper.app_state import AppState
from pointkeeper.errors import ErrorCode, InvalidRequest
from pointkeeper.limits import codes_per_import_max, id_chars_max
from pointkeeper.services import promo
from pointkeeper.services.promo import ImportResult, ImportRow

from .. import codes_csv
from ..codes_csv import Rejection
from . import routes, wording
from .promo_schemas import (
    CodeOut,
    CodesIn,
    GeneratedOut,
    GenerateIn,
    ImportOut,
    PoolIn,
    PoolOut,
)
from .routes import State
from .schemas import IdCharacters

__all__ = [
    "CodeValue",
    "PoolId",
    "get_pool",
    "post_block",
    "post_codes",
    "post_generate",
    "put_pool",
    "router",
]

PoolId = Annotated[
    str, Path(alias="externalId", min_length=1, max_length=id_chars_max), IdCharacters
]
CodeValue = Annotated[str, Path(alias="value", min_length=1, max_length=id_chars_max), IdCharacters]

router = APIRouter(prefix="/v1", responses=routes.router.responses, tags=["promo codes"])

_csv_example = (
    "value,availableFromDateTimeUtc,availableTillDateTimeUtc\r\n"
    "SPRING-0001,,\r\n"
    "SPRING-0002,2026-03-01T00:00:00Z,2026-06-01T00:00:00Z\r\n"
)
_codes_body: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": CodesIn.model_json_schema()},
            "text/csv": {"schema": {"type": "string"}, "example": _csv_example},
        },
    }
}


async def _pool_out(state: AppState, external_id: str) -> PoolOut:
    pool, counts = await state.ready_store.read(promo.pool_view, external_id)
    return PoolOut.of(pool, counts)


@router.put("/pools/{externalId}")
async def put_pool(state: State, external_id: PoolId, body: PoolIn) -> PoolOut:
    """Creates or updates a pool: only the keys given change. A new pool
    needs a name and is single-use unless ``multiUse`` says otherwise."""
    await state.ready_store.write(promo.put_pool, external_id, values=body.columns())
    return await _pool_out(state, external_id)


@router.get("/pools/{externalId}")
async def get_pool(state: State, external_id: PoolId) -> PoolOut:
    """The pool with the counts of its codes."""
    return await _pool_out(state, external_id)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").partition(";")[0].strip().lower()


def _json_items(body: bytes) -> list[ImportRow | Rejection]:
    try:
        codes = CodesIn.model_validate_json(body).codes
    except ValidationError as exc:
        errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        raise RequestValidationError(errors, body=body) from None
    return [
        codes_csv.code_row(
            row,
            code.value,
            available_from=code.available_from_date_time_utc,
            available_till=code.available_till_date_time_utc,
        )
        for row, code in enumerate(codes, start=1)
    ]


def _csv_items(body: bytes) -> list[ImportRow | Rejection]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        message = f"The CSV body must be UTF-8: {exc.reason} at byte {exc.start}"
        raise InvalidRequest(message) from None
    items = list(
        itertools.islice(
            codes_csv.read_codes(io.StringIO(text, newline="")), codes_per_import_max + 1
        )
    )
    if len(items) > codes_per_import_max:
        raise InvalidRequest(
            code=ErrorCode.too_many_codes, field="codes", codes_max=codes_per_import_max
        )
    return items


def _body_items(request: Request, body: bytes) -> list[ImportRow | Rejection]:
    media_type = _media_type(request)
    if media_type == "text/csv":
        return _csv_items(body)
    if media_type in ("", "application/json") or (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        return _json_items(body)
    raise InvalidRequest(f"The body must be application/json or text/csv, not {media_type}")


def _merged(result: ImportResult, refused: Iterable[Rejection]) -> ImportOut:
    early = [(item.row, item.value, item.reason) for item in refused]
    worded = [(row, value, wording.reason(why)) for row, value, why in result.rejected]
    return ImportOut.of(result.imported, sorted([*early, *worded]))


@router.post("/pools/{externalId}/codes", openapi_extra=_codes_body)
async def post_codes(state: State, external_id: PoolId, request: Request) -> ImportOut:
    """Adds codes from JSON or a CSV body (``text/csv``: a header row naming
    ``value`` and optionally ``availableFromDateTimeUtc`` and
    ``availableTillDateTimeUtc``; UTF-8, a byte order mark, blank lines and
    CRLF are fine). Each row is imported whole or rejected with its reason:
    a bad value or date, a duplicate in the request, a code that exists
    already. Rows are numbered from 1: JSON items in list order, CSV rows as
    they stand in the file after the header (a skipped blank line keeps its
    number, so row N is line N + 1 when the header is line 1)."""
    items = _body_items(request, await request.body())
    rows = [item for item in items if isinstance(item, ImportRow)]
    refused = [item for item in items if isinstance(item, Rejection)]
    result = await state.ready_store.write(promo.import_codes, external_id, rows)
    return _merged(result, refused)


@router.post("/pools/{externalId}/codes/generate")
async def post_generate(state: State, external_id: PoolId, body: GenerateIn) -> GeneratedOut:
    """Adds ``count`` new random codes made from ``pattern``."""
    generated = await state.ready_store.write(
        promo.generate_codes, external_id, count=body.count, pattern=body.pattern
    )
    return GeneratedOut(generated=generated)


@router.post("/promo-codes/{value}/block")
async def post_block(state: State, value: CodeValue) -> CodeOut:
    """Blocks a code: it is never issued or redeemed again. Blocking a
    blocked code keeps the first blocking time."""
    code, pool = await state.ready_store.write(promo.block_code, value, now=state.clock())
    return CodeOut.of(code, pool)
