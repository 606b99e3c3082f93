"""visualize.draw and visualize.render: DOT content, real Graphviz output, escaping, files."""

from __future__ import annotations

import os
import re
import shutil
import stat
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad
import minigrad.functional as F
from minigrad import nn, visualize
from minigrad.function import apply
from minigrad.modes import scope
from minigrad.ops.registry import REGISTRY
from minigrad.visualize import _style as S
from minigrad.visualize._text import clean
from minigrad.visualize.diagram import build_scene, op_id, tensor_id

SVG = "{http://www.w3.org/2000/svg}"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` not on PATH")


# --------------------------------------------------------------------------- helpers
def mlp_loss(sizes=(2, 16, 16, 3), activation="tanh", n=5, seed=0, backward=True):
    minigrad.manual_seed(seed)
    model = nn.MLP(list(sizes), activation=activation)
    rng = np.random.default_rng(seed)
    x = minigrad.tensor(rng.normal(size=(n, sizes[0])).astype(np.float32))
    y = minigrad.tensor(rng.integers(0, sizes[-1], size=n))
    loss = F.cross_entropy(model(x), y)
    if backward:
        loss.backward()
    return model, loss


def node_statements(source: str) -> dict[str, str]:
    """DOT node id -> its whole statement, for the ids draw() makes (t…, o…, u…)."""
    out = {}
    for m in re.finditer(r"^\s*([tou]\d+) \[(.*?)\]$", source, flags=re.M | re.S):
        out[m.group(1)] = m.group(2)
    return out


def edge_statements(source: str) -> list[tuple[str, str, str]]:
    return [(m.group(1), m.group(2), m.group(3) or "")
            for m in re.finditer(r"^\s*([tou]\d+) -> ([tou]\d+)(?: \[(.*?)\])?$", source,
                                 flags=re.M | re.S)]


def cluster_members(source: str) -> dict[str, set[str]]:
    """Cluster label text -> the node ids declared inside it (directly or nested)."""
    members: dict[str, set[str]] = {}
    stack: list[str] = []
    for line in source.splitlines():
        m = re.match(r"\s*subgraph (cluster_\d+) \{", line)
        if m:
            stack.append(m.group(1))
            members[m.group(1)] = set()
            continue
        if line.strip() == "}" and stack:
            stack.pop()
            continue
        m = re.match(r"\s*([tou]\d+) \[", line)
        if m:
            for c in stack:
                members[c].add(m.group(1))
    labels = {}
    for cid in members:
        m = re.search(rf"subgraph {cid} \{{\n[^\n]*label=<(.*)> labeljust=", source)
        labels[cid] = re.sub(r"<[^>]+>", "", m.group(1)).replace("\u00a0", " ") if m else cid
    return {labels[c]: v for c, v in members.items()}


def fragments(source: str) -> set[str]:
    """The text pieces between the HTML tags of all labels."""
    return {f.strip() for f in re.split(r"<[^>]*>", source) if f.strip()}


def plain(source: str) -> str:
    """The label text of a DOT source with line breaks as spaces and tags removed."""
    return re.sub(r" +", " ", re.sub(r"<[^>]*>", "", re.sub(r"<BR[^>]*>", " ", source)))


def svg_of(source: str) -> tuple[ET.Element, list[str]]:
    proc = subprocess.run(["dot", "-Tsvg"], input=source.encode(), capture_output=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    root = ET.fromstring(proc.stdout)
    texts = ["".join(t.itertext()).replace("\u00a0", " ") for t in root.iter(f"{SVG}text")]
    return root, texts


def svg_nodes(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == "node"]


def ids_by_name(loss, model=None) -> dict[str, str]:
    scene = build_scene(loss, model)
    return {nd.name: tensor_id(nd) for nd in scene.nodes.values()}


# --------------------------------------------------------------------------- structure
def test_one_node_per_tensor_and_one_op_node_per_op():
    model, loss = mlp_loss()
    G = minigrad.graph(loss)
    src = visualize.draw(loss, model=model).source
    nodes = node_statements(src)
    tensors = [k for k in nodes if k.startswith("t")]
    ops = [k for k in nodes if k.startswith("o")]
    assert len(tensors) == G.number_of_nodes()
    assert len(ops) == sum(1 for _, d in G.nodes(data=True) if not d["is_leaf"])
    # every forward edge of the graph goes input -> op node -> result
    scene = build_scene(loss, model)
    edges = {(a, b) for a, b, attrs in edge_statements(src) if "dir=back" not in attrs}
    for u, v in G.edges:
        assert (tensor_id(scene.nodes[u]), op_id(scene.nodes[v])) in edges
        assert (op_id(scene.nodes[v]), tensor_id(scene.nodes[v])) in edges


def test_lecture_names_for_the_lecture_net():
    model, loss = visualize.lecture_net((3, 3, 3, 2), "sigmoid", "ce", seed=0)
    src = visualize.draw(loss, model=model).source
    found = fragments(src)
    for name in ["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.4.bias",
                 "a₁", "h₁", "a₂", "h₂", "a₃", "x", "ℓ", "L"]:
        assert name in found, name
    for symbol in ["W₁", "b₁", "W₂", "W₃", "b₃"]:
        assert f"· {symbol}" in found, symbol
    assert "layers.0</B>\u00a0· Linear(3→3)" in src
    assert "layers.4</B>\u00a0· Linear(3→2)" in src
    assert "layers.1</B>\u00a0· Sigmoid" in src


def test_lecture_names_without_a_model():
    """Hand-written layers: W h + b by matmul and add, then F.linear; no names given."""
    rng = np.random.default_rng(0)
    x = minigrad.tensor(rng.normal(size=(3,)))
    W1 = minigrad.tensor(rng.normal(size=(4, 3)), requires_grad=True)
    b1 = minigrad.tensor(rng.normal(size=(4,)), requires_grad=True)
    W2 = minigrad.tensor(rng.normal(size=(2, 4)), requires_grad=True)
    b2 = minigrad.tensor(rng.normal(size=(2,)), requires_grad=True)
    h1 = minigrad.tanh(W1 @ x + b1)
    out = F.linear(h1, W2, b2)
    loss = F.cross_entropy(out, minigrad.tensor(np.asarray(1)))
    names = ids_by_name(loss)
    for name in ["x", "W₁", "b₁", "W₁h₀", "a₁", "h₁", "W₂", "b₂", "a₂", "L", "ℓ"]:
        assert name in names, (name, sorted(names))


# --------------------------------------------------------------------------- op roles
def hand_written_mlp(activation):
    """Linear → `activation` → Linear → cross-entropy, without a model."""
    rng = np.random.default_rng(0)
    x = minigrad.tensor(rng.normal(size=(2, 3)))
    W1 = minigrad.tensor(rng.normal(size=(4, 3)), requires_grad=True)
    b1 = minigrad.tensor(rng.normal(size=(4,)), requires_grad=True)
    W2 = minigrad.tensor(rng.normal(size=(2, 4)), requires_grad=True)
    h1 = activation(F.linear(x, W1, b1))
    return F.cross_entropy(F.linear(h1, W2), minigrad.tensor(np.array([0, 1])))


def _softsign(a):
    return a / (1 + np.abs(a))


def _softsign_vjp(g, out, a):
    return g / (1 + abs(a)) ** 2


def test_the_registry_declares_the_roles_the_diagrams_read():
    roles = {name: op.role for name, op in REGISTRY.items() if op.role is not None}
    assert {n for n, r in roles.items() if r == "activation"} == {
        "relu", "leaky_relu", "sigmoid", "tanh", "softplus", "gelu"}
    assert {n for n, r in roles.items() if r == "loss"} == {
        "cross_entropy", "nll_loss", "mse_loss", "binary_cross_entropy_with_logits"}
    assert {n for n, r in roles.items() if r == "pass-through"} == {
        "transpose", "reshape", "astype", "squeeze", "unsqueeze", "broadcast_to"}


def test_an_op_declared_as_an_activation_is_named_h_k(registered):
    op = minigrad.defop("my_softsign", _softsign, _softsign_vjp, formula="h = a / (1 + |a|)",
                        grads="δ / (1 + |a|)²", role="activation")
    loss = hand_written_mlp(lambda a: apply(op, a))
    names = ids_by_name(loss)
    assert {"a₁", "h₁", "a₂", "L"} <= set(names)
    src = visualize.draw(loss).source
    assert "h₁" in node_statements(src)[names["h₁"]]


def test_an_op_without_a_role_keeps_its_own_name(registered):
    op = minigrad.defop("plain_softsign", _softsign, _softsign_vjp, formula="h = a / (1 + |a|)",
                        grads="δ / (1 + |a|)²")
    names = ids_by_name(hand_written_mlp(lambda a: apply(op, a)))
    assert "plain_softsign" in names and "h₁" not in names


def test_an_unknown_role_is_an_error(registered):
    with pytest.raises(ValueError, match="'squash'.*role 'squasher' is not one of"):
        minigrad.defop("squash", _softsign, _softsign_vjp, formula="h = s(a)", grads="δ",
                       role="squasher")


def test_a_custom_activation_function_is_named_h_k(registered):
    class Softsign(minigrad.Function):
        role = "activation"
        formula = "h = a / (1 + |a|)"
        grads = ("δ / (1 + |a|)²",)
        forward = staticmethod(_softsign)
        vjp_a = staticmethod(_softsign_vjp)

    loss = hand_written_mlp(Softsign.apply)
    names = ids_by_name(loss)
    assert "h₁" in names
    assert "h₁" in node_statements(visualize.draw(loss).source)[names["h₁"]]


def test_parameter_name_beats_tensor_name_beats_lecture_name():
    model, loss = mlp_loss((2, 3, 2))
    model.layers[0].weight.name = "ignored"
    named = minigrad.tensor([1.0, 2.0], requires_grad=True, name="my input")
    out = (named * 2).sum()
    out.name = "total"
    assert "layers.0.weight" in ids_by_name(loss, model)
    assert {"my input", "total"} <= set(ids_by_name(out))


def test_small_values_printed_large_ones_summarised():
    small = minigrad.tensor([[0.5, -1.25], [3.0, 4.0]], requires_grad=True, name="small")
    big = minigrad.tensor(np.arange(20, dtype=np.float64), requires_grad=True, name="big")
    out = (small.sum() + big.sum())
    src = visualize.draw(out).source
    for v in ["0.5", "-1.25", "3", "4"]:
        assert f">{v}<" in src
    for word in ["mean 9.5", "std 5.766", "min 0", "max 19", "norm 49.7"]:
        assert word in src, word
    assert "(2, 2) float32" in src and "(20,) float64" in src


def test_gradient_reads_not_computed_yet_before_backward_never_zeros():
    model, loss = visualize.lecture_net()
    for p in model.parameters():
        p.grad = None
    fresh_model, fresh = mlp_loss((3, 3, 2), backward=False)
    src = visualize.draw(fresh, model=fresh_model).source
    stmts = node_statements(src)
    names = ids_by_name(fresh, fresh_model)
    for pname in ["layers.0.weight", "layers.0.bias", "layers.2.weight"]:
        label = stmts[names[pname]]
        assert "not computed yet" in label
        # the grad row holds the sentence only, no numbers
        grad_row = label.split(">grad<", 1)[1]
        assert not re.search(r">-?0<", grad_row)
    fresh.backward()
    src = visualize.draw(fresh, model=fresh_model).source
    assert "not computed yet" not in src
    assert "not kept (see retain_grad())" in src  # a_k without retain_grad
    w = fresh_model.layers[0].weight.grad.data
    assert f">{w[0, 0]:.4g}<" in src


def test_show_option_hides_rows():
    model, loss = mlp_loss((2, 3, 2))
    src = visualize.draw(loss, model=model, show=("shape",)).source
    assert "float32" in src and ">value<" not in src and ">grad<" not in src
    src = visualize.draw(loss, model=model, show=()).source
    assert "float32" not in src


def test_op_nodes_show_the_registry_formula():
    model, loss = mlp_loss((2, 3, 2))
    stmts = node_statements(visualize.draw(loss, model=model).source)
    op_labels = [v for k, v in stmts.items() if k.startswith("o")]
    assert any("<B>linear</B>" in v and "a = W h + b" in v for v in op_labels)
    assert any("<B>tanh</B>" in v and "h = tanh(a)" in v for v in op_labels)
    assert any("<B>cross_entropy</B>" in v and "L = −log softmax(a)_ℓ" in v for v in op_labels)


def test_direction_and_title():
    _, loss = mlp_loss((2, 2))
    src = visualize.draw(loss, direction="TB", title="My <net> & co").source
    assert "rankdir=TB" in src
    assert "My &lt;net&gt; &amp; co" in src


# --------------------------------------------------------------------------- backward edges
def test_backward_edges_carry_the_vjp_formula_of_each_argument():
    model, loss = visualize.lecture_net()
    src = visualize.draw(loss, model=model, backward=True).source
    names = ids_by_name(loss, model)
    back = {(a, b): attrs for a, b, attrs in edge_statements(src) if "dir=back" in attrs}
    scene = build_scene(loss, model)
    G = scene.G
    expected = 0
    for u, v, data in G.edges(data=True):
        if not scene.nodes[u].tensor.requires_grad:
            continue
        expected += 1
        attrs = back[(tensor_id(scene.nodes[u]), op_id(scene.nodes[v]))]
        op = REGISTRY[data["op"]]
        for argnum in data["argnums"]:
            assert op.grad_formula(argnum) in attrs
        assert "style=dashed" in attrs and S.BACKWARD in attrs
    n_ops = sum(1 for nd in scene.nodes.values() if nd.op is not None)
    assert len(back) == expected + n_ops  # plus one δ edge from each result to its op

    def label(src_name: str) -> str:
        key = next(k for k in back if k[0] == names[src_name])
        return re.sub(r"<[^>]+>", "", back[key].split("label=<", 1)[1])

    # the lecture's formulas, on a rendered Linear layer
    assert label("layers.0.weight").startswith("δ·hᵀ")
    assert label("layers.0.bias").startswith("δ")
    assert not label("layers.0.bias").startswith("δ·")
    assert label("h₁").startswith("Wᵀ·δ")
    assert label("a₁").startswith("δ ⊙ σ(1 − σ)")


def test_no_backward_edges_unless_asked():
    model, loss = mlp_loss((2, 3, 2))
    src = visualize.draw(loss, model=model).source
    assert "dir=back" not in src and "style=dashed" not in src


def test_x_times_x_is_one_edge_with_both_formulas():
    x = minigrad.tensor([1.0, 2.0], requires_grad=True, name="x")
    y = (x * x).sum()
    src = visualize.draw(y, backward=True).source
    assert "δ ⊙ b + δ ⊙ a" in src


def test_tanh_edge_label():
    a = minigrad.tensor([0.1, 0.2], requires_grad=True, name="a")
    src = visualize.draw(minigrad.tanh(a).sum(), backward=True).source
    assert "δ ⊙ (1 − h²)" in src


# --------------------------------------------------------------------------- colours
def _fill(stmt: str) -> str:
    return re.search(r'fillcolor="?(#[0-9a-fA-F]{6})"?', stmt).group(1).lower()


def test_role_colours_and_legend():
    model, loss = visualize.lecture_net()
    src = visualize.draw(loss, model=model).source
    stmts = node_statements(src)
    names = ids_by_name(loss, model)
    assert _fill(stmts[names["layers.0.weight"]]) == S.ROLE_FILL["parameter"]
    assert _fill(stmts[names["x"]]) == S.ROLE_FILL["input"]
    assert _fill(stmts[names["ℓ"]]) == S.ROLE_FILL["input"]
    assert _fill(stmts[names["a₁"]]) == S.ROLE_FILL["intermediate"]
    assert _fill(stmts[names["L"]]) == S.ROLE_FILL["loss"]
    legend = src.split("label=<", 1)[1]
    for role in ["parameter", "input / constant", "intermediate", "loss (output)"]:
        assert role in legend


def test_grad_colours_follow_log_norm_on_viridis():
    small = minigrad.tensor([1.0, 1.0], requires_grad=True, name="small")
    large = minigrad.tensor([1.0, 1.0], requires_grad=True, name="large")
    const = minigrad.tensor([1.0, 1.0], name="const")
    out = (small * 1e-4).sum() + (large * 1e3).sum() + const.sum()
    out.backward()
    src = visualize.draw(out, color_by="grad").source
    stmts = node_statements(src)
    names = ids_by_name(out)
    lo, hi = _fill(stmts[names["small"]]), _fill(stmts[names["large"]])
    assert lo == S.VIRIDIS[0] and hi == S.VIRIDIS[-1]  # the ends of the map
    assert S.luminance(hi) > S.luminance(lo)
    assert _fill(stmts[names["const"]]) == S.NO_GRAD_FILL
    assert "log₁₀ ‖grad‖" in src and "viridis" in src
    # the colour bar is labelled from log10(norm) of the smallest to the largest gradient
    assert f"{np.log10(1e-4 * np.sqrt(2)):.1f}" in src


def test_grad_colours_before_backward_say_so():
    _, loss = mlp_loss((2, 2), backward=False)
    src = visualize.draw(loss, color_by="grad").source
    assert "no gradients yet" in src


def test_viridis_table_matches_matplotlib():
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    for i, x in enumerate(np.linspace(0, 1, 11)):
        assert S.VIRIDIS[i] == to_hex(colormaps["viridis"](x))


# --------------------------------------------------------------------------- clusters
def test_one_cluster_per_module_with_its_parameters_inside():
    model, loss = mlp_loss((2, 16, 16, 3))
    src = visualize.draw(loss, model=model).source
    clusters = cluster_members(src)
    scene = build_scene(loss, model)
    modules = {nd.module for nd in scene.nodes.values() if nd.module}
    assert len(clusters) == len(modules) == src.count("subgraph cluster_")
    assert set(clusters) == {
        "layers.0 · Linear(2→16)", "layers.1 · Tanh", "layers.2 · Linear(16→16)",
        "layers.3 · Tanh", "layers.4 · Linear(16→3)"}
    names = ids_by_name(loss, model)
    for k in (0, 2, 4):
        box = next(v for c, v in clusters.items() if c.startswith(f"layers.{k} "))
        assert names[f"layers.{k}.weight"] in box and names[f"layers.{k}.bias"] in box
        assert names[f"a{'₁₂₃'[k // 2]}"] in box
    for outside in ["x", "L"]:
        assert not any(names[outside] in v for v in clusters.values())


def test_clusters_from_scopes_nest_without_a_model():
    w = minigrad.tensor([1.0, 2.0], requires_grad=True, name="w")
    with scope("enc"):
        a = w * 2
    with scope("enc.inner"):
        b = a + 1
    with scope("dec"):
        c = b.sum()
    src = visualize.draw(c).source
    clusters = cluster_members(src)
    assert set(clusters) == {"enc", "enc.inner", "dec"}
    names = ids_by_name(c)
    assert clusters["enc.inner"] < clusters["enc"]  # nested box
    assert names["w"] not in clusters["enc"]
    assert any(n in clusters["enc.inner"] for n in (names["add"],))


# --------------------------------------------------------------------------- collapse
def test_collapse_module_draws_one_node_per_module():
    model, loss = mlp_loss((2, 16, 16, 3))
    g = visualize.draw(loss, model=model, collapse="module", backward=True)
    stmts = node_statements(g.source)
    assert not any(k.startswith(("t", "o")) for k in stmts)
    labels = " ".join(stmts.values())
    for k in range(5):
        assert f"<B>layers.{k}</B>" in labels
    # modules, plus x, the labels and the loss drawn as single tensors
    assert len(stmts) == 5 + 3
    assert "collapsed by module" in g.source
    assert "Linear(2→16)" in labels and "48 numbers" in labels


def test_collapse_auto_only_beyond_max_nodes():
    model, loss = mlp_loss((2, 3, 2))
    n = minigrad.graph(loss).number_of_nodes()
    kept = visualize.draw(loss, model=model, max_nodes=n).source
    assert "collapsed" not in kept and any(k.startswith("o") for k in node_statements(kept))
    small = visualize.draw(loss, model=model, max_nodes=n - 1).source
    assert f"the graph has {n} tensors, more than max_nodes={n - 1}" in plain(small)
    assert not any(k.startswith("o") for k in node_statements(small))
    never = visualize.draw(loss, model=model, max_nodes=1, collapse="none").source
    assert "collapsed" not in never


def deep_chain(layers: int):
    """A graph of about 4 tensors per layer: 1251 layers make more than 5,000 tensors."""
    model = nn.MLP([4] * layers + [2], activation="tanh")
    x = minigrad.tensor(np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32))
    loss = F.cross_entropy(model(x), minigrad.tensor(np.zeros(8, dtype=np.int64)))
    loss.backward()
    return model, loss


@needs_dot
def test_five_thousand_nodes_collapse_below_the_budget():
    model, loss = deep_chain(1251)
    n = minigrad.graph(loss).number_of_nodes()
    assert n > 5000
    g = visualize.draw(loss, model=model, backward=True)
    stmts = node_statements(g.source)
    assert 10 <= len(stmts) <= 200
    assert f"the graph has {n:,} tensors, more than max_nodes=200" in plain(g.source)
    assert "runs of modules" in plain(g.source)
    root, texts = svg_of(g.source)
    assert len(svg_nodes(root)) == len(stmts)
    assert any("layers.0 … " in t for t in texts)


def test_option_errors():
    _, loss = mlp_loss((2, 2))
    with pytest.raises(ValueError, match="show"):
        visualize.draw(loss, show=("values",))
    with pytest.raises(ValueError, match="direction"):
        visualize.draw(loss, direction="up")
    with pytest.raises(ValueError, match="color_by"):
        visualize.draw(loss, color_by="norm")
    with pytest.raises(ValueError, match="collapse"):
        visualize.draw(loss, collapse="layers")
    with pytest.raises(ValueError, match="max_nodes"):
        visualize.draw(loss, max_nodes=0)
    with pytest.raises(TypeError, match="Tensor"):
        visualize.draw(np.ones(3))
    with pytest.raises(TypeError, match="named_parameters"):
        visualize.draw(loss, model=object())


# --------------------------------------------------------------------------- escaping
NASTY = ["<lambda>", "{a|b}", '"quoted"', "'single'", "back\\slash", "\\N", "\\G", "\\L", "&",
         "&amp;", "&#60;", "line\nbreak", "</TD></TR></TABLE>>", "]; evil [shape=box", "->",
         "}", "{", "<<B>b</B>>", "é", "😀", "δ·hᵀ", "\t", "\x00", "\x07", "\x7f", "\ufffe",
         "\u202e", "  two  spaces ", "%", "$", "\r\n"]


def expected_lines(text: str) -> list[str]:
    return [line.replace("\u00a0", " ") for line in clean(text).split("\n") if line.strip()]


def draw_named(name: str, title: str):
    x = minigrad.tensor([1.0, 2.0], requires_grad=True, name=name)
    y = (x * x).sum()
    y.name = name + "!"
    return visualize.draw(y, title=title, backward=True)


REFERENCE_NODES: list[int] = []


@needs_dot
@settings(deadline=None, max_examples=30)
@given(st.one_of(st.text(min_size=1, max_size=24),
                 st.lists(st.sampled_from(NASTY), min_size=1, max_size=5).map("".join)),
       st.text(max_size=16))
def test_any_name_appears_literally_and_adds_nothing(name, title):
    if not REFERENCE_NODES:
        root, _ = svg_of(draw_named("x", "t").source)
        REFERENCE_NODES.append(len(svg_nodes(root)))
    src = draw_named(name, title).source
    root, texts = svg_of(src)  # dot exits 0 (asserted inside)
    assert len(svg_nodes(root)) == REFERENCE_NODES[0] == 5  # x, x*x, sum and two ops
    assert len(node_statements(src)) == 5
    for line in expected_lines(name):
        assert line in texts, (line, texts[:12])
    for line in expected_lines(name + "!"):
        assert line in texts
    for line in expected_lines(title):
        assert line in texts


@needs_dot
@pytest.mark.parametrize("name", NASTY, ids=[repr(n) for n in NASTY])
def test_each_metacharacter_literally(name):
    root, texts = svg_of(draw_named(name, name).source)
    assert len(svg_nodes(root)) == 5
    for line in expected_lines(name):
        assert texts.count(line) >= 2  # the tensor's name and the title


def test_control_characters_are_shown_not_passed_through():
    assert clean("a\x00b\x07\x7f") == "a␀b␇␡"
    assert clean("a\r\nb\rc\td") == "a\nb\nc d"
    assert clean("\ufffe\U0010ffff") == "\ufffd\ufffd"


def test_cluster_and_model_names_are_escaped():
    w = minigrad.tensor([1.0], requires_grad=True)
    with scope('<m> "x" & {y}'):
        out = (w * 2).sum()
    src = visualize.draw(out).source
    assert "&lt;m&gt; &quot;x&quot; &amp; {y}" in src
    assert "<m>" not in src


# --------------------------------------------------------------------------- render
@needs_dot
def test_render_svg_holds_names_and_formulas(tmp_path):
    model, loss = visualize.lecture_net()
    path = visualize.render(loss, tmp_path / "net.svg", model=model, backward=True)
    assert path == tmp_path / "net.svg"
    assert os.listdir(tmp_path) == ["net.svg"]  # exactly one file, no .gv beside it
    root = ET.parse(path).getroot()
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    joined = "\n".join(texts)
    for s in ["layers.0.weight", "layers.4.bias", "· W₁", "a₁", "h₂", "δ·hᵀ", "Wᵀ·δ",
              "δ ⊙ σ(1 − σ)", "a = W h + b", "h = σ(a)", "ŷ − e(ℓ)"]:
        assert s in joined, s
    assert texts.count("δ") >= 3  # the bias edges of the three layers


@needs_dot
def test_render_png_opens(tmp_path):
    from matplotlib import image

    _, loss = mlp_loss((2, 3, 2))
    path = visualize.render(loss, tmp_path / "g.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 200 and height > 100
    img = image.imread(path)
    assert img.shape[:2] == (height, width) and img.std() > 0.01


@needs_dot
def test_render_pdf(tmp_path):
    _, loss = mlp_loss((2, 2))
    assert visualize.render(loss, tmp_path / "g.pdf").read_bytes()[:5] == b"%PDF-"


def test_render_dot_needs_no_graphviz(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    _, loss = mlp_loss((2, 2))
    path = visualize.render(loss, tmp_path / "g.dot", title="t")
    assert path.read_text(encoding="utf-8").startswith("digraph")
    assert os.listdir(tmp_path) == ["g.dot"]


def test_render_refuses_to_overwrite(tmp_path):
    _, loss = mlp_loss((2, 2))
    path = tmp_path / "g.dot"
    path.write_text("keep me")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        visualize.render(loss, path)
    assert path.read_text() == "keep me"
    assert os.listdir(tmp_path) == ["g.dot"]
    visualize.render(loss, path, overwrite=True)
    assert path.read_text(encoding="utf-8").startswith("digraph")
    assert os.listdir(tmp_path) == ["g.dot"]


@needs_dot
def test_render_overwrite_svg(tmp_path):
    _, loss = mlp_loss((2, 2))
    p = visualize.render(loss, tmp_path / "g.svg")
    with pytest.raises(FileExistsError):
        visualize.render(loss, p)
    visualize.render(loss, p, overwrite=True, title="second")
    assert "second" in p.read_text(encoding="utf-8")
    assert os.listdir(tmp_path) == ["g.svg"]


def test_without_dot_writes_the_source_and_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    assert shutil.which("dot") is None
    model, loss = visualize.lecture_net()
    with pytest.raises(visualize.GraphvizNotFound) as info:
        visualize.render(loss, tmp_path / "graph.svg", model=model)
    err = info.value
    assert isinstance(err, RuntimeError)
    msg = str(err)
    for hint in ["apt-get install graphviz", "dnf install graphviz",
                 "conda install -c conda-forge graphviz", "brew install graphviz"]:
        assert hint in msg
    assert str(tmp_path / "graph.dot") in msg
    assert err.dot_path == tmp_path / "graph.dot"
    assert os.listdir(tmp_path) == ["graph.dot"]
    assert "layers.0.weight" in (tmp_path / "graph.dot").read_text(encoding="utf-8")


def test_without_dot_keeps_an_existing_dot_file(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    (tmp_path / "graph.dot").write_text("mine")
    _, loss = mlp_loss((2, 2))
    with pytest.raises(visualize.GraphvizNotFound, match="could not be saved"):
        visualize.render(loss, tmp_path / "graph.png")
    assert (tmp_path / "graph.dot").read_text() == "mine"


def test_missing_folder_is_a_clear_error(tmp_path):
    _, loss = mlp_loss((2, 2))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        visualize.render(loss, tmp_path / "no" / "such" / "g.svg")


def test_read_only_folder_is_a_clear_error(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # root passes the permission bits
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False if mode & os.W_OK
                            and Path(p) == ro else real_access(p, mode, *a, **k))
    _, loss = mlp_loss((2, 2))
    try:
        with pytest.raises(PermissionError, match="not writable"):
            visualize.render(loss, ro / "g.dot")
    finally:
        ro.chmod(stat.S_IRWXU)


def test_unwritable_folder_reported_when_the_write_fails(tmp_path, monkeypatch):
    """What a read-only folder looks like from inside, even for root (who passes os.access)."""
    import tempfile

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    _, loss = mlp_loss((2, 2))
    with pytest.raises(PermissionError, match="not writable"):
        visualize.render(loss, tmp_path / "g.dot")
    assert os.listdir(tmp_path) == []


def test_unknown_suffix(tmp_path):
    _, loss = mlp_loss((2, 2))
    with pytest.raises(ValueError, match=".svg"):
        visualize.render(loss, tmp_path / "g.jpeg")


def fake_dot(tmp_path: Path, body: str) -> Path:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "dot"
    exe.write_text("#!/bin/sh\n" + body + "\n")
    exe.chmod(0o755)
    return bindir


def test_dot_timeout_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(fake_dot(tmp_path, "exec sleep 30")) + os.pathsep + "/bin")
    out = tmp_path / "out"
    out.mkdir()
    _, loss = mlp_loss((2, 2))
    with pytest.raises(TimeoutError, match="did not finish within 0.5 s"):
        visualize.render(loss, out / "g.svg", timeout=0.5)
    assert os.listdir(out) == []


def test_dot_failure_shows_its_message(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(fake_dot(tmp_path, "echo 'syntax error near x' >&2; exit 3")))
    out = tmp_path / "out"
    out.mkdir()
    _, loss = mlp_loss((2, 2))
    with pytest.raises(RuntimeError, match="(?s)exit code 3.*syntax error near x"):
        visualize.render(loss, out / "g.svg")
    assert os.listdir(out) == []


def test_dot_runs_without_a_shell_reading_stdin(tmp_path, monkeypatch):
    calls = []
    real = subprocess.run

    def spy(args, **kwargs):
        calls.append((args, kwargs))
        return real(args, **kwargs)

    monkeypatch.setattr(subprocess, "run", spy)
    _, loss = mlp_loss((2, 2))
    if shutil.which("dot") is None:
        pytest.skip("Graphviz `dot` not on PATH")
    visualize.render(loss, tmp_path / "g.svg", timeout=30)
    (args, kwargs), = calls
    assert isinstance(args, list) and args[1:] == ["-Tsvg"] and args[0].endswith("dot")
    assert not kwargs.get("shell") and kwargs["timeout"] == 30
    assert kwargs["input"].startswith(b"digraph")


@needs_dot
def test_render_accepts_a_drawn_digraph(tmp_path):
    _, loss = mlp_loss((2, 2))
    g = visualize.draw(loss, title="drawn first")
    p = visualize.render(g, tmp_path / "g.svg")
    assert "drawn first" in p.read_text(encoding="utf-8")
    with pytest.raises(TypeError, match="already drawn"):
        visualize.render(g, tmp_path / "h.svg", backward=True)


@needs_dot
def test_digraph_displays_inline_in_jupyter():
    _, loss = mlp_loss((2, 2))
    bundle = visualize.draw(loss)._repr_mimebundle_()
    assert "image/svg+xml" in bundle and "<svg" in bundle["image/svg+xml"]


def test_hand_written_row_layer_reads_as_the_lecture():
    """``x @ W.T + b`` (PyTorch's rows): the labels name what each edge computes, and the
    transpose in front of W says it receives the lecture's δ·hᵀ."""
    rng = np.random.default_rng(0)
    x = minigrad.tensor(rng.normal(size=(3,)))
    W = minigrad.tensor(rng.normal(size=(2, 3)), requires_grad=True)
    b = minigrad.tensor(rng.normal(size=(2,)), requires_grad=True)
    h = minigrad.tensor(rng.normal(size=(3,)), requires_grad=True)
    loss = ((x + h) @ W.T + b).sum()
    src = visualize.draw(loss, backward=True).source
    names = ids_by_name(loss)
    for name in ["W₁", "W₁ᵀ", "b₁", "a₁"]:
        assert name in names, sorted(names)
    back = {a: re.sub(r"<[^>]+>", "", attrs.split("label=<", 1)[1])
            for a, _, attrs in edge_statements(src) if "dir=back" in attrs and "label=<" in attrs}
    assert back[names["W₁"]].startswith("δᵀ = δ·hᵀ")
    assert back[names["W₁ᵀ"]].startswith("hᵀ·δ")
    assert back[names["add"]].startswith("δ·W")  # the hidden input x + h gets δ·W
    assert back[names["b₁"]].startswith("δ")
    assert "a = h Wᵀ (rows)" in src
    # the lecture's own order keeps the registry's labels
    W2 = minigrad.tensor(rng.normal(size=(2, 3)), requires_grad=True)
    loss2 = (W2 @ h).sum()
    src2 = visualize.draw(loss2, backward=True).source
    assert "δ·hᵀ" in src2 and "Wᵀ·δ" in src2 and "(rows)" not in src2


def test_collapsed_unit_without_kept_grads_says_so_after_backward():
    import minigrad as mg
    from minigrad.modes import scope

    x = mg.Tensor(np.ones((2, 3)), requires_grad=True)
    with scope("block"):
        h = (x * 2.0).tanh()
    with scope("head"):
        loss = h.sum()
    before = visualize.draw(loss, collapse="module").source
    assert "not computed yet" in before
    loss.backward()
    after = visualize.draw(loss, collapse="module").source
    assert "grads not kept" in after and "not computed yet" not in after


def test_with_a_model_only_its_parameters_are_parameters_and_stray_modules_warn():
    import minigrad as mg
    from minigrad import nn
    from minigrad.visualize.diagram import build_scene

    model = nn.MLP([2, 3, 2])
    x = mg.Tensor(np.ones((1, 2)), requires_grad=True, name="x")
    loss = model(x).sum()
    scene = build_scene(loss, model=model)
    roles = {n.name: n.role for n in scene.nodes.values()}
    assert roles["x"] == "input" and roles["layers.0.weight"] == "parameter"
    assert build_scene(loss).nodes[id(x)].role == "parameter"  # no model: any trained leaf

    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.left, self.right = nn.MLP([2, 3, 2]), nn.MLP([2, 3, 2])

    pair = Pair()
    both = pair.left(x).sum() + pair.right(x).sum()  # called outside Pair's own forward
    with pytest.warns(UserWarning, match=r"module names \['layers.0'"):
        visualize.draw(both, model=pair)
