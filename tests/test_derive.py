"""minigrad.derive: gradients as formulas, read from the registry's own rules.

The lecture's network must read as the lecture's recursion (strings compared); every formula,
for every op of the registry, random programs and the example models, must evaluate to
autograd's gradient; the derivation of a deep network grows linearly; bad input is an error
that names it; nothing of the user's changes."""

from __future__ import annotations

from typing import Any

import networkx as nx
import numpy as np
import pytest
from fuzz_programs import family, objective, programs, run_minigrad
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad
import minigrad.functional as F
from minigrad import nn, opinfo
from minigrad.derive import derive, passes
from minigrad.function import apply
from minigrad.ops import REGISTRY

LECTURE_SIZES = [3, 3, 3, 2]


def lecture_net(activation: str = "sigmoid", loss: str = "ce", batch: int = 1,
                seed: int = 0) -> tuple[Any, Any]:
    """The lecture's 3-3-3-2 network in float64, as `minigrad.reference.compare` builds it:
    an nn.MLP, one example (a vector) or a batch of rows, with its loss."""
    minigrad.manual_seed(seed)
    model = nn.MLP(LECTURE_SIZES, activation=activation, dtype="float64")
    rng = np.random.default_rng(seed + 1)
    shape = (LECTURE_SIZES[0],) if batch == 1 else (batch, LECTURE_SIZES[0])
    x = minigrad.tensor(rng.normal(size=shape), dtype="float64", name="x")
    out = model(x)
    if loss == "ce":
        target = rng.integers(0, LECTURE_SIZES[-1], size=() if batch == 1 else (batch,))
        L = F.cross_entropy(out, minigrad.tensor(np.asarray(target)))
    else:
        L = F.mse_loss(out, minigrad.tensor(rng.normal(size=out.shape), dtype="float64"))
    return model, L


def autograd(loss: Any, tensors: list[Any]) -> list[np.ndarray]:
    gs = minigrad.grad(loss, tensors, retain_graph=True, allow_unused=True)
    return [np.zeros(t.shape) if g is None else g.data for t, g in zip(tensors, gs)]


def assert_same(got: np.ndarray, ref: np.ndarray, what: str = "", rtol: float = 1e-12) -> None:
    """|got − ref| ≤ rtol · max|ref| elementwise (infinities and NaNs where autograd has them)."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    assert got.shape == ref.shape, f"{what}: shape {got.shape} vs {ref.shape}"
    finite = np.isfinite(ref)
    assert np.array_equal(np.isfinite(got), finite), f"{what}: infinities differ"
    assert np.array_equal(got[~finite], ref[~finite]) or np.all(
        np.isnan(got[~finite]) == np.isnan(ref[~finite])), f"{what}: non-finite entries differ"
    if finite.any():
        scale = float(np.max(np.abs(ref[finite])))
        err = float(np.max(np.abs(got[finite] - ref[finite])))
        assert err <= rtol * scale or err == 0, f"{what}: max|Δ| = {err:.3g}, scale {scale:.3g}"


def assert_evaluates(d: Any, loss: Any) -> None:
    tensors = [f.tensor for f in d]
    for f, ref in zip(d, autograd(loss, tensors)):
        assert_same(f.evaluate(), ref, f.text)


# --------------------------------------------------------------------------- the lecture
def _recursion(g: str, L: int = 3, batch: bool = False, top: str = "ŷ − e(ℓ)") -> dict[str, str]:
    """LECTURE.md's recursion for the 3-3-3-2 network, with δ_k = ∇a_k L:
    δ_L = top, δ_k = (W_{k+1}ᵀ δ_{k+1}) ⊙ g′(a_k), ∇W_k L = δ_k · h_{k−1}ᵀ, ∇b_k L = δ_k,
    each summed over the batch (Σ_n) for a batch of rows."""
    s = "Σ_n " if batch else ""
    out = {f"δ_{L}": f"δ_{L} = {top}"}
    for k in range(L - 1, 0, -1):
        out[f"δ_{k}"] = f"δ_{k} = (W_{k + 1}ᵀ δ_{k + 1}) ⊙ {g}′(a_{k})"
    for k in range(1, L + 1):
        out[f"W_{k}"] = f"∇W_{k} L = {s}δ_{k} · h_{k - 1}ᵀ"
        out[f"b_{k}"] = f"∇b_{k} L = {s}δ_{k}"
    return out


@pytest.mark.parametrize("activation,g", [("sigmoid", "σ"), ("relu", "relu"), ("tanh", "tanh")])
def test_the_lecture_net_reads_as_the_lecture(activation: str, g: str) -> None:
    model, loss = lecture_net(activation)
    d = derive(loss, model)
    want = _recursion(g)
    assert [x.text for x in d.definitions] == [want["δ_3"], want["δ_2"], want["δ_1"]]
    params = list(model.parameters())
    for k in range(1, 4):
        W, b = params[2 * k - 2], params[2 * k - 1]
        assert d[W].text == want[f"W_{k}"]
        assert d[b].text == want[f"b_{k}"]
    assert_evaluates(d, loss)


@pytest.mark.parametrize("activation,g", [("sigmoid", "σ"), ("relu", "relu"), ("tanh", "tanh")])
def test_a_batch_sums_over_its_examples(activation: str, g: str) -> None:
    model, loss = lecture_net(activation, batch=4)
    d = derive(loss, model)
    want = _recursion(g, batch=True, top="(ŷ − e(ℓ)) / N")
    assert [x.text for x in d.definitions] == [want["δ_3"], want["δ_2"], want["δ_1"]]
    params = list(model.parameters())
    for k in range(1, 4):
        assert d[params[2 * k - 2]].text == want[f"W_{k}"]
        assert d[params[2 * k - 1]].text == want[f"b_{k}"]
    assert "N = 4: the examples the mean divides by" in d.symbols
    assert_evaluates(d, loss)


@pytest.mark.parametrize("batch", [1, 3])
def test_squared_error_gives_y_hat_minus_y_with_its_2_over_n(batch: int) -> None:
    model, loss = lecture_net("sigmoid", loss="mse", batch=batch)
    d = derive(loss, model)
    want = _recursion("σ", batch=batch > 1, top="2 (ŷ − y) / n")
    assert [x.text for x in d.definitions] == [want["δ_3"], want["δ_2"], want["δ_1"]]
    n = 2 * batch
    assert f"n = {n}: the elements the mean divides by" in d.symbols
    assert_evaluates(d, loss)


def test_latex_is_katex_ready() -> None:
    model, loss = lecture_net()
    d = derive(loss, model)
    W1 = model.layers[0].weight
    assert d[W1].latex == r"\nabla_{W_1} L = \delta_1 \, h_0^\top"
    assert d.definitions[1].latex == r"\delta_2 = (W_3^\top \delta_3) \odot \sigma'(a_2)"
    assert d.definitions[0].latex == r"\delta_3 = \hat{y} - e(\ell)"
    assert d.latex().startswith("\\begin{aligned}") and "&=" in d.latex()
    assert "$$" in d._repr_markdown_() and d._repr_latex_().startswith("$$")


def test_indexed_by_tensor_by_dotted_name_and_by_symbol() -> None:
    model, loss = lecture_net()
    d = derive(loss, model)
    W1 = model.layers[0].weight
    assert d["layers.0.weight"] is d[W1] is d["W_1"]
    assert d.keys()[:2] == ["layers.0.weight", "layers.0.bias"]
    seq = nn.Sequential(nn.Linear(3, 2, dtype="float64"), nn.Tanh(),
                        nn.Linear(2, 2, dtype="float64"))
    x = minigrad.tensor(np.ones(3), dtype="float64")
    loss2 = F.cross_entropy(seq(x), minigrad.tensor(np.array(0)))
    d2 = derive(loss2, seq)
    assert d2["0.weight"].text == "∇W_1 L = δ_1 · h_0ᵀ"
    assert d2["2.bias"].text == "∇b_2 L = δ_2"
    with pytest.raises(KeyError, match="no formula named"):
        d2["3.weight"]
    with pytest.raises(KeyError):
        d2[minigrad.tensor(1.0)]


def test_derive_a_list_of_tensors() -> None:
    model, loss = lecture_net()
    W1, b1 = model.layers[0].weight, model.layers[0].bias
    d = derive(loss, [W1, b1])
    assert d[W1].text == "∇W_1 L = δ_1 · h_0ᵀ" and d[b1].text == "∇b_1 L = δ_1"
    assert len(d) == 2


def test_the_whole_formula_written_out() -> None:
    model, loss = lecture_net()
    d = derive(loss, model)
    assert d[model.layers[0].weight].expanded == (
        "∇W_1 L = ((W_2ᵀ((W_3ᵀ(ŷ − e(ℓ))) ⊙ σ′(a_2))) ⊙ σ′(a_1)) · h_0ᵀ")


def test_op_level_names_every_delta_as_the_lecture_s_algorithm() -> None:
    model, loss = lecture_net("relu")
    d = derive(loss, model, level="op")
    assert [x.text for x in d.definitions] == [
        "δ_3 = ŷ − e(ℓ)", "∇h_2 L = W_3ᵀ δ_3", "δ_2 = ∇h_2 L ⊙ relu′(a_2)",
        "∇h_1 L = W_2ᵀ δ_2", "δ_1 = ∇h_1 L ⊙ relu′(a_1)"]
    assert [s.op for s in d.steps] == ["cross_entropy", "linear", "relu", "linear", "relu",
                                       "linear"]
    assert_evaluates(d, loss)


def test_print_shows_the_whole_derivation() -> None:
    model, loss = lecture_net()
    text = str(derive(loss, model))
    for line in ("a_1 = W_1 h_0 + b_1", "h_1 = σ(a_1)", "ŷ = softmax(a_3)",
                 "δ_2 = (W_3ᵀ δ_3) ⊙ σ′(a_2)", "∇W_3 L = δ_3 · h_2ᵀ", "steps (backward order):",
                 "Linear: ∇x = Wᵀ·δ, ∇weight = δ·hᵀ, ∇bias = Σ δ"):
        assert line in text


def test_steps_follow_backward_and_agree_with_the_formula_book() -> None:
    model, loss = lecture_net()
    d = derive(loss, model)
    assert [s.node for s in d.steps] == ["L", "a_3", "h_2", "a_2", "h_1", "a_1"]
    linear = d.steps[1]
    assert linear.op == "Linear" and linear.module == "layers.4" and linear.delta == "δ_3"
    assert dict(linear.sends) == {"h_2": "W_3ᵀ δ_3", "W_3": "δ_3 · h_2ᵀ", "b_3": "δ_3"}
    assert all(s.checked for s in d.steps)
    assert [s.book for s in d.steps[1:]] == [True] * 5


def test_a_fan_out_shows_the_sum_of_its_paths() -> None:
    minigrad.manual_seed(0)
    lin1, lin2 = nn.Linear(3, 3, dtype="float64"), nn.Linear(3, 3, dtype="float64")
    x = minigrad.tensor(np.random.default_rng(0).normal(size=(2, 3)), dtype="float64",
                        name="x")
    h = F.relu(lin1(x))
    h.name = "h"
    out = lin2(h) + h  # a residual
    out.name = "r"
    loss = F.cross_entropy(out, minigrad.tensor(np.array([0, 2])))
    d = derive(loss, [lin1.weight, lin2.weight], level="op")
    fan = [s for s in d.steps if s.sum]
    assert len(fan) == 1 and fan[0].node == "h"
    assert fan[0].sum == "∇h L = ∇r L + weightᵀ · ∇r L" or " + " in fan[0].sum
    assert_evaluates(d, loss)


# --------------------------------------------------------------------------- every op
def _cases(name: str) -> list[tuple[Any, dict[str, Any]]]:
    return opinfo.cases(name, np.random.default_rng(0), np.float64)


@pytest.mark.parametrize("name", sorted(n for n, op in REGISTRY.items() if op.builtin))
def test_every_op_s_formula_evaluates_to_autograd(name: str) -> None:
    op = REGISTRY[name]
    checked = 0
    for inputs, params in _cases(name):
        xs = [minigrad.Tensor(np.asarray(a), requires_grad=np.asarray(a).dtype.kind == "f")
              for a in inputs]
        diff = [x for x in xs if x.requires_grad]
        if not diff:
            continue
        out = apply(op, *xs, **params)
        w = minigrad.Tensor(np.random.default_rng(1).standard_normal(out.shape))
        loss = (out * w).sum() + 0.5 * (out * out).sum()
        d = derive(loss, diff, level="op")
        assert_evaluates(d, loss)
        assert all(f.text.startswith("∇") for f in d)
        checked += 1
    assert checked, f"{name}: no case with a differentiable input"


@pytest.mark.parametrize("name", ["relu", "sigmoid", "layer_norm", "batch_norm", "conv2d",
                                  "scaled_dot_product_attention", "cross_entropy"])
def test_module_level_too(name: str) -> None:
    op = REGISTRY[name]
    inputs, params = _cases(name)[0]
    xs = [minigrad.Tensor(np.asarray(a), requires_grad=np.asarray(a).dtype.kind == "f")
          for a in inputs]
    out = apply(op, *xs, **params)
    w = minigrad.Tensor(np.random.default_rng(1).standard_normal(out.shape))
    loss = (out * w).sum() + 0.5 * (out * out).sum()
    d = derive(loss, [x for x in xs if x.requires_grad])
    assert_evaluates(d, loss)


FUZZED = [op for op in REGISTRY.values() if not family(op).problem]


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(data=st.data())
def test_random_programs_evaluate_to_autograd(data: Any) -> None:
    """Random programs of the differential fuzzer (tests/fuzz_programs.py), in float64: one
    op on fresh leaves, then up to two more on its result, with zeros, tiny and huge values."""
    prog = data.draw(programs(FUZZED, dtypes=["float64"]), label="program")
    y, env = run_minigrad(prog)
    leaves = [env[lf.name] for lf in prog.leaves if lf.differentiable]
    loss = objective(y, minigrad.Tensor(prog.w))
    try:
        refs = autograd(loss, leaves)
    except ArithmeticError as e:  # a rule that fails (var of nothing): derive runs it too
        with pytest.raises(type(e)):
            derive(loss, leaves, level="op")
        return
    d = derive(loss, leaves, level="op")
    for f, ref in zip(d, refs):
        assert_same(f.evaluate(), ref, f.text)


def test_the_example_cnn_at_module_level() -> None:
    from minigrad.models.cnn import DigitsCNN

    minigrad.manual_seed(0)
    model = DigitsCNN(channels=(2, 3), dtype="float64")
    rng = np.random.default_rng(0)
    x = minigrad.tensor(rng.normal(size=(2, 1, 8, 8)), dtype="float64", name="x")
    loss = F.cross_entropy(model(x), minigrad.tensor(rng.integers(0, 10, size=2)))
    d = derive(loss, model)
    assert d["conv1.weight"].text == "∇W_1 L = δ_1 ⋆ h_0"
    assert d["fc.weight"].text == "∇W_3 L = Σ_n δ_3 · h_2ᵀ"
    assert [s.op for s in d.steps][:4] == ["cross_entropy", "Linear", "Flatten", "MaxPool2d"]
    assert_evaluates(d, loss)


def test_the_example_transformer_at_module_level() -> None:
    from minigrad.models.transformer import TinyTransformer

    minigrad.manual_seed(0)
    model = TinyTransformer(vocab_size=7, block_size=4, embed_dim=8, num_heads=2,
                            num_layers=2, dtype="float64")
    rng = np.random.default_rng(0)
    logits = model(rng.integers(0, 7, size=(2, 4)))
    loss = F.cross_entropy(logits.reshape((-1, 7)), minigrad.tensor(rng.integers(0, 7, size=8)))
    d = derive(loss, model)
    text = str(d)
    assert "∇S_1 = P_1 ⊙ (∇P_1 − rowsum(∇P_1 ⊙ P_1))" in text
    attention = [s for s in d.steps if s.op == "CausalSelfAttention"]
    assert len(attention) == 2 and all(s.book for s in attention)
    assert_evaluates(d, loss)


def test_batch_norm_reads_as_the_book_s_three_terms() -> None:
    minigrad.manual_seed(0)
    # no bias before the norm: its gradient is exactly 0 (the norm removes the mean), so
    # autograd's and the formula's are rounding noise of different signs
    model = nn.Sequential(nn.Linear(3, 4, bias=False, dtype="float64"),
                          nn.BatchNorm1d(4, dtype="float64"),
                          nn.ReLU(), nn.Linear(4, 2, dtype="float64"))
    x = minigrad.tensor(np.random.default_rng(0).normal(size=(5, 3)), dtype="float64")
    loss = F.cross_entropy(model(x), minigrad.tensor(np.array([0, 1, 1, 0, 1])))
    d = derive(loss, model)
    norm = [s for s in d.steps if s.op == "BatchNorm1d"]
    assert len(norm) == 1 and norm[0].book
    sent = dict(norm[0].sends)
    assert sent["a_1"].startswith("((γ/σ) / M) ⊙ (M ") and "x̂ ⊙" in sent["a_1"]
    assert "M = 5: the values per channel batch norm averages over" in d.symbols
    assert_evaluates(d, loss)


# --------------------------------------------------------------------------- size and speed
def _deep(layers: int) -> tuple[Any, Any]:
    minigrad.manual_seed(0)
    model = nn.MLP([4] * layers + [2], activation="tanh", dtype="float64")
    x = minigrad.tensor(np.random.default_rng(0).normal(size=(3, 4)), dtype="float64")
    return model, F.cross_entropy(model(x), minigrad.tensor(np.array([0, 1, 1])))


def test_a_deep_network_grows_linearly() -> None:
    m25, l25 = _deep(25)
    m50, l50 = _deep(50)
    d25, d50 = derive(l25, m25), derive(l50, m50)
    assert len(d50.definitions) == 50  # δ_50 … δ_1, one line each
    assert d50.definitions[-1].text == "δ_1 = (W_2ᵀ δ_2) ⊙ tanh′(a_1)"
    n25, n50 = len(d25.lines()), len(d50.lines())
    assert n50 <= 2 * n25 + 20 and n50 < 20 * 50
    assert max(len(line) for line in d50.lines()) < 200
    assert_evaluates(d50, l50)


# --------------------------------------------------------------------------- bad input
def test_bad_input_is_a_clear_error() -> None:
    model, loss = lecture_net()
    stranger = minigrad.tensor(np.ones(3), requires_grad=True, name="stranger")
    with pytest.raises(ValueError, match="'stranger' of shape \\(3,\\).*not in the graph"):
        derive(loss, [stranger])
    x = minigrad.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(ValueError, match="must be a scalar.*shape \\(3,\\)"):
        derive(x * 2.0, [x])
    with pytest.raises(TypeError, match="must be a minigrad Tensor"):
        derive(np.float64(1.0), [x])
    with pytest.raises(TypeError, match="wrt\\[0\\] is a ndarray"):
        derive(loss, [np.ones(3)])
    with pytest.raises(ValueError, match="level must be one of"):
        derive(loss, model, level="layer")
    with minigrad.no_grad():
        frozen = (x * 2.0).sum()
    with pytest.raises(RuntimeError, match="no recorded history"):
        derive(frozen, [x])


@pytest.fixture
def cubes(registered: Any) -> tuple[Any, Any, Any]:
    """Three user ops without cases, declared for one test only: the registry walks
    must not meet them."""

    class _NumpyCube(minigrad.Function):
        name = "derive_numpy_cube"

        @staticmethod
        def forward(x):
            return x ** 3

        @staticmethod
        def vjp_x(g, out, x):
            return np.asarray(g) * 3 * np.asarray(x) ** 2  # numpy: not recordable

    class _LabelledCube(minigrad.Function):
        name = "derive_labelled_cube"
        formula = "y = x³"
        grads = ("δ ⊙ 3x²",)

        @staticmethod
        def forward(x):
            return x ** 3

        @staticmethod
        def vjp_x(g, out, x):
            return np.asarray(g) * 3 * np.asarray(x) ** 2

    class _TracedCube(minigrad.Function):
        name = "derive_traced_cube"

        @staticmethod
        def forward(x):
            return x ** 3

        @staticmethod
        def vjp_x(g, out, x):
            return g * 3.0 * x * x

    return _NumpyCube, _LabelledCube, _TracedCube


def test_a_user_op_without_a_symbolic_form(cubes: tuple[Any, Any, Any]) -> None:
    _NumpyCube, _LabelledCube, _TracedCube = cubes
    x = minigrad.tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True, name="x")
    loss = _NumpyCube.apply(x).sum()
    with pytest.raises(RuntimeError, match="'derive_numpy_cube'.*no symbolic form"):
        derive(loss, [x])
    loss = _LabelledCube.apply(x).sum()
    d = derive(loss, [x])
    step = next(s for s in d.steps if s.op == "derive_labelled_cube")
    assert not step.checked and "not checked symbolically" in step.note
    assert "3x²" in d[x].text
    assert_evaluates(d, loss)
    loss = _TracedCube.apply(x).sum()
    d = derive(loss, [x])
    assert d[x].text == "∇x L = 3 (x ⊙ x)" and all(s.checked for s in d.steps)
    assert d.steps[-1].note == ("'derive_traced_cube' is a user op; its rule was traced like "
                                "any other")
    assert_evaluates(d, loss)


def test_evaluate_after_backward_says_what_to_do() -> None:
    model, loss = lecture_net()
    d = derive(loss, model)
    loss.backward()
    with pytest.raises(RuntimeError, match="derive before backward\\(\\)|retain_graph=True"):
        d["layers.0.weight"].evaluate()
    model, loss = lecture_net()
    d = derive(loss, model)
    loss.backward(retain_graph=True)
    assert_same(d["layers.0.weight"].evaluate(), model.layers[0].weight.grad.data)


def test_no_grad_of_the_user_changes() -> None:
    model, loss = lecture_net()
    params = list(model.parameters())
    params[0].grad = minigrad.tensor(np.full(params[0].shape, 7.0))
    before = [None if p.grad is None else p.grad.data.copy() for p in params]
    d = derive(loss, model)
    for f in d:
        f.evaluate()
    after = [None if p.grad is None else p.grad.data for p in params]
    assert after[1:] == [None] * (len(params) - 1)
    np.testing.assert_array_equal(after[0], before[0])


# --------------------------------------------------------------------------- the passes
@pytest.mark.parametrize("p", passes.PIPELINE, ids=lambda p: p.__name__)
def test_each_pass_is_pure_and_keeps_the_values(p: Any) -> None:
    from minigrad.derive.names import Names
    from minigrad.derive.scalars import Symbols
    from minigrad.derive.trace import trace
    from minigrad.graph import topological_order

    model, loss = lecture_net(batch=3)
    G = minigrad.graph(loss)
    order = topological_order(G)
    wanted = list(model.parameters())
    E = trace(loss, wanted, G, order, Names(G, order, loss), Symbols())
    E.graph["activations"] = {}
    for v in E.graph["visits"]:
        ctx = G.nodes[v.fid]["tensor"]._ctx
        if ctx.op.name in passes.DERIVATIVES:
            E.graph["activations"][v.fid] = (ctx.op.name, id(ctx.inputs[0]), ctx.inputs[0].data)
    for q in passes.PIPELINE[:passes.PIPELINE.index(p)]:
        E = q(E)
    nodes, edges = dict(E.nodes(data=True)), set(E.edges)
    roots = {k: dict(v) for k, v in E.graph["roots"].items()}
    H = p(E)
    assert dict(E.nodes(data=True)) == nodes and set(E.edges) == edges
    assert E.graph["roots"] == roots
    assert H.graph["log"][-1]["pass"] in (p.__name__, "drop_identities", "prune")
    assert nx.is_directed_acyclic_graph(H)
    for t in wanted:
        n = H.graph["roots"]["result"][id(t)]
        vals = _values(H, n)
        assert_same(vals, autograd(loss, [t])[0], p.__name__)


def _values(H: Any, node: int) -> np.ndarray:
    vals: dict[int, Any] = {}
    for n in nx.topological_sort(H.subgraph(nx.ancestors(H, node) | {node})):
        d = H.nodes[n]
        if d["kind"] in ("sym", "const"):
            vals[n] = d["value"]
        elif d["kind"] in ("delta", "abbrev"):
            vals[n] = vals[d["args"][0]]
        else:
            vals[n] = passes.compute(d["op"], [vals[a] for a in d["args"]], d["params"])
    return vals[node]


def test_the_passes_simplify_as_a_person_would() -> None:
    model, loss = lecture_net("sigmoid", batch=3)
    d = derive(loss, model)
    log = d.graph.graph["log"]

    def changed(name: str) -> bool:
        return any(e["changed"] for e in log if e["pass"] == name)

    assert changed("inline_constant_deltas")  # the sweep's 1
    assert changed("name_derivatives")  # σ(a) ⊙ (1 − σ(a)) → σ′(a)
    assert changed("drop_identities")  # reshapes that change nothing
    assert changed("fold_constants")  # 1 / N
    kinds = [dd["kind"] for _, dd in d.graph.nodes(data=True)]
    assert kinds.count("abbrev") == 2


# --------------------------------------------------------------------------- the command
def _command(argv: list[str], capsys: Any) -> tuple[int, str, str]:
    from minigrad.cli import main

    code = main(["derive", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_command_prints_the_lecture_s_derivation(capsys: Any) -> None:
    code, out, _ = _command([], capsys)
    assert code == 0
    assert "δ_2 = (W_3ᵀ δ_3) ⊙ σ′(a_2)" in out and "∇W_1 L = δ_1 · h_0ᵀ" in out
    code, out, _ = _command(["--latex", "--activation", "tanh"], capsys)
    assert out.startswith("\\begin{aligned}") and r"\tanh'(a_1)" in out
    code, out, _ = _command(["--sizes", "4,5,2", "--loss", "mse", "--batch", "3", "--level",
                             "op"], capsys)
    assert "δ_2 = 2 (ŷ − y) / n" in out and "∇W_1 L = Σ_n δ_1 · h_0ᵀ" in out
    code, out, _ = _command(["--model", "cnn", "--markdown"], capsys)
    assert "$$" in out and r"\nabla_{W_1} L &= \delta_1 \star h_0" in out


def test_the_command_derives_a_function_of_your_own(tmp_path: Any, capsys: Any) -> None:
    f = tmp_path / "mine.py"
    f.write_text(
        "import minigrad\n"
        "def build():\n"
        "    w = minigrad.tensor([1.0, 2.0], requires_grad=True, name='w')\n"
        "    return ((w * w).sum() * 3.0, [w])\n"
        "def nothing_to_derive():\n"
        "    return 3\n")
    code, out, _ = _command(["--from", f"{f}:build"], capsys)
    assert code == 0 and "∇w L = 6 w" in out
    code, _, err = _command(["--from", f"{f}:nothing"], capsys)
    assert code == 2 and "nothing" in err and len(err.strip().splitlines()) == 1
    code, _, err = _command(["--from", f"{f}:nothing_to_derive"], capsys)
    assert code == 2 and "nothing_to_derive() returned an int" in err
    code, _, err = _command(["--from", str(f)], capsys)
    assert code == 2 and "expected FILE.py:FUNCTION" in err


# --------------------------------------------------------------------------- the diagram
def test_a_diagram_shows_the_gradient_arriving_at_each_tensor() -> None:
    pytest.importorskip("graphviz")
    from minigrad import visualize

    model, loss = lecture_net()
    d = derive(loss, model)
    a2 = next(t for t in (dd["tensor"] for _, dd in minigrad.graph(loss).nodes(data=True))
              if d.arriving(t) is not None and d.arriving(t).name == "δ_2")
    assert d.arriving(a2).text == "δ_2 = (W_3ᵀ δ_3) ⊙ σ′(a_2)"
    source = visualize.draw(loss, model=model, derive=True).source
    for text in ("δ_2 = (W_3ᵀ δ_3) ⊙ σ′(a_2)", "∇h_1 L = W_2ᵀ δ_2", "∇W_1 L = δ_1 · h_0ᵀ",
                 "δ_3 = ŷ − e(ℓ)"):
        assert text in source
    assert "δ_2" not in visualize.draw(loss, model=model).source
    with pytest.raises(ValueError, match="derive= .*full drawing"):
        visualize.draw(loss, model=model, derive=True, collapse="module")
    assert all(p.grad is None for p in model.parameters())


def test_a_hook_is_said_not_hidden() -> None:
    x = minigrad.tensor(np.array([0.5, -1.0]), requires_grad=True, name="x")
    y = x * 3.0
    y.register_hook(lambda g: g * 2.0)
    with pytest.warns(UserWarning, match="hooks on z_1 change the gradients"):
        d = derive((y * y).sum(), [x])
    assert any("hook" in s.note for s in d.steps)


def test_sympy_is_loaded_only_when_a_derivation_needs_it() -> None:
    import subprocess
    import sys

    code = "import sys, minigrad; assert 'sympy' not in sys.modules, 'import minigrad loads sympy'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
