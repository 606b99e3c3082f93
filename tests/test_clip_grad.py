"""Gradient clipping against ``torch.nn.utils``: the returned norm, the clipped gradients,
parameters without gradients, non-finite norms and bad arguments."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.nn.utils import clip_grad_norm_, clip_grad_value_

torch = pytest.importorskip("torch")

TOL = {np.float64: dict(rtol=1e-12, atol=1e-14), np.float32: dict(rtol=1e-5, atol=1e-7)}


def _params(dtype: Any, seed: int = 0, grads: tuple[bool, ...] = (True, False, True, True),
            scale: float = 1.0) -> tuple[list[Any], list[Any]]:
    """Parameters of several shapes with the same gradients in minigrad and PyTorch; those
    marked False have none."""
    rng = np.random.default_rng(seed)
    shapes = [(3, 4), (2,), (5,), ()]
    ps, tps = [], []
    for shape, has in zip(shapes, grads):
        p = nn.Parameter(rng.normal(size=shape).astype(dtype))
        tp = torch.nn.Parameter(torch.tensor(p.data.copy()))
        if has:
            g = (rng.normal(size=shape) * scale).astype(dtype)
            p.grad = mg.Tensor(g.copy())
            tp.grad = torch.tensor(g.copy())
        ps.append(p)
        tps.append(tp)
    return ps, tps


def _same_grads(ps: list[Any], tps: list[Any], dtype: Any) -> None:
    for p, tp in zip(ps, tps):
        if tp.grad is None:
            assert p.grad is None
            continue
        assert p.grad.dtype == dtype
        np.testing.assert_allclose(p.grad.data, tp.grad.numpy(), **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("norm_type", [2.0, 1, 3.5, math.inf, "inf"], ids=str)
@pytest.mark.parametrize("max_norm", [0.5, 1e3], ids=["clips", "below"])
def test_clip_grad_norm_matches_torch(max_norm: float, norm_type: Any, dtype: Any) -> None:
    ps, tps = _params(dtype)
    before = [None if p.grad is None else p.grad.data.copy() for p in ps]
    total = clip_grad_norm_(ps, max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tps, max_norm, norm_type=norm_type)
    assert isinstance(total, mg.Tensor) and total.shape == () and total.dtype == dtype
    np.testing.assert_allclose(total.item(), ttotal.item(), **TOL[dtype])
    _same_grads(ps, tps, dtype)
    flat = np.concatenate([g.ravel() for g in before if g is not None])
    p = math.inf if norm_type == "inf" else float(norm_type)
    norm = np.abs(flat).max() if p == math.inf else (np.abs(flat) ** p).sum() ** (1 / p)
    np.testing.assert_allclose(total.item(), norm, rtol=1e-5)  # the norm, by hand
    after = np.concatenate([q.grad.data.ravel() for q in ps if q.grad is not None])
    if max_norm < norm:
        assert after == pytest.approx(flat * max_norm / (norm + 1e-6), rel=1e-5)
    else:
        np.testing.assert_allclose(after, flat, rtol=1e-6)


def test_clip_grad_norm_on_a_model_and_a_single_tensor() -> None:
    model = nn.Sequential(nn.Linear(3, 4, dtype="float64"), nn.Tanh(),
                          nn.Linear(4, 2, dtype="float64"))
    tmodel = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(),
                                 torch.nn.Linear(4, 2)).double()
    tmodel.load_state_dict({k: torch.tensor(v.data) for k, v in model.state_dict().items()})
    x = np.random.default_rng(1).normal(size=(5, 3)) * 10
    (model(mg.Tensor(x)) ** 2).sum().backward()
    (tmodel(torch.tensor(x)) ** 2).sum().backward()
    total = clip_grad_norm_(model.parameters(), 1.0)
    ttotal = torch.nn.utils.clip_grad_norm_(tmodel.parameters(), 1.0)  # a generator, too
    assert total.item() == pytest.approx(ttotal.item(), rel=1e-12) and total.item() > 1
    _same_grads(list(model.parameters()), list(tmodel.parameters()), np.float64)
    after = np.sqrt(sum((p.grad.data ** 2).sum() for p in model.parameters()))
    assert after == pytest.approx(1.0, rel=1e-5)
    w = nn.Parameter(np.array([3.0, 4.0]))
    w.grad = mg.Tensor(np.array([3.0, 4.0]))
    assert clip_grad_norm_(w, 1.0).item() == 5.0
    np.testing.assert_allclose(w.grad.data, [0.6, 0.8], rtol=1e-6)


def test_no_gradients_gives_zero() -> None:
    ps, tps = _params(np.float32, grads=(False, False, False, False))
    total = clip_grad_norm_(ps, 1.0)
    ttotal = torch.nn.utils.clip_grad_norm_(tps, 1.0)
    assert total.item() == ttotal.item() == 0.0 and total.dtype == np.float32
    assert clip_grad_norm_([], 1.0).item() == 0.0


@pytest.mark.parametrize("bad", [math.inf, math.nan], ids=["inf", "nan"])
def test_non_finite_norm(bad: float) -> None:
    ps, tps = _params(np.float64)
    ps[0].grad.data[1, 2] = bad
    tps[0].grad[1, 2] = bad
    before = [None if p.grad is None else p.grad.data.copy() for p in ps]
    with pytest.raises(RuntimeError, match="clip_grad_norm_: the total norm of order 2.0"):
        clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError):
        torch.nn.utils.clip_grad_norm_(tps, 1.0, error_if_nonfinite=True)
    for p, b in zip(ps, before):  # the error left the gradients as they were
        if b is not None:
            np.testing.assert_array_equal(p.grad.data, b)
    total = clip_grad_norm_(ps, 1.0)
    ttotal = torch.nn.utils.clip_grad_norm_(tps, 1.0)
    np.testing.assert_array_equal(total.item(), ttotal.item())
    for p, tp in zip(ps, tps):
        if tp.grad is not None:
            np.testing.assert_array_equal(p.grad.data, tp.grad.numpy())


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("clip", [0.3, 0.0, 10.0])
def test_clip_grad_value_matches_torch(clip: float, dtype: Any) -> None:
    ps, tps = _params(dtype, scale=2.0)
    before = [None if p.grad is None else p.grad.data.copy() for p in ps]
    assert clip_grad_value_(ps, clip) is None
    torch.nn.utils.clip_grad_value_(tps, clip)
    _same_grads(ps, tps, dtype)
    for p, b in zip(ps, before):
        if b is not None:
            assert np.all(np.abs(p.grad.data) <= clip)
            np.testing.assert_array_equal(p.grad.data, np.clip(b, -clip, clip))


def test_clip_keeps_gradients_writable_in_place() -> None:
    p = nn.Parameter(np.ones(3))
    (p * 10.0).sum().backward()
    g = p.grad
    v = g.version
    clip_grad_norm_([p], 1.0)
    assert p.grad is g and g.version > v  # the same Tensor, written in place
    (p * 10.0).sum().backward()  # accumulates into the clipped gradient
    clipped = 10.0 / (math.sqrt(300) + 1e-6)  # each entry 10, norm √300, scaled to 1
    np.testing.assert_allclose(g.data, 10.0 + clipped, rtol=1e-12)


def test_bad_arguments() -> None:
    ps, _ = _params(np.float64)
    before = [None if p.grad is None else p.grad.data.copy() for p in ps]
    with pytest.raises(ValueError, match="norm_type must be > 0"):
        clip_grad_norm_(ps, 1.0, norm_type=0)
    with pytest.raises(TypeError, match="norm_type must be a number or 'inf'"):
        clip_grad_norm_(ps, 1.0, norm_type="fro")
    with pytest.raises(TypeError, match="max_norm must be a number"):
        clip_grad_norm_(ps, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="parameter 1 is a ndarray"):
        clip_grad_norm_([ps[0], np.zeros(2)], 1.0)  # type: ignore[list-item]
    with pytest.raises(TypeError, match="clip_value must be a number"):
        clip_grad_value_(ps, "1")  # type: ignore[arg-type]
    for p, b in zip(ps, before):
        if b is not None:
            np.testing.assert_array_equal(p.grad.data, b)
