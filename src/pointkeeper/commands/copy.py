"""``pointkeeper copy``: a whole SQLite database into a new, empty
PostgreSQL one, for an installation that outgrows one machine
(``docs/deployment.md``, "Moving from SQLite to PostgreSQL").

It needs no configuration: both databases are named on the command line.
A line per table goes to stderr (on a terminal it counts the rows as they
go), the summary to stdout; a copy that does not check out ends with
status 1 and leaves the target empty.
"""

from __future__ import annotations

import sys

import click

from pointkeeper.config import is_postgres
from pointkeeper.errors import StoreError
from pointkeeper.store.copy import CopyReport, TableCopied, copy_database

__all__ = ["copy"]


class _Progress:
    """A line per table on stderr: on a terminal it counts the rows as they
    go, and ends with the table's rows and rate."""

    def __init__(self) -> None:
        self._live = sys.stderr.isatty()
        self._table = ""
        self._total = 0
        self._done = 0
        self._open = False  # a live line is on the terminal, not ended yet

    def started(self, table: str, rows: int) -> None:
        self._table, self._total, self._done = table, rows, 0
        self._draw()

    def copied(self, rows: int) -> None:
        self._done += rows
        self._draw()

    def _draw(self) -> None:
        if self._live:
            share = self._done * 100 // self._total if self._total else 100
            line = f"{self._table}: {self._done:,} of {self._total:,} rows ({share}%)"
            click.echo(f"\r\x1b[K{line}", err=True, nl=False)
            self._open = True

    def finished(self, table: TableCopied) -> None:
        rate = table.rows / table.seconds if table.seconds > 0 else 0
        line = f"{table.name}: {table.rows:,} rows in {table.seconds:.2f} s ({rate:,.0f} rows/s)"
        click.echo(f"\r\x1b[K{line}" if self._live else line, err=True)
        self._open = False

    def step(self, what: str) -> None:
        click.echo(f"{what}...", err=True)

    def close(self) -> None:
        """Ends a line left counting by a copy that stopped."""
        if self._open:
            click.echo(err=True)
            self._open = False


def _summary(report: CopyReport) -> str:
    rate = report.rows / report.seconds if report.seconds > 0 else 0
    return (
        f"copied {report.rows:,} rows of {len(report.tables)} tables in"
        f" {report.seconds:.1f} s ({rate:,.0f} rows/s; foreign keys {report.keys_seconds:.1f} s,"
        f" checks {report.check_seconds:.1f} s)\n"
        f"checked: every table's rows and the balances of {report.customers:,} customers"
        " are the same in both"
    )


@click.command("copy")
@click.option(
    "--from",
    "source",
    required=True,
    metavar="sqlite:///PATH",
    help="The SQLite database to copy (stop the server using it first).",
)
@click.option(
    "--to",
    "target",
    required=True,
    metavar="postgresql://...",
    help="An empty PostgreSQL database (new, or only migrated) to copy into.",
)
def copy(source: str, target: str) -> None:
    """Copy a whole SQLite database into an empty PostgreSQL database, in
    one transaction, and check every table's rows and every customer's
    balance against the source before committing."""
    if not source.startswith("sqlite:///"):
        raise click.ClickException("--from must be a sqlite:/// URL: the database to copy")
    if not is_postgres(target):
        raise click.ClickException("--to must be a postgresql:// URL: the database to copy into")
    progress = _Progress()
    try:
        report = copy_database(source, target_url=target, progress=progress)
    except StoreError as exc:
        raise click.ClickException(f"database: {exc.message}") from None
    finally:
        progress.close()
    if not report.committed:
        for mismatch in report.mismatches:
            click.echo(f"differs: {mismatch}", err=True)
        if report.mismatches_total > len(report.mismatches):
            click.echo(f"... and {report.mismatches_total - len(report.mismatches)} more", err=True)
        raise click.ClickException(
            "the copy differs from its source: nothing was committed, the target is as before"
        )
    click.echo(_summary(report))
