r"""`check`: a learner's own backward pass, tensor by tensor, against autograd's.

The classic exercise: derive ``∇a_L``, ``∇W_k``, ``∇h_{k−1}``, … by hand, write each one in
numpy, and check it before going on::

    report = check(loss, {logits: dlogits, "h1": dh1, W1: dW1})
    print(report)        # one row per tensor: shape, exact, approx, max|Δ|, rel
    report.ok            # True only when every row is approx-equal

Autograd's gradients come from a sweep of its own (`minigrad.grad` with ``retain_graph``), so
no ``.grad`` is touched and the loss can still be backpropagated afterwards. A row is
*approx* when ``|mine − autograd| ≤ atol + rtol·|autograd|`` elementwise (numpy's allclose),
with rtol and atol set by the dtype (`check_tolerance`) unless given; *exact* when the two are
bit-equal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from minigrad.reference.measure import table_lines

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
    """

    name: str
    shape: tuple[int, ...]
    exact: bool
    approx: bool
    max_abs: float
    rel: float
    tensor: Any = field(default=None, repr=False, compare=False)


@dataclass
class CheckReport:
    """The result of `check`: ``rows``, ``ok`` and a printable table."""

    rows: list[CheckRow]
    rtol: float
    atol: float

    @property
    def ok(self) -> bool:
        return bool(self.rows) and all(r.approx for r in self.rows)

    @property
    def failed(self) -> list[CheckRow]:
        return [r for r in self.rows if not r.approx]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "rtol": self.rtol, "atol": self.atol,
            "rows": [{"name": r.name, "shape": list(r.shape), "exact": r.exact,
                      "approx": r.approx, "max_abs": r.max_abs, "rel": r.rel}
                     for r in self.rows],
        }

    def __str__(self) -> str:
        table = [["", "shape", "exact", "approx", "max|Δ|", "rel", ""]]
        for r in self.rows:
            table.append([
                f"∇{r.name}", str(r.shape), "yes" if r.exact else "no",
                "yes" if r.approx else "no", f"{r.max_abs:.1e}", f"{r.rel:.1e}",
                "✓" if r.approx else "✗ FAIL",
            ])
        lines = [f"your gradients vs autograd "
                 f"(approx: |Δ| ≤ {self.atol:g} + {self.rtol:g}·|autograd|)"]
        lines += table_lines(table)
        lines.append(
            f"all {len(self.rows)} gradients match" if self.ok
            else f"{len(self.failed)} of {len(self.rows)} differ: "
            + ", ".join(r.name for r in self.failed))
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
            an array or a Tensor of the key's shape.
        model: the model whose ``named_parameters()`` name the parameters (optional).
        rtol: overrides the relative tolerance `check_tolerance` takes from the dtype.
        atol: overrides the absolute tolerance likewise.

    Returns:
        a `CheckReport`.

    Raises:
        TypeError: `loss` is not a Tensor, or a key is neither a Tensor nor a string.
        ValueError: a key is not in the graph of `loss` (or a name matches no tensor, or
            several), a key's tensor has no gradient (a constant), or a value's shape
            differs from its tensor's. Nothing is changed in any case.
    """
    import minigrad
    from minigrad.tensor import Tensor

    if not isinstance(loss, Tensor):
        raise TypeError(f"check: loss must be a minigrad Tensor, got {type(loss).__name__}")
    if not isinstance(grads, Mapping) or not grads:
        raise TypeError("check: grads must be a non-empty mapping {tensor or name: gradient}")
    G = minigrad.graph(loss)
    entries: list[tuple[str, Any, np.ndarray]] = []
    for key, value in grads.items():
        t, label = _tensor_of(G, key, model)
        if not t.requires_grad:
            raise ValueError(f"check: {label!r} {tuple(t.shape)} is a constant "
                             f"(requires_grad=False): it has no gradient to check")
        mine = np.asarray(getattr(value, "data", value))
        if mine.shape != tuple(t.shape):
            raise ValueError(
                f"check: the gradient given for {label!r} has shape {mine.shape}, but the "
                f"tensor has shape {tuple(t.shape)} (a gradient has its tensor's shape)")
        entries.append((str(label), t, mine))

    tensors = [t for _, t, _ in entries]
    found = minigrad.grad(loss, tensors, retain_graph=True, allow_unused=True)
    dt = np.result_type(*[t.data.dtype for t in tensors])
    d_rtol, d_atol = check_tolerance(dt)
    rtol = d_rtol if rtol is None else float(rtol)
    atol = d_atol if atol is None else float(atol)
    rows = [_row(label, t, mine, g, rtol, atol) for (label, t, mine), g in zip(entries, found)]
    return CheckReport(rows, rtol, atol)


def _tensor_of(G: Any, key: Any, model: Any) -> tuple[Any, Any]:
    """The tensor of the graph that a key of `check`'s grads names, and its label."""
    from minigrad.tensor import Tensor

    if isinstance(key, Tensor):
        if id(key) not in G:
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


def _row(label: str, t: Any, mine: np.ndarray, g: Any, rtol: float, atol: float) -> CheckRow:
    """Your gradient `mine` of `t` beside autograd's `g` (None: zero, t unused)."""
    auto = np.zeros(t.shape, dtype=t.data.dtype) if g is None else np.asarray(g.data)
    diff = np.abs(mine.astype(np.float64) - auto.astype(np.float64))
    max_abs = float(diff.max()) if diff.size else 0.0
    if math.isnan(max_abs):
        max_abs = math.inf
    top = float(np.abs(auto).max()) if auto.size else 0.0
    rel = max_abs / top if top > 0 else (0.0 if max_abs == 0 else math.inf)
    approx = bool(np.allclose(mine, auto, rtol=rtol, atol=atol)) and math.isfinite(max_abs)
    return CheckRow(label, tuple(t.shape), bool(np.array_equal(mine, auto)), approx, max_abs,
                    rel, t)
