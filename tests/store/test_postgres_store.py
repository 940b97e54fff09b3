"""PostgreSQL's concurrency rules, with real concurrency: several stores on
one database, each serving its own event loop on its own thread as a
server process would, their requests racing through group commit.

Every test asserts on what the database holds afterwards.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import asyncpg
import pytest

from pointkeeper.config import Config, parse_config
from pointkeeper.domain.ledger import KIND_EXPIRED
from pointkeeper.domain.promo import ISSUED, NO_AVAILABLE_CODES
from pointkeeper.errors import Conflict, InsufficientBalance, StoreError
from pointkeeper.jobs import JobsReport, run_jobs
from pointkeeper.protocols.maestra.asynchronous import MaestraCalls
from pointkeeper.services import customers, ledger, loyalty, promo
from pointkeeper.services.adjustments import BalanceChangeRequest, change_balance
from pointkeeper.store.postgres import PostgresStore
from pointkeeper.store.reference_data import sync_reference_data
from pointkeeper.store.sql import sql_connection
from pointkeeper.store.tx import DuplicateKey, Tx

from .manual_changes import fingerprint_of

pytestmark = pytest.mark.postgres

HOUR = 3_600_000
NOW = 1_767_225_600_000  # 2026-01-01 00:00 UTC
PROGRAM = "P"
# Long enough for PostgreSQL's deadlock detection (a second by default)
# and a few retries; a hang fails the test instead of the run.
answer_seconds_max = 30

Future = concurrent.futures.Future[Any]


class Server:
    """A ``PostgresStore`` serving its own event loop on its own thread, as
    one server process does."""

    def __init__(self, url: str, *, writers: int = 2) -> None:
        self.store = PostgresStore(url, writers=writers)
        # Before the loop's first write, as a server starts: on the store's
        # own connection, not in a batch.
        self.store.replace_reference_data(
            self.store.write_sync(sync_reference_data, _config(url).programs)
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        # A first write on the loop, as a server's first request would be:
        # a store that has only read on its loop leaves that loop's
        # connections open when closed (a bug; the test below shows it).
        self.write(_nothing)

    def submit(self, work: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        """Queues a write, as a request handler does, without waiting for it."""
        return self.run(self.store.write(work, *args, **kwargs))

    def run(self, call: Any) -> Future:
        return asyncio.run_coroutine_threadsafe(call, self._loop)

    def write(self, work: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return self.submit(work, *args, **kwargs).result(answer_seconds_max)

    def read(self, work: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return self.run(self.store.read(work, *args, **kwargs)).result(answer_seconds_max)

    def hold(self, go: threading.Event) -> threading.Event:
        """Stops the event loop until ``go`` is set; answers an event set
        once it has stopped."""
        held = threading.Event()

        def wait() -> None:
            held.set()
            go.wait(answer_seconds_max)

        self._loop.call_soon_threadsafe(wait)
        return held

    def close(self) -> None:
        self.store.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(answer_seconds_max)
        self._loop.close()


def _nothing(tx: Tx) -> None:
    pass


def _config(url: str) -> Config:
    return parse_config({"database": {"url": url}, "programs": [{"name": PROGRAM}]}, environ={})


@pytest.fixture
def servers(postgres_url: str) -> Iterator[list[Server]]:
    """Two stores on one database: two server processes."""
    started: list[Server] = []
    try:
        for _ in range(2):
            started.append(Server(postgres_url))
        yield started
    finally:
        for server in started:
            server.close()


@contextlib.contextmanager
def all_at_once(servers: list[Server]) -> Iterator[None]:
    """Writes sent inside the block start together when it ends: each
    store takes them in one batch, and the batches of the stores run at the
    same time, each reading what the other has not committed yet."""
    go = threading.Event()
    for held in [server.hold(go) for server in servers]:
        assert held.wait(answer_seconds_max)
    try:
        yield
    finally:
        go.set()


def _outcomes(futures: list[Future], *, seconds: float = answer_seconds_max) -> list[Any]:
    """Each answer, or the exception that answered instead; ``TimeoutError``
    for those still unanswered after ``seconds`` in all."""
    concurrent.futures.wait(futures, timeout=seconds)
    outcomes: list[Any] = []
    for future in futures:
        if not future.done():
            outcomes.append(TimeoutError())
        elif future.exception() is not None:
            outcomes.append(future.exception())
        else:
            outcomes.append(future.result())
    return outcomes


def _enroll(server: Server, numbers: list[str]) -> list[int]:
    def enroll(tx: Tx) -> list[int]:
        return [
            customers.put_customer(tx, number, fields={}, program=PROGRAM, now=NOW).id
            for number in numbers
        ]

    ids: list[int] = server.write(enroll)
    return ids


def _credit(number: str, points: int, **fields: Any) -> Callable[[Tx], Any]:
    def credit(tx: Tx) -> Any:
        request = BalanceChangeRequest(points, **fields)
        return change_balance(
            tx,
            customer_kind="customer_number",
            customer_value=number,
            request=request,
            key_scope="test",
            fingerprint=fingerprint_of(number, request),
            now=NOW,
        )

    return credit


def _rows(tx: Tx, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in sql_connection(tx).execute(sql, params)]


def _check_ledger(tx: Tx, customer_id: int, *, now: int = NOW) -> tuple[int, int]:
    """The SPEC §1 invariants on one customer's rows; answers (balance, open
    authorizations)."""
    for lot_id, amount, remaining, drawn, held in tx.lot_audit(customer_id):
        assert 0 <= remaining == amount - drawn - held, (lot_id, amount, remaining, drawn, held)
    active, _ = tx.lot_sums(customer_id, at=now)
    held = tx.open_hold_points(customer_id)
    changes = tx.all_changes(customer_id)
    balance = sum(amount for amount, start in changes if start is None or start <= now)
    assert active + held == balance, (active, held, balance)
    return balance, held


# -- one account, many writers ------------------------------------------------


def _debit(tx: Tx, *, number: str, points: int, comment: str) -> Any:
    return _credit(number, -points, comment=comment)(tx)


def _authorize(tx: Tx, *, number: str, points: int, sale_id: str) -> Any:
    return loyalty.authorize(
        tx,
        customer_number=number,
        sale_id=sale_id,
        points=points,
        amount_units=None,
        location=None,
        ttl_ms=HOUR,
        now=NOW,
    )


def test_concurrent_debits_and_authorizations_never_overdraw(servers: list[Server]) -> None:
    (customer_id,) = _enroll(servers[0], ["C1"])
    credited = 1_000
    servers[0].write(_credit("C1", credited))
    # Twice what the account holds, asked for at once through both stores;
    # each store's batch opens with an ask of more than half of it, so that
    # the one that reads the balance before the other's batch commits and
    # takes as much again would overdraw.
    asks = [(0, 600), (1, 600)]
    asks += [(index, (7, 13, 25, 40)[index % 4]) for index in range(2, 100)]
    futures = []
    with all_at_once(servers):
        for index, points in asks:
            server = servers[index % 2]
            if index % 3:
                futures.append(
                    server.submit(_debit, number="C1", points=points, comment=f"debit-{index}")
                )
            else:
                futures.append(
                    server.submit(_authorize, number="C1", points=points, sale_id=f"sale-{index}")
                )
    outcomes = _outcomes(futures)

    failures = [o for o in outcomes if isinstance(o, Exception)]
    assert all(isinstance(o, InsufficientBalance) for o in failures), failures
    granted = {
        index
        for (index, _), outcome in zip(asks, outcomes, strict=True)
        if not isinstance(outcome, Exception)
    }
    refused = [points for (index, points) in asks if index not in granted]

    def state(tx: Tx) -> tuple[tuple[int, int], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        debits = _rows(
            tx,
            "SELECT comment, -change_amount FROM balance_changes"
            " WHERE customer_id = ? AND change_amount < 0",
            customer_id,
        )
        holds = _rows(
            tx,
            "SELECT sale_id, points FROM holds WHERE customer_id = ? AND status = 'open'",
            customer_id,
        )
        return _check_ledger(tx, customer_id), debits, holds

    (balance, held), debits, holds = servers[1].read(state)
    # Exactly the granted requests are in the ledger, each once.
    expected_debits = sorted((f"debit-{i}", p) for i, p in asks if i in granted and i % 3)
    expected_holds = sorted((f"sale-{i}", p) for i, p in asks if i in granted and not i % 3)
    assert sorted(debits) == expected_debits
    assert sorted(holds) == expected_holds
    taken = sum(p for _, p in debits) + sum(p for _, p in holds)
    assert taken <= credited
    assert balance == credited - sum(p for _, p in debits) >= 0
    assert held == sum(p for _, p in holds)
    # A refusal is right only if the points were not there, and the
    # balance only falls: each refused ask is more than what is left.
    assert refused, "the account should have run dry"
    assert all(points > credited - taken for points in refused)


def test_a_transaction_id_sent_to_two_stores_at_once_credits_once(
    servers: list[Server],
) -> None:
    (customer_id,) = _enroll(servers[0], ["C1"])
    with all_at_once(servers):
        futures = [
            server.submit(_credit("C1", 10, transaction_id=f"t{round_}"))
            for round_ in range(5)
            for server in servers * 2
        ]
    answers = _outcomes(futures)
    assert all(answer[0] == customer_id for answer in answers), answers
    assert sum(answer[1] for answer in answers) == 5  # one new credit per id

    def credits(tx: Tx) -> list[tuple[Any, ...]]:
        return _rows(
            tx,
            "SELECT a.transaction_id, c.change_amount FROM balance_changes c"
            " JOIN customer_actions a ON a.id = c.action_id WHERE c.customer_id = ?"
            " ORDER BY 1",
            customer_id,
        )

    assert servers[1].read(credits) == [(f"t{round_}", 10) for round_ in range(5)]


def _resolve(tx: Tx, *, number: str, auth_code: str, target: str) -> None:
    loyalty.resolve_authorization(
        tx, customer_number=number, auth_code=auth_code, target=target, now=NOW
    )


def test_holds_confirmed_and_cancelled_at_once_resolve_once(servers: list[Server]) -> None:
    (customer_id,) = _enroll(servers[0], ["C1"])
    servers[0].write(_credit("C1", 1_000))
    holds = [
        servers[0].write(_authorize, number="C1", points=10 + n, sale_id=f"sale-{n}")
        for n in range(20)
    ]
    with all_at_once(servers):
        futures = [
            server.submit(_resolve, number="C1", auth_code=hold.auth_code, target=target)
            for hold in holds
            for server, target in zip(servers, ("confirmed", "cancelled"), strict=True)
        ]
    outcomes = _outcomes(futures)

    # One of each pair went through; the other found the hold resolved the
    # other way.
    won: dict[str, str] = {}
    for hold, pair in zip(holds, zip(outcomes[::2], outcomes[1::2], strict=True), strict=True):
        assert sorted(type(o).__name__ for o in pair) == ["Conflict", "NoneType"], pair
        won[hold.sale_id] = "confirmed" if pair[0] is None else "cancelled"

    def resolutions(tx: Tx) -> tuple[Any, ...]:
        statuses = _rows(tx, "SELECT sale_id, status FROM holds WHERE customer_id = ?", customer_id)
        payments = _rows(
            tx,
            "SELECT document, -change_amount FROM balance_changes"
            " WHERE customer_id = ? AND kind = 'RetailOrderPayment'",
            customer_id,
        )
        return dict(statuses), sorted(payments), _check_ledger(tx, customer_id)

    statuses, payments, (balance, held) = servers[1].read(resolutions)
    assert statuses == won
    confirmed = sorted((h.sale_id, h.points) for h in holds if won[h.sale_id] == "confirmed")
    assert payments == confirmed
    assert (balance, held) == (1_000 - sum(points for _, points in confirmed), 0)


def _refund(tx: Tx, *, change_id: int) -> int:
    return ledger.refund(tx, change_id, now=NOW, comment=None)


def test_a_debit_refunded_through_two_stores_at_once_is_refunded_once(
    servers: list[Server],
) -> None:
    (customer_id,) = _enroll(servers[0], ["C1"])
    servers[0].write(_credit("C1", 1_000))
    for n in range(20):
        servers[0].write(_debit, number="C1", points=10, comment=f"debit-{n}")

    def debit_ids(tx: Tx) -> list[int]:
        found = _rows(tx, "SELECT id FROM balance_changes WHERE change_amount < 0 ORDER BY id")
        return [row[0] for row in found]

    debits = servers[1].read(debit_ids)
    with all_at_once(servers):
        futures = [
            server.submit(_refund, change_id=debit) for debit in debits for server in servers
        ]
    outcomes = _outcomes(futures)
    for pair in zip(outcomes[::2], outcomes[1::2], strict=True):
        assert sorted(type(o).__name__ for o in pair) == ["Conflict", "int"], pair

    def refunds(tx: Tx) -> tuple[Any, ...]:
        pairs = _rows(tx, "SELECT debit_change_id, refund_change_id FROM refunds ORDER BY 1")
        return pairs, _check_ledger(tx, customer_id)

    pairs, balance = servers[1].read(refunds)
    assert [debit for debit, _ in pairs] == debits
    assert sorted(refund for _, refund in pairs) == sorted(
        o for o in outcomes if isinstance(o, int)
    )
    assert balance == (1_000, 0)


# -- a single-use pool, many customers -------------------------------------------


def _issue_from_pool(tx: Tx, *, number: str) -> tuple[str, str | None]:
    request = promo.IssueRequest(
        mode="from-pool",
        customer_kind="customer_number",
        customer_value=number,
        value=None,
        pool="W",
        point_of_contact=None,
        at=None,
        available_from=None,
        available_till=None,
    )
    status, view = promo.issue_code(tx, request, now=NOW)
    return status, None if view is None else view.code.value


def test_concurrent_issues_hand_each_code_out_once(servers: list[Server]) -> None:
    codes_count, customers_count = 20, 50
    numbers = [f"C{n}" for n in range(customers_count)]
    ids = dict(zip(numbers, _enroll(servers[0], numbers), strict=True))
    servers[0].write(promo.put_pool, "W", values={"name": "Welcome"})
    rows = [promo.ImportRow(n, f"CODE-{n:02}") for n in range(codes_count)]
    servers[0].write(promo.import_codes, "W", rows)

    with all_at_once(servers):
        futures = [
            servers[n % 2].submit(_issue_from_pool, number=number)
            for n, number in enumerate(numbers)
        ]
    answers = dict(zip(numbers, _outcomes(futures), strict=True))

    issued = {number: code for number, (status, code) in answers.items() if status == ISSUED}
    assert len(issued) == codes_count
    assert sorted(issued.values()) == [row.value for row in rows]
    assert all(
        answer == (NO_AVAILABLE_CODES, None)
        for number, answer in answers.items()
        if number not in issued
    ), answers

    def holders(tx: Tx) -> dict[str, int | None]:
        found = _rows(tx, "SELECT value, issued_customer_id FROM promo_codes")
        return {value: holder for value, holder in found}

    assert servers[1].read(holders) == {code: ids[number] for number, code in issued.items()}


# -- the queue of asynchronous calls -------------------------------------------


def _enqueue(tx: Tx, count: int) -> None:
    for n in range(count):
        tx.enqueue_async(
            endpoint_id="shop",
            operation="Op",
            transaction_id=f"t{n}",
            fingerprint="f",
            request_format="json",
            body=b"{}",
            at=NOW,
        )


def _claim_and_finish(tx: Tx, *, limit: int, meet: threading.Barrier) -> list[int]:
    claimed = tx.due_async_operations(NOW, limit=limit)
    # Both transactions hold their claims here; a claim that waited for the
    # other's rows instead of passing over them would break the barrier.
    meet.wait(answer_seconds_max / 3)
    for operation in claimed:
        tx.finish_async_operation(operation.id, status="done", result=b"", error=None, at=NOW)
    return [operation.id for operation in claimed]


def test_two_open_transactions_claim_disjoint_async_operations(servers: list[Server]) -> None:
    servers[0].write(_enqueue, 10)
    meet = threading.Barrier(2)
    futures = [server.submit(_claim_and_finish, limit=4, meet=meet) for server in servers]
    first, second = _outcomes(futures)

    assert len(first) == len(second) == 4
    assert not set(first) & set(second)

    def statuses(tx: Tx) -> list[tuple[Any, ...]]:
        return _rows(tx, "SELECT id, status, attempts FROM async_operations ORDER BY id")

    rows = servers[1].read(statuses)
    done = {row[0] for row in rows if row[1:] == ("done", 1)}
    assert done == set(first) | set(second)
    assert sum(row[1:] == ("queued", 0) for row in rows) == 2


# -- jobs --------------------------------------------------------------------------

LATER = NOW + 2 * HOUR


def _due_work(tx: Tx, *, numbers: list[str]) -> None:
    """Per customer: 100 points expiring in an hour, 50 pending until then,
    and a hold of 30 that times out in half an hour. By ``LATER`` the hold
    has timed out (its points back in the first lot), then the first lot
    has expired (100 written off), and the pending lot is active."""
    for number in numbers:
        _credit(number, 100, expires_at=NOW + HOUR)(tx)
        _credit(number, 50, available_from=NOW + HOUR)(tx)
        loyalty.authorize(
            tx,
            customer_number=number,
            sale_id="sale",
            points=30,
            amount_units=None,
            location=None,
            ttl_ms=HOUR // 2,
            now=NOW,
        )


def _job_outcome(tx: Tx, *, ids: list[int]) -> list[tuple[Any, ...]]:
    """Per customer: its write-offs, its holds' statuses and its lots, once
    the invariants have been checked."""
    outcome = []
    for customer_id in ids:
        assert _check_ledger(tx, customer_id, now=LATER) == (50, 0)
        write_offs = _rows(
            tx,
            "SELECT change_amount, date_time_utc FROM balance_changes"
            " WHERE customer_id = ? AND kind = ?",
            customer_id,
            KIND_EXPIRED,
        )
        holds = _rows(tx, "SELECT status FROM holds WHERE customer_id = ?", customer_id)
        lots = _rows(
            tx,
            "SELECT amount, remaining, activated FROM lots WHERE customer_id = ? ORDER BY id",
            customer_id,
        )
        outcome.append((write_offs, holds, lots))
    return outcome


_settled = [([(-100, NOW + HOUR)], [("expired",)], [(100, 0, True), (50, 50, True)])]


def _customers_with_due_work(tx: Tx) -> list[int]:
    numbers = [f"C{n}" for n in range(30)]
    ids = [
        customers.put_customer(tx, number, fields={}, program=PROGRAM, now=NOW).id
        for number in numbers
    ]
    _due_work(tx, numbers=numbers)
    return ids


@pytest.fixture
def due_customers(servers: list[Server]) -> list[int]:
    ids: list[int] = servers[0].write(_customers_with_due_work)
    return ids


def test_two_stores_running_the_jobs_do_each_job_once(
    servers: list[Server], due_customers: list[int], postgres_url: str
) -> None:
    config = _config(postgres_url)
    with all_at_once(servers):
        runs = [
            server.run(
                run_jobs(
                    server.store, lambda: LATER, async_calls=MaestraCalls(config), retention_days=30
                )
            )
            for server in servers
        ]
    reports: list[JobsReport] = _outcomes(runs)

    count = len(due_customers)
    totals = [
        sum(getattr(report.ledger, name) for report in reports)
        for name in ("holds_expired", "lots_expired", "points_expired", "credits_activated")
    ]
    assert totals == [count, count, 100 * count, count]
    assert servers[1].read(_job_outcome, ids=due_customers) == _settled * count


def test_jobs_racing_writes_that_settle_write_off_once(
    servers: list[Server], due_customers: list[int], postgres_url: str
) -> None:
    """Every write settles its customer first; the jobs settle whoever is
    due. Both at once, on two stores: each lot is written off once."""
    config = _config(postgres_url)
    with all_at_once(servers):
        runs = [
            server.run(
                run_jobs(
                    server.store, lambda: LATER, async_calls=MaestraCalls(config), retention_days=30
                )
            )
            for server in servers
        ]
        settles = [
            server.submit(loyalty.settle_customer, customer_number=f"C{n}", now=LATER)
            for n in range(len(due_customers))
            for server in servers
        ]
    outcomes = _outcomes(runs + settles)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes

    reports: list[JobsReport] = outcomes[: len(runs)]
    assert sum(report.ledger.points_expired for report in reports) <= 100 * len(due_customers)
    assert servers[1].read(_job_outcome, ids=due_customers) == _settled * len(due_customers)


# -- a deadlock between two stores ---------------------------------------------------


class FirstAttemptsMeet:
    """A barrier that each request's first attempt waits at, and its
    retries pass; counts every request's attempts."""

    def __init__(self, parties: int) -> None:
        self._barrier = threading.Barrier(parties)
        self._lock = threading.Lock()
        self.attempts: dict[str, int] = {}

    def __call__(self, name: str) -> None:
        with self._lock:
            self.attempts[name] = self.attempts.get(name, 0) + 1
            first = self.attempts[name] == 1
        if first:
            self._barrier.wait(answer_seconds_max / 3)


def _lock_both_and_credit(
    tx: Tx, *, name: str, order: list[tuple[int, str]], meet: FirstAttemptsMeet
) -> None:
    """Locks two customers, in the order given, and credits both."""
    (first_id, _), (second_id, _) = order
    tx.lock_customer(first_id)
    meet(name)  # both requests hold their first customer now
    tx.lock_customer(second_id)
    for _, number in order:
        _credit(number, 10, transaction_id=f"{name}-{number}")(tx)


def test_a_deadlock_between_two_stores_is_resolved_by_a_retry(servers: list[Server]) -> None:
    customers_ = list(zip(_enroll(servers[0], ["C1", "C2"]), ["C1", "C2"], strict=True))
    meet = FirstAttemptsMeet(2)
    futures = [
        servers[0].submit(_lock_both_and_credit, name="one-two", order=customers_, meet=meet),
        servers[1].submit(_lock_both_and_credit, name="two-one", order=customers_[::-1], meet=meet),
    ]
    assert _outcomes(futures) == [None, None]
    # Both met (so each held one lock the other wanted); one lost and was
    # tried again.
    assert sorted(meet.attempts) == ["one-two", "two-one"]
    assert max(meet.attempts.values()) >= 2

    def credits(tx: Tx) -> list[tuple[Any, ...]]:
        return _rows(
            tx,
            "SELECT a.transaction_id, c.customer_id, c.change_amount FROM balance_changes c"
            " JOIN customer_actions a ON a.id = c.action_id ORDER BY 1",
        )

    assert servers[1].read(credits) == sorted(
        (f"{name}-{number}", customer_id, 10)
        for name in ("one-two", "two-one")
        for customer_id, number in customers_
    )
    for customer_id, _ in customers_:
        assert servers[1].read(_check_ledger, customer_id) == (20, 0)


# -- unique values -----------------------------------------------------------------

_unique_columns = ("customer_number", "website_id", "email", "mobile_phone")


def _customer_ids(tx: Tx) -> list[tuple[Any, ...]]:
    return _rows(tx, f"SELECT {', '.join(_unique_columns)} FROM customers ORDER BY id")


@pytest.mark.parametrize("column", _unique_columns)
def test_a_unique_violation_names_its_column_and_leaves_the_transaction_usable(
    servers: list[Server], column: str
) -> None:
    first = {"customer_number": "A", column: "taken"}
    clashing = {"customer_number": "B", column: "taken"}
    after = {"customer_number": "C", "email": "c@example.com"}

    def clash(tx: Tx) -> str:
        tx.insert_customer(first, at=NOW)
        try:
            tx.insert_customer(clashing, at=NOW)
        except DuplicateKey as exc:
            refused = exc.column
        else:
            raise AssertionError("the second insert went through")
        tx.insert_customer(after, at=NOW)  # the transaction goes on
        return refused

    assert servers[0].write(clash) == column
    assert servers[1].read(_customer_ids) == [
        tuple(fields.get(name) for name in _unique_columns) for fields in (first, after)
    ]


def _register(tx: Tx, *, email: str) -> None:
    customers.register_customer(tx, fields={"email": email}, program=PROGRAM, now=NOW)


def _register_and_wait_for_a_waiter(tx: Tx, *, email: str, registered: threading.Event) -> None:
    """Registers, then keeps the transaction open until another backend
    waits on one of its locks (the same email's index entry)."""
    _register(tx, email=email)
    registered.set()
    for _ in range(answer_seconds_max * 100):
        # A transaction sees the activity it first read unless it drops it.
        sql_connection(tx).execute("SELECT pg_stat_clear_snapshot()")
        waiting = (
            sql_connection(tx)
            .execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            .fetchone()[0]
        )
        if waiting:
            return
        threading.Event().wait(0.01)
    raise AssertionError("nobody waited")


def _register_or_not_then_another(tx: Tx, *, email: str, other: str) -> str | None:
    refused = None
    try:
        _register(tx, email=email)
    except Conflict as exc:
        refused = exc.field
    _register(tx, email=other)  # the transaction goes on
    return refused


def test_the_same_email_from_two_stores_at_once_is_one_customer(servers: list[Server]) -> None:
    registered = threading.Event()
    first = servers[0].submit(
        _register_and_wait_for_a_waiter, email="a@example.com", registered=registered
    )
    assert registered.wait(answer_seconds_max)
    # Sent while the first is uncommitted: its insert waits on the first's,
    # and fails once that commits.
    second = servers[1].submit(
        _register_or_not_then_another, email="a@example.com", other="b@example.com"
    )
    assert _outcomes([first, second]) == [None, "email"]

    def emails(tx: Tx) -> list[tuple[Any, ...]]:
        return _rows(tx, "SELECT email FROM customers ORDER BY id")

    assert servers[1].read(emails) == [("a@example.com",), ("b@example.com",)]


# -- losing the connection --------------------------------------------------------


def _terminate(url: str, pid: int) -> None:
    """Ends a backend from a connection of another thread (the caller's
    thread runs an event loop already)."""

    async def terminate() -> None:
        connection = await asyncpg.connect(url)
        try:
            assert await connection.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await connection.close()

    thread = threading.Thread(target=lambda: asyncio.run(terminate()))
    thread.start()
    thread.join(answer_seconds_max)


def _add_template(tx: Tx, name: str) -> None:
    tx.upsert_template(name, name=name)


def _add_template_and_lose_the_connection(tx: Tx, *, url: str) -> None:
    tx.upsert_template("doomed", name="doomed")
    pid = sql_connection(tx).execute("SELECT pg_backend_pid()").fetchone()[0]
    _terminate(url, pid)
    tx.upsert_template("after", name="after")


def _templates(tx: Tx) -> set[str]:
    return {row[0] for row in _rows(tx, "SELECT system_name FROM action_templates")}


def test_a_lost_connection_fails_its_batch_and_the_next_write_succeeds(
    servers: list[Server], postgres_url: str
) -> None:
    server = servers[0]
    doomed = server.submit(_add_template_and_lose_the_connection, url=postgres_url)
    others = [server.submit(_add_template, f"other-{n}") for n in range(10)]
    # No deadlock or retry here: an answer takes well under a second.
    outcomes = _outcomes([doomed, *others], seconds=5)

    assert isinstance(outcomes[0], StoreError)
    failed = {f"other-{n}" for n, o in enumerate(outcomes[1:]) if isinstance(o, StoreError)}
    written = {f"other-{n}" for n, o in enumerate(outcomes[1:]) if o is None}
    assert failed | written == {f"other-{n}" for n in range(10)}
    stored = servers[1].read(_templates)
    assert not {"doomed", "after"} & stored
    assert failed.isdisjoint(stored)
    assert written <= stored

    server.write(_add_template, "next")
    assert "next" in server.read(_templates)


# -- every write is answered ---------------------------------------------------------


@pytest.fixture
def lone_writer(postgres_url: str) -> Iterator[Server]:
    """A store with ``database.writers = 1``."""
    server = Server(postgres_url, writers=1)
    yield server
    server.close()


def test_a_write_sent_as_the_last_one_is_answered_is_served(lone_writer: Server) -> None:
    """A caller that writes again as soon as its write is answered (a handler
    with two writes, the jobs with one batch after another) is served, even
    while the writer that answered is still giving its connection back."""

    async def one_after_another() -> None:
        for n in range(20):
            await asyncio.wait_for(lone_writer.store.write(_add_template, f"t{n}"), 5)

    assert _outcomes([lone_writer.run(one_after_another())]) == [None]
    assert {f"t{n}" for n in range(20)} <= lone_writer.read(_templates)


def test_the_jobs_finish_on_a_store_with_one_writer(lone_writer: Server, postgres_url: str) -> None:
    """The jobs write batch after batch, each once the last is answered."""
    ids = lone_writer.write(_customers_with_due_work)
    run = lone_writer.run(
        run_jobs(
            lone_writer.store,
            lambda: LATER,
            async_calls=MaestraCalls(_config(postgres_url)),
            retention_days=30,
        )
    )
    (report,) = _outcomes([run], seconds=5)
    assert isinstance(report, JobsReport), report
    assert report.ledger.points_expired == 100 * len(ids)
    assert lone_writer.read(_job_outcome, ids=ids) == _settled * len(ids)


# -- closing -------------------------------------------------------------------------


async def _backends(url: str) -> int:
    """Connections to the database other than the one asking."""
    connection = await asyncpg.connect(url)
    try:
        count: int = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return count
    finally:
        await connection.close()


def test_a_store_that_only_read_closes_its_connections(postgres_url: str) -> None:
    store = PostgresStore(postgres_url)
    loop = asyncio.new_event_loop()
    try:
        # A server process that has served only reads since it started.
        loop.run_until_complete(store.read(_templates))
        assert loop.run_until_complete(_backends(postgres_url)) >= 1
        # Closed from another thread while the loop runs, as a server does.
        loop.run_until_complete(asyncio.to_thread(store.close))
        for _ in range(200):  # a backend ends a moment after its client leaves
            if not loop.run_until_complete(_backends(postgres_url)):
                break
            loop.run_until_complete(asyncio.sleep(0.01))
        assert loop.run_until_complete(_backends(postgres_url)) == 0
    finally:
        # What close() left open is closed here, or the warnings about it
        # would fail whichever test the garbage collector runs in.
        if store._pool is not None:
            store._pool.terminate()
        loop.close()
