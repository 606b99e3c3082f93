"""The formula book's layer families (`minigrad.reference.*`) against PyTorch's autograd, and
against minigrad's where its ops exist: random shapes, float64, to 1e-10."""

from __future__ import annotations

import numpy as np
import pytest

from minigrad.reference import attention, convolution, dense, dropout, embedding, losses
from minigrad.reference import normalization as norm

torch = pytest.importorskip("torch")
TOL = 1e-10
SEEDS = range(4)


def t(a, grad=True):
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=grad)


def close(got, want):
    want = want.detach().numpy() if hasattr(want, "detach") else np.asarray(want)
    assert np.shape(got) == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=TOL * max(1.0, np.abs(want).max()))


def torch_grads(out, delta, *inputs):
    return torch.autograd.grad(out, inputs, t(delta, grad=False))


# --------------------------------------------------------------------------- dense
@pytest.mark.parametrize("seed", SEEDS)
def test_linear_formulas_match_torch(seed):
    rng = np.random.default_rng(seed)
    lead = tuple(rng.integers(1, 4, size=rng.integers(1, 3)))
    n_in, n_out = rng.integers(1, 6, size=2)
    x, W, b = (rng.standard_normal(lead + (n_in,)), rng.standard_normal((n_out, n_in)),
               rng.standard_normal(n_out))
    delta = rng.standard_normal(lead + (n_out,))
    X, Wt, bt = t(x), t(W), t(b)
    out = torch.nn.functional.linear(X, Wt, bt)
    close(dense.linear_forward(x, W, b), out)
    dx, dW, db = dense.linear_backward(delta, x, W)
    for got, want in zip((dx, dW, db), torch_grads(out, delta, X, Wt, bt)):
        close(got, want)


@pytest.mark.parametrize("name", sorted(dense.ACTIVATIONS))
def test_activation_derivatives_match_torch(name):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 5)) * 3
    delta = rng.standard_normal((3, 5))
    A = t(a)
    F = torch.nn.functional
    fn = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": F.relu, "linear": lambda z: z,
          "leaky_relu": F.leaky_relu, "softplus": F.softplus,
          "gelu": lambda z: F.gelu(z, approximate="tanh")}[name]
    out = fn(A)
    close(dense.activation_forward(name, a), out)
    close(dense.activation_backward(name, delta, a), torch_grads(out, delta, A)[0])


# --------------------------------------------------------------------------- losses
@pytest.mark.parametrize("reduction", ("mean", "sum"))
@pytest.mark.parametrize("seed", SEEDS)
def test_losses_match_torch(seed, reduction):
    rng = np.random.default_rng(seed)
    N, C = rng.integers(1, 6), rng.integers(2, 6)
    a, y = rng.standard_normal((N, C)) * 2, rng.integers(0, C, size=N)
    F = torch.nn.functional
    A = t(a)
    out = F.cross_entropy(A, torch.tensor(y), reduction=reduction)
    close(losses.cross_entropy_forward(a, y, reduction), out)
    close(losses.cross_entropy_backward(a, y, reduction), torch.autograd.grad(out, A)[0])
    logp = losses.log_softmax_rows(a)
    S = t(logp)
    out = F.nll_loss(S, torch.tensor(y), reduction=reduction)
    close(losses.nll_forward(logp, y, reduction), out)
    close(losses.nll_backward(logp, y, reduction), torch.autograd.grad(out, S)[0])
    target = rng.standard_normal((N, C))
    out = F.mse_loss(A, t(target, False), reduction=reduction)
    close(losses.mse_forward(a, target, reduction), out)
    close(losses.mse_backward(a, target, reduction), torch.autograd.grad(out, A)[0])
    p = rng.uniform(size=(N, C))
    out = F.binary_cross_entropy_with_logits(A, t(p, False), reduction=reduction)
    close(losses.bce_with_logits_forward(a, p, reduction), out)
    close(losses.bce_with_logits_backward(a, p, reduction), torch.autograd.grad(out, A)[0])


# --------------------------------------------------------------------------- normalization
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("ndim", (2, 3, 4))
def test_batch_norm_matches_torch(ndim, seed):
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(2, 5)), int(rng.integers(1, 4))) + tuple(
        int(s) for s in rng.integers(1, 4, size=ndim - 2))
    C = shape[1]
    x = rng.standard_normal(shape) * 2 + 1
    gamma, beta = rng.standard_normal(C), rng.standard_normal(C)
    delta = rng.standard_normal(shape)
    rm, rv = rng.standard_normal(C), rng.uniform(0.5, 2, C)
    X, G, B = t(x), t(gamma), t(beta)
    rm_t, rv_t = torch.tensor(rm), torch.tensor(rv)
    out = torch.nn.functional.batch_norm(X, rm_t, rv_t, G, B, training=True, momentum=0.1)
    y, cache = norm.batch_norm_forward(x, gamma, beta)
    close(y, out)
    for got, want in zip(norm.batch_norm_backward(delta, cache, gamma),
                         torch_grads(out, delta, X, G, B)):
        close(got, want)
    new_m, new_v = norm.batch_norm_running(x, rm, rv, momentum=0.1)
    close(new_m, rm_t)
    close(new_v, rv_t)
    # evaluation: the running statistics are constants
    X2 = t(x)
    out = torch.nn.functional.batch_norm(X2, torch.tensor(rm), torch.tensor(rv), G, B,
                                         training=False)
    y, cache = norm.batch_norm_forward(x, gamma, beta, training=False, running_mean=rm,
                                       running_var=rv)
    close(y, out)
    for got, want in zip(norm.batch_norm_backward(delta, cache, gamma),
                         torch_grads(out, delta, X2, G, B)):
        close(got, want)


def test_batch_norm_compact_form_is_the_chain_through_mu_and_sigma():
    """The compact ∇x against the step-by-step chain rule through μ and σ², in numpy."""
    rng = np.random.default_rng(7)
    x, delta = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    gamma = rng.standard_normal(3)
    _, cache = norm.batch_norm_forward(x, gamma, None, eps=1e-5)
    M = x.shape[0]
    mu, var = x.mean(0), x.var(0)
    d_xhat = delta * gamma
    d_var = (d_xhat * (x - mu) * -0.5 * (var + 1e-5) ** -1.5).sum(0)
    d_mu = (-d_xhat / np.sqrt(var + 1e-5)).sum(0) + d_var * (-2 * (x - mu)).mean(0)
    chain = d_xhat / np.sqrt(var + 1e-5) + d_var * 2 * (x - mu) / M + d_mu / M
    close(norm.batch_norm_backward(delta, cache, gamma)[0], chain)


@pytest.mark.parametrize("seed", SEEDS)
def test_layer_norm_matches_torch(seed):
    rng = np.random.default_rng(seed)
    feat = tuple(int(s) for s in rng.integers(2, 5, size=rng.integers(1, 3)))
    lead = tuple(int(s) for s in rng.integers(1, 4, size=rng.integers(1, 3)))
    x = rng.standard_normal(lead + feat) * 3
    gamma, beta = rng.standard_normal(feat), rng.standard_normal(feat)
    delta = rng.standard_normal(x.shape)
    X, G, B = t(x), t(gamma), t(beta)
    out = torch.nn.functional.layer_norm(X, feat, G, B, eps=1e-5)
    y, cache = norm.layer_norm_forward(x, feat, gamma, beta, eps=1e-5)
    close(y, out)
    for got, want in zip(norm.layer_norm_backward(delta, cache, gamma),
                         torch_grads(out, delta, X, G, B)):
        close(got, want)


# --------------------------------------------------------------------------- convolution
def conv_case(seed, groups=1):
    rng = np.random.default_rng(seed)
    N = int(rng.integers(1, 3))
    Cin, Cout = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    kh, kw = (int(k) for k in rng.integers(1, 4, size=2))
    stride, padding, dilation = (int(v) for v in (rng.integers(1, 3), rng.integers(0, 2),
                                                  rng.integers(1, 3)))
    H = int(rng.integers(dilation * (kh - 1) + 1, 8))
    Wd = int(rng.integers(dilation * (kw - 1) + 1, 8))
    x = rng.standard_normal((N, Cin, H, Wd))
    W = rng.standard_normal((Cout, Cin // groups, kh, kw))
    b = rng.standard_normal(Cout)
    return rng, x, W, b, dict(stride=stride, padding=padding, dilation=dilation, groups=groups)


@pytest.mark.parametrize("groups", (1, 2))
@pytest.mark.parametrize("seed", range(6))
def test_conv2d_matches_torch(seed, groups):
    rng, x, W, b, kw = conv_case(seed, groups)
    X, Wt, bt = t(x), t(W), t(b)
    out = torch.nn.functional.conv2d(X, Wt, bt, **kw)
    close(convolution.conv2d_forward(x, W, b, **kw), out)
    delta = rng.standard_normal(tuple(out.shape))
    for got, want in zip(convolution.conv2d_backward(delta, x, W, **kw),
                         torch_grads(out, delta, X, Wt, bt)):
        close(got, want)


@pytest.mark.parametrize("seed", SEEDS)
def test_conv2d_input_gradient_is_delta_convolved_with_flipped_w(seed):
    rng = np.random.default_rng(seed)
    x, W = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 2))
    pad = int(rng.integers(0, 2))
    out = convolution.conv2d_forward(x, W, padding=pad)
    delta = rng.standard_normal(out.shape)
    close(convolution.conv2d_input_grad_flipped(delta, W, padding=pad),
          convolution.conv2d_backward(delta, x, W, padding=pad)[0])


@pytest.mark.parametrize("seed", SEEDS)
def test_conv1d_matches_torch(seed):
    rng = np.random.default_rng(seed)
    x, W, b = rng.standard_normal((2, 3, 9)), rng.standard_normal((2, 3, 3)), rng.standard_normal(2)
    kw = dict(stride=int(rng.integers(1, 3)), padding=int(rng.integers(0, 2)),
              dilation=int(rng.integers(1, 3)))
    X, Wt, bt = t(x), t(W), t(b)
    out = torch.nn.functional.conv1d(X, Wt, bt, **kw)
    close(convolution.conv1d_forward(x, W, b, **kw), out)
    delta = rng.standard_normal(tuple(out.shape))
    for got, want in zip(convolution.conv1d_backward(delta, x, W, **kw),
                         torch_grads(out, delta, X, Wt, bt)):
        close(got, want)


@pytest.mark.parametrize("kind", ("max", "avg"))
@pytest.mark.parametrize("seed", range(6))
def test_pooling_matches_torch(seed, kind):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 4))
    stride = None if seed % 2 else int(rng.integers(1, 3))  # overlapping windows too
    padding = int(rng.integers(0, k // 2 + 1))
    x = rng.standard_normal((2, 2, int(rng.integers(k, 8)), int(rng.integers(k, 8))))
    X = t(x)
    fn = torch.nn.functional.max_pool2d if kind == "max" else torch.nn.functional.avg_pool2d
    out = fn(X, k, stride, padding)
    fwd = getattr(convolution, f"{kind}_pool2d_forward")
    bwd = getattr(convolution, f"{kind}_pool2d_backward")
    close(fwd(x, k, stride, padding), out)
    delta = rng.standard_normal(tuple(out.shape))
    close(bwd(delta, x, k, stride, padding), torch_grads(out, delta, X)[0])


# --------------------------------------------------------------------------- embedding
@pytest.mark.parametrize("seed", SEEDS)
def test_embedding_matches_torch(seed):
    rng = np.random.default_rng(seed)
    V, d = int(rng.integers(2, 6)), int(rng.integers(1, 5))
    idx = rng.integers(0, V, size=(3, 4))  # repeats: their δ rows must add up
    W = rng.standard_normal((V, d))
    Wt = t(W)
    out = torch.nn.functional.embedding(torch.tensor(idx), Wt)
    close(embedding.embedding_forward(idx, W), out)
    delta = rng.standard_normal(tuple(out.shape))
    close(embedding.embedding_backward(delta, idx, V), torch_grads(out, delta, Wt)[0])


# --------------------------------------------------------------------------- attention
@pytest.mark.parametrize("mask", ("none", "causal", "bool", "float"))
@pytest.mark.parametrize("seed", SEEDS)
def test_attention_matches_torch(seed, mask):
    rng = np.random.default_rng(seed)
    B, H, T, d, dv = 2, int(rng.integers(1, 3)), int(rng.integers(1, 5)), 3, 2
    q, k, v = (rng.standard_normal((B, H, T, n)) for n in (d, d, dv))
    attn_mask = None
    if mask == "bool":
        attn_mask = rng.uniform(size=(T, T)) > 0.3
        attn_mask[:, 0] = True  # every row keeps one key
    elif mask == "float":
        attn_mask = rng.standard_normal((T, T))
    scale = None if seed % 2 else 0.7
    Q, K, Vt = t(q), t(k), t(v)
    out = torch.nn.functional.scaled_dot_product_attention(
        Q, K, Vt, attn_mask=None if attn_mask is None else torch.tensor(attn_mask),
        is_causal=mask == "causal", scale=scale)
    o, cache = attention.attention_forward(q, k, v, attn_mask, mask == "causal", scale)
    close(o, out)
    delta = rng.standard_normal(o.shape)
    for got, want in zip(attention.attention_backward(delta, q, k, v, cache),
                         torch_grads(out, delta, Q, K, Vt)):
        close(got, want)


# --------------------------------------------------------------------------- dropout
def test_dropout_backward_uses_the_forwards_mask():
    rng = np.random.default_rng(0)
    x, delta, p = rng.standard_normal((4, 5)), rng.standard_normal((4, 5)), 0.4
    X = t(x)
    torch.manual_seed(0)
    out = torch.nn.functional.dropout(X, p, training=True)
    mask = dropout.mask_from_output(x, out.detach().numpy())
    close(dropout.dropout_forward(x, mask, p), out)
    close(dropout.dropout_backward(delta, mask, p), torch_grads(out, delta, X)[0])
    close(dropout.dropout_backward(delta, mask, p, training=False), delta)


@pytest.mark.parametrize("seed", SEEDS)
def test_causal_self_attention_matches_torch(seed):
    rng = np.random.default_rng(seed)
    B, L, H = 2, int(rng.integers(1, 5)), int(rng.integers(1, 3))
    E = 2 * H
    x = rng.standard_normal((B, L, E))
    W_in, b_in = rng.standard_normal((3 * E, E)), rng.standard_normal(3 * E)
    W_out, b_out = rng.standard_normal((E, E)), rng.standard_normal(E)
    X, Wi, bi, Wo, bo = (t(a) for a in (x, W_in, b_in, W_out, b_out))
    F = torch.nn.functional
    q, k, v = F.linear(X, Wi, bi).reshape(B, L, 3, H, E // H).permute(2, 0, 3, 1, 4)
    o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    out = F.linear(o.transpose(1, 2).reshape(B, L, E), Wo, bo)
    y, cache = attention.causal_self_attention_forward(x, W_in, b_in, W_out, b_out, H)
    close(y, out)
    delta = rng.standard_normal(y.shape)
    g = attention.causal_self_attention_backward(delta, cache)
    for key, want in zip(("x", "W_in", "b_in", "W_out", "b_out"),
                         torch_grads(out, delta, X, Wi, bi, Wo, bo)):
        close(g[key], want)


# --------------------------------------------------------------------------- minigrad's ops
def mg_grads(fn, arrays, delta):
    """minigrad's forward and its gradients (by `minigrad.grad`, δ given) for float inputs."""
    import minigrad as mg

    ts = [mg.Tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    out = fn(*ts)
    wanted = [t for t in ts if t.requires_grad]
    grads = mg.grad(out, wanted, grad_outputs=mg.Tensor(delta))
    return out.data, [g.data for g in grads]


@pytest.mark.parametrize("seed", range(6))
def test_conv_and_pooling_formulas_match_minigrad(seed):
    import minigrad.functional as F

    rng, x, W, b, kw = conv_case(seed, groups=1 + seed % 2)
    out = convolution.conv2d_forward(x, W, b, **kw)
    delta = rng.standard_normal(out.shape)
    y, grads = mg_grads(lambda x_, W_, b_: F.conv2d(x_, W_, b_, **kw), [x, W, b], delta)
    close(out, y)
    for got, want in zip(convolution.conv2d_backward(delta, x, W, **kw), grads):
        close(got, want)
    k = int(rng.integers(1, 3))
    for kind in ("max", "avg"):
        fwd = getattr(convolution, f"{kind}_pool2d_forward")
        bwd = getattr(convolution, f"{kind}_pool2d_backward")
        out = fwd(x, k, None, 0)
        delta = rng.standard_normal(out.shape)
        fn = getattr(F, f"{kind}_pool2d")
        y, (gx,) = mg_grads(lambda x_, fn=fn: fn(x_, k), [x], delta)
        close(out, y)
        close(bwd(delta, x, k, None, 0), gx)
    x1, W1 = rng.standard_normal((2, 2, 7)), rng.standard_normal((3, 2, 2))
    out = convolution.conv1d_forward(x1, W1, stride=2, padding=1)
    delta = rng.standard_normal(out.shape)
    y, grads = mg_grads(lambda a, w: F.conv1d(a, w, stride=2, padding=1), [x1, W1], delta)
    close(out, y)
    for got, want in zip(convolution.conv1d_backward(delta, x1, W1, stride=2, padding=1)[:2],
                         grads):
        close(got, want)


@pytest.mark.parametrize("seed", SEEDS)
def test_normalization_formulas_match_minigrad(seed):
    import minigrad.functional as F

    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(2, 5)), 3) + ((2, 2) if seed % 2 else ())
    x = rng.standard_normal(shape) * 2 + 1
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    delta = rng.standard_normal(shape)
    y_f, cache = norm.batch_norm_forward(x, gamma, beta)
    y, grads = mg_grads(lambda a, g, b: F.batch_norm(a, None, None, g, b, training=True),
                        [x, gamma, beta], delta)
    close(y_f, y)
    for got, want in zip(norm.batch_norm_backward(delta, cache, gamma), grads):
        close(got, want)
    feat = shape[1:]
    g2, b2 = rng.standard_normal(feat), rng.standard_normal(feat)
    y_f, cache = norm.layer_norm_forward(x, feat, g2, b2)
    y, grads = mg_grads(lambda a, g, b: F.layer_norm(a, feat, g, b), [x, g2, b2], delta)
    close(y_f, y)
    for got, want in zip(norm.layer_norm_backward(delta, cache, g2), grads):
        close(got, want)


@pytest.mark.parametrize("seed", SEEDS)
def test_embedding_attention_and_dropout_formulas_match_minigrad(seed):
    import minigrad as mg
    import minigrad.functional as F

    rng = np.random.default_rng(seed)
    idx, W = rng.integers(0, 5, size=(3, 4)), rng.standard_normal((5, 3))
    delta = rng.standard_normal((3, 4, 3))
    y, (gW,) = mg_grads(lambda i, w: F.embedding(i, w), [idx, W], delta)
    close(embedding.embedding_forward(idx, W), y)
    close(embedding.embedding_backward(delta, idx, 5), gW)

    T = int(rng.integers(1, 5))
    q, k, v = (rng.standard_normal((2, 2, T, 3)) for _ in range(3))
    delta = rng.standard_normal((2, 2, T, 3))
    for causal in (False, True):
        o, cache = attention.attention_forward(q, k, v, is_causal=causal)
        y, grads = mg_grads(
            lambda a, b, c, causal=causal: F.scaled_dot_product_attention(
                a, b, c, is_causal=causal),
            [q, k, v], delta)
        close(o, y)
        for got, want in zip(attention.attention_backward(delta, q, k, v, cache), grads):
            close(got, want)

    x = rng.standard_normal((4, 6))
    delta = rng.standard_normal((4, 6))
    X = mg.Tensor(x, requires_grad=True)
    out = F.dropout(X, 0.3, training=True)
    (gx,) = mg.grad(out, [X], grad_outputs=mg.Tensor(delta))
    mask = dropout.mask_from_output(x, out.data)
    close(dropout.dropout_forward(x, mask, 0.3), out.data)
    close(dropout.dropout_backward(delta, mask, 0.3), gx.data)
