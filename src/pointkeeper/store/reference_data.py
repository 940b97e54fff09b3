"""The reference data every transaction relies on: the configured programs
and the ids of the built-in action templates, written and read once when
the store opens (``open_store``), then answered without a query."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pointkeeper.config import OrderRulesConfig, ProgramConfig
from pointkeeper.domain.customers import Program
from pointkeeper.domain.orders import OrderRules
from pointkeeper.domain.templates import BUILTIN_TEMPLATES

from .tx import References

__all__ = ["CurrentReferenceData", "ReferenceData", "sync_reference_data"]


@dataclass(frozen=True, slots=True)
class ReferenceData:
    """Programs by id; the ids of the built-in templates and of those named
    after configured operations, by system name (each made once, at start);
    the order rules of each program and the order status vocabulary, which
    live in the configuration only."""

    programs: Mapping[int, Program] = field(default_factory=dict)
    templates: Mapping[str, int] = field(default_factory=dict)
    order_rules: Mapping[int, OrderRules] = field(default_factory=dict)
    order_statuses: Mapping[str, str] = field(default_factory=dict)


class CurrentReferenceData:
    """Where a store keeps the reference data its transactions see: one for
    the store, shared by all its transactions, so that replacing the data
    (the application reads it again on its event loop) reaches them all."""

    __slots__ = ("current",)

    def __init__(self, current: ReferenceData | None = None) -> None:
        self.current = current or ReferenceData()


def _order_rules(configured: OrderRulesConfig) -> OrderRules:
    return OrderRules(
        points_earned_per_currency_unit=configured.points_earned_per_currency_unit,
        points_payable_share_max=configured.points_payable_share_max,
        earning_order_total_min=configured.earning_order_total_min,
        excluded_products=frozenset(configured.excluded_products),
        multipliers=dict(configured.multipliers),
    )


def sync_reference_data(
    tx: References,
    programs: Sequence[ProgramConfig],
    order_statuses: Mapping[str, str] | None = None,
    operation_templates: Sequence[str] = (),
) -> ReferenceData:
    """Writes the configured programs and the built-in templates, and answers
    the reference data the store hands to every later transaction."""
    for program in programs:
        tx.upsert_program(program.model_dump(exclude={"orders"}))
    # Built-in templates are created once; an operator may rename them later.
    templates = {
        system_name: tx.ensure_template(system_name, name=name)
        for system_name, name in BUILTIN_TEMPLATES.items()
    }
    # An operation's actions carry its name as their template.
    templates.update((name, tx.ensure_template(name, name=name)) for name in operation_templates)
    loaded = tx.load_programs()
    rules = {program.name: _order_rules(program.orders) for program in programs}
    return ReferenceData(
        programs=loaded,
        templates=templates,
        order_rules={
            program_id: rules[program.name]
            for program_id, program in loaded.items()
            if program.name in rules
        },
        order_statuses=dict(order_statuses or {}),
    )
