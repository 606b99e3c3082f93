"""Batch normalization against PyTorch: `F.batch_norm` (outputs, gradients of first and second
order, running statistics in place), the BatchNorm modules (state dicts both ways, training
steps, train/eval) and bad input that must change nothing."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import minigrad
import minigrad.functional as F
from minigrad import Tensor

torch = pytest.importorskip("torch")

TOL = {np.float64: dict(rtol=1e-10, atol=1e-10), np.float32: dict(rtol=1e-5, atol=1e-5)}
SHAPES = [(4, 3), (5, 2, 3), (3, 2, 4, 5), (1, 3, 2, 2)]


def _close(a: Any, b: Any, dtype: Any, what: str) -> None:
    a = a.data if isinstance(a, Tensor) else np.asarray(a)
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    np.testing.assert_allclose(a, b, err_msg=what, **TOL[dtype])


def _pair(arr: np.ndarray, grad: bool = True) -> tuple[Tensor, Any]:
    return (Tensor(arr.copy(), requires_grad=grad),
            torch.tensor(arr.copy(), requires_grad=grad))


# --------------------------------------------------------------------------- F.batch_norm
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_functional_matches_torch(shape: tuple[int, ...], training: bool, dtype: Any) -> None:
    rng = np.random.default_rng(sum(shape))
    C = shape[1]
    x, tx = _pair(rng.normal(1.0, 2.0, shape).astype(dtype))
    w, tw = _pair(rng.uniform(0.5, 1.5, C).astype(dtype))
    b, tb = _pair(rng.normal(size=C).astype(dtype))
    rm0 = rng.normal(size=C).astype(dtype)
    rv0 = rng.uniform(0.5, 2.0, C).astype(dtype)
    rm, rv = Tensor(rm0.copy()), Tensor(rv0.copy())
    trm, trv = torch.tensor(rm0.copy()), torch.tensor(rv0.copy())

    y = F.batch_norm(x, rm, rv, w, b, training=training, momentum=0.3, eps=1e-4)
    ty = torch.nn.functional.batch_norm(tx, trm, trv, tw, tb, training, 0.3, 1e-4)
    assert y.dtype == dtype
    _close(y, ty, dtype, "forward")
    _close(rm, trm, dtype, "running_mean")
    _close(rv, trv, dtype, "running_var")
    if training:
        assert not np.allclose(rm.data, rm0)  # the update did happen
    else:
        np.testing.assert_array_equal(rm.data, rm0)

    d = rng.normal(size=shape).astype(dtype)
    y.backward(d)
    ty.backward(torch.tensor(d))
    for name, a, t in (("x", x, tx), ("weight", w, tw), ("bias", b, tb)):
        assert a.grad is not None and a.grad.dtype == dtype
        _close(a.grad, t.grad, dtype, f"∇{name}")


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_second_order_matches_torch(training: bool) -> None:
    """Gradients of ‖∇x L‖² + Σ∇γ L, differentiated again, agree with PyTorch's."""
    rng = np.random.default_rng(3)
    shape = (3, 2, 4)
    x, tx = _pair(rng.normal(size=shape))
    w, tw = _pair(rng.uniform(0.5, 1.5, 2))
    b, tb = _pair(rng.normal(size=2))
    stats = (rng.normal(size=2), rng.uniform(0.5, 2, 2))
    d = rng.normal(size=shape)

    y = F.batch_norm(x, stats[0].copy(), stats[1].copy(), w, b, training=training)
    gx, gw = minigrad.grad(y, [x, w], grad_outputs=Tensor(d), create_graph=True)
    ((gx * gx).sum() + (gw * gw).sum()).backward()

    ty = torch.nn.functional.batch_norm(tx, torch.tensor(stats[0]), torch.tensor(stats[1]),
                                        tw, tb, training)
    tgx, tgw = torch.autograd.grad(ty, [tx, tw], torch.tensor(d), create_graph=True)
    ((tgx * tgx).sum() + (tgw * tgw).sum()).backward()
    for name, a, t in (("x", x, tx), ("weight", w, tw)):
        _close(a.grad, t.grad, np.float64, f"∇²{name}")


def test_gradient_equals_composed_ops() -> None:
    """The fused VJP equals autograd through mean, var and sqrt written out."""
    rng = np.random.default_rng(4)
    xa = rng.normal(size=(4, 3, 5))
    x1, x2 = Tensor(xa.copy(), requires_grad=True), Tensor(xa.copy(), requires_grad=True)
    w = Tensor(rng.uniform(0.5, 1.5, 3), requires_grad=True)
    d = rng.normal(size=xa.shape)
    F.batch_norm(x1, None, None, w, training=True).backward(d)
    mu = x2.mean(axis=(0, 2), keepdims=True)
    var = ((x2 - mu) * (x2 - mu)).mean(axis=(0, 2), keepdims=True)
    ((x2 - mu) / (var + 1e-5).sqrt() * w.data.reshape(1, 3, 1)).backward(d)
    np.testing.assert_allclose(x1.grad.data, x2.grad.data, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_running_statistics_over_steps(dtype: Any) -> None:
    rng = np.random.default_rng(5)
    rm, rv = Tensor(np.zeros(3, dtype)), Tensor(np.ones(3, dtype))
    trm, trv = torch.from_numpy(np.zeros(3, dtype)), torch.from_numpy(np.ones(3, dtype))
    for step in range(6):
        xa = rng.normal(step, 1 + step, (2, 3, 2, 2)).astype(dtype)
        F.batch_norm(Tensor(xa), rm, rv, training=True, momentum=0.2)
        torch.nn.functional.batch_norm(torch.tensor(xa), trm, trv, training=True, momentum=0.2)
    _close(rm, trm, dtype, "running_mean")
    _close(rv, trv, dtype, "running_var")


def test_unbiased_running_variance_by_hand() -> None:
    x = np.array([[1.0, 10.0], [3.0, 20.0], [8.0, 60.0]])
    rm, rv = np.zeros(2), np.ones(2)
    F.batch_norm(Tensor(x), rm, rv, training=True, momentum=1.0)
    np.testing.assert_allclose(rm, x.mean(axis=0))
    np.testing.assert_allclose(rv, x.var(axis=0, ddof=1))


def test_no_running_statistics_in_training() -> None:
    rng = np.random.default_rng(6)
    xa = rng.normal(size=(4, 2, 3))
    y = F.batch_norm(Tensor(xa), None, None, training=True)
    ty = torch.nn.functional.batch_norm(torch.tensor(xa), None, None, training=True)
    _close(y, ty, np.float64, "forward")


def test_bias_without_weight() -> None:
    rng = np.random.default_rng(8)
    xa = rng.normal(size=(4, 2))
    b, tb = _pair(rng.normal(size=2))
    y = F.batch_norm(Tensor(xa), None, None, None, b, training=True)
    ty = torch.nn.functional.batch_norm(torch.tensor(xa), None, None, None, tb, training=True)
    _close(y, ty, np.float64, "forward")
    y.sum().backward()
    ty.sum().backward()
    _close(b.grad, tb.grad, np.float64, "∇bias")


def test_eval_backward_ignores_later_updates() -> None:
    """An eval-mode output keeps the running statistics it was computed with for backward."""
    rng = np.random.default_rng(9)
    rm, rv = np.zeros(2), np.ones(2) * 4.0
    x = Tensor(rng.normal(size=(3, 2)), requires_grad=True)
    y = F.batch_norm(x, rm, rv, training=False, eps=0.0)
    F.batch_norm(Tensor(rng.normal(size=(3, 2)) * 10), rm, rv, training=True)  # moves rv
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, np.full((3, 2), 0.5))


# --------------------------------------------------------------------------- bad input
def _bad_calls() -> list[tuple[str, dict[str, Any], str]]:
    return [
        ("channels", dict(x=(4, 3), C=4), r"running_mean of shape \(4,\).*\(4, 3\).*\(3,\)"),
        ("one value per channel", dict(x=(1, 3), C=3), r"more than 1 value per channel.*\(1, 3\)"),
        ("1x1 spatial", dict(x=(1, 3, 1, 1), C=3), r"more than 1 value per channel"),
        ("ndim", dict(x=(3,), C=3), r"input of shape \(3,\) has 1 dims"),
    ]


@pytest.mark.parametrize("name,spec,match", _bad_calls(), ids=[c[0] for c in _bad_calls()])
def test_bad_input_changes_nothing(name: str, spec: dict[str, Any], match: str) -> None:
    rng = np.random.default_rng(10)
    xa = rng.normal(size=spec["x"])
    C = spec["C"]
    rm0, rv0 = rng.normal(size=C), rng.uniform(0.5, 2, C)
    x, rm, rv = Tensor(xa.copy(), requires_grad=True), Tensor(rm0.copy()), Tensor(rv0.copy())
    versions = (rm.version, rv.version)
    with pytest.raises(ValueError, match=match) as info:
        F.batch_norm(x, rm, rv, training=True)
    assert str(info.value).startswith("batch_norm:")
    np.testing.assert_array_equal(rm.data, rm0)
    np.testing.assert_array_equal(rv.data, rv0)
    np.testing.assert_array_equal(x.data, xa)
    assert (rm.version, rv.version) == versions


def test_bad_weight_and_momentum() -> None:
    rm, rv = np.zeros(3), np.ones(3)
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"batch_norm: weight of shape \(2,\)"):
        F.batch_norm(x, rm, rv, np.ones(2), training=True)
    with pytest.raises(TypeError, match="num_batches_tracked"):
        F.batch_norm(x, rm, rv, training=True, momentum=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="evaluation mode"):
        F.batch_norm(x, None, None, training=False)
    np.testing.assert_array_equal(rm, 0.0)
    np.testing.assert_array_equal(rv, 1.0)
    frozen = np.ones(3)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="batch_norm: running_var is read-only"):
        F.batch_norm(x + np.arange(3.0), rm, frozen, training=True)
    np.testing.assert_array_equal(rm, 0.0)  # not half updated
    F.batch_norm(x, rm, frozen, training=False)  # evaluation only reads it


# --------------------------------------------------------------------------- modules
from minigrad import nn, optim  # noqa: E402

TORCH_DT = {np.float64: torch.float64, np.float32: torch.float32}


def _torch_bn(kind: str, C: int, dtype: Any, **kw: Any) -> Any:
    m = getattr(torch.nn, kind)(C, **kw).to(TORCH_DT[dtype])
    if m.affine:  # away from ones and zeros, so a swapped γ and β would show
        with torch.no_grad():
            m.weight.uniform_(0.5, 1.5)
            if m.bias is not None:
                m.bias.normal_()
    if m.track_running_stats:
        m.running_mean.normal_()
        m.running_var.uniform_(0.5, 2.0)
        m.num_batches_tracked.fill_(3)
    return m


def _from_torch(tm: Any) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in tm.state_dict().items()}


def _to_torch(sd: dict[str, Tensor]) -> dict[str, Any]:
    return {k: torch.from_numpy(v.data.copy()) for k, v in sd.items()}


def _check_same(m: Any, tm: Any, dtype: Any, what: str) -> None:
    sd, tsd = m.state_dict(), tm.state_dict()
    assert list(sd) == list(tsd), what
    for k in sd:
        assert sd[k].dtype == tsd[k].detach().numpy().dtype, f"{what}: dtype of {k}"
        _close(sd[k], tsd[k], dtype, f"{what}: {k}")


MODULE_CASES = [
    ("BatchNorm1d", (6, 3), {}),
    ("BatchNorm1d", (4, 3, 5), {"momentum": None}),
    ("BatchNorm2d", (3, 3, 4, 2), {}),
    ("BatchNorm2d", (1, 3, 2, 3), {"momentum": 0.3, "eps": 1e-3}),  # N = 1, spatial values
    ("BatchNorm2d", (2, 3, 2, 2), {"affine": False}),
    ("BatchNorm1d", (5, 3), {"track_running_stats": False}),
    ("BatchNorm1d", (4, 3), {"bias": False}),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("kind,shape,kw", MODULE_CASES,
                         ids=[f"{k}-{'x'.join(map(str, s))}-{kw}" for k, s, kw in MODULE_CASES])
def test_module_trains_like_torch(kind: str, shape: tuple[int, ...], kw: dict[str, Any],
                                  dtype: Any) -> None:
    """PyTorch's state dict loaded into the minigrad layer: the same outputs, gradients,
    parameters and running statistics over several SGD steps, then in eval mode."""
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    C = shape[1]
    tm = _torch_bn(kind, C, dtype, **kw)
    m = getattr(nn, kind)(C, dtype=dtype, **kw)
    m.load_state_dict(_from_torch(tm))
    _check_same(m, tm, dtype, "loaded")
    opt = optim.SGD(m.parameters(), lr=0.1, momentum=0.9) if m.affine else None
    topt = torch.optim.SGD(tm.parameters(), lr=0.1, momentum=0.9) if tm.affine else None
    for step in range(4):
        xa = rng.normal(step, 1.0 + step, shape).astype(dtype)
        d = rng.normal(size=shape).astype(dtype)
        x, tx = _pair(xa)
        y, ty = m(x), tm(tx)
        _close(y, ty, dtype, f"step {step} forward")
        y.backward(d)
        ty.backward(torch.tensor(d))
        _close(x.grad, tx.grad, dtype, f"step {step} ∇x")
        if opt is not None and topt is not None:
            for (name, p), tp in zip(m.named_parameters(), tm.parameters()):
                _close(p.grad, tp.grad, dtype, f"step {step} ∇{name}")
            opt.step()
            opt.zero_grad()
            topt.step()
            topt.zero_grad()
        _check_same(m, tm, dtype, f"after step {step}")
    m.eval()
    tm.eval()
    before = {k: v.data.copy() for k, v in m.state_dict().items()}
    xa = rng.normal(size=shape).astype(dtype)
    x, tx = _pair(xa)
    y, ty = m(x), tm(tx)
    _close(y, ty, dtype, "eval forward")
    y.backward(np.ones(shape, dtype))
    ty.sum().backward()
    _close(x.grad, tx.grad, dtype, "eval ∇x")
    for k, v in m.state_dict().items():  # eval mode moves no statistics
        np.testing.assert_array_equal(v.data, before[k], err_msg=k)


def test_train_and_eval_switch_behaviour() -> None:
    rng = np.random.default_rng(2)
    model = nn.Sequential(nn.Linear(3, 4, dtype="float64"), nn.BatchNorm1d(4, dtype="float64"))
    x = Tensor(rng.normal(2.0, 3.0, (8, 3)))
    h = model[0](x).data
    y_train = model(x).data
    np.testing.assert_allclose(y_train.mean(axis=0), 0, atol=1e-12)  # the batch's statistics
    bn = model[1]
    assert bn.num_batches_tracked.item() == 1
    model.eval()
    assert not bn.training
    stats = bn.running_mean.data.copy(), bn.running_var.data.copy()
    y_eval = model(x).data
    np.testing.assert_allclose(y_eval, (h - stats[0]) / np.sqrt(stats[1] + 1e-5), rtol=1e-12)
    assert bn.num_batches_tracked.item() == 1
    model.train()
    model(x)
    assert bn.num_batches_tracked.item() == 2


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_model_state_dict_to_torch(dtype: Any) -> None:
    """minigrad's state dict (parameters and buffers, in PyTorch's order) loads into the same
    PyTorch architecture, which then computes minigrad's outputs."""
    rng = np.random.default_rng(3)
    m = nn.Sequential(nn.Linear(4, 3, dtype=dtype), nn.BatchNorm1d(3, dtype=dtype), nn.ReLU(),
                      nn.Linear(3, 2, dtype=dtype))
    tm = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.ReLU(),
                             torch.nn.Linear(3, 2)).to(TORCH_DT[dtype])
    for _ in range(3):
        m(Tensor(rng.normal(size=(5, 4)).astype(dtype)))
    sd = m.state_dict()
    assert list(sd) == list(tm.state_dict())
    assert sd["1.num_batches_tracked"].dtype == np.int64 and sd["1.num_batches_tracked"].item() == 3
    tm.load_state_dict(_to_torch(sd))
    _check_same(m, tm, dtype, "minigrad → torch")
    xa = rng.normal(size=(6, 4)).astype(dtype)
    for mode in ("train", "eval"):
        getattr(m, mode)()
        getattr(tm, mode)()
        _close(m(Tensor(xa)), tm(torch.tensor(xa)), dtype, f"{mode} forward")
    _check_same(m, tm, dtype, "after both modes")


def test_conv_style_state_dict_keys_match_torch() -> None:
    for kw in ({}, {"affine": False}, {"track_running_stats": False}, {"bias": False}):
        assert list(nn.BatchNorm2d(4, **kw).state_dict()) == list(
            torch.nn.BatchNorm2d(4, **kw).state_dict()), kw
    m, tm = nn.BatchNorm2d(4), torch.nn.BatchNorm2d(4)
    assert repr(m) == repr(tm)
    for name in ("weight", "bias", "running_mean", "running_var"):
        np.testing.assert_array_equal(getattr(m, name).data, getattr(tm, name).detach().numpy())
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in tm.named_parameters()]
    assert [n for n, _ in m.named_buffers()] == [n for n, _ in tm.named_buffers()]


@pytest.mark.parametrize("kind,shape,match", [
    ("BatchNorm1d", (2, 3, 4, 5), r"BatchNorm1d: expected 2D or 3D input \(got 4D input"),
    ("BatchNorm2d", (2, 3, 4), r"BatchNorm2d: expected 4D input \(got 3D"),
    ("BatchNorm2d", (2, 4, 3, 3), r"BatchNorm2d\(3\): input of shape \(2, 4, 3, 3\) has 4 chan"),
    ("BatchNorm1d", (1, 3), r"batch_norm: expected more than 1 value per channel"),
    ("BatchNorm2d", (1, 3, 1, 1), r"more than 1 value per channel.*\(1, 3, 1, 1\)"),
], ids=["bn1d-4d", "bn2d-3d", "channels", "n1", "1x1"])
def test_module_bad_input_changes_nothing(kind: str, shape: tuple[int, ...], match: str) -> None:
    m = getattr(nn, kind)(3, momentum=None)
    m.running_mean.data[...] = [0.5, -1.0, 2.0]
    before = {k: v.data.copy() for k, v in m.state_dict().items()}
    versions = {k: v.version for k, v in m.named_buffers()}
    with pytest.raises(ValueError, match=match):
        m(Tensor(np.ones(shape, np.float32)))
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v.data, before[k], err_msg=k)
    assert {k: v.version for k, v in m.named_buffers()} == versions
