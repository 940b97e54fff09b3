"""Retail orders: the order, its lines with their shares, its coupons and
the ledger changes it made; and a pool's discount.

An order's payment and bonus are ordinary balance changes; ``orders``
names them, and ``order_changes`` the refunds and take-backs its
cancelled and returned lines made later, so that a partial refund knows
what went back to which lot before.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def _id() -> sa.Column[Any]:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)


def _ref(name: str, table: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.BigInteger, sa.ForeignKey(f"{table}.id"), nullable=nullable)


def _number(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.BigInteger, nullable=False)


def upgrade() -> None:
    # A pool's discount as JSON (docs/orders.md): few pools, read whole.
    op.add_column("promo_pools", sa.Column("discount", sa.Text, nullable=True))
    op.create_table(
        "orders",
        _id(),
        _ref("customer_id", "customers"),
        _ref("program_id", "programs"),
        sa.Column("website_id", sa.Text, nullable=True),
        _ref("point_of_contact_id", "points_of_contact", nullable=True),
        sa.Column("transaction_id", sa.Text, nullable=True),
        _number("date_time_utc"),
        _number("recorded_at"),
        _number("spent"),
        _number("earned"),
        _ref("payment_change_id", "balance_changes", nullable=True),
        _ref("bonus_change_id", "balance_changes", nullable=True),
        _number("refunded"),
        _number("taken_back"),
        _number("shortfall"),
        # Of what was taken back, the part the bonus had lost to expiry already.
        _number("bonus_expired"),
        sa.UniqueConstraint("website_id"),
    )
    op.create_index("orders_by_customer", "orders", ["customer_id", "date_time_utc", "id"])
    # A refund by hand must not reverse an order's payment behind its back.
    op.create_index(
        "orders_by_payment",
        "orders",
        ["payment_change_id"],
        sqlite_where=sa.text("payment_change_id IS NOT NULL"),
        postgresql_where=sa.text("payment_change_id IS NOT NULL"),
    )
    op.create_table(
        "order_lines",
        _ref("order_id", "orders"),
        _number("line_number"),
        sa.Column("line_id", sa.Text, nullable=True),
        sa.Column("product", sa.Text, nullable=False),
        sa.Column("category", sa.Text, nullable=True),
        _number("price_per_item"),
        _number("quantity"),
        _number("base"),
        _number("discount"),
        _number("spent"),
        _number("paid"),
        _number("earned"),
        sa.Column("status", sa.Text, nullable=True),
        _number("quantity_cancelled"),
        _number("quantity_returned"),
        _number("refunded"),
        _number("taken_back"),
        sa.PrimaryKeyConstraint("order_id", "line_number"),
    )
    op.create_table(
        "order_coupons",
        _ref("order_id", "orders"),
        _ref("code_id", "promo_codes"),
        _number("discount"),
        sa.Column("given_back", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("order_id", "code_id"),
    )
    op.create_table(
        "order_changes",
        sa.Column(
            "change_id", sa.BigInteger, sa.ForeignKey("balance_changes.id"), primary_key=True
        ),
        _ref("order_id", "orders"),
        sa.Column("role", sa.Text, nullable=False),  # "refund" or "take_back"
    )
    op.create_index("order_changes_by_order", "order_changes", ["order_id"])
