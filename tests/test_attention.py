"""Layer norm, embedding, masked_fill, dropout and attention against PyTorch over several
shapes and masks (float64 to 1e-10, float32 to 1e-5), their bad-input errors (which change
nothing) and the behaviour of a query that may attend nowhere."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import minigrad
import minigrad.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

TOL = {np.float64: 1e-10, np.float32: 1e-5}
DTYPES = [pytest.param(np.float64, id="f64"), pytest.param(np.float32, id="f32")]


def _pair(a: np.ndarray, grad: bool = True) -> tuple[minigrad.Tensor, Any]:
    m = minigrad.tensor(a, requires_grad=grad and a.dtype.kind == "f")
    t = torch.from_numpy(a.copy())
    if grad and a.dtype.kind == "f":
        t.requires_grad_(True)
    return m, t


def _compare(out: minigrad.Tensor, tout: Any, ms: list[minigrad.Tensor], ts: list[Any],
             dtype: Any, rng: np.random.Generator) -> None:
    tol = TOL[dtype]
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=tol, atol=tol)
    w = rng.standard_normal(out.shape).astype(dtype)
    gs = minigrad.grad(out, ms, grad_outputs=w)
    tg = torch.autograd.grad(tout, ts, grad_outputs=torch.from_numpy(w))
    for g, t in zip(gs, tg):
        assert g.dtype == dtype
        np.testing.assert_allclose(g.data, t.numpy(), rtol=tol, atol=tol)


# ------------------------------------------------------------------------- layer norm

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,ns,affine", [
    ((5,), (5,), True), ((1, 8), (8,), True), ((4, 6), (6,), False), ((2, 3, 4), (3, 4), True),
    ((3, 7, 16), (16,), True), ((2, 2, 2, 3), (2, 3), False),
], ids=str)
def test_layer_norm_matches_torch(shape, ns, affine, dtype, rng):
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    ms, ts = zip(*[_pair(x)] + ([_pair(rng.standard_normal(ns).astype(dtype)),
                                 _pair(rng.standard_normal(ns).astype(dtype))] if affine else []))
    out = F.layer_norm(*ms[:1], ns, *ms[1:])
    tout = TF.layer_norm(ts[0], ns, *ts[1:])
    _compare(out, tout, list(ms), list(ts), dtype, rng)


def test_layer_norm_int_shape_and_bias_only(rng):
    x, b = rng.standard_normal((3, 4)), rng.standard_normal(4)
    (mx, tx), (mb, tb) = _pair(x), _pair(b)
    out, tout = F.layer_norm(mx, 4, bias=mb), TF.layer_norm(tx, (4,), bias=tb)
    _compare(out, tout, [mx, mb], [tx, tb], np.float64, rng)


@pytest.mark.parametrize("ns,wshape,what", [
    ((3,), None, "trailing dimensions"), ((5, 4), None, "trailing dimensions"),
    ((5,), (4,), "weight has shape (4,)"),
])
def test_layer_norm_bad_shapes(ns, wshape, what):
    x = minigrad.randn(2, 4, 5, requires_grad=True)
    before = x.data.copy()
    w = None if wshape is None else minigrad.ones(*wshape, requires_grad=True)
    with pytest.raises(ValueError, match="layer_norm") as e:
        F.layer_norm(x, ns, w)
    assert what in str(e.value) and (wshape is not None or "(2, 4, 5)" in str(e.value))
    np.testing.assert_array_equal(x.data, before)
    assert x.grad is None


# -------------------------------------------------------------------------- embedding

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ishape,n,d", [((5,), 7, 3), ((1, 1), 2, 4), ((4, 9), 10, 8),
                                        ((2, 3, 5), 4, 2)], ids=str)
def test_embedding_matches_torch_with_repeats(ishape, n, d, dtype, rng):
    idx = rng.integers(0, n, size=ishape)
    idx.flat[0] = idx.flat[-1] = 1  # a repeated row: its gradients must add up
    mw, tw = _pair(rng.standard_normal((n, d)).astype(dtype))
    out = F.embedding(idx, mw)
    tout = TF.embedding(torch.from_numpy(idx), tw)
    _compare(out, tout, [mw], [tw], dtype, rng)


@pytest.mark.parametrize("shape", [(6,), (6, 3), (6, 2, 2)], ids=str)
def test_rows_picked_by_repeated_and_negative_indices_add_their_gradients(shape, rng):
    """x[idx] with one integer array: its VJP sums each row's δ by sorting the positions
    (`scatter_add`'s path for rows), the same sums as np.add.at and PyTorch."""
    idx = np.array([[1, -1, 1], [5, 0, -6]])  # -6 is row 0 again, -1 is row 5
    mx, tx = _pair(rng.standard_normal(shape))
    _compare(mx[idx], tx[torch.from_numpy(idx)], [mx], [tx], np.float64, rng)


@pytest.mark.parametrize("bad", [-1, 5, 17])
def test_embedding_out_of_range(bad):
    w = minigrad.randn(5, 3, requires_grad=True)
    before = w.data.copy()
    with pytest.raises(IndexError, match=rf"embedding: index {bad} .*num_embeddings=5"):
        F.embedding(np.array([0, bad, 2]), w)
    np.testing.assert_array_equal(w.data, before)


def test_embedding_float_indices_are_a_type_error():
    with pytest.raises(TypeError, match="embedding: indices must be integers"):
        F.embedding(np.array([0.0, 1.0]), minigrad.randn(3, 2))


def test_embedding_second_order_through_scatter_add(rng):
    w = minigrad.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    idx = np.array([1, 1, 3])
    y = (F.embedding(idx, w) ** 2).sum()
    (g,) = minigrad.grad(y, [w], create_graph=True)
    (gg,) = minigrad.grad((g * g).sum(), [w])
    # y = Σ_p E[i_p]², so ∇E = 2·count·E and ∇(Σ(∇E)²) = 8·count²·E
    count = np.bincount(idx, minlength=4)[:, None]
    np.testing.assert_allclose(g.data, 2 * count * w.data)
    np.testing.assert_allclose(gg.data, 8 * count**2 * w.data)


# ------------------------------------------------------------------------ masked_fill

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xshape,mshape", [((3, 4), (3, 4)), ((2, 3, 4), (4,)),
                                           ((2, 3, 4), (3, 1)), ((1, 5), (1, 5))], ids=str)
def test_masked_fill_matches_torch(xshape, mshape, dtype, rng):
    mx, tx = _pair(rng.standard_normal(xshape).astype(dtype))
    mask = rng.random(mshape) > 0.5
    out = F.masked_fill(mx, mask, -7.5)
    tout = tx.masked_fill(torch.from_numpy(mask), -7.5)
    _compare(out, tout, [mx], [tx], dtype, rng)


def test_masked_fill_bad_mask():
    x = minigrad.randn(2, 3, requires_grad=True)
    with pytest.raises(ValueError, match=r"masked_fill: mask of shape \(4,\).*\(2, 3\)"):
        F.masked_fill(x, np.ones(4, bool), 0.0)
    with pytest.raises(ValueError, match="masked_fill"):
        F.masked_fill(x, np.ones((2, 2, 3), bool), 0.0)  # would grow the input
    with pytest.raises(TypeError, match="masked_fill: mask must be boolean"):
        F.masked_fill(x, np.ones((2, 3)), 0.0)


# ---------------------------------------------------------------------------- dropout

def test_dropout_is_inverted_and_seeded():
    x = minigrad.ones(200, 100, requires_grad=True)
    minigrad.manual_seed(3)
    y = F.dropout(x, 0.3)
    kept = y.data != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(y.data[kept], 1 / 0.7)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, kept / 0.7)
    minigrad.manual_seed(3)
    np.testing.assert_array_equal(F.dropout(x, 0.3).data, y.data)


def test_dropout_eval_p0_p1_and_bad_p():
    x = minigrad.randn(4, 5, requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0).data, np.zeros((4, 5), np.float32))
    for bad in (-0.1, 1.5, True):
        with pytest.raises(ValueError, match="dropout: p must lie in"):
            F.dropout(x, bad)


def test_nn_dropout_uses_the_functional_op():
    minigrad.manual_seed(0)
    y = minigrad.nn.Dropout(0.5)(minigrad.randn(3, 4, requires_grad=True))
    assert y.op == "dropout"


# -------------------------------------------------------------------------- attention

def _causal_torch(L: int, S: int) -> Any:
    return torch.ones(L, S, dtype=torch.bool).tril()


ATTN_CASES = [
    # (q shape, k shape, v shape, mask kind, mask shape)
    ((4, 3), (5, 3), (5, 2), None, None),
    ((1, 1, 4), (1, 1, 4), (1, 1, 4), None, None),
    ((2, 6, 8), (2, 6, 8), (2, 6, 8), "causal", None),
    ((1, 4, 7, 16), (1, 4, 7, 16), (1, 4, 7, 16), "causal", None),
    ((2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 2), "bool", (5, 6)),
    ((2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 2), "bool", (2, 1, 5, 6)),
    ((2, 5, 4), (2, 6, 4), (2, 6, 3), "float", (5, 6)),
    ((2, 2, 5, 4), (2, 6, 4), (6, 3), "float", (2, 1, 1, 6)),
    ((3, 4, 2), (3, 5, 2), (3, 5, 2), "scale", None),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("qs,ks,vs,kind,mshape", ATTN_CASES, ids=str)
def test_attention_matches_torch(qs, ks, vs, kind, mshape, dtype, rng):
    pairs = [_pair(rng.standard_normal(s).astype(dtype)) for s in (qs, ks, vs)]
    ms, ts = [p[0] for p in pairs], [p[1] for p in pairs]
    kw: dict[str, Any] = {}
    tkw: dict[str, Any] = {}
    if kind == "causal":
        kw = tkw = {"is_causal": True}
    elif kind == "scale":
        kw = tkw = {"scale": 0.7}
    elif kind == "bool":
        m = rng.random(mshape) > 0.5
        m[..., 0] = True
        kw, tkw = {"attn_mask": m}, {"attn_mask": torch.from_numpy(m)}
    elif kind == "float":
        mm, tm = _pair(rng.standard_normal(mshape).astype(dtype))
        ms.append(mm)
        ts.append(tm)
        kw, tkw = {"attn_mask": mm}, {"attn_mask": tm}
    out = F.scaled_dot_product_attention(*ms[:3], **kw)
    tout = TF.scaled_dot_product_attention(*ts[:3], **tkw)
    _compare(out, tout, ms, ts, dtype, rng)


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_a_query_with_no_allowed_key_gives_zeros_and_finite_gradients(kind, rng):
    """PyTorch's convention: that output row is 0; every gradient stays finite and equals
    PyTorch's, and the other rows are exactly what they are without the dead row."""
    q, k, v = (rng.standard_normal(s) for s in ((2, 4, 3), (2, 5, 3), (2, 5, 2)))
    allow = rng.random((4, 5)) > 0.3
    allow[:, 0] = True
    allow[2] = False
    mask: Any = allow if kind == "bool" else np.where(allow, 0.0, -np.inf)
    pairs = [_pair(a) for a in (q, k, v)]
    ms, ts = [p[0] for p in pairs], [p[1] for p in pairs]
    out = F.scaled_dot_product_attention(*ms, attn_mask=mask)
    tout = TF.scaled_dot_product_attention(*ts, attn_mask=torch.from_numpy(mask))
    assert np.all(out.data[:, 2] == 0)
    _compare(out, tout, ms, ts, np.float64, rng)
    F.scaled_dot_product_attention(*ms, attn_mask=mask).sum().backward()
    for m in ms:
        assert np.all(np.isfinite(m.grad.data))
    assert np.all(ms[0].grad.data[:, 2] == 0)
    # second order stays finite too
    gq, = minigrad.grad((F.scaled_dot_product_attention(*ms, attn_mask=mask) ** 2).sum(),
                        [ms[0]], create_graph=True)
    gg, = minigrad.grad(gq.sum(), [ms[1]])
    assert np.all(np.isfinite(gg.data))


def test_attention_is_the_composition_of_its_parts(rng):
    """The fused op equals matmul → scale → masked_fill → softmax → matmul, in both passes."""
    q, k, v = (minigrad.tensor(rng.standard_normal((2, 5, 4)), requires_grad=True)
               for _ in range(3))
    fused = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    s = (q @ k.swapaxes(-1, -2)) / 2.0
    s = F.masked_fill(s, ~np.tril(np.ones((5, 5), bool)), -np.inf)
    composed = F.softmax(s, -1) @ v
    np.testing.assert_allclose(fused.data, composed.data, rtol=1e-12, atol=1e-12)
    w = rng.standard_normal(fused.shape)
    for a, b in zip(minigrad.grad(fused, [q, k, v], grad_outputs=w),
                    minigrad.grad(composed, [q, k, v], grad_outputs=w)):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("qs,ks,vs,mask,err,match", [
    ((2, 4, 3), (2, 5, 2), (2, 5, 2), None, ValueError,
     r"different feature sizes \(3 and 2\).*q's last dimension"),
    ((2, 4, 3), (2, 5, 3), (2, 6, 2), None, ValueError, r"5 positions .* has 6"),
    ((2, 4, 3), (2, 5, 3), (2, 5, 2), np.ones((4, 4), bool), ValueError,
     r"attn_mask of shape \(4, 4\) does not broadcast .*\(2, 4, 5\).*\(4, 5\)"),
    ((2, 4, 3), (2, 5, 3), (2, 5, 2), np.ones((3, 4, 5), bool), ValueError,
     r"attn_mask of shape \(3, 4, 5\)"),
    ((2, 4, 3), (2, 5, 3), (2, 5, 2), np.ones((4, 5), np.int64), TypeError,
     "attn_mask must be boolean"),
    ((2, 4, 3), (3, 5, 3), (3, 5, 2), None, ValueError, "do not broadcast"),
    ((4,), (5, 4), (5, 2), None, ValueError, r"q must have shape"),
], ids=["features", "lengths", "mask", "mask-batch", "mask-dtype", "batch", "1d"])
def test_attention_bad_inputs(qs, ks, vs, mask, err, match):
    ts = [minigrad.randn(*s, requires_grad=True) for s in (qs, ks, vs)]
    before = [t.data.copy() for t in ts]
    with pytest.raises(err, match="scaled_dot_product_attention: .*" + match):
        F.scaled_dot_product_attention(*ts, attn_mask=mask)
    for t, b in zip(ts, before):
        np.testing.assert_array_equal(t.data, b)
        assert t.grad is None


def test_attention_mask_and_causal_together_is_an_error():
    q = minigrad.randn(3, 2)
    with pytest.raises(ValueError, match="not both"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((3, 3), bool), is_causal=True)


def test_tensor_masked_fill_method(rng):
    x = minigrad.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    mask = np.array([True, False, True])
    y = x.masked_fill(mask, -1.0)
    np.testing.assert_array_equal(y.data, np.where(mask, -1.0, x.data))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.broadcast_to(~mask, (2, 3)).astype(float))
