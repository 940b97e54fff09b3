"""The ledger: programs, customers, points of contact, action templates,
customer actions, balance changes, lots, draws and holds.

Instants are BIGINT milliseconds since the epoch, UTC.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def _id() -> sa.Column[Any]:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)


def _ref(name: str, table: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.BigInteger, sa.ForeignKey(f"{table}.id"), nullable=nullable)


def _instant(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.BigInteger, nullable=nullable)


def _text(name: str, *, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.Text, nullable=nullable)


def _partial(where: str) -> dict[str, Any]:
    return {"sqlite_where": sa.text(where), "postgresql_where": sa.text(where)}


def upgrade() -> None:
    op.create_table(
        "programs",
        _id(),
        _text("name", nullable=False),
        _text("earning_description", nullable=False),
        _text("redemption_description", nullable=False),
        _text("balance_type", nullable=False),
        sa.Column("credit_lifetime_days", sa.Integer),
        sa.Column("order_bonus_pending_days", sa.Integer),
        sa.Column("points_per_currency_unit", sa.Integer, nullable=False),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "customers",
        _id(),
        _text("customer_number"),
        _text("website_id"),
        _text("email"),
        _text("mobile_phone"),
        _text("first_name"),
        _text("last_name"),
        _ref("program_id", "programs", nullable=True),
        _text("status"),
        _instant("created_at"),
        sa.UniqueConstraint("customer_number"),
        sa.UniqueConstraint("website_id"),
        sa.UniqueConstraint("email"),
        sa.UniqueConstraint("mobile_phone"),
    )
    op.create_table(
        "points_of_contact",
        _id(),
        _text("external_id", nullable=False),
        _text("name", nullable=False),
        sa.UniqueConstraint("external_id"),
    )
    op.create_table(
        "action_templates",
        _id(),
        _text("system_name", nullable=False),
        _text("name", nullable=False),
        sa.UniqueConstraint("system_name"),
    )
    op.create_table(
        "customer_actions",
        _id(),
        _text("idempotency_key"),
        _text("request_fingerprint"),
        _text("transaction_id"),
        _ref("template_id", "action_templates"),
        _instant("date_time_utc"),
        _ref("point_of_contact_id", "points_of_contact", nullable=True),
        _ref("customer_id", "customers"),
        _instant("recorded_at"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_table(
        "balance_changes",
        _id(),
        _ref("action_id", "customer_actions"),
        _ref("customer_id", "customers"),
        sa.Column("change_amount", sa.BigInteger, nullable=False),
        _text("kind", nullable=False),
        _instant("date_time_utc"),
        _instant("expires_at", nullable=True),
        _instant("available_from", nullable=True),
        _text("comment"),
        _text("document"),
        _text("location"),
        _instant("recorded_at"),
    )
    op.create_index(
        "balance_changes_by_customer", "balance_changes", ["customer_id", "date_time_utc", "id"]
    )
    # Exports read changes by the action's date (copied onto each change) and
    # group them by action.
    op.create_index(
        "balance_changes_by_date", "balance_changes", ["date_time_utc", "action_id", "id"]
    )
    # Which debit a refund reverses: a table of its own, so that the hot
    # balance_changes table carries no index for the rare refund.
    op.create_table(
        "refunds",
        sa.Column(
            "debit_change_id", sa.BigInteger, sa.ForeignKey("balance_changes.id"), primary_key=True
        ),
        _ref("refund_change_id", "balance_changes"),
    )
    op.create_table(
        "lots",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            sa.ForeignKey("balance_changes.id"),
            primary_key=True,
        ),
        _ref("customer_id", "customers"),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("remaining", sa.BigInteger, nullable=False),
        _instant("available_from"),
        _instant("expires_at", nullable=True),
        sa.Column("activated", sa.Boolean, nullable=False),
        sa.CheckConstraint("remaining >= 0 AND remaining <= amount", name="lot_remaining_bounds"),
    )
    op.create_index(
        "lots_drawable", "lots", ["customer_id", "expires_at", "id"], **_partial("remaining > 0")
    )
    op.create_index(
        "lots_to_expire",
        "lots",
        ["expires_at"],
        **_partial("remaining > 0 AND expires_at IS NOT NULL"),
    )
    op.create_index("lots_to_activate", "lots", ["available_from"], **_partial("NOT activated"))
    op.create_table(
        "lot_draws",
        _id(),
        _ref("balance_change_id", "balance_changes"),
        _ref("lot_id", "lots"),
        sa.Column("points", sa.BigInteger, nullable=False),
    )
    op.create_index("lot_draws_by_change", "lot_draws", ["balance_change_id"])
    op.create_index("lot_draws_by_lot", "lot_draws", ["lot_id"])
    op.create_table(
        "holds",
        _id(),
        _text("auth_code", nullable=False),
        _ref("customer_id", "customers"),
        _text("sale_id", nullable=False),
        sa.Column("points", sa.BigInteger, nullable=False),
        _text("location"),
        _text("status", nullable=False),
        _instant("created_at"),
        _instant("expires_at"),
        _instant("resolved_at", nullable=True),
        _ref("payment_change_id", "balance_changes", nullable=True),
        sa.UniqueConstraint("auth_code"),
    )
    op.create_index("holds_by_sale", "holds", ["customer_id", "sale_id"])
    op.create_index("holds_open_by_expiry", "holds", ["expires_at"], **_partial("status = 'open'"))
    op.create_index(
        "holds_open_by_customer", "holds", ["customer_id"], **_partial("status = 'open'")
    )
    op.create_table(
        "hold_draws",
        _ref("hold_id", "holds"),
        _ref("lot_id", "lots"),
        sa.Column("points", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("hold_id", "lot_id"),
    )
