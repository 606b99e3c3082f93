r"""The HTML-like labels of a drawing: a tensor's name, shape, value and gradient, an op's
formula, the backward formulas on the edges, the gradient colour bar, the legends and the
title.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from minigrad.ops.registry import REGISTRY
from minigrad.tensor import Tensor

from . import _style as S
from ._text import clean, escape, shape_text, summary_lines, value_rows
from .scene import DiagramNode, Scene, follow_back

SHOW_OPTIONS = ("value", "grad", "shape")
"""What a tensor's box can show besides its name."""


# --------------------------------------------------------------------------- labels
def _cell(text: str, *, color: str | None = None, size: float | None = None,
          face: str | None = None, bold: bool = False, italic: bool = False,
          align: str = "CENTER", colspan: int = 1) -> str:
    """A table cell with already-escaped `text`."""
    inner = text
    if bold:
        inner = f"<B>{inner}</B>"
    if italic:
        inner = f"<I>{inner}</I>"
    attrs = []
    if color:
        attrs.append(f'COLOR="{color}"')
    if size:
        attrs.append(f'POINT-SIZE="{size:g}"')
    if face:
        attrs.append(f'FACE="{face}"')
    if attrs:
        inner = f"<FONT {' '.join(attrs)}>{inner}</FONT>"
    span = f' COLSPAN="{colspan}"' if colspan > 1 else ""
    return f'<TD ALIGN="{align}"{span}>{inner}</TD>'


def numbers_table(a: np.ndarray, color: str) -> str:
    """The numbers of a small array as a right-aligned grid (a matrix reads as a matrix); a
    large array as its summary lines."""
    rows = value_rows(np.asarray(a))
    if rows is None:
        lines = summary_lines(np.asarray(a))
        return (
            '<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0">'
            + "".join(
                "<TR>" + _cell(escape(line), color=color, size=10, face=S.MONO, align="LEFT")
                + "</TR>"
                for line in lines
            )
            + "</TABLE>"
        )
    body = "".join(
        "<TR>"
        + "".join(_cell(escape(v), color=color, size=10, face=S.MONO, align="RIGHT") for v in row)
        + "</TR>"
        for row in rows
    )
    return f'<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">{body}</TABLE>'


def grad_state(node: DiagramNode, after_backward: bool) -> str | None:
    """Why a tensor shows no gradient, or None when it has one (or cannot have one)."""
    t = node.tensor
    if t.grad is not None:
        return None
    if not t.requires_grad:
        return "no grad (constant)"
    if node.op is not None and after_backward:
        return "not kept (see retain_grad())"
    if after_backward:  # a leaf backward did not reach: no gradient, which is not zero
        return "none: no path to the loss"
    return "not computed yet"


def tensor_label(
    node: DiagramNode,
    *,
    show: Sequence[str],
    after_backward: bool,
    fill: str = "#ffffff",
    ink: S.Ink | None = None,
    grad_override: np.ndarray | None = None,
    grad_caption: str = "grad",
    hide_grad: bool = False,
    hidden_colour: str = "#ffffff",
    extra: Sequence[str] = (),
) -> str:
    """The HTML-like label of one tensor node: name, shape and dtype, value, gradient.

    Args:
        grad_override: show this array as the gradient instead of ``tensor.grad`` (the
            step-through shows gradients it computed itself).
        hide_grad: keep the gradient row's size but draw its text in `hidden_colour` (the
            node's fill), so frames that differ only in this row share one layout.
        fill: the node's fill colour, which decides the text colours unless `ink` is given.
        extra: escaped lines added under the name (e.g. the op of a collapsed node).
    """
    t = node.tensor
    ink = ink or S.ink_on(fill)
    text, muted, grad_colour = ink.text, ink.muted, ink.grad
    title = escape(node.name)
    if node.symbol:
        title += f'\u00a0<FONT COLOR="{muted}">· {escape(node.symbol)}</FONT>'
    rows = [f"<TR>{_cell(title, bold=True, size=12, colspan=2, color=text)}</TR>"]
    for line in extra:
        rows.append(f"<TR>{_cell(line, size=9, colspan=2, color=muted)}</TR>")
    if "shape" in show:
        rows.append(
            f"<TR>{_cell(escape(shape_text(t.shape, t.dtype)), size=9, colspan=2, color=muted)}"
            "</TR>"
        )
    if "value" in show:
        rows.append(
            "<TR>"
            + _cell("value", size=9, color=muted, align="RIGHT")
            + f'<TD ALIGN="LEFT">{numbers_table(t.data, text)}</TD></TR>'
        )
    if "grad" in show:
        g = grad_override if grad_override is not None else (
            None if t.grad is None else t.grad.data
        )
        colour = hidden_colour if hide_grad else grad_colour
        head = _cell(escape(grad_caption), size=9, color=colour, align="RIGHT")
        if g is not None:
            rows.append(f'<TR>{head}<TD ALIGN="LEFT">{numbers_table(g, colour)}</TD></TR>')
            if g.size and not np.any(g):  # exactly zero: reached, but nothing flows here
                rows.append("<TR>" + _cell("", size=9) + _cell(
                    "gradient is zero here", size=9, italic=True, color=colour, align="LEFT")
                    + "</TR>")
        else:
            why = grad_state(node, after_backward)
            if why is not None and why != "no grad (constant)":
                rows.append(
                    f"<TR>{head}"
                    + _cell(escape(why), size=9, italic=True, color=colour, align="LEFT")
                    + "</TR>"
                )
    return (
        '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'
        + "".join(rows)
        + "</TABLE>>"
    )


def op_label(op: str, ink: S.Ink | None = None, formula: str | None = None) -> str:
    """The op node's label: its name and its formula in the lecture's notation (the
    registry's, unless `formula` is given)."""
    if formula is None:
        reg = REGISTRY.get(op)
        formula = reg.formula if reg is not None else ""
    ink = ink or S.ink_on(S.OP_FILL)
    text, muted = ink.text, ink.muted
    out = f'<<FONT POINT-SIZE="10" COLOR="{text}"><B>{escape(op)}</B></FONT>'
    if formula:
        out += f'<BR/><FONT POINT-SIZE="10" COLOR="{muted}">{escape(formula)}</FONT>'
    return out + ">"


def formulas_text(edge: dict[str, Any]) -> str:
    """The backward label of one edge: its VJP formulas (``x * x`` sends both, summed)."""
    return " + ".join(str(f) for f in edge.get("formulas", ()))


def _is_parameter(scene: Scene, nid: int) -> bool:
    nd = scene.nodes[nid]
    return nd.op is None and bool(nd.tensor.requires_grad)


def row_layer_labels(scene: Scene) -> dict[tuple[int, int], str]:
    """Backward labels for layers written by hand in PyTorch's row convention, ``h @ W.T``.

    The registry labels matmul's VJPs by position for the lecture's ``a = W h`` (``δ·hᵀ`` to
    the first operand, ``Wᵀ·δ`` to the second). In ``h @ W.T`` the weight is the second
    operand, so those labels would name the wrong things; here each edge gets the product it
    really computes, and the transpose in front of W says that what arrives is the lecture's
    ``δ·hᵀ`` (per example; summed over a batch). The key ``(v, v)`` holds the formula of the
    matmul ``v`` itself.
    """
    out: dict[tuple[int, int], str] = {}
    for v, nd in scene.nodes.items():
        if nd.op != "matmul":
            continue
        slots = {i: u for u, d in nd.inputs for i in d["argnums"]}
        if set(slots) != {0, 1} or slots[0] == slots[1]:
            continue
        h, w = slots[0], slots[1]
        w_root = follow_back(scene.G, w)
        if not _is_parameter(scene, w_root) or _is_parameter(scene, follow_back(scene.G, h)):
            continue  # the lecture's own order, or no weight: the registry's labels fit
        transposed = scene.nodes[w].op == "transpose" and w_root != w
        out[(v, v)] = "a = h Wᵀ (rows)" if transposed else "a = h W (rows)"  # the op's own
        out[(h, v)] = "δ·W" if transposed else "δ·Wᵀ"
        out[(w, v)] = "hᵀ·δ"
        if transposed:
            out[(w_root, w)] = "δᵀ = δ·hᵀ"
    return out


# --------------------------------------------------------------------------- gradient colours
@dataclass
class GradScale:
    """Maps a gradient's norm to viridis by log10, over the range found in the graph."""

    lo: float
    hi: float

    @classmethod
    def of(cls, norms: Iterable[float]) -> GradScale | None:
        logs = [math.log10(n) for n in norms if n > 0 and math.isfinite(n)]
        if not logs:
            return None
        lo, hi = min(logs), max(logs)
        if hi - lo < 1.0:
            # at least one decade: norms within a factor of 2 should not look worlds apart
            mid = (lo + hi) / 2
            lo, hi = mid - 0.5, mid + 0.5
        return cls(lo, hi)

    def colour(self, norm: float) -> str:
        if not math.isfinite(norm):
            return S.VIRIDIS[-1]
        if norm <= 0:
            return S.VIRIDIS[0]
        return S.viridis((math.log10(norm) - self.lo) / (self.hi - self.lo))

    def legend(self) -> str:
        """A colour bar as a row of table cells, labelled with log10 ‖grad‖."""
        steps = 6
        # enough decimals that neighbouring ticks differ
        step = (self.hi - self.lo) / (steps - 1)
        decimals = max(1, min(6, math.ceil(-math.log10(step)) + 1)) if step > 0 else 1
        cells = []
        for i in range(steps):
            v = self.lo + step * i
            fill = S.viridis(i / (steps - 1))
            cells.append(
                f'<TD BGCOLOR="{fill}" BORDER="1" COLOR="#777777" WIDTH="46" HEIGHT="18" '
                f'FIXEDSIZE="TRUE"><FONT COLOR="{S.text_on(fill)}" POINT-SIZE="9">'
                f'{escape(f"{v:.{decimals}f}")}</FONT></TD>'
            )
        return (
            '<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="2">'
            f'<TR><TD COLSPAN="{steps + 2}" ALIGN="LEFT"><FONT POINT-SIZE="10">'
            "fill: log₁₀ ‖grad‖ (viridis)</FONT></TD></TR>"
            f'<TR>{"".join(cells)}<TD BORDER="1" COLOR="#777777" WIDTH="46" HEIGHT="18" '
            f'FIXEDSIZE="TRUE" STYLE="DASHED"><FONT POINT-SIZE="9">no grad</FONT></TD>'
            "<TD></TD></TR></TABLE>"
        )


def grad_norm(t: Tensor) -> float | None:
    """‖t.grad‖ (Frobenius), or None without a gradient."""
    if t.grad is None:
        return None
    g = np.asarray(t.grad.data, dtype=np.float64)
    return float(np.sqrt(np.sum(g * g)))


# --------------------------------------------------------------------------- legend and title
def swatch(fill: str) -> str:
    return (f'<TD BGCOLOR="{fill}" BORDER="1" COLOR="#777777" WIDTH="22" HEIGHT="14" '
            'FIXEDSIZE="TRUE"></TD>')


def role_legend(roles: Iterable[str], backward: bool) -> str:
    """Swatches for the roles present, and the meaning of the two edge styles."""
    cells = []
    for r in S.ROLE_FILL:
        if r in roles:
            cells.append(swatch(S.ROLE_FILL[r]))
            cells.append(f'<TD ALIGN="LEFT"><FONT POINT-SIZE="10">{escape(S.ROLE_TEXT[r])}'
                         "</FONT></TD>")
    cells.append(f'<TD ALIGN="LEFT"><FONT POINT-SIZE="10" COLOR="{S.FORWARD}">→ forward</FONT>'
                 "</TD>")
    if backward:
        cells.append(
            f'<TD ALIGN="LEFT"><FONT POINT-SIZE="10" COLOR="{S.BACKWARD}">'
            "- - → backward: VJP formula, δ = gradient arriving at the op's result</FONT></TD>"
        )
    return (
        '<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="4" CELLPADDING="1"><TR>'
        + "".join(cells)
        + "</TR></TABLE>"
    )


def wrap_text(text: str, width: int) -> str:
    """`text` broken into lines of at most `width` characters, at spaces where possible."""
    # whitespace is kept as it is (a title is shown literally); only line breaks are added
    return "\n".join(
        line if len(line) <= width
        else "\n".join(textwrap.wrap(line, width, replace_whitespace=False,
                                     drop_whitespace=False))
        for line in text.split("\n")
    )


def graph_label(title: str | None, notes: Sequence[str], legend: Sequence[str]) -> str:
    """The graph's own label: title, notes (e.g. that it was collapsed) and legends.

    Graphviz stretches every cell of a nested table to the width of the widest row, which
    would pull a legend apart under a long title; so the title and notes are wrapped to about
    the legend's width, estimated from its length in characters (10 pt text; a swatch counts
    as four characters).
    """
    legend_chars = max(
        (len(re.sub(r"<[^>]*>", "", part)) + 4 * part.count("FIXEDSIZE") for part in legend),
        default=60,
    )
    # 16 pt text is 1.6 times as wide as 10 pt text, 11 pt text 1.1 times
    title_width = max(40, int(legend_chars / 1.6))
    note_width = max(50, int(legend_chars / 1.1))
    rows = []
    if title:
        rows.append(f'<TR><TD ALIGN="LEFT" BALIGN="LEFT"><FONT POINT-SIZE="16"><B>'
                    f"{escape(wrap_text(clean(title), title_width))}</B></FONT></TD></TR>")
    for n in notes:
        rows.append(f'<TR><TD ALIGN="LEFT" BALIGN="LEFT"><FONT POINT-SIZE="11" '
                    f'COLOR="{S.MUTED}">{escape(wrap_text(n, note_width))}</FONT></TD></TR>')
    for part in legend:
        rows.append(f'<TR><TD ALIGN="LEFT">{part}</TD></TR>')
    return ('<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2" CELLPADDING="0">'
            + "".join(rows) + "</TABLE>>")
