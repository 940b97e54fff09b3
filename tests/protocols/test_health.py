"""/healthz says the process is up; /readyz that it can reach its database."""

from __future__ import annotations

from starlette.testclient import TestClient


def test_healthz_and_readyz_answer_when_the_database_is_open(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


def test_readyz_is_503_when_the_database_does_not_answer(client: TestClient) -> None:
    client.app.state.pointkeeper.ready_store.close()  # type: ignore[attr-defined]
    ready = client.get("/readyz")
    assert (ready.status_code, ready.json()) == (503, {"status": "database unavailable"})
    assert client.get("/healthz").status_code == 200  # the process itself is up
