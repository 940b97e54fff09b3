"""``pointkeeper segments``: keep segments and their members from the shell,
through the same service functions as the admin API."""

from __future__ import annotations

import click

from pointkeeper.services import segments as service

from .store import config_option, echo_json, load, opened_store

__all__ = ["add", "put", "remove", "segments", "show"]


def _segment_json(view: service.SegmentView) -> dict[str, object]:
    return {"externalId": view.external_id, "name": view.name, "memberCount": view.member_count}


@click.group()
def segments() -> None:
    """Segments: named sets of customers (the export's segment filter)."""


@segments.command("put")
@click.argument("external_id")
@click.option("--name", required=True, help="The segment's name.")
@config_option
def put(external_id: str, name: str, config_path: str | None) -> None:
    """Create or rename the segment EXTERNAL_ID; print it as JSON."""
    with opened_store(load(config_path)) as store:
        view = store.write_sync(service.put_segment, external_id, name=name)
    echo_json(_segment_json(view))


@segments.command("add")
@click.argument("external_id")
@click.argument("customer_numbers", metavar="CUSTOMER_NUMBER...", nargs=-1, required=True)
@config_option
def add(external_id: str, customer_numbers: tuple[str, ...], config_path: str | None) -> None:
    """Add customers to the segment, all or none; print how many were new."""
    with opened_store(load(config_path)) as store:
        result = store.write_sync(
            service.add_members, external_id, customer_numbers=customer_numbers
        )
    echo_json({"added": result.added, "memberCount": result.member_count})


@segments.command("remove")
@click.argument("external_id")
@click.argument("customer_number")
@config_option
def remove(external_id: str, customer_number: str, config_path: str | None) -> None:
    """Take a customer out of the segment (no error if not a member)."""
    with opened_store(load(config_path)) as store:
        removed = store.write_sync(
            service.remove_member, external_id=external_id, customer_number=customer_number
        )
    echo_json({"removed": removed})


@segments.command("show")
@click.argument("external_id")
@config_option
def show(external_id: str, config_path: str | None) -> None:
    """Print the segment with its member count as JSON."""
    with opened_store(load(config_path)) as store:
        view = store.read_sync(service.get_segment, external_id)
    echo_json(_segment_json(view))
