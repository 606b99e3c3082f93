r"""Plots with matplotlib (Agg backend: no display needed): gradient flow per layer, training
curves, and the decision boundary of a 2-D classifier.

Each function saves one figure and returns its path. Unlike `visualize.render`, plots replace
an existing file by default (``overwrite=True``), since they are usually redrawn every epoch;
pass ``overwrite=False`` to refuse. The file is written atomically all the same, and the
format comes from the suffix (``.png``, ``.svg``, ``.pdf``, …, whatever matplotlib writes).
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: never open a window, work without a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402

import minigrad  # noqa: E402
from minigrad.tensor import Tensor  # noqa: E402

from .files import check_destination, write_atomic  # noqa: E402

__all__ = ["grad_flow", "plot_history", "decision_boundary"]

# ColorBrewer "Set1"-like hues for classes: distinct, and readable under the light shading
CLASS_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
                 "#17becf", "#bcbd22", "#7f7f7f")


def _save(fig: Any, path: str | os.PathLike[str], overwrite: bool, dpi: int = 120) -> Path:
    """Saves `fig` atomically to `path` (format from the suffix) and closes it."""
    try:
        p = check_destination(path, overwrite)
        fmt = p.suffix.lstrip(".").lower()
        supported = fig.canvas.get_supported_filetypes()
        if fmt not in supported:
            raise ValueError(
                f"cannot save a plot as {p.name!r}: use one of "
                f"{', '.join('.' + k for k in sorted(supported))}"
            )
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight")
        return write_atomic(p, buf.getvalue(), overwrite)
    finally:
        plt.close(fig)


# --------------------------------------------------------------------------- gradient flow
def grad_flow(
    model: Any, path: str | os.PathLike[str], *, title: str | None = None, overwrite: bool = True
) -> Path:
    r"""Bars of the mean and max ``|grad|`` of every parameter, on a log scale.

    The standard vanishing/exploding-gradient check: read left to right (input to output),
    the bars of a healthy network stay within a few orders of magnitude; bars that shrink
    towards the input mean the gradient vanishes on the way back. Call it after
    ``loss.backward()``.

    Args:
        model: anything with ``named_parameters()``.
        path: the image to write.
        title: the figure title.
        overwrite: replace an existing file (the default for plots).

    Returns:
        The path written.

    Raises:
        ValueError: no parameter has a gradient yet (run backward first).
    """
    if not hasattr(model, "named_parameters"):
        raise TypeError(f"grad_flow() needs a model with named_parameters(), got "
                        f"{type(model).__name__}")
    names, means, maxes, missing = [], [], [], []
    for name, p in model.named_parameters():
        if p.grad is None:
            missing.append(name)
            continue
        g = np.abs(np.asarray(p.grad.data, dtype=np.float64))
        names.append(name)
        means.append(float(g.mean()) if g.size else 0.0)
        maxes.append(float(g.max()) if g.size else 0.0)
    if not names:
        raise ValueError("grad_flow(): no parameter has a gradient yet; call loss.backward() "
                         "first")
    positive = [v for v in means + maxes if v > 0]
    floor = min(positive) / 10 if positive else 1e-12
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(names) + 2), 4.2))
    # a zero gradient has no logarithm: it is drawn at the floor and marked
    ax.bar(x, [max(v, floor) for v in maxes], width=0.8, color="#9ecae1", label="max |grad|")
    ax.bar(x, [max(v, floor) for v in means], width=0.45, color="#08519c", label="mean |grad|")
    for i, mx in enumerate(maxes):
        if mx == 0:
            ax.annotate("0", (i, floor), ha="center", va="bottom", fontsize=8, color="#c0392b")
    ax.set_yscale("log")
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=45, ha="right", fontsize=9)
    ax.set_ylabel("|grad| (log scale)")
    ax.set_xlabel("parameter (input → output)")
    ax.grid(axis="y", which="major", alpha=0.3)
    ax.set_title(title or "Gradient flow: mean and max |grad| per parameter")
    ax.legend(loc="best", fontsize=9)
    if missing:
        ax.text(0.0, -0.45, "no gradient: " + ", ".join(missing), transform=ax.transAxes,
                fontsize=8, color="#666666", va="top")
    return _save(fig, path, overwrite)


# --------------------------------------------------------------------------- training curves
_ACCURACY_KEYS = ("accuracy", "train_accuracy", "test_accuracy", "val_accuracy")


def plot_history(
    history: Mapping[str, Sequence[float]],
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    overwrite: bool = True,
) -> Path:
    r"""Loss and accuracy curves from a training history.

    Args:
        history: a dict of lists, one entry per epoch (or step): ``"loss"`` (required), and
            optionally ``"test_loss"``/``"val_loss"`` and ``"accuracy"``,
            ``"train_accuracy"``, ``"test_accuracy"``, ``"val_accuracy"`` (fractions in
            [0, 1] or percentages). With accuracies, a second panel shows them.
        path: the image to write.
        title: the figure title.
        overwrite: replace an existing file (the default for plots).

    Returns:
        The path written.
    """
    if not isinstance(history, Mapping) or "loss" not in history:
        raise ValueError('plot_history(): history must be a dict with a "loss" list, e.g. '
                         '{"loss": [...], "accuracy": [...]}')
    losses = {k: list(map(float, v)) for k, v in history.items()
              if k == "loss" or (k.endswith("_loss") and len(v))}
    accs = {k: list(map(float, v)) for k, v in history.items()
            if k in _ACCURACY_KEYS and len(v)}
    if not losses["loss"]:
        raise ValueError("plot_history(): history['loss'] is empty")
    panels = 2 if accs else 1
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 3.8), squeeze=False)
    _curves(axes[0][0], losses, "loss")
    finite = [x for v in losses.values() for x in v if np.isfinite(x)]
    if finite and min(finite) > 0 and max(finite) / min(finite) > 100:
        axes[0][0].set_yscale("log")  # a loss falling over decades reads better in log scale
    if accs:
        _curves(axes[0][1], accs, "accuracy")
        top = max(max(v) for v in accs.values())
        axes[0][1].set_ylim(0, 100 if top > 1.0 else 1.0)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path, overwrite)


def _curves(ax: Any, series: Mapping[str, list[float]], name: str) -> None:
    """One panel: a line per series against the epoch, titled and labelled `name`."""
    for k, v in series.items():
        ax.plot(np.arange(1, len(v) + 1), v, label=k, lw=1.6)
    ax.set_xlabel("epoch")
    ax.set_ylabel(name)
    ax.set_title(name)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)


# --------------------------------------------------------------------------- decision boundary
def _predict(model: Any, points: np.ndarray, dtype: Any, chunk: int = 8192) -> np.ndarray:
    """Class predictions of `model` at `points`, in chunks, without recording a graph."""
    out = []
    with minigrad.no_grad():
        for i in range(0, len(points), chunk):
            logits = model(Tensor(points[i : i + chunk].astype(dtype)))
            z = np.asarray(logits.data if isinstance(logits, Tensor) else logits)
            if z.ndim == 1 or z.shape[-1] == 1:
                # one output: a logit, class 1 where sigmoid(z) > 0.5, i.e. z > 0
                out.append((z.reshape(len(z)) > 0).astype(np.int64))
            else:
                out.append(z.argmax(axis=-1))
    return np.concatenate(out)


def decision_boundary(
    model: Any,
    X: Any,
    y: Any,
    path: str | os.PathLike[str],
    resolution: int = 200,
    *,
    title: str | None = None,
    overwrite: bool = True,
) -> Path:
    r"""The classes `model` predicts over the plane, with the data points on top.

    The model is called on a ``resolution × resolution`` grid covering the data (plus a
    margin) under ``minigrad.no_grad()``, in evaluation mode when it has ``eval()`` (its
    mode is restored afterwards). The predicted class is the argmax of the logits, or, for a
    single output, ``sigmoid(z) > 0.5``.

    Args:
        model: a callable taking a ``(N, 2)`` Tensor and returning logits ``(N, C)`` or
            ``(N,)``/``(N, 1)``.
        X: the ``(N, 2)`` inputs (array or Tensor).
        y: the ``(N,)`` integer labels.
        path: the image to write.
        resolution: grid points per axis.
        title: the figure title.
        overwrite: replace an existing file (the default for plots).

    Returns:
        The path written.
    """
    Xa = np.asarray(X.data if isinstance(X, Tensor) else X, dtype=np.float64)
    ya = np.asarray(y.data if isinstance(y, Tensor) else y).reshape(-1)
    if Xa.ndim != 2 or Xa.shape[1] != 2:
        raise ValueError(f"decision_boundary(): X must have shape (N, 2), got {Xa.shape}")
    if len(ya) != len(Xa):
        raise ValueError(f"decision_boundary(): {len(Xa)} points but {len(ya)} labels")
    if not isinstance(resolution, int) or resolution < 2:
        raise ValueError(f"decision_boundary(): resolution must be an int ≥ 2, got {resolution!r}")
    lo, hi = Xa.min(axis=0), Xa.max(axis=0)
    pad = 0.08 * np.maximum(hi - lo, 1e-9)
    xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
    ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    gx, gy = np.meshgrid(xs, ys)
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    dtype = np.float32
    params = getattr(model, "parameters", None)
    if callable(params):
        first = next(iter(params()), None)
        if first is not None:
            dtype = first.data.dtype
    was_training = getattr(model, "training", None)
    if was_training is not None and hasattr(model, "eval"):
        model.eval()  # dropout off: the boundary of the model as it will be used
    try:
        pred = _predict(model, grid, dtype).reshape(gx.shape)
        on_data = _predict(model, Xa, dtype)
    finally:
        if was_training and hasattr(model, "train"):
            model.train(True)
    classes = int(max(pred.max(initial=0), ya.max(initial=0))) + 1
    colours = [CLASS_COLOURS[c % len(CLASS_COLOURS)] for c in range(classes)]
    fig, ax = plt.subplots(figsize=(5.4, 5.0))
    ax.contourf(gx, gy, pred, levels=np.arange(classes + 1) - 0.5,
                cmap=ListedColormap(colours), alpha=0.25)
    ax.contour(gx, gy, pred, levels=np.arange(classes) + 0.5, colors="#333333", linewidths=0.8)
    for c in range(classes):
        m = ya == c
        if m.any():
            ax.scatter(Xa[m, 0], Xa[m, 1], s=14, color=colours[c], edgecolors="white",
                       linewidths=0.4, label=f"class {c}")
    acc = float((on_data == ya).mean()) if len(ya) else float("nan")
    ax.set_title(title or f"Decision boundary (training accuracy {acc:.1%})")
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.legend(fontsize=8, loc="best")
    ax.set_aspect("equal", adjustable="box")
    return _save(fig, path, overwrite)
