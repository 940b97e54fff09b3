"""Which layer may import which (docs/architecture.md): the domain knows
nothing of the rest, the store knows no use case, the services know the
storage port but no SQL and no protocol, and the protocols reach the store
only through the port."""

from __future__ import annotations

from .test_import_cycles import import_graph

# What every layer may use: the error tree, the bounds, the configuration,
# and the exact reading of money.
_shared = {"errors", "limits", "config", "secrets", "money", "metrics"}
# Of the store, what the layers above it see: the ``Store`` type and the port.
_store_interface = {"pointkeeper.store", "pointkeeper.store.tx"}
_allowed: dict[str, set[str]] = {
    "errors": set(),
    "limits": set(),
    "secrets": set(),
    "money": set(),
    "metrics": set(),
    "config": {"limits", "secrets", "money"},
    "domain": {"errors", "limits"},
    "store": {*_shared, "domain"},
    "services": {*_shared, "domain", *_store_interface},
    "jobs": {*_shared, "domain", "services", *_store_interface},
    "protocols": {
        *_shared,
        "domain",
        "services",
        "jobs",
        "app_state",
        "logs",
        *_store_interface,
    },
}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "pointkeeper"


def _target(module: str) -> str:
    """A store module by its name (the interface is not all of the store);
    anything else by its layer."""
    return module if _layer(module) == "store" else _layer(module)


def _violations(graph: dict[str, set[str]]) -> list[str]:
    found = []
    for module, targets in sorted(graph.items()):
        layer = _layer(module)
        if layer not in _allowed:
            continue  # the wiring: app, cli, demo, serving, commands
        allowed = _allowed[layer]
        for target in sorted(targets):
            if _layer(target) == layer:
                continue
            if _target(target) not in allowed:
                found.append(f"{module} imports {target}")
    return found


def test_every_layer_imports_only_what_it_may() -> None:
    assert _violations(import_graph()) == []


def test_a_service_importing_sql_is_caught() -> None:
    graph = {
        "pointkeeper.services.ledger": {"pointkeeper.store.sql.ledger", "pointkeeper.store.tx"},
        "pointkeeper.domain.ledger": {"pointkeeper.services.ledger"},
        "pointkeeper.store.sql.ledger": {"pointkeeper.protocols.maestra.wording"},
    }
    assert _violations(graph) == [
        "pointkeeper.domain.ledger imports pointkeeper.services.ledger",
        "pointkeeper.services.ledger imports pointkeeper.store.sql.ledger",
        "pointkeeper.store.sql.ledger imports pointkeeper.protocols.maestra.wording",
    ]
