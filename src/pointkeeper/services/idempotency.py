"""Running a state-changing call once per transactionId."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from pointkeeper.domain.time import Instant
from pointkeeper.errors import DuplicateTransaction, ErrorCode
from pointkeeper.store.tx import Tx

__all__ = ["NothingDone", "run_once"]


class NothingDone(Exception):
    """A call that is answered but changes nothing and keeps nothing under
    its transactionId (an order whose price changed: its retry is judged
    anew). Raised out of the unit of work, so that the transactionId it
    claimed is rolled back with everything else; the protocol answers
    ``answer``."""

    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__("answered without a change")
        self.answer = answer


def run_once(
    tx: Tx,
    work: Callable[[Tx], dict[str, Any]],
    *,
    endpoint_id: str,
    transaction_id: str | None,
    fingerprint: str,
    now: Instant,
) -> dict[str, Any]:
    """Runs ``work`` and keeps its answer under the transactionId, in the same
    transaction, so that a crash cannot separate the two. A retry with the same
    request answers the kept answer and does nothing; another request under the
    same id is a ``DuplicateTransaction``. A refused call keeps nothing: its
    retry is judged anew."""
    if transaction_id is None:
        return work(tx)
    if not tx.claim_operation(
        endpoint_id, transaction_id=transaction_id, fingerprint=fingerprint, at=now
    ):
        kept = tx.operation_result(endpoint_id, transaction_id=transaction_id)
        assert kept is not None
        kept_fingerprint, result = kept
        if kept_fingerprint != fingerprint:
            raise DuplicateTransaction(code=ErrorCode.transaction_reused)
        answer: dict[str, Any] = orjson.loads(result)
        return answer
    answer = work(tx)
    tx.record_operation_result(
        endpoint_id, transaction_id=transaction_id, result=orjson.dumps(answer)
    )
    return answer
