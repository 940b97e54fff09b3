"""The queue of asynchronous calls: stored durably before the caller is
answered, executed later by the jobs, exactly once.

A call's work, its kept result and its ``done`` mark are one transaction: a
worker killed half-way leaves the call queued and its work undone, and the
next run does it. A transient failure (the store) is tried again with a
growing delay, up to ``limits.async_call_attempts_max``; a refusal is final.
What a call does and how its answer reads belong to the protocol that
queued it (a ``CallRunner``); the queue knows neither.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from pointkeeper import limits, metrics
from pointkeeper.domain.time import Instant, ms_per_second
from pointkeeper.errors import DuplicateTransaction, ErrorCode, StoreError
from pointkeeper.store.tx import AsyncOperation, LockBusy, Tx

from .idempotency import NothingDone

__all__ = ["CallRunner", "enqueue", "listed", "run_due"]

_retry_delay_ms_first = 1 * ms_per_second


class CallRunner(Protocol):
    """What the protocol that queues calls gives the jobs to run them."""

    def run(self, tx: Tx, call: AsyncOperation, now: Instant) -> dict[str, Any]:
        """Does the call's work in ``tx``; answers the result to keep."""
        ...

    def refusal(self, error: Exception) -> dict[str, Any] | None:
        """The result to keep for an error that refuses the call for good,
        or None when the error is not a refusal (it then propagates)."""
        ...


def enqueue(
    tx: Tx,
    *,
    endpoint_id: str,
    operation: str,
    transaction_id: str | None,
    fingerprint: str,
    request_format: str,
    body: bytes,
    now: Instant,
) -> None:
    """Stores a call; the same transactionId again is the same call (a
    retry), unless the request differs."""
    queued = tx.enqueue_async(
        endpoint_id=endpoint_id,
        operation=operation,
        transaction_id=transaction_id,
        fingerprint=fingerprint,
        request_format=request_format,
        body=body,
        at=now,
    )
    if queued is None:
        assert transaction_id is not None
        existing = tx.async_operation_by_transaction(endpoint_id, transaction_id=transaction_id)
        assert existing is not None
        if existing.fingerprint != fingerprint:
            raise DuplicateTransaction(code=ErrorCode.transaction_reused)


def _try_again(tx: Tx, call: AsyncOperation, error: str, now: Instant) -> None:
    if call.attempts + 1 >= limits.async_call_attempts_max:
        tx.finish_async_operation(call.id, status="failed", result=None, error=error, at=now)
    else:
        delay = _retry_delay_ms_first * 2**call.attempts
        tx.retry_async_operation(call.id, error=error, next_attempt_at=now + delay)


def run_due(tx: Tx, *, runner: CallRunner, now: Instant) -> int:
    """Executes up to a batch of due calls; answers how many were handled.
    A call whose customer another writer holds now stays queued as it is,
    for a later run."""
    due = tx.due_async_operations(now, limit=limits.async_calls_per_batch_max)
    handled = 0
    for call in due:
        try:
            with tx.savepoint():
                answer = runner.run(tx, call, now)
        except LockBusy:
            continue
        except StoreError as exc:
            _try_again(tx, call, exc.message, now)
            metrics.count(metrics.async_failures, outcome="retried")
        except Exception as exc:
            refused = runner.refusal(exc)
            if refused is None:
                raise
            # A call answered without a change (NothingDone) was done, not refused.
            done = isinstance(exc, NothingDone)
            tx.finish_async_operation(
                call.id,
                status="done" if done else "failed",
                result=orjson.dumps(refused),
                error=None if done else str(exc),
                at=now,
            )
            if not done:
                metrics.count(metrics.async_failures, outcome="failed")
        else:
            tx.finish_async_operation(
                call.id, status="done", result=orjson.dumps(answer), error=None, at=now
            )
        handled += 1
    return handled


def listed(tx: Tx, *, transaction_id: str) -> list[AsyncOperation]:
    """The calls queued under a transactionId, on every endpoint, for an
    operator; at most ``limits.async_operations_listed_max``."""
    return tx.async_operations_by_transaction(transaction_id, limits.async_operations_listed_max)
