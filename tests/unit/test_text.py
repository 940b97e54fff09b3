"""The characters a string from the wire may hold (``protocols.text``)."""

from __future__ import annotations

import pytest

from pointkeeper.protocols import text
from pointkeeper.protocols.text import refusal

C0 = [chr(code) for code in range(0x20)]
C1 = [chr(code) for code in range(0x80, 0xA0)]
LAYOUT = ["\t", "\n", "\r"]


def test_the_public_names_exist() -> None:
    assert text.__all__ == ["refusal"]
    assert all(hasattr(text, name) for name in text.__all__)


@pytest.mark.parametrize("char", [*C0, "\x7f", *C1, "\ud800", "\udfff"], ids=ascii)
def test_ids_refuse_every_control_character_and_lone_surrogate(char: str) -> None:
    found = refusal(f"ab{char}c", free_text=False)
    assert found is not None
    assert f"(U+{ord(char):04X} at character 3)" in found


@pytest.mark.parametrize(
    "char", [c for c in C0 if c not in LAYOUT] + ["\x7f", *C1, "\udc80"], ids=ascii
)
def test_free_text_refuses_control_characters_but_layout(char: str) -> None:
    assert refusal(f"{char}text", free_text=True) is not None


@pytest.mark.parametrize("char", LAYOUT, ids=ascii)
def test_free_text_takes_tab_and_line_ends_which_ids_refuse(char: str) -> None:
    assert refusal(f"line one{char}line two", free_text=True) is None
    assert refusal(f"line one{char}line two", free_text=False) is not None


@pytest.mark.parametrize(
    "value",
    ["", "CPOL-123185", "Café «Zürich» ½", "\u00a0no-break", "日本語", "emoji 😀", "\u2028"],
)
def test_printable_text_and_ids_are_taken(value: str) -> None:
    assert refusal(value, free_text=False) is None
    assert refusal(value, free_text=True) is None


def test_the_message_names_the_first_refused_character() -> None:
    assert refusal("a\x1bb\x00", free_text=True) == (
        "must not contain control characters (U+001B at character 2)"
    )
    assert refusal("\ud800", free_text=True) == (
        "must not contain a lone surrogate (U+D800 at character 1)"
    )
