"""SQL of reference data: programs, action templates and points of contact.
The programs and the built-in templates' ids are read once, when the store
opens (``ReferenceData``); every transaction answers them from there."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pointkeeper.domain.customers import Program

from ..in_lists import in_lists
from .area import SqlArea

__all__ = ["ReferenceQueries"]


class ReferenceQueries(SqlArea):
    """The ``References`` area."""

    __slots__ = ()

    def program(self, program_id: int) -> Program:
        return self.references.current.programs[program_id]

    def program_id(self, name: str) -> int | None:
        row = self._one("SELECT id FROM programs WHERE name = ?", (name,))
        return None if row is None else int(row[0])

    def load_programs(self) -> dict[int, Program]:
        rows = self.connection.execute(
            "SELECT id, name, earning_description, redemption_description, balance_type,"
            " credit_lifetime_days, order_bonus_pending_days, points_per_currency_unit"
            " FROM programs"
        )
        return {row[0]: Program(*row) for row in rows}

    def upsert_program(self, values: dict[str, Any]) -> None:
        columns = ", ".join(values)
        updates = ", ".join(f"{name} = excluded.{name}" for name in values if name != "name")
        self.connection.execute(
            f"INSERT INTO programs ({columns}) VALUES ({', '.join('?' * len(values))})"
            f" ON CONFLICT (name) DO UPDATE SET {updates}",
            tuple(values.values()),
        )

    def template_id(self, system_name: str) -> int | None:
        builtins = self.references.current.templates
        if system_name in builtins:
            return builtins[system_name]
        row = self._one("SELECT id FROM action_templates WHERE system_name = ?", (system_name,))
        return None if row is None else int(row[0])

    def upsert_template(self, system_name: str, *, name: str) -> int:
        row = self._one(
            "INSERT INTO action_templates (system_name, name) VALUES (?, ?)"
            " ON CONFLICT (system_name) DO UPDATE SET name = excluded.name RETURNING id",
            (system_name, name),
        )
        return int(row[0])

    def ensure_template(self, system_name: str, *, name: str) -> int:
        """The template's id, creating it with ``name`` when missing."""
        known = self.references.current.templates.get(system_name)
        if known is not None:
            return known
        self.connection.execute(
            "INSERT INTO action_templates (system_name, name) VALUES (?, ?)"
            " ON CONFLICT (system_name) DO NOTHING",
            (system_name, name),
        )
        template_id = self.template_id(system_name)
        assert template_id is not None
        return template_id

    def template(self, system_name: str) -> tuple[str, str] | None:
        row = self._one(
            "SELECT system_name, name FROM action_templates WHERE system_name = ?", (system_name,)
        )
        return None if row is None else (row[0], row[1])

    def templates_by_id(self, template_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
        """(system name, name) of each of the templates."""
        found: dict[int, tuple[str, str]] = {}
        for marks, ids in in_lists(template_ids):
            rows = self.connection.execute(
                f"SELECT id, system_name, name FROM action_templates WHERE id IN ({marks})", ids
            )
            found.update((row[0], (row[1], row[2])) for row in rows)
        return found

    def point_of_contact_id(self, external_id: str) -> int | None:
        row = self._one("SELECT id FROM points_of_contact WHERE external_id = ?", (external_id,))
        return None if row is None else int(row[0])

    def upsert_point_of_contact(self, external_id: str, *, name: str) -> int:
        row = self._one(
            "INSERT INTO points_of_contact (external_id, name) VALUES (?, ?)"
            " ON CONFLICT (external_id) DO UPDATE SET name = excluded.name RETURNING id",
            (external_id, name),
        )
        return int(row[0])

    def point_of_contact(self, external_id: str) -> tuple[str, str] | None:
        row = self._one(
            "SELECT external_id, name FROM points_of_contact WHERE external_id = ?", (external_id,)
        )
        return None if row is None else (row[0], row[1])

    def point_of_contact_by_id(self, point_of_contact_id: int) -> tuple[str, str]:
        row = self.connection.execute(
            "SELECT external_id, name FROM points_of_contact WHERE id = ?",
            (point_of_contact_id,),
        ).fetchone()
        assert row is not None
        return row[0], row[1]

    def points_of_contact_by_id(self, point_of_contact_ids: Iterable[int]) -> dict[int, str]:
        """The external id of each of the points of contact."""
        found: dict[int, str] = {}
        for marks, ids in in_lists(point_of_contact_ids):
            rows = self.connection.execute(
                f"SELECT id, external_id FROM points_of_contact WHERE id IN ({marks})", ids
            )
            found.update((row[0], row[1]) for row in rows)
        return found
