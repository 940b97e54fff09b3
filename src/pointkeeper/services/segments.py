"""Segments: named sets of customers, kept by an operator and read by the
Maestra export ("customers currently in that segment").

Every function is one unit of work: the store runs it as
``store.write(fn, ...)`` (or ``store.read(get_segment, ...)``) in one
transaction that rolls back unless the function returns. Refusals are
checked before anything is written, so a refused request changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pointkeeper import limits
from pointkeeper.errors import CustomerNotFound, ErrorCode, InvalidRequest, NotFound
from pointkeeper.limits import id_chars_max, text_chars_max
from pointkeeper.store.tx import SegmentRow, Tx

__all__ = [
    "MembersAdded",
    "SegmentView",
    "add_members",
    "get_segment",
    "put_segment",
    "remove_member",
]


@dataclass(frozen=True, slots=True)
class SegmentView:
    external_id: str
    name: str
    member_count: int


@dataclass(frozen=True, slots=True)
class MembersAdded:
    added: int
    member_count: int


def _check_id(value: str, *, field: str) -> None:
    if not 1 <= len(value) <= id_chars_max:
        raise InvalidRequest(
            code=ErrorCode.length_out_of_range, field=field, chars_max=id_chars_max
        )


def _segment(tx: Tx, external_id: str) -> SegmentRow:
    segment = tx.segment(external_id)
    if segment is None:
        raise NotFound(code=ErrorCode.segment_not_found, field="segment")
    return segment


def put_segment(tx: Tx, external_id: str, *, name: str) -> SegmentView:
    """Creates the segment or renames it; its members stay."""
    _check_id(external_id, field="segment")
    if not 1 <= len(name) <= text_chars_max:
        raise InvalidRequest(
            code=ErrorCode.length_out_of_range, field="name", chars_max=text_chars_max
        )
    segment_id = tx.upsert_segment(external_id, name=name)
    return SegmentView(external_id, name, tx.segment_member_count(segment_id))


def get_segment(tx: Tx, external_id: str) -> SegmentView:
    segment = _segment(tx, external_id)
    return SegmentView(segment.external_id, segment.name, tx.segment_member_count(segment.id))


def _unknown_numbers(unknown: Sequence[str]) -> str:
    shown = ", ".join(unknown[: limits.segment_unknown_numbers_shown_max])
    more = len(unknown) - limits.segment_unknown_numbers_shown_max
    return f"{shown} and {more} more" if more > 0 else shown


def add_members(tx: Tx, external_id: str, *, customer_numbers: Sequence[str]) -> MembersAdded:
    """Adds customers to an existing segment, all or none.

    A number named twice, or of a customer already in the segment, adds
    nothing (``added`` counts only new members), so a retried call is
    harmless. If any number names no customer the whole call is refused
    with ``CustomerNotFound`` naming the unknown ones and nothing is added:
    a half-applied list would leave the caller guessing which part to
    resend. An empty list adds nothing and is not an error.
    """
    if len(customer_numbers) > limits.segment_members_per_request_max:
        raise InvalidRequest(
            code=ErrorCode.too_many_members,
            field="customer_numbers",
            members_max=limits.segment_members_per_request_max,
        )
    segment = _segment(tx, external_id)
    numbers = list(dict.fromkeys(customer_numbers))
    found = tx.customer_ids_by_number(numbers)
    unknown = [number for number in numbers if number not in found]
    if unknown:
        raise CustomerNotFound(
            code=ErrorCode.customers_not_found,
            field="customer_numbers",
            unknown=_unknown_numbers(unknown),
        )
    added = tx.add_segment_members(segment.id, (found[number] for number in numbers))
    return MembersAdded(added, tx.segment_member_count(segment.id))


def remove_member(tx: Tx, *, external_id: str, customer_number: str) -> bool:
    """Takes a customer out of a segment; answers whether they were in it.
    Removing a customer who is not a member succeeds and changes nothing;
    an unknown segment or customer is refused."""
    segment = _segment(tx, external_id)
    customer = tx.customer_by("customer_number", customer_number)
    if customer is None:
        raise CustomerNotFound(code=ErrorCode.customer_not_found, field="customer_number")
    return tx.remove_segment_member(segment.id, customer_id=customer.id)
