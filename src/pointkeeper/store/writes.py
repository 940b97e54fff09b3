"""A write waiting for its batch, shared by both stores' group commit."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from typing import Any

from pointkeeper import limits
from pointkeeper.errors import Overloaded

__all__ = ["Work", "WriteRequest", "answer", "enqueue"]

Work = Callable[..., Any]


class WriteRequest:
    """``work(tx, *args, **kwargs)`` and the future its caller awaits;
    ``attempts`` counts the batches that had to put it back."""

    __slots__ = ("args", "attempts", "future", "kwargs", "work")

    def __init__(
        self,
        work: Work,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        future: asyncio.Future[Any],
    ) -> None:
        self.work = work
        self.args = args
        self.kwargs = kwargs
        self.future = future
        self.attempts = 0


def answer(request: WriteRequest, ok: bool, value: Any) -> None:
    """Answers the request's caller, unless it has gone (or was answered)."""
    if request.future.done():
        return
    if ok:
        request.future.set_result(value)
    else:
        request.future.set_exception(value)


def enqueue(
    waiting: collections.deque[WriteRequest],
    loop: asyncio.AbstractEventLoop,
    work: Work,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> asyncio.Future[Any]:
    """Queues a write for the next batch; refuses it while too many wait."""
    if len(waiting) >= limits.write_queue_max:
        raise Overloaded("Too many writes are waiting; retry later")
    future: asyncio.Future[Any] = loop.create_future()
    waiting.append(WriteRequest(work, args, kwargs, future))
    return future
