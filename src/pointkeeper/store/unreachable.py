"""Why a database could not be opened, said in one line: what every command
and the server's start-up print instead of a driver's traceback."""

from __future__ import annotations

import socket
import sqlite3
from urllib.parse import urlsplit

import asyncpg
import sqlalchemy.exc

__all__ = ["OPEN_FAILURES", "describe_open_failure"]

_postgres_port_default = 5432

# What a database that cannot be opened raises, directly or wrapped by
# SQLAlchemy (the migrations).
OPEN_FAILURES = (OSError, asyncpg.PostgresError, sqlite3.Error, sqlalchemy.exc.DBAPIError)


def _root_cause(exc: BaseException) -> BaseException:
    """The driver's own error under SQLAlchemy's and asyncio's wrappers."""
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = getattr(exc, "orig", None) if isinstance(exc, sqlalchemy.exc.DBAPIError) else None
        inner = inner or exc.__cause__
        if inner is None or not isinstance(inner, BaseException):
            break
        exc = inner
    return exc


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _reason(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "host not found"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return (exc.strerror or _first_line(exc)).lower()


def _postgres_address(database_url: str) -> str:
    parts = urlsplit(database_url)
    return f"{parts.hostname or 'localhost'}:{parts.port or _postgres_port_default}"


def describe_open_failure(database_url: str, exc: BaseException) -> str:
    """One line for an operator: where the database was looked for and what
    stood in the way, without the URL's password."""
    cause = _root_cause(exc)
    if database_url.startswith("sqlite:"):
        path = database_url.removeprefix("sqlite:///")
        if isinstance(cause, OSError):
            return f"could not open {path} ({_reason(cause)})"
        return f"could not open {path} ({_first_line(cause)})"
    address = _postgres_address(database_url)
    if isinstance(cause, OSError):
        return f"could not connect to {address} ({_reason(cause)})"
    if isinstance(cause, asyncpg.PostgresError):
        return f"PostgreSQL at {address} refused the connection: {_first_line(cause)}"
    return f"could not use PostgreSQL at {address}: {_first_line(cause)}"
