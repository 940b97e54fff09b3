"""Reference data every transaction relies on: programs from the
configuration and the action templates the server itself writes."""

from __future__ import annotations

from typing import Any

from pointkeeper.config import ProgramConfig
from pointkeeper.domain.customers import Program
from pointkeeper.store.tx import SqliteTx

__all__ = [
    "BUILTIN_TEMPLATES",
    "TEMPLATE_ADMIN",
    "TEMPLATE_EARN",
    "TEMPLATE_EXPIRY",
    "TEMPLATE_PAYMENT",
    "TEMPLATE_REFUND",
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


def sync_reference_data(tx: SqliteTx, programs: tuple[ProgramConfig, ...]) -> dict[str, Any]:
    """Writes the configured programs and the built-in templates, and answers
    the context the store hands to every later transaction."""
    for program in programs:
        tx.upsert_program(program.model_dump())
    templates = {
        system_name: tx.upsert_template(system_name, name)
        for system_name, name in BUILTIN_TEMPLATES.items()
    }
    loaded: dict[int, Program] = tx.load_programs()
    return {"programs": loaded, "templates": templates}
