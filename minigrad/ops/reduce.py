r"""Reductions over `dim` (None, an int or a tuple; `keepdim`), with PyTorch's names and
defaults (`var` and `std` are unbiased) and numpy's `axis=`/`keepdims=` accepted too.

Each VJP first gives δ back the reduced axes (as size-1 axes), then broadcasts it over them.
`max`/`min` share δ evenly among tied maxima, PyTorch's rule for full reductions.
"""

from __future__ import annotations

import builtins
import math
from typing import Any

import numpy as np

from minigrad.function import apply
from minigrad.ops import either
from minigrad.ops.registry import OUT, defop
from minigrad.tensor import Tensor, dim_alias

Axis = int | tuple[int, ...] | None


def normalize_axis(axis: Any, ndim: int, op: str) -> tuple[int, ...] | None:
    """None, or a sorted tuple of non-negative axes; out-of-range axes name the op."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -builtins.max(ndim, 1) <= a < builtins.max(ndim, 1):
            raise ValueError(f"{op}: axis {a} is out of range for a tensor with {ndim} dims")
        out.append(int(a) % builtins.max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis}")
    return tuple(sorted(out)) if ndim else None


def _kept_shape(shape: tuple[int, ...], axis: Any) -> tuple[int, ...]:
    axis = normalize_axis(axis, len(shape), "reduce")
    if axis is None:
        return (1,) * len(shape)
    return tuple(1 if i in axis else n for i, n in enumerate(shape))


def _reduced_shape(shape: tuple[int, ...], axis: Any) -> tuple[int, ...]:
    axis = normalize_axis(axis, len(shape), "reduce")
    return () if axis is None else tuple(n for i, n in enumerate(shape) if i not in axis)


def _count(shape: tuple[int, ...], axis: Any) -> int:
    axis = normalize_axis(axis, len(shape), "reduce")
    return math.prod(shape) if axis is None else math.prod(shape[i] for i in axis)


def _keep(g: Any, x: Any, axis: tuple[int, ...] | None, keepdims: bool) -> Any:
    """δ with the reduced axes restored as size 1, ready to broadcast against x."""
    return g if keepdims else g.reshape(_kept_shape(x.shape, axis))


def _sum_vjp(g, out, x, axis=None, keepdims=False):
    return either.broadcast_to(_keep(g, x, axis, keepdims), x.shape)


def _mean_vjp(g, out, x, axis=None, keepdims=False):
    n = _count(x.shape, axis)
    return either.broadcast_to(_keep(g, x, axis, keepdims) / float(builtins.max(n, 1)), x.shape)


def _extreme_vjp(g, out, x, axis=None, keepdims=False):
    xv = either.value(x)
    mask = xv == _keep(either.value(out), x, axis, keepdims)
    share = (mask / mask.sum(axis=axis, keepdims=True)).astype(xv.dtype)
    return either.share(_keep(g, x, axis, keepdims), share)


def _centred(x: Any, axis: Any) -> Any:
    """x − x̄ with the forward's correction step: the rounded mean of equal values may be off
    by a rounding (27 values −1e150), and x − x̄ would be that rounding instead of 0; under
    create_graph the square of var' = 2(x − x̄)/n then made H v 6e266 instead of 0.01. In
    exact arithmetic the correction is 0, so the derivatives are the same."""
    c = x - x.mean(axis=axis, keepdims=True)
    return c - c.mean(axis=axis, keepdims=True)


def _twice_over(n: int, ddof: Any) -> float:
    """2/(n − d), the factor of var's derivatives, with IEEE division at n = d: ∞, so that
    the derivative is NaN (0·∞) for one value with Bessel's correction and empty for an empty
    input, as PyTorch's, rather than a ZeroDivisionError."""
    return 2.0 / (n - ddof) if n != ddof else math.inf


def _var_vjp(g, out, x, axis=None, keepdims=False, ddof=0):
    n = _count(x.shape, axis)
    centred = _centred(x, axis)
    return _keep(g, x, axis, keepdims) * centred * _twice_over(n, ddof)


def _std_vjp(g, out, x, axis=None, keepdims=False, ddof=0):
    n = _count(x.shape, axis)
    centred = _centred(x, axis)
    s = _keep(out, x, axis, keepdims)
    zero = either.value(s) == 0
    if not zero.any():  # (x − x̄)/s first: δ ⊙ (x − x̄) alone may overflow where the result fits
        return _keep(g, x, axis, keepdims) * (centred / (s * float(n - ddof)))
    # constant input: gradient 0, as PyTorch, and so are its derivatives (the whole rule is
    # masked, not only s, or the second derivative would see (x − x̄)/n; and δ too, or the
    # second derivative would meet δ·0, NaN where δ overflowed to ∞)
    s = either.where(zero, 1.0, s)
    g = either.where(zero, 0.0, _keep(g, x, axis, keepdims))
    return either.where(zero, 0.0, g * (centred / (s * float(n - ddof))))


def _logsumexp_forward(x: np.ndarray, axis=None, keepdims=False) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True) if x.size else np.zeros(_kept_shape(x.shape, axis))
    m = np.where(np.isfinite(m), m, 0).astype(x.dtype)  # a row of −∞ must not give ∞ − ∞
    with np.errstate(over="ignore"):  # x − m ≤ 0: an overflow is to −∞, whose exp is 0
        z = x - m
    out = np.log(np.sum(np.exp(z), axis=axis, keepdims=True)) + m
    # the shape comes from the axes alone: summing x just to learn it would overflow near
    # the largest float (logsumexp(1e308, 1e308) is finite)
    return out if keepdims else out.reshape(_reduced_shape(x.shape, axis))


def _logsumexp_vjp(g, out, x, axis=None, keepdims=False):
    return _keep(g, x, axis, keepdims) * either.exp(x - _keep(out, x, axis, keepdims))


def _np(name: str):
    f = getattr(np, name)
    return lambda x, axis=None, keepdims=False, **kw: f(x, axis=axis, keepdims=keepdims, **kw)


def _spread(name: str):
    """var and std of float32 accumulated in float64: (x − x̄)² overflows float32 from
    |x| ≈ 2e19, although the std (and a var below 3e38) is representable."""
    f = getattr(np, name)

    def forward(x: np.ndarray, axis=None, keepdims=False, ddof=0) -> np.ndarray:
        if x.size == 0 or x.dtype.kind != "f":
            return f(x, axis=axis, keepdims=keepdims, ddof=ddof)
        acc = np.float64 if x.dtype.itemsize < 8 else x.dtype
        xa = x.astype(acc, copy=False)
        with np.errstate(over="ignore"):  # a var past float32's range is ∞, as PyTorch
            m = np.mean(xa, axis=axis, keepdims=True)
            # one correction step: the rounded mean m is off by mean(x − m); without it the
            # var of three equal values 1e30 is 2e28 rather than 0
            m = m + np.mean(xa - m, axis=axis, keepdims=True)
            d = xa - m
            n = _count(x.shape, axis)
            v = np.sum(d * d, axis=axis, keepdims=keepdims) / builtins.max(n - ddof, 0)
            out = np.sqrt(v) if name == "std" else v
        return np.asarray(out).astype(x.dtype)

    return forward


def _sum_jvp(t, out, x, axis=None, keepdims=False):
    return t.sum(axis=axis, keepdims=keepdims)


def _mean_jvp(t, out, x, axis=None, keepdims=False):
    return t.mean(axis=axis, keepdims=keepdims)


def _extreme_jvp(t, out, x, axis=None, keepdims=False):
    """The tangent of the extreme entries (their mean where several tie)."""
    xv = either.value(x)
    mask = xv == _keep(either.value(out), x, axis, keepdims)
    share = (mask / mask.sum(axis=axis, keepdims=True)).astype(xv.dtype)
    return (t * share).sum(axis=axis, keepdims=keepdims)


def _var_jvp(t, out, x, axis=None, keepdims=False, ddof=0):
    n = _count(x.shape, axis)
    centred = x - x.mean(axis=axis, keepdims=True)
    # over nothing (n = 0) the tangent is an empty sum, 0, as PyTorch's
    return (centred * t).sum(axis=axis, keepdims=keepdims) * (_twice_over(n, ddof) if n else 0.0)


def _std_jvp(t, out, x, axis=None, keepdims=False, ddof=0):
    """ṡ = v̇ / 2s, 0 where s = 0 (a constant input, as PyTorch's gradient)."""
    n = _count(x.shape, axis)
    centred = x - x.mean(axis=axis, keepdims=True)
    dot = (centred * t).sum(axis=axis, keepdims=keepdims)
    zero = either.value(out) == 0
    if not zero.any():
        return dot / (out * float(n - ddof))
    return either.where(zero, 0.0, dot / (either.where(zero, 1.0, out) * float(n - ddof)))


def _logsumexp_jvp(t, out, x, axis=None, keepdims=False):
    return (t * either.exp(x - _keep(out, x, axis, keepdims))).sum(axis=axis, keepdims=keepdims)


SUM = defop("sum", _np("sum"), _sum_vjp, formula="s = Σ x", grads=("δ (broadcast)",), saves=(),
            doc="sum over axes", jvps=(("Σ ẋ", _sum_jvp),))
MEAN = defop("mean", _np("mean"), _mean_vjp, formula="m = (1/n) Σ x", grads=("δ / n",),
             saves=(), doc="mean over axes", jvps=(("(1/n) Σ ẋ", _mean_jvp),))
MAX = defop("max", _np("max"), _extreme_vjp, formula="m = max x", grads=("δ ⊙ 1[x = m] / #ties",),
            saves=(0, OUT), doc="maximum over axes; ties share δ evenly",
            jvps=(("Σ ẋ ⊙ 1[x = m] / #ties", _extreme_jvp),))
MIN = defop("min", _np("min"), _extreme_vjp, formula="m = min x", grads=("δ ⊙ 1[x = m] / #ties",),
            saves=(0, OUT), doc="minimum over axes; ties share δ evenly",
            jvps=(("Σ ẋ ⊙ 1[x = m] / #ties", _extreme_jvp),))
VAR = defop("var", _spread("var"), _var_vjp, formula="v = (1/(n−d)) Σ (x − x̄)²",
            grads=("δ ⊙ 2(x − x̄)/(n−d)",),
            doc="variance with correction d: unbiased (d = 1) by default, as PyTorch",
            jvps=(("2 Σ (x − x̄) ⊙ ẋ / (n−d)", _var_jvp),))
STD = defop("std", _spread("std"), _std_vjp, formula="s = √var x", grads=("δ ⊙ (x − x̄)/((n−d) s)",),
            saves=(0, OUT),
            doc="standard deviation with correction d (unbiased, d = 1, by default)",
            jvps=(("Σ (x − x̄) ⊙ ẋ / ((n−d) s)", _std_jvp),))
LOGSUMEXP = defop("logsumexp", _logsumexp_forward, _logsumexp_vjp, formula="s = log Σ eˣ",
                  grads=("δ ⊙ softmax(x)",), saves=(0, OUT),
                  doc="log Σ exp, stable for large x",
                  jvps=(("Σ softmax(x) ⊙ ẋ", _logsumexp_jvp),))


def _reduce(op, x: Any, axis: Any, keepdims: bool, kw: dict[str, Any], **extra: Any) -> Tensor:
    axis = kw.pop("dim", axis)
    keepdims = kw.pop("keepdim", keepdims)
    if kw:
        raise TypeError(f"{op.name}() got unexpected arguments {sorted(kw)}")
    ndim = x.ndim if isinstance(x, Tensor) else np.ndim(x)
    return apply(op, x, axis=normalize_axis(axis, ndim, op.name), keepdims=bool(keepdims), **extra)


def sum(x: Any, axis: Axis = None, keepdims: bool = False, **kw: Any) -> Tensor:
    """`Σ x` over `axis`. ∇x = δ broadcast back over the summed axes."""
    return _reduce(SUM, x, axis, keepdims, kw)


def mean(x: Any, axis: Axis = None, keepdims: bool = False, **kw: Any) -> Tensor:
    """Mean over `axis`. ∇x = δ / n broadcast back."""
    return _reduce(MEAN, x, axis, keepdims, kw)


def max(x: Any, axis: Axis = None, keepdims: bool = False, **kw: Any) -> Tensor:
    """Max over `axis` (values only, as numpy). δ goes to the maxima; ties share it evenly."""
    return _reduce(MAX, x, axis, keepdims, kw)


def min(x: Any, axis: Axis = None, keepdims: bool = False, **kw: Any) -> Tensor:
    """Min over `axis` (values only). δ goes to the minima; ties share it evenly."""
    return _reduce(MIN, x, axis, keepdims, kw)


def correction_of(op: str, unbiased: Any = None, correction: Any = None,
                  ddof: Any = None) -> int | float:
    """The d of `1/(n − d)`: PyTorch's `correction`, or `unbiased` (True: 1, False: 0), or
    numpy's `ddof`; 1, Bessel's correction, when none is given (PyTorch's default)."""
    given = {k: v for k, v in (("unbiased", unbiased), ("correction", correction),
                               ("ddof", ddof)) if v is not None}
    if len(given) > 1:
        raise TypeError(f"{op}(): give one of unbiased=, correction= and ddof=, not "
                        f"{' and '.join(given)}")
    if unbiased is not None:
        if not isinstance(unbiased, (bool, np.bool_)):
            raise TypeError(f"{op}(): unbiased must be True or False, got {unbiased!r}")
        return int(unbiased)
    d = correction if correction is not None else ddof if ddof is not None else 1
    if isinstance(d, bool) or not isinstance(d, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}(): the correction must be a number, got {d!r}")
    return int(d) if float(d).is_integer() else float(d)


def _spread_call(op, x: Any, dim: Any, unbiased: Any, keepdim: Any,
                 correction: Any, ddof: Any, kw: dict[str, Any]) -> Tensor:
    if isinstance(dim, (bool, np.bool_)):  # torch's x.var(False): the one argument is unbiased
        if unbiased is not None:
            raise TypeError(f"{op.name}(): unbiased given twice")
        dim, unbiased = None, dim
    dim, keepdim = dim_alias(op.name, dim, keepdim, kw)
    d = correction_of(op.name, unbiased, correction, ddof)
    return _reduce(op, x, dim, bool(keepdim), kw, ddof=d)


def var(x: Any, dim: Axis = None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: float | None = None, ddof: float | None = None, **kw: Any) -> Tensor:
    """Variance `(1/(n − d)) Σ (x − x̄)²` over `dim`, as ``torch.var``: unbiased, d = 1, by
    default (``unbiased=False`` or ``correction=0`` gives the population variance, 1/n;
    numpy's ``ddof=`` and ``axis=``/``keepdims=`` are accepted).
    ∇x = δ ⊙ 2(x − x̄)/(n − d)."""
    return _spread_call(VAR, x, dim, unbiased, keepdim, correction, ddof, kw)


def std(x: Any, dim: Axis = None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: float | None = None, ddof: float | None = None, **kw: Any) -> Tensor:
    """Standard deviation `√var` over `dim`, as ``torch.std``: unbiased, d = 1, by default
    (see `var`). ∇x = δ ⊙ (x − x̄)/((n − d) s)."""
    return _spread_call(STD, x, dim, unbiased, keepdim, correction, ddof, kw)


def logsumexp(x: Any, axis: Axis = None, keepdims: bool = False, **kw: Any) -> Tensor:
    """`log Σ exp x`, computed as `m + log Σ exp(x − m)`. ∇x = δ ⊙ softmax(x)."""
    return _reduce(LOGSUMEXP, x, axis, keepdims, kw)
