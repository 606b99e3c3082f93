"""The lecture's formulas (`minigrad.reference`) and their comparison with autograd."""

from __future__ import annotations

import json

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, reference
from minigrad.reference import backward, compare, forward, loss_value

ACTS = sorted(reference.ACTIVATIONS)
LOSSES = ("ce", "mse")


def data(sizes, batch, loss, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, sizes[0]))
    if loss == "ce":
        y = rng.integers(0, sizes[-1], size=batch)
    else:
        y = rng.standard_normal((batch, sizes[-1]))
    return x, y


def mlp(sizes, activation, dtype="float64", seed=0):
    mg.manual_seed(seed)
    model = nn.MLP(sizes, activation=activation, dtype=dtype)
    # non-zero biases, so that a formula that forgot b_k would show
    rng = np.random.default_rng(seed + 100)
    for m in model.layers:
        if isinstance(m, nn.Linear):
            m.bias.data[...] = 0.1 * rng.standard_normal(m.bias.shape)
    return model


def by_name(report):
    return {r.quantity: r for r in report.rows}


# --------------------------------------------------------------------------- the formulas
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("reduction", ("mean", "sum"))
@pytest.mark.parametrize("batch", (1, 3))
@pytest.mark.parametrize("act", ACTS)
def test_backward_matches_central_differences_of_its_own_loss(act, batch, reduction, loss):
    """An oracle independent of minigrad: numpy finite differences of `loss_value`."""
    sizes = [3, 4, 3, 2]
    P = reference.init_params(sizes, seed=1)
    x, y = data(sizes, batch, loss, seed=2)
    if act in ("relu", "leaky_relu"):
        # keep every a_k off the kink, where a finite difference straddles two slopes
        fwd = forward(P, x, act)
        assert min(np.abs(a).min() for a in fwd.a.values()) > 1e-4
    grads = backward(P, x, y, act, loss, reduction)
    eps = 1e-6

    def numeric(get, set_):
        base = get().copy()
        out = np.zeros_like(base)
        for idx in np.ndindex(base.shape):
            vals = []
            for s in (1, -1):
                moved = base.copy()
                moved[idx] += s * eps
                set_(moved)
                vals.append(loss_value(P, xx[0], y, act, loss, reduction))
            set_(base)
            out[idx] = (vals[0] - vals[1]) / (2 * eps)
        return out

    xx = [x]
    for k in range(1, len(sizes)):
        W, b = P[k - 1]
        num_W = numeric(lambda W=W: W, lambda v, k=k: P.__setitem__(k - 1, (v, P[k - 1][1])))
        num_b = numeric(lambda b=b: b, lambda v, k=k: P.__setitem__(k - 1, (P[k - 1][0], v)))
        np.testing.assert_allclose(grads.W[k], num_W, atol=1e-7, rtol=1e-5)
        np.testing.assert_allclose(grads.b[k], num_b, atol=1e-7, rtol=1e-5)
    num_x = numeric(lambda: xx[0], lambda v: xx.__setitem__(0, v))
    np.testing.assert_allclose(grads.h[0], num_x, atol=1e-7, rtol=1e-5)
    assert grads.loss == pytest.approx(loss_value(P, x, y, act, loss, reduction))


def test_forward_follows_the_lecture_for_one_example():
    P = reference.init_params([3, 3, 3, 2], seed=0)
    x = np.array([0.5, -1.0, 2.0])
    f = forward(P, x, "sigmoid")
    h = x
    for k, (W, b) in enumerate(P, start=1):
        a = b + W @ h
        np.testing.assert_allclose(f.a[k], a)
        if k < 3:
            h = 1 / (1 + np.exp(-a))
            np.testing.assert_allclose(f.h[k], h)
    e = np.exp(f.a[3] - f.a[3].max())
    np.testing.assert_allclose(f.y_hat, e / e.sum())
    assert f.a[1].shape == (3,) and f.h[0].shape == (3,)


def test_backward_for_one_example_is_the_lecture_worked_case():
    P = reference.init_params([3, 3, 3, 2], seed=0)
    x = np.array([0.5, -1.0, 2.0])
    g = backward(P, x, 1, "sigmoid", "ce")
    f = g.forward
    np.testing.assert_allclose(g.a[3], -(np.array([0.0, 1.0]) - f.y_hat))
    # ∂L/∂W_2ij = (∇a_2 L)_i · h_1j: every row repeats h_1, every column repeats ∇a_2
    for i in range(3):
        for j in range(3):
            assert g.W[2][i, j] == pytest.approx(g.a[2][i] * f.h[1][j], rel=1e-14)
    np.testing.assert_allclose(g.W[2], np.outer(g.a[2], f.h[1]))
    np.testing.assert_allclose(g.b[2], g.a[2])
    np.testing.assert_allclose(g.h[1], P[1][0].T @ g.a[2])
    s = 1 / (1 + np.exp(-f.a[1]))
    np.testing.assert_allclose(g.a[1], g.h[1] * s * (1 - s))
    assert np.linalg.matrix_rank(g.W[2]) == 1


def test_batch_sums_or_averages_the_per_example_gradients():
    P = reference.init_params([2, 5, 3], seed=3)
    x, y = data([2, 5, 3], 4, "ce", seed=4)
    singles = [backward(P, x[i], y[i], "tanh", "ce") for i in range(4)]
    total = backward(P, x, y, "tanh", "ce", "sum")
    mean = backward(P, x, y, "tanh", "ce", "mean")
    for k in (1, 2):
        np.testing.assert_allclose(total.W[k], sum(s.W[k] for s in singles))
        np.testing.assert_allclose(mean.W[k], total.W[k] / 4)
        np.testing.assert_allclose(total.b[k], sum(s.b[k] for s in singles))
        np.testing.assert_allclose(total.a[k], np.stack([s.a[k] for s in singles]))
    # Σ_i δ_i h_iᵀ = Δᵀ H, the form autograd's linear uses
    np.testing.assert_allclose(total.W[2], total.a[2].T @ total.forward.h[1])


def test_squared_error_uses_the_lecture_half_and_loss_scale_matches_mse_loss():
    P = reference.init_params([3, 4, 2], seed=0)
    x, y = data([3, 4, 2], 5, "mse")
    g = backward(P, x, y, "relu", "mse", "sum")
    np.testing.assert_allclose(g.a[2], g.forward.y_hat - y)  # ∇a_L = ŷ − y, no factor 2
    assert g.loss == pytest.approx(0.5 * np.sum((g.forward.y_hat - y) ** 2))
    pred = g.forward.y_hat
    for reduction, n in (("mean", 5 * 2), ("sum", 1)):
        c = reference.loss_scale("mse", reduction, 2)
        ours = loss_value(P, x, y, "relu", "mse", reduction)
        theirs = mg.ops.mse_loss(mg.Tensor(pred), mg.Tensor(y), reduction=reduction).item()
        assert theirs == pytest.approx(c * ours)
        assert theirs == pytest.approx(np.sum((pred - y) ** 2) / n)
    assert reference.loss_scale("mse", "mean", 2) == 1.0
    assert reference.loss_scale("mse", "mean", 4) == 0.5
    assert reference.loss_scale("mse", "sum", 4) == 2.0
    assert reference.loss_scale("ce", "mean", 4) == 1.0


def test_softmax_and_cross_entropy_are_stable_for_huge_logits():
    P = [(np.array([[1000.0], [-1000.0]]), np.zeros(2))]
    g = backward(P, np.array([1.0]), 1, "sigmoid", "ce")
    assert np.isfinite(g.loss) and g.loss == pytest.approx(2000.0)
    np.testing.assert_allclose(g.a[1], [1.0, -1.0])


def test_relu_derivative_at_zero_is_zero():
    assert reference.relu_prime(np.array([0.0]))[0] == 0.0
    assert reference.leaky_relu_prime(np.array([0.0]), 0.2)[0] == 0.2


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda P, x: forward(P, x, "swish"), "unknown g 'swish'"),
        (lambda P, x: forward(P, x, ["relu"]), "give one activation or 2"),
        (lambda P, x: forward(P, np.ones(4), "relu"), r"expected one example of shape \(3,\)"),
        (lambda P, x: backward(P, x, 5, "relu", "ce"), r"class indices must lie in \[0, 2\)"),
        (lambda P, x: backward(P, x, 1, "relu", "hinge"), "loss: must be one of"),
        (lambda P, x: backward(P, x, 1, "relu", "ce", "max"), "reduction: must be one of"),
        (lambda P, x: forward([P[0], P[0]], x), "W_2 has 3 columns but layer 1 has 4"),
    ],
)
def test_bad_arguments_name_the_problem(call, match):
    P = reference.init_params([3, 4, 4, 2], seed=0)
    with pytest.raises(ValueError, match=match):
        call(P, np.ones(3))


# --------------------------------------------------------------------------- compare
@pytest.mark.parametrize("dtype", ("float64", "float32"))
@pytest.mark.parametrize("batch", (1, 8))
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("act", ACTS)
def test_compare_matches_for_every_activation_loss_batch_and_dtype(act, loss, batch, dtype):
    sizes = [3, 4, 5, 2]
    model = mlp(sizes, act, dtype)
    x, y = data(sizes, batch, loss, seed=1)
    report = compare(model, x, y, loss=loss)
    assert report.ok, str(report)
    assert report.tol == (1e-10 if dtype == "float64" else 1e-5)
    rows = by_name(report)
    expected = {"∇a_3", "∇W_3", "∇b_3", "∇a_2", "∇W_2", "∇b_2", "∇a_1", "∇W_1", "∇b_1", "∇h_0"}
    if act != "linear":  # nn.Identity returns a_k itself, so h_k is a_k
        expected |= {"∇h_2", "∇h_1", "h_1", "h_2"}
    assert expected | {"a_1", "a_2", "a_3", "L"} == set(rows)
    for q in ("∇W_1", "∇W_2", "∇W_3"):
        assert (rows[q].rank is not None) == (batch == 1)
        if batch == 1:
            assert rows[q].rank <= 1


@pytest.mark.parametrize("reduction", ("mean", "sum"))
def test_compare_with_sum_reduction_and_single_vector_example(reduction):
    model = mlp([3, 3, 3, 2], "sigmoid")
    report = compare(model, np.array([0.3, -0.2, 1.0]), np.array([1]), reduction=reduction)
    assert report.ok and report.batch == 1
    report = compare(model, *data([3, 3, 3, 2], 5, "mse"), loss="mse", reduction=reduction)
    assert report.ok and report.scale == (2 / 2 if reduction == "mean" else 2)


def test_single_example_gradients_are_rank_one_outer_products():
    model = mlp([4, 6, 5, 3], "tanh")
    report = compare(model, *data([4, 6, 5, 3], 1, "ce"))
    for k in (1, 2, 3):
        row = by_name(report)[f"∇W_{k}"]
        assert row.rank == 1 and row.passed
    W2 = model.layers[2].weight.grad
    assert W2 is None  # compare leaves the model's .grad as it found them
    assert reference._rank(np.outer([1.0, 2.0], [3.0, 4.0, 5.0]), 1e-10) == 1
    assert reference._rank(np.eye(3), 1e-10) == 3
    assert reference._rank(np.zeros((2, 2)), 1e-10) == 0


def test_compare_keeps_the_users_gradients():
    model = mlp([3, 4, 2], "relu")
    W = model.layers[0].weight
    W.grad = mg.Tensor(np.full(W.shape, 7.0))
    compare(model, *data([3, 4, 2], 2, "ce"))
    np.testing.assert_array_equal(W.grad.data, 7.0)


def test_sequential_with_mixed_activations_leaky_slope_no_bias_and_two_linears():
    mg.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(3, 4, dtype="float64"), nn.LeakyReLU(0.2),
        nn.Linear(4, 4, bias=False, dtype="float64"), nn.Tanh(),
        nn.Linear(4, 5, dtype="float64"),
        nn.Linear(5, 2, dtype="float64"),
    )
    x = np.random.default_rng(0).standard_normal((6, 3))
    report = compare(model, x, np.array([0, 1, 1, 0, 1, 0]))
    assert report.ok, str(report)
    assert report.activations == ["leaky_relu(negative_slope=0.2)", "tanh", "linear"]
    assert "∇b_2" not in by_name(report)
    assert by_name(report)["∇W_4"].formula == "∇a_4·a_3ᵀ"


def test_report_table_and_dict():
    model = mlp([3, 3, 3, 2], "sigmoid")
    report = compare(model, *data([3, 3, 3, 2], 1, "ce"))
    text = str(report)
    assert "∇W_2  = ∇a_2·h_1ᵀ" in text and "✓" in text and "✗" not in text
    assert "all 18 rows match" in text
    lines = [ln for ln in text.splitlines() if ln.startswith("  ∇")]
    assert len({ln.index("  (") for ln in lines}) == 1  # the shape column is aligned
    d = report.to_dict()
    json.dumps(d, ensure_ascii=False)
    assert d["ok"] is True and len(d["rows"]) == 18
    assert set(d["rows"][0]) >= {"layer", "quantity", "shape", "max_abs", "max_rel", "passed"}
    assert report.output is not None and report.output.shape == ()


# --------------------------------------------------------------------------- must fail
def test_a_wrong_activation_derivative_is_flagged_where_it_enters(monkeypatch):
    model = mlp([3, 3, 3, 2], "sigmoid")
    x, y = data([3, 3, 3, 2], 1, "ce")

    def wrong(a):
        s = reference.sigmoid(a)
        return s * (1 - s) + 0.1  # the derivative of a different g

    monkeypatch.setitem(reference.DERIVATIVES, "sigmoid", wrong)
    report = compare(model, x, y)
    assert not report.ok
    rows = by_name(report)
    # above layer 2 the sweep has not met g′ yet: those rows still match
    for q in ("a_1", "h_1", "a_2", "h_2", "a_3", "L", "∇a_3", "∇W_3", "∇b_3", "∇h_2"):
        assert rows[q].passed, q
    # ∇a_2 = ∇h_2 ⊙ g′(a_2) is where it goes wrong, in both checks
    assert not rows["∇a_2"].passed and rows["∇a_2"].step_rel > 1e-3
    # everything computed from it differs from autograd too ...
    for q in ("∇W_2", "∇b_2", "∇h_1", "∇a_1", "∇W_1", "∇b_1", "∇h_0"):
        assert not rows[q].passed and rows[q].max_rel > 1e-3, q
    # ... but as single steps on autograd's inputs only the g′ steps are wrong
    steps_wrong = {q for q, r in rows.items() if r.step_rel is not None and r.step_rel > 1e-8}
    assert steps_wrong == {"∇a_2", "∇a_1"}
    assert "✗ FAIL" in str(report) and "rows differ" in str(report)


def test_a_model_with_an_extra_op_is_flagged():
    class SloppySigmoid(nn.Sigmoid):
        """A sigmoid that also scales by 1.01: an op the lecture's g does not have."""

        def forward(self, a):
            return super().forward(a) * 1.01

    mg.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(3, 3, dtype="float64"), nn.Sigmoid(),
        nn.Linear(3, 3, dtype="float64"), SloppySigmoid(),
        nn.Linear(3, 2, dtype="float64"),
    )
    report = compare(model, *data([3, 3, 3, 2], 4, "ce"))
    assert not report.ok
    rows = by_name(report)
    assert rows["a_1"].passed and rows["h_1"].passed and rows["a_2"].passed
    assert not rows["h_2"].passed  # the forward leaves the formulas at h_2 = σ(a_2)
    steps_wrong = {q for q, r in rows.items() if r.step_rel is not None and r.step_rel > 1e-8}
    assert steps_wrong == {"∇a_2"}  # and the backward at ∇a_2 = ∇h_2 ⊙ σ′(a_2)


def test_a_wrong_bias_gradient_in_the_engine_is_flagged():
    """What compare is for: an engine whose VJP breaks the lecture's ∇b_k = Σ_i δ_i."""
    from minigrad.ops import linalg

    op = linalg.LINEAR
    original = op.vjps
    wrong = (*original[:2], lambda g, out, h, W, b=None: 2 * g)
    object.__setattr__(op, "vjps", wrong)  # Op is a frozen dataclass
    try:
        report = compare(mlp([3, 4, 2], "relu"), *data([3, 4, 2], 3, "ce"))
    finally:
        object.__setattr__(op, "vjps", original)
    rows = by_name(report)
    assert not report.ok
    assert {q for q, r in rows.items() if not r.passed} == {"∇b_1", "∇b_2"}


# --------------------------------------------------------------------------- unmappable
class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(4, 4, dtype="float64")

    def forward(self, x):
        return x + self.inner(x)


class SkipMLP(nn.MLP):
    def forward(self, x):
        return self.layers(x) + 0.0 * x.sum()


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.Linear(4, 2)),
         r"layer '1' \(Dropout\) is neither a Linear nor a known activation"),
        (lambda: nn.Sequential(nn.Linear(3, 4), Residual(), nn.Linear(4, 2)),
         r"layer '1' \(Residual\) is neither a Linear"),
        (lambda: nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(5, 2)),
         r"layer '2' \(Linear\) takes 5 inputs \(in_features\) but the layer before it gives 4"),
        (lambda: nn.MLP([3, 4, 2], "relu", output="softmax"),
         r"last layer 'layers.3' \(Softmax\) turns the logits into probabilities"),
        (lambda: nn.Sequential(nn.Linear(3, 4), nn.ReLU()),
         r"last layer '1' \(ReLU\) is an activation"),
        (lambda: nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Tanh(), nn.Linear(4, 2)),
         r"layer '2' \(Tanh\) follows the activation '1'"),
        (lambda: nn.Sequential(nn.ReLU(), nn.Linear(3, 2)),
         r"layer '0' \(ReLU\) comes before the first Linear"),
        (lambda: SkipMLP([3, 4, 2]), r"'<model>' \(SkipMLP\) overrides forward\(\)"),
        (lambda: Residual(), "the model is a Residual; compare maps an nn.MLP"),
        (lambda: nn.Sequential(nn.Sequential(nn.Linear(3, 4), nn.ReLU()),
                               nn.Sequential(nn.Linear(4, 2), nn.Dropout())),
         r"layer '1.1' \(Dropout\)"),
    ],
)
def test_a_model_the_lecture_cannot_map_is_a_clear_error(make, match):
    """The lecture's mapping says why a model is not its network (compare then compares it
    layer by layer instead: tests/test_reference_compare.py)."""
    with pytest.raises(ValueError, match=match):
        reference._mapping(make())


def test_nested_sequentials_map_with_dotted_names():
    mg.manual_seed(0)
    model = nn.Sequential(nn.Sequential(nn.Linear(3, 4, dtype="float64"), nn.ReLU()),
                          nn.Sequential(nn.Linear(4, 2, dtype="float64")))
    assert reference._mapping(model) == {
        "0.0": "a_1 = b_1 + W_1 h_0", "0.1": "h_1 = relu(a_1)", "1.0": "a_2 = b_2 + W_2 h_1",
    }
    assert compare(model, *data([3, 4, 2], 3, "ce")).ok


def test_x_that_does_not_fit_the_first_layer_is_a_clear_error():
    with pytest.raises(ValueError, match=r"x must be a batch of rows \(N, 3\) for layer"):
        compare(mlp([3, 4, 2], "relu"), np.ones((2, 5)), np.array([0, 1]))


def test_keep_grads_leaves_this_runs_gradients_in_the_parameters():
    model = mlp([3, 4, 2], "tanh")
    x, y = data([3, 4, 2], 2, "ce")
    report = compare(model, x, y, keep_grads=True)
    W1 = model.layers[0].weight.grad
    assert W1 is not None
    np.testing.assert_allclose(W1.data, backward(
        [(m.weight.data, m.bias.data) for m in (model.layers[0], model.layers[2])],
        x, y, "tanh").W[1])
    assert report.output.name == "L" and report.output.grad.item() == 1.0
