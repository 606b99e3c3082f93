"""Under create_graph=True a VJP's result is differentiated again: a VJP that steps outside
minigrad (a plain numpy array, a Tensor cut off from δ) must raise during the sweep rather
than give a second derivative that is silently wrong."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.ops import either


def _x():
    return mg.Tensor(np.array([0.5, 1.0, 2.0]), requires_grad=True, name="x")


def test_numpy_in_a_vjp_raises_under_create_graph(registered):
    class RootNumpy(mg.Function):
        formula = "y = x^1.5"
        grads = ("δ ⊙ 1.5 √x",)

        @staticmethod
        def forward(x):
            return x ** 1.5

        @staticmethod
        def vjp_x(g, out, x):
            return g * 1.5 * np.sqrt(x)  # on a Tensor x this leaves minigrad

    x = _x()
    (g1,) = mg.grad(RootNumpy.apply(x).sum(), x)  # first order is fine
    np.testing.assert_allclose(g1.data, 1.5 * np.sqrt(x.data))
    with pytest.raises(RuntimeError) as e:
        mg.grad(RootNumpy.apply(x).sum(), x, create_graph=True)
    msg = str(e.value)
    for part in ["'rootnumpy'", "input 0", "'x'", "shape (3,)", "create_graph=True",
                 "numpy", "second derivative", "minigrad.ops.either", "np.sqrt"]:
        assert part in msg, part
    assert x.grad is None  # the failed sweep wrote nothing


def test_a_vjp_cut_off_from_delta_raises(registered):
    class Detached(mg.Function):
        formula = "y = 2x"
        grads = ("2δ",)

        @staticmethod
        def forward(x):
            return 2 * x

        @staticmethod
        def vjp_x(g, out, x):
            return mg.Tensor(g.data * 2.0)  # a new leaf: δ's history is lost

    class Converted(mg.Function):
        forward = Detached.forward

        @staticmethod
        def vjp_x(g, out, x):
            return np.asarray(g) * 2.0

    for f, what in [(Detached, "'detached'.*Tensor without history"),
                    (Converted, "'converted'.*handed δ to numpy")]:
        x = _x()
        y = f.apply(x)
        with pytest.raises(RuntimeError, match=what):
            mg.grad((y * y).sum(), x, create_graph=True)  # δ = 2y depends on x


def test_the_same_vjp_written_with_dual_gives_the_second_derivative(registered):
    class Root(mg.Function):
        formula = "y = x^1.5"
        grads = ("δ ⊙ 1.5 √x",)

        @staticmethod
        def forward(x):
            return x ** 1.5

        @staticmethod
        def vjp_x(g, out, x):
            return g * 1.5 * either.sqrt(x)

    x = _x()
    (g,) = mg.grad(Root.apply(x).sum(), x, create_graph=True)
    (h,) = mg.grad(g.sum(), x)
    np.testing.assert_allclose(h.data, 0.75 / np.sqrt(x.data), rtol=1e-12)  # d²/dx² x^1.5
    assert mg.gradgradcheck(Root.apply, [x])


def test_a_zero_gradient_may_stay_a_plain_array(registered):
    class Step(mg.Function):
        formula = "y = 1[x > 1]"
        grads = ("0",)

        @staticmethod
        def forward(x):
            return (x > 1).astype(x.dtype)

        @staticmethod
        def vjp_x(g, out, x):
            return np.zeros(x.shape)  # constant: nothing for a second derivative to see

    x = _x()
    y = (Step.apply(x) + x * x).sum()
    (g,) = mg.grad(y, x, create_graph=True)
    (h,) = mg.grad(g.sum(), x)
    np.testing.assert_allclose(h.data, 2.0)
