"""Property-based tests: shapes, linearity of VJPs, graph reuse, broadcasting."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
import minigrad.functional as F

finite = st.floats(-3, 3, allow_nan=False, width=64)
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
UNARY = [F.tanh, F.sigmoid, F.relu, F.exp, F.softplus, F.gelu, lambda x: x * x, lambda x: -x]
BINARY = [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, F.maximum]


@given(hnp.arrays(np.float64, shapes, elements=finite), st.sampled_from(UNARY))
def test_gradient_shape_equals_input_shape(arr, f):
    x = mg.Tensor(arr, requires_grad=True)
    f(x).sum().backward()
    assert x.grad.shape == x.shape and x.grad.dtype == x.dtype


@given(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
       st.sampled_from(BINARY), st.integers(0, 2**31))
def test_broadcast_gradients_take_each_input_shape(bs, f, seed):
    rng = np.random.default_rng(seed)
    a = mg.Tensor(rng.standard_normal(bs.input_shapes[0]), requires_grad=True)
    b = mg.Tensor(rng.standard_normal(bs.input_shapes[1]), requires_grad=True)
    f(a, b).sum().backward()
    assert a.grad.shape == a.shape and b.grad.shape == b.shape


@given(hnp.arrays(np.float64, (2, 3), elements=finite), st.floats(-2, 2), st.floats(-2, 2),
       st.sampled_from(UNARY + [lambda x: x.softmax(-1), lambda x: x.sum(0), lambda x: x.T]))
def test_vjp_is_linear_in_the_upstream_gradient(arr, alpha, beta, f):
    x = mg.Tensor(arr, requires_grad=True)
    y = f(x)
    rng = np.random.default_rng(0)
    u, v = rng.standard_normal(y.shape), rng.standard_normal(y.shape)
    (gu,) = mg.grad(y, x, grad_outputs=u, retain_graph=True)
    (gv,) = mg.grad(y, x, grad_outputs=v, retain_graph=True)
    (gw,) = mg.grad(y, x, grad_outputs=alpha * u + beta * v)
    np.testing.assert_allclose(gw.data, alpha * gu.data + beta * gv.data, atol=1e-10)


@given(hnp.arrays(np.float64, st.integers(1, 5), elements=finite), st.integers(1, 6))
def test_reuse_adds_up(arr, k):
    x = mg.Tensor(arr, requires_grad=True)
    y = x
    for _ in range(k):
        y = y + x  # x used k + 1 times
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.data, 2 * arr)
    x.grad = None
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, np.full(arr.shape, k + 1.0))


@given(hnp.arrays(np.float64, 3, elements=finite))
def test_diamond_matches_the_chain_rule(arr):
    x = mg.Tensor(arr, requires_grad=True)
    a = x.tanh()
    b = a * 3
    c = a.exp()
    (b * c).sum().backward()
    t = np.tanh(arr)
    expected = (3 * np.exp(t) + 3 * t * np.exp(t)) * (1 - t**2)
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-10)


STEPS = [
    lambda t: t.tanh(),
    lambda t: t * 1.5,
    lambda t: t + t.sigmoid(),
    lambda t: (t * t + 1.0).sqrt(),
    lambda t: t.softmax(-1),
    lambda t: t - t.mean(axis=-1, keepdims=True),
    lambda t: t.T.T,
    lambda t: F.softplus(t),
    lambda t: t.logsumexp(axis=-1, keepdims=True) + t,
    lambda t: mg.concatenate([t, t * 2.0], axis=-1)[..., : t.shape[-1]],
]


@given(hnp.arrays(np.float64, (2, 3), elements=st.floats(-2, 2, width=64)),
       st.lists(st.sampled_from(range(len(STEPS))), min_size=1, max_size=5))
def test_random_compositions_match_finite_differences(arr, picks):
    """Any chain of ops, reused inputs included, agrees with central differences."""

    def f(x):
        y = x
        for i in picks:
            y = STEPS[i](y)
        return (y * x).sum()  # x used again at the end: a diamond through the whole chain

    assert mg.gradcheck(f, [mg.Tensor(arr, requires_grad=True)])
