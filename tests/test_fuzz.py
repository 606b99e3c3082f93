"""Differential fuzzer: random programs over every registered op (tests/fuzz_programs.py)
against PyTorch, forward, gradient and Hessian-vector product; central differences for an op
without a PyTorch counterpart. `make test` runs a small reproducible budget; `make fuzz`
(MINIGRAD_FUZZ=long) runs at length. A failure prints the shrunk program as a script."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from fuzz_programs import (
    HVP_TOL,
    LONG,
    PROFILE,
    SEED,
    TOL,
    Leaf,
    Program,
    Step,
    counterpart,
    family,
    in_float64,
    near_kink,
    near_ties,
    objective,
    programs,
    run_minigrad,
    run_torch,
    snippet,
    unknown_ops,
)
from hypothesis import given, seed, settings
from hypothesis import strategies as st

import minigrad
from minigrad.ops import REGISTRY

torch = pytest.importorskip("torch")

# minigrad's own ops, whatever other test files have registered by collection (the random
# programs below still draw from every op registered by the time they run)
OPS_AT_COLLECTION = sorted(name for name, op in REGISTRY.items() if op.builtin)

# at length, every test draws from the run's seed (fuzz_programs.SEED), so one number replays
# a failing run; the short mode keeps Hypothesis's derandomized, per-test draws
seeded = seed(SEED) if LONG else (lambda test: test)


def close(ours: np.ndarray, ref: np.ndarray, dtype: np.dtype, what: str,
          tol: dict[np.dtype, tuple[float, float]] = TOL, mag: Any = None,
          noise: float = 0.0, native: Callable[[], np.ndarray] | None = None,
          spread: Callable[[], np.ndarray] | None = None) -> None:
    """Where the reference is finite, ours is finite and within the dtype's tolerance,
    relative to the largest magnitude of the reference or of `mag`, the same quantity
    computed on |x| (which bounds the rounding error of sums: 1.5·1e30 − 1.5·1e30 may
    round to 1e23 in float32); where the reference is not finite, neither is ours.

    `noise` is an absolute allowance for rounding carried from the largest quantity in play
    (an input, or δ at the output): normalising a constant row of 1e300 gives exactly 0 in
    exact arithmetic, 0 here and 1e285 in PyTorch, whose mean is off by one rounding.

    The reference is computed in float64 whatever the program's dtype. Two things are asked
    only when the comparison fails:

    - `native`, PyTorch's result in the program's own dtype: where ours agrees with it, or
      it is not finite, the entry is not held against ours. The dtype itself cannot carry the
      computation there, and ours does what PyTorch does in it: in float32 the mean square of
      1e-30 underflows to 0 and relu'(0) = 0, where the float64 reference has 1e-60 and
      relu' = 1; the variance of ±1e30 overflows.
    - `spread`, how far the reference is from itself computed another way (H v by
      forward-mode over the gradient, against reverse over reverse): the reference is not
      trusted closer than that. For sigmoid(log x) at x = 1e-300, H v is −0.099, made of
      terms of 1e300 (1/x²): PyTorch gives −2.3e282 one way and 0 the other."""
    failure = _mismatch(ours, ref, dtype, what, tol, mag, noise)
    if failure and (native is not None or spread is not None):
        failure = _mismatch(ours, ref, dtype, what, tol, mag, noise,
                            None if native is None else native(),
                            None if spread is None else spread())
    assert not failure, failure


def _mismatch(ours: np.ndarray, ref: np.ndarray, dtype: np.dtype, what: str,
              tol: dict[np.dtype, tuple[float, float]], mag: Any, noise: float,
              alt: np.ndarray | None = None, spread: np.ndarray | None = None) -> str:
    """Why `ours` is not close to `ref` (see `close`), or "" when it is; entries where ours is
    as close to `alt`, or `alt` is not finite, are not held against it, and `spread` is
    allowed entry by entry on top of the limit."""
    ours, ref = np.asarray(ours, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    if ours.shape != ref.shape:
        return f"{what}: shape {ours.shape}, PyTorch {ref.shape}"
    fin = np.isfinite(ref)
    m = None if mag is None else np.abs(np.asarray(mag, dtype=np.float64))
    if m is not None and m.shape == ref.shape and not np.all(m < np.finfo(dtype).max):
        # the values on the way exceed the dtype's range (or overflowed to ∞ − ∞ = NaN on
        # |x|): a rounding error of the forward (1e23 for an exact 0) may overflow in the
        # gradient; compare where both are finite
        fin &= np.isfinite(ours)
    rtol, atol = tol[np.dtype(dtype)]
    scale = float(np.max(np.abs(ref[fin]), initial=0.0))
    if m is not None:
        if m.shape == ref.shape and np.isfinite(m).any():
            scale = max(scale, float(np.max(m[np.isfinite(m)])))
    limit = atol + rtol * scale + noise
    excused = np.zeros(ref.shape, dtype=bool)
    if alt is not None:
        alt = np.asarray(alt, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            excused = ~np.isfinite(alt) | (np.abs(ours - alt) <= limit)
        fin &= ~excused
    bad = fin & ~np.isfinite(ours)
    if bad.any():
        return (f"{what}: not finite at {np.argwhere(bad)[:5].tolist()} where the reference "
                f"is finite\n ours: {ours}\n ref:  {ref}")
    if what.startswith("forward"):
        inf = np.isinf(ref) & ~excused
        if not (np.array_equal(np.isinf(ours) & inf, inf) or not np.any(np.isnan(ours)[inf])):
            return f"{what}: the reference overflows where ours is {ours[inf]}"
    if not fin.any():
        return ""
    err = np.abs(ours[fin] - ref[fin])
    if spread is not None:
        with np.errstate(invalid="ignore"):
            spread = np.where(np.isnan(spread), np.inf, np.asarray(spread, np.float64))
        err = err - np.broadcast_to(spread, ref.shape)[fin]
    if np.all(err <= limit):
        return ""
    also = "" if spread is None else " + the reference's spread"
    return (f"{what}: off by {err.max():.3g} (allowed {limit:.3g} = {atol:g} + {rtol:g} × "
            f"{scale:.3g} + {noise:.3g}{also})\n ours: {ours}\n ref:  {ref}")


def _zeros_for_none(gs: Any, like: list[np.ndarray]) -> list[np.ndarray]:
    return [np.zeros(x.shape) if g is None else np.asarray(
        g.detach().numpy() if hasattr(g, "detach") else g.data) for g, x in zip(gs, like)]


def _rounded(ref: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The float64 reference rounded to the program's dtype: what a correctly rounded result
    would be (beyond float32's range, ±∞)."""
    with np.errstate(over="ignore"):
        return np.asarray(ref).astype(dtype).astype(np.float64)


def _magnitudes(prog: Program) -> tuple[Any, list[Any], list[Any]]:
    """Forward, gradient and HVP of the program on |x|, |w|, |v| in float64 (for scales)."""
    try:
        ay, aenv = run_torch(prog, magnitudes=True)
        diff = [aenv[lf.name] for lf in prog.leaves if lf.differentiable]
        aL = objective(ay, torch.from_numpy(np.asarray(np.abs(prog.w.astype(np.float64)))))
        ag = torch.autograd.grad(aL, diff, create_graph=True, allow_unused=True)
        used = [(g, torch.from_numpy(np.asarray(np.abs(v.astype(np.float64)))))
                for g, v in zip(ag, prog.v) if g is not None and g.requires_grad]
        ah = torch.autograd.grad(sum((g * v).sum() for g, v in used), diff,
                                 allow_unused=True) if used else [None] * len(diff)
        like = [lf.array for lf in prog.leaves if lf.differentiable]
        return (ay.detach().numpy(), _zeros_for_none(ag, like), _zeros_for_none(ah, like))
    except (RuntimeError, ValueError, TypeError):
        return None, [None] * len(prog.leaves), [None] * len(prog.leaves)


def _evaluate(prog: Program, cast: Callable[[Any], Any], w: np.ndarray,
              v: list[np.ndarray]) -> dict[str, np.ndarray]:
    """The program's forward ("y"), gradients ("g:x0") and Hessian-vector products ("h:x0")
    in PyTorch, on the leaves and parameters as `cast` gives them."""
    diff = [lf for lf in prog.leaves if lf.differentiable]
    like = [lf.array for lf in diff]
    with np.errstate(all="ignore"):
        ty, tenv = run_torch(prog, cast=cast)
        got = {"y": ty.detach().numpy()}
        if not ty.requires_grad:
            return got
        txs = [tenv[lf.name] for lf in diff]
        tgs = torch.autograd.grad(objective(ty, torch.from_numpy(w)), txs,
                                  create_graph=True, allow_unused=True)
        used = [(g, torch.from_numpy(d)) for g, d in zip(tgs, v)
                if g is not None and g.requires_grad]
        ths = torch.autograd.grad(sum((g * d).sum() for g, d in used), txs,
                                  allow_unused=True) if used else [None] * len(txs)
    for lf, g, h in zip(diff, _zeros_for_none(tgs, like), _zeros_for_none(ths, like)):
        got[f"g:{lf.name}"], got[f"h:{lf.name}"] = g, h
    return got


def _native(prog: Program) -> dict[str, np.ndarray]:
    """The program in PyTorch in its own dtype."""
    return _evaluate(prog, lambda a: a.copy() if isinstance(a, np.ndarray) else a,
                     prog.w, prog.v)


def _forward_over_reverse(prog: Program) -> list[np.ndarray]:
    """H v of the objective in float64 by torch.func: forward mode over the gradient, an
    order of evaluation other than the reference's reverse over reverse."""
    from torch.func import grad, jvp

    diff = [lf for lf in prog.leaves if lf.differentiable]
    w = torch.from_numpy(prog.w.astype(np.float64))

    def loss(*xs: Any) -> Any:
        y, _ = run_torch(prog, leaves={lf.name: x for lf, x in zip(diff, xs)})
        return objective(y, w)

    primals = tuple(torch.from_numpy(in_float64(lf.array)) for lf in diff)
    tangents = tuple(torch.from_numpy(v.astype(np.float64)) for v in prog.v)
    with np.errstate(all="ignore"):
        _, hv = jvp(grad(loss, argnums=tuple(range(len(diff)))), primals, tangents)
    return [h.detach().numpy() for h in hv]


def _smallest_spread(prog: Program, env: dict[str, Any]) -> float:
    """The smallest non-zero std computed in the program (1 if none): the second derivative of
    s = std(x) is (I − 11ᵀ/n − x̂x̂ᵀ)/(n·s), whose terms of size |δ|/s cancel (exactly for two
    values, where std is linear) and leave their rounding, ε·|δ|/s, in both libraries: for
    std(0, 1e-30) H v is 0.19, minigrad gives 0 and PyTorch 8.8e12."""
    spreads = [np.abs(env[s.out].data) for s in prog.steps if s.op.name == "std"]
    nonzero = [a[(a > 0) & np.isfinite(a)] for a in spreads]
    return min([float(a.min()) for a in nonzero if a.size] + [1.0])


def _multiplies(prog: Program) -> bool:
    """Whether a step takes two or more floating point inputs and is not elementwise (so it may
    multiply them together: matmul, attention, convolutions, normalization by a weight)."""
    floats = {lf.name for lf in prog.leaves if lf.differentiable}
    return any(family(s.op).kind == "template" and len(floats & set(s.args)) >= 2
               for s in prog.steps)


@dataclass
class Allowance:
    """The rounding a correct implementation may carry, from the sizes of a program's inputs
    (see `allowance`): `eps` is 1e4 roundings of the dtype, `big_in` the largest input,
    `together` the largest product of inputs one derivative meets, `twice` the Hessian's."""

    eps: float
    big_in: float
    together: float
    twice: float

    @property
    def forward(self) -> float:
        """The inputs' rounding, ε·|x|, carried to the output; squared by a var, which
        squares x − x̄ (three equal 1e30, through maximum, have a var of 2e28 in PyTorch, of
        0 here)."""
        return min(self.eps * self.big_in + (self.eps * self.big_in) ** 2, _LARGEST)

    def carried(self, upstream: float) -> float:
        """The rounding of a first derivative: an upstream δ (or a tangent ẋ) of size
        `upstream` times the inputs it meets."""
        return min(self.eps * upstream * self.together, _LARGEST)


_LARGEST = float(np.finfo(np.float64).max)


def allowance(prog: Program) -> Allowance:
    eps = 1e4 * float(np.finfo(prog.dtype).eps)
    sizes = [float(np.max(np.abs(lf.array[np.isfinite(lf.array)]), initial=0.0))
             for lf in prog.leaves if lf.differentiable]
    big_in = max(sizes + [0.0])
    # Rounding carried into the derivatives: δ times the inputs it meets. Elementwise, ∂y/∂x
    # is of the size of the other input; an op that multiplies its inputs together
    # (attention, matmul, a convolution, a weighted norm) meets all of them, and its Hessian
    # one of them twice: ∇Q of attention is ∇S·K with ∇S ∝ δVᵀ, and H v at the keys is
    # Qᵀ f'' Q v. Such terms may cancel exactly, which |x| in `_magnitudes` does not show:
    # with equal values and queries of 1e150, PyTorch's rounding of ε·|δ||Q|² ≈ 1e284
    # swallows the 1e150 that H v at the keys is, and it returns 0.
    multiplies = _multiplies(prog)
    with np.errstate(over="ignore"):
        together = float(np.prod([max(1.0, n) for n in sizes])) if multiplies \
            else max(1.0, big_in)
        twice = together * (max(1.0, big_in) if multiplies else 1.0)
    return Allowance(eps, big_in, together, twice)


def compare_with_torch(prog: Program) -> None:
    with np.errstate(all="ignore"):
        y, env = run_minigrad(prog)
        ty, tenv = run_torch(prog)  # in float64, whatever the program's dtype
    ty_np = _rounded(ty.detach().numpy(), prog.dtype)
    my, mg_, mh = _magnitudes(prog)
    room = allowance(prog)
    # computed at most once, and only if a comparison fails (see `close`)
    native = functools.cache(lambda: _native(prog))

    def in_own_dtype(key: str) -> Callable[[], np.ndarray] | None:
        return None if prog.dtype == np.float64 else (lambda: native()[key])

    close(y.data, ty_np, prog.dtype, "forward", mag=my, noise=room.forward,
          native=in_own_dtype("y"))
    if not np.all(np.isfinite(ty_np)) or not ty.requires_grad:
        return  # nothing finite to differentiate; the forward agreed
    diff = [lf.name for lf in prog.leaves if lf.differentiable]
    xs, txs = [env[n] for n in diff], [tenv[n] for n in diff]
    like = [lf.array for lf in prog.leaves if lf.differentiable]
    with np.errstate(all="ignore"):
        L = objective(y, minigrad.Tensor(prog.w))
        gs = minigrad.grad(L, xs, create_graph=True, allow_unused=True)
    tL = objective(ty, torch.from_numpy(prog.w.astype(np.float64)))
    tgs = torch.autograd.grad(tL, txs, create_graph=True, allow_unused=True)
    ours = _zeros_for_none(gs, like)
    ref = [_rounded(r, prog.dtype) for r in _zeros_for_none(tgs, like)]
    # δ = w + y at the output, as each library has it: ours may differ from PyTorch's by the
    # forward's rounding (a sum of ±1e30 that cancels gives 1.4e14 here, 0.1 there), and the
    # rounding of the backward is that of |δ| times the inputs it meets
    with np.errstate(all="ignore"):
        w64 = prog.w.astype(np.float64)
        delta = np.maximum(np.abs(w64 + ty_np), np.abs(w64 + y.data.astype(np.float64)))
    big_delta = float(np.max(delta[np.isfinite(delta)], initial=0.0))
    for n, a, b, m in zip(diff, ours, ref, mg_):
        close(a, b, prog.dtype, f"gradient of {n}", mag=m, noise=room.carried(big_delta),
              native=in_own_dtype(f"g:{n}"))
    if not all(np.all(np.isfinite(r)) for r in ref):
        return
    # the Hessian-vector product H v of the objective, through create_graph
    used = [(g, v) for g, v in zip(gs, prog.v) if g is not None and g.requires_grad]
    tused = [(g, torch.from_numpy(v.astype(np.float64))) for g, v in zip(tgs, prog.v)
             if g is not None and g.requires_grad]
    if not tused:
        assert not used, "minigrad's gradient depends on the inputs, PyTorch's does not"
        return
    with np.errstate(all="ignore"):
        hs = minigrad.grad(sum((g * minigrad.Tensor(v)).sum() for g, v in used), xs,
                           allow_unused=True) if used else [None] * len(xs)
    ths = torch.autograd.grad(sum((g * v).sum() for g, v in tused), txs, allow_unused=True)
    ths_np = [_rounded(h, prog.dtype) for h in _zeros_for_none(ths, like)]
    spread = _smallest_spread(prog, env)
    other_way = functools.cache(lambda: _forward_over_reverse(prog))

    def apart(k: int) -> Callable[[], np.ndarray]:
        def get() -> np.ndarray:
            try:
                return np.abs(other_way()[k] - ths_np[k])
            except (RuntimeError, NotImplementedError, TypeError, ValueError):
                # an op without forward mode (or that mutates a buffer): no second opinion
                return np.zeros(ths_np[k].shape)
        return get
    for k, (n, a, b, m) in enumerate(zip(diff, _zeros_for_none(hs, like), ths_np, mh)):
        close(a, b, prog.dtype, f"Hessian-vector product at {n}", HVP_TOL, mag=m,
              noise=min(room.eps * max(1.0, big_delta) * room.twice / min(1.0, spread),
                        float(np.finfo(np.float64).max)),
              native=in_own_dtype(f"h:{n}"), spread=apart(k))


def compare_with_differences(prog: Program, eps: float = 1e-6) -> None:
    """For an op without a PyTorch counterpart: the gradient of the objective and its
    Hessian-vector product against central differences, in float64."""
    assert prog.dtype == np.float64
    diff = [lf for lf in prog.leaves if lf.differentiable]

    def value(arrays: dict[str, np.ndarray]) -> float:
        leaves = {k: minigrad.Tensor(a) for k, a in arrays.items()}
        with minigrad.no_grad():
            y, _ = run_minigrad(prog, leaves)
        return float(objective(y.data, prog.w))

    def gradient(arrays: dict[str, np.ndarray]) -> list[np.ndarray]:
        leaves = {k: minigrad.Tensor(a, requires_grad=True) for k, a in arrays.items()}
        y, _ = run_minigrad(prog, leaves)
        gs = minigrad.grad(objective(y, minigrad.Tensor(prog.w)),
                           [leaves[lf.name] for lf in diff], allow_unused=True)
        return _zeros_for_none(gs, [lf.array for lf in diff])

    base = {lf.name: lf.array.astype(np.float64) for lf in diff}
    ours = gradient(base)
    for lf, g in zip(diff, ours):
        num = np.zeros(lf.array.shape)
        for j in range(lf.array.size):
            hi, lo = dict(base), dict(base)
            hi[lf.name] = base[lf.name].copy()
            lo[lf.name] = base[lf.name].copy()
            hi[lf.name].flat[j] += eps
            lo[lf.name].flat[j] -= eps
            num.flat[j] = (value(hi) - value(lo)) / (2 * eps)
        close(g, num, np.dtype("float64"), f"gradient of {lf.name} (central differences)",
              {np.dtype("float64"): (1e-4, 1e-5)})
    # H v = (∇f(x + εv) − ∇f(x − εv)) / 2ε, against the create_graph result
    leaves = {k: minigrad.Tensor(a, requires_grad=True) for k, a in base.items()}
    y, _ = run_minigrad(prog, leaves)
    xs = [leaves[lf.name] for lf in diff]
    gs = minigrad.grad(objective(y, minigrad.Tensor(prog.w)), xs, create_graph=True,
                       allow_unused=True)
    used = [(g, v) for g, v in zip(gs, prog.v) if g is not None and g.requires_grad]
    hs = minigrad.grad(sum((g * minigrad.Tensor(v)).sum() for g, v in used), xs,
                       allow_unused=True) if used else [None] * len(xs)
    plus = gradient({k: base[k] + eps * v for k, v in zip(base, prog.v)})
    minus = gradient({k: base[k] - eps * v for k, v in zip(base, prog.v)})
    for lf, h, p, m in zip(diff, _zeros_for_none(hs, list(base.values())), plus, minus):
        close(h, (p - m) / (2 * eps), np.dtype("float64"),
              f"Hessian-vector product at {lf.name} (central differences)",
              {np.dtype("float64"): (1e-4, 1e-5)})

# --------------------------------------------------------------------------- function transforms
# The same programs under minigrad.func: forward mode against torch.func.jvp, and vmap (of
# the program, and of its gradient) against the program run once per example and against
# torch.func.vmap, each held to the tolerances above.
def _diff(prog: Program) -> list[Leaf]:
    return [lf for lf in prog.leaves if lf.differentiable]


def _oracle(prog: Program) -> bool:
    """Whether every step has a PyTorch counterpart."""
    return all(counterpart(s.op) is not None for s in prog.steps)


def _sizes(prog: Program) -> tuple[Any, list[Any]]:
    """The forward and gradient magnitudes of `_magnitudes` (None without a counterpart)."""
    if not _oracle(prog):
        return None, [None] * len(_diff(prog))
    my, mg_, _ = _magnitudes(prog)
    return my, mg_


def _as_function(prog: Program, lib: str, w: np.ndarray | None = None) -> Callable[..., Any]:
    """The program as a function of its floating point leaves, in minigrad or in PyTorch
    (float64); with `w`, the objective ⟨y, w⟩ + ½‖y‖² of its output."""
    names = [lf.name for lf in _diff(prog)]

    def f(*xs: Any) -> Any:
        if lib == "minigrad":
            y, _ = run_minigrad(prog, leaves=dict(zip(names, xs)))
        else:
            y, _ = run_torch(prog, leaves=dict(zip(names, xs)), transformable=True)
        if w is None:
            return y
        return objective(y, minigrad.Tensor(w) if lib == "minigrad" else torch.from_numpy(
            w.astype(np.float64)))

    return f


def _torch_jvp(prog: Program, magnitudes: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The forward and J v in PyTorch, float64 (on |x| and |v| with `magnitudes`)."""
    f = _as_function(prog, "torch")
    size = (lambda a: np.asarray(np.abs(a))) if magnitudes else (lambda a: a)
    primals = tuple(torch.from_numpy(size(in_float64(lf.array))) for lf in _diff(prog))
    tangents = tuple(torch.from_numpy(size(v.astype(np.float64))) for v in prog.v)
    try:
        y, t = torch.func.jvp(f, primals, tangents)
    except (RuntimeError, NotImplementedError):
        # a counterpart written with torch.autograd (conv_input_grad's), which torch.func
        # does not see through: J v by the double-backward trick instead
        y, t = torch.autograd.functional.jvp(f, primals, tangents)
    return y.detach().numpy(), t.detach().numpy()


def _out_of_place(prog: Program) -> Program:
    """The program with its in-place front ends (``y = x.copy(); y[i] = v``) run as `apply`.
    minigrad's jvp refuses a write in place to a tensor that carries a tangent, naming the
    fix (write it out of place), where torch.func.jvp follows it: a known limit, not a wrong
    tangent (the tangent table is keyed by tensor, and Tensor._inplace does not tell it)."""
    steps = [Step(s.op, s.args, s.params, None, s.params, s.out)
             if s.call is not None and "in_place" in s.call.code else s for s in prog.steps]
    return Program(prog.dtype, prog.leaves, steps, prog.w, prog.v)


def compare_jvp(prog: Program) -> None:
    """func.jvp of the program against torch.func.jvp, float64: the forward, and the tangent
    J v (v: the program's directions) to within the rounding of v times the inputs it meets."""
    assert prog.dtype == np.float64
    prog = _out_of_place(prog)
    diff = _diff(prog)
    if not diff:
        return
    with np.errstate(all="ignore"):
        y, t = minigrad.func.jvp(_as_function(prog, "minigrad"),
                                 tuple(minigrad.Tensor(lf.array) for lf in diff),
                                 tuple(minigrad.Tensor(v) for v in prog.v))
        ty, tt = _torch_jvp(prog)
    my, _, _ = _magnitudes(prog)
    room = allowance(prog)
    close(y.data, ty, prog.dtype, "forward under jvp", mag=my, noise=room.forward)
    if not np.all(np.isfinite(ty)):
        return  # nothing finite to differentiate; the forward agreed
    with np.errstate(all="ignore"):
        try:
            mt = _torch_jvp(prog, magnitudes=True)[1]
        except (RuntimeError, ValueError, TypeError):
            mt = None
    big_v = max(float(np.max(np.abs(v), initial=0.0)) for v in prog.v)
    close(t.data, tt, prog.dtype, "tangent J v", mag=mt, noise=room.carried(big_v))


B = 3  # examples per vmap
SCALES = (1.0, 0.75, 0.5)  # each example a scaled copy: signs, ties, domains and [0, 1] kept


def _batched(prog: Program, dims: list[int | None]) -> list[np.ndarray]:
    """The floating point leaves with a batch axis at `dims` (None: shared)."""
    return [lf.array if d is None else np.stack(
        [(lf.array * s).astype(prog.dtype) for s in SCALES], axis=d)
        for lf, d in zip(_diff(prog), dims)]


def _example(prog: Program, arrays: list[np.ndarray], dims: list[int | None], b: int
             ) -> Program:
    """Example b of the batch as a program of its own."""
    mine = {lf.name: a if d is None else np.take(a, b, axis=d)
            for lf, a, d in zip(_diff(prog), arrays, dims)}
    leaves = [Leaf(lf.name, mine.get(lf.name, lf.array)) for lf in prog.leaves]
    return Program(prog.dtype, leaves, prog.steps, prog.w, prog.v)


# ops whose rule runs once per example for some inputs the fuzzer may draw (advanced indices
# apart, an index out of range; minigrad/func/batching.py lists them all)
PARTLY_LOOPED = {"setitem", "embedding"}


def _vmapped(f: Callable[..., Any], arrays: list[np.ndarray], dims: list[int | None],
             prog: Program) -> Any:
    """vmap of `f`: an op that runs once per example warns, and may only if it has no
    batching rule, or one that covers only part of its inputs."""
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always")
        out = minigrad.func.vmap(f, in_dims=tuple(dims))(
            *[minigrad.Tensor(a) for a in arrays])
    looped = {m for w in caught for m in [str(w.message)] if "no batching rule" in m}
    for s in prog.steps:
        warned = any(f"op '{s.op.name}'" in m for m in looped)
        assert warned or s.op.name in minigrad.func.batched_ops(), \
            f"{s.op.name} has no batching rule, but vmap did not warn"
        assert not warned or s.op.name not in minigrad.func.batched_ops() \
            or s.op.name in PARTLY_LOOPED, f"{s.op.name} has a batching rule, yet looped"
    return out


def _torch_vmap(prog: Program, arrays: list[np.ndarray], dims: list[int | None],
                w: np.ndarray | None = None) -> list[np.ndarray] | None:
    """torch.func.vmap of the program (of its objective's gradient, given `w`), float64; None
    where PyTorch's counterpart cannot be vmapped (written with torch.autograd, or updating
    a buffer in place)."""
    f = _as_function(prog, "torch", w)
    n = len(arrays)
    if w is not None:
        f = torch.func.grad(f, argnums=tuple(range(n)))
    try:
        with np.errstate(all="ignore"):
            out = torch.func.vmap(f, in_dims=tuple(dims))(
                *[torch.from_numpy(in_float64(a)) for a in arrays])
    except (RuntimeError, NotImplementedError, ValueError):
        return None
    return [o.detach().numpy() for o in (out if w is not None else [out])]


def compare_vmap(prog: Program, dims: list[int | None]) -> None:
    """vmap of the program over scaled copies of its leaves (those with a batch axis in
    `dims`) against the program run on each example, in minigrad and (float64) in
    torch.func.vmap; the same for vmap of its objective's gradient (per-example gradients)."""
    arrays = _batched(prog, dims)
    try:
        ours = _vmapped(_as_function(prog, "minigrad"), arrays, dims, prog).data
    except RuntimeError as e:
        # `y = x.copy(); y[i] = v` with x shared and v batched: y cannot hold one v per
        # example, and vmap says so, as torch.func.vmap does ("vmap: inplace arithmetic(self,
        # *extra_args) is not possible"); the out-of-place setitem is batched instead
        if "in-place op writes a batched tensor" not in str(e):
            raise
        prog = _out_of_place(prog)
        ours = _vmapped(_as_function(prog, "minigrad"), arrays, dims, prog).data
    examples = [_example(prog, arrays, dims, b) for b in range(B)]
    with np.errstate(all="ignore"):
        loop = [run_minigrad(ex)[0] for ex in examples]
    torch_too = prog.dtype == np.float64 and _oracle(prog)
    ref = _torch_vmap(prog, arrays, dims) if torch_too else None
    for b, ex in enumerate(examples):
        my, room = _sizes(ex)[0], allowance(ex)
        close(ours[b], loop[b].data, prog.dtype, f"forward under vmap (example {b}) against "
              "the loop", mag=my, noise=room.forward)
        if ref is not None:
            close(ours[b], ref[0][b], prog.dtype, f"forward under vmap (example {b}) "
                  "against torch.func.vmap", mag=my, noise=room.forward)
    if not all(y.requires_grad and np.all(np.isfinite(y.data)) for y in loop):
        return
    _compare_vmap_of_grad(prog, arrays, dims, examples, ours)


def _compare_vmap_of_grad(prog: Program, arrays: list[np.ndarray], dims: list[int | None],
                          examples: list[Program], forward: np.ndarray) -> None:
    """vmap(grad) of the objective against the loop of grad and torch.func's; δ = w + y is
    taken as large as either the batched forward or the example's own has it."""
    n = len(arrays)
    ours = _vmapped(minigrad.func.grad(_as_function(prog, "minigrad", prog.w),
                                       argnums=tuple(range(n))), arrays, dims, prog)
    torch_too = prog.dtype == np.float64 and _oracle(prog)
    ref = _torch_vmap(prog, arrays, dims, prog.w) if torch_too else None
    names = [lf.name for lf in _diff(prog)]
    for b, ex in enumerate(examples):
        with np.errstate(all="ignore"):
            y, env = run_minigrad(ex)
            gs = minigrad.grad(objective(y, minigrad.Tensor(ex.w)),
                               [env[lf.name] for lf in _diff(ex)], allow_unused=True)
            w64 = ex.w.astype(np.float64)
            delta = np.maximum(np.abs(w64 + y.data), np.abs(w64 + forward[b]))
        noise = allowance(ex).carried(float(np.max(delta[np.isfinite(delta)], initial=0.0)))
        mags = _sizes(ex)[1]
        for k, g in enumerate(_zeros_for_none(gs, [lf.array for lf in _diff(ex)])):
            what = f"gradient of {names[k]} under vmap (example {b}) against"
            close(ours[k].data[b], g, prog.dtype, f"{what} the loop", mag=mags[k], noise=noise)
            if ref is not None:
                close(ours[k].data[b], ref[k][b], prog.dtype, f"{what} torch.func.vmap",
                      mag=mags[k], noise=noise)



def check(prog: Program, compare: Callable[..., None] | None = None, *args: Any) -> None:
    """`compare` (by default: with PyTorch, or with central differences for an op without a
    counterpart) on the program; a failure shows the program as a runnable snippet."""
    try:
        if compare is not None:
            compare(prog, *args)
        elif _oracle(prog):
            compare_with_torch(prog)
        else:
            compare_with_differences(prog)
    except Exception as e:
        ops = " → ".join(s.op.name for s in prog.steps)
        if compare is not None:
            ops = f"{compare.__name__}{args or ''}: {ops}"
        replay = f"\n(seed {SEED}: MINIGRAD_FUZZ=long MINIGRAD_FUZZ_SEED={SEED} replays the run)" \
            if LONG else ""
        raise AssertionError(
            f"{ops} ({prog.dtype}): {type(e).__name__}: {e}\n\n"
            f"The program, as a runnable snippet:\n\n{snippet(prog)}\n{replay}") from None


def _dtypes(op: Any) -> list[str]:
    return ["float64", "float32"] if counterpart(op) is not None else ["float64"]


def test_the_fuzzer_can_generate_every_registered_op():
    unknown = unknown_ops()
    assert not unknown, (
        "the fuzzer does not know how to generate these ops; give each cases that run in "
        "minigrad/opinfo/table.py (and `torch` when PyTorch has the op):\n" + "\n".join(
            f"  {name}: {why}" for name, why in sorted(unknown.items())))


@pytest.mark.parametrize("name", OPS_AT_COLLECTION)
@seeded
@settings(PROFILE)
@given(data=st.data())
def test_fuzz_each_op(name: str, data: Any) -> None:
    if name not in REGISTRY:
        pytest.skip(f"{name} was removed from the registry by another test")
    op = REGISTRY[name]
    check(data.draw(programs([op], chain=False, dtypes=_dtypes(op)), label="program"))


@seeded
@settings(PROFILE, max_examples=2000 if LONG else 30)
@given(data=st.data())
def test_fuzz_random_programs(data: Any) -> None:
    """Chains over every op registered by now, including ops declared after collection."""
    ops = [op for op in REGISTRY.values() if counterpart(op) is not None]
    check(data.draw(programs(ops), label="program"))


@seeded
@settings(PROFILE, max_examples=200 if LONG else 6)
@given(data=st.data())
def test_fuzz_ops_without_pytorch_counterpart(data: Any) -> None:
    ops = [op for op in REGISTRY.values()
           if counterpart(op) is None and not unknown_ops().get(op.name)]
    if not ops:
        return
    check(data.draw(programs(ops, chain=False, dtypes=["float64"]), label="program"))


@st.composite
def batch_axes(draw: Any, prog: Program) -> list[int | None]:
    """Where each floating point leaf carries the batch: first, last or not at all (shared),
    at least one of them batched."""
    dims = [draw(st.sampled_from([None, 0, -1] if lf.array.ndim else [None, 0]))
            for lf in _diff(prog)]
    return dims if any(d is not None for d in dims) else [0] + dims[1:]


def _with_oracle() -> list[Any]:
    return [op for op in REGISTRY.values() if counterpart(op) is not None]


@pytest.mark.parametrize("name", OPS_AT_COLLECTION)
@seeded
@settings(PROFILE, max_examples=max(PROFILE.max_examples // 10, 1) if LONG else 1)
@given(data=st.data())
def test_fuzz_each_op_under_jvp_and_vmap(name: str, data: Any) -> None:
    if name not in REGISTRY:
        pytest.skip(f"{name} was removed from the registry by another test")
    op = REGISTRY[name]
    prog = data.draw(programs([op], chain=False, dtypes=["float64"]), label="program")
    if counterpart(op) is not None:
        check(prog, compare_jvp)
    check(prog, compare_vmap, data.draw(batch_axes(prog), label="in_dims"))


@seeded
@settings(PROFILE, max_examples=PROFILE.max_examples if LONG else 8)
@given(data=st.data())
def test_fuzz_jvp_of_random_programs(data: Any) -> None:
    """Forward mode on chains over every op with a counterpart, float64."""
    check(data.draw(programs(_with_oracle(), dtypes=["float64"]), label="program"), compare_jvp)


@seeded
@settings(PROFILE, max_examples=PROFILE.max_examples if LONG else 8)
@given(data=st.data())
def test_fuzz_vmap_of_random_programs(data: Any) -> None:
    """vmap and vmap of the gradient on chains over every op with a counterpart."""
    prog = data.draw(programs(_with_oracle()), label="program")
    check(prog, compare_vmap, data.draw(batch_axes(prog), label="in_dims"))


# --------------------------------------------------------------------------- replays
def _replay(dtype: str, op: str, arrays: list[Any], then: tuple[Any, ...] = (),
            **params: Any) -> Program:
    """One op on the given leaves, then each (op, params) of `then` on the previous result, or
    (op, params, array) on a fresh leaf and the previous result, with the objective's w and v
    drawn as `programs` draws them (rng seed 0), so a failure the fuzzer met runs again as
    it did."""
    def leaf(a: Any) -> Leaf:
        a = np.asarray(a)
        return Leaf(f"x{len(leaves)}", a if a.dtype.kind == "b" else a.astype(dtype))

    leaves: list[Leaf] = []
    for a in arrays:
        leaves.append(leaf(a))
    steps = [Step(REGISTRY[op], [lf.name for lf in leaves], params, None, params, "y0")]
    for k, (name, p, *other) in enumerate(then, 1):
        args = [f"y{k - 1}"]
        if other:
            leaves.append(leaf(other[0]))
            args.insert(0, leaves[-1].name)
        steps.append(Step(REGISTRY[name], args, p, None, p, f"y{k}"))
    prog = Program(np.dtype(dtype), leaves, steps)
    rng = np.random.default_rng(0)
    with np.errstate(all="ignore"):
        shape = run_minigrad(prog)[0].shape
    prog.w = rng.standard_normal(shape).astype(dtype)
    prog.v = [rng.standard_normal(lf.array.shape).astype(dtype)
              for lf in leaves if lf.differentiable]
    return prog


_BN = {"training": True, "momentum": 0.1, "eps": 1e-05,
       "running_mean": np.array([-0.2002881, -0.07731278, -0.47168034]),
       "running_var": np.array([0.68642491, 1.50593662, 1.47078431])}
_MASK = np.array([[[[True, True, True, True], [True, True, True, True],
                    [True, True, True, False]]],
                  [[[True, False, True, True], [True, True, False, True],
                    [True, True, True, True]]]])
_KEYS = np.array([[0.0, -1e150], [-1e150, -1e150], [-1e150, -1e150], [-1e150, -1e150]])

# Programs the fuzzer failed on, each with what was wrong. The reference's own rounding:
REPLAYS = {
    # float32 PyTorch: the mean of four −1e30 off by one rounding, over √ε: 1.5e29 for an
    # exact 0 (now the reference runs in float64)
    "batch_norm-float32-equal-inputs": _replay(
        "float32", "batch_norm", [np.full((4, 3), -1e30), np.full(3, 1e4), np.zeros(3)],
        **{k: np.asarray(v, np.float32) if isinstance(v, np.ndarray) else v
           for k, v in _BN.items()}),
    # float64 PyTorch: the same rounding of a mean, magnified by γ = 1e4 beyond the noise
    # allowed (now the reference normalizes x − mean(x))
    "batch_norm-float64-equal-inputs": _replay(
        "float64", "batch_norm", [np.full((4, 3), -1e150), np.full(3, 1e4), np.zeros(3)],
        **_BN),
    # float32 PyTorch's second order: 13312 for 12795.8
    "layer_norm-float32-equal-inputs": _replay(
        "float32", "layer_norm", [np.full(3, -1e4)], normalized_shape=(3,), eps=1e-05),
    # float64 PyTorch's backward rounds x̂ = x/σ − μ/σ: 1e139 for 155…468
    "layer_norm-float64-weight-1e150": _replay(
        "float64", "layer_norm", [np.full((4, 3), 1.625), np.full(3, -1e150)],
        normalized_shape=(3,), eps=1e-05),
    # the CPU flash attention kernel has no double backward (now the math backend)
    "attention-float64-mask-second-order": _replay(
        "float64", "scaled_dot_product_attention",
        [np.zeros((2, 2, 3, 2)), np.zeros((2, 2, 4, 2)), np.zeros((2, 2, 4, 2)), _MASK]),
    # PyTorch's second order of softmax: terms of ε·|δ|·|K|² ≈ 1e284 cancel and swallow
    # H v at the queries (3e149) or the keys (1e150), returned as 0
    "attention-float64-keys-at-1e150": _replay(
        "float64", "scaled_dot_product_attention",
        [np.zeros((3, 2)), _KEYS, np.ones((4, 3))]),
    "attention-float64-queries-at-1e150": _replay(
        "float64", "scaled_dot_product_attention",
        [np.full((3, 2), -1e150), np.zeros((4, 2)), np.ones((4, 3))]),
    "attention-float64-queries-and-keys-at-1e150": _replay(
        "float64", "scaled_dot_product_attention",
        [np.full((3, 2), -1e150), np.full((4, 2), -1e150), np.ones((4, 3))]),
    # the Hessian of std at a spread s has terms of size |δ|/s that cancel: both libraries
    # return their rounding, 1e12 or more, where H v is 0.19 (now allowed)
    "std-float64-tiny-spread": _replay(
        "float64", "std", [np.array([0.0, 1e-30])], axis=None, keepdims=False, ddof=0),
    "masked_fill-std-float64-tiny-spread": _replay(
        "float64", "masked_fill", [np.full((2, 3), 1e-30),
                                   np.array([[True, True, True], [True, True, False]])],
        then=(("std", {"axis": None, "keepdims": False, "ddof": 0}),), value=0.0),
    # float32: the mean square of 1e-30 underflows to 0 and relu'(0) = 0, as in PyTorch's
    # float32, where the float64 reference has relu'(1e-60) = 1 (now allowed)
    "mse_loss-relu-float32-underflow": _replay(
        "float32", "mse_loss", [np.zeros((4, 2)), np.full((4, 2), 1e-30)],
        then=(("relu", {}),)),
    # a convolution whose sums tie at the largest (see test_no_max_or_logsumexp_after_...)
    "conv2d-float64-weights-at-1e150": _replay(
        "float64", "conv2d", [np.where(np.arange(60).reshape(1, 2, 6, 5) == 1, -1.0, 1.0),
                              np.full((3, 2, 2, 3), -1e150), np.zeros(3)],
        stride=(2, 1), padding=(1, 2), dilation=(1, 1), groups=1),
    # H v of sigmoid(log x) at x = 1e-300 is −0.099, made of terms of 1e300 (1/x²):
    # PyTorch gives −2.3e282 (and 0 by forward mode over the gradient), minigrad 0
    "log-sigmoid-float64-tiny": _replay("float64", "log", [np.array(1e-300)],
                                        then=(("sigmoid", {}),)),
    # PyTorch: the var of three equal 1e30 (from maximum) is 2e28, the square of the
    # rounding of their mean (now allowed: (ε·|x|)²)
    "maximum-var-float64-equal-values": _replay(
        "float64", "maximum", [np.array(1e30), np.zeros((3, 1, 1))],
        then=(("var", {"axis": None, "keepdims": False, "ddof": 0}),)),
    # the sum of a batch norm with γ = 1e30 cancels to its rounding, −1.4e14 here and 0.1 in
    # PyTorch: δ = w + y is 1e15 times PyTorch's, and so is the rounding of the gradient
    # (now the allowance takes the larger δ of the two)
    "batch_norm-sum-float64-weight-1e30": _replay(
        "float64", "batch_norm", [np.array([[0.0, 0.5], [0.0, 2.0], [0.0, 0.0]]),
                                  np.array([1.0, 1e30])],
        then=(("sum", {"axis": None, "keepdims": False}),), training=True, momentum=0.5,
        eps=1e-05),
    # minigrad (tests/test_regressions.py has each alone):
    # δ = 1e330 overflowed to ∞, and the input maximum did not pick got ∞·0 = NaN
    "maximum-mul-float64-overflowed-delta": _replay(
        "float64", "maximum", [np.zeros((1, 1)), np.array(1e30)],
        then=(("mul", {}, np.array([[-1e150]])),)),
    # float32: δ = 1e60 overflowed to ∞ before std's masked rule for a constant input
    # multiplied it by 0: NaN in H v
    "std-exp-mul-float32-overflowed-delta": _replay(
        "float32", "std", [np.array([0.0])],
        then=(("exp", {}), ("mul", {}, np.array([-1e30]))), axis=None, keepdims=True, ddof=0),
    # setitem over everything, then a product with −1e30 in float32: NaN in H v
    "setitem-mul-float32-overwritten": _replay(
        "float32", "setitem", [np.zeros((2, 3)), np.array(0.0)],
        then=(("mul", {}, np.full((2, 3), -1e30)),), index=Ellipsis),
    # var's rule centred x on its rounded mean: for 27 equal −1e150 that is off by a
    # rounding, and the square of var' = 2(x − x̄)/n gave H v of 6e266 for 0.01
    "var-float64-equal-values": _replay(
        "float64", "var", [np.full((3, 3, 3), -1e150)], axis=None, keepdims=False, ddof=0),
    # the same for the gradient of var after a convolution of equal values
    "conv_input_grad-var-float64-equal-values": _replay(
        "float64", "conv_input_grad", [np.full((1, 3, 4, 7), -1e150),
                                       np.full((3, 2, 2, 3), -1e30)],
        then=(("var", {"axis": None, "keepdims": False, "ddof": 0}),),
        stride=(2, 1), padding=(1, 2), dilation=(1, 1), groups=1, input_shape=(1, 2, 6, 5)),
    # δ·p·(p − 1) = ∞ times 0.75^1e30 = 0, NaN in H v
    "pow-float32-huge-exponent": _replay("float32", "pow", [np.array(0.75), np.array(1e30)]),
    # x − μ of equal values was the rounding of μ, normalized to x̂ = ±1
    "layer_norm-float64-equal-rows": _replay(
        "float64", "layer_norm", [np.full((4, 3), -1e30), np.full(3, -1e150)],
        normalized_shape=(3,), eps=1e-05),
    # float32 second order: δγ = 1e34 times σ⁻³ = 3e7 overflowed before x − μ = 0
    "layer_norm-float32-huge-bias": _replay(
        "float32", "layer_norm", [np.zeros((1, 5)), np.array([-1e4, 0, 0, 0, 0]),
                                  np.full(5, -1e30)], normalized_shape=(5,), eps=1e-05),
    # float32 (x − μ)² overflowed: x̂ = 0 (as in PyTorch's float32, which the reference
    # was before it ran in float64); and in second order γ·δ = 1e60 overflowed
    "batch_norm-float32-weight-1e30": _replay(
        "float32", "batch_norm", [np.array([[-1e30, -1e30, 0.0]] + [[-1e30] * 3] * 3),
                                  np.array([1.0, 1.0, 1e30]), np.zeros(3)],
        **{k: np.asarray(v, np.float32) if isinstance(v, np.ndarray) else v
           for k, v in _BN.items()}),
}


@pytest.mark.parametrize("name", sorted(REPLAYS))
def test_programs_the_fuzzer_failed_on(name: str) -> None:
    check(REPLAYS[name])


_CONV_GRAD = {"stride": (2, 1), "padding": (1, 2), "dilation": (1, 1), "groups": 1}
_SPREAD = np.array([1e150, -1e150, 1.5, -2.0, 0.0, 1e-30, 3e149])


def _digits(s: str) -> np.ndarray:
    return np.array([int(c) for c in s])


# Programs the function-transform checks failed on: (program, compare, in_dims)
TRANSFORM_REPLAYS = {
    # the op table's conv_input_grad differentiates with torch.autograd.grad and detaches
    # when no input requires grad: under torch.func.jvp its tangent was 0 (now
    # fuzz_programs.TRANSFORMABLE)
    "conv_input_grad-jvp-reference-detached": (_replay(
        "float64", "conv_input_grad", [np.linspace(-1, 1, 84).reshape(1, 3, 4, 7),
                                       np.linspace(2, -1, 36).reshape(3, 2, 2, 3)],
        input_shape=(1, 2, 6, 5), **_CONV_GRAD), "jvp", None),
    "conv_weight_grad-jvp-reference-detached": (_replay(
        "float64", "conv_weight_grad", [np.linspace(-1, 1, 60).reshape(1, 2, 6, 5),
                                        np.linspace(2, -1, 84).reshape(1, 3, 4, 7)],
        kernel_size=(2, 3), **_CONV_GRAD), "jvp", None),
    # ``y = x.copy(); y[1] = v`` with x shared and v batched: vmap refuses the write, as
    # torch.func.vmap does; the fuzzer checks the out-of-place setitem then
    "setitem-in-place-vmap-shared-target": (
        _replay("float64", "setitem", [np.zeros((2, 3)), np.ones(3)], index=1), "vmap",
        [None, 0]),
    # sums of ±1e150·1e150 that cancel, in another order under vmap: the allowance needs the
    # magnitudes on |x|, which were lost for a 0-d output (np.abs of a 0-d array is a scalar,
    # which torch.from_numpy refuses)
    "conv_input_grad-sum-vmap-cancelling": (_replay(
        "float64", "conv_input_grad",
        [_SPREAD[_digits("413354526251311453336013642366263043446251"
                         "524520222104064066634412103253453520042515")].reshape(1, 3, 4, 7),
         _SPREAD[_digits("236652320421231446664145425501354501")].reshape(3, 2, 2, 3)],
        then=(("sum", {"axis": None, "keepdims": False}),), input_shape=(1, 2, 6, 5),
        **_CONV_GRAD), "vmap", [0, None]),
}


@pytest.mark.parametrize("name", sorted(TRANSFORM_REPLAYS))
def test_programs_the_transform_checks_failed_on(name: str) -> None:
    prog, how, dims = TRANSFORM_REPLAYS[name]
    if how == "jvp":
        check(prog, compare_jvp)
    else:
        check(prog, compare_vmap, dims)


def test_magnitudes_of_a_program_with_a_0_d_output_and_leaf() -> None:
    prog = _replay("float64", "mul", [np.array(-1e150), np.array(2.0)],
                   then=(("sum", {"axis": None, "keepdims": False}),))
    my, mg_, _ = _magnitudes(prog)
    assert my is not None and float(my) == 2e150
    assert [float(g) for g in mg_] == [2.0 * (abs(float(prog.w)) + 2e150),
                                       1e150 * (abs(float(prog.w)) + 2e150)]


def test_no_kink_after_a_sum_that_cancels() -> None:
    # the fuzzer met conv2d → leaky_relu (float64) under jvp: a window holding 1e30 and
    # −1e30 under weights of 0.75 sums to 0 in PyTorch and to 7e13 (the rounding of the
    # products, kept by fused multiply-adds) here, on either side of the kink; the chain now
    # takes a smooth op (neg) after entries within their rounding of a kink
    x = np.zeros((2, 3, 5, 5))
    x[1, 1, 1, 0], x[1, 2, 0, 0] = 1e30, -1e30
    conv = _replay("float64", "conv2d", [x, np.full((4, 3, 3, 3), 0.75), np.zeros(4)],
                   stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1)
    assert near_kink(conv, REGISTRY["leaky_relu"], {"negative_slope": 0.1})
    assert near_kink(conv, REGISTRY["sigmoid"], {})  # sigmoid(7e13) = 1, sigmoid(0) = ½
    assert not near_kink(conv, REGISTRY["neg"], {})
    ordinary = _replay("float64", "mul", [np.array([0.5, -2.0]), np.array([3.0, 0.0])])
    assert not near_kink(ordinary, REGISTRY["relu"], {})  # an exact 0 of exact inputs
    assert near_kink(ordinary, REGISTRY["clip"], {"min": 1.5, "max": None})


def test_no_max_or_logsumexp_after_near_ties() -> None:
    # the fuzzer met conv2d → logsumexp (float64) on weights of −1e150: which sums of the
    # convolution tie at the largest depends on the order of its additions, logsumexp there
    # is a max, and minigrad and PyTorch shared δ among 2 and 4 entries; and mean → maximum,
    # where the mean of twelve equal values ties a leaf of the same value in one library and
    # not in the other. The chain now takes a sum (an add) after results with entries equal
    # or a few roundings apart (from the fresh leaf's)
    conv = REPLAYS["conv2d-float64-weights-at-1e150"]
    assert near_ties(run_minigrad(conv)[0].data)
    assert not near_ties(np.array([1.0, 2.0, -3.0, 1e150, 1.5e150]))
    x = minigrad.Tensor(np.full((3, 4), 1.3561800718378239)).mean(keepdims=True)
    assert near_ties(x.data, np.array([[1.3561800718378239]]))
    assert not near_ties(x.data, np.array([[1.3561810718378239]]))
