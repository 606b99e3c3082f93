r"""`backward_steps`: one HTML page that steps through backward, one op per frame.

Backward visits the graph in reverse topological order; at each op it takes the gradient `δ`
arriving at the op's result and applies the op's VJP once per input, sending each input its
share (``δ·hᵀ`` to W, ``Wᵀ·δ`` to h, ``δ`` to b). The page shows exactly that: frame k
highlights the k-th op of the sweep, prints the δ that arrived and the gradient sent to each
input, and greys out the tensors that backward has not reached yet.

The gradients are computed here, on the side, with the registry's VJPs (the same rules,
order and broadcasting as `minigrad.backward`), so nothing the user holds changes: no
``.grad`` is written and no hook runs. Every frame is drawn from the same DOT source except
for colours, so Graphviz lays each one out identically and the picture does not jump when
stepping. All frames go through one ``dot`` process, and the page embeds them as inline SVG
with a few lines of inline JavaScript: it needs no network and no other file.
"""

from __future__ import annotations

import html as _html
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from minigrad.tensor import Tensor

from . import _style as S
from ._text import escape, summary_lines, value_rows
from .diagram import (
    SHOW_OPTIONS,
    Node,
    NodeStyle,
    Scene,
    build_scene,
    emit_full,
    formulas_text,
    new_digraph,
    row_layer_labels,
    tensor_id,
    tensor_label,
)
from .files import check_destination, run_dot, write_atomic

__all__ = ["backward_steps", "Sweep", "Frame", "Send", "sweep"]

CURRENT = "#ffe38a"  # the op being applied and its result
GREY_FILL = "#f3f3f3"
GREY_TEXT = "#b3b3b3"
GREY_BORDER = "#d5d5d5"
FUTURE_EDGE = "#e4e4e4"
GREY_INK = S.Ink(GREY_TEXT, GREY_TEXT, GREY_TEXT)


@dataclass
class Send:
    """The gradient one op sends to one of its inputs."""

    input: int  # node id of the input tensor
    argnums: tuple[int, ...]
    formula: str
    grad: np.ndarray


@dataclass
class Frame:
    """One step of the sweep: the VJP of the op that made tensor `node`."""

    node: int
    delta: np.ndarray
    sends: list[Send] = field(default_factory=list)


@dataclass
class Sweep:
    """The whole backward, computed on the side: frames in sweep order and every tensor's
    total gradient."""

    frames: list[Frame]
    grads: dict[int, np.ndarray]


def sweep(scene: Scene) -> Sweep:
    """Runs backward over `scene` with the registry's VJPs, recording each op's step.

    The seed at the output is ones (``d output/d output``; for a non-scalar output this is
    the gradient of its sum). Hooks are not run and no ``.grad`` is written.
    """
    out = scene.nodes[scene.output].tensor
    dtype = out.data.dtype if out.data.dtype.kind == "f" else np.float64
    grads: dict[int, np.ndarray] = {scene.output: np.ones(out.shape, dtype=dtype)}
    frames: list[Frame] = []
    for nid in reversed(scene.order):
        t = scene.nodes[nid].tensor
        ctx = t._ctx
        if ctx is None:
            continue
        g = grads.get(nid)
        if g is None:  # cannot happen for an ancestor of the output; kept for safety
            g = np.zeros(t.shape, dtype=t.data.dtype)
        op = ctx.op
        args = [x.data for x in ctx.inputs]
        per_input: dict[int, Send] = {}
        for i, x in enumerate(ctx.inputs):
            if not x.requires_grad:
                continue
            gx = np.asarray(ctx.vjp(i, g, t.data, args))
            xid = id(x)
            prev = grads.get(xid)
            grads[xid] = np.array(gx, copy=True) if prev is None else prev + gx
            s = per_input.get(xid)
            if s is None:
                per_input[xid] = Send(xid, (i,), op.grad_formula(i), np.array(gx, copy=True))
            else:  # x * x: both positions send to x, and the two add up
                s.argnums += (i,)
                s.formula += " + " + op.grad_formula(i)
                s.grad = s.grad + gx
        frames.append(Frame(nid, np.asarray(g), list(per_input.values())))
    return Sweep(frames, grads)


# --------------------------------------------------------------------------- frame pictures
def _frame_source(scene: Scene, sw: Sweep, f: int, show: Sequence[str], direction: str) -> str:
    """The DOT source of frame `f`: the same nodes and labels as every other frame, painted
    to show which op runs now, what has been reached and what has not."""
    fired = {fr.node for fr in sw.frames[: f + 1]}
    current = sw.frames[f]
    receiving = {s.input for s in current.sends}
    consumers: dict[int, list[int]] = {nid: [] for nid in scene.nodes}
    for nid, nd in scene.nodes.items():
        for u, _ in nd.inputs:
            consumers[u].append(nid)
    reached = {scene.output}
    for fr in sw.frames[: f + 1]:
        reached.update(s.input for s in fr.sends)

    def complete(nid: int) -> bool:
        return nid in reached and all(c in fired for c in consumers[nid])

    styles: dict[int, NodeStyle] = {}
    labels: dict[int, str] = {}
    op_styles: dict[int, NodeStyle] = {}
    for nid, nd in scene.nodes.items():
        t = nd.tensor
        if nid == current.node:
            st = NodeStyle(fill=CURRENT, border=S.BACKWARD)
        elif not t.requires_grad:
            st = NodeStyle(fill=S.ROLE_FILL[nd.role])
        elif nid in reached:
            st = NodeStyle(fill=S.ROLE_FILL[nd.role],
                           border=S.BACKWARD if nid in receiving else "#555555")
        else:
            st = NodeStyle(fill=GREY_FILL, border=GREY_BORDER, ink=GREY_INK)
        styles[nid] = st
        g = sw.grads.get(nid)
        labels[nid] = tensor_label(
            nd, show=show, after_backward=True, fill=st.fill, ink=st.ink,
            grad_override=g, hide_grad=not complete(nid), hidden_colour=st.fill,
        )
        if nd.op is not None:
            if nid == current.node:
                op_styles[nid] = NodeStyle(fill=CURRENT, border=S.BACKWARD)
            elif nid in fired:
                op_styles[nid] = NodeStyle(fill=S.OP_FILL, border=S.OP_BORDER)
            else:
                op_styles[nid] = NodeStyle(fill=GREY_FILL, border=GREY_BORDER, ink=GREY_INK)
    edge_styles: dict[tuple[int, int], dict[str, str]] = {}
    backward_labels: dict[tuple[int, int], str] = {}
    row_labels = row_layer_labels(scene)
    for nid, nd in scene.nodes.items():
        if nd.op is None:
            continue
        if nid in fired:
            colour = S.BACKWARD
        else:
            colour = FUTURE_EDGE
        now = nid == current.node
        b = {"b_color": colour, "b_fontcolor": colour, "b_penwidth": "2.2" if now else "1.1"}
        fwd_colour = S.FORWARD if nid in fired or now else GREY_BORDER
        edge_styles[(nid, nid)] = {"color": fwd_colour, **b}
        for u, data in nd.inputs:
            edge_styles[(u, nid)] = {"color": fwd_colour, **b}
            text_colour = colour if nid in fired else "#ffffff"
            backward_labels[(u, nid)] = (
                f'<<FONT COLOR="{text_colour}">'
                f"{escape(row_labels.get((u, nid)) or formulas_text(data))}</FONT>>"
            )
    g = new_digraph(direction)
    g.attr(label="")
    emit_full(g, scene, show=show, backward=True, styles=styles, labels=labels,
              op_styles=op_styles, edge_styles=edge_styles, backward_labels=backward_labels)
    return g.source


def _unique_ids(svg: str, k: int) -> str:
    """Graphviz numbers its SVG elements ``node1``, ``edge1``… in every picture; prefixed by
    the frame number they stay unique in the one HTML document that holds all frames."""
    return re.sub(r'\bid="([A-Za-z_][\w.-]*)"', rf'id="f{k}_\1"', svg)


def _split_svgs(data: bytes, n: int) -> list[str]:
    """The `n` SVG documents that one dot run printed for `n` graphs, each ready to inline
    in HTML (without the XML declaration and doctype)."""
    text = data.decode("utf-8")
    parts = [p for p in re.split(r"<\?xml[^>]*\?>", text) if p.strip()]
    if len(parts) != n:
        raise RuntimeError(f"Graphviz returned {len(parts)} pictures for {n} frames")
    out: list[str] = []
    for p in parts:
        p = re.sub(r"<!DOCTYPE[^>]*>", "", p, count=1)
        p = re.sub(r"<!--.*?-->", "", p, flags=re.S)
        out.append(_unique_ids(p.strip(), len(out) + 1))
    return out


# --------------------------------------------------------------------------- the page
def _numbers_html(a: np.ndarray) -> str:
    rows = value_rows(np.asarray(a))
    if rows is None:
        return '<span class="summary">' + "<br>".join(
            _html.escape(line) for line in summary_lines(np.asarray(a))) + "</span>"
    body = "".join("<tr>" + "".join(f"<td>{_html.escape(v)}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f'<table class="num">{body}</table>'


def _who(nd: Node) -> str:
    name = _html.escape(nd.name)
    if nd.symbol:
        name += f' <span class="sym">· {_html.escape(nd.symbol)}</span>'
    return f"<b>{name}</b>"


def _caption(scene: Scene, frame: Frame, k: int, n: int,
             row_labels: dict[tuple[int, int], str]) -> str:
    nd = scene.nodes[frame.node]
    from minigrad.ops.registry import REGISTRY

    op = nd.op or ""
    formula = REGISTRY[op].formula if op in REGISTRY else ""
    where = ""
    if nd.module:
        desc = scene.modules.get(nd.module, "")
        where = f" in <b>{_html.escape(nd.module)}</b>" + (
            f" · {_html.escape(desc)}" if desc else "")
    seed = ""
    if frame.node == scene.output:
        seed = ' <span class="note">(backward starts here with δ = 1)</span>'
    sends = "".join(
        f"<tr><td>→ {_who(scene.nodes[s.input])}</td>"
        f'<td class="formula">'
        f"{_html.escape(row_labels.get((s.input, frame.node)) or s.formula)}</td>"
        f"<td>= {_numbers_html(s.grad)}</td></tr>"
        for s in frame.sends
    ) or '<tr><td colspan="3">no input needs a gradient</td></tr>'
    return (
        f'<div class="caption"><div class="title">Step {k} of {n}: the VJP of '
        f"<b>{_html.escape(op)}</b> <span class=\"formula\">{_html.escape(formula)}</span>"
        f"{where}</div>"
        f'<table class="flow"><tr><td>δ arriving at {_who(nd)}{seed}</td><td></td>'
        f"<td>= {_numbers_html(frame.delta)}</td></tr>"
        f'<tr><td colspan="3" class="sub">sends to each input:</td></tr>{sends}</table></div>'
    )


_CSS = """
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 0; color: #111; }
header { position: sticky; top: 0; background: #fff; border-bottom: 1px solid #ddd;
         padding: 8px 16px; z-index: 1; }
h1 { font-size: 18px; margin: 0 0 4px 0; }
header p { margin: 0 0 6px 0; font-size: 13px; color: #555; }
nav { display: flex; align-items: center; gap: 10px; }
nav button { font-size: 15px; padding: 4px 14px; cursor: pointer; }
nav input[type=range] { flex: 1; max-width: 480px; }
#counter { font-variant-numeric: tabular-nums; min-width: 8em; }
section.frame { padding: 8px 16px; }
section.frame[hidden] { display: none; }
.caption { font-size: 14px; margin-bottom: 8px; }
.caption .title { font-size: 15px; margin-bottom: 4px; }
.formula { color: #c0392b; font-family: "DejaVu Sans", sans-serif; padding: 0 6px; }
.sym { color: #666; }
.note, .sub { color: #666; font-size: 12px; }
table.flow td { vertical-align: middle; padding: 2px 6px; }
table.num { border-left: 1px solid #999; border-right: 1px solid #999; border-collapse: collapse;
            display: inline-table; vertical-align: middle; }
table.num td { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px;
               text-align: right; padding: 0 5px; }
.summary { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px; }
.picture svg { max-width: 100%; height: auto; }
"""

_JS = """
(function () {
  "use strict";
  var frames = Array.prototype.slice.call(document.querySelectorAll("section.frame"));
  var prev = document.getElementById("prev"), next = document.getElementById("next");
  var slider = document.getElementById("slider"), counter = document.getElementById("counter");
  var current = -1;
  function show(i) {
    i = Math.max(0, Math.min(frames.length - 1, i));
    for (var j = 0; j < frames.length; j++) { frames[j].hidden = (j !== i); }
    current = i;
    slider.value = String(i + 1);
    counter.textContent = "step " + (i + 1) + " of " + frames.length;
    prev.disabled = (i === 0);
    next.disabled = (i === frames.length - 1);
    document.body.setAttribute("data-frame", String(i + 1));
    // keep the op being applied in view: find its node by the id Graphviz put in <title>
    var want = frames[i].getAttribute("data-current");
    var titles = frames[i].querySelectorAll("g.node > title");
    for (var t = 0; t < titles.length; t++) {
      if (titles[t].textContent === want && titles[t].parentNode.scrollIntoView) {
        var box = titles[t].parentNode.getBoundingClientRect();
        if (box.top < 0 || box.bottom > window.innerHeight) {
          titles[t].parentNode.scrollIntoView({block: "center", inline: "nearest"});
        }
        break;
      }
    }
  }
  prev.addEventListener("click", function () { show(current - 1); });
  next.addEventListener("click", function () { show(current + 1); });
  slider.addEventListener("input", function () { show(parseInt(slider.value, 10) - 1); });
  document.addEventListener("keydown", function (e) {
    if (e.target && e.target.tagName === "INPUT" && e.target !== slider) { return; }
    var k = e.key;
    if (k === "ArrowRight" || k === "ArrowDown" || k === "PageDown" || k === " ") {
      show(current + 1);
    } else if (k === "ArrowLeft" || k === "ArrowUp" || k === "PageUp") {
      show(current - 1);
    } else if (k === "Home") { show(0); } else if (k === "End") { show(frames.length - 1); }
    else { return; }
    e.preventDefault();
  });
  // ?frame=N opens step N (1-based), so a step can be linked to or opened headless
  var m = /[?&]frame=(\\d+)/.exec(window.location.search);
  show(m ? parseInt(m[1], 10) - 1 : 0);
})();
"""


def _page(scene: Scene, sw: Sweep, svgs: list[str], title: str) -> str:
    n = len(sw.frames)
    row_labels = row_layer_labels(scene)
    sections = []
    for k, (fr, svg) in enumerate(zip(sw.frames, svgs), start=1):
        nd = scene.nodes[fr.node]
        sections.append(
            f'<section class="frame" id="frame-{k}" data-op={json.dumps(nd.op or "")} '
            f'data-node="{_html.escape(nd.name, quote=True)}" data-current="{tensor_id(nd)}"'
            f'{"" if k == 1 else " hidden"}>'
            f"{_caption(scene, fr, k, n, row_labels)}"
            f'<div class="picture">{svg}</div></section>'
        )
    intro = (
        "Backward visits the ops in reverse topological order. At each op, the gradient δ "
        "that arrived at its result goes through the op's vector-Jacobian product, once per "
        "input. Yellow: the op applied now; red borders: the inputs it sends to; grey: "
        "not reached yet. A tensor's grad appears once every op that uses it has sent its "
        "share. Keys: ← → (or Home/End)."
    )
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_html.escape(title)}</title><style>{_CSS}</style></head>"
        f'<body data-frame="1" data-frames="{n}"><header><h1>{_html.escape(title)}</h1>'
        f"<p>{_html.escape(intro)}</p><nav>"
        '<button id="prev" type="button" aria-label="previous step">◀ Prev</button>'
        f'<input id="slider" type="range" min="1" max="{n}" value="1" step="1" '
        'aria-label="step">'
        '<button id="next" type="button" aria-label="next step">Next ▶</button>'
        f'<span id="counter">step 1 of {n}</span></nav></header>'
        + "".join(sections)
        + f"<script>{_JS}</script></body></html>\n"
    )


def backward_steps(
    output: Tensor,
    path: str | os.PathLike[str],
    model: Any = None,
    *,
    overwrite: bool = False,
    direction: str = "TB",
    show: Sequence[str] = SHOW_OPTIONS,
    title: str | None = None,
    timeout: float = 120,
    max_nodes: int = 150,
) -> Path:
    r"""Writes an HTML page that steps through the backward pass of `output`, one op per frame.

    The page is a single file with inline SVG and inline JavaScript (no network, no other
    files): Prev/Next buttons, a slider and the arrow keys move between frames, and
    ``page.html?frame=N`` opens frame N. There is one frame per op of the graph, in the order
    backward applies them. Each frame highlights the op whose VJP is applied and its result,
    shows the δ arriving there and the gradient sent to each input (the numbers for tensors
    of up to 12 elements, else a summary), and greys out the tensors not reached yet.

    Gradients are computed on the side with the ops' VJPs: the tensors' ``.grad`` are not
    changed and hooks do not run, so this works before or after the user's own backward.

    Args:
        output: the tensor whose backward to show (usually the scalar loss; a non-scalar
            output is seeded with ones, as for the gradient of its sum).
        path: the ``.html`` file to write; its folder must exist.
        model: optional module, for parameter names and module boxes.
        overwrite: replace an existing file.
        direction: layout direction, as in `visualize.draw`; top to bottom by default, which
            fits a browser window that scrolls vertically.
        show: what tensor boxes contain, as in `visualize.draw`.
        title: the page's heading.
        timeout: seconds to wait for Graphviz.
        max_nodes: refuse graphs with more tensors than this. Every frame draws the whole
            graph, so time and file size grow with (number of ops) × (graph size): about 10 s
            and 20 MB at 100 tensors. The page is meant for small examples.

    Returns:
        The path written.

    Raises:
        ValueError: the graph has no op (nothing to step through) or more than `max_nodes`
            tensors, or the suffix is not .html.
        FileExistsError: `path` exists and `overwrite` is False.
        GraphvizNotFound: Graphviz's ``dot`` is not installed.
    """
    p = Path(path).expanduser()
    if p.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"backward_steps(): write to an .html file, not {p.name!r}")
    p = check_destination(p, overwrite)
    if not isinstance(output, Tensor):
        raise TypeError(f"backward_steps() takes a minigrad Tensor, got {type(output).__name__}")
    if not output.requires_grad:
        raise ValueError("backward_steps(): this tensor does not require grad, so backward "
                         "has nothing to do (no input has requires_grad=True)")
    if isinstance(show, str):
        show = (show,)
    scene = build_scene(output, model)
    n = len(scene.order)
    if n > max_nodes:
        raise ValueError(
            f"backward_steps(): the graph has {n} tensors, more than max_nodes={max_nodes}. "
            f"Each of its {sum(1 for nd in scene.nodes.values() if nd.op)} steps draws the "
            f"whole graph, which is meant for small examples: use a smaller network or one "
            f"example, or pass max_nodes={n} to draw it anyway (slow, and a large file)."
        )
    sw = sweep(scene)
    if not sw.frames:
        raise ValueError("backward_steps(): the graph has no op, so there is nothing to step")
    sources = [_frame_source(scene, sw, f, tuple(show), direction) for f in range(len(sw.frames))]
    data = run_dot("\n".join(sources), "svg", timeout)
    svgs = _split_svgs(data, len(sources))
    out_name = scene.nodes[scene.output].name
    page = _page(scene, sw, svgs, title or f"Backward through {out_name}, step by step")
    return write_atomic(p, page.encode("utf-8"), overwrite)
