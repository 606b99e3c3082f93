"""`compare` on models that are not the lecture's MLP: layer by layer, each layer's formulas
beside autograd, and injected mistakes that fail exactly the rows they feed."""

from __future__ import annotations

import json

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.reference import compare, dense, layers, losses
from minigrad.reference.layerwise import LayerReport


class Swish(nn.Module):
    """A custom layer: no formula."""

    def forward(self, x):
        return x * x.sigmoid()


class Res(nn.Module):
    def __init__(self, custom=True):
        super().__init__()
        self.fc1 = nn.Linear(4, 5, dtype="float64")
        self.act = nn.Tanh()
        self.inner = nn.Linear(5, 5, dtype="float64")
        self.sw = Swish() if custom else nn.Sigmoid()
        self.drop = nn.Dropout(0.3)
        self.out = nn.Linear(5, 3, dtype="float64")

    def forward(self, x):
        h = self.act(self.fc1(x))
        h = h + self.sw(self.inner(h))  # a skip connection: glue between the layers
        return self.out(self.drop(h))


def run(custom=True, seed=0, **kw):
    mg.manual_seed(seed)
    model = Res(custom)
    rng = np.random.default_rng(seed)
    for p in model.parameters():  # non-zero biases, so a formula that forgot b would show
        p.data[...] = rng.standard_normal(p.shape)
    x, y = rng.standard_normal((6, 4)), rng.integers(0, 3, size=6)
    mg.manual_seed(seed)  # the same dropout mask in every run
    return model, compare(model, x, y, **kw)


def failing(report, column="any"):
    out = set()
    for r in report.rows:
        if r.status == "no formula":
            continue
        if column == "step" and r.step_passed is False:
            out.add((r.module, r.quantity))
        elif column == "any" and not r.passed:
            out.add((r.module, r.quantity))
    return out


def test_a_model_with_a_skip_connection_and_a_custom_layer_compares():
    model, report = run()
    assert isinstance(report, LayerReport)
    assert report.ok, str(report)
    mods = [(r.module, r.quantity) for r in report.rows if r.kind == "forward"]
    assert mods == [("fc1", "out"), ("act", "out"), ("inner", "out"), ("sw", "out"),
                    ("drop", "out"), ("out", "out"), ("(loss)", "L")]
    back = [(r.module, r.quantity) for r in report.rows if r.kind == "backward"]
    assert back == [("(loss)", "∇logits"), ("out", "∇x"), ("out", "∇weight"),
                    ("out", "∇bias"), ("drop", "∇x"), ("sw", "∇x"), ("inner", "∇x"),
                    ("inner", "∇weight"), ("inner", "∇bias"), ("act", "∇x"), ("fc1", "∇x"),
                    ("fc1", "∇weight"), ("fc1", "∇bias")]
    assert {(r.module, r.quantity) for r in report.no_formula} == {("sw", "out"), ("sw", "∇x")}
    for r in report.rows:
        if r.status == "match":
            assert r.max_abs < 1e-13
    text = str(report)
    assert "no formula for sw" in text and "all 18 rows match" in text
    d = json.loads(json.dumps(report.to_dict()))
    assert d["ok"] is True and len(d["rows"]) == len(report.rows)


def test_no_grad_is_touched_unless_asked():
    mg.manual_seed(0)
    model = Res()
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 4)), rng.integers(0, 3, size=6)
    assert compare(model, x, y).ok
    assert all(p.grad is None for p in model.parameters())
    report = compare(model, x, y, keep_grads=True)
    row = next(r for r in report.rows if (r.module, r.quantity) == ("fc1", "∇weight"))
    assert row.passed and model.fc1.weight.grad is not None


def test_the_formula_agrees_with_autograd_when_the_custom_layer_is_a_known_one():
    _, report = run(custom=False)
    assert report.ok and not report.no_formula


# --------------------------------------------------------------------------- mistakes
def test_missing_transpose_fails_every_weight_row_and_nothing_else(monkeypatch):
    right = dense.linear_backward

    def wrong(delta, x, W, bias=True):
        dx, dW, db = right(delta, x, W, bias)
        return dx, x.reshape(-1, x.shape[-1]).T @ delta.reshape(-1, delta.shape[-1]), db

    monkeypatch.setattr(dense, "linear_backward", wrong)
    _, report = run()
    assert failing(report) == {("out", "∇weight"), ("inner", "∇weight"), ("fc1", "∇weight")}
    inner = next(r for r in report.rows if (r.module, r.quantity) == ("inner", "∇weight"))
    assert inner.shape == (5, 5) and np.isfinite(inner.max_abs)  # square: wrong values
    outer = next(r for r in report.rows if (r.module, r.quantity) == ("out", "∇weight"))
    assert outer.max_abs == np.inf  # (5, 3) instead of (3, 5)


def test_missing_one_over_n_fails_the_loss_step_and_the_chain_below(monkeypatch):
    right = losses.cross_entropy_backward
    monkeypatch.setattr(losses, "cross_entropy_backward",
                        lambda a, t, reduction="mean": right(a, t, "sum"))
    _, report = run()
    backward = {(r.module, r.quantity) for r in report.rows
                if r.kind == "backward" and r.status != "no formula"}
    assert failing(report) == backward
    assert failing(report, "step") == {("(loss)", "∇logits")}


def test_a_sign_error_fails_its_layer_and_every_row_below(monkeypatch):
    monkeypatch.setitem(dense.DERIVATIVES, "tanh", lambda a: -(1 - np.tanh(a) ** 2))
    _, report = run()
    assert failing(report, "step") == {("act", "∇x")}
    assert failing(report) == {("act", "∇x"), ("fc1", "∇x"), ("fc1", "∇weight"),
                               ("fc1", "∇bias")}


def test_a_wrong_forward_fails_its_forward_row(monkeypatch):
    f = layers.LAYER_FORMULAS["Linear"]
    wrong = layers.LayerFormula(lambda m, xs, y: (f.forward(m, xs, y)[0] - m.bias.data, None),
                                f.backward, f.labels)
    monkeypatch.setitem(layers.LAYER_FORMULAS, "Linear", wrong)
    _, report = run()
    assert failing(report) == {("fc1", "out"), ("inner", "out"), ("out", "out")}


def test_a_layer_without_formula_passes_autograds_gradient_on():
    """With Swish unknown, rows below it still match: the chain goes on through it with
    autograd's own gradient."""
    _, report = run()
    below = [r for r in report.rows if r.module in ("inner", "act", "fc1")]
    assert below and all(r.passed for r in below)


def test_a_subclass_overriding_forward_has_no_formula():
    class Doubled(nn.Linear):
        def forward(self, x):
            return super().forward(x) * 2

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 4, dtype="float64")
            self.b = Doubled(4, 2, dtype="float64")

        def forward(self, x):
            return self.b(self.a(x).relu())

    mg.manual_seed(0)
    report = compare(Net(), np.ones((2, 3)), np.array([0, 1]))
    assert {r.module for r in report.no_formula} == {"b"}
    assert "overrides Linear.forward" in report.no_formula[0].formula
    assert report.ok


def test_targets_that_do_not_fit_are_errors():
    mg.manual_seed(0)
    model = Res()
    with pytest.raises(ValueError, match="one integer class per row"):
        compare(model, np.ones((6, 4)), np.zeros(5, dtype=int))
    with pytest.raises(ValueError, match="targets of the output's shape"):
        compare(model, np.ones((6, 4)), np.zeros((6, 2)), loss="mse")


# --------------------------------------------------------------------------- the new layers
def small_cnn(seed=0):
    mg.manual_seed(seed)
    f64 = {"dtype": "float64"}
    return nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1, **f64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(3, 4, 3, **f64), nn.BatchNorm2d(4, **f64), nn.ReLU(),
        nn.AvgPool2d(2, stride=1), nn.Flatten(), nn.Linear(4, 5, **f64),
        nn.BatchNorm1d(5, **f64), nn.Tanh(), nn.Dropout(0.2), nn.Linear(5, 3, **f64))


def cnn_run(model=None, train=True):
    model = model or small_cnn()
    model.train(train)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((4, 1, 8, 8)), rng.integers(0, 3, size=4)
    mg.manual_seed(5)
    return compare(model, x, y)


def tiny_transformer():
    from minigrad.models.transformer import TinyTransformer

    mg.manual_seed(0)
    return TinyTransformer(vocab_size=7, block_size=5, embed_dim=8, num_heads=2, num_layers=2,
                           dtype="float64")


def transformer_run(model=None):
    rng = np.random.default_rng(2)
    x, y = rng.integers(0, 7, size=(3, 5)), rng.integers(0, 7, size=(3, 5))
    return compare(model or tiny_transformer(), x, y)


@pytest.mark.parametrize("train", (True, False), ids=("train", "eval"))
def test_a_cnn_with_batch_norm_matches_every_row(train):
    report = cnn_run(train=train)
    assert report.ok, str(report)
    layers_seen = {r.layer for r in report.rows}
    assert {"Conv2d", "MaxPool2d", "AvgPool2d", "BatchNorm2d", "BatchNorm1d",
            "Flatten"} <= layers_seen
    assert ("Dropout" in layers_seen) == train  # in evaluation dropout is no op at all
    assert not report.no_formula


def test_the_transformer_matches_every_row():
    report = transformer_run()
    assert report.ok, str(report)
    assert {"Embedding", "LayerNorm", "CausalSelfAttention", "GELU", "Linear"} <= {
        r.layer for r in report.rows}
    assert not report.no_formula
    attn = [r for r in report.rows if r.module == "blocks.0.attn"]
    assert {r.quantity for r in attn} == {"out", "∇x", "∇in_proj_weight", "∇in_proj_bias",
                                          "∇out_proj.weight", "∇out_proj.bias"}
    # the embeddings come first in the forward and last in the backward
    assert report.rows[0].layer == "Embedding" and report.rows[-1].layer == "Embedding"


def rows_at_or_below(report, module):
    """The backward rows of `module` and of every layer that ran before it."""
    order = [r.module for r in report.rows if r.kind == "forward"]
    earlier = set(order[:order.index(module) + 1])
    return {(r.module, r.quantity) for r in report.rows
            if r.kind == "backward" and r.module in earlier and r.status != "no formula"}


def test_unbiased_variance_in_batch_norm_fails_its_rows(monkeypatch):
    from minigrad.reference import normalization

    def unbiased(x, gamma, beta, eps=1e-5, training=True, running_mean=None,
                 running_var=None):
        axes = (0,) + tuple(range(2, x.ndim))
        cs = (1, -1) + (1,) * (x.ndim - 2)
        mu = x.mean(axis=axes, keepdims=True)
        var = x.var(axis=axes, ddof=1, keepdims=True)  # the mistake: 1/(M−1), not 1/M
        sigma = np.sqrt(var + eps)
        x_hat = (x - mu) / sigma
        return (x_hat * gamma.reshape(cs) + beta.reshape(cs),
                normalization.NormCache(x_hat, sigma, axes))

    monkeypatch.setattr(normalization, "batch_norm_forward", unbiased)
    report = cnn_run()
    failed = failing(report)
    forward_failed = {q for q in failed if q[1] == "out"}
    assert forward_failed == {("4", "out"), ("9", "out")}
    # both batch norms' ∇x and ∇γ use x̂; ∇β = Σδ does not
    steps = failing(report, "step")
    assert steps == {("4", "∇x"), ("4", "∇weight"), ("9", "∇x"), ("9", "∇weight")}
    # below them everything fails through the chain, but for the biases just before a batch
    # norm, whose gradient is 0 however wrong the δ (the mean removes them)
    assert failed - forward_failed == rows_at_or_below(report, "9") - {
        ("9", "∇bias"), ("8", "∇bias"), ("3", "∇bias")}


def test_a_mask_left_out_fails_attention_and_every_row_below(monkeypatch):
    from minigrad.reference import attention

    right = attention.attention_forward
    monkeypatch.setattr(attention, "attention_forward",
                        lambda q, k, v, attn_mask=None, is_causal=False, scale=None:
                        right(q, k, v, attn_mask, False, scale))
    report = transformer_run()
    failed = failing(report)
    assert {q for q in failed if q[1] == "out"} == {("blocks.0.attn", "out"),
                                                    ("blocks.1.attn", "out")}
    assert failing(report, "step") == {(f"blocks.{i}.attn", q) for i in (0, 1)
                                       for q in ("∇x", "∇in_proj_weight", "∇in_proj_bias",
                                                 "∇out_proj.weight")}
    # the top attention's ∇W_out and ∇b_out use its (wrong) output o but get the right δ:
    # they fail; everything below the top attention fails through the chain
    below = rows_at_or_below(report, "blocks.1.attn")
    assert {q for q in failed if q[1] != "out"} == below - {("blocks.1.attn", "∇out_proj.bias")}


def test_compare_leaves_batch_norms_running_statistics_as_they_were():
    model = small_cnn()
    bn = model[4]
    before = [b.data.copy() for b in model.buffers()]
    assert before
    report = cnn_run(model)
    assert report.ok
    for b, saved in zip(model.buffers(), before):
        np.testing.assert_array_equal(b.data, saved)
    assert bn.training


def test_a_formula_that_raises_fails_its_rows_and_the_chain_below(monkeypatch):
    def broken(delta, x, W, bias=True):
        raise ValueError("shapes (4, 5) and (3, 5) not aligned")

    monkeypatch.setattr(dense, "linear_backward", broken)
    _, report = run()
    assert not report.ok
    top = [r for r in report.rows if r.module == "out" and r.kind == "backward"]
    assert top and all(r.status == "differs" for r in top)
    assert all(r.status == "match" for r in report.rows if r.kind == "forward"
               and r.status != "no formula")
