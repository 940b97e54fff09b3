"""The registry of operation kinds, by the name the configuration gives
(``[[operations]] kind``)."""

from __future__ import annotations

from pointkeeper.config import OperationConfig

from .fields import Fields
from .operations import CUSTOMER_KINDS
from .order_operations import EXACT_DECIMAL_KINDS, ORDER_KINDS
from .prepared import Kind, Prepared
from .promo_operations import PROMO_KINDS

__all__ = ["prepare", "reads_exact_decimals"]

_kinds: dict[str, Kind] = {**CUSTOMER_KINDS, **PROMO_KINDS, **ORDER_KINDS}


def reads_exact_decimals(operation: OperationConfig) -> bool:
    """Whether the operation's JSON carries money, read as exact decimals."""
    return operation.kind in EXACT_DECIMAL_KINDS


def prepare(fields: Fields, operation: OperationConfig, transaction_id: str | None) -> Prepared:
    """Checks a request for ``operation``; refusals are ``InvalidRequest``s."""
    kind = _kinds.get(operation.kind)
    if kind is None:
        raise NotImplementedError(operation.kind)
    return kind(fields, operation, transaction_id)
