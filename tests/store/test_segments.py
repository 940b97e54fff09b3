"""Segments on a real store, SQLite and PostgreSQL: the queries the export
relies on, and the service functions' rules (all-or-none adds, idempotent
removes, bounds)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pointkeeper.config import DatabaseConfig
from pointkeeper.errors import CustomerNotFound, InvalidRequest, NotFound
from pointkeeper.limits import segment_members_per_request_max
from pointkeeper.services import segments
from pointkeeper.services.segments import (
    MembersAdded,
    SegmentView,
    add_members,
    get_segment,
    put_segment,
    remove_member,
)
from pointkeeper.store import Store, open_store
from pointkeeper.store.sql import sql_connection
from pointkeeper.store.tx import SegmentRow, Tx

NOW = 1_767_225_600_000


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = open_store(DatabaseConfig(url=database_url), programs=())
    yield opened
    opened.close()


def _add_customers(tx: Tx, numbers: list[str]) -> list[int]:
    return [tx.insert_customer({"customer_number": number}, at=NOW) for number in numbers]


@pytest.fixture
def customer_ids(store: Store) -> list[int]:
    ids: list[int] = store.write_sync(_add_customers, ["C1", "C2", "C3"])
    return ids


def _rows(tx: Tx) -> list[tuple[object, ...]]:
    segment_rows = sql_connection(tx).execute("SELECT * FROM segments ORDER BY id").fetchall()
    member_rows = (
        sql_connection(tx)
        .execute("SELECT * FROM segment_members ORDER BY segment_id, customer_id")
        .fetchall()
    )
    return [*segment_rows, *member_rows]


def test_the_module_lists_its_public_names() -> None:
    assert all(hasattr(segments, name) for name in segments.__all__)


# -- queries -----------------------------------------------------------------


def test_upsert_creates_once_and_renames(store: Store) -> None:
    first = store.write_sync(lambda tx: tx.upsert_segment("VIP", name="Very important"))
    again = store.write_sync(lambda tx: tx.upsert_segment("VIP", name="Renamed"))
    assert first == again
    assert store.read_sync(lambda tx: tx.segment("VIP")) == SegmentRow(first, "VIP", "Renamed")
    assert store.read_sync(lambda tx: tx.segment_id("VIP")) == first
    assert store.read_sync(lambda tx: tx.segment("nope")) is None
    assert store.read_sync(lambda tx: tx.segment_id("nope")) is None


def test_members_are_added_once_listed_in_pages_and_removed(
    store: Store, customer_ids: list[int]
) -> None:
    c1, c2, c3 = customer_ids
    segment_id = store.write_sync(lambda tx: tx.upsert_segment("VIP", name="VIP"))
    assert store.write_sync(lambda tx: tx.add_segment_members(segment_id, [c3, c1])) == 2
    assert store.write_sync(lambda tx: tx.add_segment_members(segment_id, [c1, c2])) == 1
    assert store.write_sync(lambda tx: tx.add_segment_members(segment_id, [])) == 0

    def page(tx: Tx, after: int) -> list[int]:
        return tx.segment_member_ids(segment_id, limit=2, after_customer_id=after)

    assert store.read_sync(page, 0) == [c1, c2]
    assert store.read_sync(page, c2) == [c3]
    assert store.read_sync(page, c3) == []
    assert store.read_sync(lambda tx: tx.segment_member_count(segment_id)) == 3
    assert store.read_sync(lambda tx: tx.is_segment_member(segment_id, customer_id=c2))

    assert store.write_sync(lambda tx: tx.remove_segment_member(segment_id, customer_id=c2)) is True
    assert (
        store.write_sync(lambda tx: tx.remove_segment_member(segment_id, customer_id=c2)) is False
    )
    assert not store.read_sync(lambda tx: tx.is_segment_member(segment_id, customer_id=c2))
    assert store.read_sync(lambda tx: tx.segment_member_count(segment_id)) == 2


def test_membership_is_per_segment(store: Store, customer_ids: list[int]) -> None:
    c1 = customer_ids[0]
    vip = store.write_sync(lambda tx: tx.upsert_segment("VIP", name="VIP"))
    new = store.write_sync(lambda tx: tx.upsert_segment("NEW", name="New"))
    store.write_sync(lambda tx: tx.add_segment_members(vip, [c1]))
    assert store.read_sync(lambda tx: tx.is_segment_member(vip, customer_id=c1))
    assert not store.read_sync(lambda tx: tx.is_segment_member(new, customer_id=c1))
    assert store.read_sync(lambda tx: tx.segment_member_count(new)) == 0


def test_customer_ids_by_number_leaves_unknown_numbers_out(
    store: Store, customer_ids: list[int]
) -> None:
    found = store.read_sync(lambda tx: tx.customer_ids_by_number(["C2", "ghost", "C1"]))
    assert found == {"C1": customer_ids[0], "C2": customer_ids[1]}


def test_customer_ids_by_number_looks_up_more_than_one_in_list(store: Store) -> None:
    numbers = [f"N{i}" for i in range(1_234)]
    ids = store.write_sync(_add_customers, numbers)
    assert store.read_sync(lambda tx: tx.customer_ids_by_number(numbers)) == dict(
        zip(numbers, ids, strict=True)
    )


# -- services ----------------------------------------------------------------


def test_put_segment_creates_renames_and_keeps_members(
    store: Store, customer_ids: list[int]
) -> None:
    assert store.write_sync(put_segment, "VIP", name="VIP") == SegmentView("VIP", "VIP", 0)
    store.write_sync(add_members, "VIP", customer_numbers=["C1", "C2"])
    assert store.write_sync(put_segment, "VIP", name="Gold") == SegmentView("VIP", "Gold", 2)
    assert store.read_sync(get_segment, "VIP") == SegmentView("VIP", "Gold", 2)


@pytest.mark.parametrize(
    ("external_id", "name", "field"),
    [("", "VIP", "segment"), ("x" * 201, "VIP", "segment"), ("VIP", "", "name")],
)
def test_put_segment_refuses_bad_values(
    store: Store, external_id: str, name: str, field: str
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        store.write_sync(put_segment, external_id, name=name)
    assert refused.value.field == field
    assert store.read_sync(_rows) == []


def test_add_members_counts_only_new_members(store: Store, customer_ids: list[int]) -> None:
    store.write_sync(put_segment, "VIP", name="VIP")
    added = store.write_sync(add_members, "VIP", customer_numbers=["C1", "C2", "C1"])
    assert added == MembersAdded(added=2, member_count=2)
    again = store.write_sync(add_members, "VIP", customer_numbers=["C2", "C3"])
    assert again == MembersAdded(added=1, member_count=3)
    assert store.write_sync(add_members, "VIP", customer_numbers=[]) == MembersAdded(0, 3)


def test_add_members_to_an_unknown_segment_is_not_found(
    store: Store, customer_ids: list[int]
) -> None:
    with pytest.raises(NotFound, match="Segment not found") as refused:
        store.write_sync(add_members, "nope", customer_numbers=["C1"])
    assert refused.value.field == "segment"
    assert store.read_sync(_rows) == []


def test_one_unknown_customer_refuses_the_whole_list(store: Store, customer_ids: list[int]) -> None:
    store.write_sync(put_segment, "VIP", name="VIP")
    before = store.read_sync(_rows)
    with pytest.raises(CustomerNotFound) as refused:
        store.write_sync(add_members, "VIP", customer_numbers=["C1", "ghost", "C2", "spook"])
    assert refused.value.message == "Customers not found: ghost, spook"
    assert refused.value.field == "customer_numbers"
    assert store.read_sync(_rows) == before


def test_a_long_list_of_unknown_customers_is_named_in_part(
    store: Store, customer_ids: list[int]
) -> None:
    store.write_sync(put_segment, "VIP", name="VIP")
    ghosts = [f"G{i}" for i in range(25)]
    with pytest.raises(CustomerNotFound) as refused:
        store.write_sync(add_members, "VIP", customer_numbers=ghosts)
    assert refused.value.message == (
        "Customers not found: " + ", ".join(ghosts[:10]) + " and 15 more"
    )


def test_add_members_is_bounded(store: Store) -> None:
    store.write_sync(put_segment, "VIP", name="VIP")
    numbers = [f"N{i}" for i in range(segment_members_per_request_max + 1)]
    with pytest.raises(InvalidRequest) as refused:
        store.write_sync(add_members, "VIP", customer_numbers=numbers)
    assert refused.value.field == "customer_numbers"


def test_add_members_takes_a_full_batch(store: Store) -> None:
    numbers = [f"N{i}" for i in range(segment_members_per_request_max)]
    store.write_sync(_add_customers, numbers)
    store.write_sync(put_segment, "BIG", name="Big")
    added = store.write_sync(add_members, "BIG", customer_numbers=numbers)
    assert added == MembersAdded(len(numbers), len(numbers))


def test_remove_member_is_idempotent(store: Store, customer_ids: list[int]) -> None:
    store.write_sync(put_segment, "VIP", name="VIP")
    store.write_sync(add_members, "VIP", customer_numbers=["C1", "C2"])
    assert store.write_sync(remove_member, external_id="VIP", customer_number="C1") is True
    assert store.write_sync(remove_member, external_id="VIP", customer_number="C1") is False
    assert store.write_sync(remove_member, external_id="VIP", customer_number="C3") is False
    assert store.read_sync(get_segment, "VIP").member_count == 1


def test_remove_member_refuses_unknown_segment_or_customer(
    store: Store, customer_ids: list[int]
) -> None:
    store.write_sync(put_segment, "VIP", name="VIP")
    store.write_sync(add_members, "VIP", customer_numbers=["C1"])
    before = store.read_sync(_rows)
    with pytest.raises(NotFound, match="Segment not found"):
        store.write_sync(remove_member, external_id="nope", customer_number="C1")
    with pytest.raises(CustomerNotFound) as refused:
        store.write_sync(remove_member, external_id="VIP", customer_number="ghost")
    assert refused.value.field == "customer_number"
    assert store.read_sync(_rows) == before


def test_get_segment_of_an_unknown_segment_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match="Segment not found"):
        store.read_sync(get_segment, "nope")
