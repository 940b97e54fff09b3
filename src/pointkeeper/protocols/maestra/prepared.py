"""What every operation kind gives back (``Prepared``): shared by the kind
modules and the routes, importing none of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pointkeeper.config import OperationConfig
from pointkeeper.domain.time import Instant
from pointkeeper.services.idempotency import run_once
from pointkeeper.store.tx import Tx

from .fields import Fields

__all__ = ["Kind", "Prepared", "Work"]

Work = Callable[[Tx, Instant], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Prepared:
    """A checked request: the work to run, and whether it changes state (and
    so is kept under its transactionId)."""

    work: Work
    changes_state: bool

    def run(
        self,
        tx: Tx,
        *,
        endpoint_id: str,
        transaction_id: str | None,
        fingerprint: str,
        now: Instant,
    ) -> dict[str, Any]:
        """Runs the work; a state-changing call once per transactionId."""
        return run_once(
            tx,
            lambda inner: self.work(inner, now),
            endpoint_id=endpoint_id,
            transaction_id=transaction_id if self.changes_state else None,
            fingerprint=fingerprint,
            now=now,
        )


# An operation kind: checks a request (refusals are ``InvalidRequest``s)
# for an operation and its transactionId.
Kind = Callable[[Fields, OperationConfig, str | None], Prepared]
