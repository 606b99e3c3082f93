r"""The names a derivation writes: the lecture's symbols where the model is a stack of layers,
otherwise dotted parameter names and the tensors' own names.

A *stack of layers* is a history in which every tensor feeds at most one op (no skip
connection, no weight used twice) and at least one op is a layer (``linear``, ``conv1d``,
``conv2d``, or a ``matmul`` with a parameter). Its tensors are named as the lecture, the
diagrams and `minigrad.reference.compare` name them, counting layers in forward order:

- layer k's output ``a_k``, its weight ``W_k`` and bias ``b_k``, its input ``h_{k−1}``
  (so the network's input is ``h_0``, the lecture's ``x = h_0``);
- the activation after layer k ``h_k`` (when it is what layer k + 1 reads);
- the loss ``L``, its target ``ℓ`` (class indices) or ``y`` (values); with squared error the
  prediction (the identity output ``a_L``) is ``ŷ``;
- a batch or layer norm's scale and shift after layer k ``γ_k`` and ``β_k``, as the formula
  book writes them.

Elsewhere a parameter takes its dotted name from ``model.named_parameters()`` (or its own
``name``, prefixed with the module that used it), a tensor its ``name``, the inputs of
attention ``Q``, ``K``, ``V``, and any other tensor ``x_i`` (leaves) or ``z_i`` (results of
ops), numbered in forward order among the tensors the derivation mentions.

Every name has a Unicode form (``W_1``, ``ŷ``) and a LaTeX form (``W_1``, ``\hat{y}``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import networkx as nx

__all__ = ["LAYER_OPS", "ACTIVATION_OPS", "LOSS_OPS", "Names", "latex_name"]

LAYER_OPS = frozenset({"linear", "conv1d", "conv2d"})
ACTIVATION_OPS = frozenset({"relu", "leaky_relu", "sigmoid", "tanh", "softplus", "gelu"})
LOSS_OPS = frozenset({"cross_entropy", "nll_loss", "mse_loss",
                      "binary_cross_entropy_with_logits"})
# ops that act on each element alone: a vector of examples stays one through them
ELEMENTWISE = frozenset({
    "add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs", "clip", "maximum",
    "minimum", "where", "astype", "dropout", "masked_fill", "softmax", "log_softmax",
    "layer_norm", "batch_norm",
}) | ACTIVATION_OPS

_GREEK = {"ŷ": r"\hat{y}", "ℓ": r"\ell", "σ": r"\sigma", "δ": r"\delta", "γ": r"\gamma",
          "β": r"\beta", "μ": r"\mu", "x̂": r"\hat{x}", "∇": r"\nabla "}


def latex_name(name: str) -> str:
    r"""A name in LaTeX: ``W_1`` → ``W_1``, ``a_10`` → ``a_{10}``, ``ŷ`` → ``\hat{y}``,
    ``layers.0.weight`` → ``\mathtt{layers.0.weight}``."""
    if name in _GREEK:
        return _GREEK[name]
    m = re.fullmatch(r"([A-Za-zŷℓσδγβμ])_(\w+)", name)
    if m:
        base = _GREEK.get(m.group(1), m.group(1))
        sub = m.group(2)
        return f"{base}_{sub}" if len(sub) == 1 else f"{base}_{{{sub}}}"
    if re.fullmatch(r"[A-Za-z]", name):
        return name
    esc = name.replace("\\", r"\backslash ").replace("_", r"\_").replace("#", r"\#")
    for k, v in _GREEK.items():
        esc = esc.replace(k, "{" + v + "}")
    return rf"\mathtt{{{esc}}}"


def _follow_back(F: nx.DiGraph, nid: int) -> int:
    """The tensor `nid` is a transposed or reshaped view of (a weight behind ``W.T``)."""
    for _ in range(8):
        if F.nodes[nid]["op"] not in ("transpose", "reshape", "astype"):
            break
        preds = list(F.predecessors(nid))
        if len(preds) != 1:
            break
        nid = preds[0]
    return nid


def _inputs(F: nx.DiGraph, nid: int) -> tuple[Any, ...]:
    ctx = F.nodes[nid]["tensor"]._ctx
    return () if ctx is None else tuple(ctx.inputs)


class Names:
    """The name of every tensor of a forward graph, and which tensors are the lecture's
    pre-activations ``a_k`` (whose gradient is ``δ_k``).

    Attributes:
        stack: the history is a stack of layers (lecture names apply).
        layer: ``{id(a_k): k}``.
        vectors: ids of tensors that are (batches of) the lecture's column vectors, one row
            per example: what a layer reads and writes, and what acts on them element by
            element. A matrix product of such a row with a weight reads as ``W h``.
        loss: the loss's name (``L``).
    """

    def __init__(self, F: nx.DiGraph, order: list[int], loss: Any,
                 params: dict[int, str] | None = None) -> None:
        self.F = F
        self.order = order
        self.index = {nid: i for i, nid in enumerate(order)}
        self.params = params or {}
        self.fixed: dict[int, str] = {}
        self.layer: dict[int, int] = {}
        self.numbered: dict[int, str] = {}
        self.stack = self._is_stack()
        if self.stack:
            self._lecture()
        self._general(loss)
        self.loss = self.fixed.get(id(loss), "L")
        self.vectors = self._vectors()
        # index arrays a rule reads (an embedding's token ids): the tensor they belong to
        self.arrays = {id(F.nodes[n]["tensor"].data): n for n in order
                       if F.nodes[n]["dtype"].kind in "iub"}

    # ------------------------------------------------------------------ which names
    def _is_stack(self) -> bool:
        F = self.F
        layers = 0
        for nid in self.order:
            d = F.nodes[nid]
            if d["dtype"].kind != "f":
                continue
            if F.out_degree(nid) > 1:
                return False
            if d["op"] in LAYER_OPS or self._matmul_layer(nid) is not None:
                layers += 1
            if d["op"] is not None:
                ins = _inputs(F, nid)
                if len({id(x) for x in ins}) != len(ins):
                    return False  # x * x: one tensor read twice
        return layers > 0

    def _matmul_layer(self, nid: int) -> tuple[int, int] | None:
        """For ``h @ W.T`` or ``W @ h`` with a parameter W: (W's id, h's id)."""
        F = self.F
        if F.nodes[nid]["op"] != "matmul":
            return None
        ins = _inputs(F, nid)
        roots = [_follow_back(F, id(x)) for x in ins]
        params = [F.nodes[r]["is_leaf"] and F.nodes[r]["requires_grad"] for r in roots]
        if params[1] and not params[0]:
            return roots[1], id(ins[0])
        if params[0] and not params[1]:
            return roots[0], id(ins[1])
        return None

    def _lecture(self) -> None:
        F = self.F
        fixed = self.fixed
        k = 0
        data_inputs: dict[int, int] = {}
        for nid in self.order:
            op = F.nodes[nid]["op"]
            if op is None:
                continue
            ins = _inputs(F, nid)
            if op in ("batch_norm", "layer_norm"):  # the book's γ and β, after layer k
                tag = f"_{k}" if k else ""
                for x, sym in zip(ins[1:3], ("γ", "β")):
                    if F.nodes[id(x)]["is_leaf"] and F.nodes[id(x)]["requires_grad"]:
                        fixed.setdefault(id(x), f"{sym}{tag}")
                continue
            if op in LAYER_OPS:
                k += 1
                h, W = id(ins[0]), id(ins[1])
                b = id(ins[2]) if len(ins) > 2 else None
                out = nid
            else:
                mm = self._matmul_layer(nid)
                if mm is None:
                    continue
                k += 1
                W, h = mm
                b = None
                out = nid
                succ = list(F.successors(nid))
                if len(succ) == 1 and F.nodes[succ[0]]["op"] == "add":
                    other = [id(x) for x in _inputs(F, succ[0]) if id(x) != nid]
                    if other and F.nodes[other[0]]["is_leaf"] and \
                            F.nodes[other[0]]["requires_grad"]:
                        b, out = other[0], succ[0]
            self.layer[out] = k
            fixed[out] = f"a_{k}"
            fixed.setdefault(W, f"W_{k}")
            if b is not None:
                fixed.setdefault(b, f"b_{k}")
            data_inputs[k] = h
        for k, h in data_inputs.items():
            fixed.setdefault(h, f"h_{k - 1}")
        # the activation after layer k is h_k when layer k + 1 does not read something else
        taken = set(fixed.values())
        for nid in self.order:
            if F.nodes[nid]["op"] in ACTIVATION_OPS and nid not in fixed:
                src = id(_inputs(F, nid)[0])
                layer = self.layer.get(src)
                if layer is not None and f"h_{layer}" not in taken:
                    fixed[nid] = f"h_{layer}"
                    taken.add(f"h_{layer}")

    def _general(self, loss: Any) -> None:
        """The names the lecture does not give: the loss and its target, the model's dotted
        parameter names, attention's Q, K, V and O, numbers, and the tensors' own names."""
        used = set(self.fixed.values())
        self._name_loss(loss, used)
        for nid, name in self.params.items():
            if nid in self.F:
                self._take(nid, name, used)
        self._name_attention(used)
        self._name_the_rest(used)

    def _take(self, nid: int, name: str, used: set[str]) -> None:
        """Names `nid` `name` unless it has a name already (``name#2`` when `name` is taken)."""
        if nid in self.fixed:
            return
        base, j = name, 2
        while name in used:
            name = f"{base}#{j}"
            j += 1
        self.fixed[nid] = name
        used.add(name)

    def _name_loss(self, loss: Any, used: set[str]) -> None:
        """``L``, its target ``ℓ`` or ``y``, and with squared error after a stack of layers
        the prediction ``ŷ``."""
        F = self.F
        lid = id(loss)
        self._take(lid, str(loss.name) if loss.name else "L", used)
        if F.nodes[lid]["op"] not in LOSS_OPS:
            return
        ins = _inputs(F, lid)
        if len(ins) > 1:
            t = ins[1]
            self._take(id(t), t.name or ("ℓ" if t.data.dtype.kind in "iub" else "y"), used)
        if F.nodes[lid]["op"] == "mse_loss" and self.stack:
            pred = id(ins[0])
            if pred in self.layer:
                self.fixed[pred] = "ŷ"
                used.add("ŷ")

    def _name_attention(self, used: set[str]) -> None:
        """The unnamed inputs of attention ``Q``, ``K``, ``V`` and its output ``O`` (numbered
        when there are several)."""
        F = self.F
        attention = [nid for nid in self.order
                     if F.nodes[nid]["op"] == "scaled_dot_product_attention"]
        for j, nid in enumerate(attention, start=1):
            tag = f"_{j}" if len(attention) > 1 else ""
            for x, sym in zip(_inputs(F, nid)[:3], "QKV"):
                if not x.name:
                    self._take(id(x), f"{sym}{tag}", used)
            if not F.nodes[nid]["name"]:
                self._take(nid, f"O{tag}", used)

    def _name_the_rest(self, used: set[str]) -> None:
        """A number by its value (``x * 2.0``: ``2``), a tensor by its own name (a parameter
        outside a stack of layers prefixed with the module that uses it)."""
        F = self.F
        for nid in self.order:
            d = F.nodes[nid]
            if nid in self.fixed:
                continue
            t = d["tensor"]
            if d["is_leaf"] and not d["requires_grad"] and not d["name"] and t.data.ndim == 0 \
                    and t.data.dtype.kind in "fiu":
                from minigrad.derive import scalars

                self.fixed[nid] = scalars.text(scalars.number(float(t.data)))
                continue
            if d["name"]:
                name = str(d["name"])
                if d["is_leaf"] and d["requires_grad"] and not self.stack:
                    users = [F.nodes[s]["module"] for s in F.successors(nid)]
                    if users and users[0]:
                        name = f"{users[0]}.{name}"
                self._take(nid, name, used)

    def number(self, fids: Iterable[int]) -> None:
        """Gives the unnamed tensors among `fids` the names ``x_i`` (leaves) and ``z_i``,
        numbered in forward order."""
        used = set(self.fixed.values()) | set(self.numbered.values())
        counts = {"x": sum(1 for v in used if re.fullmatch(r"x_\d+", v)),
                  "z": sum(1 for v in used if re.fullmatch(r"z_\d+", v))}
        for fid in sorted(set(fids), key=lambda f: self.index.get(f, -1)):
            if fid in self.fixed or fid in self.numbered:
                continue
            kind = "x" if self.F.nodes[fid]["is_leaf"] else "z"
            counts[kind] += 1
            name = f"{kind}_{counts[kind]}"
            while name in used:
                counts[kind] += 1
                name = f"{kind}_{counts[kind]}"
            self.numbered[fid] = name
            used.add(name)

    def text(self, fid: int) -> str:
        name = self.fixed.get(fid) or self.numbered.get(fid)
        if name is None:
            self.number([fid])
            name = self.numbered[fid]
        return name

    def latex(self, fid: int) -> str:
        return latex_name(self.text(fid))

    def is_parameter(self, fid: int) -> bool:
        d = self.F.nodes[fid]
        return bool(d["is_leaf"] and d["requires_grad"])

    # ------------------------------------------------------------------ layout
    def _vectors(self) -> set[int]:
        """Tensors that hold one of the lecture's column vectors per row (see the class)."""
        F = self.F
        vec: set[int] = set()
        for nid in self.order:
            d = F.nodes[nid]
            op = d["op"]
            if op == "linear" or (op == "matmul" and self._matmul_layer(nid) is not None):
                ins = _inputs(F, nid)
                vec.add(nid)
                mm = self._matmul_layer(nid) if op == "matmul" else None
                vec.add(id(ins[0]) if mm is None else mm[1])
            elif op in LOSS_OPS:
                for x in _inputs(F, nid)[:2]:
                    if x.data.dtype.kind == "f":
                        vec.add(id(x))
        for nid in self.order:
            d = F.nodes[nid]
            if len(d["shape"]) == 1 and d["dtype"].kind == "f" and not self.is_parameter(nid):
                vec.add(nid)
        for _ in range(3):  # element by element, both ways
            for nid in self.order:
                op = F.nodes[nid]["op"]
                if op not in ELEMENTWISE:
                    continue
                shape = F.nodes[nid]["shape"]
                same = [id(x) for x in _inputs(F, nid) if x.data.shape == shape
                        and x.data.dtype.kind == "f"]
                if nid in vec or any(s in vec for s in same):
                    vec.add(nid)
                    vec.update(s for s in same if not self.is_parameter(s))
        return {v for v in vec if len(F.nodes[v]["shape"]) >= 1}

