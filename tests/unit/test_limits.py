"""Every bound of the server lives in ``limits.py``: no other module defines
a module-level ``*_max`` name, and every bound there is read somewhere."""

from __future__ import annotations

import ast
import re

from .test_import_cycles import package_modules
from .test_public_names import module_level_names

_bound = re.compile(r"_max(_|$)")
# Not bounds on what a caller may send or the server may hold: the range of
# instants Maestra's date format can write.
_values_of_a_format = {"pointkeeper.protocols.maestra.dates": {"instant_max", "instant_min"}}


def test_no_bound_outside_limits() -> None:
    found = {
        f"{module}.{name}"
        for module, path in package_modules().items()
        if module != "pointkeeper.limits"
        for name in module_level_names(ast.parse(path.read_text()))
        if _bound.search(name) and name not in _values_of_a_format.get(module, set())
    }
    assert sorted(found) == []


def test_every_bound_in_limits_is_read() -> None:
    modules = package_modules()
    limits = ast.parse(modules["pointkeeper.limits"].read_text())
    others = "\n".join(
        path.read_text() for module, path in modules.items() if module != "pointkeeper.limits"
    )
    limits_text = modules["pointkeeper.limits"].read_text()
    unread = [
        name
        for name in sorted(module_level_names(limits) - {"__all__"})
        if not re.search(rf"\b{name}\b", others)
        and len(re.findall(rf"\b{name}\b", limits_text)) <= 2  # its line and __all__
    ]
    assert unread == []
