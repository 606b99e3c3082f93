"""Plain regression tests, one per bug: each reproduces the failure as a user met it and
checks the fixed result against an independent oracle (PyTorch or central differences)."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg

torch = pytest.importorskip("torch")


def _hvp_torch(f, arrays, v):
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    gs = torch.autograd.grad(f(*ts), ts, create_graph=True)
    s = sum((g * torch.tensor(w)).sum() for g, w in zip(gs, v))
    return [h.numpy() for h in torch.autograd.grad(s, ts)]


def _hvp_minigrad(f, arrays, v):
    xs = [mg.Tensor(a, requires_grad=True) for a in arrays]
    gs = mg.grad(f(*xs), xs, create_graph=True)
    s = sum((g * mg.Tensor(w)).sum() for g, w in zip(gs, v))
    return [h.data for h in mg.grad(s, xs)]


@pytest.mark.parametrize("transpose", [lambda W: W.T, lambda W: W.transpose(),
                                       lambda W: W.transpose(None), lambda W: W.permute()])
def test_hessian_vector_product_through_a_transpose_without_axes(transpose):
    # an MLP layer written as h @ W.T + b: second order used to raise a TypeError in the
    # transpose VJP (the Tensor method read axes=None as the axis "None")
    rng = np.random.default_rng(0)
    h, W, b = rng.normal(size=(3, 4)), rng.normal(size=(2, 4)), rng.normal(size=2)
    v = [rng.normal(size=a.shape) for a in (h, W, b)]

    def f(h, W, b):
        return ((h @ transpose(W) + b).tanh() ** 2).sum()

    ours = _hvp_minigrad(f, [h, W, b], v)
    ref = _hvp_torch(lambda h, W, b: ((h @ W.T + b).tanh() ** 2).sum(), [h, W, b], v)
    for a, r in zip(ours, ref):
        np.testing.assert_allclose(a, r, rtol=1e-10, atol=1e-12)


def test_transpose_with_negative_axes_sends_the_gradient_back_in_place():
    # the VJP inverts the permutation with argsort, which needs the axes made positive
    rng = np.random.default_rng(1)
    a = rng.normal(size=(2, 3, 4))
    w = rng.normal(size=(4, 2, 3))
    x = mg.Tensor(a, requires_grad=True)
    (x.transpose(-1, 0, 1) * mg.Tensor(w)).sum().backward()
    t = torch.tensor(a, requires_grad=True)
    (t.permute(-1, 0, 1) * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(x.grad.data, t.grad.numpy())


def test_transpose_rejects_axes_that_are_not_a_permutation():
    x = mg.Tensor(np.zeros((2, 3)), requires_grad=True)
    with pytest.raises(ValueError, match=r"transpose: axes \(0, 0\)"):
        x.transpose(0, 0)


@pytest.mark.parametrize("axis,keepdims", [(None, False), (0, False), (-1, True), ((0,), False)])
def test_logsumexp_near_the_largest_float_is_finite_and_exact(axis, keepdims):
    # the forward used to sum x only to learn the output's shape, and that sum overflowed
    a = np.array([1e308, 1e308, -1e308])
    with np.errstate(all="raise"):
        out = mg.ops.logsumexp(mg.Tensor(a, requires_grad=True), axis=axis, keepdims=keepdims)
    ref = torch.tensor(a).logsumexp(dim=0 if axis is None else axis, keepdim=keepdims)
    assert np.all(np.isfinite(out.data))
    np.testing.assert_array_equal(out.data, ref.numpy())
    assert out.shape == tuple(ref.shape)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gelu_far_out_is_exact_and_its_gradient_is_not_nan(dtype):
    # a³ and a² overflowed at |a| = 1e300 (1e30 in float32): the forward warned, and the
    # gradient was 0 · ∞ = nan (PyTorch's too) where the derivative's limits are 1 and 0
    big = 1e300 if dtype == "float64" else 1e30
    a = np.array([big, -big, 3.0, -0.5, 0.0], dtype=dtype)
    x = mg.Tensor(a, requires_grad=True)
    with np.errstate(over="raise", invalid="raise"):
        y = mg.ops.gelu(x)
        y.sum().backward()
    t = torch.tensor(a, requires_grad=True)
    ty = torch.nn.functional.gelu(t, approximate="tanh")
    ty.sum().backward()
    tol = 1e-6 if dtype == "float32" else 1e-14
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=tol)
    np.testing.assert_allclose(x.grad.data[2:], t.grad.numpy()[2:], rtol=tol, atol=tol)
    # gelu′(a) = ½(1 + t) + ½a(1 − t²)√(2/π)(1 + 3·0.044715a²), t → ±1 as a → ±∞
    np.testing.assert_array_equal(x.grad.data[:2], [1.0, 0.0])
