"""A server's configuration as the bench writes it.

A configuration is a dict in the shape of pointkeeper's own (`[database]`, `[server]`,
`[[operations]]`, ...). Before it is written it goes through the product's
`parse_config`, so a misspelt key or a value out of range stops the bench with the
product's own message, not a server that will not start; then it is written as TOML
(the product only reads TOML, so this module is the one TOML writer).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pointkeeper.config import ConfigError, parse_config

from .failures import BenchError

__all__ = ["PROGRAM", "maestra_settings", "merged", "toml_text", "write_config"]

# The one loyalty program every benchmark's customers are enrolled in.
PROGRAM = "Bench program"


def merged(base: Mapping[str, Any], more: Mapping[str, Any]) -> dict[str, Any]:
    """`base` with `more` laid over it: tables merge key by key, arrays of tables
    (`[[operations]]`) are appended to, any other value is replaced."""
    found = copy.deepcopy(dict(base))
    for key, value in more.items():
        if isinstance(value, Mapping) and isinstance(found.get(key), Mapping):
            found[key] = merged(found[key], value)
        elif isinstance(value, list) and isinstance(found.get(key), list):
            found[key] = [*found[key], *copy.deepcopy(value)]
        else:
            found[key] = copy.deepcopy(value)
    return found


def _value(value: Any) -> str:
    if isinstance(value, bool):  # before int: a bool is an int
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # JSON string escaping is valid TOML basic-string escaping.
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{key} = {_value(item)}" for key, item in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def toml_text(config: Mapping[str, Any]) -> str:
    """`config` as a TOML document: plain keys first (TOML wants them before any
    table), then `[table]`s, then `[[array of tables]]`s."""
    lines = [
        f"{key} = {_value(value)}"
        for key, value in config.items()
        if not isinstance(value, Mapping) and not _is_table_array(value)
    ]
    for name, table in config.items():
        if isinstance(table, Mapping):
            lines += ["", f"[{name}]", *(f"{k} = {_value(v)}" for k, v in table.items())]
    for name, tables in config.items():
        if _is_table_array(tables):
            for table in tables:
                lines += ["", f"[[{name}]]", *(f"{k} = {_value(v)}" for k, v in table.items())]
    return "\n".join(lines).lstrip("\n") + "\n"


def write_config(path: Path, config: Mapping[str, Any]) -> Path:
    """Checks `config` with the product's `parse_config` and writes it to `path`."""
    try:
        # parse_config may add to what it is given; the environment plays no part here.
        parse_config(copy.deepcopy(dict(config)), {})
    except ConfigError as error:
        raise BenchError(f"the bench wrote a configuration pointkeeper refuses: {error}") from None
    path.write_text(toml_text(config))
    return path


def maestra_settings(
    endpoint_id: str, secret_key: str, operations: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """Configuration to lay over a server's (`merged`): one Maestra endpoint and the
    given `[[operations]]` (name, kind and any keys of their own), all allowed on it."""
    return {
        "endpoints": [{"id": endpoint_id, "secret_key": secret_key}],
        "operations": [{**operation, "endpoints": [endpoint_id]} for operation in operations],
    }
