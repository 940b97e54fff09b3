"""The configuration reference keeps up with the code.

Every key of ``Config``, walked from its models, has a row in the tables of
docs/configuration.md and is set in pointkeeper.example.toml; neither names
a key the code does not have. The example loads, and the defaults the tables
give are the models' own. The example file's rule: every key is set (none is
left commented out), so parsing the file shows whether it holds a key.
"""

from __future__ import annotations

import re
import tomllib
import typing
from pathlib import Path
from typing import Any

import pytest

from pointkeeper.config import Config, ConfigError, OperationConfig, load_config, parse_config
from pointkeeper.protocols.maestra.order_operations import ORDER_KINDS
from pointkeeper.secrets import SecretSet

_root = Path(__file__).resolve().parents[2]
_doc = _root / "docs" / "configuration.md"
_example = _root / "pointkeeper.example.toml"
_header = "| key | type and range | default | environment variable | meaning |"
_no_variable = "—"


def _is_model(annotation: object) -> bool:
    return isinstance(annotation, type) and hasattr(annotation, "model_fields")


def _key_paths(model: Any, prefix: str = "") -> dict[str, tuple[Any, str]]:
    """Each key's path (``programs[].orders.multipliers``), with the model
    and the field name that hold it. A table is walked into, a list of
    tables too (``[]``); anything else, dicts included, is one key."""
    paths: dict[str, tuple[Any, str]] = {}
    for name, field in model.model_fields.items():
        path = prefix + name
        annotation = field.annotation
        arguments = typing.get_args(annotation)
        if _is_model(annotation):
            paths.update(_key_paths(annotation, path + "."))
        elif typing.get_origin(annotation) is tuple and arguments and _is_model(arguments[0]):
            paths.update(_key_paths(arguments[0], path + "[]."))
        else:
            paths[path] = (model, name)
    return paths


_paths = _key_paths(Config)
_table_sections = tuple(
    name for name, field in Config.model_fields.items() if _is_model(field.annotation)
)


def _doc_rows() -> dict[str, list[str]]:
    """The rows of the key tables, by the key in their first cell."""
    rows: dict[str, list[str]] = {}
    in_table = False
    for line in _doc.read_text(encoding="utf-8").splitlines():
        if line == _header:
            in_table = True
            continue
        if not line.startswith("|"):
            in_table = False
        if not in_table or line.startswith("|---"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        assert len(cells) == 5, f"a key row has five cells (no | inside one): {line}"
        key = re.fullmatch(r"`([^`]+)`", cells[0])
        assert key is not None, f"a key row starts with the `path`: {line}"
        assert key[1] not in rows, f"{key[1]} has two rows"
        rows[key[1]] = cells
    return rows


def _row(path: str) -> list[str]:
    rows = _doc_rows()
    assert path in rows, f"{path} has no row in docs/configuration.md"
    return rows[path]


def _example_data() -> dict[str, Any]:
    return tomllib.loads(_example.read_text(encoding="utf-8"))


def _data_paths(data: dict[str, Any], prefix: str = "") -> set[str]:
    """The key paths a parsed TOML document sets, walked as ``_key_paths``
    walks the models."""
    paths: set[str] = set()
    for name, value in data.items():
        path = prefix + name
        if path in _paths:
            paths.add(path)
        elif isinstance(value, dict):
            paths |= _data_paths(value, path + ".")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                paths |= _data_paths(item, path + "[].")
        else:
            paths.add(path)
    return paths


def _put(data: dict[str, Any], path: str, value: object) -> None:
    """Sets ``path`` in ``data``, in the first table of each list."""
    *parents, name = path.split(".")
    node = data
    for part in parents:
        node = node[part[:-2]][0] if part.endswith("[]") else node.setdefault(part, {})
    node[name] = value


def _get(config: Config, path: str) -> Any:
    node: Any = config
    for part in path.split("."):
        node = getattr(node, part[:-2])[0] if part.endswith("[]") else getattr(node, part)
    return node


def _default(path: str) -> Any:
    model, name = _paths[path]
    return model.model_fields[name].get_default(call_default_factory=True)


def _is_secret(path: str) -> bool:
    """Tokens, passwords and keys: hashed, or kept out of every repr."""
    model, name = _paths[path]
    field = model.model_fields[name]
    return field.annotation is SecretSet or field.repr is False


def _same(value: Any, default: Any) -> bool:
    if isinstance(default, SecretSet):
        return isinstance(value, SecretSet) and len(value) == len(default)
    if isinstance(default, bool) or isinstance(value, bool):
        return value is default
    return bool(value == default)


def _literal(cell: str, path: str) -> Any:
    literal = re.fullmatch(r"`(.+)`", cell)
    assert literal is not None, f"{path}: the default is `<TOML value>`, none or required"
    return tomllib.loads(f"v = {literal[1]}")["v"]


def _variable(path: str) -> str | None:
    section, _, rest = path.partition(".")
    if section not in _table_sections:
        return None
    key = rest.split(".")[0]
    return f"POINTKEEPER_{section}_{key.removesuffix('[]')}".upper()


def test_the_walk_sees_every_kind_of_key() -> None:
    for path in (
        "database.url",
        "cp_extender.users[].password",
        "programs[].orders.multipliers",
        "endpoints[].secret_key",
        "operations[].pool",
        "order_statuses",
    ):
        assert path in _paths
    assert {path.split(".")[0].removesuffix("[]") for path in _paths} == set(Config.model_fields)


def test_every_key_has_a_row_and_every_row_a_key() -> None:
    rows = _doc_rows()
    assert sorted(set(_paths) - set(rows)) == [], "keys missing from docs/configuration.md"
    assert sorted(set(rows) - set(_paths)) == [], "rows of docs/configuration.md for no key"


def test_the_example_sets_every_key_and_no_other() -> None:
    paths = _data_paths(_example_data())
    assert sorted(set(_paths) - paths) == [], "keys missing from pointkeeper.example.toml"
    assert sorted(paths - set(_paths)) == [], "keys of pointkeeper.example.toml the code lacks"


def test_the_example_loads() -> None:
    config = load_config(_example, environ={})
    kinds = {operation.kind for operation in config.operations}
    assert set(ORDER_KINDS) <= kinds
    assert "GetCustomerBalance" in kinds
    assert "IssuePromoCode" in kinds
    assert config.programs[0].orders.multipliers


def test_every_kind_is_named_in_the_example_and_the_doc() -> None:
    example, doc = _example.read_text(encoding="utf-8"), _doc.read_text(encoding="utf-8")
    for kind in typing.get_args(OperationConfig.model_fields["kind"].annotation):
        assert re.search(rf"\b{kind}\b", example), kind
        assert f"`{kind}`" in doc, kind


@pytest.mark.parametrize("path", sorted(path for path in _paths if _is_secret(path)))
def test_the_example_secrets_are_placeholders(path: str) -> None:
    # The plain values are read from the TOML: the loaded ones are hashes.
    node: Any = _example_data()
    for part in path.split("."):
        node = node[part[:-2]][0] if part.endswith("[]") else node[part]
    values = node if isinstance(node, list) else [node]
    assert values
    assert all(value.startswith("change-me-") for value in values)


@pytest.mark.parametrize("path", sorted(_paths))
def test_the_documented_default_is_the_models(path: str) -> None:
    model, name = _paths[path]
    field = model.model_fields[name]
    cell = _row(path)[2]
    if cell == "required":
        assert field.is_required(), f"{path} has a default"
        return
    assert not field.is_required(), f"{path} is required"
    if cell == "none":
        assert field.default is None, f"{path}: the default is {field.default!r}"
        return
    # The documented value, given in the example in place of the key, must
    # read as what leaving the key out gives.
    data = _example_data()
    _put(data, path, _literal(cell, path))
    value = _get(parse_config(data, environ={}), path)
    assert _same(value, _default(path)), f"{path}: documented {cell}, is {_default(path)!r}"


@pytest.mark.parametrize("path", sorted(_paths))
def test_the_documented_variable_overrides_the_key(path: str) -> None:
    cell = _row(path)[3]
    variable = _variable(path)
    if variable is None:
        assert cell == _no_variable, f"{path} cannot be overridden"
        section = path.split(".")[0].removesuffix("[]")
        with pytest.raises(ConfigError, match="no such configuration section"):
            parse_config({}, environ={f"POINTKEEPER_{section.upper()}_X": "1"})
        return
    assert cell.startswith(f"`{variable}`"), f"{path}: {cell}"
    default = _row(path)[2]
    if "[]" in path or not default.startswith("`"):
        return
    config = parse_config({}, environ={variable: default.strip("`")})
    assert _same(_get(config, path), _default(path)), variable


@pytest.mark.parametrize(
    "path",
    sorted(
        path
        for path in _paths
        if path.split(".")[0] in _table_sections
        and "[]" not in path
        and not _is_secret(path)
        and _default(path) is not None
    ),
)
def test_the_example_sets_the_table_sections_to_their_defaults(path: str) -> None:
    assert _same(_get(load_config(_example, environ={}), path), _default(path)), path
