"""What every operation kind gives back (``Prepared``): shared by the kind
modules and the routes, importing none of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pointkeeper.config import OperationConfig
from pointkeeper.domain.time import Instant
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


# An operation kind: checks a request (refusals are ``InvalidRequest``s)
# for an operation and its transactionId.
Kind = Callable[[Fields, OperationConfig, str | None], Prepared]
