r"""Elementwise arithmetic and functions. `δ` is the gradient arriving at the output; every
rule here is elementwise (``⊙``), and the engine sums it back over broadcast axes."""

from __future__ import annotations

from typing import Any

import numpy as np

from minigrad.function import _same_float, apply
from minigrad.ops import either
from minigrad.ops.registry import OUT, defop
from minigrad.tensor import Tensor


def _jvp_same(t: Any, out: Any, *inputs: Any, **params: Any) -> Any:
    """The tangent passes through unchanged (then broadcast to the result's shape)."""
    return t


ADD = defop(
    "add", np.add,
    lambda g, out, z, b: g,
    lambda g, out, z, b: g,
    formula="a = z + b", grads=("δ", "δ"), saves=(),
    doc="sum; with a bias b, ∇b L = δ summed over the batch",
    promote=True,
    jvps=(("ż", _jvp_same), ("ḃ", _jvp_same)),
)
SUB = defop(
    "sub", np.subtract,
    lambda g, out, a, b: g,
    lambda g, out, a, b: -g,
    formula="c = a − b", grads=("δ", "−δ"), saves=(),
    doc="difference",
    promote=True,
    jvps=(("ȧ", _jvp_same), ("−ḃ", lambda t, out, a, b: -t)),
)
MUL = defop(
    "mul", np.multiply,
    lambda g, out, a, b: g * b,
    lambda g, out, a, b: g * a,
    formula="c = a ⊙ b", grads=("δ ⊙ b", "δ ⊙ a"), saves=((1,), (0,)),
    doc="elementwise product",
    promote=True,
    jvps=(("ȧ ⊙ b", lambda t, out, a, b: t * b), ("a ⊙ ḃ", lambda t, out, a, b: a * t)),
)
DIV = defop(
    "div", np.divide,
    lambda g, out, a, b: g / b,
    # from the inputs, not the output c: after an in-place `y /= b` the output is y itself,
    # which the next in-place op would overwrite
    lambda g, out, a, b: -g * (a / b) / b,
    formula="c = a / b", grads=("δ / b", "−δ ⊙ a / b²"), saves=((1,), (0, 1)),
    doc="elementwise quotient",
    promote=True, to_float=True,
    jvps=(("ȧ / b", lambda t, out, a, b: t / b),
          ("−ḃ ⊙ a / b²", lambda t, out, a, b: -t * (a / b) / b)),
)
NEG = defop(
    "neg", np.negative,
    lambda g, out, x: -g,
    formula="y = −x", grads=("−δ",), saves=(),
    doc="negation",
    jvps=(("−ẋ", lambda t, out, x: -t),),
)


# Each VJP forms the local derivative (p xᵖ⁻¹, xᵖ log x) before multiplying by δ: a large
# factor then meets the small one it comes with. In δ·p·xᵖ⁻¹ evaluated left to right, the second
# order multiplies δ·p·(p − 1) before xᵖ⁻²; for x = 0.75, p = 1e30 in float32 that is ∞ (1e60)
# times 0 (0.75^1e30), NaN, where the true value is 0.
def _pow_vjp_base(g: Any, out: Any, x: Any, p: Any) -> Any:
    zero = either.value(p) == 0
    if not zero.any():
        return g * (p * x ** (p - 1.0))
    ps = either.where(zero, 1.0, p)  # d/dx x⁰ = 0, even at x = 0 where x⁻¹ would be ∞
    return either.where(zero, 0.0, g * (ps * x ** (ps - 1.0)))


def _pow_vjp_exp(g: Any, out: Any, x: Any, p: Any) -> Any:
    xv, pv = either.value(x), either.value(p)
    # PyTorch's convention: where x = 0 and p ≥ 0 the gradient is 0 rather than 0·log 0.
    zero = (xv == 0) & (pv >= 0)
    return either.where(zero, 0.0, g * (out * either.log(either.where(zero, 1.0, x))))


POW = defop(
    "pow", np.power, _pow_vjp_base, _pow_vjp_exp,
    formula="y = xᵖ", grads=("δ ⊙ p xᵖ⁻¹", "δ ⊙ xᵖ log x"), saves=(0, 1, OUT),
    doc="power; the exponent may be a tensor or a number",
    promote=True,
    # elementwise: the Jacobian is diagonal, its own transpose, so the VJPs serve as JVPs
    jvps=(("ẋ ⊙ p xᵖ⁻¹", _pow_vjp_base), ("ṗ ⊙ xᵖ log x", _pow_vjp_exp)),
)
EXP = defop(
    "exp", np.exp,
    lambda g, out, x: g * out,
    formula="y = exp(x)", grads=("δ ⊙ y",), saves=(OUT,),
    doc="exponential",
    promote=True, to_float=True,
    jvps=(("ẋ ⊙ y", lambda t, out, x: t * out),),
)
LOG = defop(
    "log", np.log,
    lambda g, out, x: g / x,
    formula="y = log x", grads=("δ / x",),
    doc="natural logarithm",
    promote=True, to_float=True,
    jvps=(("ẋ / x", lambda t, out, x: t / x),),
)
SQRT = defop(
    "sqrt", np.sqrt,
    lambda g, out, x: g / (2.0 * out),
    formula="y = √x", grads=("δ / (2y)",), saves=(OUT,),
    doc="square root",
    promote=True, to_float=True,
    jvps=(("ẋ / (2y)", lambda t, out, x: t / (2.0 * out)),),
)
ABS = defop(
    "abs", np.abs,
    lambda g, out, x: g * np.sign(either.value(x)),  # abs'(0) = 0, as PyTorch
    formula="y = |x|", grads=("δ ⊙ sign(x)",),
    doc="absolute value; abs'(0) = 0",
    jvps=(("ẋ ⊙ sign(x)", lambda t, out, x: t * np.sign(either.value(x))),),
)


def _clip_forward(x: np.ndarray, min: float | None = None, max: float | None = None):
    return np.clip(x, min, max)


def _clip_vjp(g: Any, out: Any, x: Any, min: float | None = None, max: float | None = None):
    xv = either.value(x)
    inside = np.ones(xv.shape, dtype=bool)
    if min is not None:
        inside &= xv >= min
    if max is not None:
        inside &= xv <= max
    return g * inside  # PyTorch passes the gradient where min ≤ x ≤ max, bounds included


CLIP = defop(
    "clip", _clip_forward, _clip_vjp,
    formula="y = clip(x, lo, hi)", grads=("δ ⊙ 1[lo ≤ x ≤ hi]",),
    doc="clamp into [min, max]",
    jvps=(("ẋ ⊙ 1[lo ≤ x ≤ hi]", _clip_vjp),),  # elementwise: the VJP is the JVP
)


def _split(g: Any, a: Any, b: Any, pick: np.ndarray) -> Any:
    # Ties share the gradient evenly, as PyTorch's maximum/minimum do.
    av, bv = either.value(a), either.value(b)
    return either.share(g, (pick + 0.5 * (av == bv)).astype(av.dtype))


def _above(a: Any, b: Any) -> np.ndarray:
    return either.value(a) > either.value(b)


# maximum's rule to a is δ ⊙ 1[a > b], with half of δ where a = b; its rule to b swaps a and b,
# and minimum's rules turn the comparison round. Each rule is linear in δ and its own
# transpose, so it is the op's JVP too, with a tangent in place of δ.
_MAX_A = lambda g, out, a, b: _split(g, a, b, _above(a, b))
_MAX_B = lambda g, out, a, b: _split(g, b, a, _above(b, a))
_MIN_A = lambda g, out, a, b: _split(g, a, b, _above(b, a))
_MIN_B = lambda g, out, a, b: _split(g, b, a, _above(a, b))

MAXIMUM = defop(
    "maximum", np.maximum, _MAX_A, _MAX_B,
    formula="c = max(a, b)", grads=("δ ⊙ 1[a > b]", "δ ⊙ 1[b > a]"),
    doc="elementwise maximum; ties split δ evenly", promote=True,
    jvps=(("ȧ ⊙ 1[a > b]", _MAX_A), ("ḃ ⊙ 1[b > a]", _MAX_B)),
)
MINIMUM = defop(
    "minimum", np.minimum, _MIN_A, _MIN_B,
    formula="c = min(a, b)", grads=("δ ⊙ 1[a < b]", "δ ⊙ 1[b < a]"),
    doc="elementwise minimum; ties split δ evenly", promote=True,
    jvps=(("ȧ ⊙ 1[a < b]", _MIN_A), ("ḃ ⊙ 1[b < a]", _MIN_B)),
)


WHERE = defop(
    "where", np.where,
    None,
    lambda g, out, c, a, b: either.where(either.value(c), g, 0.0),
    lambda g, out, c, a, b: either.where(either.value(c), 0.0, g),
    formula="y = c ? a : b", grads=("—", "δ ⊙ 1[c]", "δ ⊙ 1[¬c]"), saves=(0,),
    doc="pick from a where c holds, else from b",
    promote=(1, 2),
    jvps=(None, ("ȧ ⊙ 1[c]", lambda t, out, c, a, b: either.where(either.value(c), t, 0.0)),
          ("ḃ ⊙ 1[¬c]", lambda t, out, c, a, b: either.where(either.value(c), 0.0, t))),
)


ASTYPE = defop(
    "astype", lambda x, dtype: x.astype(dtype, copy=True),
    lambda g, out, x, dtype: g.astype(either.value(x).dtype),
    role="pass-through",
    formula="y = x", grads=("δ",), saves=(),
    doc="copy, converting dtype",
    jvps=(("ẋ", lambda t, out, x, dtype: t.astype(dtype)),),
)


def add(a: Any, b: Any) -> Tensor:
    """`a + b`, broadcasting. ∇a = δ, ∇b = δ, each summed back to its own shape."""
    return apply(ADD, a, b)


def _is_bool(x: Any) -> bool:
    if isinstance(x, (Tensor, np.ndarray)):
        return x.dtype == np.bool_
    return isinstance(x, (bool, np.bool_))


def sub(a: Any, b: Any) -> Tensor:
    """`a − b`. ∇a = δ, ∇b = −δ."""
    if not _same_float(a, b) and (_is_bool(a) or _is_bool(b)):
        raise TypeError("sub: subtracting booleans is not supported (as in PyTorch and "
                        "numpy); to invert a mask use ~mask, or convert it first, e.g. "
                        "mask.long()")
    return apply(SUB, a, b)


def mul(a: Any, b: Any) -> Tensor:
    """`a ⊙ b`. ∇a = δ ⊙ b, ∇b = δ ⊙ a."""
    return apply(MUL, a, b)


def div(a: Any, b: Any) -> Tensor:
    """`a / b`. ∇a = δ / b, ∇b = −δ ⊙ a / b²."""
    return apply(DIV, a, b)


def neg(x: Any) -> Tensor:
    """`−x`. ∇x = −δ."""
    return apply(NEG, x)


def pow(x: Any, p: Any) -> Tensor:
    """`xᵖ` with a tensor or scalar exponent. ∇x = δ ⊙ p xᵖ⁻¹, ∇p = δ ⊙ xᵖ log x."""
    return apply(POW, x, p)


def exp(x: Any) -> Tensor:
    """`exp(x)`. ∇x = δ ⊙ exp(x)."""
    return apply(EXP, x)


def log(x: Any) -> Tensor:
    """`log x`. ∇x = δ / x."""
    return apply(LOG, x)


def sqrt(x: Any) -> Tensor:
    """`√x`. ∇x = δ / (2√x)."""
    return apply(SQRT, x)


def abs(x: Any) -> Tensor:
    """`|x|`. ∇x = δ ⊙ sign(x), with abs'(0) = 0."""
    return apply(ABS, x)


def clip(x: Any, min: float | None = None, max: float | None = None) -> Tensor:
    """`clip(x, min, max)`. ∇x = δ where min ≤ x ≤ max, else 0."""
    return apply(CLIP, x, min=min, max=max)


clamp = clip


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise max. δ goes to the larger input; ties split it evenly."""
    return apply(MAXIMUM, a, b)


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise min. δ goes to the smaller input; ties split it evenly."""
    return apply(MINIMUM, a, b)


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """`a` where `cond` holds, else `b`. ∇a = δ ⊙ 1[cond], ∇b = δ ⊙ 1[¬cond]."""
    if isinstance(cond, Tensor):
        cond = cond.data
    cond = np.asarray(cond, dtype=bool)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = Tensor(a)
    return apply(WHERE, cond, a, b)


def astype(x: Any, dtype: Any) -> Tensor:
    """A copy of `x` as `dtype`; the gradient is cast back to x's dtype."""
    return apply(ASTYPE, x, dtype=np.dtype(dtype))
