"""Request and response bodies of the admin API's promo code endpoints, in
the conventions of ``schemas``: camelCase on the wire, unknown keys refused,
dates ISO 8601 (UTC when no offset is given)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    Field,
    StrictBool,
    StrictInt,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from pointkeeper.domain.orders import PoolDiscount
from pointkeeper.domain.promo import Code, Pool
from pointkeeper.domain.time import Instant, from_datetime, to_datetime
from pointkeeper.limits import (
    code_pattern_chars_max,
    codes_per_generation_max,
    codes_per_import_max,
    discount_excluded_products_max,
    id_chars_max,
    text_chars_max,
)
from pointkeeper.money import format_cents, money_cents

from .schemas import IdCharacters, Text, TextCharacters, UtcDateTime, _Request, _Response

__all__ = [
    "CodeCountsOut",
    "CodeIn",
    "CodeItem",
    "CodeOut",
    "CodesIn",
    "DiscountIn",
    "DiscountOut",
    "GenerateIn",
    "GeneratedOut",
    "ImportOut",
    "Money",
    "Name",
    "PoolIn",
    "PoolOut",
    "ProductId",
    "RejectedOut",
]

Name = Annotated[str, Field(min_length=1, max_length=text_chars_max), TextCharacters]

# Request fields and the pool columns they set, in the order they are written.
_pool_columns = {
    "name": "name",
    "description": "description",
    "issue_start_date_time_utc": "issue_start",
    "issue_end_date_time_utc": "issue_end",
    "available_from_date_time_utc": "available_from",
    "available_till_date_time_utc": "available_till",
    "multi_use": "multi_use",
    "discount": "discount",
}


def _cents(value: object) -> int:
    cents = money_cents(value) if isinstance(value, str) else None
    if cents is None or cents < 0:
        raise ValueError('must be an amount as text with at most two decimals, such as "5.00"')
    return cents


Money = Annotated[
    int,
    BeforeValidator(_cents),
    WithJsonSchema({"type": "string", "pattern": r"^[0-9]{1,15}(\.[0-9]{1,2})?$"}),
]
ProductId = Annotated[str, Field(min_length=1, max_length=id_chars_max), IdCharacters]


class DiscountIn(_Request):
    """What the pool's codes take off an order (docs/orders.md): a
    ``percent`` of the eligible lines or an ``amount`` spread over them."""

    percent: StrictInt | None = Field(None, ge=1, le=100)
    amount: Money | None = None
    order_total_min: Money = Field(
        "0.00",  # read by ``_cents`` like any value sent
        validate_default=True,
        description="The order total it needs: of every line, after the coupons named before it.",
    )
    excluded_products: list[ProductId] = Field(
        default_factory=list, max_length=discount_excluded_products_max
    )

    @model_validator(mode="after")
    def _one_kind(self) -> DiscountIn:
        if (self.percent is None) == (self.amount is None):
            raise ValueError("give either percent or amount")
        if self.amount == 0:
            raise ValueError("amount must be above 0.00")
        return self

    def discount(self) -> PoolDiscount:
        return PoolDiscount(
            percent=self.percent,
            amount=self.amount,
            order_total_min=self.order_total_min,
            excluded_products=frozenset(self.excluded_products),
        )


class DiscountOut(_Response):
    percent: int | None
    amount: str | None
    order_total_min: str
    excluded_products: list[str]

    @classmethod
    def of(cls, discount: PoolDiscount) -> DiscountOut:
        return cls(
            percent=discount.percent,
            amount=None if discount.amount is None else format_cents(discount.amount),
            order_total_min=format_cents(discount.order_total_min),
            excluded_products=sorted(discount.excluded_products),
        )


def _datetime(instant: Instant | None) -> datetime | None:
    return None if instant is None else to_datetime(instant)


class PoolIn(_Request):
    """Every field is optional: only the keys present change, and an explicit
    ``null`` clears a description or a date. A new pool needs a name."""

    name: Name | None = None
    description: Text | None = None
    issue_start_date_time_utc: UtcDateTime | None = Field(
        None, description="Codes are issued from this instant on."
    )
    issue_end_date_time_utc: UtcDateTime | None = Field(
        None, description="Codes are issued until (not at) this instant."
    )
    available_from_date_time_utc: UtcDateTime | None = Field(
        None, description="Default start of a code's availability, for codes without their own."
    )
    available_till_date_time_utc: UtcDateTime | None = Field(
        None, description="Default end of a code's availability, for codes without their own."
    )
    multi_use: StrictBool | None = Field(
        None, description="A multi-use code may be issued to any number of customers."
    )
    discount: DiscountIn | None = Field(
        None, description="What its codes take off an order as coupons; null for none."
    )

    @field_validator("name", "multi_use")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("cannot be null")
        return value

    def columns(self) -> dict[str, Any]:
        """The pool columns this request sets, dates as instants."""
        values: dict[str, Any] = {}
        for field, column in _pool_columns.items():
            if field in self.model_fields_set:
                value = getattr(self, field)
                if isinstance(value, datetime):
                    value = from_datetime(value)
                elif isinstance(value, DiscountIn):
                    value = value.discount()
                values[column] = value
        return values


class CodeCountsOut(_Response):
    available: int = Field(description="Neither issued nor blocked.")
    issued: int = Field(description="Issued; a multi-use code counts once per customer.")
    used: int
    blocked: int


class PoolOut(_Response):
    external_id: str
    name: str
    description: str | None
    issue_start_date_time_utc: datetime | None
    issue_end_date_time_utc: datetime | None
    available_from_date_time_utc: datetime | None
    available_till_date_time_utc: datetime | None
    multi_use: bool
    discount: DiscountOut | None
    counts: CodeCountsOut

    @classmethod
    def of(cls, pool: Pool, counts: tuple[int, int, int, int]) -> PoolOut:
        available, issued, used, blocked = counts
        return cls(
            external_id=pool.external_id,
            name=pool.name,
            description=pool.description,
            issue_start_date_time_utc=_datetime(pool.issue_start),
            issue_end_date_time_utc=_datetime(pool.issue_end),
            available_from_date_time_utc=_datetime(pool.available_from),
            available_till_date_time_utc=_datetime(pool.available_till),
            multi_use=pool.multi_use,
            discount=None if pool.discount is None else DiscountOut.of(pool.discount),
            counts=CodeCountsOut(available=available, issued=issued, used=used, blocked=blocked),
        )


class CodeIn(_Request):
    """A code with its own availability. A date that is not ISO 8601 rejects
    this row only, not the request (so the dates are plain strings here)."""

    value: str
    available_from_date_time_utc: str | None = Field(
        None, description="ISO 8601; the pool's default when absent."
    )
    available_till_date_time_utc: str | None = Field(
        None, description="ISO 8601; the pool's default when absent."
    )


def _code_item(item: object) -> object:
    return {"value": item} if isinstance(item, str) else item


CodeItem = Annotated[
    CodeIn,
    BeforeValidator(_code_item),
    WithJsonSchema({"anyOf": [{"type": "string"}, CodeIn.model_json_schema()]}),
]


class CodesIn(_Request):
    codes: list[CodeItem] = Field(
        max_length=codes_per_import_max,
        description=(
            "Codes to add: each a value or an object with its own availability. "
            "Rows are numbered from 1 in list order."
        ),
    )


class RejectedOut(_Response):
    row: int = Field(description="1-based: the list index, or the CSV data row.")
    value: str
    reason: str


class ImportOut(_Response):
    imported: int
    rejected: list[RejectedOut]

    @classmethod
    def of(cls, imported: int, rejected: list[tuple[int, str, str]]) -> ImportOut:
        """``rejected`` as (row, value, reason), the reasons worded already."""
        return cls(
            imported=imported,
            rejected=[
                RejectedOut(row=row, value=value, reason=reason) for row, value, reason in rejected
            ],
        )


class GenerateIn(_Request):
    count: int = Field(strict=True, ge=1, le=codes_per_generation_max)
    pattern: str = Field(
        min_length=1,
        max_length=code_pattern_chars_max,
        description="X marks a random character from an unambiguous alphabet, e.g. "
        "WELCOME-XXXX-XXXX; at least four X.",
    )


class GeneratedOut(_Response):
    generated: int


class CodeOut(_Response):
    """A code's own state; a multi-use code's issues are per customer and
    are not shown here."""

    value: str
    pool: str = Field(description="The pool's externalId.")
    available_from_date_time_utc: datetime | None = Field(
        description="The code's own; the pool's default applies when null."
    )
    available_till_date_time_utc: datetime | None = Field(
        description="The code's own; the pool's default applies when null."
    )
    blocked_date_time_utc: datetime | None
    issued_customer_id: int | None
    issued_date_time_utc: datetime | None
    used_date_time_utc: datetime | None

    @classmethod
    def of(cls, code: Code, pool: Pool) -> CodeOut:
        return cls(
            value=code.value,
            pool=pool.external_id,
            available_from_date_time_utc=_datetime(code.available_from),
            available_till_date_time_utc=_datetime(code.available_till),
            blocked_date_time_utc=_datetime(code.blocked_at),
            issued_customer_id=code.issued_customer_id,
            issued_date_time_utc=_datetime(code.issued_at),
            used_date_time_utc=_datetime(code.used_at),
        )
