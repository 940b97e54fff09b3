"""The error tree drawn in ``errors.py`` is the package's: every exception
class is in it, under the class it derives from."""

from __future__ import annotations

import importlib
import inspect
import re

from pointkeeper import errors

from .test_import_cycles import package_modules

_branch = re.compile(r"^ {4}(?P<indent>(?:│   |    )*)(?:├── |└── )(?P<name>\w+)")
_root = re.compile(r"^ {4}(?P<name>[A-Z_]\w*)$")


def _drawn_parents() -> dict[str, str]:
    """Each class drawn in the docstring, with the class drawn above it."""
    parents: dict[str, str] = {}
    path: list[str] = []
    for line in (errors.__doc__ or "").splitlines():
        if match := _root.match(line):
            path = [match["name"]]
            if match["name"] != "Exception":
                parents[match["name"]] = "Exception"
        elif match := _branch.match(line):
            depth = len(match["indent"]) // 4 + 1
            path = [*path[:depth], match["name"]]
            parents[match["name"]] = path[depth - 1]
    return parents


def _actual_parents() -> dict[str, str]:
    found = {}
    for name in package_modules():
        if ".store.migrations" in name:
            continue
        for each in vars(importlib.import_module(name)).values():
            is_error = inspect.isclass(each) and issubclass(each, BaseException)
            if is_error and each.__module__ == name:
                found[each.__name__] = each.__bases__[0].__name__
    return found


def test_the_drawn_tree_is_the_package_s() -> None:
    assert _drawn_parents() == _actual_parents()


def test_the_drawing_is_read_as_a_tree() -> None:
    drawn = _drawn_parents()
    assert (drawn["CustomerNotFound"], drawn["RedemptionRefused"]) == ("NotFound", "InvalidRequest")
    assert (drawn["StoreUnavailable"], drawn["LockBusy"]) == ("StoreError", "Exception")
