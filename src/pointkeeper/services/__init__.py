"""Use cases: each function is one unit of work, run by the store inside one
transaction (savepoint) that rolls back unless the function returns."""
