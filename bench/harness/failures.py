"""How a benchmark fails: `BenchError`, and `run_main`, which turns it into exit status 1."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn

import httpx

__all__ = ["BenchError", "no_answer", "run_main"]


class BenchError(RuntimeError):
    """A benchmark precondition or correctness check failed; the message says which."""


def no_answer(error: httpx.TimeoutException) -> str:
    """What a client timeout of the bench's own requests (set-up, checks) means."""
    request = error.request if error.__dict__.get("_request") else None
    what = f"{request.method} {request.url.path}" if request is not None else "a request"
    return f"{what}: no answer within the client's timeout ({error!r}): the server stalled"


def run_main(main: Callable[[], int]) -> NoReturn:
    """Runs a benchmark's `main` as the script's exit status; a `BenchError` or a request
    that got no answer ends it with status 1 and the reason."""
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"BENCH FAILED: {error}", file=sys.stderr)
    except httpx.TimeoutException as error:
        print(f"BENCH FAILED: {no_answer(error)}", file=sys.stderr)
    sys.exit(1)
