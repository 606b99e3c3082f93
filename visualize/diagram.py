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

import math
import re
import textwrap
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import graphviz
import numpy as np

import minigrad
from minigrad.graph import topological_order
from minigrad.ops.registry import REGISTRY
from minigrad.tensor import Tensor

from . import _style as S
from ._text import clean, escape, shape_text, subscript, summary_lines, value_rows

__all__ = ["draw", "SHOW_OPTIONS"]

SHOW_OPTIONS = ("value", "grad", "shape")
DIRECTIONS = ("LR", "TB", "RL", "BT")
COLLAPSE = ("auto", "module", "none")

ACTIVATIONS = frozenset({"relu", "leaky_relu", "sigmoid", "tanh", "softplus", "gelu"})
LOSSES = frozenset({"cross_entropy", "nll_loss", "mse_loss", "binary_cross_entropy_with_logits"})
# ops that only re-view a tensor: followed back to find which leaf is a layer's weight
PASS_THROUGH = frozenset({"transpose", "reshape", "astype", "squeeze", "unsqueeze", "broadcast_to"})


# --------------------------------------------------------------------------- the model's names
def model_names(model: Any) -> tuple[dict[int, str], dict[str, str]]:
    """Parameter names by tensor identity, and a description of each named module.

    Args:
        model: anything with ``named_parameters()``; ``named_modules()`` is used when present.

    Returns:
        ``{id(parameter): "layers.0.weight"}`` and ``{"layers.0": "Linear(2→16)"}``.
    """
    if model is None:
        return {}, {}
    if not hasattr(model, "named_parameters"):
        raise TypeError(
            f"model= must have named_parameters() (an nn.Module); got {type(model).__name__}"
        )
    params: dict[int, str] = {}
    for name, p in model.named_parameters():
        params.setdefault(id(p), str(name))
    modules: dict[str, str] = {}
    if hasattr(model, "named_modules"):
        for name, m in model.named_modules():
            if name:
                modules[str(name)] = describe_module(m)
    return params, modules


def describe_module(m: Any) -> str:
    """The module's own ``describe()`` (``Linear(2→16)``, ``Conv2d(1→16, 3×3)``); for other
    objects, ``Cls(in→out)`` when they have in/out features, else the class name."""
    describe = getattr(m, "describe", None)
    if callable(describe):
        text = describe()
        if isinstance(text, str) and text:
            return text
    cls = type(m).__name__
    fin = getattr(m, "in_features", None)
    fout = getattr(m, "out_features", None)
    if isinstance(fin, int) and isinstance(fout, int):
        return f"{cls}({fin}→{fout})"
    return cls


# --------------------------------------------------------------------------- the scene
@dataclass
class Node:
    """What the diagram knows about one tensor of the graph."""

    nid: int
    tensor: Tensor
    index: int  # position in forward (topological) order
    name: str
    symbol: str | None  # lecture symbol (a₂, W₁) when it differs from name
    role: str
    module: str | None  # the box it is drawn in
    op: str | None
    inputs: list[tuple[int, dict[str, Any]]] = field(default_factory=list)


@dataclass
class Scene:
    """A tensor's graph with names, roles and module boxes worked out; shared by `draw` and
    the backward step-through so both name things the same way."""

    G: Any
    order: list[int]
    nodes: dict[int, Node]
    modules: dict[str, str]  # module name -> description ("" when unknown)
    after_backward: bool
    output: int


def _follow_back(G: Any, nid: int) -> int:
    """The tensor that `nid` is a pure re-view of (through transposes, reshapes, casts)."""
    seen = 0
    while G.nodes[nid]["op"] in PASS_THROUGH and seen < 16:
        preds = list(G.predecessors(nid))
        if len(preds) != 1:
            break
        nid = preds[0]
        seen += 1
    return nid


def _lecture_symbols(G: Any, order: list[int]) -> dict[int, str]:
    """The lecture's names: a_k, h_k, W_k, b_k, x, ŷ, L, ℓ/y, counted along forward order."""
    sym: dict[int, str] = {}
    layer: dict[int, int] = {}
    products: set[int] = set()  # matmul results, which a following bias add makes into a_k
    k = 0
    nodes = G.nodes

    def leaf(nid: int) -> bool:
        return bool(nodes[nid]["is_leaf"])

    for nid in order:
        op = nodes[nid]["op"]
        if op is None:
            continue
        ins = {i: u for u, _, d in G.in_edges(nid, data=True) for i in d["argnums"]}
        prev = max((layer.get(u, 0) for u in ins.values()), default=0)
        if op in ("linear", "matmul"):
            k = max(k, prev) + 1
            layer[nid] = k
            if op == "linear":
                sym[nid] = f"a{subscript(k)}"
                roles = {0: "h", 1: "W", 2: "b"}
            else:
                roles = {}
                for i, u in ins.items():
                    root = _follow_back(G, u)
                    if leaf(root) and nodes[root]["requires_grad"]:
                        roles[i] = "W"
                    else:
                        roles[i] = "h"
                w, h = f"W{subscript(k)}", f"h{subscript(k - 1)}"
                products.add(nid)
                if roles.get(1) == "W" and roles.get(0) == "h":  # rows: h @ W.T
                    t = "ᵀ" if nodes[ins[1]]["op"] == "transpose" else ""
                    sym[nid] = f"{h}{w}{t}"
                else:
                    sym[nid] = f"{w}{h}"
            for i, u in ins.items():
                root = _follow_back(G, u) if op == "matmul" else u
                if not leaf(root) or root in sym:
                    continue
                r = roles.get(i)
                if r == "W" and nodes[root]["requires_grad"]:
                    sym[root] = f"W{subscript(k)}"
                    if u != root and nodes[u]["op"] == "transpose" and u not in sym:
                        sym[u] = f"W{subscript(k)}ᵀ"
                elif r == "b" and nodes[root]["requires_grad"]:
                    sym[root] = f"b{subscript(k)}"
                elif r == "h" and k == 1 and not nodes[root]["requires_grad"]:
                    sym[root] = "x"
            continue
        layer[nid] = prev
        if op == "add" and prev and any(u in products for u in ins.values()):
            # W h + b written by hand: this add completes the pre-activation a_k
            sym[nid] = f"a{subscript(prev)}"
            for u in ins.values():
                if leaf(u) and nodes[u]["requires_grad"] and u not in sym:
                    sym[u] = f"b{subscript(prev)}"
        elif op in ACTIVATIONS and prev:
            sym[nid] = f"h{subscript(prev)}"
        elif op == "softmax":
            sym[nid] = "ŷ"
        elif op == "log_softmax":
            sym[nid] = "log ŷ"
        elif op in LOSSES:
            sym[nid] = "L"
            target = ins.get(1)
            if target is not None and leaf(target) and target not in sym:
                sym[target] = "ℓ" if nodes[target]["dtype"].kind in "iu" else "y"
    return sym


def _after_backward(G: Any) -> bool:
    """Whether a backward has run through this graph: its saved values were freed, or some
    parameter already holds a gradient."""
    for _, d in G.nodes(data=True):
        t = d["tensor"]
        ctx = t._ctx
        if ctx is not None and ctx.freed:
            return True
        if ctx is None and t.requires_grad and t.grad is not None:
            return True
    return False


def build_scene(output: Tensor, model: Any = None) -> Scene:
    """Names, roles and modules for every tensor in `output`'s graph."""
    if not isinstance(output, Tensor):
        raise TypeError(
            f"draw() takes the minigrad Tensor whose history to draw (e.g. the loss); "
            f"got {type(output).__name__}"
        )
    G = minigrad.graph(output)
    order = topological_order(G)
    params, module_desc = model_names(model)
    symbols = _lecture_symbols(G, order)
    out_id = id(output)
    nodes: dict[int, Node] = {}
    modules: dict[str, str] = {}
    for i, nid in enumerate(order):
        d = G.nodes[nid]
        t: Tensor = d["tensor"]
        pname = params.get(nid)
        symbol = symbols.get(nid)
        if pname is not None:
            name = pname
        elif d["name"]:
            name = str(d["name"])
        elif symbol is not None:
            name, symbol = symbol, None
        elif d["op"] is not None:
            name = str(d["op"])
        else:
            name = "leaf" if d["requires_grad"] else "const"
        if symbol == name:
            symbol = None
        if nid == out_id:
            role = "loss" if t.data.size == 1 else "output"
        elif d["is_leaf"]:
            # with a model, only its parameters are parameters (compare's x requires grad too)
            trained = pname is not None or (d["requires_grad"] and not params)
            role = "parameter" if trained else "input"
        else:
            role = "intermediate"
        module = d["module"] or None
        if pname is not None and "." in pname:
            module = pname.rsplit(".", 1)[0]
        if module is not None:
            modules.setdefault(str(module), module_desc.get(str(module), ""))
        nodes[nid] = Node(
            nid=nid,
            tensor=t,
            index=i,
            name=name,
            symbol=symbol,
            role=role,
            module=None if module is None else str(module),
            op=d["op"],
            inputs=[(u, data) for u, _, data in G.in_edges(nid, data=True)],
        )
    for name, desc in module_desc.items():
        if name in modules:
            modules[name] = desc
    unknown = sorted(m for m in modules if module_desc and m not in module_desc)
    if unknown:
        warnings.warn(
            f"tensors carry module names {unknown} that the model does not have; were its "
            f"submodules called outside the model's forward? Their boxes may merge with the "
            f"model's own.", stacklevel=3)
    return Scene(G, order, nodes, modules, _after_backward(G), out_id)


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


def grad_state(node: Node, after_backward: bool) -> str | None:
    """Why a tensor shows no gradient, or None when it has one (or cannot have one)."""
    t = node.tensor
    if t.grad is not None:
        return None
    if not t.requires_grad:
        return "no grad (constant)"
    if node.op is not None and after_backward:
        return "not kept (see retain_grad())"
    return "not computed yet"


def tensor_label(
    node: Node,
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
        w_root = _follow_back(scene.G, w)
        if not _is_parameter(scene, w_root) or _is_parameter(scene, _follow_back(scene.G, h)):
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
def _swatch(fill: str) -> str:
    return (f'<TD BGCOLOR="{fill}" BORDER="1" COLOR="#777777" WIDTH="22" HEIGHT="14" '
            'FIXEDSIZE="TRUE"></TD>')


def role_legend(roles: Iterable[str], backward: bool) -> str:
    """Swatches for the roles present, and the meaning of the two edge styles."""
    cells = []
    for r in S.ROLE_FILL:
        if r in roles:
            cells.append(_swatch(S.ROLE_FILL[r]))
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


def _wrap(text: str, width: int) -> str:
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
                    f"{escape(_wrap(clean(title), title_width))}</B></FONT></TD></TR>")
    for n in notes:
        rows.append(f'<TR><TD ALIGN="LEFT" BALIGN="LEFT"><FONT POINT-SIZE="11" '
                    f'COLOR="{S.MUTED}">{escape(_wrap(n, note_width))}</FONT></TD></TR>')
    for part in legend:
        rows.append(f'<TR><TD ALIGN="LEFT">{part}</TD></TR>')
    return ('<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2" CELLPADDING="0">'
            + "".join(rows) + "</TABLE>>")


# --------------------------------------------------------------------------- module boxes
def module_tree(names: Iterable[str]) -> dict[str | None, list[str]]:
    """Children of each module box: ``a.b`` nests in ``a`` when both are boxes."""
    names = sorted(set(names))
    present = set(names)
    children: dict[str | None, list[str]] = {}
    for m in names:
        parent = None
        parts = m.split(".")
        for j in range(len(parts) - 1, 0, -1):
            p = ".".join(parts[:j])
            if p in present:
                parent = p
                break
        children.setdefault(parent, []).append(m)
    for v in children.values():
        v.sort(key=_natural)
    return children


def _natural(name: str) -> list[Any]:
    """``layers.10`` after ``layers.9``."""
    return [int(p) if p.isdigit() else p for p in name.split(".")]


def cluster_label(name: str, desc: str) -> str:
    text = f"<B>{escape(name)}</B>"
    if desc:
        text += f"\u00a0· {escape(desc)}"  # nbsp: SVG viewers drop a leading space
    return f'<<FONT POINT-SIZE="11">{text}</FONT>>'


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


def new_digraph(direction: str, label: str | None = None) -> graphviz.Digraph:
    """An empty Digraph with the house style."""
    g = graphviz.Digraph(
        "minigrad",
        graph_attr={
            "rankdir": direction,
            "fontname": S.FONT,
            "nodesep": "0.25",
            "ranksep": "0.35",
            "bgcolor": "white",
            "pad": "0.25",
            "labelloc": "t",
            "labeljust": "l",
        },
        node_attr={"fontname": S.FONT, "fontsize": "11", "shape": "box",
                   "style": "rounded,filled", "margin": "0.08,0.04", "penwidth": "1"},
        edge_attr={"fontname": S.FONT, "fontsize": "10", "color": S.FORWARD,
                   "arrowsize": "0.6", "penwidth": "1.1"},
    )
    if label is not None:
        g.attr(label=label)
    return g


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
            max|Δ| under its name; the other tensors are white. The drawing is not
            collapsed (unless ``collapse="module"``, which is an error with a check).
        derive: write under each tensor's name the formula of the gradient arriving at it,
            from `minigrad.derive` (``δ_2 = (W_3ᵀ δ_3) ⊙ σ′(a_2)``), beside its value and
            gradient; `output` must then be a scalar loss. Not collapsed, as with `check`.

    Given a `minigrad.compile` plan (``step.plan``) instead of a tensor, it draws the compiled
    schedule (see `minigrad.visualize.draw_plan`).

    Returns:
        The `graphviz.Digraph` (``.source`` is the DOT text).

    Raises:
        TypeError: `output` is not a Tensor or `model` has no ``named_parameters()``.
        ValueError: an option has a value not listed above, or `check` checked tensors of
            another graph.
    """
    if type(output).__name__ == "Plan" and hasattr(output, "stages"):
        from .plan import draw_plan  # a minigrad.compile plan: its schedule

        return draw_plan(output, title=title)
    show, collapse = _check_options(show, direction, color_by, collapse, max_nodes)
    scene = build_scene(output, model)
    n = len(scene.order)
    if check is not None:
        if collapse == "module":
            raise ValueError("draw: check= colours single tensors, so it needs the full "
                             "drawing; use collapse='auto' or 'none'")
        return _draw_checked(scene, check, show=show, direction=direction, title=title,
                             backward=backward)
    if derive:
        if collapse == "module":
            raise ValueError("draw: derive= writes a formula on every tensor, so it needs the "
                             "full drawing; use collapse='auto' or 'none'")
        return _draw_derived(scene, output, model, show=show, direction=direction, title=title,
                             backward=backward)
    if collapse == "module" or (collapse == "auto" and n > max_nodes):
        from .collapse import draw_collapsed

        note = (
            f"collapsed by module: the graph has {n:,} tensors, more than max_nodes={max_nodes}"
            if collapse == "auto"
            else f"collapsed by module ({n:,} tensors)"
        )
        return draw_collapsed(scene, show=show, direction=direction, title=title,
                              backward=backward, color_by=color_by, max_nodes=max_nodes,
                              note=note)
    return _draw_full(scene, show=show, direction=direction, title=title, backward=backward,
                      color_by=color_by)


@dataclass
class NodeStyle:
    """How one tensor node is painted (kept apart so the step-through can repaint)."""

    fill: str
    border: str = "#555555"
    penwidth: str = "1"
    style: str = "rounded,filled"
    ink: S.Ink | None = None

    @property
    def colours(self) -> S.Ink:
        return self.ink or S.ink_on(self.fill)


def role_style(node: Node) -> NodeStyle:
    return NodeStyle(fill=S.ROLE_FILL[node.role])


def _draw_full(scene: Scene, *, show: Sequence[str], direction: str, title: str | None,
               backward: bool, color_by: str) -> graphviz.Digraph:
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
    g = new_digraph(direction, graph_label(title, [], legend))
    emit_full(g, scene, show=show, backward=backward, styles=styles)
    return g


def _checked_rows(scene: Scene, report: Any) -> dict[int, Any]:
    rows = getattr(report, "rows", None)
    if rows is None or not all(hasattr(r, "tensor") and hasattr(r, "approx") for r in rows):
        raise TypeError(f"draw: check= takes the report of minigrad.reference.check, got "
                        f"{type(report).__name__}")
    out: dict[int, Any] = {}
    for r in rows:
        if id(r.tensor) not in scene.nodes:
            raise ValueError(f"draw: the check report's tensor {r.name!r} is not in this "
                             f"graph; check the same loss you draw")
        out[id(r.tensor)] = r
    return out


def _draw_checked(scene: Scene, report: Any, *, show: Sequence[str], direction: str,
                  title: str | None, backward: bool) -> graphviz.Digraph:
    """The full drawing with the checked tensors green (✓) or red (✗) and the rest white."""
    checked = _checked_rows(scene, report)
    styles: dict[int, NodeStyle] = {}
    labels: dict[int, str] = {}
    for nid, nd in scene.nodes.items():
        row = checked.get(nid)
        if row is None:
            st = NodeStyle(fill=S.UNCHECKED_FILL, border="#9a9a9a")
            extra: list[str] = []
        else:
            verdict = "pass" if row.approx else "fail"
            st = NodeStyle(fill=S.CHECK_PASS if row.approx else S.CHECK_FAIL,
                           border=S.CHECK_BORDER[verdict], penwidth="2.5")
            mark = "✓" if row.approx else "✗"
            extra = [escape(f"{mark} yours vs autograd: max|Δ| {row.max_abs:.1e}")]
        styles[nid] = st
        labels[nid] = tensor_label(nd, show=show, after_backward=scene.after_backward,
                                   fill=st.fill, ink=st.ink, extra=extra)
    n_ok = sum(r.approx for r in checked.values())
    cells = []
    for fill, text in ((S.CHECK_PASS, "your gradient matches autograd's ✓"),
                       (S.CHECK_FAIL, "it differs ✗"), (S.UNCHECKED_FILL, "not checked")):
        cells.append(_swatch(fill))
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
    d = minigrad.derive(output, model)
    styles: dict[int, NodeStyle] = {}
    labels: dict[int, str] = {}
    for nid, nd in scene.nodes.items():
        st = role_style(nd)
        line = d.arriving(nd.tensor)
        extra = [] if line is None else [escape(part) for part in _wrap(line.text, 44).split(
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


def tensor_id(nd: Node) -> str:
    return f"t{nd.index}"


def op_id(nd: Node) -> str:
    return f"o{nd.index}"


def emit_full(
    g: graphviz.Digraph,
    scene: Scene,
    *,
    show: Sequence[str],
    backward: bool,
    styles: dict[int, NodeStyle],
    labels: dict[int, str] | None = None,
    op_styles: dict[int, NodeStyle] | None = None,
    edge_styles: dict[tuple[int, int], dict[str, str]] | None = None,
    backward_labels: dict[tuple[int, int], str] | None = None,
) -> None:
    """Adds every tensor and op node, the module boxes and the edges of `scene` to `g`.

    The optional maps let the step-through repaint nodes and edges per frame while keeping
    the same nodes, labels and hence the same layout.
    """
    by_module: dict[str | None, list[Node]] = {}
    for nid in scene.order:
        nd = scene.nodes[nid]
        by_module.setdefault(nd.module, []).append(nd)

    row_labels = row_layer_labels(scene)

    def add_nodes(target: Any, members: list[Node]) -> None:
        for nd in members:
            st = styles[nd.nid]
            label = labels[nd.nid] if labels is not None else tensor_label(
                nd, show=show, after_backward=scene.after_backward, fill=st.fill, ink=st.ink)
            target.node(tensor_id(nd), label=label, fillcolor=st.fill, fontcolor=st.colours.text,
                        color=st.border, penwidth=st.penwidth, style=st.style)
            if nd.op is not None:
                ost = (op_styles or {}).get(nd.nid) or NodeStyle(fill=S.OP_FILL, border=S.OP_BORDER)
                target.node(op_id(nd), label=op_label(nd.op, ost.colours,
                                                      row_labels.get((nd.nid, nd.nid))),
                            fillcolor=ost.fill,
                            color=ost.border, penwidth=ost.penwidth, style=ost.style,
                            margin="0.05,0.02", height="0.3")

    tree = module_tree(scene.modules)
    module_index = {m: i for i, m in enumerate(sorted(scene.modules, key=_natural))}

    def add_cluster(target: Any, m: str) -> None:
        with target.subgraph(name=f"cluster_{module_index[m]}") as c:
            c.attr(label=cluster_label(m, scene.modules.get(m, "")), style="rounded,filled",
                   fillcolor=S.CLUSTER_FILL, color=S.CLUSTER_BORDER, fontname=S.FONT,
                   labeljust="l", labelloc="t", margin="10")
            add_nodes(c, by_module.get(m, []))
            for child in tree.get(m, []):
                add_cluster(c, child)

    add_nodes(g, by_module.get(None, []))
    for m in tree.get(None, []):
        add_cluster(g, m)

    es = edge_styles or {}
    for nid in scene.order:
        nd = scene.nodes[nid]
        if nd.op is None:
            continue
        style = es.get((nid, nid), {})
        g.edge(op_id(nd), tensor_id(nd), **{k: v for k, v in style.items()
                                             if not k.startswith("b_")})
        if backward:
            # δ arrives at the op from its result: drawn so the dashed path runs unbroken
            # from the loss back to every parameter
            attrs = {"dir": "back", "style": "dashed", "color": S.BACKWARD, "arrowsize": "0.7"}
            attrs.update({k[2:]: v for k, v in style.items() if k.startswith("b_")})
            g.edge(op_id(nd), tensor_id(nd), **attrs)
        for u, data in sorted(nd.inputs, key=lambda e: min(e[1]["argnums"])):
            src = scene.nodes[u]
            style = es.get((u, nid), {})
            g.edge(tensor_id(src), op_id(nd), **{k: v for k, v in style.items()
                                                  if not k.startswith("b_")})
            if backward and src.tensor.requires_grad:
                label = (backward_labels or {}).get((u, nid))
                if label is None:
                    text = row_labels.get((u, nid)) or formulas_text(data)
                    label = f'<<FONT COLOR="{S.BACKWARD}">{escape(text)}</FONT>>'
                attrs = {"dir": "back", "style": "dashed", "color": S.BACKWARD,
                         "fontcolor": S.BACKWARD, "label": label, "arrowsize": "0.7"}
                attrs.update({k[2:]: v for k, v in style.items() if k.startswith("b_")})
                g.edge(tensor_id(src), op_id(nd), **attrs)
