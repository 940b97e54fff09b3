"""Every bound of the server in one place.

Units and qualifiers come last in each name (``body_bytes_max``,
``hold_ttl_seconds_default``), so a reader knows what a number counts.
"""

from __future__ import annotations

# Requests.
body_bytes_max_default = 1024 * 1024
text_chars_max = 1_000
id_chars_max = 200

# The ledger.
points_per_request_max = 1_000_000_000_000
hold_ttl_seconds_default = 7 * 24 * 3600
lots_per_customer_max = 100_000
history_rows_max = 1_000_000
# A balance check lists every open hold of the customer; past this many it
# is refused. Far above what one hot account makes in a benchmark run
# (bench/http_authorize.py: some 85,000 in 10 s on SQLite).
open_holds_max = 1_000_000

# Values bound into one ``IN (...)`` list; longer lists go in several
# statements. Well under the fewest parameters any SQLite build takes (999
# before 3.32) and PostgreSQL's 32,767.
in_list_values_max = 500

# Templates and points of contact an export keeps formatted, each, beyond
# the ones its current batch of rows names (it reads them as rows name them).
export_names_cached_max = 10_000

# The single SQLite writer: how many requests share one transaction, and how
# many may wait for it before new ones are refused.
write_batch_max = 256
write_queue_max = 10_000

# Periodic jobs: how much one transaction of a job handles, and how many such
# transactions one run may take before it yields to the next run.
job_batch_max = 500
job_batches_per_run_max = 1_000
jobs_interval_seconds_default = 60

# Tokens.
sso_token_ttl_seconds_default = 3600
auth_code_bytes = 16
