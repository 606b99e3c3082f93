"""The sweep's graph and order: built straight into networkx's adjacency dicts, they are the
graph ``add_edges_from`` builds and the order ``nx.topological_sort`` gives, node for node, so
gradients that add several contributions add them in the same order as before."""

from __future__ import annotations

import importlib

import networkx as nx
import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F

mgraph = importlib.import_module("minigrad.graph")  # the package re-exports graph(), a function


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


@pytest.mark.parametrize("name", list(_models()))
def test_sweep_graph_and_order_are_networkx_own(name: str) -> None:
    out = _models()[name]()
    G, tensors = mgraph.build_for_backward([out])
    H, tensors2 = mgraph._build_for_backward_nx([out], nx.DiGraph)  # networkx's own storage
    assert isinstance(G, nx.DiGraph) and type(H) is nx.DiGraph
    assert list(G.nodes) == list(H.nodes)
    assert list(G.edges) == list(H.edges)
    for n in G:
        assert list(G.succ[n]) == list(H.succ[n]) and list(G.pred[n]) == list(H.pred[n])
    assert tensors == tensors2
    assert mgraph.sweep_order(G) == list(nx.topological_sort(H))
    assert nx.is_directed_acyclic_graph(G)


def test_gradients_are_bit_identical_with_the_networkx_path(monkeypatch) -> None:
    grads = []
    for fast in (True, False):
        monkeypatch.setattr(mgraph, "_FAST_SWEEP", fast)
        rng = np.random.default_rng(3)
        W = mg.Tensor(rng.standard_normal((3, 3)).astype(np.float32), requires_grad=True)
        h = mg.Tensor(rng.standard_normal((2, 3)).astype(np.float32))
        for _ in range(6):
            h = (h @ W + h * 0.5).tanh()
        h.sum().backward()
        grads.append(W.grad.numpy().copy())
    assert np.array_equal(grads[0], grads[1])


def test_a_cycle_is_reported() -> None:
    G = nx.DiGraph([(1, 2), (2, 1), (0, 1)])
    with pytest.raises(nx.NetworkXUnfeasible):
        mgraph.sweep_order(G)


def test_neighbors_mapping_behaves_as_a_dict() -> None:
    n = mgraph._Neighbors()
    empty = mgraph._NO_ATTRIBUTES
    assert len(n) == 0 and list(n) == [] and 5 not in n
    n[5] = empty
    assert len(n) == 1 and list(n) == [5] and 5 in n and n[5] is empty and 6 not in n
    n[5] = empty  # the same edge again: still one
    assert len(n) == 1
    n[7] = empty
    n[3] = {"w": 1.0}  # an edge with attributes of its own
    assert list(n) == [5, 7, 3] and n[3] == {"w": 1.0} and len(n) == 3
    del n[7]
    assert list(n.items()) == [(5, empty), (3, {"w": 1.0})]
    with pytest.raises(KeyError):
        n[7]
    with pytest.raises(KeyError):
        del n[7]
    m = mgraph._Neighbors()
    m[1] = empty
    del m[1]
    assert len(m) == 0 and dict(m) == {}


def test_sweep_graph_supports_networkx_algorithms() -> None:
    out = _models()["mlp"]()
    G, _ = mgraph.build_for_backward([out])
    P, _ = mgraph._build_for_backward_nx([out], nx.DiGraph)
    assert nx.is_isomorphic(G, P)
    assert set(nx.ancestors(G, id(out))) == set(nx.ancestors(P, id(out)))
    assert dict(G.in_degree()) == dict(P.in_degree())
    assert sorted(nx.topological_sort(G)) == sorted(nx.topological_sort(P))
