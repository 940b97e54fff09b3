"""A customer's open holds by expiry.

"Is anything of this customer due?" is asked before every write; with the
open holds indexed by customer alone, a customer with thousands of open
holds (a busy till's account) had them all read each time.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"

_open: dict[str, Any] = {
    "sqlite_where": sa.text("status = 'open'"),
    "postgresql_where": sa.text("status = 'open'"),
}


def upgrade() -> None:
    op.create_index(
        "holds_open_by_customer_expiry", "holds", ["customer_id", "expires_at"], **_open
    )
    op.drop_index("holds_open_by_customer", "holds")
