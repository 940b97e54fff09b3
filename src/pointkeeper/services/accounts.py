"""A customer's account as the operations see it: the settled balances, a
page of the action history, and several balance changes as one call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from pointkeeper.domain.customers import Customer
from pointkeeper.domain.ledger import Balances
from pointkeeper.domain.time import Instant
from pointkeeper.errors import InsufficientBalance
from pointkeeper.store.tx import ActionChangeRow, Tx

from .adjustments import BalanceChangeRequest, change_balance
from .customers import find_customer
from .ledger import current_balances, settle

__all__ = ["Account", "ActionPage", "account", "action_page", "change_account"]

_balance_type_default = "Points"


@dataclass(frozen=True, slots=True)
class Account:
    """A customer with the figures of a settled ledger."""

    customer: Customer
    balances: Balances
    # The customer's program's balance type; the default one without a program.
    balance_type: str


@dataclass(frozen=True, slots=True)
class ActionPage:
    """A page of a customer's actions, with the names its rows refer to."""

    actions_total: int
    # Each action's balance changes, actions oldest first.
    rows: list[ActionChangeRow]
    templates: dict[int, tuple[str, str]]
    points_of_contact: dict[int, str]


def _account(tx: Tx, customer: Customer, now: Instant) -> Account:
    program = None if customer.program_id is None else tx.program(customer.program_id)
    return Account(
        customer=customer,
        balances=current_balances(tx, customer, now=now),
        balance_type=_balance_type_default if program is None else program.balance_type,
    )


def _settled_customer(tx: Tx, kind: str, value: object, now: Instant) -> Customer:
    customer = find_customer(tx, kind, value)
    settle(tx, customer.id, now=now)
    return customer


def account(tx: Tx, *, customer_kind: str, customer_value: object, now: Instant) -> Account:
    """The customer's balances, its ledger settled first."""
    return _account(tx, _settled_customer(tx, customer_kind, customer_value, now), now)


def action_page(
    tx: Tx,
    *,
    customer_kind: str,
    customer_value: object,
    since: Instant,
    till: Instant | None,
    page_number: int,
    per_page: int,
    now: Instant,
) -> ActionPage:
    """The customer's actions from ``since`` up to ``till`` (now, without
    it), ``per_page`` to a page; the ledger settled first."""
    customer = _settled_customer(tx, customer_kind, customer_value, now)
    end = now + 1 if till is None else till
    rows = tx.customer_action_page(
        customer.id, since=since, till=end, offset=(page_number - 1) * per_page, limit=per_page
    )
    # Only the templates and points of contact the page names: the tables
    # grow with the project, a page does not.
    return ActionPage(
        actions_total=tx.customer_action_count(customer.id, since=since, till=end),
        rows=rows,
        templates=tx.templates_by_id({row.template_id for row in rows}),
        points_of_contact=tx.points_of_contact_by_id(
            {row.point_of_contact_id for row in rows if row.point_of_contact_id is not None}
        ),
    )


def change_account(
    tx: Tx,
    *,
    customer_kind: str,
    customer_value: object,
    changes: Sequence[BalanceChangeRequest],
    template: str,
    now: Instant,
) -> Account:
    """Applies the changes in order as actions of ``template`` (created the
    first time it is used, named as its system name); answers the account
    after them. The caller keeps the idempotency of the call as a whole."""
    tx.ensure_template(template, name=template)
    for change in (replace(change, action_template=template) for change in changes):
        try:
            change_balance(
                tx,
                customer_kind=customer_kind,
                customer_value=customer_value,
                request=change,
                key_scope=None,
                now=now,
            )
        except InsufficientBalance as exc:
            raise exc.restated(field="change_amount") from None
    return _account(tx, find_customer(tx, customer_kind, customer_value), now)
