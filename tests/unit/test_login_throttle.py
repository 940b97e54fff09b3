"""The failed-login throttle of /SSO/Login, without HTTP: the clock moves by hand."""

from __future__ import annotations

from pointkeeper.protocols.cp_extender import throttle as throttle_module
from pointkeeper.protocols.cp_extender.throttle import LoginThrottle
from tests.conftest import FakeClock

SECOND_MS = 1_000


def make_throttle(*, entries_max: int = 100) -> LoginThrottle:
    return LoginThrottle(
        failures_per_user_max=3,
        failures_per_address_max=5,
        window_seconds=60,
        lockout_seconds=30,
        entries_max=entries_max,
    )


def fail(
    throttle: LoginThrottle, clock: FakeClock, name: str, address: str | None = "a"
) -> list[str]:
    return list(throttle.failed(user_name=name, address=address, now=clock()))


def wait(
    throttle: LoginThrottle, clock: FakeClock, name: str, address: str | None = "a"
) -> int | None:
    return throttle.retry_after_seconds(user_name=name, address=address, now=clock())


def test_the_public_names_exist() -> None:
    assert all(hasattr(throttle_module, name) for name in throttle_module.__all__)


def test_a_name_is_locked_out_at_its_last_allowed_failure() -> None:
    throttle, clock = make_throttle(), FakeClock()
    assert [fail(throttle, clock, "web") for _ in range(2)] == [[], []]
    assert wait(throttle, clock, "web") is None
    assert fail(throttle, clock, "web") == ["user name"]
    assert wait(throttle, clock, "web") == 30
    assert wait(throttle, clock, "other", "b") is None


def test_failures_outside_the_window_do_not_add_up() -> None:
    throttle, clock = make_throttle(), FakeClock()
    fail(throttle, clock, "web")
    fail(throttle, clock, "web")
    clock.advance(60 * SECOND_MS)
    assert fail(throttle, clock, "web") == []
    assert fail(throttle, clock, "web") == []
    assert wait(throttle, clock, "web") is None
    assert fail(throttle, clock, "web") == ["user name"]


def test_the_lockout_ends_after_its_time_and_the_count_starts_afresh() -> None:
    throttle, clock = make_throttle(), FakeClock()
    for _ in range(3):
        fail(throttle, clock, "web")
    clock.advance(29 * SECOND_MS + 1)
    assert wait(throttle, clock, "web") == 1
    clock.advance(SECOND_MS - 1)
    assert wait(throttle, clock, "web") is None
    assert fail(throttle, clock, "web") == []
    assert wait(throttle, clock, "web") is None


def test_retry_after_rounds_up_to_whole_seconds() -> None:
    throttle, clock = make_throttle(), FakeClock()
    for _ in range(3):
        fail(throttle, clock, "web")
    clock.advance(SECOND_MS // 2)
    assert wait(throttle, clock, "web") == 30


def test_a_failure_while_locked_out_neither_counts_nor_locks_again() -> None:
    throttle, clock = make_throttle(), FakeClock()
    for _ in range(3):
        fail(throttle, clock, "web", None)
    clock.advance(10 * SECOND_MS)
    assert fail(throttle, clock, "web", None) == []
    assert wait(throttle, clock, "web", None) == 20


def test_a_success_clears_the_names_failures_but_not_the_addresses() -> None:
    throttle, clock = make_throttle(), FakeClock()
    for _ in range(2):
        fail(throttle, clock, "web")
    throttle.succeeded(user_name="web")
    assert [fail(throttle, clock, "web") for _ in range(2)] == [[], []]
    assert fail(throttle, clock, "web") == ["user name", "client address"]


def test_an_address_is_locked_out_across_names() -> None:
    throttle, clock = make_throttle(), FakeClock()
    assert [fail(throttle, clock, f"user{i}") for i in range(4)] == [[], [], [], []]
    assert fail(throttle, clock, "user4") == ["client address"]
    assert wait(throttle, clock, "someone else") == 30
    assert wait(throttle, clock, "someone else", "b") is None


def test_a_missing_name_or_address_is_not_counted() -> None:
    throttle, clock = make_throttle(), FakeClock()
    for _ in range(10):
        throttle.failed(user_name=None, address=None, now=clock())
    assert throttle.tracked() == (0, 0)
    assert throttle.retry_after_seconds(user_name=None, address=None, now=clock()) is None


def test_the_tables_keep_at_most_entries_max_dropping_the_oldest() -> None:
    throttle, clock = make_throttle(entries_max=4), FakeClock()
    for _ in range(3):
        fail(throttle, clock, "first", "first")
    for i in range(3):
        fail(throttle, clock, f"user{i}", f"address{i}")
    assert throttle.tracked() == (4, 4)
    assert wait(throttle, clock, "first", "first") == 30
    fail(throttle, clock, "user3", "address3")
    assert throttle.tracked() == (4, 4)
    assert wait(throttle, clock, "first", "first") is None


def test_a_new_failure_makes_an_entry_the_newest() -> None:
    throttle, clock = make_throttle(entries_max=2), FakeClock()
    fail(throttle, clock, "web", "a")
    fail(throttle, clock, "other", "b")
    fail(throttle, clock, "web", "a")
    fail(throttle, clock, "third", "c")
    fail(throttle, clock, "web", "a")
    assert wait(throttle, clock, "web", "a") == 30


def test_names_are_not_kept_as_text() -> None:
    throttle, clock = make_throttle(), FakeClock()
    fail(throttle, clock, "typed-the-password-here")
    assert "typed-the-password-here" not in repr(vars(throttle._users))
