"""Reference data written at start-up, on both backends: programs follow the
configuration, built-in templates are created once and keep an operator's
renaming."""

from __future__ import annotations

from pointkeeper.config import DatabaseConfig, parse_config
from pointkeeper.services.reference import (
    TEMPLATE_EARN,
    put_action_template,
    sync_reference_data,
)
from pointkeeper.store import open_store


def test_a_renamed_builtin_template_survives_a_restart(database_url: str) -> None:
    database = DatabaseConfig(url=database_url)
    config = parse_config({"programs": [{"name": "P", "credit_lifetime_days": 30}]}, {})
    store = open_store(database)
    store.write_sync(sync_reference_data, config.programs)
    store.write_sync(put_action_template, system_name=TEMPLATE_EARN, name="Points for a share")
    store.close()

    renamed = parse_config({"programs": [{"name": "P", "credit_lifetime_days": 60}]}, {})
    store = open_store(database)
    context = store.write_sync(sync_reference_data, renamed.programs)
    assert store.read_sync(lambda tx: tx.template(TEMPLATE_EARN)) == (
        TEMPLATE_EARN,
        "Points for a share",
    )
    (program,) = context["programs"].values()
    assert program.credit_lifetime_days == 60
    store.close()
