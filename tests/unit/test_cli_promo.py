"""``pointkeeper pools``, ``codes`` and ``import-codes``: the same service
functions as the admin API, run on the configured SQLite database (no
server), printing JSON; exit codes for refusals and rejected rows."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from pointkeeper import limits
from pointkeeper.cli import main
from pointkeeper.config import load_config
from tests.conftest import db_snapshot

VALUE_REASON = (
    "A promo code is 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"
)
FROM_REASON = "availableFromDateTimeUtc must be an ISO 8601 date, e.g. 2026-01-01T00:00:00.000Z"
NO_COUNTS = {"available": 0, "issued": 0, "used": 0, "blocked": 0}


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "pointkeeper.toml"
    path.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path}/pointkeeper.db"\n\n'
        '[[programs]]\nname = "Loyalty program 1"\n',
        encoding="utf-8",
    )
    return path


def run(config_file: Path, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--config", str(config_file)])


def ok(result: Result) -> Any:
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.stdout)


def refused(result: Result, message: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr == f"Error: {message}\n"


def stored_codes(tmp_path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(tmp_path / "pointkeeper.db") as db:
        return db.execute(
            "SELECT value, available_from, available_till FROM promo_codes ORDER BY id"
        ).fetchall()


@pytest.fixture
def pool(config_file: Path) -> str:
    ok(run(config_file, "pools", "put", "WELCOME", "--name", "Welcome"))
    return "WELCOME"


def write_csv(tmp_path: Path, text: str | bytes, name: str = "codes.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8", newline="")
    else:
        path.write_bytes(text)
    return path


def import_file(config_file: Path, path: Path, *options: str, pool: str = "WELCOME") -> Result:
    return run(config_file, "import-codes", pool, str(path), *options)


def summary(result: Result, exit_code: int) -> dict[str, Any]:
    assert result.exit_code == exit_code, (result.output, result.exception)
    found: dict[str, Any] = json.loads(result.stdout)
    assert isinstance(found.pop("seconds"), float)
    assert isinstance(found.pop("rowsPerSecond"), int | None)
    return found


def test_the_commands_are_listed_in_the_main_help() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in ("pools", "codes", "import-codes"):
        assert name in result.stdout


# -- pools ---------------------------------------------------------------------


def test_put_creates_a_single_use_pool_and_show_prints_it(config_file: Path) -> None:
    created = ok(run(config_file, "pools", "put", "WELCOME", "--name", "Welcome"))
    assert created == {
        "externalId": "WELCOME",
        "name": "Welcome",
        "description": None,
        "issueStartDateTimeUtc": None,
        "issueEndDateTimeUtc": None,
        "availableFromDateTimeUtc": None,
        "availableTillDateTimeUtc": None,
        "multiUse": False,
        "discount": None,
        "counts": NO_COUNTS,
    }
    assert ok(run(config_file, "pools", "show", "WELCOME")) == created


def test_put_changes_only_the_options_given(config_file: Path, pool: str) -> None:
    changed = ok(
        run(
            config_file,
            *("pools", "put", pool, "--description", "For new customers", "--multi-use"),
            *("--issue-start", "2026-03-01T03:00:00+03:00", "--issue-end", "2026-04-01"),
            *("--available-from", "2026-03-01T00:00:00Z", "--available-till", "2026-06-01"),
        )
    )
    assert changed == {
        "externalId": pool,
        "name": "Welcome",
        "description": "For new customers",
        "issueStartDateTimeUtc": "2026-03-01T00:00:00Z",
        "issueEndDateTimeUtc": "2026-04-01T00:00:00Z",
        "availableFromDateTimeUtc": "2026-03-01T00:00:00Z",
        "availableTillDateTimeUtc": "2026-06-01T00:00:00Z",
        "multiUse": True,
        "discount": None,
        "counts": NO_COUNTS,
    }
    renamed = ok(run(config_file, "pools", "put", pool, "--name", "Hello", "--single-use"))
    assert renamed == {**changed, "name": "Hello", "multiUse": False}
    cleared = ok(run(config_file, "pools", "put", pool, "--description", "", "--issue-end", ""))
    assert cleared == {**renamed, "description": None, "issueEndDateTimeUtc": None}


def test_a_new_pool_needs_a_name(config_file: Path) -> None:
    refused(
        run(config_file, "pools", "put", "NEW", "--multi-use"), "A new pool needs a name (name)"
    )


def test_a_bad_date_option_is_a_usage_error(config_file: Path, pool: str) -> None:
    result = run(config_file, "pools", "put", pool, "--issue-start", "soon")
    assert result.exit_code == 2, result.output
    assert "'soon' is not an ISO 8601 date" in result.stderr


def test_show_of_an_unknown_pool_fails(config_file: Path) -> None:
    refused(run(config_file, "pools", "show", "NOPE"), "Promo code pool not found (pool)")


def test_generate_adds_codes_and_show_counts_them(
    config_file: Path, tmp_path: Path, pool: str
) -> None:
    result = run(config_file, "pools", "generate", pool, "--count", "12", "--pattern", "W-XXXX")
    assert ok(result) == {"generated": 12}
    assert ok(run(config_file, "pools", "show", pool))["counts"] == {**NO_COUNTS, "available": 12}
    assert all(value.startswith("W-") for value, _, _ in stored_codes(tmp_path))


def test_generate_refusals(config_file: Path, pool: str) -> None:
    result = run(config_file, "pools", "generate", pool, "--count", "0", "--pattern", "W-XXXX")
    assert result.exit_code == 2, result.output
    refused(
        run(config_file, "pools", "generate", pool, "--count", "5", "--pattern", "W-XX"),
        "pattern must be at most 64 characters with at least four X (pattern)",
    )
    refused(
        run(config_file, "pools", "generate", "NOPE", "--count", "5", "--pattern", "W-XXXX"),
        "Promo code pool not found (pool)",
    )


# -- codes ---------------------------------------------------------------------


def test_block_prints_the_code(config_file: Path, tmp_path: Path, pool: str) -> None:
    path = write_csv(tmp_path, "value,availableTillDateTimeUtc\nA1,2026-06-01T00:00:00Z\n")
    summary(import_file(config_file, path), 0)
    blocked = ok(run(config_file, "codes", "block", "A1"))
    blocked_at = blocked.pop("blockedDateTimeUtc")
    assert blocked_at.endswith("Z")
    assert blocked == {
        "value": "A1",
        "pool": pool,
        "availableFromDateTimeUtc": None,
        "availableTillDateTimeUtc": "2026-06-01T00:00:00Z",
        "issuedCustomerId": None,
        "issuedDateTimeUtc": None,
        "usedDateTimeUtc": None,
    }
    again = ok(run(config_file, "codes", "block", "A1"))
    assert again["blockedDateTimeUtc"] == blocked_at
    assert ok(run(config_file, "pools", "show", pool))["counts"] == {**NO_COUNTS, "blocked": 1}


def test_blocking_an_unknown_code_fails(config_file: Path) -> None:
    refused(run(config_file, "codes", "block", "NOPE"), "Promo code not found (value)")


# -- import-codes --------------------------------------------------------------


def test_import_of_a_clean_file_exits_0(config_file: Path, tmp_path: Path, pool: str) -> None:
    path = write_csv(tmp_path, "\ufeffvalue\r\nA1\r\nA2\r\n\r\nA3\r\n")
    result = import_file(config_file, path)
    assert summary(result, 0) == {
        "rows": 3,
        "imported": 3,
        "rejected": 0,
        "firstRejections": [],
        "stopped": None,
    }
    assert "importing" in result.stderr
    assert [row[0] for row in stored_codes(tmp_path)] == ["A1", "A2", "A3"]


def test_import_with_bad_rows_exits_3_with_the_rejections(
    config_file: Path, tmp_path: Path, pool: str
) -> None:
    text = (
        "value,availableFromDateTimeUtc\n"
        "A1,\n"
        "A1,\n"
        "bad value,\n"
        "A2,yesterday\n"
        "A3,2026-01-01T00:00:00+01:00\n"
        "A4,,x\n"
    )
    result = import_file(config_file, write_csv(tmp_path, text))
    assert summary(result, 3) == {
        "rows": 6,
        "imported": 2,
        "rejected": 4,
        "firstRejections": [
            {"row": 2, "value": "A1", "reason": "duplicate in this import"},
            {"row": 3, "value": "bad value", "reason": VALUE_REASON},
            {"row": 4, "value": "A2", "reason": FROM_REASON},
            {"row": 6, "value": "A4", "reason": "the row has 3 fields; the header has 2"},
        ],
        "stopped": None,
    }
    assert stored_codes(tmp_path) == [("A1", None, None), ("A3", 1_767_222_000_000, None)]


def test_importing_a_file_again_rejects_every_row(
    config_file: Path, tmp_path: Path, pool: str
) -> None:
    path = write_csv(tmp_path, "value\nA1\nA2\n")
    summary(import_file(config_file, path), 0)
    assert summary(import_file(config_file, path), 3) == {
        "rows": 2,
        "imported": 0,
        "rejected": 2,
        "firstRejections": [
            {"row": 1, "value": "A1", "reason": "already exists"},
            {"row": 2, "value": "A2", "reason": "already exists"},
        ],
        "stopped": None,
    }
    assert len(stored_codes(tmp_path)) == 2


def test_import_runs_in_batches_and_shows_the_first_rejections(
    config_file: Path, tmp_path: Path, pool: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "import_rejections_shown_max", 2)
    # A duplicate in a later batch meets the committed first one: "already exists".
    text = "value\nA1\nA2\nx y\nA3\nA1\nA4\nA5\n@\n"
    result = import_file(config_file, write_csv(tmp_path, text), "--batch-rows", "3")
    assert summary(result, 3) == {
        "rows": 8,
        "imported": 5,
        "rejected": 3,
        "firstRejections": [
            {"row": 3, "value": "x y", "reason": VALUE_REASON},
            {"row": 5, "value": "A1", "reason": "already exists"},
        ],
        "stopped": None,
    }
    assert [row[0] for row in stored_codes(tmp_path)] == ["A1", "A2", "A3", "A4", "A5"]


def test_long_rejected_values_are_shortened_in_the_summary(
    config_file: Path, tmp_path: Path, pool: str
) -> None:
    result = import_file(config_file, write_csv(tmp_path, "value\n" + "A" * 200 + "\n"))
    shown = summary(result, 3)["firstRejections"][0]["value"]
    assert shown == "A" * 79 + "…"


def test_an_unknown_pool_stops_before_reading(config_file: Path, tmp_path: Path) -> None:
    path = write_csv(tmp_path, "value\nA1\n")
    refused(import_file(config_file, path, pool="NOPE"), "Promo code pool not found (pool)")


@pytest.mark.parametrize("rows", ["0", "100001", "many"])
def test_batch_rows_is_bounded(config_file: Path, tmp_path: Path, pool: str, rows: str) -> None:
    result = import_file(config_file, write_csv(tmp_path, "value\nA1\n"), "--batch-rows", rows)
    assert result.exit_code == 2, result.output
    assert "--batch-rows" in result.stderr
    assert stored_codes(tmp_path) == []


def test_a_bad_header_stops_the_import_with_exit_1(
    config_file: Path, tmp_path: Path, pool: str
) -> None:
    result = import_file(config_file, write_csv(tmp_path, "code\nA1\n"))
    stopped = "Unknown CSV column 'code'; the columns are value, availableFromDateTimeUtc"
    stopped += " and availableTillDateTimeUtc"
    assert summary(result, 1) == {
        "rows": 0,
        "imported": 0,
        "rejected": 0,
        "firstRejections": [],
        "stopped": stopped,
    }
    assert result.stderr.endswith(f"Error: the import stopped: {stopped}\n")
    assert stored_codes(tmp_path) == []


def test_a_file_that_is_not_utf8_stops_after_the_batches_before(
    config_file: Path, tmp_path: Path, pool: str
) -> None:
    good = b"".join(b"B%05d\n" % number for number in range(5_000))
    path = write_csv(tmp_path, b"value\n" + good + b"CAF\xc9\n")
    result = import_file(config_file, path, "--batch-rows", "100")
    found = summary(result, 1)
    # The text is decoded in chunks: the batches read before the bad one stay.
    assert 0 < found["imported"] < 5_000
    assert found["imported"] % 100 == 0
    assert found["stopped"].startswith("the file is not UTF-8 (invalid continuation byte)")
    assert len(stored_codes(tmp_path)) == found["imported"]


def test_a_missing_file_is_a_usage_error(config_file: Path, tmp_path: Path, pool: str) -> None:
    result = import_file(config_file, tmp_path / "missing.csv")
    assert result.exit_code == 2, result.output
    assert "does not exist" in result.stderr


# -- pools put --discount --------------------------------------------------------

PERCENT_SHOWN = {"percent": 10, "amount": None, "orderTotalMin": "0.00", "excludedProducts": []}
AMOUNT_OFF = '{"amount": "5.5", "orderTotalMin": "20", "excludedProducts": ["GIFT", "BOOK"]}'
MONEY_REASON = 'must be an amount as text with at most two decimals, such as "5.00"'
AMOUNT_SHOWN = {
    "percent": None,
    "amount": "5.50",
    "orderTotalMin": "20.00",
    "excludedProducts": ["BOOK", "GIFT"],
}


def put_discount(config_file: Path, discount: str, *options: str, pool: str = "WELCOME") -> Result:
    return run(config_file, "pools", "put", pool, "--discount", discount, *options)


def usage_error(result: Result, message: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == f"Error: Invalid value for '--discount': {message}"


def test_put_sets_a_percent_discount_and_show_prints_it(config_file: Path) -> None:
    created = ok(put_discount(config_file, '{"percent": 10}', "--name", "Welcome"))
    assert created["discount"] == PERCENT_SHOWN
    assert ok(run(config_file, "pools", "show", "WELCOME")) == created


def test_put_sets_an_amount_discount_with_money_as_text(config_file: Path, pool: str) -> None:
    changed = ok(put_discount(config_file, AMOUNT_OFF))
    assert changed["discount"] == AMOUNT_SHOWN
    assert ok(run(config_file, "pools", "show", pool)) == changed


def test_other_options_keep_the_discount(config_file: Path, pool: str) -> None:
    first = ok(put_discount(config_file, AMOUNT_OFF))
    changed = ok(run(config_file, "pools", "put", pool, "--name", "Hello", "--multi-use"))
    assert changed == {**first, "name": "Hello", "multiUse": True}
    assert ok(run(config_file, "pools", "show", pool))["discount"] == AMOUNT_SHOWN


def test_a_new_discount_replaces_the_old_one_whole(config_file: Path, pool: str) -> None:
    ok(put_discount(config_file, AMOUNT_OFF))
    assert ok(put_discount(config_file, '{"percent": 10}'))["discount"] == PERCENT_SHOWN


def test_null_clears_the_discount(config_file: Path, pool: str) -> None:
    first = ok(put_discount(config_file, '{"percent": 10}'))
    assert ok(put_discount(config_file, " null ")) == {**first, "discount": None}
    assert ok(run(config_file, "pools", "show", pool))["discount"] is None


@pytest.mark.parametrize(
    ("discount", "message"),
    [
        ("", "not JSON: Expecting value: line 1 column 1 (char 0)"),
        (
            "{percent: 10}",
            "not JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        ("10", 'must be a JSON object such as {"percent": 10}, or null'),
        ('["percent", 10]', 'must be a JSON object such as {"percent": 10}, or null'),
        ('{"percent": 10, "amount": "5.00"}', "give either percent or amount"),
        ("{}", "give either percent or amount"),
        ('{"percent": 0}', "Input should be greater than or equal to 1 (percent)"),
        ('{"percent": 101}', "Input should be less than or equal to 100 (percent)"),
        ('{"percent": "10"}', "Input should be a valid integer (percent)"),
        ('{"amount": "5.001"}', f"{MONEY_REASON} (amount)"),
        ('{"amount": "0.00"}', "amount must be above 0.00"),
        ('{"amount": 5}', f"{MONEY_REASON} (amount)"),
        ('{"percent": 10, "off": 1}', "Unknown field (off)"),
        (
            '{"percent": 10, "excludedProducts": [""]}',
            "String should have at least 1 character (excludedProducts.0)",
        ),
        (
            json.dumps({"percent": 10, "excludedProducts": [f"P{n}" for n in range(1001)]}),
            "List should have at most 1000 items after validation, not 1001 (excludedProducts)",
        ),
    ],
)
def test_a_bad_discount_is_a_one_line_usage_error_and_changes_nothing(
    config_file: Path, pool: str, discount: str, message: str
) -> None:
    ok(put_discount(config_file, AMOUNT_OFF))
    before = db_snapshot(load_config(config_file))
    usage_error(put_discount(config_file, discount, "--name", "Changed"), message)
    assert db_snapshot(load_config(config_file)) == before


def test_a_bad_discount_of_a_new_pool_creates_nothing(config_file: Path, pool: str) -> None:
    before = db_snapshot(load_config(config_file))
    result = put_discount(config_file, '{"percent": 101}', "--name", "New", pool="NEW")
    usage_error(result, "Input should be less than or equal to 100 (percent)")
    assert db_snapshot(load_config(config_file)) == before
    refused(run(config_file, "pools", "show", "NEW"), "Promo code pool not found (pool)")


def test_the_put_help_describes_the_discount_option() -> None:
    result = CliRunner().invoke(main, ["pools", "put", "--help"])
    assert result.exit_code == 0
    assert "--discount JSON" in result.stdout
    assert "'null' clears it" in " ".join(result.stdout.split())
