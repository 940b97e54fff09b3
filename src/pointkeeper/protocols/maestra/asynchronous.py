"""Asynchronous calls (``/v3/operations/async``): the Maestra side of the
queue in ``services.async_calls``, which stores them before the answer and
has the jobs run them exactly once. Here: how a stored call runs (its body
read again, its operation prepared and run under its transactionId) and
how a refusal reads in the result kept for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pointkeeper.config import Config
from pointkeeper.domain.time import Instant
from pointkeeper.errors import PointkeeperError, StoreError
from pointkeeper.services.idempotency import NothingDone
from pointkeeper.store.tx import AsyncOperation, Tx

from . import codec
from .fields import Fields
from .kinds import prepare, reads_exact_decimals
from .wording import refusal_tree

__all__ = ["MaestraCalls"]


@dataclass(frozen=True, slots=True)
class MaestraCalls:
    """Runs the queued calls of the configured operations (a ``CallRunner``)."""

    config: Config

    def run(self, tx: Tx, call: AsyncOperation, now: Instant) -> dict[str, Any]:
        operation = next((o for o in self.config.operations if o.name == call.operation), None)
        if operation is None:
            raise PointkeeperError(f"Operation {call.operation} is no longer configured")
        if call.request_format == "xml":
            tree = codec.parse_xml(call.body)
        else:
            tree = codec.parse_json(call.body, exact_decimals=reads_exact_decimals(operation))
        fields = Fields(tree, from_xml=call.request_format == "xml")
        prepared = prepare(fields, operation, call.transaction_id)
        answer = prepared.run(
            tx,
            endpoint_id=call.endpoint_id,
            transaction_id=call.transaction_id,
            fingerprint=call.fingerprint,
            now=now,
        )
        return {"status": "Success", **answer}

    def refusal(self, error: Exception) -> dict[str, Any] | None:
        if isinstance(error, NothingDone):
            return {"status": "Success", **error.answer}
        if isinstance(error, codec.MalformedRequest):
            return {"status": "ProtocolError", "errorMessage": error.message}
        if isinstance(error, PointkeeperError) and not isinstance(error, StoreError):
            return refusal_tree(error)
        return None
