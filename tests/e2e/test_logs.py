"""What an operator reads in the logs of a real server: an access line per
request (request id, method, route template, status, duration; never a
token, key, path id or body), and warnings at start of an API no secret
opens and of a secret short enough to guess."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from .api import async_client, balance_check, earn, enroll
from .server import CP_TOKEN, running_server

pytestmark = pytest.mark.slow

_short_key = "shortkey"


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def test_access_lines_and_start_up_warnings(tmp_path: Path) -> None:
    sections = {
        "logs": {"access_log": True},
        "endpoints": [{"id": "shop", "secret_key": _short_key}],
    }

    async def scenario(base_url: str) -> None:
        async with async_client(base_url) as client:
            await enroll(client, "CPOL-777")
            await earn(client, "CPOL-777", points=5, reference="secret-reference-1")
            await balance_check(client, "CPOL-777")
            response = await client.get("/no/such/path")
            assert response.status_code == 404

    with running_server(tmp_path, sections=sections) as server:
        asyncio.run(scenario(server.base_url))
        log_path = server.log_path
    text = log_path.read_text()
    records = _records(log_path)
    access = [r for r in records if r["logger"] == "pointkeeper.access"]
    # The start-up's own /healthz polls are lines like any other.
    seen = [(r["method"], r["route"], r["status"]) for r in access if r["route"] != "/healthz"]
    assert seen == [
        ("PUT", "/admin/v1/customers/{customerNumber}", 200),
        ("POST", "/Loyalty/Earn", 204),
        ("GET", "/Loyalty/{id}/BalanceCheck", 200),
        ("GET", "unmatched", 404),
    ]
    assert all(r["requestId"] and r["durationMs"] >= 0 for r in access)
    # Nothing of what was sent: no customer number, token, key or body value.
    for secret in ("CPOL-777", CP_TOKEN, _short_key, "secret-reference-1"):
        assert secret not in json.dumps(access)
    assert _short_key not in text
    warnings = [r["message"] for r in records if r["level"] == "warning"]
    assert "configuration: endpoints[0].secret_key: a secret shorter than 16 characters" in (
        warnings
    )
