"""Gradient checks against central finite differences, `(f(x + ε) − f(x − ε)) / 2ε`, in float64."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minigrad.autograd import grad
from minigrad.modes import enable_grad, no_grad
from minigrad.tensor import Tensor

__all__ = ["GradcheckError", "gradcheck", "gradgradcheck", "numerical_jacobian",
           "analytical_jacobian"]


class GradcheckError(AssertionError):
    """Autograd and finite differences disagree; the message names where and by how much."""


def _inputs(inputs: Any) -> list[Tensor]:
    xs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    for i, x in enumerate(xs):
        if not isinstance(x, Tensor):
            raise TypeError(f"gradcheck: input {i} is a {type(x).__name__}, not a Tensor")
        if x.requires_grad and x.dtype != np.float64:
            raise TypeError(
                f"gradcheck: input {i} is {x.dtype}; finite differences need float64 (in float32 "
                f"their rounding error is about 1e-3, larger than the tolerance). Use "
                f"x.double() or dtype='float64'."
            )
    return xs


def _flat_output(fn: Callable[..., Any], xs: Sequence[Tensor]) -> np.ndarray:
    with no_grad():
        out = fn(*[Tensor._wrap(x.data.copy()) for x in xs])
    return np.array(out.data if isinstance(out, Tensor) else out, dtype=np.float64).ravel()


def numerical_jacobian(fn: Callable[..., Any], inputs: Any, eps: float = 1e-6) -> list[np.ndarray]:
    """One (output size × input size) matrix per input, by central differences."""
    xs = _inputs(inputs)
    jacs = []
    for k, x in enumerate(xs):
        if not x.requires_grad:
            jacs.append(np.zeros((0, 0)))
            continue
        cols = []
        base = x.data
        for j in range(base.size):
            shifted = []
            for sign in (1.0, -1.0):
                moved = base.copy()
                moved.flat[j] += sign * eps
                args = list(xs)
                args[k] = Tensor._wrap(moved)
                shifted.append(_flat_output(fn, args))
            cols.append((shifted[0] - shifted[1]) / (2 * eps))
        m = _flat_output(fn, xs).size
        jacs.append(np.stack(cols, axis=1) if cols else np.zeros((m, 0)))
    return jacs


def analytical_jacobian(fn: Callable[..., Any], inputs: Any) -> list[np.ndarray]:
    """The same matrices from autograd: one backward per output element."""
    xs = _inputs(inputs)
    out = fn(*xs)
    wanted = [x for x in xs if x.requires_grad]
    m = out.data.size
    rows: list[list[np.ndarray]] = [[] for _ in wanted]
    for j in range(m):
        seed = np.zeros(out.shape, dtype=out.dtype)
        seed.flat[j] = 1.0
        if out.requires_grad:
            gs = grad(out, wanted, grad_outputs=seed, retain_graph=True, allow_unused=True)
        else:
            gs = tuple(None for _ in wanted)
        for r, g, x in zip(rows, gs, wanted):
            r.append(np.zeros(x.numel()) if g is None else np.asarray(g.data, np.float64).ravel())
    it = iter(rows)
    return [
        (np.stack(next(it)) if m else np.zeros((0, x.numel())))
        if x.requires_grad
        else np.zeros((0, 0))
        for x in xs
    ]


def gradcheck(
    fn: Callable[..., Any],
    inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Checks autograd's gradients of `fn` at `inputs` against central differences.

    Every input that requires grad must be float64. Passes when, for every Jacobian entry,
    ``|analytic − numeric| ≤ atol + rtol·|numeric|``. On failure raises `GradcheckError`
    naming the input, the worst entry's (output, input) index and both values; with
    ``raise_exception=False`` returns False instead.
    """
    xs = _inputs(inputs)
    if not any(x.requires_grad for x in xs):
        raise ValueError("gradcheck: no input requires grad; nothing to check")
    num = numerical_jacobian(fn, xs, eps)
    ana = analytical_jacobian(fn, xs)
    for k, (x, n, a) in enumerate(zip(xs, num, ana)):
        if not x.requires_grad:
            continue
        err = np.abs(a - n) - (atol + rtol * np.abs(n))
        bad = ~(err <= 0)  # NaN counts as a failure
        if bad.any():
            worst = np.unravel_index(np.nanargmax(np.where(bad, np.abs(a - n), -np.inf))
                                     if not np.isnan(a - n).all() else 0, err.shape)
            o, i = int(worst[0]), int(worst[1])
            idx = np.unravel_index(i, x.shape) if x.shape else ()
            msg = (
                f"gradcheck failed for input {k} (shape {x.shape}) at element "
                f"{tuple(map(int, idx))} for output element {o}: analytic {float(a[o, i])!r}, "
                f"numeric {float(n[o, i])!r}, "
                f"difference {abs(a[o, i] - n[o, i]):.3g} (atol {atol}, rtol {rtol}); "
                f"{int(bad.sum())} of {bad.size} Jacobian entries disagree"
            )
            if raise_exception:
                raise GradcheckError(msg)
            return False
    return True


def gradgradcheck(
    fn: Callable[..., Any],
    inputs: Any,
    grad_outputs: Any = None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Checks second derivatives: gradchecks ``x ↦ ∇x ⟨fn(x), v⟩`` (built with
    ``create_graph=True``) for a fixed random upstream `v` (or `grad_outputs`)."""
    from minigrad import ops

    xs = _inputs(inputs)
    with no_grad():
        shape = fn(*xs).shape
    v = (np.random.default_rng(0).standard_normal(shape) if grad_outputs is None
         else np.asarray(grad_outputs.data if isinstance(grad_outputs, Tensor) else grad_outputs))
    wanted = [i for i, x in enumerate(xs) if x.requires_grad]

    def first_grads(*args: Tensor) -> Tensor:
        with enable_grad():
            return _first_grads(args)

    def _first_grads(args: Sequence[Tensor]) -> Tensor:
        # finite differences pass constants; they need a gradient here all the same
        args = [a.detach().requires_grad_() if i in wanted and not a.requires_grad else a
                for i, a in enumerate(args)]
        out = fn(*args)
        gs = grad(out, [args[i] for i in wanted], grad_outputs=v.astype(out.dtype),
                  create_graph=True, allow_unused=True)
        parts = [g.reshape(-1) for g in gs if g is not None]
        return ops.concatenate(parts) if parts else Tensor(np.zeros(0))

    return gradcheck(first_grads, xs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
