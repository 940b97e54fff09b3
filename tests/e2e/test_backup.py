"""``pointkeeper backup`` while a SQLite server takes writes: the copy is one
consistent moment of the ledger (every lot adds up, every balance is the sum
of its active changes, every change it holds is the server's own), and a
server started on the copy answers from it.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pointkeeper.services import loyalty
from pointkeeper.store import Store
from pointkeeper.store.tx import Tx

from .api import async_client, authorize, balance_check, earn, enroll, resolve
from .database import opened_store, select
from .server import running_server

pytestmark = pytest.mark.slow

CUSTOMERS = 8


def _ledger_checks(tx: Tx, customer_number: str) -> tuple[int, int]:
    """Asserts SPEC §1 on one customer of the copy; answers (point balance,
    available)."""
    customer = tx.customer_by("customer_number", customer_number)
    assert customer is not None
    for lot_id, amount, remaining, drawn, held in tx.lot_audit(customer.id):
        assert 0 <= remaining == amount - drawn - held, (lot_id, amount, remaining, drawn, held)
    now = int(time.time() * 1000)
    active = sum(
        amount
        for amount, available_from in tx.all_changes(customer.id)
        if available_from is None or available_from <= now
    )
    _, _, figures = loyalty.customer_view(tx, customer_number=customer_number, now=now)
    assert figures.point_balance == active
    assert figures.available == figures.point_balance - figures.open_authorizations >= 0
    return figures.point_balance, figures.available


def _changes(store: Store) -> list[tuple[Any, ...]]:
    return select(
        store,
        "SELECT id, customer_id, change_amount, kind, date_time_utc FROM balance_changes"
        " ORDER BY id",
    )


def _backup(config: Path, target: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pointkeeper.cli", "backup", "--to", str(target)],
        env={"POINTKEEPER_CONFIG": str(config), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_backup_taken_under_load_is_a_consistent_ledger(tmp_path: Path) -> None:
    numbers = [f"B{n}" for n in range(CUSTOMERS)]
    target = tmp_path / "copy" / "pointkeeper.db"
    target.parent.mkdir()
    config = tmp_path / "backup.toml"
    source_url = f"sqlite:///{tmp_path}/pointkeeper.db"
    config.write_text(f'[database]\nurl = "{source_url}"\n', encoding="utf-8")

    async def load(base_url: str) -> subprocess.CompletedProcess[str]:
        async with async_client(base_url) as client:
            for number in numbers:
                await enroll(client, number)
            stop = asyncio.Event()

            async def shopper(number: str) -> None:
                serial = 0
                while not stop.is_set():
                    serial += 1
                    await earn(client, number, points=10, reference=f"{number}-{serial}")
                    held = await authorize(client, number, sale_id=f"S-{serial}", points=3)
                    if held.status_code == 200 and serial % 2:
                        code = held.json()["AuthCode"]
                        await resolve(client, number, auth_code=code, action="Confirm")

            shoppers = [asyncio.ensure_future(shopper(n)) for n in numbers]
            await asyncio.sleep(1.0)
            done = await asyncio.to_thread(_backup, config, target)
            await asyncio.sleep(0.5)
            stop.set()
            await asyncio.gather(*shoppers)
            return done

    with running_server(tmp_path) as server:
        done = asyncio.run(load(server.base_url))
    assert done.returncode == 0, done.stderr
    assert "backed up" in done.stdout
    assert not (target.parent / "pointkeeper.db.partial").exists()

    with opened_store(source_url) as source:
        after = _changes(source)
    with opened_store(f"sqlite:///{target}") as copy:
        copied = _changes(copy)
        figures = {number: copy.read_sync(_ledger_checks, number) for number in numbers}
    # The copy holds a moment of the ledger: some changes, all of them the
    # server's, and fewer than the server made by the end of the load.
    assert copied
    assert copied == after[: len(copied)]
    assert len(copied) < len(after)

    # A server started on the copy answers what the copy holds.
    restored = tmp_path / "restored"
    restored.mkdir()
    (restored / "pointkeeper.db").write_bytes(target.read_bytes())

    async def check(base_url: str) -> dict[str, int]:
        async with async_client(base_url) as client:
            return {
                number: (await balance_check(client, number))["PointBalance"] for number in numbers
            }

    with running_server(restored) as server:
        answered = asyncio.run(check(server.base_url))
    assert answered == {number: point_balance for number, (point_balance, _) in figures.items()}


def test_backup_refuses_an_existing_file_and_postgresql(tmp_path: Path) -> None:
    existing = tmp_path / "taken.db"
    existing.write_bytes(b"keep me")
    config = tmp_path / "backup.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path}/pointkeeper.db"\n')
    with running_server(tmp_path):
        refused = _backup(config, existing)
    assert refused.returncode == 1
    assert "exists already" in refused.stderr
    assert existing.read_bytes() == b"keep me"
    config.write_text('[database]\nurl = "postgresql://postgres@127.0.0.1:5432/test"\n')
    postgres = _backup(config, tmp_path / "pg.db")
    assert postgres.returncode == 1
    assert "pg_dump" in postgres.stderr
    assert not (tmp_path / "pg.db").exists()
