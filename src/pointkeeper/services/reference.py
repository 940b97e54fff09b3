"""Reference data every transaction relies on: programs from the
configuration and the action templates the server itself writes."""

from __future__ import annotations

from typing import Any

from pointkeeper.config import ProgramConfig
from pointkeeper.domain.customers import Program
from pointkeeper.store.tx import Tx

__all__ = [
    "BUILTIN_TEMPLATES",
    "TEMPLATE_ADMIN",
    "TEMPLATE_EARN",
    "TEMPLATE_EXPIRY",
    "TEMPLATE_PAYMENT",
    "TEMPLATE_REFUND",
    "put_action_template",
    "put_point_of_contact",
    "sync_reference_data",
]

TEMPLATE_EARN = "Loyalty.Earn"
TEMPLATE_PAYMENT = "Loyalty.RetailOrderPayment"
TEMPLATE_EXPIRY = "Loyalty.Expiry"
TEMPLATE_REFUND = "Loyalty.Refund"
TEMPLATE_ADMIN = "Admin.BalanceChange"

BUILTIN_TEMPLATES = {
    TEMPLATE_EARN: "Loyalty points earned",
    TEMPLATE_PAYMENT: "Paying for a retail order with points",
    TEMPLATE_EXPIRY: "Points expiry",
    TEMPLATE_REFUND: "Refund of a points payment",
    TEMPLATE_ADMIN: "Manual balance change",
}


def sync_reference_data(tx: Tx, programs: tuple[ProgramConfig, ...]) -> dict[str, Any]:
    """Writes the configured programs and the built-in templates, and answers
    the context the store hands to every later transaction."""
    for program in programs:
        tx.upsert_program(program.model_dump())
    # Built-in templates are created once; an operator may rename them later.
    templates = {
        system_name: tx.ensure_template(system_name, name)
        for system_name, name in BUILTIN_TEMPLATES.items()
    }
    loaded: dict[int, Program] = tx.load_programs()
    return {"programs": loaded, "templates": templates}


def put_point_of_contact(tx: Tx, *, external_id: str, name: str) -> tuple[str, str]:
    """Creates or renames a point of contact; answers (externalId, name)."""
    tx.upsert_point_of_contact(external_id, name)
    stored = tx.point_of_contact(external_id)
    assert stored is not None
    return stored


def put_action_template(tx: Tx, *, system_name: str, name: str) -> tuple[str, str]:
    """Creates or renames an action template; answers (systemName, name)."""
    tx.upsert_template(system_name, name)
    stored = tx.template(system_name)
    assert stored is not None
    return stored
