"""Asynchronous calls (``/v3/operations/async``): stored durably before the
answer, executed later by the jobs, exactly once.

A call's work, its kept transactionId result and its ``done`` mark are one
transaction: a worker killed half-way leaves the call queued and its work
undone, and the next run does it. A transient failure (the store) is tried
again with a growing delay; a refusal (a ``ValidationError``) is final.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from pointkeeper import limits
from pointkeeper.config import Config
from pointkeeper.domain.time import Instant, ms_per_second
from pointkeeper.errors import DuplicateTransaction, PointkeeperError, StoreError
from pointkeeper.services.idempotency import run_once
from pointkeeper.store.tx import AsyncOperation, LockBusy, Tx

from . import codec
from .fields import Fields
from .kinds import prepare
from .prepared import error_location

__all__ = ["enqueue", "run_due"]

_log = logging.getLogger(__name__)
_retry_delay_ms_first = 1 * ms_per_second


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
            raise DuplicateTransaction(
                "This transactionId was already used for a different request"
            )


def _execute(tx: Tx, call: AsyncOperation, config: Config, now: Instant) -> dict[str, Any]:
    operation = next((o for o in config.operations if o.name == call.operation), None)
    if operation is None:
        raise PointkeeperError(f"Operation {call.operation} is no longer configured")
    parse = codec.parse_xml if call.request_format == "xml" else codec.parse_json
    fields = Fields(parse(call.body), from_xml=call.request_format == "xml")
    prepared = prepare(fields, operation, call.transaction_id)
    answer = run_once(
        tx,
        lambda inner: prepared.work(inner, now),
        endpoint_id=call.endpoint_id,
        transaction_id=call.transaction_id if prepared.changes_state else None,
        fingerprint=call.fingerprint,
        now=now,
    )
    return {"status": "Success", **answer}


def _refusal(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, DuplicateTransaction):
        return {"status": "ProtocolError", "errorMessage": exc.message}
    if isinstance(exc, codec.MalformedRequest):
        return {"status": "ProtocolError", "errorMessage": exc.message}
    assert isinstance(exc, PointkeeperError)
    return {
        "status": "ValidationError",
        "validationMessages": [{"message": exc.message, "location": error_location(exc.field)}],
    }


def _try_again(tx: Tx, call: AsyncOperation, error: str, now: Instant) -> None:
    if call.attempts + 1 >= limits.async_call_attempts_max:
        tx.finish_async_operation(call.id, status="failed", result=None, error=error, at=now)
    else:
        delay = _retry_delay_ms_first * 2**call.attempts
        tx.retry_async_operation(call.id, error=error, next_attempt_at=now + delay)


def run_due(tx: Tx, *, config: Config, now: Instant) -> int:
    """Executes up to a batch of due calls; answers how many were handled.
    A call whose customer another writer holds now stays queued as it is,
    for a later run."""
    due = tx.due_async_operations(now, limit=limits.async_calls_per_batch_max)
    handled = 0
    for call in due:
        try:
            with tx.savepoint():
                answer = _execute(tx, call, config, now)
        except LockBusy:
            continue
        except StoreError as exc:
            _try_again(tx, call, exc.message, now)
        except (PointkeeperError, codec.MalformedRequest) as exc:
            tx.finish_async_operation(
                call.id, status="failed", result=orjson.dumps(_refusal(exc)), error=str(exc), at=now
            )
        else:
            tx.finish_async_operation(
                call.id, status="done", result=orjson.dumps(answer), error=None, at=now
            )
        handled += 1
    return handled
