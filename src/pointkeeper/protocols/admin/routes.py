"""The admin API's endpoints: parse, call one service, render.

Each handler gets the application state through ``Depends(_state)``; error
translation lives in ``errors`` and the token check in ``auth``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import orjson
from fastapi import APIRouter, Body, Depends, Path, Query, Request

from pointkeeper.app_state import AppState
from pointkeeper.domain.time import Instant, from_datetime, to_datetime
from pointkeeper.jobs import run_jobs
from pointkeeper.limits import id_chars_max, int64_max
from pointkeeper.protocols.fingerprint import request_fingerprint
from pointkeeper.services import async_calls, customers, ledger, loyalty, reference
from pointkeeper.services.adjustments import BalanceChangeRequest, change_balance
from pointkeeper.services.reads import read_settled

from .schemas import (
    ActionTemplateIn,
    ActionTemplateOut,
    AsyncOperationOut,
    BalanceChangeIn,
    BalanceChangeOut,
    CustomerIn,
    CustomerOut,
    ErrorOut,
    IdCharacters,
    JobsOut,
    PointOfContactIn,
    PointOfContactOut,
    RefundIn,
    RefundOut,
)

__all__ = [
    "CustomerNumber",
    "State",
    "balance_change_fingerprint",
    "get_async_operations",
    "get_customer",
    "post_balance_change",
    "post_jobs_run",
    "post_refund",
    "put_action_template",
    "put_customer",
    "put_point_of_contact",
    "router",
]


def _state(request: Request) -> AppState:
    state: AppState = request.app.state.pointkeeper
    return state


State = Annotated[AppState, Depends(_state)]
CustomerNumber = Annotated[
    str, Path(alias="customerNumber", min_length=1, max_length=id_chars_max), IdCharacters
]
_errors: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorOut, "description": description}
    for status, description in (
        (400, "Invalid request"),
        (401, "Missing or wrong admin token"),
        (404, "Not found"),
        (409, "Conflict or not enough points"),
        (413, "Body too large"),
        (503, "Too many writes waiting; retry"),
    )
}

router = APIRouter(prefix="/v1", responses=_errors)


async def _customer_view(state: AppState, customer_number: str) -> CustomerOut:
    customer, program, balances = await read_settled(
        state.ready_store,
        loyalty.customer_view,
        customer_number=customer_number,
        clock=state.clock,
    )
    return CustomerOut.of(customer, program, balances)


@router.put("/customers/{customerNumber}", tags=["customers"])
async def put_customer(
    state: State, customer_number: CustomerNumber, body: CustomerIn
) -> CustomerOut:
    """Creates or updates a customer; naming a program enrolls them."""
    fields = body.model_dump(exclude_unset=True, exclude={"program"})
    await state.ready_store.write(
        customers.put_customer,
        customer_number,
        fields=fields,
        program=body.program,
        now=state.clock(),
    )
    return await _customer_view(state, customer_number)


@router.get("/customers/{customerNumber}", tags=["customers"])
async def get_customer(state: State, customer_number: CustomerNumber) -> CustomerOut:
    """The customer with every balance figure."""
    return await _customer_view(state, customer_number)


def _instant(value: datetime | None) -> Instant | None:
    return None if value is None else from_datetime(value)


def _balance_change(body: BalanceChangeIn) -> BalanceChangeRequest:
    return BalanceChangeRequest(
        change_amount=body.change_amount,
        kind=body.kind,
        comment=body.comment,
        at=_instant(body.date_time_utc),
        expires_at=_instant(body.expiration_date_time_utc),
        available_from=_instant(body.available_from_date_time_utc),
        transaction_id=body.transaction_id,
        point_of_contact=body.point_of_contact,
        action_template=body.action_template,
    )


def balance_change_fingerprint(customer_number: str, body: BalanceChangeIn) -> str:
    """The request as it came over the wire: its camelCase fields, values as
    JSON gives them (dates in UTC), a field left out the same as one sent as
    null, and the customer (the same transactionId for another customer is
    another request)."""
    fields = body.model_dump(mode="json", by_alias=True, exclude_none=True)
    return request_fingerprint(
        "admin/balance-changes", {"customerNumber": customer_number, **fields}
    )


@router.post("/customers/{customerNumber}/balance-changes", status_code=201, tags=["customers"])
async def post_balance_change(
    state: State, customer_number: CustomerNumber, body: BalanceChangeIn
) -> BalanceChangeOut:
    """Credits (positive) or debits (negative) a customer by hand."""
    customer_id, recorded = await state.ready_store.write(
        change_balance,
        customer_kind="customer_number",
        customer_value=customer_number,
        request=_balance_change(body),
        key_scope="admin",
        fingerprint=balance_change_fingerprint(customer_number, body),
        now=state.clock(),
    )
    view = await _customer_view(state, customer_number)
    return BalanceChangeOut(customer_id=customer_id, recorded=recorded, balances=view.balances)


@router.post("/balance-changes/{balanceChangeId}/refund", status_code=201, tags=["ledger"])
async def post_refund(
    state: State,
    # Bounded: a larger id is no row, and the databases cannot even compare it.
    balance_change_id: Annotated[int, Path(alias="balanceChangeId", ge=1, le=int64_max)],
    body: Annotated[RefundIn | None, Body()] = None,
) -> RefundOut:
    """Gives a debit's points back into the lots it drew from."""
    refund_id = await state.ready_store.write(
        ledger.refund,
        balance_change_id,
        now=state.clock(),
        comment=None if body is None else body.comment,
    )
    return RefundOut(refund_change_id=refund_id)


@router.put("/points-of-contact/{externalId}", tags=["reference data"])
async def put_point_of_contact(
    state: State,
    external_id: Annotated[
        str, Path(alias="externalId", min_length=1, max_length=id_chars_max), IdCharacters
    ],
    body: PointOfContactIn,
) -> PointOfContactOut:
    """Creates or renames a point of contact (a store, the web shop, an app)."""
    stored_id, name = await state.ready_store.write(
        reference.put_point_of_contact, external_id=external_id, name=body.name
    )
    return PointOfContactOut(external_id=stored_id, name=name)


@router.put("/action-templates/{systemName}", tags=["reference data"])
async def put_action_template(
    state: State,
    system_name: Annotated[
        str,
        Path(alias="systemName", pattern=r"^[A-Za-z][A-Za-z0-9_.-]*$", max_length=id_chars_max),
        IdCharacters,
    ],
    body: ActionTemplateIn,
) -> ActionTemplateOut:
    """Creates or renames an action template."""
    stored_name, name = await state.ready_store.write(
        reference.put_action_template, system_name=system_name, name=body.name
    )
    return ActionTemplateOut(system_name=stored_name, name=name)


@router.post("/jobs/run", tags=["jobs"])
async def post_jobs_run(state: State) -> JobsOut:
    """Runs hold timeouts, expiry, pending activation and waiting
    asynchronous calls now."""
    report = await run_jobs(
        state.ready_store,
        state.clock,
        async_calls=state.async_calls,
        retention_days=state.config.jobs.retention_days,
    )
    ledger = report.ledger
    return JobsOut(
        holds_expired=ledger.holds_expired,
        lots_expired=ledger.lots_expired,
        points_expired=ledger.points_expired,
        credits_activated=ledger.credits_activated,
        async_operations=report.async_operations,
        pruned=report.pruned,
    )


@router.get("/async-operations", tags=["jobs"])
async def get_async_operations(
    state: State,
    transaction_id: Annotated[
        str, Query(alias="transactionId", min_length=1, max_length=id_chars_max), IdCharacters
    ],
) -> list[AsyncOperationOut]:
    """The asynchronous calls made with this transactionId and their outcome."""
    calls = await state.ready_store.read(async_calls.listed, transaction_id=transaction_id)
    return [
        AsyncOperationOut(
            id=call.id,
            endpoint_id=call.endpoint_id,
            operation=call.operation,
            transaction_id=call.transaction_id,
            status=call.status,
            attempts=call.attempts,
            result=None if call.result is None else orjson.loads(call.result),
            error=call.error,
            created_at=to_datetime(call.created_at),
            finished_at=None if call.finished_at is None else to_datetime(call.finished_at),
        )
        for call in calls
    ]
