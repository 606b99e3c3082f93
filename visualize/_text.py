r"""Text for diagram labels: escaping user strings for Graphviz, subscripts, number summaries.

Every string that reaches DOT source goes through `escape`, which makes it safe inside a
Graphviz HTML-like label (``label=<...>``). Three things can go wrong without it:

- ``<``, ``>`` and ``&`` would end the label or start markup, so a name like ``<lambda>`` could
  add attributes or nodes to the DOT source;
- Graphviz expands backslash escapes (``\N`` is the node's id, ``\G`` the graph's) even inside
  HTML labels, *after* decoding entities, so a backslash is doubled rather than encoded;
- control characters and non-characters are invalid XML, which Graphviz's label parser
  rejects (and which would make the SVG unreadable), so they are shown as visible symbols.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = [
    "escape",
    "format_number",
    "subscript",
    "summary_lines",
    "value_rows",
]

_SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
_NEWLINE = "\n"


def subscript(k: int | str) -> str:
    """``12`` → ``₁₂``: the lecture's layer indices (`a₂`, `W₁`)."""
    return str(k).translate(_SUB)


def _visible(ch: str) -> str:
    """A replacement for a character that XML (hence Graphviz's label parser) cannot hold."""
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)  # the Unicode "control pictures": ␀ ␁ … ␟
    if code == 0x7F:
        return "␡"
    if 0x80 <= code <= 0x9F:
        return f"\\x{code:02x}"
    return "\N{REPLACEMENT CHARACTER}"


def _needs_replacing(ch: str) -> bool:
    code = ord(ch)
    if code in (0x09,):
        return False
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return True
    if 0xD800 <= code <= 0xDFFF:  # lone surrogates cannot be encoded as UTF-8
        return True
    # U+FDD0..U+FDEF and every U+xxFFFE / U+xxFFFF are non-characters, forbidden in XML
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


def clean(text: str) -> str:
    r"""`text` with line breaks unified to ``\n``, tabs as spaces and characters that XML cannot
    hold replaced by visible symbols. This is what a diagram shows for `text`."""
    text = text.replace("\r\n", _NEWLINE).replace("\r", _NEWLINE).replace("\t", " ")
    if all(not _needs_replacing(c) for c in text if c != _NEWLINE):
        return text
    return "".join(c if c == _NEWLINE or not _needs_replacing(c) else _visible(c) for c in text)


def escape(text: Any, *, newline: str = "<BR/>") -> str:
    r"""`text` as the content of a Graphviz HTML-like label, shown literally.

    ``&``, ``<``, ``>`` and quotes become entities, backslashes are doubled (Graphviz would
    otherwise expand ``\N``, ``\G``, ``\L``), characters invalid in XML become visible symbols
    and each newline becomes `newline` (a line break inside the label).

    Example: ``<lambda> & "x"`` becomes ``&lt;lambda&gt; &amp; &quot;x&quot;``.
    """
    s = clean(str(text))
    s = (
        s.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
        .replace("\\", "\\\\")
    )
    return s.replace(_NEWLINE, newline)


def format_number(v: Any) -> str:
    """A number in at most 4 significant digits: ``0.5123``, ``-0.001234``, ``1.2e+05``."""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    f = float(v)
    if math.isnan(f):
        return "nan"
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    if f == 0:
        return "0"
    return f"{f:.4g}"


def value_rows(a: np.ndarray, max_elements: int = 12) -> list[list[str]] | None:
    """The numbers of a small array as rows of strings (a matrix reads as a matrix), or None
    when it has more than `max_elements` elements (then use `summary_lines`)."""
    if a.size > max_elements:
        return None
    if a.ndim == 0:
        return [[format_number(a.item())]]
    if a.size == 0:
        return [["(empty)"]]
    flat = a.reshape(-1, a.shape[-1]) if a.ndim > 1 else a.reshape(1, -1)
    return [[format_number(v) for v in row] for row in flat]


def summary_lines(a: np.ndarray) -> list[str]:
    """Mean, std, min, max and norm of a large array, as two or three short lines."""
    if a.size == 0:
        return ["(empty)"]
    if a.dtype.kind == "b":
        return [f"{int(a.sum())} of {a.size} true"]
    x = a.astype(np.float64, copy=False)
    finite = np.isfinite(x)
    lines = []
    if not finite.all():
        lines.append(f"{int((~finite).sum())} non-finite (nan/inf)")
        x = x[finite]
        if x.size == 0:
            return lines
    lines += [
        f"mean {format_number(x.mean())}  std {format_number(x.std())}",
        f"min {format_number(x.min())}  max {format_number(x.max())}",
    ]
    if a.dtype.kind in "fc":  # the norm of class labels or indices means nothing
        lines.append(f"norm {format_number(np.sqrt(np.sum(x * x)))}")
    return lines


def shape_text(shape: Iterable[int], dtype: Any) -> str:
    """``(3, 2) float32``; a scalar reads ``scalar float32``."""
    shape = tuple(shape)
    if not shape:
        return f"scalar {dtype}"
    return "(" + ", ".join(str(n) for n in shape) + (",)" if len(shape) == 1 else ")") + f" {dtype}"
