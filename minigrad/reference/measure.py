r"""How far autograd is from a formula, how far is too far, and how the rows are laid out:
what `compare` (the lecture's MLP, `comparison`), `compare_layers` (any model, `layerwise`)
and `check` (`checking`) share."""

from __future__ import annotations

import math
import textwrap
from typing import Any

import numpy as np

__all__ = ["as_dtype", "diagnosis_lines", "errors", "formula_test", "table_lines",
           "tolerance"]


def tolerance(dtype: Any) -> float:
    """The pass threshold for a model computing in `dtype`: 1e-10 for float64 (rounding is
    ~1e-16 per op), 1e-5 for float32 (~6e-8 per op, a few hundred ops deep), 1e-2 for
    float16. A row passes when ``max|Δ| ≤ tol · max(1, max|formula|)``: an absolute test for
    gradients of size below 1, a relative one above."""
    dt = np.dtype(dtype)
    if dt == np.float64:
        return 1e-10
    if dt == np.float32:
        return 1e-5
    if dt == np.float16:
        return 1e-2
    raise TypeError(f"compare: dtype must be float64, float32 or float16, got {dt}")


def as_dtype(dtype: Any) -> np.dtype:
    """`dtype` as a numpy dtype, or a TypeError naming it."""
    try:
        return np.dtype(dtype)
    except TypeError as e:
        raise TypeError(f"compare: dtype {dtype!r} is not a numpy dtype") from e


def errors(got: np.ndarray, want: np.ndarray) -> tuple[float, float, float]:
    """``max|Δ|``, ``max|Δ| / max|want|`` and the scale ``max(1, max|want|)``, in float64.

    A NaN anywhere, or shapes that differ (a formula missing a transpose), is an infinite
    error: a failure, never a pass by comparison.
    """
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return math.inf, math.inf, 1.0
    if got.size == 0:
        return 0.0, 0.0, 1.0
    d = float(np.max(np.abs(got - want)))
    m = float(np.max(np.abs(want)))
    if math.isnan(d):
        d = math.inf
    rel = d / m if m > 0 else (0.0 if d == 0 else math.inf)
    return d, rel, max(1.0, m)


def formula_test(tol: float) -> Any:
    """``same(given, candidate)`` by `compare`'s rule: shapes equal and
    ``max|given − candidate| ≤ tol · max(1, max|candidate|)``."""

    def same(given: np.ndarray, candidate: np.ndarray) -> bool:
        if np.shape(given) != np.shape(candidate):
            return False
        d, _, scale = errors(given, candidate)
        return d <= tol * scale

    return same


def table_lines(table: list[list[str]], kinds: list[str] | None = None,
                after: list[list[str]] | None = None) -> list[str]:
    """The rows of `table` (the first is the header), each cell padded to its column's width,
    indented by two spaces; with `kinds` (one per row after the header), a ``kind:`` line
    wherever the kind changes (``forward:``, ``backward:``); with `after` (one list per row
    after the header), those lines under the row (a failing row's diagnosis)."""
    widths = [max(len(t[i]) for t in table) for i in range(len(table[0]))]
    marks: list[str | None] = [None] + list(kinds) if kinds is not None else [None] * len(table)
    under: list[list[str]] = [[]] + list(after) if after is not None else [[]] * len(table)
    lines = []
    for i, t in enumerate(table):
        if i and marks[i] != marks[i - 1]:
            lines.append(f"{marks[i]}:")
        lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(t, widths)).rstrip())
        lines += under[i]
    return lines


def diagnosis_lines(diagnosis: Any, lead: str = "      ↳ ", width: int = 96) -> list[str]:
    """A row's diagnosis (``kind: text``) in lines of about `width` characters, under the
    row (none for None)."""
    if diagnosis is None:
        return []
    return textwrap.wrap(f"{diagnosis.kind}: {diagnosis.text}", width, initial_indent=lead,
                         subsequent_indent=" " * len(lead))
