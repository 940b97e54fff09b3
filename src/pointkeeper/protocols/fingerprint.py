"""The fingerprint of a request kept under an idempotency key: a canonical
hash of what the caller sent, so that a retry is known for the same request
and another request under the same key for a different one.

It hashes the request's wire names and values, never a Python object of
the server's: a field renamed or added in the code keeps every fingerprint
kept before an upgrade, so a caller's retry across it is still a retry.
Every leaf is hashed as text (``5`` and ``"5"``, ``true`` and ``"true"`` are
the same), so that the same request in XML or JSON gives the same
fingerprint; keys are sorted.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

__all__ = ["request_fingerprint"]


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if value is None:
        return None
    return str(value).lower() if isinstance(value, bool) else str(value)


def request_fingerprint(name: str, tree: Any) -> str:
    """The hash of ``tree`` (the request's wire fields) sent to ``name`` (the
    operation or endpoint it was sent to)."""
    canonical = orjson.dumps([name, _plain(tree)], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()
