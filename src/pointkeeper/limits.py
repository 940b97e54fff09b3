"""Every bound of the server in one place.

Units and qualifiers come last in each name (``body_bytes_max``,
``hold_ttl_seconds_default``), so a reader knows what a number counts.
"""

from __future__ import annotations

# Requests.
body_bytes_max_default = 1024 * 1024
text_chars_max = 1_000
id_chars_max = 200

# Integers from the wire: both databases store signed 64-bit integers, so
# every integer is range-checked against these where it is parsed.
int64_min = -(2**63)
int64_max = 2**63 - 1

# The ledger.
points_per_request_max = 1_000_000_000_000
hold_ttl_seconds_default = 7 * 24 * 3600
lots_per_customer_max = 100_000
history_rows_max = 1_000_000
# A page of Maestra's GetCustomerBalanceHistory; the page number is bounded
# so that its offset, (pageNumber - 1) * itemsPerPage, fits in 64 bits.
history_page_items_max = 1_000
history_page_number_max = int64_max // history_page_items_max
# CP Extender's RequestedAmount, in currency units: at one point per unit or
# more, a larger amount is always more points than one request may take.
requested_amount_units_max = points_per_request_max

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
