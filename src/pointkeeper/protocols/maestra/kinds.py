"""The registry of operation kinds, by the name the configuration gives
(``[[operations]] kind``)."""

from __future__ import annotations

from collections.abc import Iterable

from pointkeeper.config import OperationConfig

from .fields import Fields
from .operations import CUSTOMER_KINDS
from .order_operations import EXACT_DECIMAL_KINDS, ORDER_KINDS
from .prepared import Kind, Prepared
from .promo_operations import PROMO_KINDS

__all__ = ["action_templates", "prepare", "reads_exact_decimals"]

_kinds: dict[str, Kind] = {**CUSTOMER_KINDS, **PROMO_KINDS, **ORDER_KINDS}


# The kinds that record customer actions under the operation's name.
_recording_kinds = frozenset(
    {
        "ChangeCustomerBalance",
        "CreateOrder",
        "SaveOfflineOrder",
        "ChangeOrderStatus",
        "UpdateOrderItemsStatus",
    }
)


def action_templates(operations: Iterable[OperationConfig]) -> list[str]:
    """The templates the operations record actions under, made once at start."""
    return [operation.name for operation in operations if operation.kind in _recording_kinds]


def reads_exact_decimals(operation: OperationConfig) -> bool:
    """Whether the operation's JSON carries money, read as exact decimals."""
    return operation.kind in EXACT_DECIMAL_KINDS


def prepare(fields: Fields, operation: OperationConfig, transaction_id: str | None) -> Prepared:
    """Checks a request for ``operation``; refusals are ``InvalidRequest``s."""
    kind = _kinds.get(operation.kind)
    if kind is None:
        raise NotImplementedError(operation.kind)
    return kind(fields, operation, transaction_id)
