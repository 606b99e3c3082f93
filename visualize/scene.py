r"""The scene: a tensor's graph with every tensor's name, lecture symbol, role and module box
worked out, shared by `draw`, the collapsed drawing and the backward step-through so that all
of them name things the same way.

Names follow the lecture where nothing better is known: the outputs of the k-th linear layer
(in forward order) are ``a_k``, of the activation after it ``h_k`` (any op whose registry
entry has the role ``"activation"``, a custom one included), its weight and bias
``W_k`` and ``b_k``, the network's input ``x``; a parameter found in ``model.named_parameters()``
keeps its dotted name (``layers.0.weight · W₁``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import minigrad
from minigrad.graph import topological_order
from minigrad.ops.registry import role_of
from minigrad.tensor import Tensor

from ._text import subscript


# --------------------------------------------------------------------------- the model's names
def model_names(model: Any) -> tuple[dict[int, str], dict[str, str]]:
    """Parameter names by tensor identity, and a description of each named module.

    Args:
        model: anything with ``named_parameters()``; ``named_modules()`` is used when present.

    Returns:
        ``{id(parameter): "layers.0.weight"}`` and ``{"layers.0": "Linear(2→16)"}``.
    """
    if model is None:
        return {}, {}
    if not hasattr(model, "named_parameters"):
        raise TypeError(
            f"model= must have named_parameters() (an nn.Module); got {type(model).__name__}"
        )
    params: dict[int, str] = {}
    for name, p in model.named_parameters():
        params.setdefault(id(p), str(name))
    modules: dict[str, str] = {}
    if hasattr(model, "named_modules"):
        for name, m in model.named_modules():
            if name:
                modules[str(name)] = describe_module(m)
    return params, modules


def describe_module(m: Any) -> str:
    """The module's own ``describe()`` (``Linear(2→16)``, ``Conv2d(1→16, 3×3)``); for other
    objects, ``Cls(in→out)`` when they have in/out features, else the class name."""
    describe = getattr(m, "describe", None)
    if callable(describe):
        text = describe()
        if isinstance(text, str) and text:
            return text
    cls = type(m).__name__
    fin = getattr(m, "in_features", None)
    fout = getattr(m, "out_features", None)
    if isinstance(fin, int) and isinstance(fout, int):
        return f"{cls}({fin}→{fout})"
    return cls


# --------------------------------------------------------------------------- the scene
@dataclass
class DiagramNode:
    """What the diagram knows about one tensor of the graph."""

    nid: int
    tensor: Tensor
    index: int  # position in forward (topological) order
    name: str
    symbol: str | None  # lecture symbol (a₂, W₁) when it differs from name
    role: str
    module: str | None  # the box it is drawn in
    op: str | None
    inputs: list[tuple[int, dict[str, Any]]] = field(default_factory=list)


@dataclass
class Scene:
    """A tensor's graph with names, roles and module boxes worked out; shared by `draw` and
    the backward step-through so both name things the same way."""

    G: Any
    order: list[int]
    nodes: dict[int, DiagramNode]
    modules: dict[str, str]  # module name -> description ("" when unknown)
    after_backward: bool
    output: int


def follow_back(G: Any, nid: int) -> int:
    """The tensor that `nid` is a pure re-view of (through transposes, reshapes, casts)."""
    seen = 0
    while role_of(G.nodes[nid]["op"]) == "pass-through" and seen < 16:
        preds = list(G.predecessors(nid))
        if len(preds) != 1:
            break
        nid = preds[0]
        seen += 1
    return nid


def _lecture_symbols(G: Any, order: list[int]) -> dict[int, str]:
    """The lecture's names: a_k, h_k, W_k, b_k, x, ŷ, L, ℓ/y, counted along forward order."""
    names = _LectureNames(G)
    for nid in order:
        op = G.nodes[nid]["op"]
        if op is None:
            continue
        ins = {i: u for u, _, d in G.in_edges(nid, data=True) for i in d["argnums"]}
        prev = max((names.layer.get(u, 0) for u in ins.values()), default=0)
        if op in ("linear", "matmul"):
            names.product(nid, op, ins, prev)
        else:
            names.layer[nid] = prev
            names.after_product(nid, op, ins, prev)
    return names.sym


class _LectureNames:
    """The symbols found so far, walking the graph in forward order, and the layer k each
    tensor belongs to (the number of linear layers before it)."""

    def __init__(self, G: Any) -> None:
        self.G, self.nodes = G, G.nodes
        self.sym: dict[int, str] = {}
        self.layer: dict[int, int] = {}
        self.products: set[int] = set()  # matmul results, which a following bias add makes a_k
        self.k = 0

    def trained_leaf(self, nid: int) -> bool:
        return bool(self.nodes[nid]["is_leaf"]) and bool(self.nodes[nid]["requires_grad"])

    def product(self, nid: int, op: str, ins: dict[int, int], prev: int) -> None:
        """A linear layer (``a_k = W_k h_(k−1) + b_k``) or a matmul written by hand: the
        result and the leaves it reads (W_k, b_k, x) get their names."""
        nodes = self.nodes
        self.k = k = max(self.k, prev) + 1
        self.layer[nid] = k
        if op == "linear":
            self.sym[nid] = f"a{subscript(k)}"
            roles = {0: "h", 1: "W", 2: "b"}
        else:
            roles = {i: "W" if self.trained_leaf(follow_back(self.G, u)) else "h"
                     for i, u in ins.items()}
            w, h = f"W{subscript(k)}", f"h{subscript(k - 1)}"
            self.products.add(nid)
            if roles.get(1) == "W" and roles.get(0) == "h":  # rows: h @ W.T
                t = "ᵀ" if nodes[ins[1]]["op"] == "transpose" else ""
                self.sym[nid] = f"{h}{w}{t}"
            else:
                self.sym[nid] = f"{w}{h}"
        for i, u in ins.items():
            root = follow_back(self.G, u) if op == "matmul" else u
            if not nodes[root]["is_leaf"] or root in self.sym:
                continue
            r = roles.get(i)
            if r == "W" and nodes[root]["requires_grad"]:
                self.sym[root] = f"W{subscript(k)}"
                if u != root and nodes[u]["op"] == "transpose" and u not in self.sym:
                    self.sym[u] = f"W{subscript(k)}ᵀ"
            elif r == "b" and nodes[root]["requires_grad"]:
                self.sym[root] = f"b{subscript(k)}"
            elif r == "h" and k == 1 and not nodes[root]["requires_grad"]:
                self.sym[root] = "x"

    def after_product(self, nid: int, op: str, ins: dict[int, int], prev: int) -> None:
        """Any other op: a bias add completing a_k, an activation giving h_k, the softmax's
        ŷ, the loss L and its target ℓ or y."""
        nodes = self.nodes
        if op == "add" and prev and any(u in self.products for u in ins.values()):
            # W h + b written by hand: this add completes the pre-activation a_k
            self.sym[nid] = f"a{subscript(prev)}"
            for u in ins.values():
                if self.trained_leaf(u) and u not in self.sym:
                    self.sym[u] = f"b{subscript(prev)}"
        elif role_of(op) == "activation" and prev:
            self.sym[nid] = f"h{subscript(prev)}"
        elif op == "softmax":
            self.sym[nid] = "ŷ"
        elif op == "log_softmax":
            self.sym[nid] = "log ŷ"
        elif role_of(op) == "loss":
            self.sym[nid] = "L"
            target = ins.get(1)
            if target is not None and nodes[target]["is_leaf"] and target not in self.sym:
                self.sym[target] = "ℓ" if nodes[target]["dtype"].kind in "iu" else "y"


def _after_backward(G: Any) -> bool:
    """Whether a backward has run through this graph: its saved values were freed, or some
    parameter already holds a gradient."""
    for _, d in G.nodes(data=True):
        t = d["tensor"]
        ctx = t._ctx
        if ctx is not None and ctx.freed:
            return True
        if ctx is None and t.requires_grad and t.grad is not None:
            return True
    return False


def _name(d: dict[str, Any], pname: str | None, symbol: str | None) -> tuple[str, str | None]:
    """A tensor's name (its parameter name, its own name, its lecture symbol, its op, or
    leaf/const) and its lecture symbol when that says something more."""
    if pname is not None:
        name = pname
    elif d["name"]:
        name = str(d["name"])
    elif symbol is not None:
        name, symbol = symbol, None
    elif d["op"] is not None:
        name = str(d["op"])
    else:
        name = "leaf" if d["requires_grad"] else "const"
    return name, None if symbol == name else symbol


def build_scene(output: Tensor, model: Any = None) -> Scene:
    """Names, roles and modules for every tensor in `output`'s graph."""
    if not isinstance(output, Tensor):
        raise TypeError(
            f"draw() takes the minigrad Tensor whose history to draw (e.g. the loss); "
            f"got {type(output).__name__}"
        )
    G = minigrad.graph(output)
    order = topological_order(G)
    params, module_desc = model_names(model)
    symbols = _lecture_symbols(G, order)
    out_id = id(output)
    nodes: dict[int, DiagramNode] = {}
    modules: dict[str, str] = {}
    for i, nid in enumerate(order):
        d = G.nodes[nid]
        t: Tensor = d["tensor"]
        pname = params.get(nid)
        name, symbol = _name(d, pname, symbols.get(nid))
        if nid == out_id:
            role = "loss" if t.data.size == 1 else "output"
        elif d["is_leaf"]:
            # with a model, only its parameters are parameters (compare's x requires grad too)
            trained = pname is not None or (d["requires_grad"] and not params)
            role = "parameter" if trained else "input"
        else:
            role = "intermediate"
        module = d["module"] or None
        if pname is not None and "." in pname:
            module = pname.rsplit(".", 1)[0]
        if module is not None:
            modules.setdefault(str(module), module_desc.get(str(module), ""))
        nodes[nid] = DiagramNode(
            nid=nid,
            tensor=t,
            index=i,
            name=name,
            symbol=symbol,
            role=role,
            module=None if module is None else str(module),
            op=d["op"],
            inputs=[(u, data) for u, _, data in G.in_edges(nid, data=True)],
        )
    for name, desc in module_desc.items():
        if name in modules:
            modules[name] = desc
    unknown = sorted(m for m in modules if module_desc and m not in module_desc)
    if unknown:
        warnings.warn(
            f"tensors carry module names {unknown} that the model does not have; were its "
            f"submodules called outside the model's forward? Their boxes may merge with the "
            f"model's own.", stacklevel=3)
    return Scene(G, order, nodes, modules, _after_backward(G), out_id)
