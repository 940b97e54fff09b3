"""Every SQL statement of the store, written once in the dialect SQLite and
PostgreSQL share (``?`` parameters), one module per area of the port
(``store.tx``). ``SqlTx`` combines the areas over a ``Connection``; the
dialects' transactions (``SqliteTx``, ``PostgresTx``) add what each does
its own way: row locks, and reading a unique key's violation."""

from __future__ import annotations

from ..connection import Connection
from ..reference_data import CurrentReferenceData
from ..tx import Tx
from .customers import CustomerQueries
from .histories import HistoryQueries
from .holds import HoldQueries
from .ledger import LedgerQueries
from .operations import OperationQueries
from .orders import OrderQueries
from .promo import PromoQueries
from .reference import ReferenceQueries
from .segments import SegmentQueries
from .transaction import TransactionQueries

__all__ = ["SqlTx", "sql_connection"]


class SqlTx(
    TransactionQueries,
    CustomerQueries,
    LedgerQueries,
    HoldQueries,
    ReferenceQueries,
    HistoryQueries,
    PromoQueries,
    OperationQueries,
    OrderQueries,
    SegmentQueries,
):
    """The areas' queries on one connection, in one transaction."""

    __slots__ = ("connection", "references")

    def __init__(self, connection: Connection, references: CurrentReferenceData) -> None:
        self.connection = connection
        self.references = references


def sql_connection(tx: Tx) -> Connection:
    """The connection under a store's transaction, for statements of a test
    or a benchmark that no area offers (a service never needs one)."""
    assert isinstance(tx, SqlTx), "a store's transaction, not a fake"
    return tx.connection
