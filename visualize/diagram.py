r"""`draw`: the computation graph of a tensor as a `graphviz.Digraph`.

One node per tensor of `minigrad.graph(output)` and one small op node between an op's inputs
and its result, showing the op's formula from the registry. Tensor nodes show a readable name,
shape, dtype, value and gradient; with ``backward=True`` dashed edges in a second colour run
from each result back to its inputs, labelled with the registry's VJP formula for that input
(a Linear layer sends ``δ·hᵀ`` to W, ``Wᵀ·δ`` to h and ``δ`` to b). Tensors made inside a
module (see `minigrad.modes.scope`) are boxed together, one box per module.

Names follow the lecture where nothing better is known: the outputs of the k-th linear layer
(in forward order) are ``a_k``, of the activation after it ``h_k``, its weight and bias
``W_k`` and ``b_k``, the network's input ``x``; a parameter found in ``model.named_parameters()``
keeps its dotted name (``layers.0.weight · W₁``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import graphviz
import numpy as np

from minigrad.tensor import Tensor

from . import _style as S
from ._text import escape
from .collapse import draw_collapsed
from .emit import NodeStyle, emit_full, new_digraph, role_style
from .emit import op_id as op_id  # importable from here, as before `emit` was split off
from .emit import tensor_id as tensor_id
from .labels import (
    SHOW_OPTIONS,
    GradScale,
    grad_norm,
    graph_label,
    role_legend,
    swatch,
    tensor_label,
    wrap_text,
)
from .plan import draw_plan
from .scene import Scene, build_scene

__all__ = ["draw", "SHOW_OPTIONS"]

DIRECTIONS = ("LR", "TB", "RL", "BT")
COLLAPSE = ("auto", "module", "none")


# --------------------------------------------------------------------------- draw
def _check_options(show: Any, direction: str, color_by: str, collapse: Any, max_nodes: Any) -> (
    tuple[tuple[str, ...], str]
):
    if isinstance(show, str):
        show = (show,)
    show = tuple(show)
    bad = [s for s in show if s not in SHOW_OPTIONS]
    if bad:
        raise ValueError(f"draw(show=...): unknown entries {bad}; choose from {SHOW_OPTIONS}")
    if direction not in DIRECTIONS:
        raise ValueError(f"draw(direction=...): {direction!r} is not one of {DIRECTIONS}")
    if color_by not in ("role", "grad"):
        raise ValueError(f"draw(color_by=...): {color_by!r} is not 'role' or 'grad'")
    if collapse in (None, False):
        collapse = "none"
    if collapse is True:
        collapse = "module"
    if collapse not in COLLAPSE:
        raise ValueError(f"draw(collapse=...): {collapse!r} is not one of {COLLAPSE}")
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, int) or max_nodes < 1:
        raise ValueError(f"draw(max_nodes=...): need a positive int, got {max_nodes!r}")
    return show, collapse


def draw(
    output: Tensor,
    *,
    model: Any = None,
    show: Sequence[str] = SHOW_OPTIONS,
    direction: str = "LR",
    title: str | None = None,
    backward: bool = False,
    color_by: str = "role",
    collapse: str | None = "auto",
    max_nodes: int = 200,
    check: Any = None,
    derive: bool = False,
    tangents: bool = False,
) -> graphviz.Digraph:
    r"""Draws the computation graph of `output` (a minigrad Tensor) for Graphviz.

    Each tensor is a rounded box with its name, shape and dtype, value and gradient: up to
    12 numbers are printed (a matrix as a grid), larger tensors as mean, std, min, max and
    norm. Before any backward the gradient reads "not computed yet"; after one, a non-leaf
    shows its gradient only if it called ``retain_grad()``. Each op is a small box between
    its inputs and its result with the op's formula (``linear / a = W h + b``).

    In Jupyter the returned `graphviz.Digraph` displays inline as SVG (it implements
    ``_repr_mimebundle_``): end a cell with ``visualize.draw(loss, model=model)``. To save
    it, use `visualize.render`, or ``.source`` for the DOT text.

    Args:
        output: the tensor whose history to draw (usually the loss).
        model: optional module; its ``named_parameters()`` name the parameters and its
            ``named_modules()`` describe the boxes (``layers.0 · Linear(2→16)``).
        show: what tensor boxes contain, any of ``"value"``, ``"grad"``, ``"shape"``
            (shape includes the dtype). The name is always shown.
        direction: ``"LR"`` (left to right) or ``"TB"`` (top to bottom); also RL, BT.
        title: a title above the graph.
        backward: add the backward edges: dashed, red, from each result back to each input
            that needs a gradient, labelled with that input's VJP formula (``δ·hᵀ``).
        color_by: ``"role"`` fills parameters, inputs, intermediates and the loss in four
            colours; ``"grad"`` fills each tensor by log10 of its gradient's norm on viridis,
            so a vanishing or exploding layer stands out.
        collapse: ``"module"`` draws each module as a single node; ``"auto"`` does so only
            when the graph has more than `max_nodes` tensors (and says so in the title);
            ``"none"`` never collapses. If one node per module is still more than
            `max_nodes`, consecutive parts of the forward order are merged further.
        max_nodes: the node budget for ``collapse="auto"``.
        check: a report of `minigrad.reference.check`: every tensor it checked is filled
            green (your gradient matches autograd's, ✓) or red (it does not, ✗) with its
            max|Δ| under its name, and a red one with its diagnosis (``wrong_rule: your ∇z
            uses 1 − tanh(a) for 1 − tanh²(a) …``); a first wrong step has a thicker border
            than the red tensors that only inherit from it; the other tensors are white. The
            drawing is not collapsed (unless ``collapse="module"``, which is an error with a
            check).
        derive: write under each tensor's name the formula of the gradient arriving at it,
            from `minigrad.derive` (``δ_2 = (W_3ᵀ δ_3) ⊙ σ′(a_2)``), beside its value and
            gradient; `output` must then be a scalar loss. Not collapsed, as with `check`.
        tangents: forward mode, after ``func.jvp(f, primals, tangents, keep=True)`` returned
            `output`: each tensor shows its tangent `ẋ` (in green, where a gradient would
            be), each forward edge its term of the result's tangent with its value (``Ẇ h``,
            the way backward edges carry `δ`), and each op's edge to its result the op's
            JVP formula (``ȧ = Ẇ h + W ḣ``). Not collapsed, as with `check`.

    Where a value of the graph is NaN or infinite, the tensor where the first one appeared
    gets a thick purple border and a line naming the op that made it (and, for ops made
    under `minigrad.detect_anomaly`, the line of code); likewise for the first non-finite
    gradient when the graph was made under anomaly mode or holds one in a ``.grad``
    (`minigrad.reference.origin`). Not in collapsed drawings.

    Given a `minigrad.compile` plan (``step.plan``) instead of a tensor, it draws the compiled
    schedule (see `minigrad.visualize.draw_plan`).

    Returns:
        The `graphviz.Digraph` (``.source`` is the DOT text).

    Raises:
        TypeError: `output` is not a Tensor or `model` has no ``named_parameters()``.
        ValueError: an option has a value not listed above, `check` checked tensors of
            another graph, or `tangents` was asked of a tensor no ``jvp(..., keep=True)``
            returned.
    """
    if type(output).__name__ == "Plan" and hasattr(output, "stages"):
        return draw_plan(output, title=title)  # a minigrad.compile plan: its schedule
    show, collapse = _check_options(show, direction, color_by, collapse, max_nodes)
    scene = build_scene(output, model)
    n = len(scene.order)
    if check is not None:
        if collapse == "module":
            raise ValueError("draw: check= colours single tensors, so it needs the full "
                             "drawing; use collapse='auto' or 'none'")
        return _draw_checked(scene, check, show=show, direction=direction, title=title,
                             backward=backward, nan=_nan_mark(scene, output))
    if tangents:
        if collapse == "module":
            raise ValueError("draw: tangents= writes a tangent on every tensor and edge, so "
                             "it needs the full drawing; use collapse='auto' or 'none'")
        return _draw_tangents(scene, output, show=show, direction=direction, title=title)
    if derive:
        if collapse == "module":
            raise ValueError("draw: derive= writes a formula on every tensor, so it needs the "
                             "full drawing; use collapse='auto' or 'none'")
        return _draw_derived(scene, output, model, show=show, direction=direction, title=title,
                             backward=backward)
    if collapse == "module" or (collapse == "auto" and n > max_nodes):
        note = (
            f"collapsed by module: the graph has {n:,} tensors, more than max_nodes={max_nodes}"
            if collapse == "auto"
            else f"collapsed by module ({n:,} tensors)"
        )
        return draw_collapsed(scene, show=show, direction=direction, title=title,
                              backward=backward, color_by=color_by, max_nodes=max_nodes,
                              note=note)
    return _draw_full(scene, show=show, direction=direction, title=title, backward=backward,
                      color_by=color_by, nan=_nan_mark(scene, output))


def _nan_mark(scene: Scene, output: Tensor) -> tuple[int, list[str]] | None:
    """Where the first NaN or infinity of the graph appears (`minigrad.reference.origin`),
    and the lines that say so: by value always; by gradient when the graph was made under
    `minigrad.detect_anomaly` (its ops know their line of code) or a gradient is not finite."""
    from minigrad.reference.origin import nan_origin

    def finite(t: Any) -> bool:
        a = t.data
        return a.dtype.kind not in "fc" or bool(np.all(np.isfinite(a)))

    tensors = [nd.tensor for nd in scene.nodes.values()]
    recorded = any(getattr(t._ctx, "where", None) for t in tensors if t._ctx is not None)
    bad_grad = any(t.grad is not None and not finite(t.grad) for t in tensors)
    with np.errstate(all="ignore"):
        origin = nan_origin(output, backward=recorded or bad_grad)
    if origin is None or id(origin.tensor) not in scene.nodes:
        return None
    return id(origin.tensor), [escape(x) for x in wrap_text(origin.text, 48).split("\n")]


def _marked(nid: int, st: NodeStyle, extra: list[str], nan: tuple[int, list[str]] | None,
            ) -> tuple[NodeStyle, list[str]]:
    """A node's style and lines, with the NaN origin's mark when it is this node."""
    if nan is None or nan[0] != nid:
        return st, extra
    return (NodeStyle(fill=st.fill, border=S.NAN_BORDER, penwidth=S.FIRST_WRONG_PENWIDTH,
                      style=st.style, ink=st.ink), [*extra, *nan[1]])


def _draw_full(scene: Scene, *, show: Sequence[str], direction: str, title: str | None,
               backward: bool, color_by: str,
               nan: tuple[int, list[str]] | None = None) -> graphviz.Digraph:
    scale = None
    if color_by == "grad":
        scale = GradScale.of(
            v for v in (grad_norm(nd.tensor) for nd in scene.nodes.values()) if v is not None
        )
    styles: dict[int, NodeStyle] = {}
    for nid, nd in scene.nodes.items():
        if color_by == "grad":
            norm = grad_norm(nd.tensor)
            fill = S.NO_GRAD_FILL if norm is None or scale is None else scale.colour(norm)
            styles[nid] = NodeStyle(fill=fill,
                                    style="rounded,filled" if norm is not None
                                    else "rounded,filled,dashed")
        else:
            styles[nid] = role_style(nd)
    legend = []
    if color_by == "grad":
        legend.append(scale.legend() if scale is not None else
                      f'<FONT POINT-SIZE="10" COLOR="{S.MUTED}">no gradients yet: call '
                      "backward() to colour by gradient</FONT>")
    legend.append(role_legend({nd.role for nd in scene.nodes.values()} if color_by == "role"
                              else set(), backward))
    labels = None
    if nan is not None:
        nd = scene.nodes[nan[0]]
        styles[nan[0]], extra = _marked(nan[0], styles[nan[0]], [], nan)
        labels = {nid: tensor_label(n, show=show, after_backward=scene.after_backward,
                                    fill=styles[nid].fill, ink=styles[nid].ink,
                                    extra=extra if n is nd else [])
                  for nid, n in scene.nodes.items()}
    g = new_digraph(direction, graph_label(title, [], legend))
    emit_full(g, scene, show=show, backward=backward, styles=styles, labels=labels)
    return g


def _checked_rows(scene: Scene, report: Any) -> dict[int, Any]:
    rows = getattr(report, "rows", None)
    if rows is None or not all(hasattr(r, "tensor") and hasattr(r, "approx") for r in rows):
        raise TypeError(f"draw: check= takes the report of minigrad.reference.check, got "
                        f"{type(report).__name__}")
    out: dict[int, Any] = {}
    for r in rows:
        if not getattr(r, "reached", True) and id(r.tensor) not in scene.nodes:
            continue  # a tensor with no path to the loss: not in the drawing
        if id(r.tensor) not in scene.nodes:
            raise ValueError(f"draw: the check report's tensor {r.name!r} is not in this "
                             f"graph; check the same loss you draw")
        out[id(r.tensor)] = r
    return out


def _checked_lines(row: Any, first: bool) -> list[str]:
    """The lines a checked tensor shows under its name: the verdict, its note, and for a
    wrong gradient the diagnosis (marked when it is a first wrong step)."""
    mark = "✓" if row.approx else "✗"
    lines = [f"{mark} yours vs autograd: max|Δ| {row.max_abs:.1e}"]
    if getattr(row, "note", ""):
        lines.append(row.note)
    d = getattr(row, "diagnosis", None)
    if d is not None and d.kind == "inherited" and not first:
        lines.append(f"inherited from ∇{d.source}")
    elif d is not None:
        head = "first wrong step · " if first else ""
        lines += wrap_text(f"{head}{d.kind}: {d.text}", 48).split("\n")
    return [escape(line) for line in lines]


def _draw_checked(scene: Scene, report: Any, *, show: Sequence[str], direction: str,
                  title: str | None, backward: bool,
                  nan: tuple[int, list[str]] | None = None) -> graphviz.Digraph:
    """The full drawing with the checked tensors green (✓) or red (✗) and the rest white;
    a red tensor shows its diagnosis, and a first wrong step has a thicker border than the
    red tensors that only inherit from it."""
    checked = _checked_rows(scene, report)
    first = {id(r.tensor) for r in getattr(report, "first_wrong", [])}
    styles: dict[int, NodeStyle] = {}
    labels: dict[int, str] = {}
    for nid, nd in scene.nodes.items():
        row = checked.get(nid)
        if row is None:
            st = NodeStyle(fill=S.UNCHECKED_FILL, border="#9a9a9a")
            extra: list[str] = []
        else:
            verdict = "pass" if row.approx else "fail"
            width = S.FIRST_WRONG_PENWIDTH if nid in first else "2.5"
            st = NodeStyle(fill=S.CHECK_PASS if row.approx else S.CHECK_FAIL,
                           border=S.CHECK_BORDER[verdict], penwidth=width)
            extra = _checked_lines(row, nid in first)
        st, extra = _marked(nid, st, extra, nan)
        styles[nid] = st
        labels[nid] = tensor_label(nd, show=show, after_backward=scene.after_backward,
                                   fill=st.fill, ink=st.ink, extra=extra)
    n_ok = sum(r.approx for r in checked.values())
    cells = []
    for fill, text in ((S.CHECK_PASS, "your gradient matches autograd's ✓"),
                       (S.CHECK_FAIL, "it differs ✗ (thick border: the first wrong step)"),
                       (S.UNCHECKED_FILL, "not checked")):
        cells.append(swatch(fill))
        cells.append(f'<TD ALIGN="LEFT"><FONT POINT-SIZE="10">{escape(text)}</FONT></TD>')
    cells.append(f'<TD ALIGN="LEFT"><FONT POINT-SIZE="10">({n_ok} of {len(checked)} match)'
                 "</FONT></TD>")
    legend = ['<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="4" CELLPADDING="1"><TR>'
              + "".join(cells) + "</TR></TABLE>"]
    g = new_digraph(direction, graph_label(title, [], legend))
    emit_full(g, scene, show=show, backward=backward, styles=styles, labels=labels)
    return g


def _draw_derived(scene: Scene, output: Tensor, model: Any, *, show: Sequence[str],
                  direction: str, title: str | None, backward: bool) -> graphviz.Digraph:
    """The full drawing with the derived formula of each tensor's gradient under its name."""
    from minigrad.derive import derive

    d = derive(output, model)
    styles: dict[int, NodeStyle] = {}
    labels: dict[int, str] = {}
    for nid, nd in scene.nodes.items():
        st = role_style(nd)
        line = d.arriving(nd.tensor)
        extra = [] if line is None else [escape(part) for part in wrap_text(line.text, 44).split(
            "\n")]
        styles[nid] = st
        labels[nid] = tensor_label(nd, show=show, after_backward=scene.after_backward,
                                   fill=st.fill, ink=st.ink, extra=extra)
    legend = [role_legend({nd.role for nd in scene.nodes.values()}, backward),
              f'<FONT POINT-SIZE="10" COLOR="{S.MUTED}">under each name: the gradient '
              f"arriving there, as minigrad.derive writes it</FONT>"]
    g = new_digraph(direction, graph_label(title, [], legend))
    emit_full(g, scene, show=show, backward=backward, styles=styles, labels=labels)
    return g


# --------------------------------------------------------------------------- forward mode
TANGENT = "#1a7f37"  # the colour of tangents, as red is the colour of gradients


def _short(a: Any) -> str:
    """A tangent's value in one short line: its numbers when few, else its norm."""
    import numpy as np

    arr = np.asarray(a)
    if arr.size <= 4:
        return np.array2string(arr, precision=3, separator=", ", suppress_small=True)
    return f"‖·‖ = {float(np.linalg.norm(arr)):.3g} ({'×'.join(map(str, arr.shape))})"


def _tangent_edges(scene: Scene, record: Any) -> dict[tuple[int, int], dict[str, str]]:
    """Each forward edge's label: its term of the tangent and the term's value; each op's
    edge to its result: the op's JVP formula."""
    from minigrad.forward import jvp_formula
    from minigrad.ops.registry import REGISTRY

    styles: dict[tuple[int, int], dict[str, str]] = {}
    for nid in scene.order:
        nd = scene.nodes[nid]
        if nd.op is None or record.tangent(nd.tensor) is None:
            continue
        found = []
        for u, data in nd.inputs:
            term = record.term(scene.nodes[u].tensor, nd.tensor)
            if term is None:
                continue
            found.extend(data["argnums"])
            styles[(u, nid)] = {"color": TANGENT, "fontcolor": TANGENT, "label": "<"
                                + escape(f"{term[0]} = {_short(term[1].data)}") + ">"}
        op = REGISTRY.get(nd.op)
        if op is not None:
            styles[(nid, nid)] = {"color": TANGENT, "fontcolor": TANGENT, "label": "<"
                                  + escape(jvp_formula(op, sorted(set(found)))) + ">"}
    return styles


def _draw_tangents(scene: Scene, output: Tensor, *, show: Sequence[str], direction: str,
                   title: str | None) -> graphviz.Digraph:
    """The full drawing with the tangents a ``func.jvp(..., keep=True)`` kept."""
    from minigrad.func import tangents_of

    record = tangents_of(output)
    if record is None:
        raise ValueError("draw(tangents=True): no tangents were kept for this tensor; draw "
                         "the output of func.jvp(f, primals, tangents, keep=True)")
    styles: dict[int, NodeStyle] = {}
    labels: dict[int, str] = {}
    for nid, nd in scene.nodes.items():
        st = role_style(nd)
        t = record.tangent(nd.tensor)
        ink = S.Ink(st.colours.text, st.colours.muted, TANGENT)
        styles[nid] = st
        labels[nid] = tensor_label(nd, show=[s for s in show if s != "grad"],
                                   after_backward=False, fill=st.fill, ink=ink) if t is None \
            else tensor_label(nd, show=list(show) + ["grad"], after_backward=False,
                              fill=st.fill, ink=ink, grad_override=t.data,
                              grad_caption="tangent")
    legend = [role_legend({nd.role for nd in scene.nodes.values()}, False),
              f'<FONT POINT-SIZE="10" COLOR="{TANGENT}">forward mode: each tensor\'s tangent '
              f"ẋ, each edge its term J·ẋ of the next tangent, each op its JVP</FONT>"]
    g = new_digraph(direction, graph_label(title, [], legend))
    emit_full(g, scene, show=show, backward=False, styles=styles, labels=labels,
              edge_styles=_tangent_edges(scene, record))
    return g
