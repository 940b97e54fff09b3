"""Manual balance changes as a protocol sends them to the service: with the
fingerprint a protocol would make of the request (here, of the customer and
every field of the request), so that a transaction id replays the same
request and conflicts with another."""

from __future__ import annotations

import dataclasses

from pointkeeper.protocols.fingerprint import request_fingerprint
from pointkeeper.services.adjustments import BalanceChangeRequest

__all__ = ["fingerprint_of"]


def fingerprint_of(customer_number: str, request: BalanceChangeRequest) -> str:
    return request_fingerprint("test", {"customer": customer_number, **dataclasses.asdict(request)})
