"""``pointkeeper pools``, ``pointkeeper codes`` and ``pointkeeper
import-codes``: promo code pools and codes from the shell, through the same
service functions as the admin API, printing JSON.

A pool's ``--discount`` is the admin API's ``discount`` as JSON, read by the
admin API's own schema, so that both refuse the same values in the same
words.

``import-codes`` is for files of millions of rows: it reads the CSV as it
goes and imports it in transactions of ``--batch-rows`` rows, each whole
or not at all, so memory stays flat and a crash loses at most the batch in
flight. Running the same file again is safe: codes already imported are
rejected as "already exists".
"""

from __future__ import annotations

import contextlib
import gc
import io
import itertools
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from pointkeeper import limits
from pointkeeper.domain.orders import PoolDiscount
from pointkeeper.domain.promo import Code, Pool
from pointkeeper.domain.time import Instant, to_datetime
from pointkeeper.domain.time import now as clock_now
from pointkeeper.errors import PointkeeperError
from pointkeeper.limits import codes_per_generation_max, codes_per_import_max
from pointkeeper.money import format_cents
from pointkeeper.protocols.codes_csv import Rejection, parse_instant, read_codes
from pointkeeper.services import promo as service
from pointkeeper.services.promo import ImportRow
from pointkeeper.store import Store

from .store import config_option, echo_json, load, opened_store

if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = [
    "batch_rows_default",
    "block",
    "codes",
    "generate",
    "import_codes",
    "pools",
    "put",
    "show",
]

# Every commit rewrites each page of the value index that the batch touched;
# with random codes that is most of the index, so fewer, larger batches write
# far less. Measured on a million random codes: 100,000 rows per batch
# imports in under 20 s, 10,000 rows per batch takes about 30 s (and writes
# six times as much WAL). A live server's writes wait for one batch at most.
batch_rows_default = codes_per_import_max
# Exit status of an import that ran to the end but rejected rows: neither
# success (0) nor a stopped import (1) nor a usage error (2).
_exit_rejected = 3
_pool_options = (
    "name",
    "description",
    "issue_start",
    "issue_end",
    "available_from",
    "available_till",
    "multi_use",
    "discount",
)


def _iso(instant: Instant | None) -> str | None:
    return None if instant is None else to_datetime(instant).isoformat().replace("+00:00", "Z")


def _discount_json(discount: PoolDiscount | None) -> dict[str, object] | None:
    # The admin API's ``DiscountOut``: money as text, products sorted.
    if discount is None:
        return None
    return {
        "percent": discount.percent,
        "amount": None if discount.amount is None else format_cents(discount.amount),
        "orderTotalMin": format_cents(discount.order_total_min),
        "excludedProducts": sorted(discount.excluded_products),
    }


def _pool_json(pool: Pool, counts: tuple[int, int, int, int]) -> dict[str, object]:
    available, issued, used, blocked = counts
    return {
        "externalId": pool.external_id,
        "name": pool.name,
        "description": pool.description,
        "issueStartDateTimeUtc": _iso(pool.issue_start),
        "issueEndDateTimeUtc": _iso(pool.issue_end),
        "availableFromDateTimeUtc": _iso(pool.available_from),
        "availableTillDateTimeUtc": _iso(pool.available_till),
        "multiUse": pool.multi_use,
        "discount": _discount_json(pool.discount),
        "counts": {"available": available, "issued": issued, "used": used, "blocked": blocked},
    }


def _code_json(code: Code, pool: Pool) -> dict[str, object]:
    return {
        "value": code.value,
        "pool": pool.external_id,
        "availableFromDateTimeUtc": _iso(code.available_from),
        "availableTillDateTimeUtc": _iso(code.available_till),
        "blockedDateTimeUtc": _iso(code.blocked_at),
        "issuedCustomerId": code.issued_customer_id,
        "issuedDateTimeUtc": _iso(code.issued_at),
        "usedDateTimeUtc": _iso(code.used_at),
    }


def _date(ctx: click.Context, param: click.Parameter, text: str | None) -> Instant | None:
    if not text:
        return None
    try:
        return parse_instant(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not an ISO 8601 date such as 2026-01-01T00:00:00Z"
        ) from None


def _discount(ctx: click.Context, param: click.Parameter, text: str | None) -> PoolDiscount | None:
    # None both when the option is absent and when it is "null": ``put``
    # tells the two apart by the option's source.
    if text is None:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise click.BadParameter(f"not JSON: {exc}") from None
    if value is None:
        return None
    if not isinstance(value, dict):
        raise click.BadParameter('must be a JSON object such as {"percent": 10}, or null')
    # Loaded only when a discount is given: the CLI starts without FastAPI.
    from pydantic import ValidationError

    from pointkeeper.protocols.admin.promo_schemas import DiscountIn

    try:
        return DiscountIn.model_validate(value).discount()
    except ValidationError as exc:
        raise click.BadParameter(_invalid(exc)) from None


def _invalid(exc: ValidationError) -> str:
    # The first error in the admin API's words: its message, then the key
    # (camelCase, dotted) in brackets.
    first = exc.errors()[0]
    message = "Unknown field" if first["type"] == "extra_forbidden" else first["msg"]
    message = message.removeprefix("Value error, ")
    field = ".".join(str(part) for part in first["loc"])
    return message + (f" ({field})" if field else "")


@click.group()
def pools() -> None:
    """Promo code pools: create, change, show, fill with generated codes."""


@pools.command("put")
@click.argument("external_id", metavar="POOL")
@click.option("--name", help="The pool's name; a new pool needs one.")
@click.option("--description", help="A description; '' clears it.")
@click.option("--issue-start", callback=_date, help="Codes are issued from then on.")
@click.option("--issue-end", callback=_date, help="Codes are issued until then.")
@click.option("--available-from", callback=_date, help="Default start of code availability.")
@click.option("--available-till", callback=_date, help="Default end of code availability.")
@click.option("--multi-use/--single-use", default=None, help="New pools are single-use.")
@click.option(
    "--discount",
    metavar="JSON",
    callback=_discount,
    help=(
        "What its codes take off an order as coupons, as in the admin API: "
        '\'{"percent": 10}\' or \'{"amount": "5.00", "orderTotalMin": "20.00", '
        '"excludedProducts": ["GIFT"]}\' (money as text); \'null\' clears it.'
    ),
)
@config_option
def put(external_id: str, config_path: str | None, **options: Any) -> None:
    """Create or change the pool POOL (only the options given change); print
    it with its discount and code counts as JSON. Dates are ISO 8601, UTC
    unless an offset is given; an empty date or description clears it."""
    ctx = click.get_current_context()
    given = [n for n in _pool_options if ctx.get_parameter_source(n) is not ParameterSource.DEFAULT]
    values: dict[str, Any] = {name: options[name] for name in given}
    if values.get("description") == "":
        values["description"] = None
    with opened_store(load(config_path)) as store:
        store.write_sync(service.put_pool, external_id, values=values)
        pool, counts = store.read_sync(service.pool_view, external_id)
    echo_json(_pool_json(pool, counts))


@pools.command("show")
@click.argument("external_id", metavar="POOL")
@config_option
def show(external_id: str, config_path: str | None) -> None:
    """Print the pool POOL with its discount and code counts as JSON."""
    with opened_store(load(config_path)) as store:
        pool, counts = store.read_sync(service.pool_view, external_id)
    echo_json(_pool_json(pool, counts))


@pools.command("generate")
@click.argument("external_id", metavar="POOL")
@click.option("--count", required=True, type=click.IntRange(1, codes_per_generation_max))
@click.option("--pattern", required=True, help="X marks a random character, e.g. WELCOME-XXXX.")
@config_option
def generate(external_id: str, count: int, pattern: str, config_path: str | None) -> None:
    """Add COUNT new random codes made from PATTERN to POOL."""
    with opened_store(load(config_path)) as store:
        generated = store.write_sync(
            service.generate_codes, external_id, count=count, pattern=pattern
        )
    echo_json({"generated": generated})


@click.group()
def codes() -> None:
    """Single promo codes."""


@codes.command("block")
@click.argument("value")
@config_option
def block(value: str, config_path: str | None) -> None:
    """Block the code VALUE for good; print its state as JSON."""
    with opened_store(load(config_path)) as store:
        code, pool = store.write_sync(service.block_code, value, now=clock_now())
    echo_json(_code_json(code, pool))


# -- import-codes --------------------------------------------------------------


@dataclass(slots=True)
class _Summary:
    rows: int = 0
    imported: int = 0
    rejected: int = 0
    first_rejections: list[tuple[int, str, str]] = field(default_factory=list)
    stopped: str | None = None
    seconds: float = 0.0

    def add(self, *, rows: int, imported: int, rejected: list[tuple[int, str, str]]) -> None:
        self.rows += rows
        self.imported += imported
        self.rejected += len(rejected)
        room = limits.import_rejections_shown_max - len(self.first_rejections)
        self.first_rejections.extend(rejected[: max(room, 0)])

    def as_json(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "imported": self.imported,
            "rejected": self.rejected,
            "firstRejections": [
                {"row": row, "value": _shown(value), "reason": reason}
                for row, value, reason in self.first_rejections
            ],
            "stopped": self.stopped,
            "seconds": round(self.seconds, 3),
            "rowsPerSecond": round(self.rows / self.seconds) if self.seconds > 0 else None,
        }


def _shown(value: str) -> str:
    if len(value) <= limits.import_shown_value_chars_max:
        return value
    return value[: limits.import_shown_value_chars_max - 1] + "…"


def _batches(
    items: Iterator[ImportRow | Rejection], size: int
) -> Iterator[tuple[list[ImportRow], list[Rejection]]]:
    """The items in batches of at most ``size``: rows for the store, and
    rows refused already."""
    while batch := list(itertools.islice(items, size)):
        rows = [item for item in batch if type(item) is ImportRow]
        if len(rows) == len(batch):
            yield rows, []
        else:
            yield rows, [item for item in batch if type(item) is Rejection]


def _import_batch(
    store: Store, pool: str, rows: list[ImportRow], refused: list[Rejection]
) -> tuple[int, list[tuple[int, str, str]]]:
    from pointkeeper.protocols.admin import wording

    result = store.write_sync(service.import_codes, pool, rows) if rows else None
    imported = 0 if result is None else result.imported
    rejected = (
        [] if result is None else [(r, v, wording.reason(why)) for r, v, why in result.rejected]
    )
    if refused:
        rejected = sorted([*((r.row, r.value, r.reason) for r in refused), *rejected])
    return imported, rejected


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    # An import allocates millions of small objects and no cycles: the cyclic
    # collector would scan them over and over and free nothing (8% of the
    # import's time, measured).
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _import_file(store: Store, pool: str, path: Path, *, batch_rows: int) -> _Summary:
    # The CLI speaks the admin API's words (``store.refusal``).
    from pointkeeper.protocols.admin import wording

    summary = _Summary()
    started = time.perf_counter()
    with (
        _no_cyclic_gc(),
        path.open("rb") as raw,
        io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text,
        click.progressbar(length=path.stat().st_size, label="importing", file=sys.stderr) as bar,
    ):
        try:
            for rows, refused in _batches(read_codes(text), batch_rows):
                imported, rejected = _import_batch(store, pool, rows, refused)
                summary.add(rows=len(rows) + len(refused), imported=imported, rejected=rejected)
                bar.update(raw.tell() - bar.pos)
        except PointkeeperError as exc:
            summary.stopped = wording.message(exc)
        except UnicodeDecodeError as exc:
            summary.stopped = f"the file is not UTF-8 ({exc.reason}) after {summary.rows} rows"
        except OSError as exc:
            summary.stopped = f"reading the file failed: {exc}"
    summary.seconds = time.perf_counter() - started
    return summary


@click.command("import-codes")
@click.argument("pool")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--batch-rows",
    type=click.IntRange(1, codes_per_import_max),
    default=batch_rows_default,
    show_default=True,
    help="Rows per transaction: fewer keeps a live server's writes waiting less, but is slower.",
)
@config_option
def import_codes(pool: str, file: Path, batch_rows: int, config_path: str | None) -> None:
    """Import the promo codes of the CSV FILE into POOL.

    FILE is UTF-8 with a header row naming the column value and, if wanted,
    availableFromDateTimeUtc and availableTillDateTimeUtc (ISO 8601, UTC
    unless an offset is given). Rows are numbered from 1 after the header,
    counting blank lines. The summary (JSON on stdout) shows the first
    rejections; the exit status is 0 when every row was imported, 3 when
    the import ran to the end but rejected rows, 1 when it stopped (unknown
    pool, a bad header, an unreadable file), 2 for a usage error."""
    with opened_store(load(config_path)) as store:
        store.read_sync(service.pool_view, pool)
        summary = _import_file(store, pool, file, batch_rows=batch_rows)
    echo_json(summary.as_json())
    if summary.stopped is not None:
        raise click.ClickException(f"the import stopped: {summary.stopped}")
    if summary.rejected:
        click.get_current_context().exit(_exit_rejected)
