"""Reference data written when the store opens, on both backends: programs
follow the configuration, built-in templates are created once and keep an
operator's renaming."""

from __future__ import annotations

from pointkeeper.config import DatabaseConfig, parse_config
from pointkeeper.domain.customers import Program
from pointkeeper.domain.templates import TEMPLATE_EARN
from pointkeeper.services.reference import put_action_template
from pointkeeper.store import open_store
from pointkeeper.store.tx import Tx


def _program(tx: Tx, name: str) -> Program:
    program_id = tx.program_id(name)
    assert program_id is not None
    return tx.program(program_id)


def test_a_renamed_builtin_template_survives_a_restart(database_url: str) -> None:
    database = DatabaseConfig(url=database_url)
    config = parse_config({"programs": [{"name": "P", "credit_lifetime_days": 30}]}, {})
    store = open_store(database, programs=config.programs)
    store.write_sync(put_action_template, system_name=TEMPLATE_EARN, name="Points for a share")
    store.close()

    renamed = parse_config({"programs": [{"name": "P", "credit_lifetime_days": 60}]}, {})
    store = open_store(database, programs=renamed.programs)
    assert store.read_sync(lambda tx: tx.template(TEMPLATE_EARN)) == (
        TEMPLATE_EARN,
        "Points for a share",
    )
    # What every transaction answers without a query: the program as
    # configured now.
    assert store.read_sync(_program, "P").credit_lifetime_days == 60
    store.close()
