"""nn.LayerNorm, nn.Embedding and nn.CausalSelfAttention: PyTorch's state_dict keys, shapes
and initialisation; a PyTorch state_dict loaded into the minigrad module gives PyTorch's
outputs and gradients (float64 to 1e-10, float32 to 1e-5)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import minigrad
from minigrad import nn

torch = pytest.importorskip("torch")

TOL = {np.float64: 1e-10, np.float32: 1e-5}
DTYPES = [pytest.param(np.float64, id="f64"), pytest.param(np.float32, id="f32")]
TDT = {np.float64: torch.float64, np.float32: torch.float32}


def _load(module: nn.Module, tmodule: Any) -> None:
    module.load_state_dict({k: v.detach().numpy() for k, v in tmodule.state_dict().items()})


def _check(module: nn.Module, tmodule: Any, x: np.ndarray, dtype: Any,
           rng: np.random.Generator, tforward: Any = None) -> None:
    """Outputs, the input's gradient and every parameter's gradient agree."""
    tol = TOL[dtype]
    mx = minigrad.tensor(x, requires_grad=x.dtype.kind == "f")
    tx = torch.from_numpy(x.copy())
    if x.dtype.kind == "f":
        tx.requires_grad_(True)
    out = module(mx)
    tout = (tforward or tmodule)(tx)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=tol, atol=tol)
    w = rng.standard_normal(out.shape).astype(dtype)
    (out * w).sum().backward()
    (tout * torch.from_numpy(w)).sum().backward()
    if x.dtype.kind == "f":
        np.testing.assert_allclose(mx.grad.data, tx.grad.numpy(), rtol=tol, atol=tol)
    tparams = dict(tmodule.named_parameters())
    names = [n for n, _ in module.named_parameters()]
    assert names == list(tparams)
    for name, p in module.named_parameters():
        assert p.grad is not None and p.grad.dtype == dtype, name
        np.testing.assert_allclose(p.grad.data, tparams[name].grad.numpy(), rtol=tol, atol=tol,
                                   err_msg=name)


def _keys_shapes(m: Any) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in m.state_dict().items()]


# ------------------------------------------------------------------------- LayerNorm

@pytest.mark.parametrize("ns,affine", [(8, True), ((3, 4), True), (5, False)], ids=str)
def test_layer_norm_state_dict_and_init_match_torch(ns, affine):
    m = nn.LayerNorm(ns, elementwise_affine=affine)
    t = torch.nn.LayerNorm(ns, elementwise_affine=affine)
    assert _keys_shapes(m) == _keys_shapes(t)
    for k, v in t.state_dict().items():
        np.testing.assert_array_equal(m.state_dict()[k].data, v.numpy())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,ns", [((4, 8), 8), ((1, 6, 8), 8), ((2, 3, 4), (3, 4))],
                         ids=str)
def test_layer_norm_module_matches_torch(shape, ns, dtype, rng):
    torch.manual_seed(0)
    t = torch.nn.LayerNorm(ns, eps=1e-4, dtype=TDT[dtype])
    with torch.no_grad():
        for p in t.parameters():
            p.copy_(torch.randn(p.shape))
    m = nn.LayerNorm(ns, eps=1e-4, dtype=dtype)
    _load(m, t)
    _check(m, t, rng.standard_normal(shape).astype(dtype), dtype, rng)


# ------------------------------------------------------------------------- Embedding

def test_embedding_state_dict_and_init():
    minigrad.manual_seed(0)
    m = nn.Embedding(400, 50)
    assert _keys_shapes(m) == _keys_shapes(torch.nn.Embedding(400, 50))
    w = m.weight.data
    assert w.dtype == np.float32
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1) < 0.02  # N(0, 1), PyTorch's default
    assert repr(m) == "Embedding(400, 50)" and m.describe() == "Embedding(400→50)"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ishape", [(6,), (1, 1), (3, 7)], ids=str)
def test_embedding_module_matches_torch(ishape, dtype, rng):
    torch.manual_seed(0)
    t = torch.nn.Embedding(5, 4, dtype=TDT[dtype])
    m = nn.Embedding(5, 4, dtype=dtype)
    _load(m, t)
    idx = rng.integers(0, 5, size=ishape)
    idx.flat[0] = idx.flat[-1] = 2
    _check(m, t, idx, dtype, rng, tforward=lambda i: t(i))


# ------------------------------------------------------------- CausalSelfAttention

def test_attention_state_dict_and_init_match_multihead_attention():
    minigrad.manual_seed(0)
    m = nn.CausalSelfAttention(64, 4)
    t = torch.nn.MultiheadAttention(64, 4, batch_first=True)
    assert _keys_shapes(m) == _keys_shapes(t)
    sd = m.state_dict()
    assert np.all(sd["in_proj_bias"].data == 0) and np.all(sd["out_proj.bias"].data == 0)
    # Xavier uniform on (3E, E) and U(−1/√E, 1/√E): the bounds, nearly reached
    for key, r in (("in_proj_weight", np.sqrt(6 / (64 + 192))), ("out_proj.weight", 1 / 8)):
        w = sd[key].data
        assert np.abs(w).max() <= r and np.abs(w).max() > 0.95 * r, key
    assert m.describe() == "CausalSelfAttention(64, 4 heads)"


def _torch_by_hand(t: Any, H: int) -> Any:
    """The same block written out in PyTorch from its parameters."""
    TF = torch.nn.functional

    def f(x: Any) -> Any:
        *b, L, E = x.shape
        q, k, v = TF.linear(x, t.in_proj_weight, t.in_proj_bias).chunk(3, dim=-1)
        q, k, v = (z.reshape(*b, L, H, E // H).transpose(-2, -3) for z in (q, k, v))
        s = q @ k.transpose(-1, -2) / (E // H) ** 0.5
        s = s.masked_fill(~torch.ones(L, L, dtype=torch.bool).tril(), float("-inf"))
        o = (s.softmax(-1) @ v).transpose(-2, -3).reshape(*b, L, E)
        return t.out_proj(o)

    return f


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,heads", [((2, 5, 8), 2), ((1, 7, 12), 3), ((3, 4, 6), 1),
                                         ((6, 8), 4)], ids=str)
@pytest.mark.parametrize("oracle", ["multihead_attention", "by_hand"])
def test_attention_module_matches_torch(shape, heads, oracle, dtype, rng):
    E, L = shape[-1], shape[-2]
    torch.manual_seed(0)  # the same weights on every run
    t = torch.nn.MultiheadAttention(E, heads, batch_first=True, dtype=TDT[dtype])
    with torch.no_grad():
        for p in t.parameters():
            p.copy_(torch.randn(p.shape) * 0.5)
    m = nn.CausalSelfAttention(E, heads, dtype=dtype)
    _load(m, t)
    if oracle == "by_hand":
        tf = _torch_by_hand(t, heads)
    else:
        blocked = ~torch.ones(L, L, dtype=torch.bool).tril()  # MHA's mask: True = blocked
        def tf(x: Any) -> Any:
            return t(x, x, x, attn_mask=blocked, need_weights=False)[0]
    _check(m, t, rng.standard_normal(shape).astype(dtype), dtype, rng, tforward=tf)


def test_attention_is_causal(rng):
    """Changing position t changes no output before t."""
    m = nn.CausalSelfAttention(8, 2, dtype=np.float64)
    x = rng.standard_normal((1, 6, 8))
    y = m(minigrad.tensor(x)).data
    x[0, 4] += 1.0
    y2 = m(minigrad.tensor(x)).data
    np.testing.assert_array_equal(y[0, :4], y2[0, :4])
    assert not np.allclose(y[0, 4:], y2[0, 4:])


def test_attention_bad_arguments():
    with pytest.raises(ValueError, match="embed_dim 10 must be divisible by num_heads 4"):
        nn.CausalSelfAttention(10, 4)
    m = nn.CausalSelfAttention(8, 2)
    with pytest.raises(ValueError, match=r"CausalSelfAttention: input of shape \(2, 5, 6\)"):
        m(minigrad.randn(2, 5, 6))


def test_attention_dropout_only_in_training():
    minigrad.manual_seed(1)
    m = nn.CausalSelfAttention(8, 2, dropout=0.5)
    x = minigrad.randn(2, 5, 8)
    assert m(x).op == "dropout"
    m.eval()
    assert m(x).op == "linear"
