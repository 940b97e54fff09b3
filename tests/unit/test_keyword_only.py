"""Two parameters of one type are keyword-only: a call that swaps them
(two ids, two dates, two names) would type-check, so only a keyword makes
it visible. Checked for every function of the package by its annotations."""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Iterator

from .test_import_cycles import package_modules

# The receiver and the unit of work every store function takes first.
_leading = {"self", "cls", "tx"}
# Migration scripts are history: they stay as they were released.
_released = "pointkeeper.store.migrations.versions."


def _swappable(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    positional = [
        argument
        for argument in (*function.args.posonlyargs, *function.args.args)
        if argument.arg not in _leading and argument.annotation is not None
    ]
    counts = Counter(ast.unparse(argument.annotation) for argument in positional)  # type: ignore[arg-type]
    return sorted(annotation for annotation, count in counts.items() if count > 1)


def _offenders() -> Iterator[str]:
    for module, path in package_modules().items():
        if module.startswith(_released):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            # Click calls its commands with keywords.
            if any("command" in ast.unparse(decorator) for decorator in node.decorator_list):
                continue
            swappable = _swappable(node)
            if swappable:
                yield f"{module}:{node.lineno} {node.name}: {', '.join(swappable)}"


def test_parameters_of_one_type_are_keyword_only() -> None:
    assert list(_offenders()) == []


def test_the_check_sees_a_swappable_pair() -> None:
    (function,) = ast.parse("def move(tx, source: int, target: int) -> None: ...").body
    assert isinstance(function, ast.FunctionDef)
    assert _swappable(function) == ["int"]
    (keyworded,) = ast.parse("def move(tx, *, source: int, target: int) -> None: ...").body
    assert isinstance(keyworded, ast.FunctionDef)
    assert _swappable(keyworded) == []
