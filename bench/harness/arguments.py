"""Command-line value types the benchmark scripts share."""

from __future__ import annotations

import argparse

__all__ = ["increasing_sizes"]


def increasing_sizes(text: str) -> list[int]:
    """`10000,1_000_000`: positive sizes, each larger than the one before."""
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None
    if not sizes or any(s <= 0 for s in sizes) or sizes != sorted(set(sizes)):
        raise argparse.ArgumentTypeError("sizes must be positive and increasing")
    return sizes
