r"""`compare` for any model built from minigrad's layers: autograd beside each layer's
hand-derived formulas (`minigrad.reference.layers`), module by module.

The model runs once with autograd; its loss's graph records, on every tensor, the module
that made it (``tensor.module``), so the graph knows the order the forward ran the modules
in. Each module with a formula is one *unit*: the tensors made inside it, its input(s)
(tensors from outside that it used) and its one output. Then:

- forward, per unit: the formula applied to autograd's own inputs of that layer, beside
  autograd's output (``out``);
- backward, from the loss down, per unit: the formula's gradients for the input and each
  parameter, beside autograd's (its gradient *through this layer*, by the engine's own rules
  over the layer's ops). Two numbers per row: ``max|Δ|`` against the whole chain of formulas
  from the loss down (every δ comes from the formulas above it: a wrong formula shows at its
  row and at every row below it) and ``step``, the formula applied to autograd's own δ at the
  layer's output (a wrong formula shows at its row only).

Ops that no module with a formula made are passed through with autograd's rules, without a
row: the glue between layers (a residual ``x + f(x)``, a reshape in a model's forward, the
adds of token and position embeddings). A module without a formula (a custom layer with no
children) gets "no formula" rows, and the chain goes on below it with autograd's gradient
through it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from minigrad.reference import layers as _layers
from minigrad.reference import losses as _losses

__all__ = ["LayerReport", "LayerRow", "compare_layers"]


@dataclass
class LayerRow:
    """One quantity of one layer.

    Attributes:
        index: the layer's place in the forward order (1, 2, …; 0 for the loss).
        module: the module's dotted name (``"<model>"`` for the model itself, ``"(loss)"``).
        layer: its class (``"Conv2d"``) or the loss's name.
        quantity: ``"out"`` (forward) or ``"∇x"``, ``"∇weight"``, … (backward).
        formula: the formula's label; for a layer without a formula, why.
        kind: ``"forward"`` or ``"backward"``.
        shape: the shape compared.
        max_abs: ``max |autograd − formula|`` (the chain of formulas, for gradients); None
            without a formula.
        max_rel: ``max_abs / max |formula|``.
        step_rel: gradients only: the relative error of the formula applied to autograd's
            own δ at the layer's output.
        tol: the tolerance.
        status: ``"match"``, ``"differs"`` or ``"no formula"``.
        step_passed: gradients only: whether the step alone is within tolerance (False
            points at the layer whose formula is wrong).
    """

    index: int
    module: str
    layer: str
    quantity: str
    formula: str
    kind: str
    shape: tuple[int, ...]
    max_abs: float | None
    max_rel: float | None
    step_rel: float | None
    tol: float
    status: str
    step_passed: bool | None = None

    @property
    def passed(self) -> bool:
        return self.status == "match"


@dataclass
class LayerReport:
    """The comparison of a model with its layers' formulas; ``str(report)`` is a table and
    ``report.ok`` is True when every compared row matches."""

    rows: list[LayerRow]
    model: str
    loss: str
    reduction: str
    dtype: str
    input_shape: tuple[int, ...]
    tol: float
    output: Any = field(default=None, repr=False, compare=False)
    """The loss tensor of the autograd run, e.g. to draw its graph."""

    @property
    def ok(self) -> bool:
        compared = [r for r in self.rows if r.status != "no formula"]
        return bool(compared) and all(r.passed for r in compared)

    @property
    def failed(self) -> list[LayerRow]:
        return [r for r in self.rows if r.status == "differs"]

    @property
    def no_formula(self) -> list[LayerRow]:
        return [r for r in self.rows if r.status == "no formula"]

    def to_dict(self) -> dict[str, Any]:
        rows = []
        for r in self.rows:
            d = {k: getattr(r, k) for k in ("index", "module", "layer", "quantity", "formula",
                                             "kind", "max_abs", "max_rel", "step_rel", "tol",
                                             "status")}
            d["shape"] = list(r.shape)
            d["passed"] = r.passed
            rows.append(d)
        return {"model": self.model, "loss": self.loss, "reduction": self.reduction,
                "dtype": self.dtype, "input_shape": list(self.input_shape), "tol": self.tol,
                "ok": self.ok, "rows": rows}

    def __str__(self) -> str:
        head = (f"autograd vs the hand-derived formulas, layer by layer: {self.model}, loss "
                f"{self.loss} ({self.reduction}), x {self.input_shape}, {self.dtype}, "
                f"tol {self.tol:g}")
        table = [["", "", "", "shape", "max|Δ|", "rel", "step", ""]]

        def num(v: float | None) -> str:
            return "" if v is None else f"{v:.1e}"

        for r in self.rows:
            where = r.module if r.module.startswith("(") else f"{r.module} ({r.layer})"
            mark = {"match": "✓", "differs": "✗ FAIL", "no formula": "no formula"}[r.status]
            table.append([where, r.quantity, ("= " + r.formula) if r.status != "no formula"
                          else r.formula, str(r.shape), num(r.max_abs), num(r.max_rel),
                          num(r.step_rel), mark])
        widths = [max(len(t[i]) for t in table) for i in range(len(table[0]))]
        lines = [head]
        kinds = [None] + [r.kind for r in self.rows]
        for i, t in enumerate(table):
            if i and kinds[i] != kinds[i - 1]:
                lines.append(f"{kinds[i]}:")
            lines.append("  " + "  ".join(c.ljust(w) for c, w in zip(t, widths)).rstrip())
        lines.append("max|Δ| = max |autograd − formula|, the gradients from the chain of "
                     "formulas from the loss down; rel = max|Δ| / max |formula|;")
        lines.append("step = the layer's formula applied to autograd's own inputs and δ")
        n_compared = len(self.rows) - len(self.no_formula)
        tail = (f"all {n_compared} rows match" if self.ok
                else f"{len(self.failed)} of {n_compared} rows differ: "
                + ", ".join(f"{r.module} {r.quantity}" for r in self.failed))
        if self.no_formula:
            mods = sorted({r.module for r in self.no_formula})
            tail += f"; no formula for {', '.join(mods)}"
        lines.append(tail)
        return "\n".join(lines)


@dataclass
class _Unit:
    name: str
    module: Any
    layer: str
    formula: _layers.LayerFormula | None
    why: str
    nodes: set[int]
    out: int = -1
    inputs: list[int] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    cache: Any = None


def _errors(got: np.ndarray, want: np.ndarray) -> tuple[float, float, float]:
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return math.inf, math.inf, 1.0  # a formula of the wrong shape (a missing transpose)
    if got.size == 0:
        return 0.0, 0.0, 1.0
    d = float(np.max(np.abs(got - want)))
    m = float(np.max(np.abs(want)))
    if math.isnan(d):
        d = math.inf
    rel = d / m if m > 0 else (0.0 if d == 0 else math.inf)
    return d, rel, max(1.0, m)


def _units(G: Any, order: list[int], model: Any) -> tuple[dict[int, _Unit], list[_Unit]]:
    """Which unit each node belongs to (glue nodes belong to none), units in forward order."""
    named = dict(model.named_modules())
    by_path: dict[str, _Unit] = {}
    of_node: dict[int, _Unit] = {}
    for nid in order:
        path = G.nodes[nid]["module"]
        if not path or G.nodes[nid]["is_leaf"]:
            continue
        parts = str(path).split(".")
        unit_path = None
        for i in range(1, len(parts) + 1):
            p = ".".join(parts[:i])
            m = named.get(p)
            if m is not None and _layers.formula_for(m)[1] is not None:
                unit_path = p
                break
        if unit_path is None:
            m = named.get(str(path))
            if m is None or any(True for _ in m.named_children()):
                continue  # a container's own ops: glue
            unit_path = str(path)
        u = by_path.get(unit_path)
        if u is None:
            m = named[unit_path]
            why, f = _layers.formula_for(m)
            u = _Unit(unit_path, m, type(m).__name__, f, why, set())
            by_path[unit_path] = u
        u.nodes.add(nid)
        of_node[nid] = u
    index = {nid: i for i, nid in enumerate(order)}
    units = []
    for u in by_path.values():
        owned = {id(p): n for n, p in u.module.named_parameters()}
        if hasattr(u.module, "named_buffers"):
            owned.update({id(b): n for n, b in u.module.named_buffers()})
        outs = [n for n in u.nodes if any(v not in u.nodes for v in G.successors(n))]
        # inputs in the order the layer's ops take them: x before a constant it multiplies by
        for n in sorted(u.nodes, key=index.__getitem__):
            for a in G.nodes[n]["tensor"]._ctx.inputs:
                aid = id(a)
                if aid in u.nodes or aid in u.inputs:
                    continue
                if aid in owned:
                    u.params[owned[aid]] = a
                elif G.nodes[aid]["is_leaf"] and _inside(G.nodes[aid]["module"], u.name):
                    continue  # a constant the layer made itself (a mask): part of it
                else:
                    u.inputs.append(aid)
        if len(outs) != 1:
            u.formula, u.why = None, f"{len(outs)} outputs (called more than once?)"
            outs = sorted(outs, key=index.__getitem__)[-1:]
        u.out = outs[0]
        units.append(u)
    units.sort(key=lambda u: index[u.out])
    return of_node, units


def _inside(module: Any, path: str) -> bool:
    return bool(module) and (path == "" or module == path or str(module).startswith(path + "."))


def _local_vjp(G: Any, nodes: set[int], out: int, delta: np.ndarray) -> dict[int, np.ndarray]:
    """Autograd's gradient through the ops of `nodes` alone, from δ at `out`: the engine's
    own sweep (`minigrad.autograd.sweep`) with every other tensor a leaf. Returns the
    gradient reaching every tensor those ops read (and δ at `out`)."""
    from minigrad import autograd

    steps = autograd.sweep([G.nodes[out]["tensor"]], [delta], aside=True, within=nodes)
    return {id(t): np.asarray(g, dtype=np.float64) for t, g, _ in steps}


def compare_layers(model: Any, x: Any, y: Any, loss: str = "ce", reduction: str = "mean",
                   dtype: Any = None, keep_grads: bool = False) -> LayerReport:
    """Runs `model` on `x` with autograd and sets every layer beside its formulas.

    Args:
        model: any ``nn.Module`` built from minigrad's layers (custom layers allowed).
        x: the input batch; float inputs get a gradient row (``∇x``), integer inputs
            (token indices) are fed as they are.
        y: class indices for ``"ce"`` (any shape; the logits' last axis is the class
            axis), targets of the output's shape for ``"mse"``.
        loss: ``"ce"`` (``F.cross_entropy``) or ``"mse"`` (``F.mse_loss``).
        reduction: ``"mean"`` or ``"sum"``.
        dtype: the dtype whose tolerance applies; default: the parameters' dtype.
        keep_grads: leave this run's gradients in the parameters' ``.grad`` (replacing what
            was there). By default no ``.grad`` is touched: autograd's gradients come from
            its own sweep (`minigrad.grad`).

    Returns:
        a `LayerReport`.
    """
    import minigrad
    import minigrad.functional as F
    from minigrad.graph import topological_order
    from minigrad.reference.comparison import _as_dtype, tolerance
    from minigrad.tensor import Tensor

    _losses._check(loss, reduction)
    params = list(model.parameters())
    p_dtype = params[0].data.dtype if params else np.dtype(np.float64)
    dt = _as_dtype(dtype) if dtype is not None else p_dtype
    tol = tolerance(dt)
    X = np.asarray(getattr(x, "data", x))
    if X.dtype.kind == "f":
        xt = Tensor(X.astype(p_dtype), requires_grad=True, name="x")
    else:
        xt = Tensor(X, name="x")
    # a forward in training mode moves batch norm's running statistics: put them back after,
    # so that comparing leaves the model as it was
    buffers = [(b, b.data.copy()) for b in getattr(model, "buffers", lambda: [])()]
    try:
        logits = model(xt)
    finally:
        for b, saved in buffers:
            b.data[...] = saved
    if not isinstance(logits, Tensor):
        raise TypeError(f"compare: the model returned a {type(logits).__name__}, not a Tensor")
    Y = np.asarray(getattr(y, "data", y))
    if loss == "ce":
        C = logits.shape[-1]
        flat = logits.reshape((-1, C)) if logits.ndim > 2 else logits
        if Y.size != flat.shape[0] or Y.dtype.kind not in "iu":
            raise ValueError(f"compare: cross-entropy needs one integer class per row of the "
                             f"logits {tuple(logits.shape)}, got y of {Y.dtype} shape {Y.shape}")
        Y = Y.reshape(-1).astype(np.intp)
        out = F.cross_entropy(flat, Tensor(Y, name="ℓ"), reduction=reduction)
    else:
        if Y.shape != tuple(logits.shape):
            raise ValueError(f"compare: squared error needs targets of the output's shape "
                             f"{tuple(logits.shape)}, got {Y.shape}")
        flat = logits
        out = F.mse_loss(logits, Tensor(Y.astype(p_dtype), name="y"), reduction=reduction)
    out.name = "L"

    G = minigrad.graph(out)
    order = topological_order(G)
    of_node, units = _units(G, order, model)

    # autograd's gradients at every layer's output, inputs and parameters, by its own sweep
    wanted: dict[int, Any] = {}
    for u in units:
        for nid in [u.out, *u.inputs]:
            t = G.nodes[nid]["tensor"]
            if t.requires_grad:
                wanted[nid] = t
        for p in u.params.values():
            if p.requires_grad:
                wanted[id(p)] = p
    wanted[id(flat)] = flat
    got = minigrad.grad(out, list(wanted.values()), retain_graph=True, allow_unused=True)
    auto = {nid: (np.zeros(t.shape) if g is None else np.asarray(g.data, np.float64))
            for (nid, t), g in zip(wanted.items(), got)}

    def arr(nid: int) -> np.ndarray:
        return np.asarray(G.nodes[nid]["tensor"].data)

    rows: list[LayerRow] = []

    def add(u: _Unit | None, idx: int, quantity: str, formula: str, kind: str,
            autograd: np.ndarray, chain: np.ndarray | None, step: np.ndarray | None) -> None:
        module = "(loss)" if u is None else (u.name or "<model>")
        layer = loss if u is None else u.layer
        if chain is None:
            rows.append(LayerRow(idx, module, layer, quantity, formula, kind,
                                 tuple(np.shape(autograd)), None, None, None, tol,
                                 "no formula"))
            return
        d, rel, scale = _errors(autograd, chain)
        ok = d <= tol * scale
        step_rel = step_ok = None
        if step is not None:
            sd, step_rel, sscale = _errors(autograd, step)
            step_ok = sd <= tol * sscale
            ok = ok and step_ok
        rows.append(LayerRow(idx, module, layer, quantity, formula, kind,
                             tuple(np.shape(autograd)), d, rel, step_rel, tol,
                             "match" if ok else "differs", step_ok))

    # --- forward: each formula on autograd's own inputs of its layer
    position = {id(u): i for i, u in enumerate(units, start=1)}
    for u in units:
        xs = [np.asarray(arr(n), np.float64) if arr(n).dtype.kind == "f" else arr(n)
              for n in u.inputs]
        y_auto = np.asarray(arr(u.out), np.float64)
        if u.formula is None:
            add(u, position[id(u)], "out", u.why, "forward", y_auto, None, None)
            continue
        try:
            y_f, u.cache = u.formula.forward(u.module, xs, y_auto)
        except Exception as e:  # a wrong formula that cannot even run fails its row
            u.formula, u.why = None, f"the formula raised {type(e).__name__}: {e}"
            add(u, position[id(u)], "out", u.why, "forward", y_auto, np.full_like(y_auto, np.nan),
                None)
            continue
        add(u, position[id(u)], "out", u.formula.labels["out"], "forward", y_auto, y_f, None)
    lflat = np.asarray(flat.data, np.float64)
    if loss == "ce":
        L_f = _losses.cross_entropy_forward(lflat, Y, reduction)
        g_f = _losses.cross_entropy_backward(lflat, Y, reduction)
        labels = ("−log ŷ_ℓ", "ŷ − e(ℓ)" + (" (÷N)" if reduction == "mean" else ""))
    else:
        L_f = _losses.mse_forward(lflat, Y.astype(np.float64), reduction)
        g_f = _losses.mse_backward(lflat, Y.astype(np.float64), reduction)
        labels = ("mean (ŷ − y)²" if reduction == "mean" else "Σ (ŷ − y)²",
                  "2(ŷ − y)" + (" (÷n)" if reduction == "mean" else ""))
    add(None, 0, "L", labels[0], "forward", np.asarray(out.data, np.float64), np.asarray(L_f),
        None)

    # --- backward: the chain of formulas from the loss down, beside autograd
    chain: dict[int, np.ndarray] = {id(flat): g_f}
    add(None, 0, "∇logits", labels[1], "backward", auto[id(flat)], g_f, g_f)
    by_out = {u.out: u for u in units}
    for nid in reversed(order):
        t = G.nodes[nid]["tensor"]
        if t._ctx is None or nid == id(out):
            continue
        unit = by_out.get(nid)
        if unit is None and nid in of_node:
            continue  # inside a layer: its unit handles it at its output
        dc = chain.get(nid)
        if dc is None:
            dc = np.zeros(t.shape)
        if unit is None:  # glue: autograd's rule for this one op
            for src, gx in _local_vjp(G, {nid}, nid, dc).items():
                if src != nid:
                    chain[src] = chain[src] + gx if src in chain else gx
            continue
        u = unit
        idx = position[id(u)]
        da = auto.get(nid, np.zeros(t.shape))
        through = _local_vjp(G, u.nodes, nid, da)  # autograd, through this layer
        grad_inputs = [n for n in u.inputs if G.nodes[n]["tensor"].requires_grad]
        if u.formula is None:
            through_chain = _local_vjp(G, u.nodes, nid, dc)
            for n in grad_inputs:
                add(u, idx, "∇x", u.why, "backward", through.get(n, 0 * arr(n)), None, None)
                chain[n] = chain[n] + through_chain[n] if n in chain else through_chain[n]
            for pname, p in u.params.items():
                add(u, idx, f"∇{pname}", u.why, "backward", through.get(id(p), 0 * p.data),
                    None, None)
            continue
        xs = [np.asarray(arr(n), np.float64) if arr(n).dtype.kind == "f" else arr(n)
              for n in u.inputs]
        try:
            f_chain = u.formula.backward(u.module, xs, u.cache, dc)
            f_step = u.formula.backward(u.module, xs, u.cache, da)
        except Exception:  # a formula that cannot run: NaN gradients fail its rows
            f_chain, f_step = {}, {}
        for k, n in enumerate(u.inputs):
            key = "x" if k == 0 else f"x{k}"
            if n not in grad_inputs:
                continue
            nan = np.full(arr(n).shape, np.nan)
            add(u, idx, f"∇{key}", u.formula.labels.get(key, ""), "backward",
                through.get(n, np.zeros(arr(n).shape)), f_chain.get(key, nan),
                f_step.get(key, nan))
            g = f_chain.get(key, nan)
            chain[n] = chain[n] + g if n in chain else g
        for pname, p in u.params.items():
            if not p.requires_grad:
                continue
            add(u, idx, f"∇{pname}", u.formula.labels.get(pname, ""), "backward",
                through.get(id(p), np.zeros(p.shape)), f_chain.get(pname, np.full(p.shape,
                                                                                   np.nan)),
                f_step.get(pname, np.full(p.shape, np.nan)))

    if keep_grads:
        for p in params:
            p.grad = None
        out.backward()
    return LayerReport(rows, type(model).__name__, loss, reduction, str(np.dtype(dt)),
                       tuple(X.shape), tol, output=out)
