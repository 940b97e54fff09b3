"""Every bound of the server in one place.

Units and qualifiers come last in each name (``body_bytes_max``,
``hold_ttl_seconds_default``), so a reader knows what a number counts.
"""

from __future__ import annotations

__all__ = [
    "action_kind_chars_max",
    "async_call_attempts_max",
    "async_calls_per_batch_max",
    "async_operations_listed_max",
    "auth_code_bytes",
    "backlog_default",
    "balance_changes_per_request_max",
    "body_bytes_max_default",
    "body_timeout_seconds_default",
    "code_generation_rounds_max",
    "code_pattern_chars_max",
    "codes_per_generation_max",
    "codes_per_import_max",
    "connections_max_default",
    "copy_batch_rows_max",
    "date_shown_chars_max",
    "discount_excluded_products_max",
    "export_day_prefixes_cached_max",
    "export_names_cached_max",
    "header_bytes_max_default",
    "header_timeout_seconds_default",
    "history_page_items_max",
    "history_page_number_max",
    "history_rows_max",
    "hold_ttl_seconds_default",
    "id_chars_max",
    "import_rejections_shown_max",
    "import_shown_value_chars_max",
    "in_list_values_max",
    "int64_max",
    "int64_min",
    "job_batch_max",
    "job_batches_per_run_max",
    "jobs_interval_seconds_default",
    "json_depth_max",
    "json_values_max",
    "keep_alive_seconds_default",
    "login_failures_max",
    "login_failures_per_address_max_default",
    "login_failures_per_user_max_default",
    "login_lockout_seconds_default",
    "login_seconds_max",
    "login_throttle_entries_max",
    "login_window_seconds_default",
    "open_holds_max",
    "order_cents_max",
    "order_coupons_max",
    "order_lines_max",
    "order_page_lines_max",
    "points_per_request_max",
    "postgres_read_attempts_max",
    "ready_seconds_max",
    "ready_write_failure_seconds",
    "requested_amount_units_max",
    "retention_days_default",
    "retry_after_seconds",
    "secret_chars_warning_min",
    "segment_members_per_request_max",
    "segment_unknown_numbers_shown_max",
    "settled_read_attempts_max",
    "sqlite_wal_bytes_max_default",
    "sso_clock_skew_seconds_max",
    "sso_token_ttl_seconds_default",
    "stream_chunks_waiting_max",
    "text_chars_max",
    "write_attempts_max",
    "write_batch_max",
    "write_queue_max",
    "write_wait_seconds_max_default",
    "xml_depth_max",
    "xml_elements_max",
    "xml_names_cached_max",
]

# Requests.
# SPEC §4's default. An order of ``order_lines_max`` short lines fits in
# JSON (about 0.9 MB); in XML (about 1.4 MB) it needs a larger setting.
body_bytes_max_default = 1024 * 1024
# Connections (``pointkeeper.serving``): a request's line and headers, how
# long they and the body may take to arrive, how long an idle keep-alive
# connection stays, and how many connections one process keeps open.
header_bytes_max_default = 16 * 1024
header_timeout_seconds_default = 10.0
body_timeout_seconds_default = 30.0
keep_alive_seconds_default = 5.0
connections_max_default = 4096
backlog_default = 4096
text_chars_max = 1_000
id_chars_max = 200

# Integers from the wire: both databases store signed 64-bit integers, so
# every integer is range-checked against these where it is parsed.
int64_min = -(2**63)
int64_max = 2**63 - 1

# The ledger.
points_per_request_max = 1_000_000_000_000
hold_ttl_seconds_default = 7 * 24 * 3600
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
# How long a write may wait for its batch before it is answered "retry later".
write_wait_seconds_max_default = 2.0
# SQLite's write-ahead log is started over once it grows past this.
sqlite_wal_bytes_max_default = 64 * 1024 * 1024
# How long ``/readyz`` keeps answering 503 after a write failed because the
# database was unavailable (full, down, read-only).
ready_write_failure_seconds = 10.0
# What a 503 tells the caller to wait before sending the request again.
retry_after_seconds = 1

# Periodic jobs: how much one transaction of a job handles, and how many such
# transactions one run may take before it yields to the next run.
job_batch_max = 500
job_batches_per_run_max = 1_000
jobs_interval_seconds_default = 60

# Tokens. A token's clock may run ahead of ours by this much: its "iat" may
# lie that far in the future, its "exp" that far past our lifetime.
sso_token_ttl_seconds_default = 3600
sso_clock_skew_seconds_max = 60
auth_code_bytes = 16

# The throttle of /SSO/Login: failures a user name or a client address may
# have within a window before it is locked out, and for how long. Each of
# the two tables keeps at most this many entries, dropping the oldest.
login_failures_per_user_max_default = 5
login_failures_per_address_max_default = 20
login_failures_max = 10_000
login_window_seconds_default = 60
login_lockout_seconds_default = 60
login_seconds_max = 86_400
login_throttle_entries_max = 10_000

# Promo codes: codes one import or one generation call takes; how many
# times a generation draws again for values already taken; a pattern's
# length; what an import's report shows of its rejected rows.
codes_per_import_max = 100_000
codes_per_generation_max = 100_000
code_generation_rounds_max = 20
code_pattern_chars_max = 64
import_rejections_shown_max = 20
import_shown_value_chars_max = 80

# Segments.
# Customer numbers one add_members call takes: a bigger list is split by the
# caller, so that no single write holds the database for long.
segment_members_per_request_max = 10_000
# Unknown customer numbers named in a refusal; the rest are only counted.
segment_unknown_numbers_shown_max = 10

# Reads and writes. A read that finds the customer's ledger due settles it
# through the writer and reads again, at most this many times in all.
settled_read_attempts_max = 3
# A request that meets a held lock, a deadlock or a serialization failure
# this many times is answered "retry later" instead of being tried again.
write_attempts_max = 10
# A read that meets a dead connection is tried once more.
postgres_read_attempts_max = 2
# An export's formatted chunks waiting for a slow client (~1 MB each).
stream_chunks_waiting_max = 4
# How long /readyz waits for the database's answer.
ready_seconds_max = 2.0

# Admin API: an action template's kind; asynchronous calls listed at once.
action_kind_chars_max = 64
async_operations_listed_max = 100

# Maestra bodies.
# Requests nest a handful of levels; the largest is an order of
# ``order_lines_max`` lines of eight elements or so each. These bounds leave
# room for one line more, so that such an order is refused by its own rule
# (a ValidationError naming the lines), and refuse pathological bodies
# early, before they cost memory or time.
xml_depth_max = 32
xml_elements_max = 200_000
json_depth_max = 32
json_values_max = 200_000
# Element names the XML reader remembers; the characters of a bad date a
# refusal repeats; the "YYYY-MM-DD " prefixes an export keeps formatted
# (about 270 years of days).
xml_names_cached_max = 10_000
date_shown_chars_max = 40
export_day_prefixes_cached_max = 100_000

# Maestra operations: balance changes in one ChangeCustomerBalance; how
# often a queued asynchronous call is tried, and how many one job batch runs.
balance_changes_per_request_max = 100
# A token, key or password shorter than this is warned of at start.
secret_chars_warning_min = 16
# Rows `pointkeeper copy` reads from SQLite at once: a bound on its memory.
copy_batch_rows_max = 10_000
# How long transactionId results and finished asynchronous calls are kept.
retention_days_default = 30
# The lines of one order (docs/orders.md), and its coupons or bonus point items.
order_lines_max = 10_000
order_coupons_max = 100
# The most one order line, and one order, may cost: 10,000,000,000,000.00,
# so that every amount and sum fits the databases' 64-bit columns.
order_cents_max = 10**15
# The lines of one page of a customer's orders, all orders together.
order_page_lines_max = 100_000
# The products one pool's discount may leave out.
discount_excluded_products_max = 1_000
async_call_attempts_max = 8
async_calls_per_batch_max = 100
