"""Random programs over the op registry, for the differential fuzzer (tests/test_fuzz.py).

Everything is read from the registry and its op table (`minigrad.opinfo`), so an op declared
later (a layer, a user `Function`) is fuzzed without a line here:

- each op's `examples` give the argument conventions (how many inputs, which are integer
  targets or boolean masks, which parameters) and the value range of each input (log and sqrt
  see only positive numbers in their examples, so they get only positive numbers here);
- probing those examples sorts ops into families: elementwise with one input (any shape),
  elementwise with two (any broadcasting pair), reductions (``axis``/``keepdims``); those get
  random shapes, including 0-d, size-1 and empty axes, and random axes (None, int, negative,
  tuple). Any other op (indexing, matmul, losses, convolutions…) keeps its examples' shapes
  and parameters and gets fresh values;
- each op's `calls` there give the ways a user reaches it (operators, methods, ``x.T``…);
- the op's `torch` counterpart there is the oracle; without one, central differences are.

Values mix ordinary numbers with zeros, tiny (1e-30, 1e-300) and large (1e4, 1e30, 1e300)
entries, within the sign range the op's examples use.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad
from minigrad import opinfo
from minigrad.function import apply
from minigrad.opinfo import Call
from minigrad.ops.registry import REGISTRY, Op

# `make test` runs a bounded, reproducible budget; `make fuzz` (MINIGRAD_FUZZ=long) runs at
# length from a fresh seed each time, printed at the end of the run and in every failure, and
# MINIGRAD_FUZZ_SEED=<seed> replays it. No example database: each long run is independent of
# the failures of earlier ones (a failure is replayed by its seed or its snippet).
settings.register_profile(
    "fuzz-quick", max_examples=5, deadline=None, derandomize=True, database=None,
    suppress_health_check=list(HealthCheck),
)
LONG = os.environ.get("MINIGRAD_FUZZ", "") == "long"
SEED = int(os.environ.get("MINIGRAD_FUZZ_SEED") or secrets.randbits(32))
settings.register_profile(
    "fuzz-long", max_examples=int(os.environ.get("MINIGRAD_FUZZ_EXAMPLES", "400")),
    deadline=None, database=None, suppress_health_check=list(HealthCheck),
)
PROFILE = settings.get_profile("fuzz-long" if LONG else "fuzz-quick")

# Tolerances by dtype, relative to the largest magnitude in the reference array.
TOL = {np.dtype("float64"): (1e-9, 1e-12), np.dtype("float32"): (2e-4, 1e-6)}
HVP_TOL = {np.dtype("float64"): (1e-7, 1e-10), np.dtype("float32"): (2e-3, 1e-5)}


# --------------------------------------------------------------------------- op families
@dataclass
class Family:
    """What the examples of one op say about how to call it."""

    kind: str  # "unary", "binary", "reduction" or "template"
    lo: list[float] = field(default_factory=list)  # per input: smallest example value
    hi: list[float] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)  # fixed ones (ddof, slope)
    problem: str = ""  # why the op cannot be fuzzed (empty: it can)


def _cases(op: Op, dtype: Any) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    return opinfo.cases(op, np.random.default_rng(0), dtype) if opinfo.find(op) else []


def counterpart(op: Op) -> Any:
    """PyTorch's version of `op` from the op table, or None."""
    found = opinfo.find(op)
    return None if found is None else found.torch


def _float(a: Any) -> bool:
    return np.asarray(a).dtype.kind == "f"


_FAMILIES: dict[tuple[str, int], Family] = {}


def family(op: Op) -> Family:
    key = (op.name, id(op))
    if key not in _FAMILIES:
        _FAMILIES[key] = _probe(op)
    return _FAMILIES[key]


def _probe(op: Op) -> Family:
    try:
        cases = _cases(op, np.float64)
    except Exception as e:  # noqa: BLE001  (reported by name, below)
        return Family("template", problem=f"its examples raise {type(e).__name__}: {e}")
    if not cases:
        return Family("template", problem="it declares no examples")
    n = len(cases[0][0])
    lo = [np.inf] * n
    hi = [-np.inf] * n
    for inputs, _ in cases:
        if len(inputs) != n:
            n = -1
            break
        for k, a in enumerate(inputs):
            a = np.asarray(a)
            if _float(a) and a.size:
                lo[k], hi[k] = min(lo[k], float(a.min())), max(hi[k], float(a.max()))
    if not any(_float(a) for inputs, _ in cases for a in inputs):
        return Family("template", problem="no example has a floating point input")
    if n < 0 or op.variadic:
        return Family("template", lo, hi)
    try:
        outs = [apply(op, *[minigrad.Tensor(np.asarray(a)) for a in inputs], **params)
                for inputs, params in cases]
    except Exception as e:  # noqa: BLE001
        return Family("template", problem=f"its examples fail: {type(e).__name__}: {e}")
    keys = {frozenset(p) for _, p in cases}
    all_float = all(_float(a) for inputs, _ in cases for a in inputs)
    same = all(repr(p) == repr(cases[0][1]) for _, p in cases)
    if all_float and {"axis", "keepdims"} <= set(cases[0][1]) and len(keys) == 1 and n == 1:
        fixed = {k: v for k, v in cases[0][1].items() if k not in ("axis", "keepdims")}
        return Family("reduction", lo, hi, fixed)
    if all_float and same and n in (1, 2) and len(cases) >= 3:
        def broadcast(inputs: tuple[Any, ...]) -> tuple[int, ...] | None:
            try:
                return np.broadcast_shapes(*[np.shape(a) for a in inputs])
            except ValueError:
                return None

        shapes_ok = all(o.shape == broadcast(inputs) for (inputs, _), o in zip(cases, outs))
        varied = len({np.shape(inputs[0]) for inputs, _ in cases}) > 1
        if shapes_ok and varied:
            return Family("unary" if n == 1 else "binary", lo, hi, dict(cases[0][1]))
    return Family("template", lo, hi)


def unknown_ops() -> dict[str, str]:
    """Registered ops the fuzzer cannot generate, with the reason."""
    return {op.name: f.problem for op in list(REGISTRY.values())
            if (f := family(op)).problem}


# --------------------------------------------------------------------------- values
# The largest magnitude drawn for an op, by dtype, where it is below the others'.
# Attention's scores are products QKᵀ of two inputs, and rounding leaves an error of
# ε·|q|·|k| in a score, which the softmax turns into a relative error of the same size in P:
# past 1e-3 the output is the rounding of the scores, not attention. In float32 a mask's +1
# vanishes into scores of 1.4e8 (queries and keys of 1e4), BLAS with fused multiply-adds
# scores 1.5·(−1e30) + 1.5·1e30 as −7.6e22 where PyTorch has 0 (one-hot against uniform);
# in float64, at queries and keys of 1e150, the Hessian-vector product is lost in terms of
# ε·|Q|² ≈ 1e284. So |q|·|k| ≤ 1e-3/ε: 1e4 in float64, ordinary numbers only in float32.
# tests/test_fuzz.py replays, one by one, the programs beyond it that the fuzzer met.
LARGEST = {"scaled_dot_product_attention": lambda dtype: (1e-3 / np.finfo(dtype).eps) ** 0.5}


def _specials(dtype: np.dtype, lo: float, hi: float, largest: float = np.inf) -> list[float]:
    # 1e150 rather than 1e300 in float64: beyond, PyTorch's own variances overflow (a layer
    # norm of 1e300s returns just the bias there), so it stops being an oracle; the registry
    # walk checks 1e300 for finiteness (tests/test_ops.py)
    mags = [1e-30, 1e4, 1e30] + ([1e-300, 1e150] if dtype == np.float64 else [])
    mags = [m for m in mags if m <= largest]
    out = [0.0] if lo <= 0 <= hi else []
    out += [m for m in mags if hi > 0] + [-m for m in mags if lo < 0]
    return sorted(set(out))


@st.composite
def values(draw: Any, shape: tuple[int, ...], dtype: np.dtype, lo: float, hi: float,
           extreme: bool = True, largest: float = np.inf) -> np.ndarray:
    """An array of `shape`: numbers in the op's range, with zeros, tiny and large entries (up
    to `largest`)."""
    if lo >= 0 and hi > 0:  # a positive domain (log, sqrt, a divisor): stay in it
        lo2, hi2 = lo, max(hi, 3.0)
    elif hi <= 0 and lo < 0:
        lo2, hi2 = min(lo, -3.0), hi
    else:
        lo2, hi2 = min(lo, -3.0), max(hi, 3.0)
    ordinary = st.floats(lo2, hi2, allow_nan=False, allow_infinity=False)
    if extreme:
        specials = _specials(dtype, lo if lo < 0 else max(lo, 0.0), hi, largest)
        if lo > 0:
            specials = [s for s in specials if s > 0]
        elements = st.one_of(ordinary, ordinary, st.sampled_from(specials)) if specials \
            else ordinary
    else:
        elements = ordinary
    a = draw(hnp.arrays(np.float64, shape, elements=elements))
    # Known limit, shared with PyTorch: for a spread s below ~1e-60 the Hessian of std is a
    # difference of terms of size 1/s that cancel, and both libraries return rounding noise
    # of different signs (1e99 at s = 1e-118). Entries that small become 0; the special tiny
    # values above (1e-30, 1e-300) are kept, alone or beside zeros.
    small = 1e-60 if dtype == np.float64 else 1e-12
    a = np.where((np.abs(a) < small) & ~np.isin(a, specials if extreme else []), 0.0, a)
    return a.astype(dtype)


shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)


@st.composite
def shapes_with_empty(draw: Any) -> tuple[int, ...]:
    s = draw(shapes)
    if s and draw(st.integers(0, 9)) == 0:  # now and then an empty axis
        k = draw(st.integers(0, len(s) - 1))
        s = s[:k] + (0,) + s[k + 1:]
    return s


@st.composite
def axes(draw: Any, ndim: int) -> Any:
    """None, an int (positive or negative) or a tuple of distinct axes."""
    if ndim == 0:
        return draw(st.sampled_from([None, 0, -1]))
    kind = draw(st.integers(0, 2))
    if kind == 0:
        return None
    if kind == 1:
        return draw(st.integers(-ndim, ndim - 1))
    picked = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return tuple(a - ndim if draw(st.booleans()) else a for a in picked)


# --------------------------------------------------------------------------- programs
@dataclass
class Leaf:
    name: str
    array: np.ndarray

    @property
    def differentiable(self) -> bool:
        return self.array.dtype.kind == "f"


@dataclass
class Step:
    op: Op
    args: list[str]  # leaf or step names
    params: dict[str, Any]  # as `apply` and the op's `torch=` take them
    call: Call | None  # the front end used (None: `apply`)
    call_params: dict[str, Any]
    out: str


@dataclass
class Program:
    dtype: np.dtype
    leaves: list[Leaf]
    steps: list[Step]
    w: np.ndarray | None = None  # upstream weights of the final output
    v: list[np.ndarray] = field(default_factory=list)  # directions of the HVP

    def leaf(self, name: str) -> Leaf:
        return next(lf for lf in self.leaves if lf.name == name)


def _draw_call(draw: Any, op: Op, params: dict[str, Any], in_shapes: tuple[Any, ...]
               ) -> tuple[Call | None, dict[str, Any]]:
    direct = dict(params)
    if family(op).kind == "reduction":  # as the op's functions do before `apply`
        from minigrad.ops.reduce import normalize_axis

        direct["axis"] = normalize_axis(params.get("axis"), len(in_shapes[0]), op.name)
    options: list[tuple[Call | None, dict[str, Any]]] = [(None, direct)]
    for c in opinfo.info(op).calls:
        p = c.params_for(params, in_shapes)
        if p is not None:
            options.append((c, p))
    # the snippet and the minigrad run use the call's parameters; `apply` gets `direct`
    return draw(st.sampled_from(options))


@st.composite
def first_step(draw: Any, op: Op, dtype: np.dtype, prog: Program, extreme: bool = True
               ) -> Step:
    """One application of `op` to fresh leaves."""
    fam = family(op)
    if fam.problem:
        raise ValueError(f"the fuzzer cannot generate op {op.name!r}: {fam.problem}")
    if fam.kind == "unary":
        arrays = [draw(values(draw(shapes_with_empty()), dtype, fam.lo[0], fam.hi[0], extreme))]
        params = dict(fam.params)
    elif fam.kind == "binary":
        bs = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3))
        arrays = [draw(values(s, dtype, fam.lo[k], fam.hi[k], extreme))
                  for k, s in enumerate(bs.input_shapes)]
        params = {}
    elif fam.kind == "reduction":
        shape = draw(shapes_with_empty())
        axis = draw(axes(len(shape)))
        reduced = range(len(shape)) if axis is None else (
            [axis] if isinstance(axis, int) else list(axis))
        if any(shape[a] == 0 for a in reduced if len(shape)) and op.name in ("max", "min"):
            shape = tuple(max(n, 1) for n in shape)  # no maximum of nothing (as numpy)
        arrays = [draw(values(shape, dtype, fam.lo[0], fam.hi[0], extreme))]
        params = {"axis": axis, "keepdims": draw(st.booleans()), **fam.params}
    else:
        cases = _cases(op, dtype)
        inputs, params = cases[draw(st.integers(0, len(cases) - 1))]
        arrays = []
        for k, a in enumerate(inputs):
            a = np.asarray(a)
            if _float(a):
                lo = fam.lo[k] if k < len(fam.lo) else -2.0
                hi = fam.hi[k] if k < len(fam.hi) else 2.0
                if np.all(a >= 0) and np.all(a <= 1) and lo >= 0 and hi <= 1:
                    a = draw(values(a.shape, dtype, lo, hi, False)).clip(0, 1)  # probabilities
                    a = a.astype(dtype)
                else:
                    largest = LARGEST[op.name](dtype) if op.name in LARGEST else np.inf
                    a = draw(values(a.shape, dtype, lo, hi, extreme, largest))
            arrays.append(a)
        params = dict(params)
    names = []
    for a in arrays:
        name = f"x{len(prog.leaves)}"
        prog.leaves.append(Leaf(name, np.asarray(a)))
        names.append(name)
    call, cparams = _draw_call(draw, op, params, tuple(np.shape(a) for a in arrays))
    return Step(op, names, params, call, cparams, f"y{len(prog.steps)}")


def chainable() -> list[Op]:
    """Ops that take any float tensor as their only input (elementwise, reductions) and are
    defined on all reals: they may follow any other step."""
    return [op for op in REGISTRY.values()
            if family(op).kind in ("unary", "reduction") and not family(op).problem
            and family(op).lo[0] < 0 < family(op).hi[0]]


def near_ties(a: np.ndarray, b: np.ndarray | None = None) -> bool:
    """Whether two entries of `a` (or, given `b`, an entry of `a` and the entry of `b` it meets
    by broadcasting) are equal or a few roundings apart.

    max and min send δ to their largest entries, shared among ties, maximum and minimum to
    the larger of two (half each at a tie), and logsumexp to a softmax of them, as sharp as a
    max once a rounding of the entries exceeds 1 (values of 1e150). After another step which
    entries tie depends on rounding (a convolution of ones gives equal sums, or sums one
    rounding apart, by the order of its additions; the mean of twelve equal values may be
    one rounding off them), so these would compare two roundings, not two gradients: the
    chain takes a sum, or an add, instead."""
    eps = float(np.finfo(a.dtype).eps) if a.dtype.kind == "f" else 0.0
    if b is not None:
        x, y = (c.astype(np.float64) for c in np.broadcast_arrays(a, b))
        with np.errstate(all="ignore"):
            return bool(np.any(np.abs(x - y) <= 1e3 * eps * np.maximum(np.abs(x), np.abs(y))))
    a = np.sort(a[np.isfinite(a)].ravel().astype(np.float64))
    if a.size < 2:
        return False
    return bool(np.any(np.diff(a) <= 1e3 * eps * np.maximum(np.abs(a[1:]), np.abs(a[:-1]))))


def near_kink(prog: Program, op: Op, params: dict[str, Any]) -> bool:
    """Whether an entry of the program's result lies within its rounding of a kink of `op`
    (0 for abs, relu and leaky_relu; clip's bounds): a sum of terms that cancel is 0 in one
    library and a rounding of the terms in another (a convolution of ±1e30 with weights of
    0.75 gives 0 in PyTorch, 7e13 here, where fused multiply-adds keep the products'
    rounding), and the two take different sides of the kink: slope 1 or 0.1 after it. A
    smooth op other than a linear one (`LINEAR`) bends on a scale of 1: there, entries that
    are their rounding alone, when that rounding exceeds 1e-6."""
    kinks = {"abs": [0.0], "relu": [0.0], "leaky_relu": [0.0],
             "clip": [v for v in (params.get("min"), params.get("max")) if v is not None]}
    if op.name in LINEAR:
        return False
    y = np.asarray(run_minigrad(prog)[0].data, dtype=np.float64)
    mag = np.abs(np.asarray(run_torch(prog, magnitudes=True)[0].detach().numpy()))
    eps = float(np.finfo(prog.dtype).eps)
    with np.errstate(all="ignore"):
        if op.name in kinks:
            return any(bool(np.any((mag > 0) & (np.abs(y - k) <= 1e3 * eps * mag)))
                       for k in kinks[op.name])
        # a smooth op bends on a scale of 1: sigmoid(7e13) is 1, sigmoid(0) is ½
        return bool(np.any((1e3 * eps * mag > 1e-6) & (np.abs(y) <= 1e3 * eps * mag)))


LINEAR = {"neg", "sum", "mean", "transpose", "astype", "add", "sub"}
"""Chained ops that a rounding of their input moves by no more than that rounding."""


@st.composite
def next_step(draw: Any, prev: Step, shape: tuple[int, ...], prog: Program) -> Step:
    """One more op on the previous result: elementwise, a reduction, a transpose or a binary
    op with a fresh leaf of a broadcast-compatible shape."""
    kind = draw(st.integers(0, 3))
    if kind == 0 and "transpose" in REGISTRY:
        op = REGISTRY["transpose"]
        call, cparams = _draw_call(draw, op, {"axes": None}, (shape,))
        return Step(op, [prev.out], {"axes": None}, call, cparams, f"y{len(prog.steps)}")
    if kind == 1:
        binary = [op for op in REGISTRY.values() if family(op).kind == "binary"
                  and not family(op).problem and family(op).lo[0] < 0 < family(op).hi[0]
                  and family(op).lo[1] < 0 < family(op).hi[1]]
        if binary:
            op = draw(st.sampled_from(binary))
            other = tuple(draw(st.sampled_from([n, 1])) for n in shape[draw(
                st.integers(0, len(shape))):])
            name = f"x{len(prog.leaves)}"
            prog.leaves.append(Leaf(name, draw(values(other, prog.dtype, -2.0, 2.0))))
            if op.name in ("maximum", "minimum") and (near_ties(
                    run_minigrad(prog)[0].data, prog.leaves[-1].array) or near_kink(
                    prog, REGISTRY["clip"], {"min": prog.leaves[-1].array})):
                op = REGISTRY["add"]  # the other input is maximum's kink, as clip's bound
            args = [prev.out, name] if draw(st.booleans()) else [name, prev.out]
            shapes_ = (shape, other) if args[0] == prev.out else (other, shape)
            call, cparams = _draw_call(draw, op, {}, shapes_)
            return Step(op, args, {}, call, cparams, f"y{len(prog.steps)}")
    op = draw(st.sampled_from(chainable()))
    fam = family(op)
    params = dict(fam.params)
    if fam.kind == "reduction":
        params = {"axis": draw(axes(len(shape))), "keepdims": draw(st.booleans()), **params}
        if op.name in ("max", "min") and 0 in shape:
            params["axis"] = None if not shape else params["axis"]
            if 0 in shape:
                op = REGISTRY["sum"]
        if op.name in ("max", "min", "logsumexp") and near_ties(run_minigrad(prog)[0].data):
            op = REGISTRY["sum"]
    if near_kink(prog, op, params):
        op, params = REGISTRY["neg"], {}
    call, cparams = _draw_call(draw, op, params, (shape,))
    return Step(op, [prev.out], params, call, cparams, f"y{len(prog.steps)}")


@st.composite
def programs(draw: Any, ops: list[Op], chain: bool = True, dtypes: Any = None) -> Program:
    """A program: one op on fresh leaves, then up to two ops on its result."""
    dtype = np.dtype(draw(st.sampled_from(dtypes or ["float64", "float32"])))
    op = draw(st.sampled_from(ops))
    prog = Program(dtype, [], [])
    oracle = counterpart(op) is not None
    step = draw(first_step(op, dtype, prog, extreme=oracle))
    prog.steps.append(step)
    shape = run_minigrad(prog)[0].shape
    if chain and oracle:
        for _ in range(draw(st.integers(0, 2))):
            step = draw(next_step(step, shape, prog))
            if counterpart(step.op) is None:
                break
            prog.steps.append(step)
            shape = run_minigrad(prog)[0].shape
    rng_seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(rng_seed)
    prog.w = rng.standard_normal(shape).astype(dtype)
    prog.v = [rng.standard_normal(lf.array.shape).astype(dtype)
              for lf in prog.leaves if lf.differentiable]
    return prog


# --------------------------------------------------------------------------- running
def _fresh(params: dict[str, Any]) -> dict[str, Any]:
    """Copies of the array parameters: an op may update one in place (batch_norm's running
    statistics in training mode), and every run of a program must start from the same values."""
    return {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in params.items()}


def run_minigrad(prog: Program, leaves: dict[str, Any] | None = None) -> tuple[Any, dict]:
    env: dict[str, Any] = {}
    for lf in prog.leaves:
        given = (leaves or {}).get(lf.name)
        env[lf.name] = given if given is not None else minigrad.Tensor(
            lf.array, requires_grad=lf.differentiable)
    y = None
    for s in prog.steps:
        args = [env[a] for a in s.args]
        params = _fresh(s.call_params)
        y = s.call.fn(*args, **params) if s.call else apply(s.op, *args, **params)
        env[s.out] = y
    return y, env


def in_float64(v: Any) -> Any:
    """A leaf or parameter for the reference: floating point arrays (and a float dtype
    argument) in float64, anything else as it is."""
    if isinstance(v, np.ndarray):
        return v.astype(np.float64) if v.dtype.kind == "f" else v.copy()
    if isinstance(v, np.dtype) and v.kind == "f":
        return np.dtype(np.float64)
    if isinstance(v, tuple):
        return tuple(in_float64(x) for x in v)
    return v


def _torch_conv(d: int) -> Any:
    import torch

    return torch.nn.functional.conv1d if d == 1 else torch.nn.functional.conv2d


def _func_input_grad(g: Any, W: Any, *, input_shape: Any, **p: Any) -> Any:
    import torch

    x0 = torch.zeros(input_shape, dtype=g.dtype)
    return torch.func.vjp(lambda x: _torch_conv(len(p["stride"]))(x, W, **p), x0)[1](g)[0]


def _func_weight_grad(x: Any, g: Any, *, kernel_size: Any, **p: Any) -> Any:
    import torch

    W0 = torch.zeros((g.shape[1], x.shape[1] // p["groups"]) + tuple(kernel_size),
                     dtype=g.dtype)
    return torch.func.vjp(lambda W: _torch_conv(len(p["stride"]))(x, W, **p), W0)[1](g)[0]


# Counterparts for torch.func's transforms, where the op table's go through
# torch.autograd.grad on a fresh leaf: torch.func's tangents and batches do not pass through
# that, and the op table's version detaches its result when no input requires grad, so
# under torch.func.jvp it returned a tangent of 0.
TRANSFORMABLE = {"conv_input_grad": _func_input_grad, "conv_weight_grad": _func_weight_grad}


def run_torch(prog: Program, magnitudes: bool = False,
              cast: Callable[[Any], Any] | None = None,
              leaves: dict[str, Any] | None = None,
              transformable: bool = False) -> tuple[Any, dict]:
    """The reference: the program in PyTorch on float64 copies of the inputs, whatever the
    program's dtype. A float32 program is then held to float32's tolerance around (nearly) the
    exact result, not around PyTorch's own float32 rounding (the mean of four equal −1e30 off
    by one rounding, normalized by √ε, gives 1.5e29 for an exact 0).

    With `magnitudes`, on |x|: results that bound the rounding error a correct float
    implementation may make (Σ|a||b| for a dot product). `cast` replaces `in_float64` for the
    leaves and parameters (to run in the program's own dtype); `leaves` gives tensors for
    some leaves (to differentiate with torch.func); `transformable` takes the counterparts
    torch.func can transform (`TRANSFORMABLE`)."""
    import torch

    cast = cast or in_float64
    env: dict[str, Any] = dict(leaves or {})
    for lf in prog.leaves:
        if lf.name in env:
            continue
        a = cast(lf.array)
        if magnitudes and lf.differentiable:
            a = np.asarray(np.abs(a))  # a 0-d array stays one (np.abs gives a scalar)
        t = torch.from_numpy(a)
        env[lf.name] = t.requires_grad_(True) if lf.differentiable else t
    y = None
    for s in prog.steps:
        torch_op = TRANSFORMABLE.get(s.op.name) if transformable else None
        torch_op = torch_op or counterpart(s.op)
        assert torch_op is not None
        y = torch_op(*[env[a] for a in s.args], **{k: cast(v) for k, v in s.params.items()})
        env[s.out] = y
    return y, env


def objective(y: Any, w: Any) -> Any:
    """⟨y, w⟩ + ½‖y‖²: the square makes second derivatives of linear ops non-zero."""
    return (y * w).sum() + 0.5 * (y * y).sum()


# --------------------------------------------------------------------------- snippets
def snippet(prog: Program) -> str:
    """The program as a runnable script comparing minigrad with PyTorch."""
    lines = [
        "import numpy as np",
        "import torch",
        "import minigrad",
        "from minigrad import opinfo",
        "from minigrad.ops import REGISTRY",
        "",
    ]
    names = []
    for lf in prog.leaves:
        a = lf.array
        lit = f"np.array({a.tolist()!r}, dtype=np.{a.dtype.name})"
        lines.append(f"{lf.name}_np = {lit}")
        lines.append(f"{lf.name} = minigrad.Tensor({lf.name}_np"
                     f"{', requires_grad=True' if lf.differentiable else ''})")
        names.append(lf.name)
    for s in prog.steps:
        src = s.call.source(s.args, s.call_params) if s.call else (
            f"minigrad.apply(REGISTRY[{s.op.name!r}], {', '.join(s.args)}"
            + "".join(f", {k}={_src(v)}" for k, v in s.call_params.items()) + ")")
        lines.append(f"{s.out} = {src}")
    last = prog.steps[-1].out
    diff = [lf.name for lf in prog.leaves if lf.differentiable]
    lines.append(f"w = np.array({np.asarray(prog.w).tolist()!r}, dtype=np.{prog.dtype.name})")
    lines.append(f"L = ({last} * minigrad.Tensor(w)).sum() + 0.5 * ({last} * {last}).sum()")
    lines.append(f"g = minigrad.grad(L, [{', '.join(diff)}], create_graph=True, "
                 "allow_unused=True)")
    if any(counterpart(s.op) is None for s in prog.steps):
        lines.append("print('minigrad:', " + last + ".data, [x.data for x in g if x is not None])")
        return "\n".join(lines)
    lines.append("# PyTorch, on float64 copies of the same values")
    for lf in prog.leaves:
        req = ".requires_grad_(True)" if lf.differentiable else ""
        copy = ".astype(np.float64)" if lf.differentiable else ".copy()"
        lines.append(f"t_{lf.name} = torch.from_numpy({lf.name}_np{copy}){req}")
    for s in prog.steps:
        args = ", ".join(f"t_{a}" for a in s.args)
        kw = "".join(f", {k}={_src(in_float64(v))}" for k, v in s.params.items())
        lines.append(f"t_{s.out} = opinfo.info({s.op.name!r}).torch({args}{kw})")
    lines.append(f"tL = (t_{last} * torch.from_numpy(w.astype(np.float64))).sum() "
                 f"+ 0.5 * (t_{last} ** 2).sum()")
    lines.append(f"tg = torch.autograd.grad(tL, [{', '.join('t_' + n for n in diff)}], "
                 "create_graph=True, allow_unused=True)")
    lines.append(f"print('forward:', {last}.data, t_{last}.detach().numpy(), sep='\\n')")
    lines.append("for a, b in zip(g, tg):")
    lines.append("    print('gradient:', None if a is None else a.data, "
                 "None if b is None else b.detach().numpy(), sep='\\n')")
    return "\n".join(lines)


def _src(v: Any) -> str:
    from minigrad.opinfo.calls import _source

    return _source(v)
