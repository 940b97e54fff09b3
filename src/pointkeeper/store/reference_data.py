"""The reference data every transaction relies on: the configured programs
and the ids of the built-in action templates, written and read once when
the store opens (``open_store``), then answered without a query."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pointkeeper.config import ProgramConfig
from pointkeeper.domain.customers import Program
from pointkeeper.domain.templates import BUILTIN_TEMPLATES

from .tx import References

__all__ = ["CurrentReferenceData", "ReferenceData", "sync_reference_data"]


@dataclass(frozen=True, slots=True)
class ReferenceData:
    """Programs by id, and built-in template ids by system name."""

    programs: Mapping[int, Program] = field(default_factory=dict)
    templates: Mapping[str, int] = field(default_factory=dict)


class CurrentReferenceData:
    """Where a store keeps the reference data its transactions see: one for
    the store, shared by all its transactions, so that replacing the data
    (the application reads it again on its event loop) reaches them all."""

    __slots__ = ("current",)

    def __init__(self, current: ReferenceData | None = None) -> None:
        self.current = current or ReferenceData()


def sync_reference_data(tx: References, programs: Sequence[ProgramConfig]) -> ReferenceData:
    """Writes the configured programs and the built-in templates, and answers
    the reference data the store hands to every later transaction."""
    for program in programs:
        tx.upsert_program(program.model_dump())
    # Built-in templates are created once; an operator may rename them later.
    templates = {
        system_name: tx.ensure_template(system_name, name=name)
        for system_name, name in BUILTIN_TEMPLATES.items()
    }
    return ReferenceData(programs=tx.load_programs(), templates=templates)
