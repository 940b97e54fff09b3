"""The admin API's segment endpoints: parse, call one service, render.

They share the other endpoints' prefix, documented error answers and
application state (``routes``); errors are translated by ``errors``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from pointkeeper.limits import id_chars_max
from pointkeeper.services import segments

from . import routes
from .routes import CustomerNumber, State
from .schemas import IdCharacters
from .segment_schemas import MembersAddedOut, MembersIn, SegmentIn, SegmentOut

__all__ = ["ExternalId", "delete_member", "get_segment", "post_members", "put_segment", "router"]

ExternalId = Annotated[
    str, Path(alias="externalId", min_length=1, max_length=id_chars_max), IdCharacters
]

router = APIRouter(prefix="/v1", responses=routes.router.responses, tags=["segments"])


@router.put("/segments/{externalId}")
async def put_segment(state: State, external_id: ExternalId, body: SegmentIn) -> SegmentOut:
    """Creates or renames a segment; its members stay."""
    view = await state.ready_store.write(segments.put_segment, external_id, name=body.name)
    return SegmentOut.of(view)


@router.get("/segments/{externalId}")
async def get_segment(state: State, external_id: ExternalId) -> SegmentOut:
    """The segment with its member count."""
    return SegmentOut.of(await state.ready_store.read(segments.get_segment, external_id))


@router.post("/segments/{externalId}/members")
async def post_members(state: State, external_id: ExternalId, body: MembersIn) -> MembersAddedOut:
    """Adds customers, all or none: one unknown customer number refuses the
    whole list (404 naming it). Adding a member again changes nothing."""
    result = await state.ready_store.write(
        segments.add_members, external_id, customer_numbers=body.customer_numbers
    )
    return MembersAddedOut.of(result)


@router.delete("/segments/{externalId}/members/{customerNumber}", status_code=204)
async def delete_member(
    state: State, external_id: ExternalId, customer_number: CustomerNumber
) -> None:
    """Takes a customer out of the segment; one who is not in it is no error."""
    await state.ready_store.write(
        segments.remove_member, external_id=external_id, customer_number=customer_number
    )
