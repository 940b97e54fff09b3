"""Each protocol words every refusal of the domain and the services, and
none of a protocol's words is left in them."""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

import pytest

import pointkeeper
from pointkeeper.errors import ErrorCode, NotFound
from pointkeeper.protocols.admin import wording as admin
from pointkeeper.protocols.cp_extender import wording as cp_extender
from pointkeeper.protocols.maestra import wording as maestra

_package = Path(pointkeeper.__file__).parent
_layers = ("domain", "services")
_protocols = {"admin": admin, "cp_extender": cp_extender, "maestra": maestra}
# A camelCase name (changeAmount, pointOfContact) or a Maestra location.
_wire_name = re.compile(r"\b[a-z]+(?:[A-Z][a-z0-9]*)+\b|/operation\b")


def _sources() -> dict[str, str]:
    return {
        str(path.relative_to(_package)): path.read_text(encoding="utf-8")
        for layer in _layers
        for path in sorted((_package / layer).rglob("*.py"))
    }


def _codes_named(source: str) -> set[ErrorCode]:
    tree = ast.parse(source)
    return {
        ErrorCode[node.attr]
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "ErrorCode"
    }


def _raised_codes() -> set[ErrorCode]:
    return {code for source in _sources().values() for code in _codes_named(source)}


def _string_literals(source: str) -> list[str]:
    """The module's strings, docstrings and comments aside: the words it
    could put on a wire."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if id(node) not in docstrings
    ]


def _protocol_texts() -> set[str]:
    return {
        text
        for module in _protocols.values()
        for table in vars(module).values()
        if isinstance(table, Mapping)
        for text in table.values()
        if isinstance(text, str) and " " in text
    }


def _misplaced(sources: Mapping[str, str]) -> list[tuple[str, str]]:
    """(module, string) for every protocol text or wire name in ``sources``."""
    protocol_texts = _protocol_texts()
    found = []
    for module, source in sources.items():
        for literal in _string_literals(source):
            if literal in protocol_texts or _wire_name.search(literal):
                found.append((module, literal))
    return found


def test_the_domain_raises_codes() -> None:
    # What the next test checks is what the layers raise.
    assert {ErrorCode.insufficient_balance, ErrorCode.customer_not_found} <= _raised_codes()


def test_every_code_has_the_domains_text() -> None:
    # A protocol answers a code it does not word itself in the domain's text.
    assert all(code.text for code in ErrorCode)


@pytest.mark.parametrize("module", list(_protocols.values()))
def test_a_protocol_words_only_codes_that_exist(module: ModuleType) -> None:
    assert not module.TEXTS.keys() - _raised_codes(), "a text for a code nothing raises"


def test_no_protocol_words_are_in_the_domain_or_the_services() -> None:
    assert _misplaced(_sources()) == []


@pytest.mark.parametrize(
    "line",
    [
        'raise NotEnrolled("Not enrolled in Loyalty")',
        'raise NotFound(code=ErrorCode.template_not_found, field="actionTemplate")',
        'LOCATION = "/operation/balanceChanges/balanceChange/changeAmount"',
        'message = "RequestedAmount is out of range"',
    ],
)
def test_the_scan_finds_protocol_words(line: str) -> None:
    assert _misplaced({"services/example.py": line}) != []


def test_the_scan_passes_domain_words() -> None:
    line = 'raise NotFound(code=ErrorCode.template_not_found, field="template")'
    assert _misplaced({"services/example.py": f'"""Mentions changeAmount."""\n{line}'}) == []


def test_the_domain_and_services_raise_with_codes_not_texts() -> None:
    for module, source in _sources().items():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                call = node.exc
                is_error = isinstance(call.func, ast.Name) and call.func.id != "RuntimeError"
                if is_error:
                    assert not call.args, f"{module}:{node.lineno} raises a text, not a code"
                    keywords = {keyword.arg for keyword in call.keywords}
                    assert "code" in keywords, f"{module}:{node.lineno} raises no code"


@pytest.mark.parametrize("sent", ["{field}", "{0}", "{template}", "{", "}", "{!r}", "{{x}}"])
@pytest.mark.parametrize("module", list(_protocols.values()))
def test_a_value_with_braces_is_answered_as_it_was_sent(module: ModuleType, sent: str) -> None:
    error = NotFound(code=ErrorCode.template_not_found, field="template", template=sent)
    assert module.message(error) == f"Action template {sent} not found"
    assert error.message == f"Action template {sent} not found"


def test_a_protocol_names_the_field_in_its_own_words() -> None:
    error = NotFound(code=ErrorCode.multi_use_fixed, field="multi_use")
    assert (admin.message(error), admin.field(error)) == (
        "multiUse cannot change once the pool has codes",
        "multiUse",
    )
    amount = NotFound(code=ErrorCode.change_amount_invalid, field="change_amount", points_max=9)
    assert maestra.message(amount) == "changeAmount must be a non-zero integer within ±9"
    assert maestra.error_location(amount.field) == (
        "/operation/balanceChanges/balanceChange/changeAmount"
    )


def test_a_restated_error_keeps_its_code_and_values() -> None:
    error = NotFound(code=ErrorCode.points_out_of_range, field="points", points_max=5)
    assert cp_extender.message(error) == "Points must be an integer from 1 to 5"
    restated = error.restated(field="RequestedPoints")
    assert (type(restated), restated.code) == (NotFound, error.code)
    assert cp_extender.message(restated) == "RequestedPoints must be an integer from 1 to 5"


def test_an_own_text_is_answered_as_it_is() -> None:
    error = NotFound("no {field} here", field="x")
    assert (error.code, admin.message(error)) == (ErrorCode.not_found, "no {field} here")
