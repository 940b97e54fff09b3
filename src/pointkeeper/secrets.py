"""Secrets as the server keeps them: keyed hashes, compared in constant time.

Tokens, keys and passwords are hashed once the configuration is loaded, so
the plain values never sit in long-lived objects and never reach a log.
"""

from __future__ import annotations

import hmac
import secrets as _random
from collections.abc import Iterable

__all__ = ["SecretSet", "hash_secret", "new_secret"]

# A per-process key: the hashes are useless outside this process.
_process_key = _random.token_bytes(32)


def hash_secret(value: str) -> bytes:
    # The one-shot form runs in C; it is on the path of every request.
    return hmac.digest(_process_key, value.encode(), "sha256")


def new_secret(nbytes: int = 24) -> str:
    return _random.token_urlsafe(nbytes)


class SecretSet:
    """A set of secrets that answers membership in constant time per entry."""

    __slots__ = ("_hashes", "shortest")

    def __init__(self, values: Iterable[str]) -> None:
        kept = tuple(values)
        self._hashes = tuple(hash_secret(value) for value in kept)
        # Only the length of the shortest stays, for the warning of a weak one.
        self.shortest = min((len(value) for value in kept), default=None)

    def __contains__(self, candidate: object) -> bool:
        if not isinstance(candidate, str):
            return False
        digest = hash_secret(candidate)
        found = False
        for known in self._hashes:
            found |= hmac.compare_digest(known, digest)
        return found

    def __len__(self) -> int:
        return len(self._hashes)

    def __repr__(self) -> str:
        return f"SecretSet(<{len(self._hashes)} hidden>)"
