"""Walks the whole op registry: every op is gradchecked in float64 over its declared cases,
keeps float32 as float32, and matches PyTorch where torch is installed. An op declared
without cases fails here."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import minigrad
from minigrad.function import apply
from minigrad.ops import REGISTRY

BUILTIN = sorted(REGISTRY)


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
    return list(op.examples(np.random.default_rng(0), dtype))


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
    assert op.examples is not None, f"op {name} has no gradient-check cases"
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
    """VJPs are written with minigrad ops, so each is itself differentiable."""
    op = REGISTRY[name]
    inputs, params = _cases(op, np.float64)[-1]
    xs = _tensors(inputs, np.float64)
    if not any(x.requires_grad for x in xs):
        pytest.fail(f"{name}: last case has no differentiable input")
    minigrad.gradgradcheck(lambda *a: apply(op, *a, **params), xs, atol=1e-4, rtol=1e-3)


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
    if op.torch is None:
        pytest.skip(f"{name} has no PyTorch counterpart declared")
    rng = np.random.default_rng(7)
    for inputs, params in _cases(op, np.float64):
        xs = _tensors(inputs, np.float64)
        out = apply(op, *xs, **params)
        ts = [_to_torch(np.asarray(a), x.requires_grad) for a, x in zip(inputs, xs)]
        ts = [t.to(torch.float64) if t.is_floating_point() else t for t in ts]
        tout = op.torch(*ts, **_torch_params(name, params))
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
