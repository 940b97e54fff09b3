"""Editing reference data: points of contact and action templates. (The
configured programs and the built-in templates are written when the store
opens, by ``open_store``.)"""

from __future__ import annotations

from pointkeeper.errors import ErrorCode, NotFound
from pointkeeper.store.tx import References

__all__ = ["find_point_of_contact", "put_action_template", "put_point_of_contact"]


def find_point_of_contact(tx: References, external_id: str | None) -> int | None:
    """The id of the point of contact a request names (None when it names
    none); an unknown one is refused."""
    if external_id is None:
        return None
    found = tx.point_of_contact_id(external_id)
    if found is None:
        raise NotFound(code=ErrorCode.point_of_contact_not_found, field="point_of_contact")
    return found


def put_point_of_contact(tx: References, *, external_id: str, name: str) -> tuple[str, str]:
    """Creates or renames a point of contact; answers (externalId, name)."""
    tx.upsert_point_of_contact(external_id, name=name)
    stored = tx.point_of_contact(external_id)
    assert stored is not None
    return stored


def put_action_template(tx: References, *, system_name: str, name: str) -> tuple[str, str]:
    """Creates or renames an action template; answers (systemName, name)."""
    tx.upsert_template(system_name, name=name)
    stored = tx.template(system_name)
    assert stored is not None
    return stored
