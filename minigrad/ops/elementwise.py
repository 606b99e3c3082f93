r"""Elementwise arithmetic and functions. `δ` is the gradient arriving at the output; every
rule here is elementwise (``⊙``), and the engine sums it back over broadcast axes."""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from minigrad.function import apply
from minigrad.ops import dual
from minigrad.ops.examples import away_from_zero, binary, call, only, rand, unary
from minigrad.ops.registry import defop
from minigrad.tensor import Tensor

ADD = defop(
    "add", np.add,
    lambda g, out, z, b: g,
    lambda g, out, z, b: g,
    formula="a = z + b", grads=("δ", "δ"), saves=(),
    examples=binary(), doc="sum; with a bias b, ∇b L = δ summed over the batch",
    torch=lambda a, b: a + b,
    calls=(call("{0} + {1}", lambda a, b: a + b),
           call("minigrad.ops.add({0}, {1})", lambda a, b: add(a, b)),
           call("{1}.__radd__({0})", lambda a, b: b.__radd__(a))),
)
SUB = defop(
    "sub", np.subtract,
    lambda g, out, a, b: g,
    lambda g, out, a, b: -g,
    formula="c = a − b", grads=("δ", "−δ"), saves=(),
    examples=binary(), doc="difference", torch=lambda a, b: a - b,
    calls=(call("{0} - {1}", lambda a, b: a - b),
           call("{1}.__rsub__({0})", lambda a, b: b.__rsub__(a))),
)
MUL = defop(
    "mul", np.multiply,
    lambda g, out, a, b: g * b,
    lambda g, out, a, b: g * a,
    formula="c = a ⊙ b", grads=("δ ⊙ b", "δ ⊙ a"), reads=((1,), (0,)),
    examples=binary(), doc="elementwise product", torch=lambda a, b: a * b,
    calls=(call("{0} * {1}", lambda a, b: a * b),
           call("{1}.__rmul__({0})", lambda a, b: b.__rmul__(a))),
)
DIV = defop(
    "div", np.divide,
    lambda g, out, a, b: g / b,
    lambda g, out, a, b: -g * out / b,
    formula="c = a / b", grads=("δ / b", "−δ ⊙ c / b"), saves=(1,), saves_output=True,
    examples=binary(lo2=0.5, hi2=2.0), doc="elementwise quotient", torch=lambda a, b: a / b,
    calls=(call("{0} / {1}", lambda a, b: a / b),
           call("{1}.__rtruediv__({0})", lambda a, b: b.__rtruediv__(a))),
)
NEG = defop(
    "neg", np.negative,
    lambda g, out, x: -g,
    formula="y = −x", grads=("−δ",), saves=(),
    examples=unary(), doc="negation", torch=lambda x: -x,
    calls=(call("-{0}", lambda x: -x),),
)


# Each VJP forms the local derivative (p xᵖ⁻¹, xᵖ log x) before multiplying by δ: a large
# factor then meets the small one it comes with. In δ·p·xᵖ⁻¹ evaluated left to right, the second
# order multiplies δ·p·(p − 1) before xᵖ⁻²; for x = 0.75, p = 1e30 in float32 that is ∞ (1e60)
# times 0 (0.75^1e30), NaN, where the true value is 0.
def _pow_vjp_base(g: Any, out: Any, x: Any, p: Any) -> Any:
    zero = dual.value(p) == 0
    if not zero.any():
        return g * (p * x ** (p - 1.0))
    ps = dual.where(zero, 1.0, p)  # d/dx x⁰ = 0, even at x = 0 where x⁻¹ would be ∞
    return dual.where(zero, 0.0, g * (ps * x ** (ps - 1.0)))


def _pow_vjp_exp(g: Any, out: Any, x: Any, p: Any) -> Any:
    xv, pv = dual.value(x), dual.value(p)
    # PyTorch's convention: where x = 0 and p ≥ 0 the gradient is 0 rather than 0·log 0.
    zero = (xv == 0) & (pv >= 0)
    return dual.where(zero, 0.0, g * (out * dual.log(dual.where(zero, 1.0, x))))


POW = defop(
    "pow", np.power, _pow_vjp_base, _pow_vjp_exp,
    formula="y = xᵖ", grads=("δ ⊙ p xᵖ⁻¹", "δ ⊙ xᵖ log x"), saves_output=True,
    examples=binary(lo=0.5, hi=2.0), doc="power; the exponent may be a tensor or a number",
    torch=lambda x, p: x ** p,
    calls=(call("{0} ** {1}", lambda x, p: x ** p), call("{0}.pow({1})", lambda x, p: x.pow(p)),
           call("{1}.__rpow__({0})", lambda x, p: p.__rpow__(x))),
)
EXP = defop(
    "exp", np.exp,
    lambda g, out, x: g * out,
    formula="y = exp(x)", grads=("δ ⊙ y",), saves=(), saves_output=True,
    examples=unary(), doc="exponential", torch=lambda x: x.exp(),
    calls=(call("{0}.exp()", lambda x: x.exp()),),
)
LOG = defop(
    "log", np.log,
    lambda g, out, x: g / x,
    formula="y = log x", grads=("δ / x",),
    examples=unary(0.2, 3.0), doc="natural logarithm", torch=lambda x: x.log(),
    calls=(call("{0}.log()", lambda x: x.log()),),
)
SQRT = defop(
    "sqrt", np.sqrt,
    lambda g, out, x: g / (2.0 * out),
    formula="y = √x", grads=("δ / (2y)",), saves=(), saves_output=True,
    examples=unary(0.2, 3.0), doc="square root", torch=lambda x: x.sqrt(),
    calls=(call("{0}.sqrt()", lambda x: x.sqrt()), call("{0} ** 0.5", lambda x: x ** 0.5)),
)
ABS = defop(
    "abs", np.abs,
    lambda g, out, x: g * np.sign(dual.value(x)),  # abs'(0) = 0, as PyTorch
    formula="y = |x|", grads=("δ ⊙ sign(x)",),
    examples=unary(kink=True), doc="absolute value; abs'(0) = 0", torch=lambda x: x.abs(),
    calls=(call("abs({0})", lambda x: builtins.abs(x)), call("{0}.abs()", lambda x: x.abs())),
)


def _clip_forward(x: np.ndarray, min: float | None = None, max: float | None = None):
    return np.clip(x, min, max)


def _clip_vjp(g: Any, out: Any, x: Any, min: float | None = None, max: float | None = None):
    xv = dual.value(x)
    inside = np.ones(xv.shape, dtype=bool)
    if min is not None:
        inside &= xv >= min
    if max is not None:
        inside &= xv <= max
    return g * inside  # PyTorch passes the gradient where min ≤ x ≤ max, bounds included


def _clip_examples(rng, dtype):
    return [((away_from_zero(rand(rng, s, dtype), 0.05) * 1.0,), {"min": -1.0, "max": 1.0})
            for s in ((), (3,), (2, 3))] + [((rand(rng, (2, 3), dtype),), {"min": 0.5})]


CLIP = defop(
    "clip", _clip_forward, _clip_vjp,
    formula="y = clip(x, lo, hi)", grads=("δ ⊙ 1[lo ≤ x ≤ hi]",),
    examples=_clip_examples, doc="clamp into [min, max]",
    torch=lambda x, min=None, max=None: x.clamp(min, max),
    calls=(call("{0}.clip({min}, {max})", lambda x, min=None, max=None: x.clip(min, max)),
           call("{0}.clamp(min={min}, max={max})",
                lambda x, min=None, max=None: x.clamp(min=min, max=max))),
)


def _split(g: Any, a: Any, b: Any, pick: np.ndarray) -> Any:
    # Ties share the gradient evenly, as PyTorch's maximum/minimum do.
    av, bv = dual.value(a), dual.value(b)
    return dual.share(g, (pick + 0.5 * (av == bv)).astype(av.dtype))


MAXIMUM = defop(
    "maximum", np.maximum,
    lambda g, out, a, b: _split(g, a, b, dual.value(a) > dual.value(b)),
    lambda g, out, a, b: _split(g, b, a, dual.value(b) > dual.value(a)),
    formula="c = max(a, b)", grads=("δ ⊙ 1[a > b]", "δ ⊙ 1[b > a]"),
    examples=binary(distinct=True), doc="elementwise maximum; ties split δ evenly",
    torch=lambda a, b: a.maximum(b),
    calls=(call("{0}.maximum({1})", lambda a, b: a.maximum(b)),),
)
MINIMUM = defop(
    "minimum", np.minimum,
    lambda g, out, a, b: _split(g, a, b, dual.value(a) < dual.value(b)),
    lambda g, out, a, b: _split(g, b, a, dual.value(b) < dual.value(a)),
    formula="c = min(a, b)", grads=("δ ⊙ 1[a < b]", "δ ⊙ 1[b < a]"),
    examples=binary(distinct=True), doc="elementwise minimum; ties split δ evenly",
    torch=lambda a, b: a.minimum(b),
    calls=(call("{0}.minimum({1})", lambda a, b: a.minimum(b)),),
)


def _where_examples(rng, dtype):
    def case(sc, sa, sb):
        return ((rng.random(sc) > 0.5, rand(rng, sa, dtype), rand(rng, sb, dtype)), {})

    return [case((), (), ()), case((3,), (3,), (3,)), case((2, 3), (2, 3), (1, 3)),
            case((2, 1), (1, 3), ())]


WHERE = defop(
    "where", np.where,
    None,
    lambda g, out, c, a, b: dual.where(dual.value(c), g, 0.0),
    lambda g, out, c, a, b: dual.where(dual.value(c), 0.0, g),
    formula="y = c ? a : b", grads=("—", "δ ⊙ 1[c]", "δ ⊙ 1[¬c]"), saves=(0,),
    examples=_where_examples, doc="pick from a where c holds, else from b",
    torch=lambda c, a, b: __import__("torch").where(c, a, b),
    calls=(call("{1}.where({0}, {2})", lambda c, a, b: a.where(c, b)),
           call("minigrad.ops.where({0}, {1}, {2})", lambda c, a, b: where(c, a, b))),
)


def _astype_examples(rng, dtype):
    return [((rand(rng, (2, 3), dtype),), {"dtype": np.dtype(dtype)})]


ASTYPE = defop(
    "astype", lambda x, dtype: x.astype(dtype, copy=True),
    lambda g, out, x, dtype: g.astype(dual.value(x).dtype),
    formula="y = x", grads=("δ",), saves=(),
    examples=_astype_examples, doc="copy, converting dtype",
    torch=lambda x, dtype: x.to(getattr(__import__("torch"), np.dtype(dtype).name)),
    calls=(call("{0}.astype({dtype})", lambda x, dtype: x.astype(dtype)),
           call("{0}.double()", lambda x: x.double(), only(dtype=np.dtype("float64"))),
           call("{0}.float()", lambda x: x.float(), only(dtype=np.dtype("float32")))),
)


def add(a: Any, b: Any) -> Tensor:
    """`a + b`, broadcasting. ∇a = δ, ∇b = δ, each summed back to its own shape."""
    return apply(ADD, a, b)


def sub(a: Any, b: Any) -> Tensor:
    """`a − b`. ∇a = δ, ∇b = −δ."""
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
