"""The one backward sweep: its graph is networkx's (public API), its order networkx's
topological order, and backward, grad, the step-through page, compare and compile all walk
backward through it."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import autograd, nn

mgraph = importlib.import_module("minigrad.graph")  # the package re-exports graph(), a function
ROOT = Path(__file__).resolve().parents[1]


def _models():
    rng = np.random.default_rng(0)

    def t(*shape, grad=True):
        return mg.Tensor(rng.standard_normal(shape), requires_grad=grad)

    def rnn():
        W, U, h = t(3, 3), t(3, 3), t(2, 3)
        x = t(4, 2, 3, grad=False)
        for k in range(4):  # W is used four times: four contributions to add up
            h = (h @ W + x[k] @ U).tanh()
        return h.sum()

    def diamond():
        a = t(3)
        b, c = a * 2, a.exp()
        d = b * c + a
        return (d * d + b).sum()

    def mlp():
        W1, b1, W2, b2 = t(4, 5), t(5), t(5, 3), t(3)
        x = t(6, 4, grad=False)
        h = F.relu(x @ W1 + b1)
        return F.cross_entropy(h @ W2 + b2, np.array([0, 1, 2, 0, 1, 2]))

    def random_dag():
        leaves = [t(2, 2) for _ in range(4)]
        nodes = list(leaves)
        for i in range(60):
            a, b = nodes[rng.integers(len(nodes))], nodes[rng.integers(len(nodes))]
            nodes.append([a + b, a * b, (a - b).tanh()][i % 3])
        return sum(nodes[-10:], mg.Tensor(np.zeros((2, 2)))).sum()

    return {"rnn": rnn, "diamond": diamond, "mlp": mlp, "random_dag": random_dag}


def _forget_order(monkeypatch) -> None:
    monkeypatch.setattr(autograd, "_last", (0, [], []))


# ------------------------------------------------------------------ the graph and its order
@pytest.mark.parametrize("name", list(_models()))
def test_backward_graph_is_a_plain_digraph_of_the_tensors_that_need_a_gradient(name):
    out = _models()[name]()
    G = mgraph.build(out, backward=True)
    full = mg.graph(out)
    assert type(G) is nx.DiGraph
    need = {n for n, d in full.nodes(data=True) if d["requires_grad"]}
    assert set(G.nodes) == need
    assert set(G.edges) == {(u, v) for u, v in full.edges if u in need}
    assert all(d == {} for _, d in G.nodes(data=True))
    assert all(d == {} for _, _, d in G.edges(data=True))


@pytest.mark.parametrize("name", list(_models()))
def test_the_sweep_visits_networkx_topological_order_in_reverse(name, monkeypatch):
    out = _models()[name]()
    want = list(reversed(list(nx.topological_sort(mgraph.build(out, backward=True)))))
    for remembered in (False, True):  # the order networkx gives, then the one kept from it
        if not remembered:
            _forget_order(monkeypatch)
        seen = [id(t) for t, _, _ in autograd.sweep([out], [np.ones(())], aside=True)]
        assert seen == want


def test_the_order_is_kept_only_for_a_graph_of_the_same_shape(monkeypatch):
    _forget_order(monkeypatch)
    calls = []
    real = mgraph.topological_order
    monkeypatch.setattr(autograd, "topological_order", lambda G: calls.append(G) or real(G))

    def step(n):
        x = mg.Tensor(np.ones(3), requires_grad=True)
        y = x
        for _ in range(n):
            y = y.tanh() * 2
        y.sum().backward()
        return x.grad.data

    first = step(3)
    assert len(calls) == 1
    assert np.array_equal(step(3), first) and len(calls) == 1  # the same shape: kept
    step(4)
    assert len(calls) == 2  # another shape: networkx sorts it
    a, b = mg.Tensor(1.0, requires_grad=True), mg.Tensor(2.0, requires_grad=True)
    mg.grad([a], [a])
    mg.grad([a, b], [a, b])  # no edges either, but two tensors: sorted again
    assert len(calls) == 4


def test_a_cycle_is_reported_by_networkx():
    with pytest.raises(nx.NetworkXUnfeasible):
        mgraph.topological_order(nx.DiGraph([(1, 2), (2, 1), (0, 1)]))


def test_gradients_are_the_same_with_a_kept_or_a_fresh_order(monkeypatch):
    grads = []
    for fresh in (True, False):
        if fresh:
            _forget_order(monkeypatch)
        out = _models()["random_dag"]()
        leaves = [t for t in mgraph.history(out)[0] if t.is_leaf and t.requires_grad]
        out.backward()
        grads.append([t.grad.data.copy() for t in leaves])
    for g0, g1 in zip(*grads):
        assert np.array_equal(g0, g1)


def test_within_stops_at_the_ops_it_is_given():
    x = mg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x * 3
    y = h.tanh()
    steps = {id(t): (g, sends) for t, g, sends in
             autograd.sweep([y], [np.ones(2)], aside=True, within={id(y)})}
    assert set(steps) == {id(y), id(h)}  # h is a leaf here: x receives nothing
    assert steps[id(h)][1] == []
    np.testing.assert_allclose(steps[id(h)][0], 1 - np.tanh(h.data) ** 2)


def test_aside_runs_no_hook_and_walks_a_freed_graph():
    x = mg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(g))
    m = x * x
    y = m.sum()
    y.backward()
    assert len(seen) == 1
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()
    steps = list(autograd.sweep([y], [np.ones(())], aside=True))
    assert len(seen) == 1 and x.grad is not None
    (t, g, sends) = steps[0]
    assert t is y and [(i, s is m) for i, s, _ in sends] == [(0, True)]
    (t, _, sends) = steps[1]
    assert t is m
    assert [(i, s is x) for i, s, _ in sends] == [(0, True), (1, True)]  # x * x: both


# ------------------------------------------------------------------ one sweep for everyone
@pytest.fixture
def sweeps(monkeypatch):
    """The modules that ran the engine's sweep, one entry per call."""
    callers: list[str] = []
    real = autograd.sweep

    def counted(*args, **kwargs):
        callers.append(sys._getframe(1).f_globals["__name__"])
        return real(*args, **kwargs)

    monkeypatch.setattr(autograd, "sweep", counted)
    return callers


def test_backward_and_grad_go_through_the_sweep(sweeps):
    x = mg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * x).sum().backward()
    mg.grad((x * 3).sum(), x)
    assert sweeps == ["minigrad.autograd", "minigrad.autograd"]


def test_the_step_through_page_goes_through_the_sweep(sweeps):
    from minigrad.visualize.diagram import build_scene
    from minigrad.visualize.steps import sweep

    model, loss = mg.visualize.lecture_net()
    sweeps.clear()
    sw = sweep(build_scene(loss, model))
    assert sweeps == ["minigrad.visualize.steps"] and len(sw.frames) == 6


def test_compare_goes_through_the_sweep(sweeps):
    from minigrad.reference.layerwise import compare_layers

    mg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    report = compare_layers(model, np.random.default_rng(0).standard_normal((2, 3)), [0, 1])
    assert report.rows
    assert "minigrad.autograd" in sweeps  # autograd's gradients: minigrad.grad
    assert "minigrad.reference.layerwise" in sweeps  # and through each layer


def test_compile_records_the_sweep(sweeps):
    w = mg.Tensor(np.arange(3.0), requires_grad=True)
    step = mg.compile(lambda x: (x * w).tanh().sum())
    step(mg.Tensor(np.ones(3)))
    assert sweeps == ["minigrad.compiler.passes"]


def test_nothing_reaches_into_networkx_storage_or_switches_the_sweep():
    private = re.compile(r"\._(" + "|".join(["node", "succ", "pred", "adj"]) + r")\b")
    switch = "MINIGRAD_" + "SWEEP"
    found = []
    for folder in ("minigrad", "visualize", "tests", "bench", "docs", "examples"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix not in (".py", ".md", ".ipynb") or not path.is_file():
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            if private.search(text) or switch in text:
                found.append(str(path.relative_to(ROOT)))
    assert found == []


def test_the_engine_page_quotes_the_engine_as_it_is():
    """docs/engine.md walks through the code in ``py`` blocks: each is a piece of the source,
    character for character."""
    page = (ROOT / "docs" / "engine.md").read_text(encoding="utf-8")
    source = "".join((ROOT / "minigrad" / f).read_text(encoding="utf-8")
                     for f in ("autograd.py", "function.py", "graph.py"))
    quoted = re.findall(r"^```py\n(.*?)^```$", page, flags=re.S | re.M)
    assert len(quoted) >= 6
    for block in quoted:
        assert block in source, block
