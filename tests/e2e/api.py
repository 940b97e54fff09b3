"""Thin async calls of the server's HTTP APIs, as a POS or shop would make them."""

from __future__ import annotations

from typing import Any

import httpx

from .server import PROGRAM, admin_headers, cp_headers

__all__ = [
    "HISTORY_END",
    "HISTORY_START",
    "async_client",
    "authorize",
    "balance_check",
    "earn",
    "enroll",
    "resolve",
]

# A range wide enough for the whole history: nothing falls before it, so the
# answer has no "Historical Summary" row.
HISTORY_START = "01/01/2000 00:00:00.000"
HISTORY_END = "12/31/2099 23:59:59.999"

_connections_max = 400
_timeout_seconds = 30.0


def async_client(base_url: str, *, timeout_seconds: float = _timeout_seconds) -> httpx.AsyncClient:
    """A client whose pool lets every request of a burst have its own connection."""
    assert base_url.startswith("http://127.0.0.1:")
    limits = httpx.Limits(
        max_connections=_connections_max, max_keepalive_connections=_connections_max
    )
    return httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout_seconds)


async def enroll(client: httpx.AsyncClient, customer_number: str) -> None:
    response = await client.put(
        f"/admin/v1/customers/{customer_number}",
        json={"program": PROGRAM},
        headers=admin_headers(),
    )
    assert response.status_code in (200, 201), (response.status_code, response.text)


async def earn(
    client: httpx.AsyncClient, customer_number: str, *, points: int, reference: str
) -> httpx.Response:
    return await client.post(
        "/Loyalty/Earn",
        json={
            "CustomerNumber": customer_number,
            "Points": points,
            "Reason": "e2e",
            "Reference": reference,
        },
        headers=cp_headers(),
    )


async def balance_check(client: httpx.AsyncClient, customer_number: str) -> dict[str, Any]:
    """The ``Loyalty`` object over the whole history."""
    response = await client.get(
        f"/Loyalty/{customer_number}/BalanceCheck",
        params={"startDate": HISTORY_START, "endDate": HISTORY_END},
        headers=cp_headers(),
    )
    assert response.status_code == 200, (response.status_code, response.text)
    loyalty: dict[str, Any] = response.json()["Loyalty"]
    return loyalty


async def authorize(
    client: httpx.AsyncClient, customer_number: str, *, sale_id: str, points: int
) -> httpx.Response:
    return await client.post(
        "/Loyalty/Authorize",
        json={
            "Type": "loyalty",
            "Ref": customer_number,
            "SaleId": sale_id,
            "RequestedPoints": points,
        },
        headers=cp_headers(),
    )


async def resolve(
    client: httpx.AsyncClient, customer_number: str, *, auth_code: str, action: str
) -> httpx.Response:
    """``action`` is ``Confirm`` or ``Cancel``."""
    assert action in ("Confirm", "Cancel")
    return await client.post(
        f"/Authorize/{action}",
        json={"Ref": customer_number, "AuthCode": auth_code},
        headers=cp_headers(),
    )
