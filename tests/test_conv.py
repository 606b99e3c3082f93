"""Convolution, pooling, padding and flattening against PyTorch (forward and gradients, float64
to 1e-10 and float32 to 1e-5), second order against central differences and PyTorch's double
backward, and bad input: clear errors naming the op, the shapes and what would fit."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F

torch = pytest.importorskip("torch")
tF = torch.nn.functional

TOL = {np.float64: (1e-10, 1e-10), np.float32: (1e-5, 1e-5)}


def _run_both(fn_mg: Any, fn_torch: Any, arrays: list[np.ndarray], dtype: Any,
              seed: int = 0) -> None:
    """Forward and the gradient of ⟨y, w⟩ for every input, minigrad against PyTorch."""
    arrays = [a.astype(dtype) for a in arrays]
    xs = [mg.Tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.from_numpy(a.copy()).requires_grad_() for a in arrays]
    y = fn_mg(*xs)
    ty = fn_torch(*ts)
    rtol, atol = TOL[dtype]
    assert y.dtype == dtype
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=rtol, atol=atol)
    w = np.random.default_rng(seed).standard_normal(y.shape).astype(dtype)
    (y * mg.Tensor(w)).sum().backward()
    (ty * torch.from_numpy(w)).sum().backward()
    for i, (x, t) in enumerate(zip(xs, ts)):
        assert x.grad is not None and x.grad.dtype == dtype, i
        np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {i}")


# (x shape, weight shape, stride, padding, dilation, groups, bias)
CONV2D_GRID = [
    ((2, 3, 8, 8), (4, 3, 3, 3), 1, 0, 1, 1, True),
    ((2, 3, 8, 8), (4, 3, 3, 3), 1, 1, 1, 1, True),
    ((1, 3, 9, 7), (5, 3, 3, 3), 2, 1, 1, 1, True),  # batch of 1, odd sizes, stride 2
    ((3, 2, 7, 7), (4, 2, 1, 1), 1, 0, 1, 1, False),  # 1×1 kernel
    ((2, 2, 5, 5), (3, 2, 5, 5), 1, 0, 1, 1, True),  # kernel as large as the input
    ((2, 2, 3, 3), (3, 2, 5, 5), 1, 1, 1, 1, True),  # kernel as large as the padded input
    ((2, 2, 4, 5), (3, 2, 3, 3), 1, 3, 1, 1, True),  # padding larger than the kernel
    ((2, 4, 8, 8), (6, 2, 3, 3), 1, 1, 1, 2, True),  # groups
    ((2, 4, 8, 8), (4, 1, 3, 3), 2, 1, 1, 4, False),  # depthwise
    ((2, 2, 10, 9), (3, 2, 3, 2), (2, 3), (1, 0), (2, 3), 1, True),  # pairs everywhere
    ((1, 6, 11, 11), (6, 3, 3, 3), 3, 2, 2, 2, True),  # all of them at once
    ((4, 1, 8, 8), (16, 1, 3, 3), 1, 1, 1, 1, True),  # the digits CNN's first layer
    # stride 1 runs on the flat grid: odd sizes, dilation, groups and uneven pairs there too
    ((2, 4, 7, 9), (6, 2, 3, 2), 1, (2, 1), (1, 2), 2, True),
    ((3, 3, 5, 4), (2, 3, 2, 3), 1, (0, 2), (2, 1), 1, False),
    ((2, 16, 4, 4), (32, 16, 3, 3), 1, 1, 1, 1, True),  # the digits CNN's second layer
    ((2, 3, 1, 6), (2, 3, 1, 3), 1, 0, 1, 1, True),  # one row
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", CONV2D_GRID, ids=[f"c{i}" for i in range(len(CONV2D_GRID))])
def test_conv2d_matches_torch(case: tuple, dtype: Any) -> None:
    xs, ws, s, p, d, g, bias = case
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(xs), rng.standard_normal(ws)]
    if bias:
        arrays.append(rng.standard_normal(ws[0]))
    _run_both(lambda *a: F.conv2d(*a, stride=s, padding=p, dilation=d, groups=g),
              lambda *a: tF.conv2d(*a, stride=s, padding=p, dilation=d, groups=g),
              arrays, dtype)


CONV1D_GRID = [
    ((2, 3, 10), (4, 3, 3), 1, 0, 1, 1, True),
    ((1, 2, 9), (4, 2, 2), 2, 3, 1, 1, True),
    ((2, 4, 12), (6, 2, 3), 3, 1, 2, 2, False),
    ((3, 2, 4), (2, 2, 4), 1, 0, 1, 1, True),
    ((2, 2, 5), (3, 2, 1), 1, 0, 1, 1, True),
    ((2, 4, 11), (4, 2, 3), 1, 2, 3, 2, True),  # stride 1 (the flat grid) with dilation
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", CONV1D_GRID, ids=[f"c{i}" for i in range(len(CONV1D_GRID))])
def test_conv1d_matches_torch(case: tuple, dtype: Any) -> None:
    xs, ws, s, p, d, g, bias = case
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal(xs), rng.standard_normal(ws)]
    if bias:
        arrays.append(rng.standard_normal(ws[0]))
    _run_both(lambda *a: F.conv1d(*a, stride=s, padding=p, dilation=d, groups=g),
              lambda *a: tF.conv1d(*a, stride=s, padding=p, dilation=d, groups=g),
              arrays, dtype)


@pytest.mark.parametrize("where", ["x", "weight"])
@pytest.mark.parametrize("stride", [1, 2], ids=["grid", "strided"])
def test_conv2d_with_inf_gives_torchs_nans_and_no_others(where: str, stride: int) -> None:
    """A ±∞ reaches exactly the outputs and gradients that read it, as in PyTorch: the
    stride-1 kernels compute on a grid with positions the output does not have, and
    0 · ∞ there must not spill NaN onto the real ones."""
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((2, 3, 6, 7)), rng.standard_normal((4, 3, 3, 3))
    (x if where == "x" else w)[0, 1, -1, -1] = np.inf  # the corner the grid reads past
    xs = [mg.Tensor(x, requires_grad=True), mg.Tensor(w, requires_grad=True)]
    ts = [torch.tensor(a, requires_grad=True) for a in (x, w)]
    with np.errstate(invalid="ignore"):  # ∞ · 0 is NaN on purpose
        y = F.conv2d(*xs, stride=stride, padding=1)
        g = rng.standard_normal(y.shape)
        y.backward(g)
    ty = tF.conv2d(*ts, stride=stride, padding=1)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-10, atol=1e-10)
    for t, tt in zip(xs, ts):
        assert t.grad is not None
        np.testing.assert_allclose(t.grad.data, tt.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_string_padding_matches_torch(padding: str) -> None:
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 5))]
    _run_both(lambda x, w: F.conv2d(x, w, padding=padding, dilation=(2, 1)),
              lambda x, w: tF.conv2d(x, w, padding=padding, dilation=(2, 1)),
              arrays, np.float64)


def test_unbatched_input_matches_torch() -> None:
    rng = np.random.default_rng(4)
    arrays = [rng.standard_normal((3, 6, 6)), rng.standard_normal((2, 3, 3, 3)),
              rng.standard_normal(2)]
    _run_both(lambda *a: F.conv2d(*a, padding=1), lambda *a: tF.conv2d(*a, padding=1),
              arrays, np.float64)
    _run_both(lambda x: F.max_pool2d(x, 2), lambda x: tF.max_pool2d(x, 2),
              [rng.standard_normal((3, 6, 6))], np.float64)


POOL_GRID = [
    ((2, 3, 8, 8), 2, None, 0),
    ((1, 2, 7, 9), 3, 2, 1),  # overlapping windows, padding
    ((2, 1, 5, 6), (2, 3), (1, 2), (1, 1)),
    ((2, 2, 4, 4), 4, None, 0),  # kernel as large as the input
    ((1, 1, 3, 3), 3, 1, 1),  # padding half the kernel
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", POOL_GRID, ids=[f"p{i}" for i in range(len(POOL_GRID))])
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_matches_torch(kind: str, case: tuple, dtype: Any) -> None:
    xs, k, s, p = case
    x = np.random.default_rng(5).standard_normal(xs)
    ours, theirs = (F.max_pool2d, tF.max_pool2d) if kind == "max" else (F.avg_pool2d,
                                                                        tF.avg_pool2d)
    _run_both(lambda a: ours(a, k, s, p), lambda a: theirs(a, k, s, p), [x], dtype)


def test_max_pool_dilation_matches_torch() -> None:
    x = np.random.default_rng(6).standard_normal((2, 2, 9, 8))
    _run_both(lambda a: F.max_pool2d(a, 3, 2, 1, dilation=(2, 1)),
              lambda a: tF.max_pool2d(a, 3, 2, 1, dilation=(2, 1)), [x], np.float64)


@pytest.mark.parametrize("case", [(2, 2, 0), (3, 2, 1), (2, 1, 0)],
                         ids=["disjoint", "overlapping", "stride-1"])
def test_max_pool_nan_and_ties_pick_torchs_position(case: tuple) -> None:
    """Values on a few levels (many ties) and NaN here and there: the same outputs and the
    same positions for δ as PyTorch, whose kernel lets a tap take over when it is greater or
    NaN."""
    k, s, p = case
    rng = np.random.default_rng(8)
    x = rng.integers(-2, 3, (2, 3, 7, 8)).astype(np.float64)
    x[0, 0, 0, :3] = np.nan
    x[1, 2, 3:5, 4] = np.nan
    t = mg.Tensor(x, requires_grad=True)
    tt = torch.tensor(x, requires_grad=True)
    y = F.max_pool2d(t, k, s, p)
    ty = tF.max_pool2d(tt, k, s, p)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_array_equal(y.data, ty.detach().numpy())
    assert t.grad is not None
    np.testing.assert_array_equal(t.grad.data, tt.grad.numpy())


@pytest.mark.parametrize("stride", [1, 2], ids=["overlapping", "disjoint"])
def test_max_pool_ties_send_the_gradient_to_one_position_as_torch(stride: int) -> None:
    x = np.zeros((1, 2, 5, 5))
    x[0, 1, 1:4, 1:4] = 1.0  # a plateau: every window over it has several maxima
    _run_both(lambda a: F.max_pool2d(a, 2, stride, 1), lambda a: tF.max_pool2d(a, 2, stride, 1),
              [x], np.float64)
    t = mg.Tensor(x, requires_grad=True)
    F.max_pool2d(t, 2, stride, 1).sum().backward()
    assert t.grad is not None
    out = F.max_pool2d(mg.Tensor(x), 2, stride, 1)
    assert t.grad.sum() == out.data.size  # one position per window, none shared out


@pytest.mark.parametrize("pad", [(1, 2), (0, 1, 2, 3), (-1, 2, 1, -2), (1, 1, 0, 0, 2, 0)])
def test_pad_matches_torch(pad: tuple) -> None:
    x = np.random.default_rng(7).standard_normal((2, 3, 4, 5))
    for dtype in (np.float64, np.float32):
        _run_both(lambda a: F.pad(a, pad, value=0.5), lambda a: tF.pad(a, pad, value=0.5),
                  [x], dtype)


@pytest.mark.parametrize("dims", [(1, -1), (0, -1), (1, 2), (2, 3), (-2, -1)])
def test_flatten_matches_torch(dims: tuple) -> None:
    x = np.random.default_rng(8).standard_normal((2, 3, 4, 5))
    _run_both(lambda a: F.flatten(a, *dims), lambda a: torch.flatten(a, *dims), [x],
              np.float64)
    assert mg.Tensor(x).flatten(*dims).shape == torch.flatten(torch.from_numpy(x), *dims).shape


# --------------------------------------------------------------------------- second order
SECOND = [
    ((1, 2, 5, 5), (2, 2, 3, 3), 1, 1, 1, 1),
    ((2, 2, 5, 4), (2, 1, 2, 3), 2, 1, (1, 2), 2),
    ((1, 1, 4, 4), (1, 1, 4, 4), 1, 2, 1, 1),
]


@pytest.mark.parametrize("case", SECOND, ids=[f"s{i}" for i in range(len(SECOND))])
def test_conv2d_gradgradcheck(case: tuple) -> None:
    xs, ws, s, p, d, g = case
    rng = np.random.default_rng(9)
    x = mg.Tensor(rng.standard_normal(xs), requires_grad=True)
    w = mg.Tensor(rng.standard_normal(ws), requires_grad=True)
    b = mg.Tensor(rng.standard_normal(ws[0]), requires_grad=True)
    mg.gradgradcheck(lambda *a: F.conv2d(*a, stride=s, padding=p, dilation=d, groups=g),
                     [x, w, b], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_gradgradcheck(kind: str) -> None:
    x = np.random.default_rng(10).permutation(50).reshape(1, 2, 5, 5) * 0.3
    pool = F.max_pool2d if kind == "max" else F.avg_pool2d
    mg.gradgradcheck(lambda a: pool(a * a, 3, 2, 1), [mg.Tensor(x, requires_grad=True)])


def test_gradient_penalty_matches_torch_double_backward() -> None:
    """‖∇x L‖² differentiated w.r.t. the weights, through two convolutions and a pool."""
    rng = np.random.default_rng(11)
    arrays = [rng.standard_normal((2, 2, 6, 6)), rng.standard_normal((3, 2, 3, 3)),
              rng.standard_normal((2, 3, 2, 2))]

    def ours(x, w1, w2):
        x = mg.Tensor(x, requires_grad=True)
        w1, w2 = mg.Tensor(w1, requires_grad=True), mg.Tensor(w2, requires_grad=True)
        h = F.max_pool2d(F.conv2d(x, w1, padding=1).tanh(), 2)
        y = F.conv2d(h, w2, stride=2)
        (gx,) = mg.grad((y * y).sum(), [x], create_graph=True)
        return mg.grad((gx * gx).sum(), [w1, w2])

    def theirs(x, w1, w2):
        x = torch.from_numpy(x).requires_grad_()
        w1, w2 = torch.from_numpy(w1).requires_grad_(), torch.from_numpy(w2).requires_grad_()
        h = tF.max_pool2d(tF.conv2d(x, w1, padding=1).tanh(), 2)
        y = tF.conv2d(h, w2, stride=2)
        (gx,) = torch.autograd.grad((y * y).sum(), [x], create_graph=True)
        return torch.autograd.grad((gx * gx).sum(), [w1, w2])

    for a, t in zip(ours(*arrays), theirs(*arrays)):
        np.testing.assert_allclose(a.data, t.numpy(), rtol=1e-10, atol=1e-10)


# ------------------------------------------------------------------------------ bad input
def _bad(fn: Any, *args: Any, match: str, kind: type = ValueError, **kw: Any) -> None:
    before = [a.data.copy() for a in args if isinstance(a, mg.Tensor)]
    with pytest.raises(kind, match=match) as info:
        fn(*args, **kw)
    after = [a for a in args if isinstance(a, mg.Tensor)]
    for b, a in zip(before, after):
        np.testing.assert_array_equal(a.data, b)  # changes nothing
        assert a.grad is None
    return info.value


def _t(*shape: int) -> mg.Tensor:
    return mg.Tensor(np.ones(shape), requires_grad=True)


def test_kernel_larger_than_padded_input() -> None:
    e = _bad(F.conv2d, _t(1, 1, 4, 4), _t(2, 1, 5, 5), padding=0,
             match=r"^conv2d: kernel 5×5 is larger than the padded input 4×4")
    assert "(1, 1, 4, 4)" in str(e) and "(2, 1, 5, 5)" in str(e) and "at most 4×4" in str(e)
    _bad(F.conv2d, _t(1, 1, 4, 4), _t(2, 1, 3, 3), dilation=2,
         match=r"conv2d: kernel 3×3 with dilation 2×2 spans 5×5 .* padded input 4×4")
    _bad(F.conv1d, _t(1, 1, 3), _t(2, 1, 6), padding=1,
         match=r"^conv1d: kernel 6 is larger than the padded input 5")
    _bad(F.max_pool2d, _t(1, 1, 2, 2), 3, match=r"^max_pool2d: kernel 3×3 is larger")
    _bad(F.avg_pool2d, _t(1, 1, 2, 3), (2, 4), match=r"^avg_pool2d: kernel 2×4 is larger")


def test_channels_that_do_not_match_the_weight() -> None:
    e = _bad(F.conv2d, _t(2, 3, 5, 5), _t(4, 2, 3, 3), _t(4),
             match=r"^conv2d: input of shape \(2, 3, 5, 5\) has 3 channels but weight of shape "
                   r"\(4, 2, 3, 3\) with groups=1 expects 2")
    assert "(4, 3, 3, 3)" in str(e)  # the weight that would fit
    _bad(F.conv2d, _t(2, 4, 5, 5), _t(6, 1, 3, 3), groups=2,
         match=r"conv2d: .* has 4 channels but weight .* groups=2 expects 2")
    _bad(F.conv2d, _t(2, 3, 5, 5), _t(4, 1, 3, 3), groups=2,
         match=r"^conv2d: groups=2 must divide both the input's channels \(3")
    _bad(F.conv2d, _t(2, 4, 5, 5), _t(3, 2, 3, 3), groups=2,
         match=r"^conv2d: groups=2 must divide .* out_channels \(3")
    _bad(F.conv2d, _t(2, 3, 5, 5), _t(4, 3, 3, 3), _t(3),
         match=r"^conv2d: bias must have shape \(4,\)")


def test_wrong_number_of_dimensions() -> None:
    _bad(F.conv2d, _t(3, 5, 5, 2, 1), _t(4, 3, 3, 3),
         match=r"^conv2d: expected an input of 4 dimensions \(N, C, H, W\), got shape "
               r"\(3, 5, 5, 2, 1\)")
    _bad(F.conv2d, _t(2, 3, 5, 5), _t(4, 3, 3),
         match=r"^conv2d: expected a weight of 4 dimensions")
    _bad(F.conv1d, _t(2, 3, 5, 5), _t(4, 3, 3), match=r"^conv1d: expected an input of 3")
    _bad(F.max_pool2d, _t(5, 5), 2, match=r"^max_pool2d: expected an input of 4 dimensions")


def test_bad_arguments() -> None:
    _bad(F.conv2d, _t(1, 1, 5, 5), _t(1, 1, 3, 3), stride=0, match=r"^conv2d: stride must be ≥ 1")
    _bad(F.conv2d, _t(1, 1, 5, 5), _t(1, 1, 3, 3), padding=(1, 2, 3), kind=TypeError,
         match=r"^conv2d: padding must be an int or 2 ints")
    _bad(F.conv2d, _t(1, 1, 5, 5), _t(1, 1, 3, 3), padding="full", match="conv2d: padding")
    _bad(F.max_pool2d, _t(1, 1, 6, 6), 2, padding=2,
         match=r"^max_pool2d: padding \(2, 2\) must be at most half the kernel")
    _bad(F.pad, _t(2, 3), (1, 2, 3), match=r"^pad: pad \(1, 2, 3\) must hold")
    _bad(F.flatten, _t(2, 3), 2, match=r"^flatten: start_dim=2")


# -------------------------------------------------------------------------------- modules
def _torch_cnn(tnn: Any) -> Any:
    return tnn.Sequential(
        tnn.Conv2d(1, 4, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(4, 6, (3, 2), stride=(1, 2), padding=(1, 0), groups=2), tnn.Tanh(),
        tnn.AvgPool2d(2, 1), tnn.Flatten(), tnn.Linear(6 * 3 * 1, 5))


def _our_cnn(dtype: Any) -> Any:
    from minigrad import nn

    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, dtype=dtype), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, (3, 2), stride=(1, 2), padding=(1, 0), groups=2, dtype=dtype),
        nn.Tanh(), nn.AvgPool2d(2, 1), nn.Flatten(), nn.Linear(6 * 3 * 1, 5, dtype=dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_torch_state_dict_gives_torch_outputs_and_gradients(dtype: Any) -> None:
    torch.manual_seed(0)
    tmodel = _torch_cnn(torch.nn).to(torch.float64 if dtype == np.float64 else torch.float32)
    model = _our_cnn(dtype)
    state = {k: v.detach().numpy() for k, v in tmodel.state_dict().items()}
    assert list(state) == list(model.state_dict())
    assert all(model.state_dict()[k].shape == v.shape for k, v in state.items())
    model.load_state_dict(state)
    x = np.random.default_rng(12).standard_normal((3, 1, 8, 8)).astype(dtype)
    y = np.array([0, 3, 4])
    out = model(mg.Tensor(x))
    tout = tmodel(torch.from_numpy(x))
    rtol, atol = TOL[dtype]
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=rtol, atol=atol)
    F.cross_entropy(out, y).backward()
    tF.cross_entropy(tout, torch.from_numpy(y)).backward()
    tparams = dict(tmodel.named_parameters())
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.dtype == dtype, name
        np.testing.assert_allclose(p.grad, tparams[name].grad.numpy(), rtol=rtol, atol=atol,
                                   err_msg=name)


def test_conv1d_module_loads_torch_weights() -> None:
    from minigrad import nn

    torch.manual_seed(1)
    t = torch.nn.Conv1d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2).double()
    m = nn.Conv1d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2, dtype=np.float64)
    m.load_state_dict({k: v.detach().numpy() for k, v in t.state_dict().items()})
    x = np.random.default_rng(13).standard_normal((2, 4, 11))
    _run_both(lambda a: m(a), lambda a: t(a), [x], np.float64)
    assert m.describe() == "Conv1d(4→6, 3)"


def test_default_initialisation_is_torchs() -> None:
    from minigrad import nn

    mg.manual_seed(0)
    m = nn.Conv2d(8, 32, (3, 5), groups=2)
    t = torch.nn.Conv2d(8, 32, (3, 5), groups=2)
    bound = 1 / np.sqrt(4 * 3 * 5)  # fan_in = in_channels/groups · kH · kW
    for ours, theirs in ((m.weight, t.weight), (m.bias, t.bias)):
        assert ours is not None and ours.shape == tuple(theirs.shape)
        assert ours.dtype == np.float32
        assert np.abs(ours.data).max() <= bound
        # U(−r, r) has standard deviation r/√3
        assert abs(ours.data.std() - bound / np.sqrt(3)) < 0.1 * bound
    assert nn.Conv2d(1, 2, 3, bias=False).bias is None
    assert "bias" not in nn.Conv2d(1, 2, 3, bias=False).state_dict()


def test_module_reprs_and_diagram_labels() -> None:
    from minigrad import nn

    conv = nn.Conv2d(1, 16, 3, padding=1)
    assert conv.describe() == "Conv2d(1→16, 3×3)"
    assert repr(conv) == "Conv2d(1, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"
    assert nn.MaxPool2d(2).describe() == "MaxPool2d(2×2)"
    assert nn.AvgPool2d((2, 3)).describe() == "AvgPool2d(2×3)"
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"


def test_module_bad_arguments() -> None:
    from minigrad import nn

    with pytest.raises(ValueError, match="Conv2d: groups=2 must divide in_channels=3"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(TypeError, match="Conv2d: kernel_size must be an int or 2 ints"):
        nn.Conv2d(3, 4, (3, 3, 3))
    with pytest.raises(ValueError, match="Conv1d: in_channels must be a positive integer"):
        nn.Conv1d(0, 4, 3)
    m = nn.Conv2d(3, 4, 3)
    before = m.weight.data.copy()
    with pytest.raises(ValueError, match=r"conv2d: input of shape \(1, 2, 5, 5\) has 2 channels"):
        m(mg.Tensor(np.ones((1, 2, 5, 5), np.float32)))
    np.testing.assert_array_equal(m.weight.data, before)


# ------------------------------------------------------------------------------ benchmark
def _bench_module() -> Any:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "bench" / "bench_cnn.py"
    spec = importlib.util.spec_from_file_location("bench_cnn", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_torch_twin_of_the_digits_cnn_agrees() -> None:
    """The benchmark's PyTorch CNN, loaded with DigitsCNN's weights, gives the same loss and
    gradients (checked before anything is timed), and a wrong weight is noticed."""
    bench = _bench_module()
    step = bench.StepCase(batch=4, c1=2, c2=3)
    assert step.check() < 1e-5
    step.model.fc.weight.data[0, 0] += 1.0
    with pytest.raises(AssertionError, match="cnn-step: minigrad and PyTorch differ"):
        step.check()


@pytest.mark.slow
def test_bench_rows() -> None:
    rows = _bench_module().rows(quick=True)
    assert [(r["scenario"], r["library"]) for r in rows] == [
        ("conv2d-fwd-bwd", "minigrad"), ("conv2d-fwd-bwd", "torch"),
        ("cnn-step", "minigrad"), ("cnn-step", "torch")]
    for r in rows:
        assert r["unit"] == "s" and r["value"] > 0
        assert r["spread"][0] <= r["value"] <= r["spread"][1]
        assert r["ratio"] == 1.0 if r["library"] == "torch" else r["ratio"] > 0
