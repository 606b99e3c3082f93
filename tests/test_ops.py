"""Walks the whole op registry, joined with the op table (`minigrad.opinfo`): every op is
gradchecked in float64 over its cases, keeps float32 as float32, and matches PyTorch where
torch is installed. An op without cases in the table fails here."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import minigrad
from minigrad import opinfo
from minigrad.function import apply
from minigrad.ops import REGISTRY

BUILTIN = sorted(name for name, op in REGISTRY.items() if op.builtin)  # not test ops


def _tensors(inputs: tuple[np.ndarray, ...], dtype: Any) -> list[minigrad.Tensor]:
    out = []
    for a in inputs:
        a = np.asarray(a)
        if a.dtype.kind == "f":
            out.append(minigrad.Tensor(a.astype(dtype), requires_grad=True))
        else:
            out.append(minigrad.Tensor(a))
    return out


def _cases(op: Any, dtype: Any) -> list[tuple[tuple[np.ndarray, ...], dict[str, Any]]]:
    return opinfo.cases(op, np.random.default_rng(0), dtype)


def test_expected_ops_are_registered() -> None:
    expected = {
        "add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs", "clip",
        "maximum", "minimum", "where", "relu", "leaky_relu", "sigmoid", "tanh", "softplus",
        "gelu", "sum", "mean", "max", "min", "var", "std", "logsumexp", "reshape", "transpose",
        "broadcast_to", "squeeze", "unsqueeze", "concatenate", "stack", "getitem", "matmul",
        "softmax", "log_softmax", "cross_entropy", "nll_loss", "mse_loss",
        "binary_cross_entropy_with_logits",
    }
    assert expected <= set(REGISTRY)


@pytest.mark.parametrize("name", BUILTIN)
def test_every_op_declares_formulas_and_cases(name: str) -> None:
    op = REGISTRY[name]
    assert opinfo.find(op) is not None, f"op {name} has no gradient-check cases"
    assert op.formula and all(op.grad_formulas)
    assert len(_cases(op, np.float64)) >= 1


@pytest.mark.parametrize("name", BUILTIN)
def test_gradcheck_every_op(name: str) -> None:
    op = REGISTRY[name]
    for inputs, params in _cases(op, np.float64):
        xs = _tensors(inputs, np.float64)
        if not any(x.requires_grad for x in xs):
            continue
        minigrad.gradcheck(lambda *a, op=op, params=params: apply(op, *a, **params), xs)


@pytest.mark.parametrize("name", BUILTIN)
def test_second_order_every_op(name: str) -> None:
    """VJPs are written with minigrad ops, so each is itself differentiable: on every case,
    since each exercises another branch of the VJP (axes None, a 1-D operand, an index)."""
    op = REGISTRY[name]
    checked = 0
    for inputs, params in _cases(op, np.float64):
        xs = _tensors(inputs, np.float64)
        if not any(x.requires_grad for x in xs) or not all(np.size(a) for a in inputs):
            continue
        minigrad.gradgradcheck(lambda *a, params=params: apply(op, *a, **params), xs,
                               atol=1e-4, rtol=1e-3)
        checked += 1
    assert checked, f"{name}: no case with a differentiable, non-empty input"


def _grads_and_hvp(fn: Any, xs: list[minigrad.Tensor], w: np.ndarray,
                   vs: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """fn's output, ∇x ⟨fn(x), w⟩ and the Hessian-vector product of ⟨fn(x), w⟩ + ½‖fn(x)‖²
    with v (the square term makes the second derivative of a linear op non-zero)."""
    out = fn(*xs)
    diff = [x for x in xs if x.requires_grad]
    loss = (out * minigrad.Tensor(w)).sum() + 0.5 * (out * out).sum()
    gs = minigrad.grad(loss, diff, create_graph=True, allow_unused=True)
    g1 = [np.zeros(x.shape) if g is None else g.data.copy() for g, x in zip(gs, diff)]
    used = [(g, v, x) for g, v, x in zip(gs, vs, diff) if g is not None and g.requires_grad]
    if not used:
        return out.data, g1, [np.zeros(x.shape) for x in diff]
    s = sum((g * minigrad.Tensor(v)).sum() for g, v, _ in used)
    hs = minigrad.grad(s, diff, allow_unused=True)
    return out.data, g1, [np.zeros(x.shape) if h is None else h.data for h, x in zip(hs, diff)]


@pytest.mark.parametrize("name", BUILTIN)
def test_every_calling_convention_matches_apply(name: str) -> None:
    """Operators, methods, functions, negative and tuple axes, PyTorch's keyword names and
    ``x.T`` reach the same op: same output, same gradients and same Hessian-vector product
    (under create_graph) as ``apply`` with the op's own parameters."""
    op = REGISTRY[name]
    rng = np.random.default_rng(3)
    for inputs, params in _cases(op, np.float64):
        shapes = tuple(np.shape(a) for a in inputs)
        xs = _tensors(inputs, np.float64)
        if not any(x.requires_grad for x in xs):
            continue
        out = apply(op, *xs, **params)
        w = rng.standard_normal(out.shape)
        vs = [rng.standard_normal(x.shape) for x in xs if x.requires_grad]
        ref = _grads_and_hvp(lambda *a, params=params: apply(op, *a, **params), xs, w, vs)
        for c in opinfo.info(op).calls:
            p = c.params_for(params, shapes)
            if p is None:
                continue
            where = f"{name}: {c.source([f'x{i}' for i in range(len(xs))], p)}"
            got = _grads_and_hvp(lambda *a, c=c, p=p: c.fn(*a, **p), xs, w, vs)
            np.testing.assert_allclose(got[0], ref[0], rtol=1e-12, atol=1e-12,
                                       err_msg=f"{where}: forward")
            for k, (a, b) in enumerate(zip(got[1], ref[1])):
                np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12,
                                           err_msg=f"{where}: gradient of input {k}")
            for k, (a, b) in enumerate(zip(got[2], ref[2])):
                np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12,
                                           err_msg=f"{where}: Hessian-vector product, input {k}")


@pytest.mark.parametrize("name", BUILTIN)
def test_float32_stays_float32(name: str) -> None:
    op = REGISTRY[name]
    for inputs, params in _cases(op, np.float32):
        if params.get("dtype") is not None:
            continue  # astype changes dtype on purpose
        xs = _tensors(inputs, np.float32)
        out = apply(op, *xs, **params)
        assert out.dtype == np.float32, f"{name} gave {out.dtype}"
        if out.requires_grad:
            out.backward(np.ones(out.shape, np.float32))
            for x in xs:
                if x.requires_grad:
                    assert x.grad is not None and x.grad.dtype == np.float32, name
                    assert x.grad.shape == x.shape


torch = None
try:  # the differential tests need torch; everything else runs without it
    import torch  # type: ignore[no-redef]  # noqa: E402
except ImportError:  # pragma: no cover
    pass


def _to_torch(a: np.ndarray, requires_grad: bool) -> Any:
    t = torch.from_numpy(np.array(a))
    return t.requires_grad_(requires_grad) if requires_grad else t


def _torch_params(name: str, params: dict[str, Any]) -> dict[str, Any]:
    if name in ("sum", "mean", "logsumexp") and params.get("axis") is None:
        return {**params, "axis": None}
    return params


@pytest.mark.parametrize("name", BUILTIN)
def test_matches_torch(name: str) -> None:
    if torch is None:
        pytest.skip("torch is not installed")
    op = REGISTRY[name]
    found = opinfo.find(op)
    counterpart = None if found is None else found.torch
    if counterpart is None:
        pytest.skip(f"{name} has no PyTorch counterpart declared")
    rng = np.random.default_rng(7)
    for inputs, params in _cases(op, np.float64):
        xs = _tensors(inputs, np.float64)
        out = apply(op, *xs, **params)
        ts = [_to_torch(np.asarray(a), x.requires_grad) for a, x in zip(inputs, xs)]
        ts = [t.to(torch.float64) if t.is_floating_point() else t for t in ts]
        tout = counterpart(*ts, **_torch_params(name, params))
        np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12, atol=1e-12,
                                   err_msg=f"{name} forward {params}")
        if not out.requires_grad:
            continue
        w = rng.standard_normal(out.shape)
        gs = minigrad.grad(out, [x for x in xs if x.requires_grad], grad_outputs=w)
        tg = torch.autograd.grad(tout, [t for t in ts if t.requires_grad],
                                 grad_outputs=torch.from_numpy(w))
        for g, t in zip(gs, tg):
            np.testing.assert_allclose(g.data, t.numpy(), rtol=1e-10, atol=1e-12,
                                       err_msg=f"{name} gradient {params}")


@pytest.mark.parametrize("name", BUILTIN)
@pytest.mark.parametrize("scale", [1e300, 1e-300, 0.0])
def test_extreme_values_match_torch(name: str, scale: float) -> None:
    """Near the largest float, near the smallest and at zero, the forward gives PyTorch's
    answer (at 1e300: is finite wherever PyTorch's is; a forward that computed something
    only for its shape, or cubed its input, used to give ∞ or nan there)."""
    if torch is None:
        pytest.skip("torch is not installed")
    op = REGISTRY[name]
    found = opinfo.find(op)
    counterpart = None if found is None else found.torch
    if counterpart is None:
        pytest.skip(f"{name} has no PyTorch counterpart declared")
    for inputs, params in _cases(op, np.float64):
        big = tuple(np.asarray(a) * scale if np.asarray(a).dtype.kind == "f" else a
                    for a in inputs)
        ts = [torch.from_numpy(np.array(a)) for a in big]
        with np.errstate(all="ignore"):
            tout = counterpart(*ts, **_torch_params(name, params)).detach().numpy()
        xs = _tensors(big, np.float64)
        where = f"{name} forward at scale {scale} {params}"
        # rounding carried from the inputs: a constant row of 1e300 normalises to exactly 0
        # here and to 1e285 in PyTorch, whose mean is off by one rounding
        noise = 1e4 * np.finfo(np.float64).eps * max(
            [float(np.max(np.abs(a), initial=0.0)) for a in big if np.asarray(a).dtype.kind == "f"]
            + [0.0])
        # an intermediate may overflow (a variance of 1e300s is ∞ in PyTorch too); what
        # counts is the answer: finite wherever PyTorch's is, and the same
        with np.errstate(all="ignore"):
            out = apply(op, *xs, **params)
        fin = np.isfinite(tout)
        assert np.all(np.isfinite(out.data[fin])), where
        if scale > 1e150:
            continue  # PyTorch's own intermediates overflow there (a layer norm of 1e300s
            # is just its bias): past finiteness, it is no oracle
        if fin.all():
            np.testing.assert_allclose(out.data, tout, rtol=1e-12, atol=noise, err_msg=where)
        else:
            np.testing.assert_allclose(out.data[fin], tout[fin], rtol=1e-12, atol=noise,
                                       err_msg=where)
