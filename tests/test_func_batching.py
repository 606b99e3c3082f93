"""Batching rules of the layers whose examples meet a weight, a table or statistics of their
own under vmap (per-sample gradients batch the weights: `grad` inside `vmap`): convolutions
with a kernel per example, their gradient ops, max pooling's scatter and gather, batch norm,
layer norm and embedding. Each against the same op run once per example (the loop vmap
falls back on), and none may fall back on it."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import minigrad
from minigrad import func
from minigrad.function import apply
from minigrad.ops import REGISTRY

torch = pytest.importorskip("torch")
B = 3


def _mg(a: Any) -> minigrad.Tensor:
    return minigrad.Tensor(np.asarray(a))


def _example(a: np.ndarray, d: int | None, b: int) -> np.ndarray:
    return a if d is None else np.take(a, b, axis=d)


def _against_loop(f: Callable[..., Any], arrays: list[np.ndarray], dims: tuple[Any, ...],
                  what: str, rtol: float = 1e-12) -> None:
    """vmap of `f` equals `f` on each example, without a looped op."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = func.vmap(f, in_dims=dims)(*[_mg(a) for a in arrays])
    looped = [str(w.message) for w in caught if "no batching rule" in str(w.message)]
    assert not looped, f"{what}: {looped}"
    ref = np.stack([f(*[_mg(_example(a, d, b)) for a, d in zip(arrays, dims)]).data
                    for b in range(B)])
    np.testing.assert_allclose(out.data, ref, rtol=rtol, atol=1e-13, err_msg=what)


def _conv(d: int, **p: Any) -> Callable[..., Any]:
    f = minigrad.nn.functional.conv1d if d == 1 else minigrad.nn.functional.conv2d
    return lambda x, W, b=None: f(x, W, b, **p)


CONV_DIMS = [(0, 0, 0), (None, 0, 0), (0, 0, None), (None, 0, None), (1, -1, None),
             (None, None, 0)]


@pytest.mark.parametrize("d", [1, 2], ids=["conv1d", "conv2d"])
@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("dims", CONV_DIMS, ids=[str(d) for d in CONV_DIMS])
def test_convolution_with_a_kernel_per_example(d: int, groups: int, dims: Any) -> None:
    rng = np.random.default_rng(0)
    S = (7,) * d
    x, W, b = (rng.standard_normal((2, 4) + S), rng.standard_normal((6, 4 // groups) + (3,) * d),
               rng.standard_normal(6))
    arrays = [a if k is None else np.stack([a * (1 + 0.3 * i) for i in range(B)], axis=k)
              for a, k in zip((x, W, b), dims)]
    f = _conv(d, stride=2, padding=1, dilation=1, groups=groups)
    _against_loop(f, arrays, dims, f"conv{d}d groups={groups} in_dims={dims}")
    tf = torch.nn.functional.conv1d if d == 1 else torch.nn.functional.conv2d
    ref = torch.func.vmap(lambda x, W, b: tf(x, W, b, stride=2, padding=1, groups=groups),
                          in_dims=dims)(*[torch.from_numpy(a) for a in arrays])
    out = func.vmap(f, in_dims=dims)(*[_mg(a) for a in arrays])
    np.testing.assert_allclose(out.data, ref.numpy(), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("dims", [(0, None), (None, 0), (0, 0), (2, 1)])
def test_the_gradient_ops_of_convolution(groups: int, dims: Any) -> None:
    rng = np.random.default_rng(1)
    p = {"stride": (2, 1), "padding": (1, 0), "dilation": (1, 2), "groups": groups}
    x = rng.standard_normal((2, 4, 7, 6))
    W = rng.standard_normal((6, 4 // groups, 3, 2))
    g = rng.standard_normal((2, 6, 4, 4))

    def batch(a: np.ndarray, k: int | None) -> np.ndarray:
        return a if k is None else np.stack([a * (1 - 0.2 * i) for i in range(B)], axis=k)

    def input_grad(g: Any, W: Any) -> Any:
        return apply(REGISTRY["conv_input_grad"], g, W, input_shape=x.shape, **p)

    def weight_grad(x: Any, g: Any) -> Any:
        return apply(REGISTRY["conv_weight_grad"], x, g, kernel_size=(3, 2), **p)

    _against_loop(input_grad, [batch(g, dims[0]), batch(W, dims[1])], dims,
                  f"conv_input_grad in_dims={dims}")
    _against_loop(weight_grad, [batch(x, dims[0]), batch(g, dims[1])], dims,
                  f"conv_weight_grad in_dims={dims}")


def _cnn(lib: Any, params: Any, x: Any, batch_norm: Callable[..., Any]) -> Any:
    W1, b1, W2, gamma, beta = params
    h = lib.conv2d(x, W1, b1, padding=1).tanh()
    h = lib.max_pool2d(h, 2)
    h = batch_norm(h, gamma, beta)
    h = lib.conv1d(h.reshape(h.shape[0], h.shape[1], -1), W2)
    return (h * h).sum()


def test_per_sample_gradients_of_a_cnn_match_torch_func_without_a_loop() -> None:
    """vmap(grad) of conv2d → max pool → batch norm (batch statistics) → conv1d: every
    weight is batched by `grad` inside vmap, and no op falls back on the loop."""
    rng = np.random.default_rng(2)
    params = [rng.standard_normal(s) * 0.5 for s in ((4, 2, 3, 3), (4,), (3, 4, 2), (4,), (4,))]
    xs = rng.standard_normal((5, 2, 2, 6, 6))  # 5 samples, each a batch of 2 images
    MF, TF = minigrad.nn.functional, torch.nn.functional

    def loss(params: Any, x: Any) -> Any:
        return _cnn(MF, params, x, lambda h, g, b: MF.batch_norm(h, None, None, g, b, True))

    def tloss(params: Any, x: Any) -> Any:
        return _cnn(TF, params, x, lambda h, g, b: TF.batch_norm(h, None, None, g, b, True))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours = func.vmap(func.grad(loss), in_dims=(None, 0))([_mg(p) for p in params], _mg(xs))
    assert not [w for w in caught if "no batching rule" in str(w.message)]
    ref = torch.func.vmap(torch.func.grad(tloss), in_dims=(None, 0))(
        [torch.from_numpy(p) for p in params], torch.from_numpy(xs))
    for k, (a, b) in enumerate(zip(ours, ref)):
        np.testing.assert_allclose(a.data, b.numpy(), rtol=1e-9, atol=1e-11,
                                   err_msg=f"per-sample gradient of parameter {k}")


@pytest.mark.parametrize("training", [True, False], ids=["training", "eval"])
@pytest.mark.parametrize("dims", [(0, None, None), (1, 0, 0), (None, 0, None)])
def test_batch_norm_statistics_per_example_and_running_statistics_in_order(
        training: bool, dims: Any) -> None:
    """Each example is normalized with its own batch statistics; the shared running
    statistics end as the loop leaves them, updated by each example in turn."""
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((4, 3, 5)), rng.standard_normal(3), rng.standard_normal(3)
    arrays = [a if k is None else np.stack([a * (1 + 0.5 * i) + i for i in range(B)], axis=k)
              for a, k in zip((x, w, b), dims)]
    stats = {"batched": (rng.standard_normal(3), rng.uniform(0.5, 2, 3))}
    stats["loop"] = tuple(a.copy() for a in stats["batched"])
    before = stats["loop"][0].copy()

    def bn(key: str) -> Callable[..., Any]:
        rm, rv = stats[key]
        return lambda x, w, b: minigrad.nn.functional.batch_norm(x, rm, rv, w, b, training,
                                                                 0.3, 1e-5)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = func.vmap(bn("batched"), in_dims=dims)(*[_mg(a) for a in arrays])
    assert not [m for m in caught if "no batching rule" in str(m.message)]
    ref = np.stack([bn("loop")(*[_mg(_example(a, d, i)) for a, d in zip(arrays, dims)]).data
                    for i in range(B)])
    np.testing.assert_allclose(out.data, ref, rtol=1e-12, atol=1e-13)
    for ours, loop in zip(stats["batched"], stats["loop"]):
        np.testing.assert_allclose(ours, loop, rtol=1e-13, atol=1e-14)
    assert np.allclose(before, stats["batched"][0]) != training  # updated in training only


def test_batch_norm_under_nested_vmap() -> None:
    """Batch statistics nest as the rule folds channels twice; the running statistics are
    updated by the inner vmap's examples in turn (the inner level loops, with a warning),
    each of them by the outer vmap's examples in turn."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((2, 3, 4, 2))  # outer 2, inner 3, then (N, C) = (4, 2)
    rm, rv = np.zeros(2), np.ones(2)
    rm2, rv2 = rm.copy(), rv.copy()
    bn = minigrad.nn.functional.batch_norm
    with pytest.warns(UserWarning, match="op 'batch_norm' has no batching rule"):
        out = func.vmap(func.vmap(lambda x: bn(x, rm, rv, training=True, momentum=0.2)))(
            _mg(X))
    ref = np.empty(X.shape)
    for j in range(3):
        for i in range(2):
            ref[i, j] = bn(_mg(X[i, j]), rm2, rv2, training=True, momentum=0.2).data
    np.testing.assert_allclose(out.data, ref, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(rm, rm2, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(rv, rv2, rtol=1e-13, atol=1e-15)
    plain = func.vmap(func.vmap(lambda x: bn(x, None, None, training=True)))(_mg(X))
    np.testing.assert_allclose(plain.data, ref, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("dims", [(None, 0), (0, 0), (1, 0)])
def test_layer_norm_with_a_weight_per_example(dims: Any) -> None:
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((2, 4)), rng.standard_normal(4), rng.standard_normal(4)
    bx = x if dims[0] is None else np.stack([x + i for i in range(B)], axis=dims[0])
    bw, bb = (np.stack([a * (1 + i) for i in range(B)]) for a in (w, b))
    f = lambda x, w, b: minigrad.nn.functional.layer_norm(x, (4,), w, b)  # noqa: E731
    _against_loop(f, [bx, bw, bb], dims + (0,), f"layer_norm in_dims={dims}")


def test_embedding_with_a_table_per_example_and_an_index_out_of_range() -> None:
    rng = np.random.default_rng(6)
    tables = rng.standard_normal((B, 5, 2))
    idx = np.array([[0, 4], [2, 2]])
    lookup = minigrad.nn.functional.embedding
    _against_loop(lambda w: lookup(_mg(idx), w), [tables], (0,), "a table per example")
    many = np.stack([idx, idx[::-1], 4 - idx])
    _against_loop(lookup, [many, tables], (0, 0), "indices and tables per example")
    # index 5 would read row 0 of the next example's table once shifted: the loop names it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(IndexError, match="index 5 is out of range"):
            func.vmap(lookup)(_mg(np.stack([idx, idx, idx + 1])), _mg(tables))
