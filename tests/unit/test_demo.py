"""``pointkeeper demo``: the folder it prepares, what every run prints, what
``--reset`` deletes and refuses, and every curl line it prints run against
the demo server itself."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from pointkeeper.cli import main

_start_seconds_max = 20.0
_curl_seconds_max = 5
_stop_seconds_max = 5.0
_poll_seconds = 0.05


def _demo(folder: Path, *options: str) -> Result:
    return CliRunner().invoke(main, ["demo", "--dir", str(folder), "--no-serve", *options])


def _admin_token(folder: Path) -> str:
    config = (folder / "config.toml").read_text()
    return config.split('[admin]\ntokens = ["', 1)[1].split('"', 1)[0]


def _rows(folder: Path, query: str) -> list[tuple[object, ...]]:
    with contextlib.closing(sqlite3.connect(folder / "pointkeeper.db")) as db:
        return db.execute(query).fetchall()


def _curl_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("curl ")]


def test_the_demo_prepares_a_folder_with_secrets_and_history(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    result = _demo(folder)
    assert result.exit_code == 0, result.output
    assert (folder / "config.toml").stat().st_mode & 0o777 == 0o600
    admin_token = _admin_token(folder)
    assert f"admin token:        {admin_token}" in result.output
    assert "curl http://127.0.0.1:8080/Loyalty/CPOL-123185/BalanceCheck" in result.output
    assert "/v3/operations/sync?endpointId=shop-web" in result.output
    assert _rows(folder, "SELECT COUNT(*) FROM balance_changes") == [(3,)]


def test_a_second_run_prints_the_same_tokens_and_lines(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    first = _demo(folder)
    again = _demo(folder)
    assert (first.exit_code, again.exit_code) == (0, 0), again.output
    assert f"admin token:        {_admin_token(folder)}" in again.output
    assert again.output == first.output
    # Seeded once: the second run adds nothing.
    assert _rows(folder, "SELECT COUNT(*) FROM balance_changes") == [(3,)]
    assert _rows(folder, "SELECT COUNT(*) FROM holds") == [(2,)]


def test_the_lines_carry_the_demo_datas_own_values(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    output = _demo(folder).output
    assert "<AuthCode" not in output
    assert "[value from" not in output
    assert [line for line in output.splitlines() if line.startswith("#")] == []
    holds = _rows(folder, "SELECT auth_code FROM holds WHERE status = 'open' ORDER BY id")
    (confirm,) = [line for line in _curl_lines(output) if "/Authorize/Confirm" in line]
    (cancel,) = [line for line in _curl_lines(output) if "/Authorize/Cancel" in line]
    assert f'"AuthCode":"{holds[0][0]}"' in confirm
    assert f'"AuthCode":"{holds[1][0]}"' in cancel
    codes = dict(
        _rows(
            folder,
            "SELECT c.value, c.used_at IS NOT NULL FROM promo_codes c"
            " JOIN customers u ON u.id = c.issued_customer_id WHERE u.website_id = 'web-1'",
        )
    )
    unused = next(value for value, used in codes.items() if not used)
    used = next(value for value, used in codes.items() if used)
    (redeem,) = [line for line in _curl_lines(output) if "RedeemPromoCode" in line]
    (cancel_redemption,) = [line for line in _curl_lines(output) if "CancelPromoCode" in line]
    assert f"<value>{unused}</value>" in redeem
    assert f"<value>{used}</value>" in cancel_redemption
    assert any("operation=Website.EditCustomer" in line for line in _curl_lines(output))


def test_reset_makes_new_secrets_and_a_fresh_database(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    assert _demo(folder).exit_code == 0
    old_token = _admin_token(folder)
    old_auth_codes = [code for (code,) in _rows(folder, "SELECT auth_code FROM holds")]
    with contextlib.closing(sqlite3.connect(folder / "pointkeeper.db")) as db, db:
        db.execute("UPDATE customers SET first_name = 'Marked'")
    (folder / "notes.txt").write_text("mine")
    reset = _demo(folder, "--reset", "--port", "8181")
    assert reset.exit_code == 0, reset.output
    new_token = _admin_token(folder)
    assert new_token != old_token
    assert f"admin token:        {new_token}" in reset.output
    assert old_token not in reset.output
    assert "http://127.0.0.1:8181/Connection/Status" in reset.output
    assert _rows(folder, "SELECT COUNT(*) FROM customers WHERE first_name IS NOT NULL") == [(0,)]
    assert not any(str(code) in reset.output for code in old_auth_codes)
    assert _rows(folder, "SELECT COUNT(*) FROM holds") == [(2,)]
    assert (folder / "notes.txt").read_text() == "mine"  # not the demo's: kept


def test_reset_refuses_a_folder_the_demo_did_not_make(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    own = '[database]\nurl = "sqlite:///elsewhere.db"\n'
    (folder / "config.toml").write_text(own)
    (folder / "pointkeeper.db").write_bytes(b"precious")
    for options in (("--reset",), ()):
        refused = _demo(folder, *options)
        assert refused.exit_code == 1
        assert "was not written by `pointkeeper demo`" in refused.output
    assert (folder / "config.toml").read_text() == own
    assert (folder / "pointkeeper.db").read_bytes() == b"precious"


def test_reset_refuses_a_database_without_the_demos_configuration(tmp_path: Path) -> None:
    (tmp_path / "pointkeeper.db").write_bytes(b"precious")
    refused = _demo(tmp_path, "--reset")
    assert refused.exit_code == 1
    assert "no demo configuration" in refused.output
    assert (tmp_path / "pointkeeper.db").read_bytes() == b"precious"


def test_a_demo_configuration_without_its_secrets_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    _demo(folder)
    config_path = folder / "config.toml"
    config_path.write_text(config_path.read_text().replace("[admin]\ntokens", "[admin]\n#"))
    refused = _demo(folder)
    assert refused.exit_code == 1
    assert "lacks the demo's secrets; `pointkeeper demo --reset` starts over" in refused.output
    assert _demo(folder, "--reset").exit_code == 0


def test_used_up_values_give_way_to_a_note(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    _demo(folder)
    with contextlib.closing(sqlite3.connect(folder / "pointkeeper.db")) as db, db:
        db.execute("UPDATE holds SET status = 'cancelled'")
        db.execute("UPDATE promo_codes SET used_at = 1 WHERE issued_customer_id IS NOT NULL")
    output = _demo(folder).output
    assert not any("/Authorize/Confirm" in line for line in _curl_lines(output))
    assert not any("RedeemPromoCode" in line for line in _curl_lines(output))
    assert "# Authorize/Confirm: CPOL-123185 has no open hold left" in output
    assert "# RedeemPromoCode: web-1 has no unused demo code left" in output
    assert any("CancelPromoCodeRedemption" in line for line in _curl_lines(output))


# -- every printed line against the running demo -----------------------------


def _free_port() -> int:
    # Another process could take the port before the server binds it; rare
    # on a test machine, and start-up would fail loudly.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def _demo_server(folder: Path, port: int) -> Iterator[Path]:
    """``pointkeeper demo`` as a child process leading its own group; yields
    the file its output goes to once ``/healthz`` answers."""
    log_path = folder.parent / "demo.log"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("POINTKEEPER_")}
    command = [sys.executable, "-m", "pointkeeper.cli", "demo", "--dir", str(folder)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=True,
        )
    try:
        _wait_healthy(process, port, log_path)
        yield log_path
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(_stop_seconds_max)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(_stop_seconds_max)


def _wait_healthy(process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + _start_seconds_max
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=1.0) as client:
        while time.monotonic() < deadline:
            assert process.poll() is None, log_path.read_text(errors="replace")
            with contextlib.suppress(httpx.TransportError):
                if client.get("/healthz").status_code == 200:
                    return
            time.sleep(_poll_seconds)
    raise AssertionError(f"the demo did not answer in time:\n{log_path.read_text()}")


def _run(line: str) -> tuple[int, str]:
    """Runs a printed line as pasted into a shell; answers (status, body)."""
    suffix = f" -sS --max-time {_curl_seconds_max} -w '\\n%{{http_code}}'"
    done = subprocess.run(
        ["bash", "-c", line + suffix],
        capture_output=True,
        text=True,
        timeout=_curl_seconds_max + 2,
        check=False,
    )
    assert done.returncode == 0, (line, done.stderr)
    body, _, status = done.stdout.rpartition("\n")
    return int(status), body


def _succeeded(line: str, status: int, body: str) -> bool:
    if not 200 <= status < 300:
        return False
    if "/v3/operations/" in line:
        return "<status>Success</status>" in body or json.loads(body)["status"] == "Success"
    if status == 204:
        return body == ""
    answer = json.loads(body)
    if "/admin/" in line:
        return "error" not in answer
    # CP Extender: each answer's own sign of success.
    for path, field, expected in (
        ("/Connection/Status", "Status", "Ok"),
        ("/SSO/Login", "APItoken", None),
        ("/BalanceCheck", "Loyalty", None),
        ("/Loyalty/Authorize", "AuthCode", None),
    ):
        if path in line:
            return field in answer and expected in (None, answer[field])
    return False


@pytest.mark.slow
def test_every_printed_line_works_against_the_demo_server(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    with _demo_server(folder, _free_port()) as log_path:
        lines = _curl_lines(log_path.read_text())
        assert len(lines) >= 28
        answers = [(line, *_run(line)) for line in lines]
        failed = [answer for answer in answers if not _succeeded(*answer)]
        assert failed == []
        statuses = _rows(folder, "SELECT sale_id, status FROM holds ORDER BY id")
    assert statuses[:2] == [("WB-101-10444", "confirmed"), ("WB-101-10445", "cancelled")]
