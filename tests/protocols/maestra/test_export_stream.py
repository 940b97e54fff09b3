"""The streamed export over raw ASGI: chunks, and a client that goes away."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pointkeeper.app import create_app
from pointkeeper.services import loyalty
from pointkeeper.services.customers import put_customer
from tests.conftest import PROGRAM, FakeClock
from tests.protocols.maestra.conftest import KEY, maestra_config

ACTIONS = 12_000  # a few 1 MB chunks of XML
EXPORT_BODY = (
    b"<operation><sinceDateTimeUtc>2020-01-01 00:00</sinceDateTimeUtc>"
    b"<tillDateTimeUtc>2030-01-01 00:00</tillDateTimeUtc></operation>"
)


def _seed(tx: Any, now: int) -> None:
    put_customer(tx, "C1", fields={}, program=PROGRAM, now=now)
    for number in range(ACTIONS):
        loyalty.earn(
            tx,
            customer_number="C1",
            points=1,
            reason=None,
            reference=f"r{number}",
            now=now + number,
        )


async def _export(
    tmp_path: Path, database_url: str, *, leave_after_chunks: int | None
) -> list[dict[str, Any]]:
    clock = FakeClock()
    config = maestra_config(tmp_path, database_url)
    app = create_app(config, clock=clock)
    startup: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await startup.put({"type": "lifespan.startup"})
    started: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    lifespan = asyncio.ensure_future(
        app({"type": "lifespan", "asgi": {"version": "3.0"}}, startup.get, started.put)
    )
    await started.get()
    store = app.state.pointkeeper.ready_store
    await store.write(_seed, clock.now)
    endpoint = config.endpoints[0].id
    operation = next(o.name for o in config.operations if o.kind == "ExportBalanceChanges")
    sent: list[dict[str, Any]] = []
    gone = asyncio.Event()
    body_given = False

    async def receive() -> dict[str, Any]:
        nonlocal body_given
        if not body_given:
            body_given = True
            return {"type": "http.request", "body": EXPORT_BODY, "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        chunks = sum(1 for m in sent if m["type"] == "http.response.body")
        if leave_after_chunks is not None and chunks >= leave_after_chunks:
            gone.set()
        await asyncio.sleep(0)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "path": "/v3/operations/sync",
        "raw_path": b"/v3/operations/sync",
        "root_path": "",
        "query_string": f"endpointId={endpoint}&operation={operation}".encode(),
        "scheme": "http",
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 1),
        "headers": [
            (b"content-type", b"application/xml"),
            (b"authorization", b"SecretKey " + KEY.encode()),
        ],
    }
    await app(scope, receive, send)
    await startup.put({"type": "lifespan.shutdown"})
    await started.get()
    await lifespan
    return sent


def test_the_export_streams_every_action_in_chunks(tmp_path: Path, database_url: str) -> None:
    sent = asyncio.run(_export(tmp_path, database_url, leave_after_chunks=None))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert sent[0]["status"] == 200
    assert sum(1 for m in sent if m["type"] == "http.response.body") > 3
    assert body.count(b"<customerAction>") == ACTIONS
    assert body.endswith(b"</customerActions></result>")


def test_an_export_stops_when_the_client_goes_away(tmp_path: Path, database_url: str) -> None:
    sent = asyncio.run(_export(tmp_path, database_url, leave_after_chunks=1))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert body.count(b"<customerAction>") < ACTIONS
    assert not body.endswith(b"</result>")
