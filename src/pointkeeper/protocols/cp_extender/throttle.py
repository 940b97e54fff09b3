"""The throttle of ``POST /SSO/Login``: failed logins are counted per user
name and per client address, and a name or an address with too many of them
within a window is locked out for a while.

Plain Python with the clock passed in, so that tests move time by hand
instead of sleeping. The counts live in one process (docs/decisions.md).
User names are kept as keyed hashes: a password typed into the name field
must not sit in memory as text, and a long name costs no more than a short
one.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, Literal, TypeVar

from pointkeeper import limits
from pointkeeper.domain.time import Instant, ms_per_second
from pointkeeper.secrets import hash_secret

__all__ = ["LockedOut", "LoginThrottle"]

# What one failed login may lock out.
LockedOut = Literal["user name", "client address"]
_Key = TypeVar("_Key", bytes, str)


class _Entry:
    __slots__ = ("failures", "locked_until", "window_end")

    def __init__(self, window_end: Instant) -> None:
        self.failures = 0
        self.window_end = window_end
        self.locked_until: Instant | None = None


class _Counter(Generic[_Key]):
    """Failures per key, in a window that opens at the key's first failure.

    The entries are ordered by their last failure, so that the first one is
    the one to drop when the table is full.
    """

    def __init__(
        self, *, failures_max: int, window_ms: int, lockout_ms: int, entries_max: int
    ) -> None:
        assert failures_max >= 1 and window_ms >= 1 and lockout_ms >= 1 and entries_max >= 1
        self._failures_max = failures_max
        self._window_ms = window_ms
        self._lockout_ms = lockout_ms
        self._entries_max = entries_max
        self._entries: OrderedDict[_Key, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def locked_until(self, key: _Key, *, now: Instant) -> Instant | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.locked_until is not None and now < entry.locked_until:
            return entry.locked_until
        if entry.locked_until is not None or now >= entry.window_end:
            # The lockout or the window is over: the key starts afresh.
            del self._entries[key]
        return None

    def fail(self, key: _Key, *, now: Instant) -> bool:
        """Counts a failure; True when it starts a lockout."""
        if self.locked_until(key, now=now) is not None:
            return False
        entry = self._entries.pop(key, None) or _Entry(now + self._window_ms)
        entry.failures += 1
        if entry.failures >= self._failures_max:
            entry.locked_until = now + self._lockout_ms
        self._entries[key] = entry
        while len(self._entries) > self._entries_max:
            self._entries.popitem(last=False)
        return entry.locked_until is not None

    def clear(self, key: _Key) -> None:
        self._entries.pop(key, None)


class LoginThrottle:
    """Answers whether a login may be tried now, and counts the failures.

    A name or address is locked out at its ``failures_*_max``-th failure
    within ``window_seconds`` of its first, for ``lockout_seconds``; while it
    is, no attempt is counted, so one lockout is one event.
    """

    def __init__(
        self,
        *,
        failures_per_user_max: int,
        failures_per_address_max: int,
        window_seconds: int,
        lockout_seconds: int,
        entries_max: int = limits.login_throttle_entries_max,
    ) -> None:
        self.lockout_seconds = lockout_seconds
        window_ms = window_seconds * ms_per_second
        lockout_ms = lockout_seconds * ms_per_second
        self._users: _Counter[bytes] = _Counter(
            failures_max=failures_per_user_max,
            window_ms=window_ms,
            lockout_ms=lockout_ms,
            entries_max=entries_max,
        )
        self._addresses: _Counter[str] = _Counter(
            failures_max=failures_per_address_max,
            window_ms=window_ms,
            lockout_ms=lockout_ms,
            entries_max=entries_max,
        )

    def tracked(self) -> tuple[int, int]:
        """How many (user names, client addresses) are counted now."""
        return len(self._users), len(self._addresses)

    def retry_after_seconds(
        self, *, user_name: str | None, address: str | None, now: Instant
    ) -> int | None:
        """Whole seconds (at least 1) until a login for ``user_name`` from
        ``address`` may be tried again; None when it may be tried now."""
        ends = []
        if user_name is not None:
            ends.append(self._users.locked_until(hash_secret(user_name), now=now))
        if address is not None:
            ends.append(self._addresses.locked_until(address, now=now))
        end = max((e for e in ends if e is not None), default=None)
        if end is None:
            return None
        return max(1, -(-(end - now) // ms_per_second))

    def failed(
        self, *, user_name: str | None, address: str | None, now: Instant
    ) -> list[LockedOut]:
        """Counts a failed login; answers what it locked out (often nothing)."""
        locked: list[LockedOut] = []
        if user_name is not None and self._users.fail(hash_secret(user_name), now=now):
            locked.append("user name")
        if address is not None and self._addresses.fail(address, now=now):
            locked.append("client address")
        return locked

    def succeeded(self, *, user_name: str) -> None:
        """A successful login clears the name's failures. Not the address's:
        one known password must not buy an address more guesses at others."""
        self._users.clear(hash_secret(user_name))
