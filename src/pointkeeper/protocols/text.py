"""Which characters a string from the wire may hold: one rule for every
protocol, applied where each parses its requests.

An id (a customer number, a reference, a sale id, an auth code, an external
id, a promo code value, a transactionId) holds no control character at all:
none of C0 (U+0000 to U+001F), DEL (U+007F) or C1 (U+0080 to U+009F). Free
text (a reason, a comment, a name, a description, a location) may hold the
layout characters tab, line feed and carriage return, and no other control
character. Neither may hold a lone surrogate, which is no character at all.

Why: PostgreSQL text cannot hold U+0000 (SQLite would store it, so the two
backends would disagree), and control characters in ids break log lines,
CSV exports and XML answers (XML 1.0 cannot carry C0 characters at all).
"""

from __future__ import annotations

import re

__all__ = ["refusal"]

_refused_in_ids = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_refused_in_text = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_surrogates = range(0xD800, 0xE000)


def refusal(value: str, *, free_text: bool) -> str | None:
    """Why ``value`` cannot be taken, as a phrase that follows a field's name
    ("must not contain control characters (U+0000 at character 3)"), or
    None when it can. ``free_text`` allows tab, line feed and carriage return."""
    found = (_refused_in_text if free_text else _refused_in_ids).search(value)
    if found is None:
        return None
    code = ord(found.group())
    what = "a lone surrogate" if code in _surrogates else "control characters"
    return f"must not contain {what} (U+{code:04X} at character {found.start() + 1})"
