"""`minigrad.compile(fn, optimizer=opt)`: the whole training step (forward, backward, the
optimizer's update) replayed in buffers, bit for bit eager mode's step; buffers shared in
place; the arrays a user holds never overwritten."""

from __future__ import annotations

import copy
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad.compiler import compile_plan
from minigrad.compiler.lower import Unlowerable, record_inplace
from minigrad.compiler.passes import OptimizerError

OPTIMIZERS: dict[str, Callable[[Any], Any]] = {
    "sgd": lambda ps: mg.optim.SGD(ps, lr=0.1),
    "sgd-momentum": lambda ps: mg.optim.SGD(ps, lr=0.1, momentum=0.9),
    "sgd-nesterov-decay": lambda ps: mg.optim.SGD(ps, lr=0.05, momentum=0.8, nesterov=True,
                                                  weight_decay=1e-2),
    "adam": lambda ps: mg.optim.Adam(ps, lr=1e-2),
    "adamw-amsgrad": lambda ps: mg.optim.AdamW(ps, lr=1e-2, amsgrad=True),
}


def _mlp(dtype: Any, sizes: tuple[int, ...] = (6, 16, 16, 4)) -> mg.nn.Module:
    mg.manual_seed(0)
    model = mg.nn.MLP(list(sizes))
    for p in model.parameters():
        p.data = p.data.astype(dtype)
    return model


def _data(dtype: Any, n: int = 12, d: int = 6, c: int = 4) -> tuple[mg.Tensor, np.ndarray]:
    rng = np.random.default_rng(1)
    return mg.Tensor(rng.standard_normal((n, d)).astype(dtype)), rng.integers(0, c, n)


def _eager_step(model: Any, opt: Any, loss_fn: Callable[..., Any], *args: Any) -> Any:
    opt.zero_grad()
    loss = loss_fn(model, *args)
    loss.backward()
    opt.step()
    opt.zero_grad()
    return loss


def _ce(model: Any, x: Any, t: Any) -> Any:
    return F.cross_entropy(model(x), t)


def _assert_same_state(opt: Any, twin: Any) -> None:
    for p, q in zip(opt.param_groups[0]["params"], twin.param_groups[0]["params"]):
        np.testing.assert_array_equal(p.data, q.data, strict=True)
        for k, v in opt.state.get(p, {}).items():
            w = twin.state[q][k]
            if isinstance(v, np.ndarray):
                np.testing.assert_array_equal(v, w, strict=True)
            else:
                assert v == w, k


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_compiled_step_is_eager_step_bit_for_bit(name: str, dtype: Any) -> None:
    model = _mlp(dtype)
    twin = copy.deepcopy(model)
    opt, opt2 = OPTIMIZERS[name](model.parameters()), OPTIMIZERS[name](twin.parameters())
    x, t = _data(dtype)
    step = mg.compile(lambda a, b: _ce(model, a, b), optimizer=opt)
    for _ in range(6):
        loss = step(x, t)
        eager = _eager_step(twin, opt2, _ce, x, t)
        np.testing.assert_array_equal(loss.data, eager.data, strict=True)
        _assert_same_state(opt, opt2)
        assert all(p.grad is None for p in model.parameters())
    assert step.traces == 1
    assert step.plan.stats().allocated_bytes <= 8  # the loss it hands back, nothing else


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_compiled_step_with_a_tanh_and_mse_model(dtype: Any) -> None:
    """Another shape of model: tanh (whose VJP is three calls, written in place), a residual
    sum (gradients added up) and a mean-squared error."""
    rng = np.random.default_rng(2)
    W = mg.Tensor(rng.standard_normal((5, 5)).astype(dtype) * 0.5, requires_grad=True)
    b = mg.Tensor(np.zeros(5, dtype), requires_grad=True)
    W2, b2 = mg.Tensor(W.data.copy(), requires_grad=True), mg.Tensor(b.data.copy(),
                                                                     requires_grad=True)
    x = mg.Tensor(rng.standard_normal((8, 5)).astype(dtype))
    y = mg.Tensor(rng.standard_normal((8, 5)).astype(dtype))

    def loss(w: Any, c: Any, a: Any, target: Any) -> Any:
        h = (a @ w + c).tanh()
        return F.mse_loss(h + a, target)

    opt, opt2 = mg.optim.Adam([W, b], lr=0.05), mg.optim.Adam([W2, b2], lr=0.05)
    step = mg.compile(lambda a, target: loss(W, b, a, target), optimizer=opt)
    for _ in range(5):
        got = step(x, y)
        opt2.zero_grad()
        want = loss(W2, b2, x, y)
        want.backward()
        opt2.step()
        np.testing.assert_array_equal(got.data, want.data, strict=True)
        np.testing.assert_array_equal(W.data, W2.data, strict=True)
        np.testing.assert_array_equal(b.data, b2.data, strict=True)
    assert step.plan.graph.graph["in_place"] > 0


def test_buffers_are_allocated_once_and_reused_across_calls() -> None:
    model = _mlp(np.float32)
    opt = mg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, t = _data(np.float32)
    step = mg.compile(lambda a, b: _ce(model, a, b), optimizer=opt)
    step(x, t)
    step(x, t)
    plan = step.plan
    (bufs,) = plan._sets
    ids = [id(a) for a in bufs.arrays]
    for _ in range(3):
        step(x, t)
    assert len(plan._sets) == 1 and [id(a) for a in bufs.arrays] == ids
    assert plan.stats().buffers == len(ids) > 0


def _peak(f: Callable[[], Any]) -> int:
    """The most bytes allocated at once during ``f()`` above what was allocated before it
    (tracemalloc is running)."""
    tracemalloc.reset_peak()
    start = tracemalloc.get_traced_memory()[0]
    f()
    return tracemalloc.get_traced_memory()[1] - start


def _warm_step(sizes: tuple[int, ...], batch: int, optimizer: Any, lr: float) -> Any:
    """A float32 MLP of `sizes`, its optimizer, its training step compiled and run three
    times, and a batch: (model, opt, step, x, t)."""
    model = _mlp(np.float32, sizes)
    opt = optimizer(model.parameters(), lr=lr)
    rng = np.random.default_rng(0)
    x = mg.Tensor(rng.standard_normal((batch, sizes[0])).astype(np.float32))
    t = rng.integers(0, sizes[-1], batch)
    step = mg.compile(lambda a, b: _ce(model, a, b), optimizer=opt)
    for _ in range(3):
        step(x, t)
    return model, opt, step, x, t


def test_a_compiled_step_allocates_no_array_after_its_first_calls() -> None:
    """tracemalloc sees every numpy array: a step of this model in eager mode allocates
    activations and gradients of 64 KB each; the compiled step allocates none of them."""
    model, opt, step, x, t = _warm_step((128, 256, 256, 10), 64, mg.optim.Adam, lr=1e-3)
    tracemalloc.start()
    try:
        compiled = max(_peak(lambda: step(x, t)) for _ in range(3))
        eager = _peak(lambda: _eager_step(model, opt, _ce, x, t))
    finally:
        tracemalloc.stop()
    activation = 64 * 256 * 4
    assert eager > 4 * activation
    assert compiled < activation


def test_a_compiled_step_allocates_no_numpy_buffer_either() -> None:
    """numpy allocates a buffer of up to 8,192 elements at each ufunc call whose input it
    must cast or cannot read with one stride: the bias added to the rows of h @ W (32 KB of
    float32 here, where h is 128 × 128), the bool mask of relu's VJP δ ⊙ 1[a > 0] (32 KB),
    cross-entropy's one-hot mask ℓ == arange(C) (20 KB of int64). The compiled step copies
    such inputs into its buffers first, so what it still allocates per step is less than
    numpy's smallest such buffer (8 KB, of bools): the iterators numpy's matmul and
    reductions build (under 1 KB each), cross-entropy's masked subtraction (`where=`, 1.5 KB)
    and the loss it hands back."""
    _, _, step, x, t = _warm_step((64, 128, 128, 10), 128, mg.optim.SGD, lr=0.1)
    tracemalloc.start()
    try:
        allocated = max(_peak(lambda: step(x, t)) for _ in range(3))
    finally:
        tracemalloc.stop()
    assert allocated < 4096


def test_outputs_the_user_holds_are_never_overwritten() -> None:
    """Every output a call hands back is a new array, never a buffer: holding the loss (or
    logits) of one call and calling again leaves them as they were."""
    model = _mlp(np.float64)
    opt = mg.optim.SGD(model.parameters(), lr=0.1)
    x, t = _data(np.float64)

    def both(a: Any, b: Any) -> Any:
        logits = model(a)
        return F.cross_entropy(logits, b), logits * 1.0

    step = mg.compile(both, optimizer=opt)
    held = [step(x, t) for _ in range(4)]
    copies = [(loss.data.copy(), logits.data.copy()) for loss, logits in held]
    step(x, t)
    for (loss, logits), (lc, gc) in zip(held, copies):
        np.testing.assert_array_equal(loss.data, lc)
        np.testing.assert_array_equal(logits.data, gc)
    assert len({id(loss.data) for loss, _ in held}) == 4
    buffers = {id(a) for s in step.plan._sets for a in s.arrays}
    assert not buffers & {id(a.data) for pair in held for a in pair}

    plain = mg.compile(lambda a: model(a).tanh())
    first = plain(x)
    kept = first.data.copy()
    plain(mg.Tensor(x.data * 2.0))
    np.testing.assert_array_equal(first.data, kept)


def test_a_new_learning_rate_or_state_retraces_and_stays_exact() -> None:
    model = _mlp(np.float32)
    twin = copy.deepcopy(model)
    opt, opt2 = mg.optim.Adam(model.parameters(), lr=1e-2), mg.optim.Adam(twin.parameters(),
                                                                          lr=1e-2)
    x, t = _data(np.float32)
    step = mg.compile(lambda a, b: _ce(model, a, b), optimizer=opt)
    sched, sched2 = mg.optim.lr_scheduler.StepLR(opt, 2, 0.5), \
        mg.optim.lr_scheduler.StepLR(opt2, 2, 0.5)
    for _ in range(5):
        step(x, t)
        _eager_step(twin, opt2, _ce, x, t)
        sched.step()
        sched2.step()
        _assert_same_state(opt, opt2)
    assert step.traces == 3  # lr changed twice
    opt.load_state_dict(opt2.state_dict())
    step(x, t)
    _eager_step(twin, opt2, _ce, x, t)
    _assert_same_state(opt, opt2)
    assert step.traces == 4


def test_a_training_plan_drops_its_trace_arrays_but_still_draws() -> None:
    model = _mlp(np.float32)
    opt = mg.optim.SGD(model.parameters(), lr=0.1)
    x, t = _data(np.float32)
    step = mg.compile(lambda a, b: _ce(model, a, b), optimizer=opt)
    step(x, t)
    plan = step.plan
    assert plan.values_released
    for _, G in plan.stages:
        for _, d in G.nodes(data=True):
            v = d["value"]
            if d["kind"] not in ("param", "const") and isinstance(v, np.ndarray) and v.size > 1:
                assert v.strides == (0,) * v.ndim  # shape and dtype, no memory
    assert "optimizer_step" in str(plan.stats())
    kept = mg.compile(lambda a, b: _ce(model, a, b), optimizer=opt, keep_values=True)
    kept(x, t)
    assert not kept.plan.values_released


def test_errors_name_the_parameter_the_optimizer_and_the_fix() -> None:
    model = _mlp(np.float32)
    x, t = _data(np.float32)
    half = mg.optim.SGD(list(model.parameters())[:2], lr=0.1)
    with pytest.raises(OptimizerError, match=r"parameter of shape \(16,.*not one of the "
                                             r"optimizer's parameters"):
        mg.compile(lambda a, b: _ce(model, a, b), optimizer=half)(x, t)
    ada = mg.optim.Adagrad(model.parameters(), lr=0.1)
    with pytest.raises(OptimizerError, match="Adagrad.*opt.step"):
        mg.compile(lambda a, b: _ce(model, a, b), optimizer=ada)(x, t)
    opt = mg.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(OptimizerError, match="nothing to train"):
        mg.compile(lambda a, b: model(a).detach().sum(), optimizer=opt)(x, t)
    with mg.no_grad(), pytest.raises(OptimizerError, match="no_grad"):
        mg.compile(lambda a, b: _ce(model, a, b), optimizer=opt)(x, t)


def test_record_inplace_replays_an_update_and_refuses_a_branch() -> None:
    rng = np.random.default_rng(0)
    w, m, g = (rng.standard_normal(5).astype(np.float32) for _ in range(3))

    def update(w: Any, m: Any, g: Any) -> None:
        m *= 0.9
        m += g
        w -= 0.1 * m

    w0, m0 = w.copy(), m.copy()
    steps = record_inplace(update, [w, m, g], 2, update)
    assert [s.fn.__name__ for s in steps] == ["multiply", "add", "multiply", "subtract"]
    # the recording ran on copies: the arrays themselves are as they were
    np.testing.assert_array_equal(w, w0)
    np.testing.assert_array_equal(m, m0)

    def branchy(w: Any, g: Any) -> None:
        if g.sum() > 0:
            w -= g

    with pytest.raises(Unlowerable, match="branches"):
        record_inplace(branchy, [w, g], 1, branchy)


def test_in_place_sharing_keeps_bias_add_and_activation_in_one_buffer() -> None:
    """``tanh(x @ W + b)``: the add writes into the matmul's buffer (read last by the add),
    and the result is exact."""
    rng = np.random.default_rng(3)
    W = mg.Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    b = mg.Tensor(rng.standard_normal(3), requires_grad=True)
    x = mg.Tensor(rng.standard_normal((5, 4)))
    plan = compile_plan(lambda a: ((a @ W + b).tanh() * 2.0).sum(), [x])
    G = plan.graph
    add = next(n for n, d in G.nodes(data=True) if d.get("prim") == "add" and d["kind"] == "fprim")
    mm = next(a for a in G.pred[add] if G.nodes[a].get("prim") == "matmul")
    assert G.nodes[add]["buffer"] == G.nodes[mm]["buffer"]
    assert f"np_add(b{G.nodes[mm]['buffer']}" in plan.source
