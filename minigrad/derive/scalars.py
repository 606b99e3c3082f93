r"""Scalar coefficients, with sympy: the counts a mean divides by (``N``), the 2 of a squared
error, attention's ``1/√d``, and every other plain number a rule multiplies by.

Tensor expressions (matrix products, ``⊙``, sums over the batch, transposes) are the
derivation's own graph; only the numbers in front of them are sympy expressions. sympy
multiplies them exactly (``(1/n)·2 = 2/n``), turns a float back into the number it was
(``0.35355339… = √2/4``) and prints them in Unicode and in LaTeX (``\frac{2}{n}``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sympy

__all__ = ["Symbols", "number", "text", "latex", "split"]


def _sp() -> Any:
    """sympy, imported on first use: ``import minigrad`` should not pay for it."""
    import sympy

    return sympy


class Symbols:
    """The named scalars of one derivation (``N``, ``n``, ``M``, ``d``) and their values."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}
        self.meaning: dict[str, str] = {}

    def get(self, name: str, value: float, meaning: str) -> sympy.Symbol:
        """A positive symbol for `value`; a name already taken by another value gets a
        subscript (``N_2``)."""
        candidate, j = name, 2
        while candidate in self.values and self.values[candidate] != value:
            candidate = f"{name}_{j}"
            j += 1
        self.values[candidate] = value
        self.meaning.setdefault(candidate, meaning)
        return _sp().Symbol(candidate, positive=True)

    def legend(self) -> list[str]:
        """``"N = 4: the examples the mean divides by"`` for each symbol, in order of use."""
        out = []
        for name, v in self.values.items():
            shown = int(v) if float(v).is_integer() else v
            out.append(f"{name} = {shown}: {self.meaning[name]}")
        return out


def number(value: float) -> sympy.Expr:
    """The simplest exact number equal to `value`: an integer, a fraction with a small
    denominator, a square root of one (``1/√8``), else the float itself."""
    sp = _sp()
    v = float(value)
    if not math.isfinite(v):
        return sp.Float(v)
    if v.is_integer():
        return sp.Integer(int(v))
    r = sp.Rational(v).limit_denominator(10_000)
    if float(r) == v:
        return r
    sq = sp.Rational(v * v).limit_denominator(10_000)
    if sq > 0 and float(sp.sqrt(sq)) == abs(v):
        return sp.sqrt(sq) if v > 0 else -sp.sqrt(sq)
    return sp.Float(v, 6)


def _float_text(v: float) -> str:
    return f"{v:g}".replace("-", "−")


def _text(e: sympy.Expr) -> str:
    sp = _sp()
    if isinstance(e, sp.Float):
        return _float_text(float(e))
    s = sp.sstr(e)
    for a, b in (("sqrt(", "√("), ("**", "^"), ("*", " "), ("-", "−")):
        s = s.replace(a, b)
    # √(d) → √d for a single symbol or number
    out, i = [], 0
    while i < len(s):
        if s.startswith("√(", i):
            j = s.find(")", i)
            inner = s[i + 2:j]
            if inner.replace("_", "").isalnum():
                out.append("√" + inner)
                i = j + 1
                continue
        out.append(s[i])
        i += 1
    return "".join(out)


def text(e: Any) -> str:
    """A scalar in Unicode: ``2/n``, ``1/√d``, ``0.5`` stays ``1/2``."""
    return _text(_sp().sympify(e))


def latex(e: Any) -> str:
    sp = _sp()
    e = sp.sympify(e)
    if isinstance(e, sp.Float):
        mant, _, exp = f"{float(e):g}".partition("e")
        if not exp:
            return mant
        exp_i = int(exp)
        return f"10^{{{exp_i}}}" if mant == "1" else rf"{mant} \times 10^{{{exp_i}}}"
    return str(sp.latex(e))


def split(e: Any) -> tuple[sympy.Expr, sympy.Expr]:
    """(numerator, denominator) of a scalar: ``2/n`` → ``(2, n)``."""
    sp = _sp()
    num, den = sp.fraction(sp.together(sp.sympify(e)))
    return num, den
