"""Request and response bodies of the admin API.

Names are camelCase on the wire and snake_case in Python. Requests refuse
unknown keys, and integers are strict: ``1.0``, ``"1"`` and ``true`` are not
points. Dates are ISO 8601 strings; one without an offset is UTC. Ids hold
no control character and free text only tab and line ends
(``protocols.text``); path and query ids use the same ``IdCharacters``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
)
from pydantic.alias_generators import to_camel

from pointkeeper import limits
from pointkeeper.domain.customers import Customer, Program
from pointkeeper.domain.ledger import KIND_CUSTOM, Balances
from pointkeeper.limits import id_chars_max, points_per_request_max, text_chars_max
from pointkeeper.protocols.text import refusal

__all__ = [
    "ActionTemplateIn",
    "ActionTemplateOut",
    "AsyncOperationOut",
    "BalanceChangeIn",
    "BalanceChangeOut",
    "BalancesOut",
    "CustomerIn",
    "CustomerOut",
    "ErrorBody",
    "ErrorOut",
    "Id",
    "IdCharacters",
    "JobsOut",
    "PointOfContactIn",
    "PointOfContactOut",
    "RefundIn",
    "RefundOut",
    "Text",
    "TextCharacters",
    "UtcDateTime",
]


def _iso_string(value: object) -> object:
    # Only strings: pydantic would otherwise read a number as Unix seconds.
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date string, e.g. 2026-01-01T00:00:00.000Z")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be an ISO 8601 date, e.g. 2026-01-01T00:00:00.000Z") from None


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _id_characters(value: str) -> str:
    problem = refusal(value, free_text=False)
    if problem is not None:
        raise ValueError(problem)
    return value


def _text_characters(value: str) -> str:
    problem = refusal(value, free_text=True)
    if problem is not None:
        raise ValueError(problem)
    return value


UtcDateTime = Annotated[datetime, BeforeValidator(_iso_string), AfterValidator(_as_utc)]
# Annotations for any string that is an id, in a body, a path or a query, and
# for free text: PostgreSQL cannot store U+0000, and control characters in
# ids break logs, CSV exports and XML answers.
IdCharacters = AfterValidator(_id_characters)
TextCharacters = AfterValidator(_text_characters)
Id = Annotated[str, Field(min_length=1, max_length=id_chars_max), IdCharacters]
Text = Annotated[str, Field(max_length=text_chars_max), TextCharacters]


class _Request(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, extra="forbid", frozen=True)


class _Response(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True, frozen=True)


class CustomerIn(_Request):
    """Every field is optional: only the keys present change, and an
    explicit ``null`` clears a field."""

    website_id: Id | None = None
    email: Id | None = None
    mobile_phone: Id | None = None
    first_name: Text | None = None
    last_name: Text | None = None
    program: Id | None = Field(
        None, description="A program name: enrolls the customer (status active unless given)."
    )
    status: Literal["active", "inactive", "closed"] | None = None

    @field_validator("program")
    @classmethod
    def _program_not_cleared(cls, program: str | None) -> str | None:
        # Leaving a program is a status change; the enrollment stays on record.
        if program is None:
            raise ValueError("cannot be null; set status to inactive or closed instead")
        return program


class BalancesOut(_Response):
    point_balance: int
    open_authorizations: int
    available_point_balance: int
    pending_points_earned: int
    blocked_value: int

    @classmethod
    def of(cls, balances: Balances) -> BalancesOut:
        return cls(
            point_balance=balances.point_balance,
            open_authorizations=balances.open_authorizations,
            available_point_balance=balances.available,
            pending_points_earned=balances.pending,
            blocked_value=balances.blocked,
        )


class CustomerOut(_Response):
    customer_id: int
    customer_number: str | None
    website_id: str | None
    email: str | None
    mobile_phone: str | None
    first_name: str | None
    last_name: str | None
    program: str | None
    status: str | None
    balances: BalancesOut

    @classmethod
    def of(cls, customer: Customer, program: Program | None, balances: Balances) -> CustomerOut:
        return cls(
            customer_id=customer.id,
            customer_number=customer.customer_number,
            website_id=customer.website_id,
            email=customer.email,
            mobile_phone=customer.mobile_phone,
            first_name=customer.first_name,
            last_name=customer.last_name,
            program=None if program is None else program.name,
            status=customer.status,
            balances=BalancesOut.of(balances),
        )


class BalanceChangeIn(_Request):
    change_amount: int = Field(
        strict=True,
        ge=-points_per_request_max,
        le=points_per_request_max,
        description="Points: positive credits, negative debits; never 0.",
    )
    kind: Annotated[str, IdCharacters] = Field(
        KIND_CUSTOM, min_length=1, max_length=limits.action_kind_chars_max
    )
    comment: Text | None = None
    date_time_utc: UtcDateTime | None = Field(None, description="Back-dates the action.")
    expiration_date_time_utc: UtcDateTime | None = None
    available_from_date_time_utc: UtcDateTime | None = None
    transaction_id: Id | None = Field(
        None, description="Idempotency key: the same request again records nothing new."
    )
    point_of_contact: Id | None = Field(None, description="A point of contact's externalId.")
    action_template: Id | None = Field(None, description="An action template's systemName.")


class BalanceChangeOut(_Response):
    customer_id: int
    recorded: bool = Field(description="False when transactionId was a replay.")
    balances: BalancesOut


class RefundIn(_Request):
    comment: Text | None = None


class RefundOut(_Response):
    refund_change_id: int


class PointOfContactIn(_Request):
    name: Text = Field(min_length=1)


class PointOfContactOut(_Response):
    external_id: str
    name: str


class ActionTemplateIn(_Request):
    name: Text = Field(min_length=1)


class ActionTemplateOut(_Response):
    system_name: str
    name: str


class JobsOut(_Response):
    holds_expired: int
    lots_expired: int
    points_expired: int
    credits_activated: int
    async_operations: int
    pruned: int = Field(
        description="Kept transactionId answers and finished asynchronous calls past their"
        " retention (jobs.retention_days), deleted."
    )


class AsyncOperationOut(_Response):
    id: int
    endpoint_id: str
    operation: str
    transaction_id: str | None
    status: str
    attempts: int
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None


class ErrorBody(_Response):
    code: str = Field(description="snake_case, e.g. insufficient_balance")
    message: str
    field: str | None = Field(None, description="The request field at fault, if one is.")
    error_id: str | None = Field(
        None, description="On a 500 or 503: the id the server log gives the failure."
    )


class ErrorOut(_Response):
    error: ErrorBody
