"""Diagnoses: `check` names the mistake in a wrong hand-written gradient.

The catalogue: classic mistakes of the CS231n and makemore backprop exercises, each planted
in a backward pass written by hand in numpy, the way a learner writes it, on small networks
(embedding, linear, batch norm, tanh, sigmoid, relu, convolution, max pooling, a residual
connection, a weight used twice, softmax and cross-entropy). Each mistake gets its kind, and
every row computed from it below is ``inherited`` from it.
"""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad.reference import check


def param(rng, *shape, name, scale=1.0):
    return mg.Tensor(scale * rng.standard_normal(shape), requires_grad=True, name=name)


def named(t, name):
    t.name = name
    return t


def softmax(a):
    e = np.exp(a - a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def onehot(y, n):
    return np.eye(n)[y]


# --------------------------------------------------------------------------- the networks
def makemore(slip=None):
    """The exercise's network (docs/backprop_exercise.md): embedding by indexing, linear,
    batch norm written op by op, tanh, linear, cross-entropy; its backward by hand."""
    V, T, E, H, N = 7, 3, 2, 8, 16
    rng = np.random.default_rng(1)
    Xb = rng.integers(0, V, size=(N, T))
    Yb = Xb.sum(axis=1) % V
    C = param(rng, V, E, name="C")
    W1 = param(rng, H, T * E, name="W1", scale=0.5)
    b1 = param(rng, H, name="b1", scale=0.1)
    gamma = param(rng, 1, H, name="gamma", scale=0.1)
    gamma.data += 1
    beta = param(rng, 1, H, name="beta", scale=0.1)
    W2 = param(rng, V, H, name="W2", scale=0.4)
    b2 = param(rng, V, name="b2", scale=0.1)
    eps = 1e-5
    emb = named(C[Xb], "emb")
    h0 = named(emb.reshape((N, T * E)), "h0")
    a1 = named(h0 @ W1.T + b1, "a1")
    mu = named(a1.mean(axis=0, keepdims=True), "mu")
    d = named(a1 - mu, "d")
    var = named((d**2).mean(axis=0, keepdims=True), "var")
    inv_sigma = named((var + eps) ** -0.5, "inv_sigma")
    xhat = named(d * inv_sigma, "xhat")
    z = named(gamma * xhat + beta, "z")
    h1 = named(z.tanh(), "h1")
    logits = named(h1 @ W2.T + b2, "logits")
    loss = F.cross_entropy(logits, Yb)

    g = {}
    y_hat, e = softmax(logits.data), onehot(Yb, V)
    g["logits"] = {"no 1/N": y_hat - e, "sign": (e - y_hat) / N,
                   "no one-hot": y_hat / N}.get(slip, (y_hat - e) / N)
    g["W2"] = h1.data.T @ g["logits"] if slip == "no transpose" else g["logits"].T @ h1.data
    g["b2"] = g["logits"] if slip == "bias not summed" else g["logits"].sum(axis=0)
    g["h1"] = g["logits"] @ W2.data
    g["z"] = g["h1"] * ((1 - h1.data) if slip == "1 - tanh" else (1 - h1.data**2))
    g["gamma"] = (g["z"] * xhat.data).sum(axis=0, keepdims=True)
    g["beta"] = g["z"].sum(axis=0, keepdims=True)
    g["xhat"] = g["z"] * gamma.data
    g["inv_sigma"] = (g["xhat"] * d.data).sum(axis=0, keepdims=True)
    g["var"] = -0.5 * (var.data + eps) ** -1.5 * g["inv_sigma"]
    g["d"] = g["xhat"] * inv_sigma.data
    if slip != "d once":
        g["d"] = g["d"] + (2.0 / N) * d.data * g["var"]
    g["mu"] = -g["d"].sum(axis=0, keepdims=True)
    g["a1"] = g["d"] + g["mu"] / N
    g["W1"] = g["a1"].T @ h0.data
    g["b1"] = g["a1"].sum(axis=0)
    g["h0"] = g["a1"] @ W1.data
    g["emb"] = g["h0"].reshape(N, T, E)
    g["C"] = np.zeros_like(C.data)
    if slip == "rows assigned":
        g["C"][Xb] += g["emb"]  # numpy keeps one row per repeated index
    else:
        np.add.at(g["C"], Xb, g["emb"])
    return loss, g


def residual(slip=None):
    """Linear, sigmoid, a tanh block added back to its input (a residual), linear,
    cross-entropy; square layers (N = H = 4)."""
    rng = np.random.default_rng(2)
    N = H = 4
    x = mg.Tensor(rng.standard_normal((N, 3)), name="x")
    y = np.array([0, 2, 1, 2])
    W1 = param(rng, H, 3, name="W1")
    b1 = param(rng, H, name="b1", scale=0.1)
    W2 = param(rng, H, H, name="W2", scale=0.5)
    W3 = param(rng, 3, H, name="W3")
    b3 = param(rng, 3, name="b3", scale=0.1)
    a1 = named(x @ W1.T + b1, "a1")
    h1 = named(a1.sigmoid(), "h1")
    a2 = named(h1 @ W2.T, "a2")
    h2 = named(a2.tanh(), "h2")
    o = named(h1 + h2, "o")
    logits = named(o @ W3.T + b3, "logits")
    loss = F.cross_entropy(logits, y)

    g = {"logits": (softmax(logits.data) - onehot(y, 3)) / N}
    g["W3"] = g["logits"].T @ o.data
    g["b3"] = g["logits"].sum(axis=0)
    g["o"] = g["logits"] @ W3.data
    g["h2"] = g["o"]
    g["a2"] = g["h2"] * (1 - h2.data**2)
    g["W2"] = g["a2"].T @ h1.data
    through_block = g["a2"] @ W2.data
    g["h1"] = {"skip left out": through_block, "dW2 for dh1": g["W2"]}.get(
        slip, g["o"] + through_block)
    s = h1.data
    g["a1"] = g["h1"] * (s if slip == "sigma" else s * (1 - s))
    g["W1"] = g["a1"].T @ x.data
    g["b1"] = g["a1"].sum(axis=0)
    return loss, g


def tied(slip=None):
    """One weight used by two layers: tanh(tanh(x Wᵀ) Wᵀ), then a linear layer and
    cross-entropy."""
    rng = np.random.default_rng(3)
    N, H = 5, 4
    x = mg.Tensor(rng.standard_normal((N, H)), name="x")
    y = np.array([0, 1, 2, 1, 0])
    W = param(rng, H, H, name="W", scale=0.6)
    V = param(rng, 3, H, name="V")
    a1 = named(x @ W.T, "a1")
    h1 = named(a1.tanh(), "h1")
    a2 = named(h1 @ W.T, "a2")
    h2 = named(a2.tanh(), "h2")
    logits = named(h2 @ V.T, "logits")
    loss = F.cross_entropy(logits, y)

    g = {"logits": (softmax(logits.data) - onehot(y, 3)) / N}
    g["V"] = g["logits"].T @ h2.data
    g["h2"] = g["logits"] @ V.data
    g["a2"] = g["h2"] * (1 - h2.data**2)
    g["h1"] = g["a2"] @ W.data
    g["a1"] = g["h1"] * (1 - h1.data**2)
    g["W"] = g["a2"].T @ h1.data  # the use in the second layer
    if slip != "one use of W":
        g["W"] = g["W"] + g["a1"].T @ x.data  # and in the first
    return loss, g


def cnn(slip=None):
    """Convolution (no bias) on images with blank regions, relu, 2×2 max pooling, linear,
    cross-entropy; the gradient reaches the image x too."""
    rng = np.random.default_rng(4)
    N, K = 2, 3
    img = rng.standard_normal((N, 1, 6, 6))
    img[:, :, :3, :3] = 0.0  # a blank corner: the convolution gives exact zeros there
    x = mg.Tensor(img, requires_grad=True, name="x")
    y = np.array([1, 3])
    W1 = param(rng, 3, 1, K, K, name="W1")
    W2 = param(rng, 4, 12, name="W2", scale=0.5)
    b2 = param(rng, 4, name="b2", scale=0.1)
    a1 = named(F.conv2d(x, W1), "a1")
    h1 = named(a1.relu(), "h1")
    p1 = named(F.max_pool2d(h1, 2), "p1")
    f = named(p1.reshape((N, 12)), "f")
    logits = named(f @ W2.T + b2, "logits")
    loss = F.cross_entropy(logits, y)

    g = {"logits": (softmax(logits.data) - onehot(y, 4)) / N}
    g["W2"] = g["logits"].T @ f.data
    g["b2"] = g["logits"].sum(axis=0)
    g["f"] = g["logits"] @ W2.data
    g["p1"] = g["f"].reshape(N, 3, 2, 2)
    g["h1"] = np.zeros_like(h1.data)
    for i in range(2):
        for j in range(2):
            window = h1.data[:, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2].reshape(N, 3, 4)
            if slip == "pool to every position":
                g["h1"][:, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2] += g["p1"][:, :, i, j, None, None]
                continue
            u, v = np.divmod(window.argmax(axis=2), 2)
            for n in range(N):
                for c in range(3):
                    g["h1"][n, c, 2 * i + u[n, c], 2 * j + v[n, c]] += g["p1"][n, c, i, j]
    mask = (a1.data >= 0) if slip == "relu mask >= 0" else (a1.data > 0)
    g["a1"] = g["h1"] * mask
    da = g["a1"]
    g["W1"] = np.zeros_like(W1.data)
    for p in range(K):
        for q in range(K):
            g["W1"][:, :, p, q] = np.einsum("nohw,nchw->oc", da, x.data[:, :, p:p + 4, q:q + 4])
    if slip == "dW for a convolution":  # derived for y = x ∗ W (the kernel flipped)
        g["W1"] = g["W1"][:, :, ::-1, ::-1]
    padded = np.pad(da, ((0, 0), (0, 0), (K - 1, K - 1), (K - 1, K - 1)))
    kernel = W1.data if slip == "dx by correlation" else W1.data[:, :, ::-1, ::-1]
    g["x"] = np.zeros_like(x.data)
    for p in range(K):
        for q in range(K):
            g["x"] += np.einsum("nohw,oc->nchw", padded[:, :, p:p + 6, q:q + 6],
                                kernel[:, :, p, q])
    return loss, g


def bn_softmax(slip=None):
    """Linear, the batch-norm op, tanh, linear, an explicit softmax, and the loss
    −mean log ŷ_ℓ picked by indexing."""
    rng = np.random.default_rng(5)
    N, D, H, Cn = 8, 5, 6, 3
    x = mg.Tensor(rng.standard_normal((N, D)), name="x")
    y = rng.integers(0, Cn, size=N)
    W1 = param(rng, H, D, name="W1")
    b1 = param(rng, H, name="b1", scale=0.1)
    gamma = param(rng, H, name="gamma", scale=0.1)
    gamma.data += 1
    beta = param(rng, H, name="beta", scale=0.1)
    W2 = param(rng, Cn, H, name="W2", scale=0.5)
    a1 = named(x @ W1.T + b1, "a1")
    bn = named(F.batch_norm(a1, None, None, gamma, beta, training=True), "bn")
    h = named(bn.tanh(), "h")
    logits = named(h @ W2.T, "logits")
    probs = named(logits.softmax(-1), "probs")
    logp = named(probs.log(), "logp")
    loss = -logp[np.arange(N), y].mean()

    g = {"logp": -onehot(y, Cn) / N}
    g["probs"] = g["logp"] / probs.data
    P, dP = probs.data, g["probs"]
    g["logits"] = P * dP if slip == "softmax diagonal" else P * (
        dP - (dP * P).sum(axis=1, keepdims=True))
    g["W2"] = g["logits"].T @ h.data
    g["h"] = g["logits"] @ W2.data
    g["bn"] = g["h"] * (1 - h.data**2)
    mu = a1.data.mean(axis=0)
    sigma = np.sqrt(a1.data.var(axis=0) + 1e-5)
    xhat = (a1.data - mu) / sigma
    dz = g["bn"]
    g["gamma"] = (dz * xhat).sum(axis=0)
    g["beta"] = dz.sum(axis=0)
    bessel = N / (N - 1) if slip == "unbiased variance" else 1.0  # Karpathy's n/(n−1)
    g["a1"] = gamma.data / sigma / N * (
        N * dz - dz.sum(axis=0) - bessel * xhat * (dz * xhat).sum(axis=0))
    g["W1"] = g["a1"].T @ x.data
    g["b1"] = g["a1"].sum(axis=0)
    return loss, g


NETS = {"makemore": makemore, "residual": residual, "tied": tied, "cnn": cnn,
        "bn_softmax": bn_softmax}

# mistake → (network, where it is made, kind, a detail to check)
CATALOGUE = {
    "missing transpose": ("makemore", "W2", "transposed", ("axes", (1, 0))),
    "missing 1/N": ("makemore", "logits", "scaled", ("factor", 16.0)),
    "wrong sign": ("makemore", "logits", "scaled", ("factor", -1.0)),
    "bias not summed over the batch": ("makemore", "b2", "unreduced", ("axes", (0,))),
    "1 − tanh for 1 − tanh²": ("makemore", "z", "wrong_rule", ("used", "1 − tanh(a)")),
    "softmax gradient without the one-hot": ("makemore", "logits", "wrong_rule",
                                             ("op", "cross_entropy")),
    "d used twice, one path left out": ("makemore", "d", "missing_path", ("missing", "pow")),
    "embedding rows assigned, not added": ("makemore", "C", "wrong_rule", ("op", "getitem")),
    "σ for σ′": ("residual", "a1", "wrong_rule", ("used", "σ(a) for σ′")),
    "residual path left out": ("residual", "h1", "missing_path", ("missing", "add")),
    "∇W given for ∇h": ("residual", "h1", "swapped", ("other", "W2")),
    "a weight used twice, one use left out": ("tied", "W", "missing_path",
                                             ("missing", "matmul")),
    "max pooling's δ to every position": ("cnn", "h1", "wrong_rule", ("op", "max_pool2d")),
    "relu mask a ≥ 0": ("cnn", "a1", "wrong_rule", ("used", "1[a ≥ 0]")),
    "correlation for convolution in ∇x": ("cnn", "x", "flipped", ("axes", (2, 3))),
    "∇W derived for a convolution": ("cnn", "W1", "flipped", ("axes", (2, 3))),
    "softmax Jacobian without its outer product": ("bn_softmax", "logits", "wrong_rule",
                                                   ("op", "softmax")),
    "unbiased variance in batch norm": ("bn_softmax", "a1", "wrong_rule",
                                        ("op", "batch_norm")),
}
SLIP_OF = {
    "missing transpose": "no transpose", "missing 1/N": "no 1/N", "wrong sign": "sign",
    "bias not summed over the batch": "bias not summed", "1 − tanh for 1 − tanh²": "1 - tanh",
    "softmax gradient without the one-hot": "no one-hot",
    "d used twice, one path left out": "d once",
    "embedding rows assigned, not added": "rows assigned", "σ for σ′": "sigma",
    "residual path left out": "skip left out", "∇W given for ∇h": "dW2 for dh1",
    "a weight used twice, one use left out": "one use of W",
    "max pooling's δ to every position": "pool to every position",
    "relu mask a ≥ 0": "relu mask >= 0",
    "correlation for convolution in ∇x": "dx by correlation",
    "∇W derived for a convolution": "dW for a convolution",
    "softmax Jacobian without its outer product": "softmax diagonal",
    "unbiased variance in batch norm": "unbiased variance",
}


@pytest.mark.parametrize("net", sorted(NETS))
def test_the_hand_written_backward_passes_are_right(net):
    loss, g = NETS[net]()
    report = check(loss, g)
    assert report.ok, str(report)
    assert all(r.diagnosis is None for r in report.rows)
    assert report.first_wrong == []


def _detail_matches(d, detail):
    key, want = detail
    got = getattr(d, key)
    if key == "missing":
        return any(want == m.op for m in got)
    if isinstance(want, str):
        return want in str(got)
    if isinstance(want, float):
        return got == pytest.approx(want)
    return tuple(got) == want


@pytest.mark.parametrize("mistake", list(CATALOGUE))
def test_the_catalogue_of_mistakes(mistake):
    net, where, kind, detail = CATALOGUE[mistake]
    loss, g = NETS[net](SLIP_OF[mistake])
    report = check(loss, g)
    rows = {r.name: r for r in report.rows}
    bad = rows[where]
    assert not bad.approx
    assert bad.diagnosis is not None and bad.diagnosis.kind == kind, str(report)
    assert _detail_matches(bad.diagnosis, detail), bad.diagnosis
    assert where in bad.diagnosis.text
    assert [r.name for r in report.first_wrong] == [where], str(report)
    for r in report.rows:
        if r.name == where:
            continue
        if r.approx:
            assert r.diagnosis is None
        else:  # every row computed from the mistake inherits it
            assert r.diagnosis.kind == "inherited" and r.diagnosis.source == where, str(report)
    assert f"{kind}: your ∇{where}" in str(report)
    assert report.to_dict()["first_wrong"] == [where]


def test_the_catalogue_is_at_least_twelve_mistakes_with_downstream_rows():
    assert len(CATALOGUE) >= 12
    inherited = 0
    for mistake, (net, *_) in CATALOGUE.items():
        report = check(*NETS[net](SLIP_OF[mistake]))
        inherited += sum(r.diagnosis is not None and r.diagnosis.kind == "inherited"
                         for r in report.rows)
    assert inherited >= 30


# --------------------------------------------------------------------------- check after backward
def _retain(loss, names):
    for _, d in mg.graph(loss).nodes(data=True):
        t = d["tensor"]
        if t.name in names and t._ctx is not None:
            t.retain_grad()


def test_check_after_backward_reads_the_grads_backward_left():
    loss, g = makemore("d once")
    _retain(loss, g)
    loss.backward()
    report = check(loss, g)
    assert "after backward()" in report.note and "after backward()" in str(report)
    rows = {r.name: r for r in report.rows}
    assert rows["d"].diagnosis.kind == "missing_path"
    assert rows["a1"].diagnosis.kind == "inherited" and rows["a1"].diagnosis.source == "d"
    assert [r.name for r in report.first_wrong] == ["d"]
    loss, g = makemore()
    _retain(loss, g)
    loss.backward()
    assert check(loss, g).ok


def test_check_after_backward_without_retain_grad_names_both_fixes():
    loss, g = makemore()
    loss.backward()
    with pytest.raises(RuntimeError) as e:
        check(loss, g)
    msg = str(e.value)
    assert msg.startswith("check:") and "'logits'" in msg
    assert "logits.retain_grad() before loss.backward()" in msg
    assert "call check before backward()" in msg
    # the parameters alone hold their .grad: they check
    assert check(loss, {k: g[k] for k in ("C", "W1", "W2", "gamma")}).ok


def test_after_two_backwards_the_rules_are_not_trusted():
    loss, g = residual("sigma")
    _retain(loss, g)
    loss.backward(retain_graph=True)
    loss.backward()  # .grad now holds twice the gradient
    report = check(loss, g)
    assert not report.rules
    assert all(r.diagnosis.kind != "inherited" for r in report.failed)
    assert len(report.first_wrong) == 1
    assert "unavailable" in report.failed[0].diagnosis.text


def test_check_before_backward_leaves_backward_working():
    loss, g = cnn("relu mask >= 0")
    assert not check(loss, g).ok
    loss.backward()
    x = next(d["tensor"] for _, d in mg.graph(loss).nodes(data=True) if d["name"] == "x")
    np.testing.assert_allclose(x.grad.data, cnn()[1]["x"], atol=1e-12)


# --------------------------------------------------------------------------- no gradient vs zero
def test_no_path_to_the_loss_and_a_zero_gradient_are_told_apart():
    rng = np.random.default_rng(0)
    W = param(rng, 3, 2, name="W")
    unused = param(rng, 2, name="unused")
    x = mg.Tensor(np.array([[1.0, -2.0], [0.5, -1.0]]), name="x")
    a = named(x @ W.T, "a")
    a.data[:, 0] = -1.0  # a dead unit: relu passes no gradient there
    h = named(a.relu(), "h")
    loss = (h * mg.Tensor(np.array([0.0, 1.0, 1.0]))).sum()
    dh = np.tile([0.0, 1.0, 1.0], (2, 1))
    report = check(loss, {"h": dh, unused: np.zeros(2), a: dh * (a.data > 0)})
    rows = {r.name: r for r in report.rows}
    assert report.ok
    assert rows["unused"].note == "no path to the loss" and not rows["unused"].reached
    assert rows["h"].note == "" and rows["a"].note == ""
    text = str(report)
    assert "no path to the loss" in text
    bad = check(loss, {unused: np.ones(2)})
    assert not bad.ok and "no path to the loss" in bad.rows[0].diagnosis.text
    assert bad.to_dict()["rows"][0]["note"] == "no path to the loss"


def test_a_gradient_that_is_exactly_zero_is_said_so():
    rng = np.random.default_rng(0)
    b = param(rng, 3, name="b")
    x = mg.Tensor(rng.standard_normal((4, 3)), name="x")
    a = named(x + b, "a")
    loss = (a - a.mean(axis=0, keepdims=True)).sum()  # the mean removes b: zero gradient
    report = check(loss, {b: np.zeros(3)})
    assert report.ok and report.rows[0].zero
    assert report.rows[0].note == "gradient is zero here"
    assert "gradient is zero here" in str(report)
    wrong = check(loss, {b: np.ones(3)})
    assert "zero" in wrong.rows[0].diagnosis.text


# --------------------------------------------------------------------------- shapes and reports
def test_a_shape_no_permutation_or_sum_explains_is_an_error_naming_the_key():
    loss, g = residual()
    with pytest.raises(ValueError, match="'W3' has shape \\(4,\\)"):
        check(loss, {"W3": np.zeros(4)})
    with pytest.raises(ValueError, match="tensors of the graph with shape \\(4, 3\\): W1"):
        check(loss, {"a1": np.zeros((4, 3))})


def test_a_transposed_shape_whose_values_differ_is_unexplained():
    loss, g = makemore()
    report = check(loss, {"W2": 2 * g["W2"].T})
    d = report.rows[0].diagnosis
    assert d.kind == "unexplained" and "axes put back" in d.text
    assert report.rows[0].given_shape == (8, 7)


def test_a_gradient_that_matches_nothing_is_unexplained_at_its_worst_element():
    loss, g = makemore()
    wrong = g["z"].copy()
    wrong[3, 5] += 0.25
    d = check(loss, {"z": wrong}).rows[0].diagnosis
    assert d.kind == "unexplained" and d.index == (3, 5)
    assert d.yours == pytest.approx(wrong[3, 5]) and d.autograd == pytest.approx(g["z"][3, 5])
    assert "(3, 5)" in d.text


def test_the_report_as_json_carries_the_diagnoses():
    import json

    loss, g = makemore("sign")
    report = check(loss, g)
    data = json.loads(json.dumps(report.to_dict()))
    rows = {r["name"]: r for r in data["rows"]}
    assert rows["logits"]["diagnosis"] == {"kind": "scaled", "text": rows["logits"]["diagnosis"]
                                           ["text"], "factor": -1.0}
    assert rows["W1"]["diagnosis"]["kind"] == "inherited"
    assert rows["W1"]["diagnosis"]["source"] == "logits"
    assert data["first_wrong"] == ["logits"]


def test_an_independent_second_mistake_is_a_first_wrong_step_too():
    loss, g = makemore("1 - tanh")
    g["b2"] = g["b2"] * -1.0
    report = check(loss, g)
    assert [r.name for r in report.first_wrong] == ["b2", "z"]
    assert "first wrong step: b2, z" in str(report)


def test_a_second_slip_below_a_first_one_is_not_inherited():
    loss, g = residual("skip left out")
    s = g["h1"]  # the learner's wrong ∇h1, then σ for σ′ on top of it
    h1 = next(d["tensor"] for _, d in mg.graph(loss).nodes(data=True) if d["name"] == "h1")
    g["a1"] = s * h1.data
    report = check(loss, {k: g[k] for k in ("logits", "o", "h2", "a2", "h1", "a1")})
    rows = {r.name: r for r in report.rows}
    assert rows["h1"].diagnosis.kind == "missing_path"
    assert rows["a1"].diagnosis.kind == "wrong_rule"
    assert [r.name for r in report.first_wrong] == ["h1", "a1"]


# --------------------------------------------------------------------------- property-based
hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies


@st.composite
def models(draw):
    """A random small network: 1–3 dense layers with random widths and activations, maybe a
    residual around a square layer, cross-entropy or squared error, float32 or float64."""
    dtype = draw(st.sampled_from(["float32", "float64"]))
    n = draw(st.integers(1, 6))
    widths = draw(st.lists(st.integers(1, 5), min_size=2, max_size=4))
    acts = draw(st.lists(st.sampled_from(["tanh", "sigmoid", "relu"]),
                         min_size=len(widths) - 2, max_size=len(widths) - 2))
    residual = draw(st.booleans())
    loss = draw(st.sampled_from(["ce", "mse"]))
    seed = draw(st.integers(0, 2**16))
    return dtype, n, widths, acts, residual, loss, seed


def _forward(lib, x, params, acts, residual, loss, y):
    """The same network in minigrad or torch: returns the loss and the named tensors."""
    named_ts = {}
    h = x
    L = len(params)
    for k, (W, b) in enumerate(params):
        a = h @ W.T + b
        named_ts[f"a{k}"] = a
        if k < L - 1:
            g = getattr(a, acts[k])()
            if residual and g.shape == h.shape:
                g = g + h
            named_ts[f"h{k}"] = g
            h = g
    out = named_ts[f"a{L - 1}"]
    if loss == "ce":
        value = lib.cross_entropy(out, y)
    else:
        value = lib.mse_loss(out, y)
    return value, named_ts


@hypothesis.given(models())
@hypothesis.settings(deadline=None)
def test_a_correct_gradient_never_gets_a_diagnosis(spec):
    torch = pytest.importorskip("torch")
    dtype, n, widths, acts, residual, loss, seed = spec
    rng = np.random.default_rng(seed)
    arrays = [(rng.standard_normal((o, i)).astype(dtype),
               (0.1 * rng.standard_normal(o)).astype(dtype))
              for i, o in zip(widths[:-1], widths[1:])]
    X = rng.standard_normal((n, widths[0])).astype(dtype)
    Y = (rng.integers(0, widths[-1], size=n) if loss == "ce"
         else rng.standard_normal((n, widths[-1])).astype(dtype))

    params = [(mg.Tensor(W, requires_grad=True, name=f"W{k}"),
               mg.Tensor(b, requires_grad=True, name=f"b{k}")) for k, (W, b) in enumerate(arrays)]
    mine_loss, ts = _forward(F, mg.Tensor(X), params, acts, residual, loss,
                             Y if loss == "ce" else mg.Tensor(Y))
    for k, t in ts.items():
        t.name = k

    tparams = [(torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True))
               for W, b in arrays]
    tF = torch.nn.functional
    t_loss, tts = _forward(tF, torch.tensor(X), tparams, acts, residual, loss,
                           torch.tensor(Y))
    for t in tts.values():
        t.retain_grad()
    t_loss.backward()
    grads = {k: t.grad.numpy() for k, t in tts.items()}
    for k, (W, b) in enumerate(tparams):
        grads[f"W{k}"], grads[f"b{k}"] = W.grad.numpy(), b.grad.numpy()

    report = check(mine_loss, grads)
    assert report.ok, str(report)
    assert all(r.diagnosis is None for r in report.rows)
    assert report.first_wrong == []


@hypothesis.given(models(), st.sampled_from([-1.0, 2.0, 0.5]))
@hypothesis.settings(deadline=None, max_examples=15)
def test_a_scaled_chain_is_scaled_once_and_inherited_below(spec, c):
    dtype, n, widths, acts, residual, loss, seed = spec
    rng = np.random.default_rng(seed)
    params = [(mg.Tensor(rng.standard_normal((o, i)).astype(dtype), requires_grad=True,
                         name=f"W{k}"),
               mg.Tensor((0.1 * rng.standard_normal(o)).astype(dtype), requires_grad=True,
                         name=f"b{k}"))
              for k, (i, o) in enumerate(zip(widths[:-1], widths[1:]))]
    X = mg.Tensor(rng.standard_normal((n, widths[0])).astype(dtype))
    Y = (rng.integers(0, widths[-1], size=n) if loss == "ce"
         else mg.Tensor(rng.standard_normal((n, widths[-1])).astype(dtype)))
    value, ts = _forward(F, X, params, acts, residual, loss, Y)
    for k, t in ts.items():
        t.name = k
    keys = list(ts.values()) + [p for pair in params for p in pair]
    true = mg.grad(value, keys, retain_graph=True, allow_unused=True)
    # every gradient c times the truth: the learner scaled the top one, and the rest follow
    report = check(value, {k: c * g.data for k, g in zip(keys, true)})
    bad = [r for r in report.rows if not r.approx]
    hypothesis.assume(bad)  # a gradient that is zero everywhere stays right
    first = report.first_wrong
    assert first and first[0] is min(bad, key=lambda r: r.position)
    for r in bad:
        if r in first:
            assert r.diagnosis.kind == "scaled" and r.diagnosis.factor == pytest.approx(c)
        else:
            assert r.diagnosis.kind == "inherited", str(report)


# --------------------------------------------------------------------------- compare
def _mlp_run():
    from minigrad import nn

    mg.manual_seed(0)
    model = nn.MLP([3, 4, 4, 2], activation="sigmoid", dtype="float64")
    rng = np.random.default_rng(0)
    return model, rng.standard_normal((5, 3)), rng.integers(0, 2, size=5)


def test_compare_diagnoses_a_slip_in_the_formula_book(monkeypatch):
    import json

    from minigrad.reference import compare, dense

    monkeypatch.setitem(dense.DERIVATIVES, "sigmoid", dense.sigmoid)  # σ for σ′
    report = compare(*_mlp_run())
    rows = {r.quantity: r for r in report.rows}
    assert rows["∇a_2"].diagnosis.kind == "wrong_rule"
    assert rows["∇a_2"].diagnosis.used.startswith("σ(a) for σ′")
    assert rows["∇W_2"].diagnosis.kind == "inherited" and rows["∇W_2"].diagnosis.source == "a_2"
    assert rows["∇W_3"].diagnosis is None
    assert "wrong_rule: the formula's ∇a_2 uses σ(a)" in str(report)
    data = json.loads(json.dumps(report.to_dict()))
    assert {r["quantity"]: r["diagnosis"] for r in data["rows"]}["∇a_2"]["kind"] == "wrong_rule"


def test_compare_diagnoses_a_missing_one_over_n_layer_by_layer(monkeypatch):
    from minigrad import nn
    from minigrad.reference import compare, losses

    right = losses.cross_entropy_backward
    monkeypatch.setattr(losses, "cross_entropy_backward",
                        lambda a, t, reduction="mean": right(a, t, "sum"))
    mg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4, dtype="float64"), nn.Tanh(),
                          nn.BatchNorm1d(4, dtype="float64"), nn.Linear(4, 2, dtype="float64"))
    rng = np.random.default_rng(0)
    report = compare(model, rng.standard_normal((6, 3)), rng.integers(0, 2, size=6))
    top = next(r for r in report.rows if r.quantity == "∇logits")
    assert top.diagnosis.kind == "scaled" and top.diagnosis.factor == pytest.approx(6)
    assert "N = 6, the batch size" in top.diagnosis.text
    below = [r for r in report.failed if r is not top]
    assert below and all(r.diagnosis.kind == "inherited" for r in below)
    assert all(r["diagnosis"] is None for r in report.to_dict()["rows"] if r["passed"])


def test_compare_finds_a_slip_inside_a_layer(monkeypatch):
    from minigrad import nn
    from minigrad.reference import compare, layers

    f = layers.LAYER_FORMULAS["Tanh"]

    def backward(m, xs, cache, delta):
        h = np.tanh(xs[0])
        return {"x": delta * (1 - h)}  # 1 − tanh for 1 − tanh²

    monkeypatch.setitem(layers.LAYER_FORMULAS, "Tanh",
                        layers.LayerFormula(f.forward, backward, f.labels))
    mg.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 4, dtype="float64"), nn.Tanh(),
                          nn.Dropout(0.0), nn.Linear(4, 2, dtype="float64"))
    rng = np.random.default_rng(1)
    report = compare(model, rng.standard_normal((5, 3)), rng.integers(0, 2, size=5))
    act = next(r for r in report.rows if r.module == "1" and r.quantity == "∇x")
    assert act.diagnosis.kind == "wrong_rule" and act.diagnosis.op == "tanh"


# --------------------------------------------------------------------------- the diagram
def _node_line(src, name):
    import re

    return next(line for line in src.splitlines()
                if re.search(rf"<B>{re.escape(name)}(<|\s|\u00a0)", line))


def test_the_diagram_puts_the_diagnosis_on_the_red_node_and_thickens_the_first_wrong_step():
    visualize = pytest.importorskip("minigrad.visualize")
    from minigrad.visualize import _style as S

    loss, g = makemore("1 - tanh")
    report = check(loss, g)
    src = visualize.draw(loss, check=report).source
    z, xhat, h1 = (_node_line(src, n) for n in ("z", "xhat", "h1"))
    assert f'penwidth={S.FIRST_WRONG_PENWIDTH}' in z and "first wrong step" in z
    assert "wrong_rule" in z and "tanh" in z
    assert "penwidth=2.5" in xhat and "inherited from ∇z" in xhat
    assert f'fillcolor="{S.CHECK_PASS}"' in h1
    assert "thick border: the first wrong step" in src


def test_the_diagram_says_no_path_and_zero_apart():
    visualize = pytest.importorskip("minigrad.visualize")
    rng = np.random.default_rng(0)
    b = param(rng, 3, name="b")
    x = mg.Tensor(rng.standard_normal((4, 3)), name="x")
    a = named(x + b, "a")
    loss = named((a - a.mean(axis=0, keepdims=True)).sum(), "L")
    report = check(loss, {b: np.zeros(3)})
    assert "gradient is zero here" in _node_line(visualize.draw(loss, check=report).source, "b")
    loss.backward()
    assert "gradient is zero here" in _node_line(visualize.draw(loss).source, "b")
    other = param(rng, 3, name="other")
    loss2 = named((other * 2).sum() + (b * 0).sum(), "L2")
    loss2.backward()
    c = param(rng, 3, name="c")
    y = named(c * 1.0 + other, "y")
    assert "no path to the loss" in _node_line(visualize.draw(y).source, "c")


def test_the_diagram_marks_where_the_first_nan_appeared():
    visualize = pytest.importorskip("minigrad.visualize")
    from minigrad.visualize import _style as S

    x = mg.Tensor(np.array([0.0, 1.0, 4.0]), requires_grad=True, name="x")
    with mg.detect_anomaly():
        y = named(x.sqrt(), "y")
        loss = named((y * y.exp()).sum(), "L")
    with pytest.raises(FloatingPointError, match="sqrt"), np.errstate(all="ignore"):
        with mg.detect_anomaly():
            loss.backward(retain_graph=True)
    src = visualize.draw(loss).source
    line = _node_line(src, "x")
    assert S.NAN_BORDER in line and "sqrt" in line and "created at" in line
    assert "test_diagnosis.py" in line and "line" in line
    assert S.NAN_BORDER not in _node_line(src, "y")
    # in the forward: the op that made it, and how to see the line
    z = mg.Tensor(np.array([0.0, 1.0]), requires_grad=True, name="z")
    with np.errstate(all="ignore"):
        logz = named(z.log(), "logz")
    src = visualize.draw(named(logz.sum(), "S")).source
    assert S.NAN_BORDER in _node_line(src, "logz") and "detect_anomaly" in src
    assert S.NAN_BORDER not in _node_line(src, "S")


def test_a_search_through_a_large_graph_stops_at_its_budget(monkeypatch):
    from minigrad.reference import diagnosis

    monkeypatch.setattr(diagnosis, "ROW_BUDGET", 3)
    loss, g = tied()
    wrong = g["W"] + 0.1 * np.arange(16).reshape(4, 4)
    d = check(loss, {"W": wrong}).rows[0].diagnosis
    assert d.kind == "unexplained" and "stopped at its budget" in d.text
    # only the parameters given: the search runs through the whole graph above them
    loss, g = tied("one use of W")
    assert check(loss, {"W": g["W"], "V": g["V"]}).rows[0].diagnosis.kind == "missing_path"


def test_a_nan_in_autograds_gradient_is_traced_to_its_origin():
    x = mg.Tensor(np.array([0.0, 1.0, 4.0]), requires_grad=True, name="x")
    with mg.detect_anomaly():
        y = named(x.sqrt(), "y")
        loss = (y * y.exp()).sum()
    with np.errstate(all="ignore"):
        report = check(loss, {x: np.ones(3), "y": np.ones(3)})
    d = {r.name: r for r in report.rows}["x"].diagnosis
    assert "NaN or Inf" in d.text and "sqrt" in d.text and "created at" in d.text
    assert report.rules


def test_x_times_x_with_one_use_left_out_is_a_missing_path_not_a_half():
    rng = np.random.default_rng(0)
    x = param(rng, 4, name="x")
    d = check((x * x).sum(), {x: x.data}).rows[0].diagnosis
    assert d.kind == "missing_path" and [m.op for m in d.missing] == ["mul"]
    assert "as input 1" in d.text
    # a gradient halved where nothing is used twice is scaled
    assert check((x * 3.0).sum(), {x: np.full(4, 1.5)}).rows[0].diagnosis.factor == 0.5


def test_compare_says_where_a_gradient_is_exactly_zero():
    from minigrad import nn
    from minigrad.reference import compare

    mg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4, dtype="float64"), nn.ReLU(),
                          nn.Linear(4, 2, dtype="float64"))
    model[0].bias.data[...] = -100.0  # every unit dead: nothing flows back through the relu
    rng = np.random.default_rng(0)
    report = compare(model, rng.standard_normal((5, 3)), rng.integers(0, 2, size=5))
    assert report.ok
    notes = {r.quantity: r.note for r in report.rows}
    assert notes["∇W_1"] == "gradient is zero here" and notes["∇b_2"] == ""
    assert "(gradient is zero here)" in str(report)
    assert {r["quantity"]: r["note"] for r in report.to_dict()["rows"]}["∇W_1"] != ""
