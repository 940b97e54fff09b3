"""Maestra bodies in XML and JSON, both read into and written from one tree.

A tree is a ``dict`` whose values are ``str``, ``int``, ``bool``, ``None``,
another tree, or a list of such values. XML leaves read as strings and JSON
values keep their JSON types; the operations convert and validate fields, so
this module only knows the shape. XML and JSON differ in two ways: XML wraps
a request in ``<operation>`` and an answer in ``<result>``, and XML wraps
each list item in a singular element (see ``names.LIST_ELEMENTS``).

Reading is defensive: the body comes from the network. XML is parsed with
defusedxml, which refuses any DOCTYPE, entity declaration or external
reference before anything is expanded or fetched, and both formats are
bounded in nesting depth and in the number of elements or values.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import defusedxml.ElementTree as _defused
import orjson
from defusedxml import DefusedXmlException

from pointkeeper import limits

from .names import ANSWER_ROOT, LIST_ELEMENTS, REQUEST_ROOT

__all__ = [
    "MalformedRequest",
    "Tree",
    "escape_text",
    "parse_json",
    "parse_xml",
    "render_json",
    "render_xml",
]

Tree = dict[str, Any]


class MalformedRequest(Exception):
    """The body is not a well-formed request; answered with 400 ProtocolError."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_xml(body: bytes) -> Tree:
    """The content of the ``<operation>`` root element as a tree."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedRequest("The body is not UTF-8 text.") from None
    builder = _Builder()
    # The encoding override makes expat read UTF-8 whatever the declaration says.
    parser = _defused.XMLParser(
        target=builder,
        encoding="utf-8",
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=True,
    )
    try:
        parser.feed(body)
        parser.close()
    except DefusedXmlException:
        # The defusedxml message names the declaration; ours says only what is
        # refused, so nothing the document points at ever reaches an answer.
        raise MalformedRequest(
            "DOCTYPE, entity declarations and external references are not allowed."
        ) from None
    except _defused.ParseError as error:
        raise MalformedRequest(f"The body is not well-formed XML: {error}.") from None
    assert builder.tree is not None
    return builder.tree


def parse_json(body: bytes, *, exact_decimals: bool = False) -> Tree:
    """The body's top-level JSON object, values as JSON gives them; with
    ``exact_decimals`` (money), a number with a fraction or an exponent is
    a ``Decimal`` of exactly what was written instead of a float."""
    try:
        tree = _exact_json(body) if exact_decimals else orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise MalformedRequest(f"The body is not valid JSON: {error}.") from None
    if not isinstance(tree, dict):
        raise MalformedRequest("The JSON body must be an object.")
    _check_json_bounds(tree)
    return tree


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _exact_json(body: bytes) -> Any:
    """orjson reads every fraction as a float, so money goes through the
    standard library's parser, which can hand the digits to ``Decimal``."""
    try:
        text = body.decode("utf-8")
        return json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise MalformedRequest("The body is not UTF-8 text.") from None
    except RecursionError:
        raise MalformedRequest(
            f"The body nests values deeper than {limits.json_depth_max}."
        ) from None
    except ValueError as error:
        raise MalformedRequest(f"The body is not valid JSON: {error}.") from None


def render_xml(tree: Tree, *, root: str = ANSWER_ROOT) -> bytes:
    """``tree`` as an XML document under ``root``; ``None`` values are left out."""
    parts = ['<?xml version="1.0" encoding="utf-8"?>', "<", root, ">"]
    _render_fields(parts, tree)
    parts += ("</", root, ">")
    return "".join(parts).encode("utf-8")


def render_json(tree: Tree) -> bytes:
    """``tree`` as a JSON object; ``None`` values are left out at every level."""
    return orjson.dumps(_json_ready(tree))


_xml_space = " \t\r\n"


class _Frame:
    """An open XML element: its name, its children so far and its text."""

    __slots__ = ("fields", "item", "items", "name", "texts")

    def __init__(self, name: str) -> None:
        self.name = name
        self.item = LIST_ELEMENTS.get(name)
        self.fields: Tree = {}
        self.items: list[Any] = []
        self.texts: list[str] = []

    def add(self, name: str, value: Any) -> None:
        if self.item is not None:
            if name != self.item:
                raise MalformedRequest(
                    f"<{self.name}> may hold only <{self.item}> elements, not <{name}>."
                )
            self.items.append(value)
        elif name in self.fields:
            raise MalformedRequest(f"<{name}> appears more than once in <{self.name}>.")
        else:
            self.fields[name] = value

    def value(self) -> Any:
        # Only XML whitespace is layout; a no-break space at an end is content.
        text = "".join(self.texts).strip(_xml_space)
        if self.item is not None or self.fields:
            if text:
                raise MalformedRequest(f"<{self.name}> mixes text with elements.")
            return self.items if self.item is not None else self.fields
        return text


class _Builder:
    """An expat target that builds the tree as elements close, within bounds."""

    def __init__(self) -> None:
        self.tree: Tree | None = None
        self._stack: list[_Frame] = []
        self._elements = 0

    def start(self, tag: str, attrib: object) -> None:
        # Maestra uses no namespaces; "{uri}name" is read as "name".
        name = tag.rpartition("}")[2]
        self._elements += 1
        if self._elements > limits.xml_elements_max:
            raise MalformedRequest(f"The body has more than {limits.xml_elements_max} elements.")
        if len(self._stack) >= limits.xml_depth_max:
            raise MalformedRequest(f"The body nests elements deeper than {limits.xml_depth_max}.")
        if not self._stack and name != REQUEST_ROOT:
            raise MalformedRequest(f"The root element must be <{REQUEST_ROOT}>, not <{name}>.")
        self._stack.append(_Frame(name))

    def data(self, text: str) -> None:
        if self._stack:
            self._stack[-1].texts.append(text)

    def end(self, tag: str) -> None:
        frame = self._stack.pop()
        value = frame.value()
        if self._stack:
            self._stack[-1].add(frame.name, value)
        elif isinstance(value, dict):
            self.tree = value
        elif value == "":
            self.tree = {}
        else:
            raise MalformedRequest(f"<{REQUEST_ROOT}> must hold elements, not text.")

    def close(self) -> Tree | None:
        return self.tree


def _check_json_bounds(tree: Tree) -> None:
    pending: list[tuple[Any, int]] = [(tree, 1)]
    values = 0
    while pending:
        value, depth = pending.pop()
        values += 1
        if values > limits.json_values_max:
            raise MalformedRequest(f"The body has more than {limits.json_values_max} values.")
        if depth > limits.json_depth_max:
            raise MalformedRequest(f"The body nests values deeper than {limits.json_depth_max}.")
        if isinstance(value, dict):
            pending.extend((child, depth + 1) for child in value.values())
        elif isinstance(value, list):
            pending.extend((child, depth + 1) for child in value)


def _render_fields(parts: list[str], fields: Tree) -> None:
    for name, value in fields.items():
        if value is None:
            continue
        _check_name(name)
        item = LIST_ELEMENTS.get(name)
        if item is None:
            _render_value(parts, name, value)
            continue
        if not isinstance(value, list):
            raise TypeError(f"{name!r} is a list element but holds {type(value).__name__}")
        parts += ("<", name, ">")
        for each in value:
            if each is not None:
                _render_value(parts, item, each)
        parts += ("</", name, ">")


def _render_value(parts: list[str], name: str, value: Any) -> None:
    parts += ("<", name, ">")
    if isinstance(value, str):
        parts.append(escape_text(value))
    elif isinstance(value, bool):
        parts.append("true" if value else "false")
    elif isinstance(value, int):
        # int.__repr__, not str(): an IntEnum would print its member name.
        parts.append(int.__repr__(value))
    elif isinstance(value, dict):
        _render_fields(parts, value)
    else:
        raise TypeError(f"{name!r} holds {type(value).__name__}, which has no XML form")
    parts += ("</", name, ">")


# XML 1.0 has no way to write these characters at all, even as references:
# the C0 controls other than tab, newline and carriage return, lone
# surrogates, U+FFFE and U+FFFF. They become U+FFFD, so the reader sees that
# something was there. Carriage return is written as a reference because a
# parser turns a literal one into a newline.
_forbidden = [
    *range(0x00, 0x09),
    0x0B,
    0x0C,
    *range(0x0E, 0x20),
    *range(0xD800, 0xE000),
    0xFFFE,
    0xFFFF,
]
_escapes: dict[int, str] = {code: "\ufffd" for code in _forbidden}
_escapes.update({ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;", ord("\r"): "&#13;"})
_needs_escape = re.compile("[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_surrogate = re.compile("[\ud800-\udfff]")


def escape_text(text: str) -> str:
    """``text`` as XML character data: markup escaped, carriage returns as
    references, characters XML cannot carry replaced by U+FFFD. For code that
    writes XML itself, such as the streaming export."""
    if _needs_escape.search(text) is None:
        return text
    return text.translate(_escapes)


_xml_name = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*", re.ASCII)
_known_names: set[str] = set(LIST_ELEMENTS) | set(LIST_ELEMENTS.values())


def _check_name(name: str) -> None:
    """Refuses a key that would not be a well-formed element name."""
    if name in _known_names:
        return
    if not isinstance(name, str) or _xml_name.fullmatch(name) is None:
        raise ValueError(f"{name!r} is not a valid XML element name")
    if len(_known_names) < limits.xml_names_cached_max:
        _known_names.add(name)


def _json_ready(value: Any) -> Any:
    """A copy without ``None`` values; lone surrogates, which UTF-8 cannot
    carry, become U+FFFD as in XML."""
    if isinstance(value, dict):
        return {key: _json_ready(child) for key, child in value.items() if child is not None}
    if isinstance(value, list):
        return [_json_ready(child) for child in value if child is not None]
    if isinstance(value, str) and _surrogate.search(value) is not None:
        return _surrogate.sub("\ufffd", value)
    return value
