r"""`check`: a learner's own backward pass, tensor by tensor, against autograd's.

The classic exercise: derive ``∇a_L``, ``∇W_k``, ``∇h_{k−1}``, … by hand, write each one in
numpy, and check it before going on::

    report = check(loss, {logits: dlogits, "h1": dh1, W1: dW1})
    print(report)        # one row per tensor: shape, exact, approx, max|Δ|, rel
    report.ok            # True only when every row is approx-equal

Autograd's gradients come from a sweep of its own (`minigrad.grad` with ``retain_graph``), so
no ``.grad`` is touched and the loss can still be backpropagated afterwards. After
``loss.backward()`` (the graph's sweep used up), `check` reads the ``.grad`` that backward
left instead, and says so: keep an intermediate's with ``retain_grad()`` before backward.
A row is *approx* when ``|mine − autograd| ≤ atol + rtol·|autograd|`` elementwise (numpy's
allclose), with rtol and atol set by the dtype (`check_tolerance`) unless given; *exact* when
the two are bit-equal.

A row that is not approx gets a diagnosis (`minigrad.reference.diagnosis`): the classic
mistake it is (``transposed``, ``scaled``, ``unreduced``, ``missing_path``, ``swapped``,
``flipped``, ``wrong_rule``), or ``inherited`` when the step itself is right and only a
wrong gradient above it was carried down, and ``report.first_wrong`` lists the rows where the
derivation first goes wrong. A given array whose shape differs from its tensor's is such a
row when its axes permuted, or a sum over axes, give the tensor's shape (a missing transpose,
a bias gradient not summed over the batch); any other shape is an error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from minigrad.reference.diagnosis import (
    Diagnosis,
    Item,
    diagnose_rows,
    shape_fits,
    tolerance_test,
)
from minigrad.reference.measure import diagnosis_lines, table_lines

__all__ = ["CheckReport", "CheckRow", "check", "check_tolerance"]


def check_tolerance(dtype: Any) -> tuple[float, float]:
    """``(rtol, atol)`` for gradients computed in `dtype`: a hand-written formula reorders
    the sums of autograd's, so they agree to rounding, not bit for bit: float64 (1e-7,
    1e-10), float32 (1e-4, 1e-6), float16 (1e-2, 1e-3)."""
    dt = np.dtype(dtype)
    if dt == np.float16:
        return 1e-2, 1e-3
    if dt == np.float32:
        return 1e-4, 1e-6
    return 1e-7, 1e-10


@dataclass
class CheckRow:
    """One checked tensor.

    Attributes:
        name: the key as given (a string), or the tensor's name (or its graph description).
        shape: the tensor's shape.
        exact: the given gradient equals autograd's bit for bit.
        approx: equal within ``atol + rtol·|autograd|`` elementwise.
        max_abs: ``max |mine − autograd|``.
        rel: ``max_abs / max |autograd|`` (0 when both are 0, inf when only autograd's is).
        tensor: the graph tensor checked (for drawing).
        diagnosis: None when the row is approx, else what is wrong (`Diagnosis`: ``.kind``,
            ``.text`` and the kind's details).
        reached: autograd's sweep reached the tensor (False: it has no path to the loss and
            its gradient is None, not zero).
        zero: autograd's gradient is exactly zero everywhere (a dead relu, a masked input).
        given_shape: the shape of the array given, when it differs from ``shape``.
        position: the tensor's place in the backward order (0 = the loss).
    """

    name: str
    shape: tuple[int, ...]
    exact: bool
    approx: bool
    max_abs: float
    rel: float
    tensor: Any = field(default=None, repr=False, compare=False)
    diagnosis: Diagnosis | None = None
    reached: bool = True
    zero: bool = False
    given_shape: tuple[int, ...] | None = None
    position: int = field(default=-1, repr=False, compare=False)

    @property
    def note(self) -> str:
        """``"no path to the loss"`` (no gradient at all), ``"gradient is zero here"`` (a
        gradient that is exactly 0), or ``""``."""
        if not self.reached:
            return "no path to the loss"
        return "gradient is zero here" if self.zero else ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "exact": self.exact,
                "approx": self.approx, "max_abs": self.max_abs, "rel": self.rel,
                "note": self.note,
                "given_shape": None if self.given_shape is None else list(self.given_shape),
                "diagnosis": None if self.diagnosis is None else self.diagnosis.to_dict()}


@dataclass
class CheckReport:
    """The result of `check`: ``rows``, ``ok``, ``first_wrong`` and a printable table.

    Attributes:
        note: how autograd's gradients were found when not by a sweep of their own (after
            ``backward()``: the ``.grad`` it left).
        rules: whether the graph's local rules were available for the diagnoses (without
            them no row is ``inherited``, ``missing_path`` or ``wrong_rule``).
    """

    rows: list[CheckRow]
    rtol: float
    atol: float
    note: str = ""
    rules: bool = True

    @property
    def ok(self) -> bool:
        return bool(self.rows) and not self.failed

    @property
    def failed(self) -> list[CheckRow]:
        return [r for r in self.rows if not r.approx]

    @property
    def first_wrong(self) -> list[CheckRow]:
        """The rows where the derivation first goes wrong, from the loss down: every failing
        row that does not merely inherit a wrong gradient from a row above it (without the
        local rules, only the first failing row, which cannot inherit)."""
        bad = sorted(self.failed, key=lambda r: r.position)
        if not self.rules:
            return bad[:1]
        return [r for r in bad if r.diagnosis is None or r.diagnosis.kind != "inherited"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "rtol": self.rtol, "atol": self.atol, "note": self.note,
            "first_wrong": [r.name for r in self.first_wrong],
            "rows": [r.to_dict() for r in self.rows],
        }

    def __str__(self) -> str:
        first = {id(r) for r in self.first_wrong}
        table = [["", "shape", "exact", "approx", "max|Δ|", "rel", ""]]
        for r in self.rows:
            mark = "✓" if r.approx else "✗ FAIL" + (", first wrong step" if id(r) in first
                                                    else "")
            shape = (str(r.shape) if r.given_shape is None
                     else f"{r.shape}, yours {r.given_shape}")
            table.append([
                f"∇{r.name}", shape, "yes" if r.exact else "no",
                "yes" if r.approx else "no", f"{r.max_abs:.1e}", f"{r.rel:.1e}",
                mark + (f" ({r.note})" if r.note else ""),
            ])
        lines = [f"your gradients vs autograd "
                 f"(approx: |Δ| ≤ {self.atol:g} + {self.rtol:g}·|autograd|)"]
        if self.note:
            lines.append(self.note)
        lines += table_lines(table, after=[diagnosis_lines(r.diagnosis) for r in self.rows])
        lines.append(
            f"all {len(self.rows)} gradients match" if self.ok
            else f"{len(self.failed)} of {len(self.rows)} differ: "
            + ", ".join(r.name for r in self.failed)
            + "; first wrong step: " + ", ".join(r.name for r in self.first_wrong))
        return "\n".join(lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))


def _parameter_names(G: Any, model: Any) -> dict[str, list[int]]:
    """Dotted parameter names → node ids: from `model` when given, else from the graph, a
    parameter named ``weight`` used by an op inside module ``layers.0`` being
    ``layers.0.weight``."""
    from minigrad.nn.parameter import Parameter

    out: dict[str, list[int]] = {}
    if model is not None:
        for name, p in model.named_parameters():
            if id(p) in G:
                out.setdefault(name, []).append(id(p))
        return out
    for nid, d in G.nodes(data=True):
        t = d["tensor"]
        if not isinstance(t, Parameter) or not d["name"]:
            continue
        for _, v in G.out_edges(nid):
            m = G.nodes[v]["module"]
            if m:
                ids = out.setdefault(f"{m}.{d['name']}", [])
                if nid not in ids:
                    ids.append(nid)
    return out


def _describe(t: Any) -> str:
    op = t._ctx.op.name if t._ctx is not None else "leaf"
    return f"{t.name or op} {tuple(t.shape)}"


def check(
    loss: Any,
    grads: Mapping[Any, Any],
    *,
    model: Any = None,
    rtol: float | None = None,
    atol: float | None = None,
) -> CheckReport:
    """Compares your gradients of `loss` with autograd's, one row per entry of `grads`.

    Args:
        loss: the scalar Tensor whose gradients you derived.
        grads: ``{key: gradient}``; a key is a Tensor of `loss`'s graph, or a name: a
            tensor's ``name``, or a parameter's dotted name (``"layers.0.weight"``, read
            from `model` when given, else from the modules the graph records). A value is
            an array or a Tensor of the key's shape (or of a shape its diagnosis explains:
            transposed, or not yet summed over the batch). A tensor that requires grad but
            is not in the graph (a parameter the loss does not use) has no path to the
            loss: its row is right only for an array of zeros.
        model: the model whose ``named_parameters()`` name the parameters (optional).
        rtol: overrides the relative tolerance `check_tolerance` takes from the dtype.
        atol: overrides the absolute tolerance likewise.

    Returns:
        a `CheckReport`; each failing row carries its ``diagnosis``, and
        ``report.first_wrong`` the rows where the derivation first goes wrong.

    Raises:
        TypeError: `loss` is not a Tensor, or a key is neither a Tensor nor a string.
        ValueError: a constant key not in the graph of `loss` (or a name matches no tensor,
            or several), a key's tensor has no gradient (a constant), or a value's shape
            neither equals its tensor's nor is explained by a permutation or a sum over
            axes. Nothing is changed in any case.
        RuntimeError: after ``loss.backward()`` used the graph up, a key's tensor holds no
            ``.grad`` (an intermediate without ``retain_grad()``).
    """
    import minigrad
    from minigrad.tensor import Tensor

    if not isinstance(loss, Tensor):
        raise TypeError(f"check: loss must be a minigrad Tensor, got {type(loss).__name__}")
    if not isinstance(grads, Mapping) or not grads:
        raise TypeError("check: grads must be a non-empty mapping {tensor or name: gradient}")
    G = minigrad.graph(loss)
    entries = [_entry(G, key, value, model) for key, value in grads.items()]
    found, note = _autograd(loss, G, entries)
    dt = np.result_type(*[t.data.dtype for _, t, _ in entries])
    d_rtol, d_atol = check_tolerance(dt)
    rtol = d_rtol if rtol is None else float(rtol)
    atol = d_atol if atol is None else float(atol)
    rows = [_row(label, t, mine, g, rtol, atol) for (label, t, mine), g in zip(entries, found)]
    report = CheckReport(rows, rtol, atol, note=note)
    _diagnose(loss, G, report, [mine for _, _, mine in entries], found)
    return report


def _entry(G: Any, key: Any, value: Any, model: Any) -> tuple[str, Any, np.ndarray]:
    """One entry of `check`'s grads: its label, its tensor and the array given."""
    t, label = _tensor_of(G, key, model)
    if not t.requires_grad:
        raise ValueError(f"check: {label!r} {tuple(t.shape)} is a constant "
                         f"(requires_grad=False): it has no gradient to check")
    mine = np.asarray(getattr(value, "data", value))
    if mine.shape != tuple(t.shape) and not shape_fits(mine.shape, tuple(t.shape)):
        same = sorted({str(d["name"]) for _, d in G.nodes(data=True)
                       if d["name"] and d["shape"] == mine.shape and d["requires_grad"]})
        raise ValueError(
            f"check: the gradient given for {label!r} has shape {mine.shape}, but the "
            f"tensor has shape {tuple(t.shape)} (a gradient has its tensor's shape)"
            + (f"; tensors of the graph with shape {mine.shape}: {', '.join(same)}"
               if same else ""))
    return str(label), t, mine


def _autograd(loss: Any, G: Any, entries: list[tuple[str, Any, np.ndarray]],
              ) -> tuple[list[np.ndarray | None], str]:
    """Autograd's gradient of each entry's tensor (None: unreached) from a sweep of its own;
    after a ``backward()`` that used the graph up, the ``.grad`` it left, with a note."""
    import minigrad

    tensors = [t for _, t, _ in entries]
    try:
        found = minigrad.grad(loss, tensors, retain_graph=True, allow_unused=True)
    except RuntimeError as e:
        for label, t, _ in entries:
            if t.grad is None and id(t) in G:
                raise RuntimeError(
                    f"check: autograd cannot sweep this graph again ({e}), and {label!r} "
                    f"{tuple(t.shape)} holds no .grad from that backward to check against. "
                    f"Either call {label}.retain_grad() before loss.backward(), or call "
                    f"check before backward()") from e
        return ([None if t.grad is None else np.asarray(t.grad.data) for t in tensors],
                "after backward(): checked against the .grad it left (the graph was used up)")
    return [None if g is None else np.asarray(g.data) for g in found], ""


def _diagnose(loss: Any, G: Any, report: CheckReport, given: list[np.ndarray],
              found: list[np.ndarray | None]) -> None:
    """Each row's place in the backward order and, on the failing rows, their diagnoses."""
    from minigrad.graph import topological_order

    order = topological_order(G)
    back = {nid: i for i, nid in enumerate(reversed(order))}
    # steps from the loss down, along the longest path (a gradient is complete only once
    # every use has sent its part), re-views of a tensor (W.T) not counted: a layer's ∇W and
    # ∇h come together, its bias just before, as in the lecture's backward loop
    steps = {id(loss): 0}
    for nid in reversed(order):
        ctx = G.nodes[nid]["tensor"]._ctx
        if nid not in steps or ctx is None:
            continue
        k = steps[nid] + (ctx.op.role != "pass-through")
        for x in ctx.inputs:
            steps[id(x)] = max(steps.get(id(x), 0), k)
    ranked = sorted(G, key=lambda nid: (steps.get(nid, len(order)), back[nid]))
    place = {nid: i for i, nid in enumerate(ranked)}
    for r in report.rows:
        r.position = place.get(id(r.tensor), len(place))
    if report.ok:
        return
    items = {id(r): Item(r.name, id(r.tensor), mine,
                         np.zeros(r.shape, r.tensor.data.dtype) if g is None else g, r.approx)
             for r, mine, g in zip(report.rows, given, found) if id(r.tensor) in G}
    report.rules, _ = diagnose_rows(loss, G, order, list(items.values()),
                                    tolerance_test(report.rtol, report.atol))
    for r in report.rows:
        if id(r) in items:
            r.diagnosis = items[id(r)].diagnosis
        elif not r.approx:
            r.diagnosis = Diagnosis(
                "unexplained", f"{r.name} has no path to the loss (it is not in the loss's "
                f"graph), so it has no gradient at all; yours is not zero")


def _tensor_of(G: Any, key: Any, model: Any) -> tuple[Any, Any]:
    """The tensor of the graph that a key of `check`'s grads names, and its label."""
    from minigrad.tensor import Tensor

    if isinstance(key, Tensor):
        if id(key) not in G:
            if key.requires_grad:  # no path to the loss: no gradient at all
                return key, key.name or "tensor"
            raise ValueError(
                f"check: the tensor {_describe(key)} is not in the graph of the loss "
                f"(was it made by another forward pass?)")
        return key, key.name or G.nodes[id(key)]["op"] or "tensor"
    if not isinstance(key, str):
        raise TypeError(f"check: a key must be a Tensor or a name, got "
                        f"{type(key).__name__}")
    ids = [nid for nid, d in G.nodes(data=True) if d["name"] == key]
    if not ids:
        ids = _parameter_names(G, model).get(key, [])
    if not ids and model is not None:
        unused = dict(model.named_parameters()).get(key)
        if unused is not None:  # a parameter the loss does not use: no path to the loss
            return unused, key
    if not ids:
        names = sorted({str(d["name"]) for _, d in G.nodes(data=True) if d["name"]})
        params = _parameter_names(G, model)
        raise ValueError(
            f"check: no tensor named {key!r} in the graph of the loss; its names are "
            f"{names}" + (f" and parameters {sorted(params)}" if params else ""))
    if len(ids) > 1:
        raise ValueError(
            f"check: {len(ids)} tensors of the graph are named {key!r}; pass the "
            f"tensor itself as the key")
    return G.nodes[ids[0]]["tensor"], key


def _row(label: str, t: Any, mine: np.ndarray, g: np.ndarray | None, rtol: float,
         atol: float) -> CheckRow:
    """Your gradient `mine` of `t` beside autograd's `g` (None: t is not reached, zero)."""
    auto = np.zeros(t.shape, dtype=t.data.dtype) if g is None else g
    zero = g is not None and not np.any(auto)
    if mine.shape != auto.shape:
        return CheckRow(label, tuple(t.shape), False, False, math.inf, math.inf, t,
                        reached=g is not None, zero=zero, given_shape=mine.shape)
    diff = np.abs(mine.astype(np.float64) - auto.astype(np.float64))
    max_abs = float(diff.max()) if diff.size else 0.0
    if math.isnan(max_abs):
        max_abs = math.inf
    top = float(np.abs(auto).max()) if auto.size else 0.0
    rel = max_abs / top if top > 0 else (0.0 if max_abs == 0 else math.inf)
    if math.isnan(rel):
        rel = math.inf
    approx = bool(np.allclose(mine, auto, rtol=rtol, atol=atol)) and math.isfinite(max_abs)
    return CheckRow(label, tuple(t.shape), bool(np.array_equal(mine, auto)), approx, max_abs,
                    rel, t, reached=g is not None, zero=zero)
