"""The write queue both stores batch from: bounded in length and in how long
a write may wait, refusing early ("retry later") rather than answering late."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from pointkeeper import limits
from pointkeeper.errors import Overloaded
from pointkeeper.store.writes import WriteQueue

_wait_seconds_max = 2.0


class _Clock:
    """The loop's ``time()`` as the test sets it; futures from a real loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.now = 100.0

    def time(self) -> float:
        return self.now

    def create_future(self) -> asyncio.Future[Any]:
        return self._loop.create_future()


@pytest.fixture
def clock() -> Iterator[_Clock]:
    loop = asyncio.new_event_loop()
    yield _Clock(loop)
    loop.close()


def _nothing() -> None:
    pass


def _put(queue: WriteQueue, clock: _Clock) -> asyncio.Future[Any]:
    return queue.put(clock, _nothing, (), {})


def test_writes_are_taken_oldest_first_in_batches(clock: _Clock) -> None:
    queue = WriteQueue(wait_seconds_max=_wait_seconds_max)
    futures = [_put(queue, clock) for _ in range(limits.write_batch_max + 3)]
    first = queue.take(clock)
    assert [r.future for r in first] == futures[: limits.write_batch_max]
    assert [r.future for r in queue.take(clock)] == futures[limits.write_batch_max :]
    assert len(queue) == 0


def test_a_write_that_waited_too_long_is_answered_retry_later(clock: _Clock) -> None:
    queue = WriteQueue(wait_seconds_max=_wait_seconds_max)
    old = _put(queue, clock)
    clock.now += _wait_seconds_max / 2
    young = _put(queue, clock)
    clock.now += _wait_seconds_max / 2 + 0.01
    batch = queue.take(clock)
    assert [r.future for r in batch] == [young]
    assert isinstance(old.exception(), Overloaded)


def test_a_new_write_is_refused_at_once_while_the_oldest_waited_too_long(clock: _Clock) -> None:
    queue = WriteQueue(wait_seconds_max=_wait_seconds_max)
    _put(queue, clock)
    clock.now += _wait_seconds_max / 2
    _put(queue, clock)  # the queue is slow, not too slow yet
    clock.now += _wait_seconds_max / 2 + 0.01
    with pytest.raises(Overloaded):
        _put(queue, clock)
    queue.take(clock)
    _put(queue, clock)  # drained: taken again


def test_a_full_queue_refuses(clock: _Clock) -> None:
    queue = WriteQueue(wait_seconds_max=_wait_seconds_max)
    for _ in range(limits.write_queue_max):
        _put(queue, clock)
    with pytest.raises(Overloaded):
        _put(queue, clock)


def test_writes_put_back_come_first_in_their_order(clock: _Clock) -> None:
    queue = WriteQueue(wait_seconds_max=_wait_seconds_max)
    futures = [_put(queue, clock) for _ in range(3)]
    taken = queue.take(clock)
    later = _put(queue, clock)
    queue.put_back(taken[1:])
    assert [r.future for r in queue.take(clock)] == [*futures[1:], later]
