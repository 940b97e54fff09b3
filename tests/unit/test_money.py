"""Money and quantities read exactly: strings, ints and Decimals to integer
cents and thousandths, refused rather than rounded, and written back."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pointkeeper.money import format_cents, money_cents, quantity_thousandths

# Fifteen digits before the point and two after: the largest amount there is.
_cents_max = 10**17 - 1


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("40.00", 4000),
        ("40", 4000),
        ("40.5", 4050),
        ("0.05", 5),
        ("0", 0),
        ("1234.50", 123450),
        ("40.000", 4000),
        ("40.10000000", 4010),
        ("007.20", 720),
        ("999999999999999.99", _cents_max),
    ],
)
def test_strings_are_read_exactly(text: str, cents: int) -> None:
    assert money_cents(text) == cents


@pytest.mark.parametrize(("text", "cents"), [("-0.05", -5), ("-12", -1200), ("-0", 0)])
def test_negative_strings_parse_and_callers_refuse_them(text: str, cents: int) -> None:
    assert money_cents(text) == cents


@pytest.mark.parametrize(
    "text",
    [
        "40.001",
        "0.005",
        "1e2",
        "1E2",
        "4.0e1",
        "",
        " ",
        ".5",
        "-.5",
        "-",
        "+5",
        "1,50",
        "1_000",
        "12.3.4",
        "NaN",
        "Infinity",
        "0x10",
        "\u0661\u0662",  # Arabic-Indic digits are digits to str.isdigit, not to us.
        "1000000000000000",  # sixteen digits before the point
        "1000000000000000.00",
    ],
)
def test_strings_that_are_no_amount_are_refused(text: str) -> None:
    assert money_cents(text) is None


@pytest.mark.parametrize(
    ("number", "cents"),
    [
        (0, 0),
        (7, 700),
        (-3, -300),
        (999_999_999_999_999, _cents_max - 99),
        (-999_999_999_999_999, -_cents_max + 99),
    ],
)
def test_ints_are_whole_currency_units(number: int, cents: int) -> None:
    assert money_cents(number) == cents


@pytest.mark.parametrize("flag", [True, False])
def test_booleans_are_no_amount(flag: bool) -> None:
    assert money_cents(flag) is None
    assert quantity_thousandths(flag) is None


@pytest.mark.parametrize("number", [10**15, -(10**15), 10**20])
def test_ints_of_more_than_fifteen_digits_are_refused(number: int) -> None:
    assert money_cents(str(number)) is None
    assert money_cents(Decimal(number)) is None
    assert money_cents(number) is None


@pytest.mark.parametrize(
    ("number", "cents"),
    [
        (Decimal("40.00"), 4000),
        (Decimal("40"), 4000),
        (Decimal("40.000"), 4000),
        (Decimal("4E+1"), 4000),
        (Decimal("1E+14"), 10**16),
        (Decimal("0.05"), 5),
        (Decimal("-0.05"), -5),
        (Decimal("-0"), 0),
        (Decimal("0E-9"), 0),
        (Decimal("999999999999999.99"), _cents_max),
    ],
)
def test_decimals_are_read_exactly(number: Decimal, cents: int) -> None:
    assert money_cents(number) == cents


@pytest.mark.parametrize(
    "number",
    [
        Decimal("40.001"),
        Decimal("1E-3"),
        Decimal("NaN"),
        Decimal("-NaN"),
        Decimal("sNaN"),
        Decimal("Infinity"),
        Decimal("-Infinity"),
        Decimal("1E+15"),
        Decimal("1000000000000000.00"),
    ],
)
def test_decimals_that_are_no_amount_are_refused(number: Decimal) -> None:
    assert money_cents(number) is None


def test_a_decimal_with_a_far_decimal_is_refused_not_rounded() -> None:
    # More digits than the default Decimal context's 28: rounding them would give 1.00.
    text = "1.000000000000000000000000000001"
    assert money_cents(text) is None
    assert money_cents(Decimal(text)) is None
    assert quantity_thousandths(Decimal(text)) is None


def test_a_decimal_with_far_trailing_zeros_is_read() -> None:
    text = "1.000000000000000000000000000000000"
    assert money_cents(Decimal(text)) == money_cents(text) == 100


@settings(max_examples=300)
@given(st.from_regex(r"-?(0|[1-9][0-9]{0,19})(\.[0-9]{1,35})?", fullmatch=True))
def test_a_decimal_reads_as_the_text_it_was_made_of(text: str) -> None:
    assert money_cents(Decimal(text)) == money_cents(text)
    assert quantity_thousandths(Decimal(text)) == quantity_thousandths(text)


@settings(max_examples=200)
@given(st.integers(-(10**17), 10**17))
def test_an_int_reads_as_its_digits(number: int) -> None:
    assert money_cents(number) == money_cents(str(number))
    assert quantity_thousandths(number) == quantity_thousandths(str(number))


@pytest.mark.parametrize(
    ("value", "thousandths"),
    [
        ("1", 1000),
        ("0.001", 1),
        ("2.5", 2500),
        ("2.500", 2500),
        ("0.0010", 1),
        (Decimal("1.5"), 1500),
        (Decimal("0.125"), 125),
        (3, 3000),
    ],
)
def test_quantities_are_read_in_thousandths(value: str | Decimal | int, thousandths: int) -> None:
    assert quantity_thousandths(value) == thousandths


@pytest.mark.parametrize(
    "value", ["0.0001", "1e3", "", ".5", Decimal("0.0005"), Decimal("NaN"), "1000000000000000"]
)
def test_quantities_that_are_no_quantity_are_refused(value: str | Decimal) -> None:
    assert quantity_thousandths(value) is None


@pytest.mark.parametrize(
    ("cents", "text"),
    [
        (8000, "80.00"),
        (5, "0.05"),
        (50, "0.50"),
        (0, "0.00"),
        (-5, "-0.05"),
        (-100, "-1.00"),
        (123456, "1234.56"),
    ],
)
def test_cents_are_written_as_the_wire_writes_money(cents: int, text: str) -> None:
    assert format_cents(cents) == text


@settings(max_examples=300)
@given(st.integers(-_cents_max, _cents_max))
def test_written_cents_read_back_as_the_same_cents(cents: int) -> None:
    text = format_cents(cents)
    assert money_cents(text) == cents
    assert money_cents(Decimal(text)) == cents
    assert money_cents(text + "000") == cents


def test_cents_beyond_fifteen_digits_are_written_but_not_read_back() -> None:
    assert format_cents(_cents_max + 1) == "1000000000000000.00"
    assert money_cents(format_cents(_cents_max + 1)) is None


@settings(max_examples=300)
@given(
    st.decimals(allow_nan=False, allow_infinity=False, places=3).filter(
        lambda number: abs(number) < 10**15
    )
)
def test_strings_and_decimals_agree(number: Decimal) -> None:
    text = format(number, "f")
    assert money_cents(number) == money_cents(text)
    assert quantity_thousandths(number) == quantity_thousandths(text)
    assert quantity_thousandths(number) == int(number * 1000)
    if number * 100 == int(number * 100):
        assert money_cents(number) == int(number * 100)
    else:
        assert money_cents(number) is None
