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
                                       lambda W: W.transpose(None), lambda W: W.permute(1, 0),
                                       lambda W: W.transpose(0, 1), lambda W: W.mT])
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
    (x.permute(-1, 0, 1) * mg.Tensor(w)).sum().backward()
    t = torch.tensor(a, requires_grad=True)
    (t.permute(-1, 0, 1) * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(x.grad.data, t.grad.numpy())


def test_permute_rejects_dims_that_are_not_a_permutation():
    x = mg.Tensor(np.zeros((2, 3)), requires_grad=True)
    with pytest.raises(ValueError, match=r"permute: dims \(0, 0\)"):
        x.permute(0, 0)


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


def test_cross_entropy_with_targets_that_do_not_sum_to_one():
    # found by the fuzzer: the gradient was ŷ − y, which assumes Σ y = 1; for −Σ y log ŷ it is
    # ŷ Σ y − y (PyTorch accepts any non-negative targets)
    rng = np.random.default_rng(0)
    a, y = rng.normal(size=(4, 3)), rng.uniform(0, 1, size=(4, 3))
    x = mg.Tensor(a, requires_grad=True)
    (g,) = mg.grad(mg.ops.cross_entropy(x, mg.Tensor(y)), x, create_graph=True)
    (h,) = mg.grad((g * g).sum(), x)
    t = torch.tensor(a, requires_grad=True)
    (tg,) = torch.autograd.grad(torch.nn.functional.cross_entropy(t, torch.tensor(y)), t,
                                create_graph=True)
    (th,) = torch.autograd.grad((tg * tg).sum(), t)
    np.testing.assert_allclose(g.data, tg.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(h.data, th.numpy(), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_on_transposed_3d_logits(reduction):
    # logits (B, T, C) made by a transpose are not C-contiguous: the VJP subtracted δ at the
    # target classes in a reshaped copy, so the gradient missed its −e(ℓ) part
    rng = np.random.default_rng(0)
    a, target = rng.normal(size=(10, 5, 4)), rng.integers(0, 10, size=(4, 5))
    x = mg.Tensor(a, requires_grad=True)
    loss = mg.ops.cross_entropy(x.T, target, reduction=reduction)
    (loss.sum() if reduction == "none" else loss).backward()
    t = torch.tensor(a, requires_grad=True)
    tl = torch.nn.functional.cross_entropy(t.T.reshape(-1, 10), torch.tensor(target).reshape(-1),
                                           reduction=reduction)
    tl.sum().backward()
    np.testing.assert_allclose(loss.data.reshape(-1), tl.detach().numpy().reshape(-1),
                               rtol=1e-12)
    np.testing.assert_allclose(x.grad.data, t.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_std_of_a_constant_has_zero_second_derivative():
    # found by the fuzzer: std masked s = 0 in its VJP but not the VJP itself, so the
    # Hessian-vector product at a constant input saw (x − x̄)/n and was not PyTorch's 0
    x = mg.Tensor(np.zeros(3), requires_grad=True)
    (g,) = mg.grad(x.std(correction=0) * 2.0 + x.std(correction=0) ** 2, x,
                   create_graph=True)
    (h,) = mg.grad((g * mg.Tensor(np.array([1.0, -2.0, 0.5]))).sum(), x)
    t = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    (tg,) = torch.autograd.grad(t.std(correction=0) * 2 + t.std(correction=0) ** 2, t,
                                create_graph=True)
    (th,) = torch.autograd.grad((tg * torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)).sum(),
                                t)
    np.testing.assert_array_equal(g.data, tg.detach().numpy())
    np.testing.assert_array_equal(h.data, th.numpy())


def test_float32_std_and_var_far_out():
    # found by the fuzzer: (x − x̄)² overflowed float32 at |x| = 1e30 although the std is
    # 5e29, and δ ⊙ (x − x̄) overflowed in the gradient before the division by s
    a = np.array([0.0, -1e30], dtype=np.float32)
    x = mg.Tensor(a, requires_grad=True)
    s = x.std(unbiased=False)
    (s * s.detach()).sum().backward()
    t = torch.tensor(a, requires_grad=True)
    ts = t.std(correction=0)
    (ts * ts.detach()).backward()
    np.testing.assert_allclose(s.data, ts.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.data, t.grad.numpy(), rtol=1e-6)
    assert x.var(correction=0).data == np.float32(np.inf) == t.var(correction=0).detach().numpy()


def test_var_of_equal_values_is_exactly_zero():
    # found by the fuzzer: the rounded mean of three values -1e30 is off by one ulp, and
    # the var was 2e28 where PyTorch gives 0
    x = mg.Tensor(np.full((3, 2), -1e30), requires_grad=True)
    np.testing.assert_array_equal(x.var(axis=0).data, [0.0, 0.0])
    np.testing.assert_array_equal(x.std(axis=0).data, [0.0, 0.0])


def test_layer_norm_of_zero_rows_beside_a_huge_row():
    # found by the fuzzer: the overflow guard scaled every row by the tensor's largest |x|,
    # so a row of zeros got σ² = eps/1e600 = 0 and x̂ = 0·∞ = nan; PyTorch gives 0
    a = np.zeros((3, 3))
    a[0, 0] = -1e300
    y = mg.ops.layer_norm(mg.Tensor(a), (3,))
    ref = torch.nn.functional.layer_norm(torch.tensor(a), (3,)).numpy()
    np.testing.assert_array_equal(y.data[1:], ref[1:])
    assert np.all(np.isfinite(y.data))


def _second_order(f, arrays, w, v, lib):
    """Forward, gradient and Hessian-vector product of ⟨f(x…), w⟩ + ½‖f(x…)‖² (the fuzzer's
    objective) in minigrad (`lib` = mg) or PyTorch (`lib` = torch) on the arrays as given."""
    if lib is torch:
        xs = [torch.tensor(a, requires_grad=True) for a in arrays]
        y = f(*xs)
        gs = torch.autograd.grad((y * torch.tensor(w)).sum() + 0.5 * (y * y).sum(), xs,
                                 create_graph=True)
        hs = torch.autograd.grad(sum((g * torch.tensor(d)).sum() for g, d in zip(gs, v)), xs)
        return y.detach().numpy(), [g.detach().numpy() for g in gs], [h.numpy() for h in hs]
    xs = [mg.Tensor(a, requires_grad=True) for a in arrays]
    y = f(*xs)
    gs = mg.grad((y * mg.Tensor(w)).sum() + 0.5 * (y * y).sum(), xs, create_graph=True)
    hs = mg.grad(sum((g * mg.Tensor(d)).sum() for g, d in zip(gs, v)), xs)
    return y.data, [g.data for g in gs], [h.data for h in hs]


def _against_float64(f_mg, f_torch, arrays, rtol, seed=0):
    """minigrad in the arrays' dtype against PyTorch on float64 copies (rounded back)."""
    rng = np.random.default_rng(seed)
    dt = arrays[0].dtype
    y = f_torch(*[torch.tensor(a.astype(np.float64)) for a in arrays])
    w = rng.standard_normal(y.shape).astype(dt)
    v = [rng.standard_normal(a.shape).astype(dt) for a in arrays]
    ours = _second_order(f_mg, arrays, w, v, mg)
    ref = _second_order(f_torch, [a.astype(np.float64) for a in arrays],
                        w.astype(np.float64), [d.astype(np.float64) for d in v], torch)
    for what, a, r in zip(("forward", "gradient", "Hessian-vector product"),
                          [ours[0]] + ours[1] + ours[2], [ref[0]] + ref[1] + ref[2]):
        r = r.astype(dt).astype(np.float64)
        assert np.all(np.isfinite(a)), (what, a, r)
        np.testing.assert_allclose(a, r, rtol=rtol, atol=rtol * np.max(np.abs(r)), err_msg=what)


def test_pow_with_a_huge_exponent_has_a_finite_second_derivative():
    # found by the fuzzer: δ·p·x^(p−1), evaluated left to right, made second order multiply
    # δ·p·(p − 1) = 1e60, ∞ in float32, by x^(p−2) = 0.75^1e30 = 0: NaN where H v is 0
    x = mg.Tensor(np.array(0.75, np.float32), requires_grad=True)
    p = mg.Tensor(np.array(1e30, np.float32), requires_grad=True)
    y = x ** p
    gx, gp = mg.grad((y * 0.125).sum() + 0.5 * (y * y).sum(), [x, p], create_graph=True)
    hx, hp = mg.grad(gx * 0.5 - gp * 1.5, [x, p])
    np.testing.assert_array_equal([gx.data, gp.data, hx.data, hp.data], 0.0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("value", [-1e30, 1e30, 0.1, -3.3, 7.1])
def test_normalizing_equal_values_gives_exactly_zero(dtype, value):
    # found by the fuzzer: for a row of equal values x − μ is the rounding error of μ
    # (1.4e14 beside 1e30), which normalization blew up to x̂ = ±1, so a weight of 1e150
    # gave 1e150 where the exact result is 0 (PyTorch's layer norm gives 0)
    x = np.full((2, 7), value, dtype)
    weight = mg.Tensor(np.full(7, 1e4, dtype))
    np.testing.assert_array_equal(mg.ops.layer_norm(mg.Tensor(x), 7, weight).data, 0.0)
    y = mg.ops.batch_norm(mg.Tensor(x.T.copy()), None, None, mg.Tensor(np.full(2, 1e4, dtype)),
                          training=True)
    np.testing.assert_array_equal(y.data, 0.0)


def test_float32_layer_norm_of_rows_past_the_square_range():
    # found by the fuzzer against a float64 reference: (x − μ)² overflowed float32 at
    # |x| = 1e30, σ became ∞ and x̂ 0 (the output was the bias alone); and second order
    # multiplied δγ = 1e34 by σ⁻³ = 3e7 before x − μ = 0: NaN where H v is 1e32
    a = np.array([[0.0, -1e30, -1e30], [-1e30, 3.0, -1e30]], np.float32)
    w = np.array([-1e4, 0.5, 2.0], np.float32)
    b = np.full(3, -1e30, np.float32)
    for f, arrays in (
        (lambda x, w: F_ln(x, w), [a, w]),
        (lambda x, w, b: F_ln(x, w, b), [np.zeros((1, 3), np.float32), w, b]),
    ):
        _against_float64(f, f, arrays, rtol=1e-4)


def F_ln(x, w, b=None):
    if isinstance(x, torch.Tensor):
        return torch.nn.functional.layer_norm(x, (3,), w, b)
    return mg.ops.layer_norm(x, 3, w, b)


def test_float32_batch_norm_of_channels_past_the_square_range():
    # found by the fuzzer against a float64 reference: as in layer norm, (x − μ)² overflowed
    # float32 at 1e30 (x̂ = 0, the output was the bias alone), and with γ = 1e30 second order
    # formed γ·δ = 1e60 on its way to x − μ: NaN
    a = np.array([[0.0, 2.0, 1.0], [-1e30, -1.0, 3.0], [5e29, 4.0, -2.0], [-2e30, 0.5, 0.0]],
                 np.float32)

    def f(x, w):
        if isinstance(x, torch.Tensor):
            return torch.nn.functional.batch_norm(x, None, None, w, None, True)
        return mg.ops.batch_norm(x, None, None, w, training=True)

    _against_float64(f, f, [a, np.array([1.0, 2.0, 0.5], np.float32)], rtol=1e-4)
    x = np.full((4, 3), -1e30, np.float32)
    x[0, 2] = 0.0
    w = np.array([1.0, 1.0, 1e30], np.float32)
    rng = np.random.default_rng(0)
    y, gs, hs = _second_order(f, [x, w], rng.standard_normal((4, 3)).astype(np.float32),
                              [rng.standard_normal(a.shape).astype(np.float32) for a in (x, w)],
                              mg)
    assert all(np.all(np.isfinite(h)) for h in hs)


def test_attention_row_whose_scores_all_overflow_to_minus_infinity():
    # found by the fuzzer: queries of −1e30 against keys of 1e15 or more overflow each float32
    # score of the row to −∞; PyTorch's safe softmax gives that row P = 0 (zeros out, no gradient
    # through it), as for a row a mask blocks, where minigrad gave NaN
    rng = np.random.default_rng(0)
    arrays = [np.array([[-1e30, -1e30], [1e-15, -2e-15]], np.float32),
              np.array([[1e15, 1e15], [2e15, 1e15], [1e15, 3e15]], np.float32),
              rng.standard_normal((3, 3)).astype(np.float32)]
    w = rng.standard_normal((2, 3)).astype(np.float32)
    v = [rng.standard_normal(a.shape).astype(np.float32) for a in arrays]

    def f(q, k, v):
        if isinstance(q, torch.Tensor):
            return torch.nn.functional.scaled_dot_product_attention(q, k, v)
        return mg.ops.scaled_dot_product_attention(q, k, v)

    ours, ref = _second_order(f, arrays, w, v, mg), _second_order(f, arrays, w, v, torch)
    np.testing.assert_array_equal(ours[0][0], 0.0)
    for a, r in zip([ours[0]] + ours[1] + ours[2], [ref[0]] + ref[1] + ref[2]):
        np.testing.assert_allclose(a, r, rtol=1e-5, atol=1e-5 * np.max(np.abs(r)))


def test_the_input_a_max_does_not_pick_gets_zero_when_delta_overflows():
    # found by the fuzzer: maximum(0, 1e30) · (−1e150) makes δ at the maximum 1e330 = ∞, and
    # the input it did not pick got ∞·0 = NaN, where PyTorch (and the maths) give 0; max and
    # min over an axis the same
    a = mg.Tensor(np.zeros((1, 1)), requires_grad=True)
    b = mg.Tensor(np.array(1e30), requires_grad=True)
    x = mg.Tensor(np.array([1e30, 0.0]), requires_grad=True)
    for y, zero in ((a.maximum(b), a), (x.max(), x)):
        z = y * mg.Tensor(np.array(-1e150))
        (g,) = mg.grad((z * z).sum(), [zero])
        assert np.all(g.data[np.asarray(zero.data) == 0] == 0), g.data


def test_std_of_a_constant_has_no_second_derivative_when_delta_overflows():
    # found by the fuzzer: std → exp → mul by −1e30 in float32 makes δ at the std 1e60 = ∞;
    # the rule for a constant input masked its result but multiplied δ by 0 inside, and the
    # Hessian-vector product was NaN where it is 0
    x = mg.Tensor(np.array([0.0], np.float32), requires_grad=True)
    z = x.std(keepdims=True, unbiased=False).exp() * mg.Tensor(np.array([-1e30], np.float32))
    (g,) = mg.grad((z * mg.Tensor(np.array([0.125], np.float32))).sum() + 0.5 * (z * z).sum(),
                   [x], create_graph=True)
    (h,) = mg.grad((g * mg.Tensor(np.array([0.5], np.float32))).sum(), [x])
    np.testing.assert_array_equal(h.data, 0.0)


def test_second_derivative_of_var_of_equal_values():
    # found by the fuzzer: the forward's var of 27 equal −1e150 is 0, but its rule took
    # x − x̄ about the rounded mean, one rounding off; the square of var' = 2(x − x̄)/n made
    # the Hessian-vector product 6e266 where it is 0.01 (PyTorch agrees)
    rng = np.random.default_rng(0)
    a, v = np.full((3, 3, 3), -1e150), rng.standard_normal((3, 3, 3))

    def f(x):
        y = x.var(correction=0)
        return 0.125 * y + 0.5 * y * y

    np.testing.assert_allclose(_hvp_minigrad(f, [a], [v])[0], _hvp_torch(f, [a], [v])[0],
                               rtol=1e-9)


def test_setitem_over_everything_has_no_second_derivative_at_the_input():
    # found by the fuzzer: y = x; y[...] = 0, times −1e30 in float32; the rule δ ⊙ 1[not i]
    # multiplied by 0 where δ's own derivative overflowed, and H v at x was NaN, not 0
    x = mg.Tensor(np.zeros((2, 3), np.float32), requires_grad=True)
    v = mg.Tensor(np.array(0.0, np.float32), requires_grad=True)
    z = mg.ops.setitem(x, v, Ellipsis) * mg.Tensor(np.full((2, 3), -1e30, np.float32))
    gx, gv = mg.grad((z * 0.125).sum() + 0.5 * (z * z).sum(), [x, v], create_graph=True)
    (h,) = mg.grad((gx * 0.5).sum() + gv * -1.5, [x])
    np.testing.assert_array_equal(h.data, 0.0)


@pytest.mark.parametrize("name", ["var", "std"])
@pytest.mark.parametrize("shape, axis, correction", [
    ((0,), None, 0), ((2, 0), 1, 0), ((0, 3), 0, 1), ((1,), None, 1), ((3, 1), 1, 1)],
    ids=["empty", "empty-rows", "empty-columns", "one-value-bessel", "one-per-row-bessel"])
def test_var_and_std_backward_on_empty_input_and_n_equal_to_the_correction(
        name, shape, axis, correction):
    # var's VJP divided by n − correction with Python floats: a ZeroDivisionError for an
    # empty input (n = 0) and for one value with Bessel's correction; PyTorch returns an
    # empty gradient, or NaN
    x = np.arange(float(np.prod(shape))).reshape(shape) + 1.0
    m = mg.Tensor(x, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    with np.errstate(all="ignore"):
        y = getattr(m, name)(dim=axis, correction=correction)
        (g,) = mg.grad(y.sum(), [m])
        _, tangent = mg.func.jvp(lambda a: getattr(a, name)(dim=axis, correction=correction),
                                 (mg.Tensor(x),), (mg.Tensor(np.ones(shape)),))
    ty = getattr(torch, name)(t, dim=axis, correction=correction)
    (tg,) = torch.autograd.grad(ty.sum(), t)
    _, ttangent = torch.func.jvp(lambda a: getattr(torch, name)(a, dim=axis,
                                                                correction=correction),
                                 (torch.tensor(x),), (torch.ones(shape, dtype=torch.float64),))
    np.testing.assert_array_equal(y.data, ty.detach().numpy())
    np.testing.assert_array_equal(g.data, tg.numpy())
    np.testing.assert_array_equal(tangent.data, ttangent.numpy())
