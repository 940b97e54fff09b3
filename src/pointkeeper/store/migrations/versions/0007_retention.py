"""Indexes for pruning what is kept only for a while: transactionId results
by when they were recorded, finished asynchronous calls by when they
finished.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_index("operation_results_by_age", "operation_results", ["recorded_at"])
    op.create_index(
        "async_operations_finished",
        "async_operations",
        ["finished_at"],
        sqlite_where=sa.text("finished_at IS NOT NULL"),
        postgresql_where=sa.text("finished_at IS NOT NULL"),
    )
