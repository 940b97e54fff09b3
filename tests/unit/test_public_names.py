"""Every module says what it offers: each public name it defines (a class,
function or module-level value not starting with ``_``) is in its
``__all__``, and every name in ``__all__`` exists. Alembic's migration
scripts are left out: Alembic loads them by path, nobody imports them."""

from __future__ import annotations

import ast
import importlib

import pytest

from .test_import_cycles import package_modules

_modules = {
    name: path for name, path in package_modules().items() if ".store.migrations" not in name
}


def module_level_names(tree: ast.Module) -> set[str]:
    """The classes, functions and values a module defines at its top."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


@pytest.mark.parametrize("name", sorted(_modules))
def test_every_public_name_is_in_all(name: str) -> None:
    defined = module_level_names(ast.parse(_modules[name].read_text()))
    public = {each for each in defined if not each.startswith("_")}
    module = importlib.import_module(name)
    declared = set(getattr(module, "__all__", ()))
    assert (sorted(public - declared), [n for n in declared if not hasattr(module, n)]) == ([], [])
