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

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from minigrad.reference import layers as _layers
from minigrad.reference import losses as _losses
from minigrad.reference import measure as _measure
from minigrad.reference.diagnosis import Compared, Search, diagnose_compared
from minigrad.reference.rules import Rules

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
        diagnosis: a failing row's `minigrad.reference.diagnosis.Diagnosis` (the formula's
            value against autograd's; ``inherited`` when only the chain above is wrong).
        note: ``"no path to the loss"`` or ``"gradient is zero here"`` for a gradient that
            autograd does not give at all or gives as exactly 0, else ``""``.
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
    diagnosis: Any = None
    note: str = ""

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
            d["note"] = r.note
            d["diagnosis"] = None if r.diagnosis is None else r.diagnosis.to_dict()
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
                          num(r.step_rel), mark + (f" ({r.note})" if r.note else "")])
        lines = [head, *_measure.table_lines(
            table, [r.kind for r in self.rows],
            [_measure.diagnosis_lines(r.diagnosis) for r in self.rows])]
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


def _units(G: Any, order: list[int], model: Any) -> tuple[dict[int, _Unit], list[_Unit]]:
    """Which unit each node belongs to (glue nodes belong to none), units in forward order."""
    named = dict(model.named_modules())
    by_path: dict[str, _Unit] = {}
    of_node: dict[int, _Unit] = {}
    for nid in order:
        path = G.nodes[nid]["module"]
        if not path or G.nodes[nid]["is_leaf"]:
            continue
        unit_path = _unit_path(str(path), named)
        if unit_path is None:
            continue  # a container's own ops: glue
        u = by_path.get(unit_path)
        if u is None:
            m = named[unit_path]
            why, f = _layers.formula_for(m)
            u = _Unit(unit_path, m, type(m).__name__, f, why, set())
            by_path[unit_path] = u
        u.nodes.add(nid)
        of_node[nid] = u
    index = {nid: i for i, nid in enumerate(order)}
    units = [_wire(G, u, index) for u in by_path.values()]
    units.sort(key=lambda u: index[u.out])
    return of_node, units


def _unit_path(path: str, named: dict[str, Any]) -> str | None:
    """The unit an op made inside the module at `path` belongs to: the outermost module
    with a formula around it, else the module itself if it has no children (a custom layer
    without a formula); None for a container's own ops."""
    parts = path.split(".")
    for i in range(1, len(parts) + 1):
        p = ".".join(parts[:i])
        m = named.get(p)
        if m is not None and _layers.formula_for(m)[1] is not None:
            return p
    m = named.get(path)
    if m is None or any(True for _ in m.named_children()):
        return None
    return path


def _wire(G: Any, u: _Unit, index: dict[int, int]) -> _Unit:
    """Finds the unit's inputs, parameters and one output in the graph."""
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
    return u


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
    _losses.check_loss(loss, reduction)
    params = list(model.parameters())
    p_dtype = params[0].data.dtype if params else np.dtype(np.float64)
    dt = _measure.as_dtype(dtype) if dtype is not None else p_dtype
    tol = _measure.tolerance(dt)
    X = np.asarray(getattr(x, "data", x))
    logits = _forward(model, X, p_dtype)
    loss_in, Y, out = _loss(logits, y, loss, reduction, p_dtype)
    run = _autograd(model, out, loss_in)
    table = _Table(loss, tol)
    _forward_rows(table, run)
    delta = _loss_rows(table, run, loss_in, Y, loss, reduction)
    _backward_rows(table, run, delta)
    n = loss_in.numel() if loss == "mse" else loss_in.numel() // max(loss_in.shape[-1], 1)
    table.diagnose({n: "the batch size"} if reduction == "mean" and n > 1 else {})
    if keep_grads:
        for p in params:
            p.grad = None
        out.backward()
    return LayerReport(table.rows, type(model).__name__, loss, reduction, str(np.dtype(dt)),
                       tuple(X.shape), tol, output=out)


# --------------------------------------------------------------------------- autograd's run
def _forward(model: Any, X: np.ndarray, p_dtype: np.dtype) -> Any:
    """``model(x)`` with autograd: a float x requires grad (it gets a ``∇x`` row), integer
    indices are fed as they are. The model's buffers are left as they were."""
    from minigrad.tensor import Tensor

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
    return logits


def _loss(logits: Any, y: Any, loss: str, reduction: str, p_dtype: np.dtype,
          ) -> tuple[Any, np.ndarray, Any]:
    """The loss's input (the logits, one row per class prediction for ``"ce"``), the
    targets as the formulas take them, and the loss tensor ``L``."""
    import minigrad.functional as F
    from minigrad.tensor import Tensor

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
    return flat, Y, out


@dataclass
class _Run:
    """Autograd's run: the loss's graph in forward order, its layers (units), and autograd's
    gradient at every layer's output, inputs and parameters (by tensor id)."""

    G: Any
    order: list[int]
    of_node: dict[int, _Unit]
    units: list[_Unit]
    auto: dict[int, np.ndarray]
    out: int
    loss_in: int
    positions: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.positions = {id(u): i for i, u in enumerate(self.units, start=1)}

    def array(self, nid: int) -> np.ndarray:
        return np.asarray(self.G.nodes[nid]["tensor"].data)

    def inputs_of(self, u: _Unit) -> list[np.ndarray]:
        """The layer's inputs as its formulas take them: floats in float64, indices as
        they are."""
        return [np.asarray(self.array(n), np.float64) if self.array(n).dtype.kind == "f"
                else self.array(n) for n in u.inputs]

    def through(self, nodes: set[int], out: int, delta: np.ndarray) -> dict[int, np.ndarray]:
        """Autograd's gradient through the ops of `nodes` alone, from `delta` at `out`."""
        return _local_vjp(self.G, nodes, out, delta)

    def position(self, u: _Unit) -> int:
        """The layer's place in the forward order: 1, 2, …"""
        return self.positions[id(u)]

    def search(self, u: _Unit, target: int, through: dict[int, np.ndarray],
               given: np.ndarray, same: Any, name: str) -> Search | None:
        """Where to look for a slip inside layer `u` whose formula gives `given` for the
        gradient at `target`: the layer's ops, on autograd's own δ through it."""
        if target not in through:
            return None
        ops = sorted(u.nodes, key=lambda n: -self.order.index(n))
        tensors = [target, *ops, *(id(p) for p in u.params.values())]
        return Search(Rules(self.G, self.order), ops, tensors, through, through[target],
                      target, given, same, name, "the formula's")


def _autograd(model: Any, out: Any, loss_in: Any) -> _Run:
    """The graph of `out`, its units, and autograd's gradients there, by its own sweep."""
    import minigrad
    from minigrad.graph import topological_order

    G = minigrad.graph(out)
    order = topological_order(G)
    of_node, units = _units(G, order, model)
    wanted: dict[int, Any] = {}
    for u in units:
        for nid in [u.out, *u.inputs]:
            t = G.nodes[nid]["tensor"]
            if t.requires_grad:
                wanted[nid] = t
        for p in u.params.values():
            if p.requires_grad:
                wanted[id(p)] = p
    wanted[id(loss_in)] = loss_in
    got = minigrad.grad(out, list(wanted.values()), retain_graph=True, allow_unused=True)
    auto = {nid: (np.zeros(t.shape) if g is None else np.asarray(g.data, np.float64))
            for (nid, t), g in zip(wanted.items(), got)}
    return _Run(G, order, of_node, units, auto, id(out), id(loss_in))


# --------------------------------------------------------------------------- the rows
@dataclass
class _Table:
    """The report's rows as they are written, each judged against the tolerance."""

    loss: str
    tol: float
    rows: list[LayerRow] = field(default_factory=list)
    compared: dict[int, Compared] = field(default_factory=dict)

    def add(self, u: _Unit | None, idx: int, quantity: str, formula: str, kind: str,
            autograd: np.ndarray, chain: np.ndarray | None, step: np.ndarray | None,
            reached: bool = True, search: Search | None = None) -> None:
        """A row of `u` (None: the loss): autograd's value beside the chain of formulas
        (None: no formula) and beside the formula's one step on autograd's own inputs.
        `reached`: autograd gives the gradient at all; `search`: where to look for a slip
        inside the layer, for the row's diagnosis."""
        module = "(loss)" if u is None else (u.name or "<model>")
        layer = self.loss if u is None else u.layer
        shape = tuple(np.shape(autograd))
        note = ("" if kind != "backward" else "no path to the loss" if not reached
                else "gradient is zero here" if not np.any(autograd) else "")
        if chain is None:
            self.rows.append(LayerRow(idx, module, layer, quantity, formula, kind, shape, None,
                                      None, None, self.tol, "no formula", note=note))
            return
        d, rel, scale = _measure.errors(autograd, chain)
        ok = d <= self.tol * scale
        step_rel = step_ok = None
        if step is not None:
            sd, step_rel, sscale = _measure.errors(autograd, step)
            step_ok = sd <= self.tol * sscale
            ok = ok and step_ok
        self.rows.append(LayerRow(idx, module, layer, quantity, formula, kind, shape, d, rel,
                                  step_rel, self.tol, "match" if ok else "differs", step_ok,
                                  note=note))
        name = quantity.lstrip("∇") + ("" if u is None else f" of {module}")
        self.compared[len(self.rows) - 1] = Compared(
            name, kind == "backward", np.asarray(autograd), np.asarray(chain), step, bool(ok),
            step_ok, search=search)

    def diagnose(self, counts: dict[int, str]) -> None:
        """Every failing row's diagnosis: the formula's value against autograd's."""
        diagnose_compared(list(self.compared.values()), _measure.formula_test(self.tol), counts)
        for i, c in self.compared.items():
            self.rows[i].diagnosis = c.diagnosis


def _forward_rows(table: _Table, run: _Run) -> None:
    """Each layer's formula on autograd's own inputs of that layer, beside its output."""
    for u in run.units:
        idx = run.position(u)
        y_auto = np.asarray(run.array(u.out), np.float64)
        if u.formula is None:
            table.add(u, idx, "out", u.why, "forward", y_auto, None, None)
            continue
        try:
            y_f, u.cache = u.formula.forward(u.module, run.inputs_of(u), y_auto)
        except Exception as e:  # a wrong formula that cannot even run fails its row
            u.formula, u.why = None, f"the formula raised {type(e).__name__}: {e}"
            table.add(u, idx, "out", u.why, "forward", y_auto, np.full_like(y_auto, np.nan),
                      None)
            continue
        table.add(u, idx, "out", u.formula.labels["out"], "forward", y_auto, y_f, None)


def _loss_rows(table: _Table, run: _Run, loss_in: Any, Y: np.ndarray, loss: str,
               reduction: str) -> np.ndarray:
    """The loss's rows, ``L`` and ``∇logits``; returns the formula's ``∇logits``, where the
    chain of formulas starts."""
    logits = np.asarray(loss_in.data, np.float64)
    if loss == "ce":
        L_f = _losses.cross_entropy_forward(logits, Y, reduction)
        g_f = _losses.cross_entropy_backward(logits, Y, reduction)
        labels = ("−log ŷ_ℓ", "ŷ − e(ℓ)" + (" (÷N)" if reduction == "mean" else ""))
    else:
        L_f = _losses.mse_forward(logits, Y.astype(np.float64), reduction)
        g_f = _losses.mse_backward(logits, Y.astype(np.float64), reduction)
        labels = ("mean (ŷ − y)²" if reduction == "mean" else "Σ (ŷ − y)²",
                  "2(ŷ − y)" + (" (÷n)" if reduction == "mean" else ""))
    L_auto = np.asarray(run.G.nodes[run.out]["tensor"].data, np.float64)
    table.add(None, 0, "L", labels[0], "forward", L_auto, np.asarray(L_f), None)
    table.add(None, 0, "∇logits", labels[1], "backward", run.auto[run.loss_in], g_f, g_f)
    return g_f


def _add_to(chain: dict[int, np.ndarray], nid: int, g: np.ndarray) -> None:
    chain[nid] = chain[nid] + g if nid in chain else g


def _backward_rows(table: _Table, run: _Run, delta: np.ndarray) -> None:
    """The chain of formulas from the loss down, beside autograd, layer by layer in the
    order of the sweep. The glue between layers passes the chain on by autograd's rules."""
    chain: dict[int, np.ndarray] = {run.loss_in: delta}
    by_out = {u.out: u for u in run.units}
    for nid in reversed(run.order):
        t = run.G.nodes[nid]["tensor"]
        if t._ctx is None or nid == run.out:
            continue
        unit = by_out.get(nid)
        if unit is None and nid in run.of_node:
            continue  # inside a layer: its unit handles it at its output
        dc = chain.get(nid)
        if dc is None:
            dc = np.zeros(t.shape)
        if unit is None:  # glue: autograd's rule for this one op
            for src, gx in run.through({nid}, nid, dc).items():
                if src != nid:
                    _add_to(chain, src, gx)
        elif unit.formula is None:
            _rows_without_formula(table, run, unit, dc, chain)
        else:
            _layer_backward_rows(table, run, unit, unit.formula, dc, chain)


def _rows_without_formula(table: _Table, run: _Run, u: _Unit, dc: np.ndarray,
                          chain: dict[int, np.ndarray]) -> None:
    """A layer without a formula: "no formula" rows, and the chain goes on below it with
    autograd's gradient through it."""
    idx = run.position(u)
    da = run.auto.get(u.out, np.zeros(run.array(u.out).shape))
    through = run.through(u.nodes, u.out, da)  # autograd, through it
    through_chain = run.through(u.nodes, u.out, dc)
    for n in u.inputs:
        if not run.G.nodes[n]["tensor"].requires_grad:
            continue
        table.add(u, idx, "∇x", u.why, "backward", through.get(n, 0 * run.array(n)), None,
                  None)
        _add_to(chain, n, through_chain[n])
    for pname, p in u.params.items():
        table.add(u, idx, f"∇{pname}", u.why, "backward", through.get(id(p), 0 * p.data),
                  None, None)


def _layer_backward_rows(table: _Table, run: _Run, u: _Unit, formula: _layers.LayerFormula,
                         dc: np.ndarray, chain: dict[int, np.ndarray]) -> None:
    """A layer's gradient rows: for its inputs and parameters, autograd's gradient through
    the layer beside its formula on the chain's δ (``max|Δ|``) and on autograd's own δ
    (``step``); the formula's input gradients carry the chain on."""
    idx = run.position(u)
    da = run.auto.get(u.out, np.zeros(run.array(u.out).shape))
    through = run.through(u.nodes, u.out, da)  # autograd, through it
    xs = run.inputs_of(u)
    try:
        f_chain = formula.backward(u.module, xs, u.cache, dc)
        f_step = formula.backward(u.module, xs, u.cache, da)
    except Exception:  # a formula that cannot run: NaN gradients fail its rows
        f_chain, f_step = {}, {}
    same = _measure.formula_test(table.tol)
    for k, n in enumerate(u.inputs):
        key = "x" if k == 0 else f"x{k}"
        if not run.G.nodes[n]["tensor"].requires_grad:
            continue
        nan = np.full(run.array(n).shape, np.nan)
        step = f_step.get(key, nan)
        table.add(u, idx, f"∇{key}", formula.labels.get(key, ""), "backward",
                  through.get(n, np.zeros(run.array(n).shape)), f_chain.get(key, nan),
                  step, n in through,
                  run.search(u, n, through, step, same, f"{key} of {u.name or '<model>'}"))
        _add_to(chain, n, f_chain.get(key, nan))
    for pname, p in u.params.items():
        if not p.requires_grad:
            continue
        nan = np.full(p.shape, np.nan)
        step = f_step.get(pname, nan)
        table.add(u, idx, f"∇{pname}", formula.labels.get(pname, ""), "backward",
                  through.get(id(p), np.zeros(p.shape)), f_chain.get(pname, nan), step,
                  id(p) in through,
                  run.search(u, id(p), through, step, same, f"{pname} of {u.name or '<model>'}"))
