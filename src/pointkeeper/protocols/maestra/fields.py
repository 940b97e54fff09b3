"""Typed access to a Maestra request tree, each refusal naming its location.

The tree comes from XML (every leaf a string) or JSON (numbers are numbers,
flags are booleans); accessors accept what each format may carry and refuse
the rest with an ``InvalidRequest`` whose field is the XPath-like location,
e.g. ``/operation/balanceChanges/balanceChange/changeAmount``.

Every string goes through ``text`` (free text) or ``identifier`` (ids),
which refuse control characters by ``protocols.text``; every integer goes
through ``integer``, which checks the caller's range (by default the signed
64 bits both databases hold).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from pointkeeper import limits
from pointkeeper.domain.time import Instant
from pointkeeper.errors import InvalidRequest
from pointkeeper.money import money_cents, quantity_thousandths
from pointkeeper.protocols.text import refusal

from .dates import parse_date

__all__ = ["CUSTOMER_ID_NAMES", "Fields"]

# An XML integer: leading zeros aside, more than 19 digits is beyond every
# 64-bit range, so such a number is refused before ``int`` reads it.
_xml_integer = re.compile(r"-?0*[0-9]{1,19}")
_xml_digits = re.compile(r"-?[0-9]+")

# Customer id names of the protocol, in the order they are looked up, with
# the domain's name for each.
CUSTOMER_ID_NAMES: tuple[tuple[str, str], ...] = (
    ("customerId", "customer_id"),
    ("mindboxId", "customer_id"),
    ("customerNumber", "customer_number"),
    ("webSiteUserId", "website_id"),
    ("webSiteId", "website_id"),
    ("email", "email"),
    ("mobilePhone", "mobile_phone"),
)


class Fields:
    """One request (or one item of a list in it) and where it sits."""

    __slots__ = ("_from_xml", "_location", "_tree")

    def __init__(self, tree: dict[str, Any], *, from_xml: bool, location: str = "/operation"):
        self._tree = tree
        self._from_xml = from_xml
        self._location = location

    def where(self, *path: str) -> str:
        return "/".join((self._location, *path))

    def _value(self, path: tuple[str, ...]) -> Any:
        node: Any = self._tree
        for index, name in enumerate(path):
            if node is None:
                return None
            if not isinstance(node, dict):
                raise InvalidRequest(
                    "must be an element with children", field=self.where(*path[:index])
                )
            node = node.get(name)
        return node

    def names(self) -> list[str]:
        """The names of this element's children, in the request's order."""
        return list(self._tree)

    def has(self, *path: str) -> bool:
        return self._value(path) not in (None, "", {})

    def child(self, *path: str) -> Fields | None:
        node = self._value(path)
        if node in (None, ""):
            return None
        if not isinstance(node, dict):
            raise InvalidRequest("must be an element with children", field=self.where(*path))
        return Fields(node, from_xml=self._from_xml, location=self.where(*path))

    def items(self, *path: str, item: str, limit: int) -> list[Fields]:
        """The items of a list (``<balanceChanges><balanceChange>…`` in XML, an
        array in JSON); a single object is taken as a list of one."""
        node = self._value(path)
        if node in (None, ""):
            return []
        if isinstance(node, dict):
            node = [node]
        if not isinstance(node, list) or not all(isinstance(entry, dict) for entry in node):
            raise InvalidRequest("must be a list of elements", field=self.where(*path))
        if len(node) > limit:
            raise InvalidRequest(f"at most {limit} items", field=self.where(*path))
        location = self.where(*path, item)
        return [Fields(entry, from_xml=self._from_xml, location=location) for entry in node]

    def text(
        self, *path: str, required: bool = False, chars_max: int = limits.text_chars_max
    ) -> str | None:
        """Free text (a comment, a name): tabs and line ends are kept, other
        control characters refused."""
        return self._string(path, required=required, chars_max=chars_max, free_text=True)

    def identifier(self, *path: str, required: bool = False) -> str | None:
        """An id: at most ``id_chars_max`` characters, no control character."""
        return self._string(path, required=required, chars_max=limits.id_chars_max, free_text=False)

    def _string(
        self, path: tuple[str, ...], *, required: bool, chars_max: int, free_text: bool
    ) -> str | None:
        value = self._value(path)
        if value is None or value == "":
            if required:
                raise InvalidRequest("is required", field=self.where(*path))
            return None
        if not isinstance(value, str) or len(value) > chars_max:
            raise InvalidRequest(
                f"must be text of at most {chars_max} characters", field=self.where(*path)
            )
        problem = refusal(value, free_text=free_text)
        if problem is not None:
            raise InvalidRequest(problem, field=self.where(*path))
        return value

    def integer(
        self,
        *path: str,
        required: bool = False,
        minimum: int = limits.int64_min,
        maximum: int = limits.int64_max,
    ) -> int | None:
        """A JSON integer or an XML one in digits, from ``minimum`` to ``maximum``."""
        value = self._value(path)
        if value is None or value == "":
            if required:
                raise InvalidRequest("is required", field=self.where(*path))
            return None
        if type(value) is int and not self._from_xml:
            number = value
        elif isinstance(value, str) and self._from_xml and _xml_integer.fullmatch(value.strip()):
            number = int(value)
        elif isinstance(value, str) and self._from_xml and _xml_digits.fullmatch(value.strip()):
            number = None  # More digits than any 64-bit integer has.
        else:
            raise InvalidRequest("must be an integer", field=self.where(*path))
        if number is None or not minimum <= number <= maximum:
            raise InvalidRequest(
                f"must be an integer from {minimum} to {maximum}", field=self.where(*path)
            )
        return number

    def money(self, *path: str, required: bool = False) -> int | None:
        """A money amount of at least zero, in cents: an XML decimal, a JSON
        number (read exactly, never as a float) or a JSON string."""
        return self._decimal(
            path, required, money_cents, "an amount of at least 0 with at most 2 decimals"
        )

    def quantity(self, *path: str, required: bool = False) -> int | None:
        """A quantity above zero, in thousandths, read as ``money`` is."""
        number = self._decimal(
            path, required, quantity_thousandths, "a quantity above 0 with at most 3 decimals"
        )
        if number == 0:
            raise InvalidRequest(
                "must be a quantity above 0 with at most 3 decimals", field=self.where(*path)
            )
        return number

    def _decimal(
        self,
        path: tuple[str, ...],
        required: bool,
        read: Callable[[str | Decimal | int], int | None],
        wanted: str,
    ) -> int | None:
        value = self._value(path)
        if value is None or value == "":
            if required:
                raise InvalidRequest("is required", field=self.where(*path))
            return None
        number = None
        if isinstance(value, str) or (not self._from_xml and type(value) in (int, Decimal)):
            number = read(value)
        if number is None or number < 0:
            raise InvalidRequest(f"must be {wanted}", field=self.where(*path))
        return number

    def boolean(self, *path: str) -> bool | None:
        value = self._value(path)
        if value is None or value == "":
            return None
        if type(value) is bool and not self._from_xml:
            return bool(value)
        if self._from_xml and value in ("true", "false"):
            return bool(value == "true")
        raise InvalidRequest("must be true or false", field=self.where(*path))

    def date(self, *path: str, required: bool = False) -> Instant | None:
        value = self._value(path)
        if value is None or value == "":
            if required:
                raise InvalidRequest("is required", field=self.where(*path))
            return None
        return parse_date(value, self.where(*path))

    def paging(self, *, per_page_default: int) -> tuple[Instant | None, Instant | None, int, int]:
        """A ``page`` element's (since, till, page number, items per page).
        The page number is bounded so that the page's offset fits in the
        databases' 64 bits."""
        number = self.integer("pageNumber", minimum=1, maximum=limits.history_page_number_max)
        per_page = self.integer("itemsPerPage", minimum=1, maximum=limits.history_page_items_max)
        return (
            self.date("sinceDateTimeUtc"),
            self.date("tillDateTimeUtc"),
            1 if number is None else number,
            per_page_default if per_page is None else per_page,
        )

    def customer(self, *path: str) -> tuple[str, object]:
        """The first customer id given under ``…/ids``, as (domain kind, value)."""
        ids = self.child(*path, "ids")
        if ids is None:
            raise InvalidRequest("a customer id is required", field=self.where(*path, "ids"))
        for wire_name, kind in CUSTOMER_ID_NAMES:
            if not ids.has(wire_name):
                continue
            if kind == "customer_id":
                return kind, ids.integer(wire_name, minimum=1, maximum=limits.int64_max)
            return kind, ids.identifier(wire_name)
        raise InvalidRequest("a customer id is required", field=self.where(*path, "ids"))
