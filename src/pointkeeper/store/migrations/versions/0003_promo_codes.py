"""Promo code pools, codes, and the issues of multi-use codes.

A single-use code carries its one issue and its use on its own row, so
that "take a free code" is one conditional update on one row; a multi-use
code may be issued to many customers, one row each in promo_issues.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def _id() -> sa.Column[Any]:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)


def _ref(name: str, table: str, *, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.BigInteger, sa.ForeignKey(f"{table}.id"), nullable=nullable)


def _instant(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.BigInteger, nullable=True)


def upgrade() -> None:
    op.create_table(
        "promo_pools",
        _id(),
        sa.Column("external_id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        _instant("issue_start"),
        _instant("issue_end"),
        _instant("available_from"),
        _instant("available_till"),
        sa.Column("multi_use", sa.Boolean, nullable=False),
        sa.UniqueConstraint("external_id"),
    )
    op.create_table(
        "promo_codes",
        _id(),
        sa.Column("value", sa.Text, nullable=False),
        _ref("pool_id", "promo_pools", nullable=False),
        _instant("available_from"),
        _instant("available_till"),
        _instant("blocked_at"),
        _ref("issued_customer_id", "customers"),
        _ref("issued_point_of_contact_id", "points_of_contact"),
        _instant("issued_at"),
        _ref("used_point_of_contact_id", "points_of_contact"),
        _instant("used_at"),
        sa.UniqueConstraint("value"),
    )
    # The free codes of a pool in the order they are handed out: issuing
    # reads the first one, whatever the pool's size and however many are
    # gone. Multi-use codes never carry an issued customer, so they stay in
    # it too. No plain index on pool_id: SQLite preferred it, and then walked
    # past every issued code on each issue (15 issues/s on a half-used pool
    # of a million).
    op.create_index(
        "promo_codes_free",
        "promo_codes",
        ["pool_id", "id"],
        sqlite_where=sa.text("issued_customer_id IS NULL AND blocked_at IS NULL"),
        postgresql_where=sa.text("issued_customer_id IS NULL AND blocked_at IS NULL"),
    )
    op.create_table(
        "promo_issues",
        _ref("code_id", "promo_codes", nullable=False),
        _ref("customer_id", "customers", nullable=False),
        _ref("point_of_contact_id", "points_of_contact"),
        _instant("issued_at"),
        _ref("used_point_of_contact_id", "points_of_contact"),
        _instant("used_at"),
        sa.PrimaryKeyConstraint("code_id", "customer_id"),
    )
