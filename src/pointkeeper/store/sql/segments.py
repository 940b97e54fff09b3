"""SQL of segments and their members."""

from __future__ import annotations

from collections.abc import Iterable

from ..tx import SegmentRow
from .area import SqlArea

__all__ = ["SegmentQueries"]


class SegmentQueries(SqlArea):
    """The ``Segments`` area."""

    __slots__ = ()

    def upsert_segment(self, external_id: str, *, name: str) -> int:
        row = self.connection.execute(
            "INSERT INTO segments (external_id, name) VALUES (?, ?)"
            " ON CONFLICT (external_id) DO UPDATE SET name = excluded.name RETURNING id",
            (external_id, name),
        ).fetchone()
        return int(row[0])

    def segment(self, external_id: str) -> SegmentRow | None:
        row = self.connection.execute(
            "SELECT id, external_id, name FROM segments WHERE external_id = ?", (external_id,)
        ).fetchone()
        return None if row is None else SegmentRow(int(row[0]), row[1], row[2])

    def segment_id(self, external_id: str) -> int | None:
        row = self.connection.execute(
            "SELECT id FROM segments WHERE external_id = ?", (external_id,)
        ).fetchone()
        return None if row is None else int(row[0])

    def add_segment_members(self, segment_id: int, customer_ids: Iterable[int]) -> int:
        """Adds the customers to the segment; answers how many were not
        members before (an existing member is left as it is)."""
        cursor = self.connection.executemany(
            "INSERT INTO segment_members (segment_id, customer_id) VALUES (?, ?)"
            " ON CONFLICT (segment_id, customer_id) DO NOTHING",
            ((segment_id, customer_id) for customer_id in customer_ids),
        )
        # executemany sums the rows each statement changed; a conflict changes none.
        return max(cursor.rowcount, 0)

    def remove_segment_member(self, segment_id: int, *, customer_id: int) -> bool:
        """Answers whether the customer was a member."""
        cursor = self.connection.execute(
            "DELETE FROM segment_members WHERE segment_id = ? AND customer_id = ?",
            (segment_id, customer_id),
        )
        return cursor.rowcount == 1

    def is_segment_member(self, segment_id: int, *, customer_id: int) -> bool:
        row = self.connection.execute(
            "SELECT EXISTS (SELECT 1 FROM segment_members"
            " WHERE segment_id = ? AND customer_id = ?)",
            (segment_id, customer_id),
        ).fetchone()
        return bool(row[0])

    def segment_member_count(self, segment_id: int) -> int:
        row = self.connection.execute(
            "SELECT COUNT(*) FROM segment_members WHERE segment_id = ?", (segment_id,)
        ).fetchone()
        return int(row[0])

    def segment_member_ids(
        self, segment_id: int, *, limit: int, after_customer_id: int = 0
    ) -> list[int]:
        """One page of member customer ids in ascending order: the first
        ``limit`` above ``after_customer_id`` (pass a page's last id to get
        the next page)."""
        assert limit > 0
        rows = self.connection.execute(
            "SELECT customer_id FROM segment_members WHERE segment_id = ? AND customer_id > ?"
            " ORDER BY customer_id LIMIT ?",
            (segment_id, after_customer_id, limit),
        )
        return [int(row[0]) for row in rows]
