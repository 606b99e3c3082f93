"""`minigrad.reference.check`: a learner's own gradients against autograd's."""

from __future__ import annotations

import re

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import nn
from minigrad.reference import check


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 5, dtype="float64")
        self.fc2 = nn.Linear(5, 3, dtype="float64")

    def forward(self, x):
        a1 = self.fc1(x)
        a1.name = "a1"
        h1 = a1.tanh()
        h1.name = "h1"
        logits = self.fc2(h1)
        logits.name = "logits"
        return logits


@pytest.fixture
def run():
    mg.manual_seed(0)
    net = Net()
    rng = np.random.default_rng(0)
    x = mg.Tensor(rng.standard_normal((6, 4)))
    y = rng.integers(0, 3, size=6)
    logits = net(x)
    loss = F.cross_entropy(logits, mg.Tensor(y))
    return net, x, y, logits, loss


def by_hand(net, x, y, logits):
    """The whole backward pass in numpy, from the lecture's formulas."""
    a = logits.data
    p = np.exp(a - a.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    e = np.eye(3)[y]
    d_logits = (p - e) / len(y)                      # ∇a_2 = (ŷ − e(ℓ)) / N
    h1 = np.tanh(x.data @ net.fc1.weight.data.T + net.fc1.bias.data)
    d_W2 = d_logits.T @ h1                           # Δᵀ H
    d_h1 = d_logits @ net.fc2.weight.data            # rows of W_2ᵀ δ
    d_a1 = d_h1 * (1 - h1**2)                        # ⊙ tanh′
    d_W1 = d_a1.T @ x.data
    return dict(logits=d_logits, W2=d_W2, b2=d_logits.sum(0), h1=d_h1, a1=d_a1, W1=d_W1,
                b1=d_a1.sum(0))


def test_right_gradients_pass_with_every_kind_of_key(run):
    net, x, y, logits, loss = run
    g = by_hand(net, x, y, logits)
    report = check(loss, {logits: g["logits"], "h1": g["h1"], "a1": g["a1"],
                          net.fc2.weight: g["W2"], "fc2.bias": g["b2"],
                          "fc1.weight": g["W1"], net.fc1.bias: mg.Tensor(g["b1"])})
    assert report.ok, str(report)
    assert [r.name for r in report.rows] == ["logits", "h1", "a1", "weight", "fc2.bias",
                                             "fc1.weight", "bias"]
    for r in report.rows:
        assert r.approx and r.max_abs < 1e-12 and r.rel < 1e-10
    text = str(report)
    assert "∇fc1.weight" in text and "all 7 gradients match" in text
    assert report.to_dict()["ok"] is True


def test_a_wrong_gradient_fails_its_row_only(run):
    net, x, y, logits, loss = run
    g = by_hand(net, x, y, logits)
    wrong_h1 = g["h1"] * 2  # a factor 2 too many
    report = check(loss, {"logits": g["logits"], "h1": wrong_h1, "fc1.weight": g["W1"]})
    assert not report.ok
    assert [r.approx for r in report.rows] == [True, False, True]
    bad = report.rows[1]
    assert bad.max_abs == pytest.approx(np.abs(g["h1"]).max())
    assert bad.rel == pytest.approx(1.0)
    assert "1 of 3 differ: h1" in str(report)


def test_sign_error_and_mean_forgotten_fail(run):
    net, x, y, logits, loss = run
    g = by_hand(net, x, y, logits)
    report = check(loss, {"logits": -g["logits"], "fc2.weight": g["W2"] * len(y)})
    assert [r.approx for r in report.rows] == [False, False]


def test_exact_and_tolerances(run):
    net, x, y, logits, loss = run
    auto = mg.grad(loss, [logits], retain_graph=True)[0].data
    report = check(loss, {logits: auto.copy()})
    assert report.rows[0].exact and report.rows[0].max_abs == 0
    nudged = auto + 1e-13
    assert check(loss, {logits: nudged}).ok
    strict = check(loss, {logits: nudged}, rtol=0, atol=0)
    assert not strict.ok and not strict.rows[0].exact
    assert check(loss, {logits: auto + 1e-3}).ok is False


def test_no_grad_is_touched_and_backward_still_works(run):
    net, x, y, logits, loss = run
    g = by_hand(net, x, y, logits)
    before = [p.grad for p in net.parameters()]
    check(loss, {"fc1.weight": g["W1"], "h1": g["h1"]})
    assert [p.grad for p in net.parameters()] == before
    assert logits.grad is None
    loss.backward()
    np.testing.assert_allclose(net.fc1.weight.grad.data, g["W1"], atol=1e-12)


def test_names_from_the_model_agree_with_names_from_the_graph(run):
    net, x, y, logits, loss = run
    g = by_hand(net, x, y, logits)
    a = check(loss, {"fc1.weight": g["W1"]})
    b = check(loss, {"fc1.weight": g["W1"]}, model=net)
    assert a.rows[0].tensor is b.rows[0].tensor is net.fc1.weight


def test_float32_uses_a_looser_tolerance():
    mg.manual_seed(1)
    lin = nn.Linear(3, 2)
    x = mg.Tensor(np.ones((2, 3), np.float32))
    loss = lin(x).sum()
    W_grad = np.full((2, 3), 2.0) + 1e-6  # within float32's rounding of a sum
    report = check(loss, {lin.weight: W_grad})
    assert report.ok and report.rtol == 1e-4


@pytest.mark.parametrize("key, value, message", [
    ("nope", np.zeros(3), "no tensor named 'nope'"),
    ("h1", np.zeros((6, 4)), "'h1' has shape (6, 4), but the tensor has shape (6, 5)"),
    ("fc1.weight", np.zeros((3, 20)), "has shape (3, 20), but the tensor has shape (5, 4)"),
])
def test_bad_keys_and_shapes_are_named(run, key, value, message):
    net, x, y, logits, loss = run
    with pytest.raises(ValueError) as e:
        check(loss, {key: value})
    assert message in str(e.value)


def test_tensor_outside_the_graph_and_constants_are_errors(run):
    net, x, y, logits, loss = run
    other = mg.Tensor(np.zeros(2), name="stray")
    with pytest.raises(ValueError, match="stray .* not in the graph"):
        check(loss, {other: np.zeros(2)})
    with pytest.raises(ValueError, match="constant"):
        check(loss, {x: np.zeros((6, 4))})
    with pytest.raises(TypeError, match="Tensor or a name"):
        check(loss, {3: np.zeros(2)})
    with pytest.raises(TypeError, match="non-empty"):
        check(loss, {})


# --------------------------------------------------------------------------- the diagram
def test_draw_colours_checked_tensors_green_or_red(run):
    visualize = pytest.importorskip("minigrad.visualize")
    from minigrad.visualize import _style as S

    net, x, y, logits, loss = run
    g = by_hand(net, x, y, logits)
    report = check(loss, {"logits": g["logits"], "h1": 2 * g["h1"]})
    src = visualize.draw(loss, check=report).source
    fills = {}
    for line in src.splitlines():
        for name in ("logits", "h1", "a1"):
            if re.search(rf"<B>{name}(<|\s|\u00a0)", line):
                fills[name] = line
    assert f'fillcolor="{S.CHECK_PASS}"' in fills["logits"]
    assert f'fillcolor="{S.CHECK_FAIL}"' in fills["h1"]
    assert f'fillcolor="{S.UNCHECKED_FILL}"' in fills["a1"]
    assert src.count(S.CHECK_PASS) >= 2 and "1 of 2 match" in src
    assert f"max|Δ| {report.rows[0].max_abs:.1e}" in src
    assert f"max|Δ| {report.rows[1].max_abs:.1e}" in src


def test_draw_refuses_a_report_of_another_graph(run):
    visualize = pytest.importorskip("minigrad.visualize")
    net, x, y, logits, loss = run
    g = by_hand(net, x, y, logits)
    report = check(loss, {"logits": g["logits"]})
    other = F.cross_entropy(net(x), mg.Tensor(y))
    with pytest.raises(ValueError, match="'logits' is not in this graph"):
        visualize.draw(other, check=report)
    with pytest.raises(TypeError, match="reference.check"):
        visualize.draw(loss, check=object())
    with pytest.raises(ValueError, match="full drawing"):
        visualize.draw(loss, check=report, collapse="module")
