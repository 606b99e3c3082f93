r"""Steps by module: which ops of the history make up one layer, and which formula of the
book (`minigrad.reference.layers.LAYER_FORMULAS`) that layer is derived with.

At level="module" a module that has an entry in the formula book (Linear, the activations,
convolution, pooling, batch and layer norm, embedding, dropout, attention) is one step of the
derivation, however many ops it runs; the ops between such modules (a residual ``+ x``, a
``* 2.0``, a reshape in a model's forward) are steps of their own. Without a model, each op
that is a layer by itself (``linear``, ``conv2d``, ``layer_norm``…) is matched to the book's
entry for it. At level="op" every op is a step, with the registry's own labels.

The formulas themselves always come from the traced rules: for a fused op the rule is the
book's compact formula already (batch norm's three terms, attention's
``P ⊙ (∇P − rowsum(∇P ⊙ P))``), and `check_with_book` runs the book's own numpy formula on the
same δ to confirm that the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

__all__ = ["Unit", "units", "book_labels", "check_with_book"]

# ops that are a whole layer of the book by themselves
BOOK_BY_OP = {
    "linear": "Linear", "conv1d": "Conv1d", "conv2d": "Conv2d", "relu": "ReLU",
    "tanh": "Tanh", "sigmoid": "Sigmoid", "leaky_relu": "LeakyReLU", "gelu": "GELU",
    "softplus": "Softplus", "max_pool2d": "MaxPool2d", "avg_pool2d": "AvgPool2d",
    "layer_norm": "LayerNorm", "embedding": "Embedding", "dropout": "Dropout",
}
LOSS_LABELS = {
    "cross_entropy": "softmax + cross-entropy: ∇a = ŷ − e(ℓ) (÷N for a mean)",
    "nll_loss": "negative log-likelihood: ∇(log ŷ) = −e(ℓ) (÷N for a mean)",
    "mse_loss": "squared error: ∇ŷ = 2(ŷ − y) (÷n for a mean)",
    "binary_cross_entropy_with_logits": "binary cross-entropy: ∇z = σ(z) − y (÷n for a mean)",
    "scaled_dot_product_attention": "attention: ∇V = Pᵀδ, ∇P = δVᵀ, "
                                    "∇S = P ⊙ (∇P − rowsum(∇P ⊙ P)), ∇Q = ∇S K/√d, "
                                    "∇K = ∇Sᵀ Q/√d",
}


@dataclass
class Unit:
    """The ops (their outputs, ``fids``, in backward order) that one step derives.

    Attributes:
        output: the unit's output (its first op in backward order).
        module: the module's dotted path, or None.
        kind: the book's entry (``"Linear"``), the op's name for glue, or the module's class.
        labels: the formula used, one line.
        book: whether the formula is the book's.
    """

    output: int
    fids: list[int] = field(default_factory=list)
    module: str | None = None
    kind: str = ""
    labels: str = ""
    book: bool = False
    module_object: Any = None


def book_labels(entry: str) -> str | None:
    """The book's formulas for a layer, one line: ``Linear: ∇x = Wᵀ·δ, ∇weight = δ·hᵀ…``."""
    from minigrad.reference.layers import LAYER_FORMULAS

    f = LAYER_FORMULAS.get(entry)
    if f is None:
        return None
    parts = [f"∇{k} = {v}" for k, v in f.labels.items() if k != "out"]
    return f"{entry}: " + ", ".join(parts)


def _registry_labels(op: Any) -> str:
    if op.variadic:
        return f"{op.name}: {op.formula}; each input ← {op.grad_formulas[0]}"
    return f"{op.name}: {op.formula}; " + ", ".join(
        f"input {i} ← {g}" for i, g in enumerate(op.grad_formulas))


def units(visits: list[Any], F: nx.DiGraph, model: Any, level: str) -> list[Unit]:
    """The steps of a derivation: one per op at level="op", one per module with a formula (or
    per glue op) at level="module"."""
    from minigrad.reference.layers import formula_for

    named = dict(model.named_modules()) if model is not None and hasattr(
        model, "named_modules") else {}
    out: list[Unit] = []
    by_module: dict[str, Unit] = {}
    for v in visits:
        d = F.nodes[v.fid]
        op = d["tensor"]._ctx.op
        if level == "module" and named:
            path = d["module"]
            found = None
            if path:
                parts = str(path).split(".")
                for i in range(1, len(parts) + 1):
                    p = ".".join(parts[:i])
                    m = named.get(p)
                    if m is not None and formula_for(m)[1] is not None:
                        found = (p, m)
                        break
            if found is not None:
                p, m = found
                u = by_module.get(p)
                if u is None:
                    kind = formula_for(m)[0]
                    u = by_module[p] = Unit(v.fid, [], p, kind, book_labels(kind) or kind, True,
                                            m)
                    out.append(u)
                u.fids.append(v.fid)
                continue
        if level == "module":
            entry = BOOK_BY_OP.get(op.name)
            if op.name == "batch_norm":
                entry = "BatchNorm2d" if len(d["shape"]) == 4 else "BatchNorm1d"
            labels = book_labels(entry) if entry else None
            if entry is not None and labels is not None:
                out.append(Unit(v.fid, [v.fid], d["module"] or None, entry, labels, True))
                continue
            if op.name in LOSS_LABELS:
                out.append(Unit(v.fid, [v.fid], d["module"] or None, op.name,
                                LOSS_LABELS[op.name], True))
                continue
        out.append(Unit(v.fid, [v.fid], d["module"] or None, op.name, _registry_labels(op)))
    return out


def check_with_book(unit: Unit, F: nx.DiGraph, delta: np.ndarray,
                    sent: dict[int, np.ndarray]) -> bool | None:
    """Whether the book's formula for `unit`'s module, run on the δ arriving, gives the
    gradients the traced rules sent (`sent`: input or parameter id → gradient). None when it
    cannot be run here (no module, or the book does not cover this case)."""
    from minigrad.reference.layers import LAYER_FORMULAS

    m = unit.module_object
    f = LAYER_FORMULAS.get(unit.kind)
    if m is None or f is None or f.applies(m) is not None:
        return None
    inside = set(unit.fids)
    owned = {id(p): n for n, p in m.named_parameters()}
    inputs: list[Any] = []
    for fid in reversed(unit.fids):  # forward order: the layer's first op first
        for x in F.nodes[fid]["tensor"]._ctx.inputs:
            if id(x) in inside or id(x) in owned or any(y is x for y in inputs):
                continue
            if F.nodes[id(x)]["is_leaf"] and x.data.dtype.kind != "f" and unit.kind != \
                    "Embedding":
                continue  # a mask the layer made
            inputs.append(x)
    xs = [np.asarray(x.data, np.float64) if x.data.dtype.kind == "f" else np.asarray(x.data)
          for x in inputs]
    y = np.asarray(F.nodes[unit.output]["tensor"].data, np.float64)
    try:
        _, cache = f.forward(m, xs, y)
        got = f.backward(m, xs, cache, np.asarray(delta, np.float64))
    except Exception:  # noqa: BLE001  (a case the book does not cover: not checked)
        return None
    for k, x in enumerate(inputs):
        key = "x" if k == 0 else f"x{k}"
        if key in got and id(x) in sent and not _close(got[key], sent[id(x)]):
            return False
    for name, p in m.named_parameters():
        if name in got and id(p) in sent and not _close(got[name], sent[id(p)]):
            return False
    return True


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return False
    scale = max(1.0, float(np.max(np.abs(b))) if b.size else 1.0)
    return bool(np.all(np.abs(a - b) <= 1e-6 * scale))
