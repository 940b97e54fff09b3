"""Request and response bodies of the admin API's segment endpoints, in the
conventions of ``schemas``: camelCase on the wire, unknown keys refused."""

from __future__ import annotations

from pydantic import Field

from pointkeeper.limits import segment_members_per_request_max
from pointkeeper.services.segments import MembersAdded, SegmentView

from .schemas import Id, Text, _Request, _Response

__all__ = ["MembersAddedOut", "MembersIn", "SegmentIn", "SegmentOut"]


class SegmentIn(_Request):
    name: Text = Field(min_length=1)


class SegmentOut(_Response):
    external_id: str
    name: str
    member_count: int

    @classmethod
    def of(cls, view: SegmentView) -> SegmentOut:
        return cls(external_id=view.external_id, name=view.name, member_count=view.member_count)


class MembersIn(_Request):
    customer_numbers: list[Id] = Field(
        max_length=segment_members_per_request_max,
        description=(
            "Customers to add. All must exist, or nothing is added; "
            "existing members and repeats add nothing."
        ),
    )


class MembersAddedOut(_Response):
    added: int = Field(description="Customers who were not members before.")
    member_count: int

    @classmethod
    def of(cls, result: MembersAdded) -> MembersAddedOut:
        return cls(added=result.added, member_count=result.member_count)
