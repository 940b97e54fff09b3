"""Reads that must see a settled ledger."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pointkeeper import limits
from pointkeeper.domain.time import Instant
from pointkeeper.store import Store

from .loyalty import NeedsSettlement, settle_customer

__all__ = ["read_settled"]


async def read_settled(
    store: Store,
    work: Callable[..., Any],
    *,
    customer_number: str,
    clock: Callable[[], Instant],
    **kwargs: Any,
) -> Any:
    """Runs a read; when the customer has due holds or expired lots, settles
    them through the writer first, so figures and history agree with the
    ledger that the periodic jobs would have written."""
    for _ in range(limits.settled_read_attempts_max):
        now = clock()
        try:
            return await store.read(work, customer_number=customer_number, now=now, **kwargs)
        except NeedsSettlement:
            await store.write(settle_customer, customer_number=customer_number, now=now)
    raise RuntimeError("the ledger kept falling due while being read")
