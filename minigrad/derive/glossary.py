r"""The named quantities inside the rules: what the formula book calls the values a rule
computes on the way (``ŷ`` and ``e(ℓ)`` in cross-entropy's, ``x̂`` and ``1/σ`` in batch
norm's, ``P``, ``∇P``, ``∇S`` in attention's).

A rule traced on stand-in tensors recomputes such values with ordinary ops (softmax of the
logits) or makes them as constants (the one-hot matrix of the targets). Each entry here gives
a quantity's name and how the formula book computes it from the op's own inputs; a value of
the trace equal to it takes its name. So the names come from the book while the formula
itself stays the rule's: a rule written differently (but computing the same values) is named
the same way, and one that computes something else is simply left unnamed.

An entry is ``Entry(text, latex, array, delta, scalar, where)``: ``{0}``, ``{1}``… in `text`
and `latex` stand for the names of the op's inputs; `delta` says whether the quantity depends
on the δ arriving (``∇S`` does, ``P`` does not); `scalar`, for a number, is its symbol
(``N``) and `where` which numbers may take it (``"divisor"``: only what a rule divides by).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from minigrad.derive.scalars import Symbols

__all__ = ["Entry", "entries"]


@dataclass
class Entry:
    text: str
    latex: str
    array: Any
    delta: bool = False
    scalar: Any = None
    where: str = "any"


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _onehot(t: np.ndarray, C: int, dtype: Any) -> np.ndarray:
    return (t[..., None] == np.arange(C)).astype(dtype)


def _cross_entropy(xs: list[np.ndarray], out: Any, params: dict[str, Any], g: Any,
                   S: Symbols) -> list[Entry]:
    logits, target = xs[0], xs[1]
    found = [Entry("ŷ", r"\hat{{y}}", _softmax(logits))]
    if target.dtype.kind in "iub":
        found.append(Entry("e({1})", "e({1})", _onehot(target, logits.shape[-1], logits.dtype)))
    n = int(np.prod(logits.shape[:-1]))
    if params.get("reduction", "mean") == "mean" and n > 1:
        found.append(Entry("N", "N", float(n), scalar=S.get(
            "N", n, "the examples the mean divides by"), where="divisor"))
    return found


def _nll(xs: list[np.ndarray], out: Any, params: dict[str, Any], g: Any,
         S: Symbols) -> list[Entry]:
    logp, target = xs[0], xs[1]
    found = [Entry("−e({1})", "-e({1})", -_onehot(target, logp.shape[-1], logp.dtype))]
    n = int(np.prod(logp.shape[:-1]))
    if params.get("reduction", "mean") == "mean" and n > 1:
        found.append(Entry("N", "N", float(n), scalar=S.get(
            "N", n, "the examples the mean divides by"), where="divisor"))
    return found


def _elementwise_mean(what: str) -> Callable[..., list[Entry]]:
    def f(xs: list[np.ndarray], out: Any, params: dict[str, Any], g: Any,
          S: Symbols) -> list[Entry]:
        n = int(np.prod(np.broadcast_shapes(*[x.shape for x in xs[:2]])))
        if params.get("reduction", "mean") != "mean" or n <= 1:
            return []
        return [Entry("n", "n", float(n), scalar=S.get("n", n, what), where="divisor")]
    return f


def _log_softmax(xs: list[np.ndarray], out: Any, params: dict[str, Any], g: Any,
                 S: Symbols) -> list[Entry]:
    return [Entry("softmax({0})", r"\operatorname{{softmax}}({0})", np.exp(out))]


def _logsumexp(xs: list[np.ndarray], out: Any, params: dict[str, Any], g: Any,
               S: Symbols) -> list[Entry]:
    axis, keep = params.get("axis"), params.get("keepdims", False)
    o = out if keep or axis is None and out.ndim == xs[0].ndim else np.expand_dims(
        out, axis if axis is not None else tuple(range(xs[0].ndim)))
    return [Entry("softmax({0})", r"\operatorname{{softmax}}({0})", np.exp(xs[0] - o))]


def _channel(x: np.ndarray) -> tuple[int, ...]:
    return (0,) + tuple(range(2, x.ndim))


def _batch_norm(xs: list[np.ndarray], out: Any, params: dict[str, Any], g: Any,
                S: Symbols) -> list[Entry]:
    x = xs[0]
    cs = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    eps = params.get("eps", 1e-5)
    if params.get("training"):
        axes = _channel(x)
        mu = x.mean(axis=axes, keepdims=True)
        var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    else:
        mu = np.asarray(params["running_mean"]).reshape(cs)
        var = np.asarray(params["running_var"]).reshape(cs)
    inv = 1.0 / np.sqrt(var + eps)
    found = [Entry("x̂", r"\hat{{x}}", (x - mu) * inv), Entry("1/σ", r"\sigma^{{-1}}", inv),
             Entry("μ", r"\mu", mu), _epsilon(eps, S)]
    if len(xs) > 1:
        found.append(Entry("γ/σ", r"\frac{{\gamma}}{{\sigma}}", xs[1].reshape(cs) * inv))
    m = x.size // x.shape[1] if x.ndim >= 2 and x.shape[1] else 0
    if params.get("training") and m > 1:
        found.append(Entry("M", "M", float(m), scalar=S.get(
            "M", m, "the values per channel batch norm averages over")))
    return found


def _layer_norm(xs: list[np.ndarray], out: Any, params: dict[str, Any], g: Any,
                S: Symbols) -> list[Entry]:
    x = xs[0]
    ns = tuple(params.get("normalized_shape", x.shape[-1:]))
    axes = tuple(range(-len(ns), 0))
    mu = x.mean(axis=axes, keepdims=True)
    rstd = ((x - mu) ** 2).mean(axis=axes, keepdims=True) + params.get("eps", 1e-5)
    rstd = rstd ** -0.5
    return [Entry("x̂", r"\hat{{x}}", (x - mu) * rstd),
            Entry("1/σ", r"\sigma^{{-1}}", rstd), Entry("μ", r"\mu", mu),
            _epsilon(params.get("eps", 1e-5), S)]


def _epsilon(eps: float, S: Symbols) -> Entry:
    return Entry("ε", r"\varepsilon", float(eps),
                 scalar=S.get("ε", float(eps), "added to the variance, for stability"))


def _attention(xs: list[np.ndarray], out: Any, params: dict[str, Any], g: Any,
               S: Symbols) -> list[Entry]:
    from minigrad.reference import attention as book

    q, k, v = xs[0], xs[1], xs[2]
    mask = xs[3] if len(xs) > 3 else None
    scale = params.get("scale")
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    found: list[Entry] = []
    try:
        s = np.matmul(q, np.swapaxes(k, -1, -2)) * scale
        if mask is not None and mask.dtype != np.bool_:
            s = s + mask
        blocked = None
        if params.get("is_causal"):
            L, Sn = q.shape[-2], k.shape[-2]
            blocked = ~np.tril(np.ones((L, Sn), dtype=bool))
        elif mask is not None and mask.dtype == np.bool_:
            blocked = ~mask
        if blocked is not None:
            blocked = np.broadcast_to(blocked, s.shape)
            dead = blocked.all(axis=-1, keepdims=True)
            s = np.where(blocked, -np.inf, s)
            s = np.where(dead, 0.0, s)
            P = _softmax(s) * (~dead)
        else:
            P = _softmax(s)
    except (ValueError, FloatingPointError):
        return found
    found.append(Entry("P", "P", P))
    if params.get("is_causal") and blocked is not None:
        found.append(Entry("j > i", "j > i", np.broadcast_to(blocked, s.shape)))
    elif blocked is not None:
        found.append(Entry("¬{3}", r"\neg {3}", np.broadcast_to(blocked, s.shape)))
    if blocked is not None:
        fill = np.where(blocked.all(axis=-1, keepdims=True), 0.0, -np.inf)
        found.append(Entry("−∞", r"-\infty", np.broadcast_to(fill, s.shape).astype(s.dtype)))
    if g is not None:
        dP = np.matmul(g, np.swapaxes(v, -1, -2))
        found.append(Entry("∇P", r"\nabla P", dP, delta=True))
        found.append(Entry("∇S", r"\nabla S", book.softmax_backward(dP, P), delta=True))
    if params.get("scale") is None:
        found.append(Entry("1/√d", r"\frac{{1}}{{\sqrt{{d}}}}", scale, scalar=1 / _sqrt(
            S.get("d", q.shape[-1], "the features per head of attention"))))
    return found


def _sqrt(x: Any) -> Any:
    import sympy as sp

    return sp.sqrt(x)


def _dropout(xs: list[np.ndarray], out: Any, params: dict[str, Any], g: Any,
             S: Symbols) -> list[Entry]:
    p = float(params.get("p", 0.5))
    scale = 0.0 if p >= 1.0 else 1.0 / (1.0 - p)
    return [Entry(f"{{1}}/(1 − {p:g})", f"{{1}}/(1 - {p:g})",
                  xs[1].astype(xs[0].dtype) * np.asarray(scale, dtype=xs[0].dtype))]


def _abs(xs: list[np.ndarray], out: Any, params: dict[str, Any], g: Any,
         S: Symbols) -> list[Entry]:
    return [Entry("sign({0})", r"\operatorname{{sign}}({0})", np.sign(xs[0]))]


def _clip(xs: list[np.ndarray], out: Any, params: dict[str, Any], g: Any,
          S: Symbols) -> list[Entry]:
    lo, hi = params.get("min"), params.get("max")
    inside = np.ones(xs[0].shape, dtype=bool)
    cond = []
    if lo is not None:
        inside &= xs[0] >= lo
        cond.append(f"{lo:g} ≤ ")
    if hi is not None:
        inside &= xs[0] <= hi
    t = "".join(cond) + "{0}" + (f" ≤ {hi:g}" if hi is not None else "")
    tex = t.replace("≤", r"\le")
    return [Entry(f"1[{t}]", r"\mathbb{{1}}[" + tex + "]", inside)]


def _extreme(name: str, cmp: str) -> Callable[..., list[Entry]]:
    def f(xs: list[np.ndarray], out: Any, params: dict[str, Any], g: Any,
          S: Symbols) -> list[Entry]:
        a, b = xs[0], xs[1]
        first = (a > b) if cmp == ">" else (a < b)
        second = (b > a) if cmp == ">" else (b < a)
        tie = 0.5 * (a == b)
        lt = r"\gt" if cmp == ">" else r"\lt"
        return [Entry(f"1[{{0}} {cmp} {{1}}]", rf"\mathbb{{1}}[{{0}} {lt} {{1}}]", first + tie),
                Entry(f"1[{{1}} {cmp} {{0}}]", rf"\mathbb{{1}}[{{1}} {lt} {{0}}]", second + tie)]
    return f


def _reduce_extreme(name: str) -> Callable[..., list[Entry]]:
    def f(xs: list[np.ndarray], out: Any, params: dict[str, Any], g: Any,
          S: Symbols) -> list[Entry]:
        x = xs[0]
        axis, keep = params.get("axis"), params.get("keepdims", False)
        o = out if keep else (np.reshape(out, [1 if axis is None or i in np.atleast_1d(axis)
                                               else n for i, n in enumerate(x.shape)]))
        mask = x == o
        share = mask / mask.sum(axis=axis, keepdims=True)
        latex = r"\mathbb{{1}}[{0} = \NAME]/\#\text{{ties}}".replace("NAME", name)
        return [Entry("1[{0} = " + name + "]/#ties", latex, share)]
    return f


def _where(xs: list[np.ndarray], out: Any, params: dict[str, Any], g: Any,
           S: Symbols) -> list[Entry]:
    return [Entry("{0}", "{0}", np.asarray(xs[0], dtype=bool))]


def _masked_fill(xs: list[np.ndarray], out: Any, params: dict[str, Any], g: Any,
                 S: Symbols) -> list[Entry]:
    return [Entry("{1}", "{1}", np.asarray(xs[1], dtype=bool))]


def _pow(xs: list[np.ndarray], out: Any, params: dict[str, Any], g: Any,
         S: Symbols) -> list[Entry]:
    x, p = xs[0], xs[1]
    return [Entry("{0} = 0", "{0} = 0", np.broadcast_to((x == 0) & (p >= 0),
                                                        np.broadcast_shapes(x.shape, p.shape)))]


_TABLE: dict[str, Callable[..., list[Entry]]] = {
    "where": _where,
    "masked_fill": _masked_fill,
    "pow": _pow,
    "cross_entropy": _cross_entropy,
    "nll_loss": _nll,
    "mse_loss": _elementwise_mean("the elements the mean divides by"),
    "binary_cross_entropy_with_logits": _elementwise_mean("the elements the mean divides by"),
    "log_softmax": _log_softmax,
    "logsumexp": _logsumexp,
    "batch_norm": _batch_norm,
    "layer_norm": _layer_norm,
    "scaled_dot_product_attention": _attention,
    "dropout": _dropout,
    "abs": _abs,
    "clip": _clip,
    "maximum": _extreme("max", ">"),
    "minimum": _extreme("min", "<"),
    "max": _reduce_extreme("max"),
    "min": _reduce_extreme("min"),
}


def entries(op: str, xs: list[np.ndarray], out: Any, params: dict[str, Any], g: Any,
            S: Symbols) -> list[Entry]:
    """The named quantities of `op`'s rules for these inputs (the op's own arrays), output and
    δ; an empty list for an op with none, or when the book cannot compute them here."""
    f = _TABLE.get(op)
    if f is None:
        return []
    try:
        with np.errstate(all="ignore"):
            return [e for e in f(xs, out, params, g, S) if e.array is not None]
    except Exception:  # noqa: BLE001  (names are a courtesy: an odd case goes unnamed)
        return []
