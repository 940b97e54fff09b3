"""Throughput of the retail-order Maestra operations CalculateCart and CreateOrder.

    .venv/bin/python bench/http_orders.py [--scenario calculate-cart|create-order|both]
                                          [--connections 64] [--duration 10]
                                          [--customers 1000] [--format json|xml]
                                          [--codes N] [--profile]
                                          [--database sqlite|postgres] [--processes N]
                                          [--database-url URL]

Set-up, per scenario, on a fresh database (a SQLite file, or with `--database postgres` a
fresh PostgreSQL database dropped afterwards) and a server of its own: `[[operations]]`
"Cart" (CalculateCart) and "Order" (CreateOrder) on one endpoint; a program with
`[programs.orders]` rules (5 points earned per 1.00 paid, at most 50% of an order paid
with points, the bonus pending 14 days, credits living 365 days); through the admin API
the customers enrolled in it, each credited a balance no run can spend
(`starting_balance`), one point of contact, and a single-use pool with a 10% discount
holding one distinct code for every coupon a run can send (`--codes`, by default enough
for `RATE_BOUND` requests/s).

Load. wrk POSTs `/v3/operations/sync` (`Authorization: SecretKey`, JSON by default) with
`--connections` connections for `--duration` seconds; every body is built in Lua per
request from a template the product's own codec rendered: the customers round robin, a
unique `order/ids/websiteId`, five lines of random products, prices from 1.00 to 99.99 and
quantities 1 to 3, a coupon (a code never sent before) in every tenth request, points in
every third (a fifth to all of the 50% the order allows, after the coupon's discount).
CreateOrder also gets a unique `transactionId` and the `order/totalPrice` the client
calculated, so a server that prices the order differently answers PriceHasBeenChanged
and fails the run. A short sequential warm-up through httpx first checks every figure of
the answers (total, discount, coupon status, points spent) against the same rules.

Correctness. Every answer must be HTTP 200 with status Success and processingStatus
Calculated / Processed, a coupon CanBeUsed (counted in Lua; any other answer fails the
run, and the first few are shown). After CreateOrder: the orders in the database are the
successful answers, each once, plus at most the requests still in flight when wrk stopped
(plain SQL, `SELECT ... FROM orders`), five lines each, as many codes used as coupons
answered CanBeUsed (plus in flight), and over the customers (admin API) the point
balances fell by exactly the points the new orders spent, the pending bonus grew by
exactly what they earned, and no balance is negative. After CalculateCart: nothing
changed (no order, no code used, the same balances).

Prints a markdown table (scenario, database, processes, connections, requests/s, p50 ms,
p99 ms, server peak RSS MB), the targets met or not (`TARGETS`; on SQLite also p99 under
50 ms; the SQLite figures are with synchronous=FULL, which the store sets on every
connection) and writes bench/results/http_orders[.<database>-p<N>].json. `--profile`
samples the server with py-spy during each wrk run and prints where its time goes (the
raw samples go to bench/results/http_orders[...].<scenario>.pyspy.txt; py-spy takes CPU
from the server and wrk, so the rates of a profiled run are lower).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import re
import secrets
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from string import Template
from typing import Any

import httpx

from harness.configs import maestra_settings
from harness.customers import CUSTOMER_FORMAT, customer_number, customer_numbers
from harness.databases import sql
from harness.failures import BenchError, run_main
from harness.maestra import CONTENT_TYPE, request_body, request_headers
from harness.measure import PeakFileSize, cpu_seconds, sqlite_wal_path
from harness.profile import start_profile, stop_profile, summarize_profile
from harness.report import RESULTS_DIR, Summary, shown, write_json
from harness.servers import Server
from harness.setup import Setup, add_setup_arguments, setup_from
from harness.wrk import WRK_THREADS, WrkResult, check_busy, lua_string, require_wrk, run_wrk
from pointkeeper.config import is_postgres
from pointkeeper.protocols.maestra.codec import Tree, parse_xml
from pointkeeper.secrets import new_secret

ENDPOINT = "bench"
PROGRAM = "Bench orders"
POINT_OF_CONTACT = "bench-shop"
POOL = "BENCH-COUPONS"
PRODUCT_FORMAT = "SKU-%d"
PRODUCTS = 500
LINES = 5
PRICE_CENTS_MIN = 100
PRICE_CENTS_MAX = 9_999
QUANTITY_MAX = 3
COUPON_EVERY = 10  # one request in ten carries a coupon
POINTS_EVERY = 3  # one in three asks for points
POINTS_STEPS = 5  # a fifth, two fifths, ... all of what the order allows
DISCOUNT_PERCENT = 10
POINTS_PER_CURRENCY_UNIT = 100  # the program's default: a point is worth a cent
ORDER_RULES = {
    "points_earned_per_currency_unit": 5,
    "points_payable_share_max": 50,
}
ORDER_BONUS_PENDING_DAYS = 14
CREDIT_LIFETIME_DAYS = 365
# The fastest rate the code pool and the starting balances are sized for.
RATE_BOUND = 20_000
CODES_PER_IMPORT = 10_000
WARMUP_REQUESTS = 24
ADMIN_CONCURRENCY = 32
# wrk's default 2 s would turn slow answers into socket errors, left out of the latency
# percentiles: a stall has to show as latency or as a busy share below `check_busy`'s.
WRK_TIMEOUT_S = 30
SETTLE_LIMIT_S = 60
BAD_SAMPLES_MAX = 3
LOG_LINE_CHARS_MAX = 600


@dataclass(frozen=True)
class Scenario:
    name: str  # for --scenario
    operation: str  # the [[operations]] name
    kind: str
    processing_status: str  # of every good answer
    creates: bool  # CreateOrder: a transactionId, the client's totalPrice, state checks


SCENARIOS = {
    "calculate-cart": Scenario("calculate-cart", "Cart", "CalculateCart", "Calculated", False),
    "create-order": Scenario("create-order", "Order", "CreateOrder", "Processed", True),
}

# (scenario, database) -> requests/s; CreateOrder on PostgreSQL only with 2 processes.
TARGETS = {
    ("calculate-cart", "sqlite"): 4_000,
    ("create-order", "sqlite"): 2_500,
    ("create-order", "postgres"): 1_200,
}
TARGET_POSTGRES_PROCESSES = 2
TARGET_P99_MS = 50.0  # on SQLite


def orders_settings(key: str) -> dict[str, Any]:
    """The endpoint, both operations and the program with its order rules (a program of
    its own: the harness's base configuration already holds one without them)."""
    operations = [{"name": s.operation, "kind": s.kind} for s in SCENARIOS.values()]
    settings = maestra_settings(ENDPOINT, key, operations)
    settings["programs"] = [
        {
            "name": PROGRAM,
            "order_bonus_pending_days": ORDER_BONUS_PENDING_DAYS,
            "credit_lifetime_days": CREDIT_LIFETIME_DAYS,
            "orders": ORDER_RULES,
        }
    ]
    return settings


def points_per_order_max() -> int:
    """The most points one order of the mix can spend: every line at the dearest price
    and quantity, no coupon, the whole share."""
    base = LINES * PRICE_CENTS_MAX * QUANTITY_MAX
    cents = base * ORDER_RULES["points_payable_share_max"] // 100
    return cents * POINTS_PER_CURRENCY_UNIT // 100


def starting_balance(duration_s: int, customers: int) -> int:
    """Enough points for every order a customer can place in a run at `RATE_BOUND`."""
    orders = math.ceil(RATE_BOUND * duration_s / customers) + WARMUP_REQUESTS
    return orders * points_per_order_max()


def wrk_codes(duration_s: int) -> int:
    return math.ceil(RATE_BOUND * duration_s / COUPON_EVERY)


# --------------------------------------------------------------------------- bodies

# Placeholders in the template tree: @name@ a string, #name# a number (unquoted in JSON).
_PLACEHOLDER = re.compile(r'"#(\w+)#"|#(\w+)#|@(\w+)@')


def order_tree(*, coupon: bool, points: bool, total: bool) -> Tree:
    """A request with placeholders for everything that changes per request."""
    lines = [
        {
            "lineNumber": n,
            "product": {"ids": {"website": f"@product{n}@"}},
            "basePricePerItem": f"@price{n}@",
            "quantity": f"#quantity{n}#",
        }
        for n in range(1, LINES + 1)
    ]
    order: dict[str, Any] = {"ids": {"websiteId": "@order@"}, "lines": lines}
    if total:
        order["totalPrice"] = "@total@"
    if coupon:
        order["coupons"] = [{"ids": {"code": "@coupon@"}}]
    if points:
        order["bonusPoints"] = [{"amount": "#points#"}]
    return {
        "customer": {"ids": {"customerNumber": "@customer@"}},
        "pointOfContact": {"ids": {"externalId": POINT_OF_CONTACT}},
        "order": order,
    }


@dataclass(frozen=True)
class BodyTemplate:
    """A body as a printf template (Lua's string.format and Python's % read it alike)
    and the names of the values its %s take, in order."""

    text: str
    names: tuple[str, ...]

    def render(self, values: dict[str, Any]) -> bytes:
        return (self.text % tuple(values[name] for name in self.names)).encode()


def body_template(tree: Tree, answer_format: str) -> BodyTemplate:
    names: list[str] = []

    def slot(match: re.Match[str]) -> str:
        names.append(next(group for group in match.groups() if group))
        return "%s"

    text = request_body(tree, answer_format).decode().replace("%", "%%")
    return BodyTemplate(_PLACEHOLDER.sub(slot, text), tuple(names))


def body_templates(answer_format: str, *, total: bool) -> list[BodyTemplate]:
    """Plain, with points, with a coupon, with both: the order Lua's `variant` picks."""
    return [
        body_template(order_tree(coupon=coupon, points=points, total=total), answer_format)
        for coupon in (False, True)
        for points in (False, True)
    ]


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


@dataclass(frozen=True)
class Cart:
    """One request's values and the figures the server should answer."""

    variant: int  # index into body_templates
    values: dict[str, Any]
    discount: int  # cents
    points: int
    total: int  # cents paid in money


def make_cart(rng: random.Random, *, order: str, customer: str, code: str | None, k: int) -> Cart:
    """The Python twin of ORDERS_LUA's request(): `k` > 0 asks for k / POINTS_STEPS of
    the points the order allows."""
    values: dict[str, Any] = {"customer": customer, "order": order}
    base = 0
    for n in range(1, LINES + 1):
        cents = rng.randint(PRICE_CENTS_MIN, PRICE_CENTS_MAX)
        quantity = rng.randint(1, QUANTITY_MAX)
        values[f"product{n}"] = PRODUCT_FORMAT % rng.randint(1, PRODUCTS)
        values[f"price{n}"] = money(cents)
        values[f"quantity{n}"] = quantity
        base += cents * quantity
    discount = base * DISCOUNT_PERCENT // 100 if code is not None else 0
    allowed = (base - discount) * ORDER_RULES["points_payable_share_max"] // 100
    points = allowed * k // POINTS_STEPS
    values.update(coupon=code, points=points, total=money(base - discount - points))
    variant = (2 if code is not None else 0) + (1 if points else 0)
    return Cart(variant, values, discount, points, base - discount - points)


# wrk Lua (string.Template: $name is filled in by Python). Request k (`mine`) of thread
# `id` is number seq = k*THREADS + id of the run: seq picks the customer round robin and
# names the order and the call (websiteId and transactionId "<run>-<seq>"); k picks the
# thread's every COUPON_EVERY-th request for a coupon (code number
# k/COUPON_EVERY*THREADS + id + 1, so no code is sent twice) and every POINTS_EVERY-th
# for points, so the mix holds in each thread however fast the other runs. response()
# checks every answer; done() writes what the threads saw to `out`: "count <name> <n>",
# "sample <first bad answers>" and, for CreateOrder, "order <websiteId>" of every good
# answer.
ORDERS_LUA = Template("""\
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

wrk.method = "POST"
wrk.headers["Authorization"] = "SecretKey " .. $key
wrk.headers["Content-Type"] = $content_type
wrk.headers["Accept"] = $content_type

local templates = $templates

sent = 0
answered = 0
good = 0
bad = 0
coupons_asked = 0
coupons_applied = 0
points_asked = 0
coupons_skipped = 0
samples = {}
orders = {}

local function money(cents)
  return string.format("%d.%02d", math.floor(cents / 100), cents % 100)
end

function request()
  if sent == 0 then
    math.randomseed($seed + id)
  end
  local seq = sent * $threads + id
  local mine = sent
  sent = sent + 1
  local v = {}
  v.customer = string.format($customer_format, seq % $customers + 1)
  v.order = string.format("%s-%d", $run, seq)
  local base = 0
  for n = 1, $lines do
    local cents = math.random($price_min, $price_max)
    local quantity = math.random(1, $quantity_max)
    v["product" .. n] = string.format($product_format, math.random(1, $products))
    v["price" .. n] = money(cents)
    v["quantity" .. n] = quantity
    base = base + cents * quantity
  end
  local variant = 1
  local discount = 0
  if mine % $coupon_every == 0 then
    local index = math.floor(mine / $coupon_every) * $threads + id + 1
    if index <= $codes then
      v.coupon = string.format($code_format, index)
      discount = math.floor(base * $percent / 100)
      variant = variant + 2
      coupons_asked = coupons_asked + 1
    else
      coupons_skipped = coupons_skipped + 1
    end
  end
  local points = 0
  if mine % $points_every == 1 then
    local allowed = math.floor((base - discount) * $share_max / 100)
    local k = math.floor(mine / $points_every) % $points_steps + 1
    points = math.floor(allowed * k / $points_steps)
  end
  if points > 0 then
    v.points = points
    variant = variant + 1
    points_asked = points_asked + 1
  end
  v.total = money(base - discount - points)
  local template = templates[variant]
  local args = {}
  for i, name in ipairs(template.names) do
    args[i] = v[name]
  end
  local path = $path
  if $creates then
    path = path .. "&transactionId=" .. v.order
  end
  return wrk.format(nil, path, nil, string.format(template.text, unpack(args)))
end

function response(status, headers, body)
  answered = answered + 1
  local ok = status == 200 and string.find(body, $success_mark, 1, true) ~= nil
    and string.find(body, $processing_mark, 1, true) ~= nil
  if ok and string.find(body, $coupons_mark, 1, true) then
    if string.find(body, $usable_mark, 1, true) then
      coupons_applied = coupons_applied + 1
    else
      ok = false
    end
  end
  if ok then
    good = good + 1
    if $creates then
      orders[#orders + 1] = string.match(body, $website_pattern) or "?"
    end
  else
    bad = bad + 1
    if #samples < $samples_max then
      local shown = string.gsub(string.sub(body, 1, 800), "%s+", " ")
      samples[#samples + 1] = status .. " " .. shown
    end
  end
end

function done(summary, latency, requests)
  local counts = {"sent", "answered", "good", "bad", "coupons_asked", "coupons_applied",
                  "points_asked", "coupons_skipped"}
  local out = assert(io.open($out, "w"))
  for _, thread in ipairs(threads) do
    for _, name in ipairs(counts) do
      out:write("count ", name, " ", thread:get(name), "\\n")
    end
    for _, sample in ipairs(thread:get("samples")) do
      out:write("sample ", sample, "\\n")
    end
    for _, order in ipairs(thread:get("orders")) do
      out:write("order ", order, "\\n")
    end
  end
  out:close()
end
""")

MARKS = {
    "json": {
        "success": '"status":"Success"',
        "processing": '"processingStatus":"{status}"',
        "coupons": '"couponsInfo"',
        "usable": '"status":"CanBeUsed"',
        "website": '"websiteId":"([^"]+)"',
    },
    "xml": {
        "success": "<status>Success</status>",
        "processing": "<processingStatus>{status}</processingStatus>",
        "coupons": "<couponsInfo>",
        "usable": "<status>CanBeUsed</status>",
        "website": "<websiteId>([^<]+)</websiteId>",
    },
}


def _lua_templates(templates: list[BodyTemplate]) -> str:
    items = []
    for template in templates:
        names = ", ".join(lua_string(name) for name in template.names)
        items.append(f"{{text = {lua_string(template.text)}, names = {{{names}}}}}")
    return "{\n  " + ",\n  ".join(items) + "\n}"


@dataclass(frozen=True)
class Run:
    """What one server's requests share: its key, the run's nonce and the codes."""

    server: Server
    database: str  # its URL
    key: str
    scenario: Scenario
    answer_format: str
    customers: int
    codes: int  # for wrk; the warm-up's come after them
    nonce: str

    @property
    def code_format(self) -> str:
        return f"C{self.nonce}-%07d"

    @property
    def order_prefix(self) -> str:
        return f"W{self.nonce}"

    @property
    def seen_path(self) -> Path:
        """Where the wrk script's done() writes what its threads saw."""
        return self.server.workdir / f"seen.{self.scenario.name}.txt"


def write_orders_script(run: Run) -> Path:
    marks = MARKS[run.answer_format]
    templates = body_templates(run.answer_format, total=run.scenario.creates)
    path = f"/v3/operations/sync?endpointId={ENDPOINT}&operation={run.scenario.operation}"
    script = run.server.workdir / f"{run.scenario.name}.lua"
    script.write_text(
        ORDERS_LUA.substitute(
            key=lua_string(run.key),
            content_type=lua_string(CONTENT_TYPE[run.answer_format]),
            templates=_lua_templates(templates),
            seed=random.SystemRandom().randrange(1, 1_000_000),
            threads=WRK_THREADS,
            customer_format=lua_string(CUSTOMER_FORMAT),
            customers=run.customers,
            run=lua_string(run.order_prefix),
            lines=LINES,
            price_min=PRICE_CENTS_MIN,
            price_max=PRICE_CENTS_MAX,
            quantity_max=QUANTITY_MAX,
            product_format=lua_string(PRODUCT_FORMAT),
            products=PRODUCTS,
            coupon_every=COUPON_EVERY,
            codes=run.codes,
            code_format=lua_string(run.code_format),
            percent=DISCOUNT_PERCENT,
            points_every=POINTS_EVERY,
            share_max=ORDER_RULES["points_payable_share_max"],
            points_steps=POINTS_STEPS,
            path=lua_string(path),
            creates="true" if run.scenario.creates else "false",
            success_mark=lua_string(marks["success"]),
            processing_mark=lua_string(
                marks["processing"].format(status=run.scenario.processing_status)
            ),
            coupons_mark=lua_string(marks["coupons"]),
            usable_mark=lua_string(marks["usable"]),
            website_pattern=lua_string(marks["website"]),
            samples_max=BAD_SAMPLES_MAX,
            out=lua_string(str(run.seen_path)),
        )
    )
    return script


@dataclass(frozen=True)
class Seen:
    """What the wrk threads counted, summed, with the first bad answers and, for
    CreateOrder, the websiteId of every good answer."""

    counts: Counter[str]
    samples: list[str]
    orders: list[str]


def read_seen(path: Path) -> Seen:
    if not path.exists():
        raise BenchError(f"wrk's done() wrote nothing to {path}")
    counts: Counter[str] = Counter()
    samples: list[str] = []
    orders: list[str] = []
    for line in path.read_text().splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "count":
            name, _, number = rest.partition(" ")
            counts[name] += int(number)
        elif kind == "sample":
            samples.append(rest)
        elif kind == "order":
            orders.append(rest)
    return Seen(counts, samples, orders)


# --------------------------------------------------------------------------- set-up


async def _admin_calls(
    server: Server, calls: Iterable[tuple[str, str, dict[str, Any] | None]]
) -> list[httpx.Response]:
    """(method, path, JSON body) calls of the admin API, ADMIN_CONCURRENCY at a time;
    the first answer that is not 2xx aborts the bench."""
    headers = {"Authorization": f"Bearer {server.secrets.admin_token}"}
    gate = asyncio.Semaphore(ADMIN_CONCURRENCY)
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=60) as client:

        async def one(method: str, path: str, body: dict[str, Any] | None) -> httpx.Response:
            async with gate:
                answer = await client.request(method, path, json=body)
            if not answer.is_success:
                raise BenchError(f"{method} {path}: {answer.status_code} {answer.text[:300]}")
            return answer

        return await asyncio.gather(*(one(*call) for call in calls))


def admin_calls(
    server: Server, calls: Iterable[tuple[str, str, dict[str, Any] | None]]
) -> list[httpx.Response]:
    return asyncio.run(_admin_calls(server, calls))


def prepare(run: Run, *, balance: int, warmup_codes: int) -> None:
    """The customers with their balance, the point of contact and the coupon pool."""
    numbers = customer_numbers(run.customers)
    server = run.server
    admin_calls(
        server, [("PUT", f"/admin/v1/customers/{n}", {"program": PROGRAM}) for n in numbers]
    )
    credit = {"changeAmount": balance, "comment": "bench starting balance"}
    admin_calls(
        server, [("POST", f"/admin/v1/customers/{n}/balance-changes", credit) for n in numbers]
    )
    point_of_contact = {"name": "Bench shop"}
    admin_calls(
        server, [("PUT", f"/admin/v1/points-of-contact/{POINT_OF_CONTACT}", point_of_contact)]
    )
    pool = {"name": "Bench coupons", "multiUse": False, "discount": {"percent": DISCOUNT_PERCENT}}
    admin_calls(server, [("PUT", f"/admin/v1/pools/{POOL}", pool)])
    total = run.codes + warmup_codes
    for start in range(0, total, CODES_PER_IMPORT):
        values = [
            run.code_format % i for i in range(start + 1, min(total, start + CODES_PER_IMPORT) + 1)
        ]
        (answer,) = admin_calls(
            server, [("POST", f"/admin/v1/pools/{POOL}/codes", {"codes": values})]
        )
        imported = answer.json()
        if imported["imported"] != len(values):
            raise BenchError(f"code import refused {imported['rejected'][:3]}")


@dataclass(frozen=True)
class Balances:
    """Over every customer, from the admin API."""

    point_balance: int  # summed
    pending: int  # summed
    lowest_available: int
    lowest_point_balance: int


def read_balances(server: Server, customers: int) -> Balances:
    answers = admin_calls(
        server, [("GET", f"/admin/v1/customers/{n}", None) for n in customer_numbers(customers)]
    )
    blocks = [answer.json()["balances"] for answer in answers]
    return Balances(
        point_balance=sum(b["pointBalance"] for b in blocks),
        pending=sum(b["pendingPointsEarned"] for b in blocks),
        lowest_available=min(b["availablePointBalance"] for b in blocks),
        lowest_point_balance=min(b["pointBalance"] for b in blocks),
    )


# --------------------------------------------------------------------------- warm-up


def _answer_tree(answer: httpx.Response, answer_format: str) -> Tree:
    if answer_format == "json":
        tree: Tree = answer.json()
        return tree
    # The codec reads requests only (root <operation>); an answer is the same tree under
    # <result>, so renaming the root lets it read the lists as the server wrote them.
    body = answer.content.replace(b"<result>", b"<operation>", 1)
    return parse_xml(body.replace(b"</result>", b"</operation>"))


def _wrong(cart: Cart, tree: Tree, scenario: Scenario) -> str | None:
    """What in the answer differs from the figures `cart` should get, if anything."""
    order = tree.get("order") or {}
    expected = {
        "status": (tree.get("status"), "Success"),
        "processingStatus": (order.get("processingStatus"), scenario.processing_status),
        "totalPrice": (order.get("totalPrice"), money(cart.total)),
        "spentAmountForCurrentOrder": (
            ((order.get("bonusPointsInfo") or [{}])[0]).get("spentAmountForCurrentOrder"),
            cart.points,
        ),
    }
    if cart.values["coupon"] is not None:
        info = (order.get("couponsInfo") or [{}])[0]
        expected["coupon status"] = ((info.get("coupon") or {}).get("status"), "CanBeUsed")
        expected["discount"] = (info.get("discountAmountForCurrentOrder"), money(cart.discount))
    if scenario.creates:
        ids = order.get("ids") or {}
        expected["websiteId"] = (ids.get("websiteId"), cart.values["order"])
    wrong = [
        f"{name} {got!r}, not {want!r}"
        for name, (got, want) in expected.items()
        if str(got) != str(want)
    ]
    return "; ".join(wrong) or None


def warm_up(run: Run) -> dict[str, str]:
    """WARMUP_REQUESTS sequential requests of every variant through httpx, each answer
    checked figure by figure: fails fast, with the request and the answer, when the
    server prices an order otherwise. Answers the last request with both a coupon and
    points, and its answer (an example for the results)."""
    scenario = run.scenario
    templates = body_templates(run.answer_format, total=scenario.creates)
    headers = request_headers(run.key, run.answer_format)
    rng = random.Random(1)
    example: dict[str, str] = {}
    with httpx.Client(base_url=run.server.base_url, headers=headers, timeout=30) as client:
        for i in range(WARMUP_REQUESTS):
            order = f"{run.order_prefix}-w{i}"
            code = run.code_format % (run.codes + i + 1) if i % 4 >= 2 else None
            cart = make_cart(
                rng,
                order=order,
                customer=customer_number(i % run.customers + 1),
                code=code,
                k=(i % 2) * (i % POINTS_STEPS + 1),
            )
            body = templates[cart.variant].render(cart.values)
            params = {"endpointId": ENDPOINT, "operation": scenario.operation}
            if scenario.creates:
                params["transactionId"] = order
            answer = client.post("/v3/operations/sync", params=params, content=body)
            wrong = (
                f"HTTP {answer.status_code}"
                if answer.status_code != 200
                else _wrong(cart, _answer_tree(answer, run.answer_format), scenario)
            )
            if wrong is not None:
                raise BenchError(
                    f"warm-up {scenario.kind} {i}: {wrong}\nrequest: {body.decode()}\n"
                    f"answer: {answer.text[:2000]}"
                )
            if cart.variant == 3:
                example = {"request": body.decode(), "answer": answer.text}
    return example


# --------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class State:
    """What the checks compare before and after a run (plain SQL and the admin API)."""

    orders: int
    spent: int
    earned: int
    codes_used: int
    balances: Balances


def read_state(run: Run) -> State:
    count, spent, earned = sql(
        run.database,
        "SELECT COUNT(*), COALESCE(SUM(spent), 0), COALESCE(SUM(earned), 0) FROM orders",
    )[0]
    (used,) = sql(
        run.database,
        "SELECT COUNT(*) FROM promo_codes c JOIN promo_pools p ON p.id = c.pool_id"
        " WHERE p.external_id = ? AND c.used_at IS NOT NULL",
        POOL,
    )[0]
    return State(
        int(count), int(spent), int(earned), int(used), read_balances(run.server, run.customers)
    )


def settle(run: Run, quiet_s: float = 0.3) -> None:
    """Until the order count stops moving: the server still serves what wrk had in
    flight when it stopped, which must not race the checks."""
    deadline = time.monotonic() + SETTLE_LIMIT_S
    last = sql(run.database, "SELECT COUNT(*) FROM orders")[0][0]
    while True:
        time.sleep(quiet_s)
        count = sql(run.database, "SELECT COUNT(*) FROM orders")[0][0]
        if count == last:
            return
        if time.monotonic() > deadline:
            raise BenchError(f"still creating orders {SETTLE_LIMIT_S}s after wrk stopped")
        last = count


def check_answers(run: Run, result: WrkResult, seen: Seen) -> list[str]:
    counts = seen.counts
    if result.non_2xx or counts["bad"] or counts["good"] != counts["answered"]:
        raise BenchError(
            f"{run.scenario.kind}: {counts['bad']} of {counts['answered']} answers not 200 + "
            f"Success + {run.scenario.processing_status} (+ CanBeUsed for a coupon), "
            f"{result.non_2xx} non-2xx; first: " + "\n".join(seen.samples)
        )
    if counts["coupons_skipped"]:
        raise BenchError(f"{counts['coupons_skipped']} requests lacked a code: raise --codes")
    # A coupon of a request still in flight when wrk stopped has no answer.
    unanswered = counts["coupons_asked"] - counts["coupons_applied"]
    if not 0 <= unanswered <= counts["sent"] - counts["answered"]:
        raise BenchError(
            f"{counts['coupons_asked']} coupons sent, "
            f"{counts['coupons_applied']} answered CanBeUsed"
        )
    share = counts["coupons_asked"] / max(counts["sent"], 1)
    return [
        f"{run.scenario.kind}: all {counts['good']} answers 200 + Success + "
        f"{run.scenario.processing_status}; {counts['coupons_applied']} coupons CanBeUsed "
        f"({share:.1%} of requests carried one), {counts['points_asked']} asked for points"
    ]


def check_created(run: Run, before: State, after: State, seen: Seen) -> list[str]:
    """The orders in the database against the good answers; balances against orders."""
    counts = seen.counts
    in_flight = counts["sent"] - counts["answered"]
    new = after.orders - before.orders
    answered = seen.orders
    twice = [w for w, n in Counter(answered).items() if n > 1]
    if twice:
        raise BenchError(f"{len(twice)} websiteIds answered twice, e.g. {twice[:3]}")
    stored = {
        row[0]
        for row in sql(
            run.database,
            "SELECT website_id FROM orders WHERE website_id LIKE ?",
            f"{run.order_prefix}-%",
        )
        if not row[0].startswith(f"{run.order_prefix}-w")
    }
    missing = set(answered) - stored
    if missing:
        raise BenchError(
            f"{len(missing)} orders answered Processed are not in the database, "
            f"e.g. {sorted(missing)[:3]}"
        )
    extra = new - len(answered)
    if len(stored) != new or not 0 <= extra <= in_flight:
        raise BenchError(
            f"the database holds {new} new orders ({len(stored)} of this run), {len(answered)} "
            f"answered Processed, {in_flight} still in flight when wrk stopped"
        )
    (lines,) = sql(
        run.database,
        "SELECT COUNT(*) FROM order_lines l JOIN orders o ON o.id = l.order_id"
        " WHERE o.website_id LIKE ?",
        f"{run.order_prefix}-%",
    )[0]
    if int(lines) != LINES * (new + WARMUP_REQUESTS):
        raise BenchError(f"{lines} order lines for {new + WARMUP_REQUESTS} orders of {LINES} lines")
    used = after.codes_used - before.codes_used
    if not 0 <= used - counts["coupons_applied"] <= extra:
        raise BenchError(
            f"{used} codes used, {counts['coupons_applied']} coupons answered CanBeUsed"
        )
    return [
        f"orders in the database: {new} new = {len(answered)} answered Processed + {extra} of the "
        f"{in_flight} in flight when wrk stopped; {LINES} lines each; {used} codes used",
        *check_balances(before, after),
    ]


def check_balances(before: State, after: State) -> list[str]:
    spent = after.spent - before.spent
    earned = after.earned - before.earned
    fell = before.balances.point_balance - after.balances.point_balance
    grew = after.balances.pending - before.balances.pending
    lowest = min(after.balances.lowest_available, after.balances.lowest_point_balance)
    if fell != spent or grew != earned or lowest < 0:
        raise BenchError(
            f"ledger: point balances fell by {fell}, the new orders spent {spent}; pending grew by "
            f"{grew}, they earned {earned}; lowest balance {lowest}"
        )
    return [
        f"balances: fell by {fell:,} = points the new orders spent, pending grew by {grew:,} = "
        f"their bonus; lowest available balance {after.balances.lowest_available:,} (none negative)"
    ]


def check_calculated(before: State, after: State) -> list[str]:
    if (after.orders, after.codes_used, after.balances) != (
        before.orders,
        before.codes_used,
        before.balances,
    ):
        raise BenchError(f"CalculateCart changed state: before {before}, after {after}")
    return ["CalculateCart changed nothing: no order, no code used, the same balances"]


# --------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class OrdersRow:
    scenario: str
    database: str
    processes: int
    connections: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    server_peak_rss_mb: float
    requests: int
    server_cpu_us_per_request: float
    peak_wal_mb: float | None
    socket_errors: dict[str, int]


@dataclass
class Outcome:
    row: OrdersRow
    checks: list[str]
    example: dict[str, str]
    failure: str | None  # the first check that failed
    profile: list[str] = field(default_factory=list)


def measure(run: Run, args: argparse.Namespace, setup: Setup) -> Outcome:
    """The warm-up, the wrk run (profiled with --profile) and the checks."""
    server = run.server
    example = warm_up(run)
    before = read_state(run)
    script = write_orders_script(run)
    profile_path = server.workdir / f"pyspy.{run.scenario.name}.txt"
    profiler = start_profile(server, profile_path) if args.profile else None
    cpu_before = cpu_seconds(server.pid)
    try:
        with PeakFileSize(sqlite_wal_path(run.database)) as wal:
            result = run_wrk(
                server.base_url, args.connections, args.duration, script, WRK_TIMEOUT_S
            )
        cpu = cpu_seconds(server.pid) - cpu_before
        settle(run)
    finally:
        if profiler is not None:
            stop_profile(profiler)
    checks, failure = _checks(run, result, before, args.connections)
    row = OrdersRow(
        scenario=run.scenario.name,
        database=setup.database,
        processes=setup.processes,
        connections=args.connections,
        requests_per_s=result.requests_per_s,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        server_peak_rss_mb=server.peak_rss_mb(),
        requests=result.requests,
        server_cpu_us_per_request=cpu * 1e6 / max(result.requests, 1),
        peak_wal_mb=None if is_postgres(run.database) else wal.peak_mb,
        socket_errors=result.socket_errors,
    )
    outcome = Outcome(row, checks, example, failure)
    if args.profile:
        outcome.profile = _keep_profile(profile_path, run.scenario, setup)
    return outcome


def _checks(
    run: Run, result: WrkResult, before: State, connections: int
) -> tuple[list[str], str | None]:
    """The checks passed, and the first that failed, if one did (the run's figures are
    still shown: what a failing server does is worth seeing too)."""
    checks: list[str] = []
    try:
        seen = read_seen(run.seen_path)
        checks += check_answers(run, result, seen)
        after = read_state(run)
        if run.scenario.creates:
            checks += check_created(run, before, after, seen)
        else:
            checks += check_calculated(before, after)
        check_busy(run.scenario.kind, result, connections)
        checks += server_log_problems(run.server)
    except BenchError as error:
        return checks, str(error)
    return checks, None


def server_log_problems(server: Server) -> list[str]:
    """The warnings and errors the server logged (its log is a JSON object a line)."""
    try:
        lines = server.log.read_text(errors="replace").splitlines()
    except OSError:
        return []
    marks = ('"level":"warning"', '"level":"error"', '"level":"critical"')
    found = [line for line in lines if any(mark in line for mark in marks)]
    if not found:
        return ["server log: no warning or error"]
    shown_lines = [line[:LOG_LINE_CHARS_MAX] for line in found[:BAD_SAMPLES_MAX]]
    return [f"server log: {len(found)} warnings or errors, first: " + " | ".join(shown_lines)]


def _keep_profile(path: Path, scenario: Scenario, setup: Setup) -> list[str]:
    if not path.exists():
        return ["py-spy wrote nothing"]
    RESULTS_DIR.mkdir(exist_ok=True)
    kept = RESULTS_DIR / f"http_orders{setup.suffix}.{scenario.name}.pyspy.txt"
    kept.write_text(path.read_text())
    return [f"raw samples: {shown(kept)}", *summarize_profile(kept)]


def run_scenario(
    scenario: Scenario, args: argparse.Namespace, setup: Setup, folder: Path
) -> Outcome:
    """A fresh database and server for the scenario, set up, measured and checked."""
    key = new_secret()
    with (
        setup.fresh_database(folder, scenario.name) as url,
        setup.server(url, orders_settings(key)) as server,
    ):
        run = Run(
            server=server,
            database=url,
            key=key,
            scenario=scenario,
            answer_format=args.format,
            customers=args.customers,
            codes=args.codes or wrk_codes(args.duration),
            nonce=secrets.token_hex(3).upper(),
        )
        started = time.perf_counter()
        prepare(
            run,
            balance=starting_balance(args.duration, args.customers),
            warmup_codes=WARMUP_REQUESTS,
        )
        print(f"{scenario.name}: set up in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        return measure(run, args, setup)


# --------------------------------------------------------------------------- report


def table(rows: list[OrdersRow]) -> str:
    lines = [
        "| scenario | database | processes | connections | requests/s | p50 ms | p99 ms "
        "| server peak RSS MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.scenario} | {r.database} | {r.processes} | {r.connections} | "
        f"{r.requests_per_s:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.server_peak_rss_mb:.1f} |"
        for r in rows
    ]
    return "\n".join(lines)


def verdicts(rows: list[OrdersRow]) -> tuple[list[str], dict[str, bool]]:
    """Each target that applies to a row, met or not."""
    notes: list[str] = []
    met: dict[str, bool] = {}
    for row in rows:
        target = TARGETS.get((row.scenario, row.database))
        if (
            target is not None
            and row.database == "postgres"
            and row.processes != TARGET_POSTGRES_PROCESSES
        ):
            notes.append(
                f"Target {row.scenario} >= {target:,}/s on PostgreSQL holds for "
                f"{TARGET_POSTGRES_PROCESSES} processes: not measured ({row.processes} here)"
            )
        elif target is not None:
            name = f"{row.scenario} >= {target:,} requests/s ({row.database})"
            if row.database == "sqlite" and row.scenario == "create-order":
                name += " with synchronous=FULL"
            met[name] = row.requests_per_s >= target
            notes.append(
                f"Target {name}: {'MET' if met[name] else 'NOT MET'} ({row.requests_per_s:,.0f}/s)"
            )
        if row.database == "sqlite":
            name = f"{row.scenario} p99 < {TARGET_P99_MS:.0f} ms (sqlite)"
            met[name] = row.p99_ms < TARGET_P99_MS
            notes.append(
                f"Target {name}: {'MET' if met[name] else 'NOT MET'} ({row.p99_ms:.1f} ms)"
            )
    return notes, met


def sqlite_synchronous() -> str:
    """What the store's SQLite connections run with: the setting is the store's own
    (`pointkeeper.store.sqlite._connect`, every connection), not the configuration's,
    so it is read from a connection that function opens."""
    from pointkeeper.store.sqlite import _connect

    names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    with tempfile.TemporaryDirectory() as folder:
        connection = _connect(str(Path(folder) / "probe.db"))
        try:
            (level,) = connection.execute("PRAGMA synchronous").fetchone()
        finally:
            connection.close()
    return names.get(level, str(level))


def report(
    outcomes: list[Outcome], args: argparse.Namespace, setup: Setup, load: tuple[float, float]
) -> None:
    rows = [o.row for o in outcomes]
    notes, met = verdicts(rows)
    synchronous = sqlite_synchronous() if setup.database == "sqlite" else None
    print(table(rows))
    print()
    for note in notes:
        print(f"- {note}")
    for row in rows:
        wal = "" if row.peak_wal_mb is None else f", peak WAL {row.peak_wal_mb:.1f} MB"
        print(
            f"- {row.scenario}: {row.requests:,} requests, server CPU "
            f"{row.server_cpu_us_per_request:,.0f} us per request{wal}"
        )
    if synchronous is not None:
        print(f"- SQLite synchronous={synchronous} (set by the store on every connection)")
    print(
        f"- ran on {setup.label}, {args.format}, {args.customers} customers, "
        f"{args.duration}s per run"
    )
    print(
        f"- load average (1 min) {load[0]:.2f} before, {load[1]:.2f} after, "
        f"{os.cpu_count()} CPUs shared by the server, wrk and the database"
    )
    print("\nCorrectness:")
    for outcome in outcomes:
        for line in outcome.checks:
            print(f"- {line}")
        if outcome.failure is not None:
            print(f"- {outcome.row.scenario} FAILED: {outcome.failure}")
    for outcome in outcomes:
        if outcome.profile:
            print(f"\npy-spy, {outcome.row.scenario}:\n" + "\n".join(outcome.profile))
    payload: dict[str, Any] = {
        "rows": [asdict(row) for row in rows],
        "targets_met": met,
        "targets": {f"{s} {d}": rate for (s, d), rate in TARGETS.items()},
        "target_p99_ms_sqlite": TARGET_P99_MS,
        "sqlite_synchronous": synchronous,
        "format": args.format,
        "duration_s": args.duration,
        "customers": args.customers,
        "checks": [line for o in outcomes for line in o.checks],
        "failures": {o.row.scenario: o.failure for o in outcomes if o.failure is not None},
        "examples": {o.row.scenario: o.example for o in outcomes},
        "load_average_1m": {"before": load[0], "after": load[1]},
        "cpus": os.cpu_count(),
    }
    if any(o.profile for o in outcomes):
        payload["profiles"] = {o.row.scenario: o.profile for o in outcomes}
    summary = [
        Summary(
            row.scenario,
            row.requests_per_s,
            "requests/s",
            row.p50_ms,
            row.p99_ms,
            row.server_peak_rss_mb,
        )
        for row in rows
    ]
    path = write_json("http_orders", payload, setup, summary)
    print(f"\nwritten {shown(path)}")


# --------------------------------------------------------------------------- main


def _arguments() -> tuple[argparse.Namespace, Setup]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", choices=(*SCENARIOS, "both"), default="both")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--format", choices=("json", "xml"), default="json")
    parser.add_argument(
        "--codes", type=int, help="coupon codes for wrk (default: for RATE_BOUND/s)"
    )
    parser.add_argument("--profile", action="store_true", help="py-spy every wrk run")
    add_setup_arguments(parser)
    args = parser.parse_args()
    setup = setup_from(args, parser)
    if args.connections < WRK_THREADS:
        parser.error(f"--connections must be at least {WRK_THREADS} (wrk threads)")
    if args.customers < 1 or args.duration < 1:
        parser.error("--customers and --duration must be at least 1")
    if args.codes is not None and args.codes < 1:
        parser.error("--codes must be at least 1")
    return args, setup


def main() -> int:
    args, setup = _arguments()
    require_wrk()
    names = list(SCENARIOS) if args.scenario == "both" else [args.scenario]
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="pointkeeper-orders-") as folder:
        outcomes = [run_scenario(SCENARIOS[name], args, setup, Path(folder)) for name in names]
    report(outcomes, args, setup, (load_before, os.getloadavg()[0]))
    failed = [o.row.scenario for o in outcomes if o.failure is not None]
    if failed:
        raise BenchError(f"{', '.join(failed)}: a correctness check failed (see above)")
    return 0


if __name__ == "__main__":
    run_main(main)
