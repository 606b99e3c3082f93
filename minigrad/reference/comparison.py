r"""`compare`: autograd beside the hand-derived formulas, layer by layer, and its report.

For the lecture's network (an ``nn.MLP`` or an ``nn.Sequential`` of Linear and activation
modules) `compare` sets every ``a_k``, ``h_k``, ``∇a_k``, ``∇h_k``, ``∇W_k`` and ``∇b_k`` of
autograd beside the lecture's formulas (`minigrad.reference.mlp`). Any other model built from
minigrad's layers is compared module by module (`minigrad.reference.layers`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from minigrad.reference.dense import Activation
from minigrad.reference.diagnosis import SLIPS, Compared, diagnose_compared, shape_fits
from minigrad.reference.layerwise import LayerReport, compare_layers
from minigrad.reference.losses import as_targets, check_loss, loss_scale
from minigrad.reference.measure import (
    as_dtype,
    diagnosis_lines,
    errors,
    formula_test,
    table_lines,
    tolerance,
)
from minigrad.reference.mlp import backward

__all__ = ["Report", "Row", "compare", "tolerance"]


@dataclass
class Row:
    """One line of the report: one quantity of one layer.

    Attributes:
        layer: k.
        quantity: ``"a_k"``/``"h_k"``/``"L"`` (forward) or ``"∇W_k"``, ``"∇b_k"``, ``"∇a_k"``,
            ``"∇h_k"`` (backward).
        formula: the lecture's formula for it, e.g. ``"∇a_2·h_1ᵀ"`` for ``∇W_2``.
        kind: ``"forward"`` or ``"backward"``.
        shape: the shape compared (autograd's: batches are rows).
        max_abs: ``max |autograd − formula|`` (the formula run by this module on the same
            weights and inputs, from scratch).
        max_rel: ``max_abs / max |formula|`` (0 when both are 0).
        step_rel: backward rows only: the relative error of this one step of the sweep, the
            formula applied to autograd's own inputs of that step (e.g. ``∇a_k`` against
            ``∇h_k ⊙ g′(a_k)`` with autograd's ``∇h_k`` and ``a_k``). A wrong step shows up
            here only at the layer where it happens, while ``max_abs`` also flags every
            quantity computed from it.
        rank: ``∇W_k`` rows of a single example: the numerical rank of autograd's ``∇W_k``
            (the outer product ``δ h_{k−1}ᵀ`` has rank ≤ 1); None otherwise.
        tol: the tolerance used.
        passed: ``max_abs ≤ tol · max(1, max|formula|)``, the same for the step, and rank ≤ 1.
        diagnosis: a failing row's `minigrad.reference.diagnosis.Diagnosis`: what the
            formula's value is, next to autograd's (``inherited`` when only the chain above
            it is wrong); None for a row that passes.
        note: ``"no path to the loss"`` (autograd gives no gradient at all) or ``"gradient
            is zero here"`` (it gives exactly 0), else ``""``.
    """

    layer: int
    quantity: str
    formula: str
    kind: str
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float
    step_rel: float | None
    rank: int | None
    tol: float
    passed: bool
    diagnosis: Any = None
    note: str = ""


@dataclass
class Report:
    """The comparison of autograd with the lecture's formulas, one `Row` per quantity.

    ``str(report)`` is an aligned table; ``report.ok`` is True when every row passed.
    """

    rows: list[Row]
    loss: str
    reduction: str
    dtype: str
    batch: int
    sizes: list[int]
    activations: list[str]
    scale: float
    tol: float
    output: Any = field(default=None, repr=False, compare=False)
    """The loss tensor of the autograd run (after backward), e.g. to render its graph."""

    @property
    def ok(self) -> bool:
        return bool(self.rows) and not self.failed

    @property
    def failed(self) -> list[Row]:
        return [r for r in self.rows if not r.passed]

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "output"}
        d["ok"] = self.ok
        for r, row in zip(d["rows"], self.rows):
            r["shape"] = list(r["shape"])
            r["diagnosis"] = None if row.diagnosis is None else row.diagnosis.to_dict()
        return d

    def __str__(self) -> str:
        acts = ", ".join(self.activations) if self.activations else "none"
        head = (
            f"autograd vs the lecture's formulas: sizes {self.sizes}, g = {acts}, "
            f"loss {self.loss} ({self.reduction}), batch {self.batch}, {self.dtype}, "
            f"tol {self.tol:g}"
        )
        lines = [head]
        if self.loss == "mse":
            lines.append(
                f"squared error: minigrad's mse_loss = {self.scale:g} × the lecture's "
                f"{'mean' if self.reduction == 'mean' else 'sum'} of ½‖ŷ − y‖², "
                f"so the formulas are scaled by {self.scale:g}"
            )
        with_rank = any(r.rank is not None for r in self.rows)
        table = [["", "", "shape", "max|Δ|", "rel", "step"] + (["rank"] if with_rank else [])
                 + [""]]
        for r in self.rows:
            table.append([
                r.quantity,
                "= " + r.formula,
                str(r.shape),
                f"{r.max_abs:.1e}",
                f"{r.max_rel:.1e}",
                "" if r.step_rel is None else f"{r.step_rel:.1e}",
                *(["" if r.rank is None else str(r.rank)] if with_rank else []),
                ("✓" if r.passed else "✗ FAIL") + (f" ({r.note})" if r.note else ""),
            ])
        lines += table_lines(table, [r.kind for r in self.rows],
                             [diagnosis_lines(r.diagnosis) for r in self.rows])
        lines.append("max|Δ| = max |autograd − formula|, rel = max|Δ| / max |formula|, "
                     "both on the same weights and x;")
        lines.append("step = that one step's formula applied to autograd's own inputs"
                     + ("; rank of autograd's ∇W_k (δ·hᵀ has rank ≤ 1)" if with_rank else ""))
        n_bad = len(self.failed)
        lines.append(
            f"all {len(self.rows)} rows match" if self.ok
            else f"{n_bad} of {len(self.rows)} rows differ: "
            + ", ".join(r.quantity for r in self.failed)
        )
        return "\n".join(lines)


def _errors(got: np.ndarray, want: np.ndarray) -> tuple[float, float, float]:
    """`errors`, for quantities whose shapes the lecture fixes: a mismatch is a bug here."""
    if np.shape(got) != np.shape(want):
        raise ValueError(f"compare: shapes differ, autograd {np.shape(got)} vs formula "
                         f"{np.shape(want)}")
    return errors(got, want)


def _rank(M: np.ndarray, rtol: float) -> int | None:
    """The number of singular values above ``rtol · σ₁`` (0 for the zero matrix; None when
    M holds a NaN or an infinity, which has no rank)."""
    M = np.asarray(M, dtype=np.float64)
    if not np.all(np.isfinite(M)):
        return None
    s = np.linalg.svd(M, compute_uv=False)
    if s.size == 0 or s[0] == 0:
        return 0
    return int(np.sum(s > rtol * s[0]))


@dataclass
class _Layer:
    """A Linear layer k and the activation module after it (None: the last layer, or none)."""

    name: str
    linear: Any
    act_name: str | None
    act: Any
    g: Activation


def _activation_of(module: Any, nn: Any) -> Activation | None:
    """The reference's g for an activation module, by class (a subclass maps like its base,
    and its own forward then runs in autograd, where any difference shows)."""
    table = [
        ("LeakyReLU", "leaky_relu"), ("ReLU", "relu"), ("Sigmoid", "sigmoid"),
        ("Tanh", "tanh"), ("Identity", "linear"), ("Softplus", "softplus"), ("GELU", "gelu"),
    ]
    for cls_name, name in table:
        cls = getattr(nn, cls_name, None)
        if cls is not None and type(module) is cls:
            return _activation_named(name, module)
    for cls_name, name in table:
        cls = getattr(nn, cls_name, None)
        if cls is not None and isinstance(module, cls):
            return _activation_named(name, module)
    return None


def _activation_named(name: str, module: Any) -> Activation:
    if name == "leaky_relu":
        slope = getattr(module, "negative_slope", 0.01)
        return Activation(name, {"negative_slope": float(slope)})
    return Activation(name)


def _children(module: Any) -> list[tuple[str, Any]]:
    if hasattr(module, "named_children"):
        return list(module.named_children())
    return [(str(i), m) for i, m in enumerate(module)]


def _flatten(seq: Any, prefix: str, nn: Any) -> list[tuple[str, Any]]:
    """The Sequential's modules in order, nested Sequentials opened, with dotted names."""
    out: list[tuple[str, Any]] = []
    for name, m in _children(seq):
        full = f"{prefix}{name}"
        if isinstance(m, nn.Sequential):
            _own_forward(m, nn.Sequential, full)
            out += _flatten(m, full + ".", nn)
        else:
            out.append((full, m))
    return out


def _own_forward(module: Any, base: Any, name: str) -> None:
    if type(module).forward is not base.forward:
        raise ValueError(
            f"compare: layer '{name or '<model>'}' ({type(module).__name__}) overrides "
            f"forward(), so its computation is not known to be the chain of its layers "
            f"(a skip connection, say); compare maps only a plain nn.MLP or nn.Sequential of "
            f"Linear and activation modules"
        )


def _map_model(model: Any) -> list[_Layer]:
    """Reads the model as the lecture's network: Linear (activation Linear)* with the last
    Linear giving the logits a_L. Raises ValueError naming the first layer that does not fit."""
    try:
        from minigrad import nn
    except ImportError as e:  # pragma: no cover - until minigrad.nn lands
        raise ImportError("compare needs minigrad.nn, which is not available") from e
    mods = _chain(model, nn)
    layers: list[_Layer] = []
    expect_in: int | None = None
    for i, (name, m) in enumerate(mods):
        if isinstance(m, nn.Linear):
            # two Linears in a row keep the default g = identity between them
            expect_in = _check_linear(name, m, expect_in)
            layers.append(_Layer(name, m, None, None, Activation("linear")))
        else:
            _attach_activation(layers, name, m, i == len(mods) - 1, nn)
    if not layers:
        raise ValueError("compare: the model has no Linear layer")
    return layers


def _chain(model: Any, nn: Any) -> list[tuple[str, Any]]:
    """The modules of an nn.MLP or a plain nn.Sequential, in order, with dotted names."""
    if isinstance(model, nn.Sequential):
        _own_forward(model, nn.Sequential, "")
        return _flatten(model, "", nn)
    if hasattr(nn, "MLP") and isinstance(model, nn.MLP):
        _own_forward(model, nn.MLP, "")
        return _flatten(model.layers, "layers.", nn)
    raise ValueError(
        f"compare: the model is a {type(model).__name__}; compare maps an nn.MLP or an "
        f"nn.Sequential of Linear and activation modules onto the lecture's formulas"
    )


def _check_linear(name: str, m: Any, expect_in: int | None) -> int:
    """Checks that Linear `m` is the lecture's ``W_k``, ``n_k × n_(k−1)``, taking the
    `expect_in` outputs of the layer before it; returns its ``n_k``."""
    kind = type(m).__name__
    W = m.weight.data
    if W.ndim != 2:
        raise ValueError(f"compare: layer '{name}' ({kind}) has a weight of shape "
                         f"{W.shape}; expected out_features × in_features")
    if expect_in is not None and W.shape[1] != expect_in:
        raise ValueError(
            f"compare: layer '{name}' ({kind}) takes {W.shape[1]} inputs "
            f"(in_features) but the layer before it gives {expect_in}: W_k must be "
            f"n_k × n_(k−1)"
        )
    return int(W.shape[0])


def _attach_activation(layers: list[_Layer], name: str, m: Any, last: bool, nn: Any) -> None:
    """Makes module `m` the g of the last Linear in `layers`, or raises why it cannot be."""
    kind = type(m).__name__
    g = _activation_of(m, nn)
    if g is None and last and isinstance(m, getattr(nn, "Softmax", ())):
        raise ValueError(
            f"compare: the last layer '{name}' ({kind}) turns the logits into "
            f"probabilities; compare needs the logits a_L, since the loss applies the "
            f"softmax (build the MLP with output=None)"
        )
    if g is None:
        raise ValueError(
            f"compare: layer '{name}' ({kind}) is neither a Linear nor a known activation "
            f"(ReLU, Tanh, Sigmoid, LeakyReLU, GELU, Softplus, Identity), so it has no "
            f"place in the lecture's formulas a_k = b_k + W_k h_(k−1), h_k = g(a_k)"
        )
    if not layers:
        raise ValueError(f"compare: layer '{name}' ({kind}) comes before the first Linear; "
                         f"the network must start with a_1 = b_1 + W_1 x")
    if layers[-1].act is not None:
        raise ValueError(
            f"compare: layer '{name}' ({kind}) follows the activation "
            f"'{layers[-1].act_name}'; the formulas have one g per layer"
        )
    layers[-1].act, layers[-1].act_name, layers[-1].g = m, name, g
    if last:
        raise ValueError(
            f"compare: the last layer '{name}' ({kind}) is an activation; the last layer "
            f"must be a Linear giving the logits a_L (softmax/identity is the loss's job)"
        )


@contextmanager
def _grads_kept(tensors: list[Any], keep: bool) -> Iterator[None]:
    """Clears the parameters' ``.grad`` for the run (so what it reads is this run's alone)
    and puts the user's values back after, unless `keep`."""
    saved = [t.grad for t in tensors]
    for t in tensors:
        t.grad = None
    try:
        yield
    finally:
        if not keep:
            for t, g in zip(tensors, saved):
                t.grad = g


def compare(
    model: Any, x: Any, y: Any, loss: str = "ce", reduction: str = "mean", dtype: Any = None,
    keep_grads: bool = False,
) -> Report | LayerReport:
    r"""Runs `model` with autograd and the lecture's formulas on the same weights and inputs,
    and compares every ``a_k``, ``h_k``, ``∇a_k``, ``∇h_k``, ``∇W_k`` and ``∇b_k``.

    Any other model (convolutions, normalization, attention, custom layers, skip
    connections) is compared layer by layer with each layer's formulas instead
    (`minigrad.reference.layerwise.compare_layers`), and a `LayerReport` is returned.

    The lecture's network is an ``nn.MLP`` or an ``nn.Sequential`` of ``Linear`` and
    activation modules;
    Linear k gives ``a_k`` (its weight is the lecture's ``W_k``, ``n_k × n_{k−1}``, its bias
    ``b_k``), the activation after it gives ``h_k = g(a_k)``, and the last Linear gives the
    logits ``a_L``. Each module is called in turn with autograd on, ``retain_grad()`` keeps
    every ``a_k`` and ``h_k`` (and x, as ``h_0``, requires grad), the loss is minigrad's own
    (``F.cross_entropy`` or ``F.mse_loss`` with `reduction`), and one ``backward()`` fills
    all the gradients. The formulas (`backward`) then run in float64 on ``W_k =
    layer.weight.data`` and ``b_k = layer.bias.data``, their gradients multiplied by
    `loss_scale` (``2/n_L`` for a mean squared error; see the module docstring).

    Args:
        model: the network.
        x: a batch of rows ``(N, n_0)``, or one example ``(n_0,)`` (run as a batch of one).
        y: class indices ``(N,)`` for ``"ce"``, targets ``(N, n_L)`` for ``"mse"``.
        loss: ``"ce"`` (softmax + cross-entropy) or ``"mse"`` (identity + squared error).
        reduction: ``"mean"`` or ``"sum"`` over the batch.
        dtype: the dtype whose tolerance applies (`tolerance`); default: the weights' dtype.
            x is fed to the model in the weights' dtype.
        keep_grads: leave this run's gradients in the parameters' ``.grad`` (replacing what
            was there), as one training step would, e.g. to draw ``report.output`` with
            them. By default compare leaves every ``.grad`` as it found it.

    Returns:
        a `Report`; ``report.ok`` is True when every row is within tolerance (and, for one
        example, every ``∇W_k`` has rank ≤ 1).

    Raises:
        ValueError: x/y do not fit the model.
    """
    check_loss(loss, reduction)
    try:
        layers = _map_model(model)
    except ValueError:
        # not the lecture's network: compare it layer by layer with each layer's formulas
        return compare_layers(model, x, y, loss, reduction, dtype, keep_grads)
    W_dtype = layers[0].linear.weight.data.dtype
    dt = as_dtype(dtype) if dtype is not None else W_dtype
    tol = tolerance(dt)
    X, Y = _examples(layers, x, y, loss)
    run = _run_layers(model, layers, X, Y, loss, reduction, keep_grads)

    # the formulas, from scratch, on the same weights and inputs
    P = [(np.asarray(W.data, np.float64),
          None if b is None else np.asarray(b.data, np.float64)) for W, b in run.params]
    ref = backward(P, X.astype(np.float64), Y, [ly.g for ly in layers[:-1]], loss, reduction)
    nL = layers[-1].linear.weight.data.shape[0]
    c = loss_scale(loss, reduction, nL)
    rows = _Rows(tol, W_dtype)
    _forward_rows(rows, run, layers, P, ref, loss, c)
    _backward_rows(rows, run, layers, P, ref, X, Y, loss, reduction, c)
    n0 = X.shape[1]
    rows.diagnose({} if reduction != "mean" else
                  {X.shape[0]: "the batch size", X.shape[0] * nL: "the number of outputs"}
                  if loss == "mse" else {X.shape[0]: "the batch size"})
    return Report(
        rows=rows.rows, loss=loss, reduction=reduction, dtype=str(np.dtype(dt)),
        batch=X.shape[0], sizes=[n0] + [ly.linear.weight.data.shape[0] for ly in layers],
        activations=[str(ly.g) for ly in layers[:-1]], scale=c, tol=tol, output=run.out,
    )


def _examples(layers: list[_Layer], x: Any, y: Any, loss: str) -> tuple[np.ndarray, np.ndarray]:
    """x as a batch of rows (one example becomes a batch of one) and the targets as the
    formulas take them."""
    X = np.asarray(getattr(x, "data", x))
    single = X.ndim == 1
    if single:
        X = X[None, :]
    n0 = layers[0].linear.weight.data.shape[1]
    if X.ndim != 2 or X.shape[1] != n0:
        raise ValueError(f"compare: x must be a batch of rows (N, {n0}) for layer "
                         f"'{layers[0].name}' (in_features {n0}); got shape {X.shape}")
    nL = layers[-1].linear.weight.data.shape[0]
    return X, as_targets(y, loss, X.shape[0], nL, single)


@dataclass
class _Run:
    """Autograd's run of the lecture's network: every ``a_k`` and ``h_k`` (``h[0]`` is x),
    the loss, and the gradients it left on each ``W_k`` and ``b_k``."""

    params: list[tuple[Any, Any]]
    a: dict[int, Any]
    h: dict[int, Any]
    out: Any
    grad_W: dict[int, Any]
    grad_b: dict[int, Any]


def _run_layers(model: Any, layers: list[_Layer], X: np.ndarray, Y: np.ndarray, loss: str,
                reduction: str, keep_grads: bool) -> _Run:
    """Calls each module in turn with autograd on, keeping every ``a_k`` and ``h_k``
    (``retain_grad()``), then the loss and one ``backward()``."""
    import minigrad.functional as F
    from minigrad.tensor import Tensor

    L = len(layers)
    W_dtype = layers[0].linear.weight.data.dtype
    params = [(ly.linear.weight, getattr(ly.linear, "bias", None)) for ly in layers]
    tensors = [p for pair in params for p in pair if p is not None]
    with _grads_kept(tensors, keep_grads):
        h0 = Tensor(X.astype(W_dtype), requires_grad=True, name="x")
        a: dict[int, Any] = {}
        h: dict[int, Any] = {0: h0}
        for k, ly in enumerate(layers, start=1):
            a[k] = ly.linear(h[k - 1])
            a[k].retain_grad()
            if k < L:
                h[k] = ly.act(a[k]) if ly.act is not None else a[k]
                if h[k] is not a[k]:
                    h[k].retain_grad()
        if loss == "ce":
            out = F.cross_entropy(a[L], Tensor(Y, name="ℓ"), reduction=reduction)
        else:
            out = F.mse_loss(a[L], Tensor(Y.astype(W_dtype), name="y"), reduction=reduction)
        out.name = "L"
        out.retain_grad()
        out.backward()
        grad_W = {k: params[k - 1][0].grad for k in range(1, L + 1)}
        grad_b = {k: getattr(params[k - 1][1], "grad", None) for k in range(1, L + 1)}
    _same_as_model(model, h0, a[L], layers)
    return _Run(params, a, h, out, grad_W, grad_b)


def _array(t: Any) -> np.ndarray:
    return np.asarray(t.data, dtype=np.float64)


def _grad_of(t: Any) -> np.ndarray:
    # no gradient at all means the sweep never reached t: NaN makes every check fail
    return np.full(t.shape, np.nan) if t.grad is None else _array(t.grad)


@dataclass
class _Rows:
    """The report's rows as they are written, each judged against the tolerance, and what
    their diagnoses need (`diagnose`, once every row is in)."""

    tol: float
    W_dtype: Any
    rows: list[Row] = field(default_factory=list)
    compared: list[Compared] = field(default_factory=list)

    def add(self, k: int, q: str, formula: str, kind: str, got: Any, want: np.ndarray,
            step: np.ndarray | None = None, rank_of: Any = None,
            slips: list[tuple[str, str, np.ndarray]] | None = None) -> None:
        """Autograd's `got` beside the formula's `want`, and beside the formula's one
        `step` on autograd's own inputs; with `rank_of`, the rank of autograd's ``∇W_k``;
        `slips` are what the classic slips of the row's op give (for its diagnosis)."""
        tol = self.tol
        got_a = np.full(np.shape(want), np.nan) if got is None else _array(got)
        d, rel, scale = _errors_or_diagnosed(got_a, want)
        ok = d <= tol * scale
        step_rel = step_ok = None
        if step is not None:
            sd, srel, sscale = _errors_or_diagnosed(got_a, step)
            step_rel, step_ok = srel, sd <= tol * sscale
            ok = ok and step_ok
        rank = None
        if rank_of is not None:
            rank = _rank(got_a, rtol=max(tol, 1e3 * float(np.finfo(self.W_dtype).eps)))
            ok = ok and rank is not None and rank <= 1
        note = ("" if kind != "backward" else "no path to the loss" if got is None
                else "gradient is zero here" if not np.any(got_a) else "")
        self.rows.append(Row(k, q, formula, kind, tuple(got_a.shape), d, rel, step_rel, rank,
                             tol, bool(ok), note=note))
        self.compared.append(Compared(q.lstrip("∇"), kind == "backward", got_a, want, step,
                                      bool(ok), step_ok, slips or []))

    def diagnose(self, counts: dict[int, str]) -> None:
        """Every failing row's diagnosis: the formula's value against autograd's."""
        diagnose_compared(self.compared, formula_test(self.tol), counts)
        for r, c in zip(self.rows, self.compared):
            r.diagnosis = c.diagnosis


def _errors_or_diagnosed(got: np.ndarray, want: np.ndarray) -> tuple[float, float, float]:
    """`_errors`, but a formula whose shape a diagnosis explains (transposed, not summed
    over the batch) is an infinite error, not a bug."""
    if np.shape(got) != np.shape(want) and shape_fits(np.shape(want), np.shape(got)):
        return errors(got, want)
    return _errors(got, want)


def _forward_rows(rows: _Rows, run: _Run, layers: list[_Layer], P: list[Any], ref: Any,
                  loss: str, c: float) -> None:
    """The values autograd differentiated: every ``a_k``, ``h_k`` and the loss."""
    L = len(layers)
    a, h = run.a, run.h
    for k in range(1, L + 1):
        bias = f"b_{k} + " if P[k - 1][1] is not None else ""
        rows.add(k, f"a_{k}", f"{bias}W_{k} h_{k - 1}", "forward", a[k], ref.forward.a[k])
        if k < L and h[k] is not a[k]:
            rows.add(k, f"h_{k}", f"{_symbol(layers[k - 1].g)}(a_{k})", "forward", h[k],
                     ref.forward.h[k])
    lecture_loss = "−log ŷ_ℓ" if loss == "ce" else "½‖ŷ − y‖²"
    rows.add(L, "L", lecture_loss if c == 1 else f"{c:g} × {lecture_loss}", "forward", run.out,
             np.asarray(c * ref.loss))


def _output_step(aL: np.ndarray, Y: np.ndarray, loss: str, reduction: str, c: float,
                 ) -> np.ndarray:
    """The loss's gradient at the logits, ``−(e(ℓ) − ŷ)`` or ``ŷ − y`` (scaled as minigrad's
    loss), from autograd's own logits."""
    if loss == "ce":
        e = np.zeros_like(aL)
        e[np.arange(aL.shape[0]), Y] = 1.0
        shifted = np.exp(aL - aL.max(axis=1, keepdims=True))
        step = -(e - shifted / shifted.sum(axis=1, keepdims=True))
    else:
        step = aL - Y
    step *= c / (aL.shape[0] if reduction == "mean" else 1)
    return step


def _backward_rows(rows: _Rows, run: _Run, layers: list[_Layer], P: list[Any], ref: Any,
                   X: np.ndarray, Y: np.ndarray, loss: str, reduction: str, c: float) -> None:
    """The gradients, in the order of the sweep; "step" applies each formula to autograd's
    own inputs of that step, which pins a wrong step to the layer where it happens."""
    L = len(layers)
    a, h = run.a, run.h
    ga = {k: _grad_of(a[k]) for k in a}
    gh = {k: _grad_of(h[k]) for k in h}
    top = "−(e(ℓ) − ŷ)" if loss == "ce" else "ŷ − y"
    rows.add(L, f"∇a_{L}", top if c == 1 else f"{c:g} × ({top})", "backward", a[L].grad,
             c * ref.a[L], step=_output_step(_array(a[L]), Y, loss, reduction, c))
    for k in range(L, 0, -1):
        W_k = P[k - 1][0]
        h_prev = _array(h[k - 1])
        # h_{k−1} is a_{k−1} itself when no activation module sits between two Linears
        hn = f"h_{k - 1}" if k == 1 or h[k - 1] is not a[k - 1] else f"a_{k - 1}"
        rows.add(k, f"∇W_{k}", f"∇a_{k}·{hn}ᵀ", "backward", run.grad_W[k], c * ref.W[k],
                 step=ga[k].T @ h_prev, rank_of=run.grad_W[k] if X.shape[0] == 1 else None)
        if P[k - 1][1] is not None:
            rows.add(k, f"∇b_{k}", f"∇a_{k}", "backward", run.grad_b[k], c * ref.b[k],
                     step=ga[k].sum(axis=0))
        if hn.startswith("h"):
            rows.add(k - 1, f"∇h_{k - 1}", f"W_{k}ᵀ·∇a_{k}", "backward", h[k - 1].grad,
                     c * ref.h[k - 1], step=ga[k] @ W_k)
        if k > 1:
            g_k = layers[k - 2].g
            if hn.startswith("h"):
                formula = f"∇h_{k - 1} ⊙ {_symbol(g_k)}′(a_{k - 1})"
            else:
                formula = f"W_{k}ᵀ·∇a_{k}"
            step = gh[k - 1] * g_k.g_prime(_array(a[k - 1]))
            rows.add(k - 1, f"∇a_{k - 1}", formula, "backward", a[k - 1].grad,
                     c * ref.a[k - 1], step=step,
                     slips=_slips(g_k, gh[k - 1], _array(h[k - 1]), _array(a[k - 1])))


def _slips(g: Activation, dh: np.ndarray, h: np.ndarray, a: np.ndarray,
           ) -> list[tuple[str, str, np.ndarray]]:
    """What each classic slip in g′ gives on autograd's own ∇h_k, h_k and a_k."""
    if g.params:
        return []
    return [(s.name, g.name, np.asarray(s.vjp(dh, h, a), np.float64))
            for s in SLIPS.get(g.name, ())]


_SYMBOLS = {"sigmoid": "σ", "linear": "id"}


def _symbol(g: Activation) -> str:
    """How g is written in a formula: σ for the sigmoid, its name otherwise."""
    return _SYMBOLS.get(g.name, g.name)


def _same_as_model(model: Any, x: Any, logits: Any, layers: list[_Layer]) -> None:
    """The layer-by-layer run must be what ``model(x)`` computes; if not, the model's forward
    is not the chain of its layers and the formulas would describe another network."""
    from minigrad.modes import no_grad

    with no_grad():
        y = model(x.detach())
    got = np.asarray(getattr(y, "data", y))
    want = np.asarray(logits.data)
    if got.shape != want.shape or not np.allclose(got, want, rtol=1e-5, atol=1e-6,
                                                   equal_nan=True):
        raise ValueError(
            f"compare: model(x) differs from running its layers "
            f"{', '.join(repr(ly.name) for ly in layers)} one after another "
            f"({type(model).__name__}.forward does something else, a skip connection, say); "
            f"compare maps only the plain chain Linear → activation → … → Linear"
        )


def _mapping(model: Any) -> Mapping[str, str]:
    """Layer names and what they map to, e.g. ``{'layers.0': 'W_1, b_1', …}`` (for docs)."""
    out: dict[str, str] = {}
    for k, ly in enumerate(_map_model(model), start=1):
        out[ly.name] = f"a_{k} = b_{k} + W_{k} h_{k - 1}"
        if ly.act_name is not None:
            out[ly.act_name] = f"h_{k} = {ly.g}(a_{k})"
    return out
