"""Lecture-style PyTorch code, run unchanged on minigrad and on PyTorch.

Each program below is written once, as a function of the library (``torch`` or
``minigrad``, imported under the name ``torch``), in the idioms a course on language
models uses: a character-level MLP trained with updates under ``no_grad``, batch
normalization by hand, a backward pass written out and checked against autograd, a small
GPT, a WaveNet-style hierarchy. Both libraries start from the same numpy arrays (float64),
and every number they produce must agree.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import minigrad

torch_ = pytest.importorskip("torch")
LIBS = {"minigrad": minigrad, "torch": torch_}

V, BLOCK, EMB, HIDDEN = 11, 3, 4, 16  # vocabulary, context, embedding and hidden sizes


def _data(seed: int = 0, n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Contexts of BLOCK character indices and the next character, as a lecture builds
    them from a list of names."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, V, size=(n, BLOCK))
    Y = (X.sum(axis=1) + rng.integers(0, 2, size=n)) % V
    return X, Y


def _weights(seed: int = 1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "C": rng.standard_normal((V, EMB)),
        "W1": rng.standard_normal((BLOCK * EMB, HIDDEN)) * (5 / 3) / (BLOCK * EMB) ** 0.5,
        "b1": rng.standard_normal(HIDDEN) * 0.01,
        "W2": rng.standard_normal((HIDDEN, V)) * 0.1,
        "b2": rng.standard_normal(V) * 0.0,
        "bngain": 1.0 + 0.1 * rng.standard_normal((1, HIDDEN)),
        "bnbias": 0.1 * rng.standard_normal((1, HIDDEN)),
    }


def _close(a: Any, b: Any, rtol: float = 1e-12, atol: float = 1e-14) -> None:
    def arr(x: Any) -> np.ndarray:
        if isinstance(x, minigrad.Tensor):
            return x.data
        if isinstance(x, torch_.Tensor):
            return x.detach().numpy()
        return np.asarray(x)

    np.testing.assert_allclose(arr(a), arr(b), rtol=rtol, atol=atol)


def _both(program: Any, *args: Any) -> tuple[Any, Any]:
    return program(minigrad, *args), program(torch_, *args)


# ------------------------------------------------------------------ an MLP trained by hand
def mlp_training(torch: Any, update: str, steps: int = 6) -> dict[str, Any]:
    """makemore-style: an embedding table, a tanh layer, cross-entropy; the update written
    out under no_grad."""
    F = torch.nn.functional
    X, Y = _data()
    Xtr, Ytr = torch.tensor(X), torch.tensor(Y)
    w = _weights()
    C, W1, b1, W2, b2 = (torch.tensor(w[k]) for k in ("C", "W1", "b1", "W2", "b2"))
    parameters = [C, W1, b1, W2, b2]
    for p in parameters:
        p.requires_grad = True
    batches = np.random.default_rng(2).integers(0, len(X), size=(steps, 16))
    lossi = []
    for i in range(steps):
        ix = torch.tensor(batches[i])
        emb = C[Xtr[ix]]                                   # (16, BLOCK, EMB)
        h = torch.tanh(emb.view(-1, BLOCK * EMB) @ W1 + b1)
        logits = h @ W2 + b2
        loss = F.cross_entropy(logits, Ytr[ix])
        for p in parameters:
            p.grad = None
        loss.backward()
        lr = 0.1 if i < steps // 2 else 0.01
        if update == "data":
            for p in parameters:
                p.data += -lr * p.grad
        else:
            with torch.no_grad():
                for p in parameters:
                    p -= lr * p.grad
        lossi.append(loss.log10().item())
    with torch.no_grad():
        emb = C[Xtr]
        h = torch.tanh(emb.view(emb.shape[0], -1) @ W1 + b1)
        full = F.cross_entropy(h @ W2 + b2, Ytr)
    return {"lossi": lossi, "full": full.item(), "params": parameters,
            "count": sum(p.nelement() for p in parameters),
            "ratio": [(lr * p.grad.std() / p.std()).log10().item() for p in parameters]}


@pytest.mark.parametrize("update", ["data", "no_grad"])
def test_mlp_training_loop_updates_like_pytorch(update: str) -> None:
    ours, theirs = _both(mlp_training, update)
    _close(ours["lossi"], theirs["lossi"])
    assert ours["lossi"][-1] < ours["lossi"][0]  # it learned something
    assert ours["full"] == pytest.approx(theirs["full"], rel=1e-12)
    for p, q in zip(ours["params"], theirs["params"]):
        assert type(p.data) is np.ndarray and p.is_leaf and p.requires_grad
        _close(p, q)
    assert ours["count"] == theirs["count"] == V * EMB + BLOCK * EMB * HIDDEN + HIDDEN * (V + 1) + V
    _close(ours["ratio"], theirs["ratio"], rtol=1e-10)


# ------------------------------------------------------------------ batch norm by hand
def batchnorm_by_hand(torch: Any) -> dict[str, Any]:
    X, Y = _data(3, n=32)
    w = _weights(4)
    C, W1, b1 = (torch.tensor(w[k]) for k in ("C", "W1", "b1"))
    bngain, bnbias = torch.tensor(w["bngain"]), torch.tensor(w["bnbias"])
    bnmean_running = torch.zeros((1, HIDDEN), dtype=torch.float64)
    bnstd_running = torch.ones((1, HIDDEN), dtype=torch.float64)
    bnvar_running = torch.ones((1, HIDDEN), dtype=torch.float64)
    for p in (C, W1, b1, bngain, bnbias):
        p.requires_grad_()
    out = {}
    for step in range(3):
        ix = torch.tensor(np.arange(step, 32, 3))
        embcat = C[torch.tensor(X)[ix]].view(len(ix), -1)
        hpreact = embcat @ W1 + b1
        bnmeani = hpreact.mean(0, keepdim=True)
        bnstdi = hpreact.std(0, keepdim=True)          # unbiased, as PyTorch's
        hpreact = bngain * (hpreact - bnmeani) / bnstdi + bnbias
        h = torch.tanh(hpreact)
        loss = (h ** 2).mean()
        loss.backward()
        with torch.no_grad():
            bnmean_running = 0.999 * bnmean_running + 0.001 * bnmeani
            bnstd_running = 0.999 * bnstd_running + 0.001 * bnstdi
        # the same statistics written out: biased variance to normalize, unbiased running
        n = hpreact.shape[0]
        x = (embcat @ W1 + b1).detach()
        bndiff = x - x.sum(0, keepdim=True) / n
        var_biased = (bndiff ** 2).sum(0, keepdim=True) / n
        bnraw = bndiff * (var_biased + 1e-5) ** -0.5
        with torch.no_grad():
            bnvar_running = 0.9 * bnvar_running + 0.1 * (bndiff ** 2).sum(0, keepdim=True) / (n - 1)
        out[f"bnraw{step}"] = bnraw
        out[f"var{step}"] = (x.var(0, keepdim=True), x.var(0, unbiased=False), var_biased)
    out.update(loss=loss, mean=bnmean_running, std=bnstd_running, var=bnvar_running,
               grads=[p.grad for p in (C, W1, b1, bngain, bnbias)])
    return out


def test_batch_norm_by_hand_matches_pytorch() -> None:
    ours, theirs = _both(batchnorm_by_hand)
    for key in ("loss", "mean", "std", "var", "bnraw0", "bnraw2"):
        _close(ours[key], theirs[key])
    for a, b in zip(ours["grads"], theirs["grads"]):
        _close(a, b, rtol=1e-10, atol=1e-14)
    unbiased, biased, by_hand = ours["var0"]
    _close(biased.reshape(1, -1), by_hand)
    n = 11  # rows in the first batch
    _close(unbiased, by_hand * n / (n - 1))


def test_nn_batchnorm_matches_the_formulas_by_hand() -> None:
    def run(torch: Any) -> Any:
        x = torch.tensor(np.random.default_rng(5).standard_normal((10, 4)))
        bn = torch.nn.BatchNorm1d(4, dtype=torch.float64)
        y = bn(x)
        xhat = (x - x.mean(0)) / (x.var(0, unbiased=False) + 1e-5) ** 0.5
        return y, xhat, bn.running_var, 0.9 + 0.1 * x.var(0)

    (y, xhat, rv, want), (ty, _, trv, _) = _both(run)
    _close(y, xhat)
    _close(y, ty)
    _close(rv, want)
    _close(rv, trv)


# ------------------------------------------------------------------ the backward by hand
def cmp(torch: Any, name: str, dt: Any, t: Any) -> tuple[str, bool, bool, float]:
    """A gradient by hand against autograd's: exactly equal, close, the largest gap."""
    exact = torch.all(dt == t.grad).item()
    approx = torch.allclose(dt, t.grad)
    maxdiff = (dt - t.grad).abs().max().item()
    return name, bool(exact), bool(approx), maxdiff


def manual_backward(torch: Any) -> dict[str, Any]:
    """Forward through an MLP with batch norm and tanh, one small op at a time, each
    intermediate kept with retain_grad(); then the whole backward by hand."""
    F = torch.nn.functional
    X, Y = _data(6, n=24)
    w = _weights(7)
    C, W1, b1, W2, b2, bngain, bnbias = (torch.tensor(w[k]) for k in
                                         ("C", "W1", "b1", "W2", "b2", "bngain", "bnbias"))
    params = [C, W1, b1, W2, b2, bngain, bnbias]
    for p in params:
        p.requires_grad = True
    Xb, Yb = torch.tensor(X), torch.tensor(Y)
    n = Xb.shape[0]

    emb = C[Xb]
    flat = emb.view(emb.shape[0], -1)
    pre = flat @ W1 + b1
    mu = 1 / n * pre.sum(0, keepdim=True)
    centred = pre - mu
    sq = centred ** 2
    var = 1 / (n - 1) * sq.sum(0, keepdim=True)     # Bessel's correction, as in training
    inv_std = (var + 1e-5) ** -0.5
    xhat = centred * inv_std
    act = bngain * xhat + bnbias
    h = torch.tanh(act)
    logits = h @ W2 + b2
    top = logits.max(1, keepdim=True).values
    shifted = logits - top
    e = shifted.exp()
    total = e.sum(1, keepdims=True)
    total_inv = total ** -1
    probs = e * total_inv
    logp = probs.log()
    loss = -logp[range(n), Yb].mean()
    named = dict(emb=emb, flat=flat, pre=pre, mu=mu, centred=centred, sq=sq, var=var,
                 inv_std=inv_std, xhat=xhat, act=act, h=h, logits=logits, top=top,
                 shifted=shifted, e=e, total=total, total_inv=total_inv, probs=probs,
                 logp=logp)
    for p in params:
        p.grad = None
    for t in named.values():
        t.retain_grad()
    loss.backward()

    g = {}
    g["logp"] = torch.zeros_like(logp)
    g["logp"][range(n), Yb] = -1.0 / n
    g["probs"] = g["logp"] / probs
    g["total_inv"] = (e * g["probs"]).sum(1, keepdim=True)
    g["e"] = total_inv * g["probs"]
    g["total"] = -total ** -2 * g["total_inv"]
    g["e"] += torch.ones_like(e) * g["total"]
    g["shifted"] = e * g["e"]
    g["top"] = -g["shifted"].sum(1, keepdim=True)
    g["logits"] = g["shifted"].clone()
    g["logits"] += F.one_hot(logits.max(1).indices, num_classes=logits.shape[1]) * g["top"]
    g["h"] = g["logits"] @ W2.T
    gW2, gb2 = h.T @ g["logits"], g["logits"].sum(0)
    g["act"] = (1.0 - h ** 2) * g["h"]
    gbngain = (xhat * g["act"]).sum(0, keepdim=True)
    gbnbias = g["act"].sum(0, keepdim=True)
    g["xhat"] = bngain * g["act"]
    g["inv_std"] = (centred * g["xhat"]).sum(0, keepdim=True)
    g["var"] = -0.5 * (var + 1e-5) ** -1.5 * g["inv_std"]
    g["sq"] = 1 / (n - 1) * torch.ones_like(sq) * g["var"]
    g["centred"] = inv_std * g["xhat"] + 2 * centred * g["sq"]
    g["mu"] = -g["centred"].sum(0, keepdim=True)
    g["pre"] = g["centred"] + 1 / n * torch.ones_like(pre) * g["mu"]
    g["flat"] = g["pre"] @ W1.transpose(0, 1)
    gW1, gb1 = flat.transpose(0, 1) @ g["pre"], g["pre"].sum(0)
    g["emb"] = g["flat"].view(emb.shape)
    gC = torch.zeros_like(C)
    for k in range(Xb.shape[0]):
        for j in range(Xb.shape[1]):
            gC[Xb[k, j]] += g["emb"][k, j]

    # the fused form: the gradient of cross-entropy with respect to the logits at once
    fused = F.softmax(logits, 1)
    fused[range(n), Yb] -= 1
    fused /= n

    rows = [cmp(torch, k, g[k], named[k]) for k in g]
    rows += [cmp(torch, name, d, p) for name, d, p in
             (("C", gC, C), ("W1", gW1, W1), ("b1", gb1, b1), ("W2", gW2, W2),
              ("b2", gb2, b2), ("bngain", gbngain, bngain), ("bnbias", gbnbias, bnbias))]
    rows.append(cmp(torch, "logits (fused)", fused, logits))
    return {"rows": rows, "loss": loss, "F_loss": F.cross_entropy(logits, Yb),
            "grads": {**g, "C": gC, "W1": gW1, "W2": gW2, "b1": gb1, "b2": gb2}}


def test_a_backward_pass_by_hand_checks_against_autograd() -> None:
    ours, theirs = _both(manual_backward)
    _close(ours["loss"], theirs["loss"])
    _close(ours["loss"], ours["F_loss"])
    assert len(ours["rows"]) == len(theirs["rows"]) == 27
    for (name, _, approx, maxdiff), (tname, _, tapprox, tmaxdiff) in zip(
            ours["rows"], theirs["rows"]):
        assert name == tname
        assert approx and tapprox, name
        assert maxdiff < 1e-12 and tmaxdiff < 1e-12, (name, maxdiff, tmaxdiff)
    for rows in (ours["rows"], theirs["rows"]):
        exact = {name for name, ex, _, _ in rows if ex}
        assert {"logp", "probs", "h", "logits"} <= exact  # the same ops in the same order
    for k in ours["grads"]:
        _close(ours["grads"][k], theirs["grads"][k], rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------ a small GPT
def gpt(torch: Any, state: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    nn, F = torch.nn, torch.nn.functional
    device = "cuda" if torch.cuda.is_available() else "cpu"
    vocab, block_size, n_embd, n_head, n_layer = 13, 8, 16, 4, 2

    class Head(nn.Module):
        def __init__(self, head_size):
            super().__init__()
            self.key = nn.Linear(n_embd, head_size, bias=False)
            self.query = nn.Linear(n_embd, head_size, bias=False)
            self.value = nn.Linear(n_embd, head_size, bias=False)
            self.register_buffer("tril", torch.tril(torch.ones(block_size, block_size)))
            self.dropout = nn.Dropout(0.0)

        def forward(self, x):
            B, T, C = x.shape
            k, q = self.key(x), self.query(x)
            wei = q @ k.transpose(-2, -1) * k.shape[-1] ** -0.5
            wei = wei.masked_fill(self.tril[:T, :T] == 0, float("-inf"))
            wei = self.dropout(F.softmax(wei, dim=-1))
            return wei @ self.value(x)

    class MultiHead(nn.Module):
        def __init__(self, num_heads, head_size):
            super().__init__()
            self.heads = nn.ModuleList([Head(head_size) for _ in range(num_heads)])
            self.proj = nn.Linear(head_size * num_heads, n_embd)

        def forward(self, x):
            return self.proj(torch.cat([h(x) for h in self.heads], dim=-1))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.sa = MultiHead(n_head, n_embd // n_head)
            self.ffwd = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.ReLU(),
                                      nn.Linear(4 * n_embd, n_embd), nn.Dropout(0.0))
            self.ln1, self.ln2 = nn.LayerNorm(n_embd), nn.LayerNorm(n_embd)

        def forward(self, x):
            x = x + self.sa(self.ln1(x))
            return x + self.ffwd(self.ln2(x))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.token_embedding_table = nn.Embedding(vocab, n_embd)
            self.position_embedding_table = nn.Embedding(block_size, n_embd)
            self.blocks = nn.Sequential(*[Block() for _ in range(n_layer)])
            self.ln_f = nn.LayerNorm(n_embd)
            self.lm_head = nn.Linear(n_embd, vocab)
            self.apply(self._init_weights)

        def _init_weights(self, module):
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, mean=0.0, std=0.02)

        def forward(self, idx, targets=None):
            B, T = idx.shape
            tok = self.token_embedding_table(idx)
            pos = self.position_embedding_table(torch.arange(T, device=device))
            logits = self.lm_head(self.ln_f(self.blocks(tok + pos)))
            if targets is None:
                return logits, None
            B, T, C = logits.shape
            return logits, F.cross_entropy(logits.view(B * T, C), targets.view(B * T))

        @torch.no_grad()
        def generate(self, idx, max_new_tokens, generator=None):
            for _ in range(max_new_tokens):
                logits, _ = self(idx[:, -block_size:])
                probs = F.softmax(logits[:, -1, :], dim=-1)
                idx_next = torch.multinomial(probs, num_samples=1, generator=generator)
                idx = torch.cat((idx, idx_next), dim=1)
            return idx

    model = GPT().to(device).double()
    if state is None:  # the first library's draw: handed to the other as numpy arrays
        rng = np.random.default_rng(8)
        state = {k: rng.standard_normal(tuple(v.shape)) * 0.3 + (1.0 if k.endswith("ln1.weight")
                                                                 else 0.0)
                 for k, v in model.state_dict().items() if not k.endswith("tril")}
    model.load_state_dict({k: torch.tensor(v) for k, v in state.items()}, strict=False)
    data = torch.tensor(np.random.default_rng(9).integers(0, vocab, 200), dtype=torch.long)
    g = torch.Generator(device=device).manual_seed(1337)
    ix = torch.tensor(np.random.default_rng(10).integers(0, len(data) - block_size, 4))
    x = torch.stack([data[i:i + block_size] for i in ix])
    y = torch.stack([data[i + 1:i + block_size + 1] for i in ix])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = torch.zeros(3)
    for k in range(3):
        logits, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses[k] = loss.item()
    model.eval()
    context = torch.zeros((1, 1), dtype=torch.long, device=device)
    sample = model.generate(context, max_new_tokens=10, generator=g)[0].tolist()
    again = model.generate(context, 10, generator=torch.Generator().manual_seed(1337))[0]
    return {"state": state, "losses": losses, "logits": logits,
            "params": dict(model.named_parameters()), "sample": sample,
            "again": again.tolist(), "count": sum(p.numel() for p in model.parameters()),
            "buffers": sorted(k for k, _ in model.named_buffers())}


def test_a_small_gpt_trains_and_samples_like_pytorch() -> None:
    ours = gpt(minigrad)
    theirs = gpt(torch_, ours["state"])
    _close(ours["losses"], theirs["losses"], rtol=1e-5)  # the losses were kept as float32
    _close(ours["logits"], theirs["logits"], rtol=1e-10, atol=1e-12)
    assert ours["params"].keys() == theirs["params"].keys()
    for k, p in ours["params"].items():
        _close(p, theirs["params"][k], rtol=1e-9, atol=1e-12)
    assert ours["count"] == theirs["count"] and ours["buffers"] == theirs["buffers"]
    # sampling draws from each library's own generator: not the same numbers, but the same
    # rules (one new token per step, each a valid index, repeatable with the seed)
    assert len(ours["sample"]) == 11 and all(0 <= i < 13 for i in ours["sample"])
    assert ours["sample"] == ours["again"] and theirs["sample"] == theirs["again"]


# ------------------------------------------------------------------ WaveNet-style layers
def wavenet(torch: Any) -> dict[str, Any]:
    """Layers written as plain classes, as in a lecture that builds them before using
    torch.nn: consecutive characters merged two at a time, batch norm over (0, 1)."""
    g = torch.Generator().manual_seed(42)

    class Linear:
        def __init__(self, fan_in, fan_out, bias=True):
            self.weight = torch.randn((fan_in, fan_out), generator=g) / fan_in ** 0.5
            self.bias = torch.zeros(fan_out) if bias else None

        def __call__(self, x):
            self.out = x @ self.weight
            if self.bias is not None:
                self.out += self.bias
            return self.out

        def parameters(self):
            return [self.weight] + ([] if self.bias is None else [self.bias])

    class BatchNorm1d:
        def __init__(self, dim, eps=1e-5, momentum=0.1):
            self.eps, self.momentum, self.training = eps, momentum, True
            self.gamma, self.beta = torch.ones(dim), torch.zeros(dim)
            self.running_mean, self.running_var = torch.zeros(dim), torch.ones(dim)

        def __call__(self, x):
            if self.training:
                dim = 0 if x.ndim == 2 else (0, 1)
                xmean = x.mean(dim, keepdim=True)
                xvar = x.var(dim, keepdim=True)
            else:
                xmean, xvar = self.running_mean, self.running_var
            xhat = (x - xmean) / torch.sqrt(xvar + self.eps)
            self.out = self.gamma * xhat + self.beta
            if self.training:
                with torch.no_grad():
                    self.running_mean = (1 - self.momentum) * self.running_mean \
                        + self.momentum * xmean
                    self.running_var = (1 - self.momentum) * self.running_var \
                        + self.momentum * xvar
            return self.out

        def parameters(self):
            return [self.gamma, self.beta]

    class Tanh:
        def __call__(self, x):
            self.out = torch.tanh(x)
            return self.out

        def parameters(self):
            return []

    class Embedding:
        def __init__(self, num_embeddings, embedding_dim):
            self.weight = torch.randn((num_embeddings, embedding_dim), generator=g)

        def __call__(self, ix):
            self.out = self.weight[ix]
            return self.out

        def parameters(self):
            return [self.weight]

    class FlattenConsecutive:
        def __init__(self, n):
            self.n = n

        def __call__(self, x):
            B, T, C = x.shape
            x = x.view(B, T // self.n, C * self.n)
            if x.shape[1] == 1:
                x = x.squeeze(1)
            self.out = x
            return self.out

        def parameters(self):
            return []

    class Sequential:
        def __init__(self, layers):
            self.layers = layers

        def __call__(self, x):
            for layer in self.layers:
                x = layer(x)
            self.out = x
            return self.out

        def parameters(self):
            return [p for layer in self.layers for p in layer.parameters()]

    n_embd, n_hidden, block = 5, 12, 8
    model = Sequential([
        Embedding(V, n_embd),
        FlattenConsecutive(2), Linear(n_embd * 2, n_hidden, bias=False), BatchNorm1d(n_hidden),
        Tanh(),
        FlattenConsecutive(2), Linear(n_hidden * 2, n_hidden, bias=False),
        BatchNorm1d(n_hidden), Tanh(),
        FlattenConsecutive(2), Linear(n_hidden * 2, n_hidden, bias=False),
        BatchNorm1d(n_hidden), Tanh(),
        Linear(n_hidden, V),
    ])
    with torch.no_grad():
        model.layers[-1].weight *= 0.1
    # the generator's draws differ between the libraries: start both from the same arrays
    rng = np.random.default_rng(11)
    for layer in model.layers:
        for p in layer.parameters():
            scale = 1 / p.shape[0] ** 0.5 if isinstance(layer, Linear) and p.ndim == 2 else 0.2
            centre = 1.0 if isinstance(layer, BatchNorm1d) and p is layer.gamma else 0.0
            p.data = torch.tensor(centre + scale * rng.standard_normal(tuple(p.shape)))
        if isinstance(layer, BatchNorm1d):
            layer.running_mean = layer.running_mean.double()
            layer.running_var = layer.running_var.double()
    parameters = model.parameters()
    for p in parameters:
        p.requires_grad = True
    X = torch.tensor(np.random.default_rng(12).integers(0, V, size=(6, block)))
    Y = torch.tensor(np.random.default_rng(13).integers(0, V, size=6))
    F = torch.nn.functional
    shapes = []
    for _ in range(2):
        logits = model(X)
        loss = F.cross_entropy(logits, Y)
        for p in parameters:
            p.grad = None
        loss.backward()
        for p in parameters:
            p.data += -0.1 * p.grad
        shapes = [tuple(layer.out.shape) for layer in model.layers]
    for layer in model.layers:
        layer.training = False
    with torch.no_grad():
        eval_logits = model(X)
    return {"loss": loss, "shapes": shapes, "params": parameters, "eval": eval_logits,
            "running": [layer.running_var for layer in model.layers
                        if isinstance(layer, BatchNorm1d)]}


def test_wavenet_style_flattening_matches_pytorch() -> None:
    ours, theirs = _both(wavenet)
    assert ours["shapes"] == theirs["shapes"]
    assert ours["shapes"][:3] == [(6, 8, 5), (6, 4, 10), (6, 4, 12)] and \
        ours["shapes"][-1] == (6, V)
    _close(ours["loss"], theirs["loss"])
    for a, b in zip(ours["params"], theirs["params"]):
        _close(a, b, rtol=1e-11, atol=1e-13)
    for a, b in zip(ours["running"], theirs["running"]):
        _close(a, b, rtol=1e-11)
    _close(ours["eval"], theirs["eval"], rtol=1e-11, atol=1e-13)
