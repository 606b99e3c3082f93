"""Differential fuzzer: random programs over every registered op (tests/fuzz_programs.py)
against PyTorch, forward, gradient and Hessian-vector product; central differences for an op
without a PyTorch counterpart. `make test` runs a small reproducible budget; `make fuzz`
(MINIGRAD_FUZZ=long) runs at length. A failure prints the shrunk program as a script."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fuzz_programs import (
    HVP_TOL,
    LONG,
    PROFILE,
    SEED,
    TOL,
    Program,
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

OPS_AT_COLLECTION = sorted(REGISTRY)

# at length, every test draws from the run's seed (fuzz_programs.SEED), so one number replays
# a failing run; the short mode keeps Hypothesis's derandomized, per-test draws
seeded = seed(SEED) if LONG else (lambda test: test)


def close(ours: np.ndarray, ref: np.ndarray, dtype: np.dtype, what: str,
          tol: dict[np.dtype, tuple[float, float]] = TOL, mag: Any = None,
          noise: float = 0.0) -> None:
    """Where the reference is finite, ours is finite and within the dtype's tolerance,
    relative to the largest magnitude of the reference or of `mag`, the same quantity
    computed on |x| (which bounds the rounding error of sums: 1.5·1e30 − 1.5·1e30 may
    round to 1e23 in float32); where the reference is not finite, neither is ours.

    `noise` is an absolute allowance for rounding carried from the largest quantity in play
    (an input, or δ at the output): normalising a constant row of 1e300 gives exactly 0 in
    exact arithmetic, 0 here and 1e285 in PyTorch, whose mean is off by one rounding."""
    ours, ref = np.asarray(ours, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape}, PyTorch {ref.shape}"
    fin = np.isfinite(ref)
    m = None if mag is None else np.abs(np.asarray(mag, dtype=np.float64))
    if m is not None and m.shape == ref.shape and np.any(m >= np.finfo(dtype).max):
        # the values on the way exceed the dtype's range: a rounding error of the forward
        # (1e23 for an exact 0) may overflow in the gradient; compare where both are finite
        fin &= np.isfinite(ours)
    bad = fin & ~np.isfinite(ours)
    assert not bad.any(), f"{what}: not finite at {np.argwhere(bad)[:5].tolist()} where " \
                          f"the reference is finite\n ours: {ours}\n ref:  {ref}"
    if what == "forward":
        inf = np.isinf(ref)
        assert np.array_equal(np.isinf(ours) & inf, inf) or not np.any(np.isnan(ours)[inf]), \
            f"{what}: the reference overflows where ours is {ours[inf]}"
    if not fin.any():
        return
    rtol, atol = tol[np.dtype(dtype)]
    scale = float(np.max(np.abs(ref[fin])))
    if m is not None:
        if m.shape == ref.shape and np.isfinite(m).any():
            scale = max(scale, float(np.max(m[np.isfinite(m)])))
    err = np.abs(ours[fin] - ref[fin])
    limit = atol + rtol * scale + noise
    assert np.all(err <= limit), (
        f"{what}: off by {err.max():.3g} (allowed {limit:.3g} = {atol:g} + {rtol:g} × "
        f"{scale:.3g})\n ours: {ours}\n ref:  {ref}")


def _zeros_for_none(gs: Any, like: list[np.ndarray]) -> list[np.ndarray]:
    return [np.zeros(x.shape) if g is None else np.asarray(
        g.detach().numpy() if hasattr(g, "detach") else g.data) for g, x in zip(gs, like)]


def _magnitudes(prog: Program) -> tuple[Any, list[Any], list[Any]]:
    """Forward, gradient and HVP of the program on |x|, |w|, |v| in float64 (for scales)."""
    try:
        ay, aenv = run_torch(prog, magnitudes=True)
        diff = [aenv[lf.name] for lf in prog.leaves if lf.differentiable]
        aL = objective(ay, torch.from_numpy(np.abs(prog.w.astype(np.float64))))
        ag = torch.autograd.grad(aL, diff, create_graph=True, allow_unused=True)
        used = [(g, torch.from_numpy(np.abs(v.astype(np.float64))))
                for g, v in zip(ag, prog.v) if g is not None and g.requires_grad]
        ah = torch.autograd.grad(sum((g * v).sum() for g, v in used), diff,
                                 allow_unused=True) if used else [None] * len(diff)
        like = [lf.array for lf in prog.leaves if lf.differentiable]
        return (ay.detach().numpy(), _zeros_for_none(ag, like), _zeros_for_none(ah, like))
    except (RuntimeError, ValueError, TypeError):
        return None, [None] * len(prog.leaves), [None] * len(prog.leaves)


def compare_with_torch(prog: Program) -> None:
    with np.errstate(all="ignore"):
        y, env = run_minigrad(prog)
        ty, tenv = run_torch(prog)
    my, mg_, mh = _magnitudes(prog)
    eps = 1e4 * float(np.finfo(prog.dtype).eps)
    big_in = max([float(np.max(np.abs(lf.array[np.isfinite(lf.array)]), initial=0.0))
                  for lf in prog.leaves if lf.differentiable] + [0.0])
    close(y.data, ty.detach().numpy(), prog.dtype, "forward", mag=my, noise=eps * big_in)
    if not np.all(np.isfinite(ty.detach().numpy())) or not ty.requires_grad:
        return  # nothing finite to differentiate; the forward agreed
    diff = [lf.name for lf in prog.leaves if lf.differentiable]
    xs, txs = [env[n] for n in diff], [tenv[n] for n in diff]
    like = [lf.array for lf in prog.leaves if lf.differentiable]
    with np.errstate(all="ignore"):
        L = objective(y, minigrad.Tensor(prog.w))
        gs = minigrad.grad(L, xs, create_graph=True, allow_unused=True)
    tL = objective(ty, torch.from_numpy(prog.w))
    tgs = torch.autograd.grad(tL, txs, create_graph=True, allow_unused=True)
    ours, ref = _zeros_for_none(gs, like), _zeros_for_none(tgs, like)
    with np.errstate(all="ignore"):
        delta = np.abs(prog.w.astype(np.float64) + ty.detach().numpy().astype(np.float64))
    big_delta = float(np.max(delta[np.isfinite(delta)], initial=0.0))
    for n, a, b, m in zip(diff, ours, ref, mg_):
        # δ times ∂y/∂x, which for a product of inputs is of the size of the other inputs
        close(a, b, prog.dtype, f"gradient of {n}", mag=m,
              noise=min(eps * big_delta * max(1.0, big_in), float(np.finfo(np.float64).max)))
    if not all(np.all(np.isfinite(r)) for r in ref):
        return
    # the Hessian-vector product H v of the objective, through create_graph
    used = [(g, v) for g, v in zip(gs, prog.v) if g is not None and g.requires_grad]
    tused = [(g, torch.from_numpy(v)) for g, v in zip(tgs, prog.v)
             if g is not None and g.requires_grad]
    if not tused:
        assert not used, "minigrad's gradient depends on the inputs, PyTorch's does not"
        return
    with np.errstate(all="ignore"):
        hs = minigrad.grad(sum((g * minigrad.Tensor(v)).sum() for g, v in used), xs,
                           allow_unused=True) if used else [None] * len(xs)
    ths = torch.autograd.grad(sum((g * v).sum() for g, v in tused), txs, allow_unused=True)
    for n, a, b, m in zip(diff, _zeros_for_none(hs, like), _zeros_for_none(ths, like), mh):
        close(a, b, prog.dtype, f"Hessian-vector product at {n}", HVP_TOL, mag=m,
              noise=min(eps * max(1.0, big_delta) * max(1.0, big_in),
                        float(np.finfo(np.float64).max)))


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


def check(prog: Program) -> None:
    try:
        if all(s.op.torch is not None for s in prog.steps):
            compare_with_torch(prog)
        else:
            compare_with_differences(prog)
    except Exception as e:
        ops = " → ".join(s.op.name for s in prog.steps)
        replay = f"\n(seed {SEED}: MINIGRAD_FUZZ=long MINIGRAD_FUZZ_SEED={SEED} replays the run)" \
            if LONG else ""
        raise AssertionError(
            f"{ops} ({prog.dtype}): {type(e).__name__}: {e}\n\n"
            f"The program, as a runnable snippet:\n\n{snippet(prog)}\n{replay}") from None


def _dtypes(op: Any) -> list[str]:
    return ["float64", "float32"] if op.torch is not None else ["float64"]


def test_the_fuzzer_can_generate_every_registered_op():
    unknown = unknown_ops()
    assert not unknown, (
        "the fuzzer does not know how to generate these ops; give each `examples=` that run "
        "(and `torch=` when PyTorch has the op):\n" + "\n".join(
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
    ops = [op for op in REGISTRY.values() if op.torch is not None]
    check(data.draw(programs(ops), label="program"))


@seeded
@settings(PROFILE, max_examples=200 if LONG else 6)
@given(data=st.data())
def test_fuzz_ops_without_pytorch_counterpart(data: Any) -> None:
    ops = [op for op in REGISTRY.values() if op.torch is None and not unknown_ops().get(op.name)]
    if not ops:
        return
    check(data.draw(programs(ops, chain=False, dtypes=["float64"]), label="program"))
