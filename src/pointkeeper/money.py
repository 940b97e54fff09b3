"""Money and quantities as the wire writes them, read exactly.

A money amount ("1234.50", 1234.5 read as a decimal) becomes integer cents,
a quantity integer thousandths; no float is ever made of either. A value
with more decimals than its unit holds is refused rather than rounded: the
client and the server must agree on every cent.
"""

from __future__ import annotations

import re
from decimal import Decimal

__all__ = ["format_cents", "money_cents", "quantity_thousandths"]

_whole_digits = 15
# Leading zeros are no digits, as in a Decimal; a point needs a digit after it.
_decimal = re.compile(r"(-?)0*([0-9]{1,15})(?:\.([0-9]+))?")


def _scaled(value: str | Decimal | int, decimals: int) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return int(value * 10**decimals) if abs(value) < 10**_whole_digits else None
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        # Read from the digits themselves: Decimal arithmetic would round to
        # its context's precision first.
        sign, digits, exponent = value.as_tuple()
        assert isinstance(exponent, int)
        kept = list(digits)
        if not any(kept):
            return 0
        while exponent < 0 and len(kept) > 1 and kept[-1] == 0:
            kept.pop()  # "40.000" means 40: trailing zeros are no decimals
            exponent += 1
        if -exponent > decimals or len(kept) + exponent > _whole_digits:
            return None
        number: int = int("".join(map(str, kept))) * 10 ** (exponent + decimals)
        return -number if sign else number
    match = _decimal.fullmatch(value.strip())
    if match is None:
        return None
    sign_text, whole, fraction = match.groups()
    fraction_kept: str = (fraction or "").rstrip("0")
    if len(fraction_kept) > decimals:
        return None
    scaled: int = int(whole) * 10**decimals + int(fraction_kept.ljust(decimals, "0") or "0")
    return -scaled if sign_text else scaled


def money_cents(value: str | Decimal | int) -> int | None:
    """The amount in cents; None when it is no decimal number of at most 15
    digits before the point and 2 after."""
    return _scaled(value, 2)


def quantity_thousandths(value: str | Decimal | int) -> int | None:
    """The quantity in thousandths; None when it is no decimal number of at
    most 15 digits before the point and 3 after."""
    return _scaled(value, 3)


def format_cents(cents: int) -> str:
    """``cents`` as the wire writes money: "80.00", "-0.05"."""
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}.{part:02d}"
