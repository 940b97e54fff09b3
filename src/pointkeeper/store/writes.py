"""What both stores' group commit shares: a write waiting for its batch, the
queue it waits in, and the record of recent write failures.

The queue is bounded twice: in length (``write_queue_max``) and in time. A
write that could not start within ``wait_seconds_max`` is answered
``Overloaded`` (503, retry later) instead of late, when a batch would take
it; and while the oldest write waiting has waited that long already, a new
one is answered so at once. Under a flood of requests the answers thus stay
quick, refusals included, instead of every caller waiting ever longer for a
queue that does not drain.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable, Iterable
from typing import Any

from pointkeeper import limits, metrics
from pointkeeper.errors import Overloaded, StoreUnavailable

__all__ = ["Work", "WriteFailures", "WriteQueue", "WriteRequest", "answer"]

Work = Callable[..., Any]


class WriteRequest:
    """``work(tx, *args, **kwargs)`` and the future its caller awaits;
    ``attempts`` counts the batches that had to put it back; ``events`` what
    its last run counted, added to the metrics once its batch commits."""

    __slots__ = ("args", "attempts", "events", "future", "kwargs", "queued_at", "work")

    def __init__(
        self,
        work: Work,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        future: asyncio.Future[Any],
        queued_at: float,
    ) -> None:
        self.work = work
        self.args = args
        self.kwargs = kwargs
        self.events: list[metrics.Event] = []
        self.future = future
        self.queued_at = queued_at
        self.attempts = 0


def answer(request: WriteRequest, ok: bool, value: Any) -> None:
    """Answers the request's caller, unless it has gone (or was answered)."""
    if request.future.done():
        return
    if ok:
        request.future.set_result(value)
    else:
        request.future.set_exception(value)


def _too_busy() -> Overloaded:
    return Overloaded("Too many writes are waiting; retry later")


class WriteQueue:
    """The writes waiting for a batch, oldest first (see the module)."""

    __slots__ = ("_wait_seconds_max", "_waiting")

    def __init__(self, *, wait_seconds_max: float) -> None:
        self._waiting: collections.deque[WriteRequest] = collections.deque()
        self._wait_seconds_max = wait_seconds_max

    def __len__(self) -> int:
        return len(self._waiting)

    def put(
        self,
        loop: asyncio.AbstractEventLoop,
        work: Work,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> asyncio.Future[Any]:
        """Queues a write for the next batch, or refuses it when the queue is
        full or its oldest write has waited past its time already."""
        now = loop.time()
        if len(self._waiting) >= limits.write_queue_max or (
            self._waiting and now - self._waiting[0].queued_at > self._wait_seconds_max
        ):
            raise _too_busy()
        future: asyncio.Future[Any] = loop.create_future()
        self._waiting.append(WriteRequest(work, args, kwargs, future, now))
        return future

    def take(self, loop: asyncio.AbstractEventLoop) -> list[WriteRequest]:
        """The next batch; a write that has waited past its time is answered
        "retry later" instead of joining it."""
        now = loop.time()
        batch: list[WriteRequest] = []
        while self._waiting and len(batch) < limits.write_batch_max:
            request = self._waiting.popleft()
            if now - request.queued_at > self._wait_seconds_max:
                answer(request, False, _too_busy())
            else:
                batch.append(request)
        return batch

    def put_back(self, requests: list[WriteRequest]) -> None:
        """Returns writes to the head of the queue, in their order."""
        self._waiting.extendleft(reversed(requests))

    def fail_all(self, error: BaseException) -> None:
        while self._waiting:
            answer(self._waiting.popleft(), False, error)


class WriteFailures:
    """When the store last failed to write because the database was
    unavailable (down, full, read-only), unless a commit has succeeded since:
    ``/readyz`` reports a process whose writes fail even while the database
    still answers a read."""

    __slots__ = ("_last",)

    def __init__(self) -> None:
        self._last: float | None = None

    def record(self) -> None:
        self._last = time.monotonic()

    def note(self, outcomes: Iterable[tuple[bool, Any]]) -> None:
        """Records a committed batch: a failure if one of its requests met
        an unavailable database, a recovery if one of them succeeded."""
        succeeded = False
        for ok, value in outcomes:
            if not ok and isinstance(value, StoreUnavailable):
                self.record()
                return
            succeeded = succeeded or ok
        if succeeded:
            self._last = None

    def seen_within(self, seconds: float) -> bool:
        return self._last is not None and time.monotonic() - self._last <= seconds
