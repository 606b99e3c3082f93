"""minigrad.compile: replays equal eager mode bit for bit; each pass alone; the guards."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import networkx as nx
import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad.compile import (
    TraceError,
    assign_buffers,
    compile_plan,
    differentiate,
    eliminate_dead_code,
    fold_constants,
    liveness,
    schedule,
    trace,
)
from minigrad.compile.kernels import OUT_FORMS, out_form
from minigrad.ops.registry import REGISTRY


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit for bit: same shape, dtype and bytes (so -0.0 ≠ 0.0 and NaNs compare by payload)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def _mlp_data(n: int = 16, d: int = 8, c: int = 4, seed: int = 0,
              dtype: Any = np.float32) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)).astype(dtype), rng.integers(0, c, n)


def _train(model: Any, loss_fn: Callable[..., Any], opt_cls: Any, batches: list[Any],
           **opt_kw: Any) -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
    """Runs one optimizer step per batch; returns the losses and every step's gradients."""
    opt = opt_cls(model.parameters(), **opt_kw)
    losses, grads = [], []
    for X, y in batches:
        opt.zero_grad()
        loss = loss_fn(X, y)
        loss.backward()
        losses.append(loss.data.copy())
        grads.append([p.grad.data.copy() for p in model.parameters()])
        opt.step()
    return losses, grads


@pytest.mark.parametrize("opt", ["SGD", "Adam"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_mlp_training_is_bit_identical_to_eager(opt: str, dtype: Any) -> None:
    mg.manual_seed(3)
    eager = mg.nn.MLP([8, 16, 16, 4], dtype=dtype)
    model = copy.deepcopy(eager)
    step = mg.compile(lambda x, y: F.cross_entropy(model(x), y))
    batches = [_mlp_data(seed=s, dtype=dtype) for s in range(4)]
    batches = [(mg.Tensor(X), y) for X, y in batches]
    kw = {"lr": 0.1, "momentum": 0.9} if opt == "SGD" else {"lr": 0.01}
    cls = getattr(mg.optim, opt)
    le, ge = _train(eager, lambda x, y: F.cross_entropy(eager(x), y), cls, batches, **kw)
    lc, gc = _train(model, step, cls, batches, **kw)
    assert step.traces == 1
    for a, b in zip(le, lc):
        assert _same(a, b)
    for ga, gb in zip(ge, gc):
        assert all(_same(a, b) for a, b in zip(ga, gb))
    for p, q in zip(eager.parameters(), model.parameters()):
        assert _same(p.data, q.data)


def test_gradients_accumulate_across_backward_calls_as_in_eager() -> None:
    mg.manual_seed(0)
    eager = mg.nn.MLP([8, 5, 4], activation="tanh", dtype=np.float64)
    model = copy.deepcopy(eager)
    X, y = _mlp_data(dtype=np.float64)
    step = mg.compile(lambda x, t: F.cross_entropy(model(x), t))
    for _ in range(3):
        F.cross_entropy(eager(mg.Tensor(X)), y).backward()
        step(mg.Tensor(X), y).backward()
    for p, q in zip(eager.parameters(), model.parameters()):
        assert _same(p.grad.data, q.grad.data)


def test_input_that_requires_grad_gets_its_gradient() -> None:
    rng = np.random.default_rng(1)
    W = mg.Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    xs = [mg.Tensor(rng.standard_normal((2, 3)), requires_grad=True) for _ in range(2)]

    def f(x: mg.Tensor) -> mg.Tensor:
        h = (x @ W).tanh()
        return (h * h + x.sum()).mean()

    step = mg.compile(f)
    f(xs[0]).backward()
    gx, gW = xs[0].grad.data.copy(), W.grad.data.copy()
    W.grad = xs[0].grad = None
    step(xs[1])  # traced on another tensor of that shape, never backward
    step(xs[0]).backward()
    assert xs[1].grad is None
    assert _same(xs[0].grad.data, gx) and _same(W.grad.data, gW)


def test_second_backward_needs_retain_graph_as_in_eager() -> None:
    w = mg.Tensor(np.arange(3.0), requires_grad=True)
    step = mg.compile(lambda x: (x * w).exp().sum())
    x = mg.Tensor(np.ones(3))
    loss = step(x)
    loss.backward(retain_graph=True)
    loss.backward()
    compiled = w.grad.data.copy()
    w.grad = None
    eager = (x * w).exp().sum()
    eager.backward(retain_graph=True)
    eager.backward()
    assert _same(w.grad.data, compiled)
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()


def test_two_forwards_before_one_backward_keep_their_own_buffers() -> None:
    mg.manual_seed(1)
    model = mg.nn.MLP([8, 16, 4])
    step = mg.compile(lambda x, t: F.cross_entropy(model(x), t))
    (X1, y1), (X2, y2) = _mlp_data(seed=1), _mlp_data(seed=2)
    first = step(mg.Tensor(X1), y1)
    step(mg.Tensor(X2), y2)  # may not overwrite what `first` still needs
    first.backward()
    got = [p.grad.data.copy() for p in model.parameters()]
    model.zero_grad()
    F.cross_entropy(model(mg.Tensor(X1)), y1).backward()
    assert all(_same(a, p.grad.data) for a, p in zip(got, model.parameters()))


def test_tuple_outputs_and_numpy_arguments() -> None:
    mg.manual_seed(2)
    model = mg.nn.MLP([8, 6, 4])
    step = mg.compile(lambda x, t: (F.cross_entropy(model(x), t), model(x).softmax(-1)))
    X, y = _mlp_data()
    loss, probs = step(X, y)
    eager_probs = model(mg.Tensor(X)).softmax(-1)
    assert _same(probs.data, eager_probs.data)
    assert _same(loss.data, F.cross_entropy(model(mg.Tensor(X)), y).data)
    X2, y2 = _mlp_data(seed=5)
    loss2, _ = step(X2, y2)  # numpy arguments are read at every call, not baked
    assert _same(loss2.data, F.cross_entropy(model(mg.Tensor(X2)), y2).data)
