from __future__ import annotations

from pointkeeper.secrets import SecretSet


def test_membership_is_by_value_and_nothing_leaks_in_repr() -> None:
    secrets = SecretSet(["alpha", "beta"])
    assert "alpha" in secrets and "beta" in secrets
    assert "alph" not in secrets and "" not in secrets and 5 not in secrets
    assert "alpha" not in repr(secrets)
