r"""`backward_steps`: one HTML page that steps through backward, one op per frame.

Backward visits the graph in reverse topological order; at each op it takes the gradient `δ`
arriving at the op's result and applies the op's VJP once per input, sending each input its
share (``δ·hᵀ`` to W, ``Wᵀ·δ`` to h, ``δ`` to b). The page shows exactly that: frame k
highlights the k-th op of the sweep, prints the δ that arrived and the gradient sent to each
input, and greys out the tensors that backward has not reached yet.

The gradients come from the engine's own sweep (`minigrad.autograd.sweep`, the one
`minigrad.backward` runs), looked at from the side, so nothing the user holds changes: no
``.grad`` is written and no hook runs. The graph is laid out once, by one ``dot`` run, and
embedded as one inline SVG; each frame is data (the box it applies, the boxes it sends to,
the captions with δ and the gradients sent) that a small inline script applies to that one
drawing. Above 300 tensors the drawing has one box per module (or run of modules) and the
steps go a module at a time, each openable into its ops. No network, no other file.
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

from minigrad import autograd
from minigrad.tensor import Tensor

from . import _style as S
from ._text import summary_lines, value_rows
from .collapse import draw_collapsed, units
from .emit import NodeStyle, emit_full, new_digraph, op_id, tensor_id
from .files import check_destination, run_dot, write_atomic
from .labels import SHOW_OPTIONS, row_layer_labels, tensor_label
from .scene import DiagramNode, Scene, build_scene

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
    """Backward over `scene`, by the engine's own sweep (`minigrad.autograd.sweep`), with
    each op's step recorded.

    The seed at the output is ones (``d output/d output``; for a non-scalar output this is
    the gradient of its sum). It is a look from the side: no hook runs and no ``.grad`` is
    written.
    """
    out = scene.nodes[scene.output].tensor
    dtype = out.data.dtype if out.data.dtype.kind == "f" else np.float64
    frames: list[Frame] = []
    grads: dict[int, np.ndarray] = {}
    for t, delta, sends in autograd.sweep([out], [np.ones(out.shape, dtype=dtype)], aside=True):
        grads[id(t)] = delta
        if t._ctx is None:
            continue
        op = t._ctx.op
        per_input: dict[int, Send] = {}
        for i, x, gx in sends:
            s = per_input.get(id(x))
            if s is None:
                per_input[id(x)] = Send(id(x), (i,), op.grad_formula(i), np.asarray(gx))
            else:  # x * x: both positions send to x, and the two add up
                s.argnums += (i,)
                s.formula += " + " + op.grad_formula(i)
                s.grad = s.grad + gx
        frames.append(Frame(id(t), np.asarray(delta), list(per_input.values())))
    return Sweep(frames, grads)


# --------------------------------------------------------------------------- the picture
BIG = 300  # tensors: above this, the drawing has one box per module and steps go by module
MAX_BOXES = 150  # boxes of that drawing, at most (runs of modules beyond)


def _picture_source(scene: Scene, show: Sequence[str], direction: str) -> str:
    """The DOT source of the one drawing every frame repaints: each tensor in its role's
    colour, ops white, backward edges dashed with their formulas. The gradients live in the
    frames' data, not in the boxes, so the drawing is the same for every step."""
    show = tuple(x for x in show if x != "grad")
    styles: dict[int, NodeStyle] = {}
    labels: dict[int, str] = {}
    for nid, nd in scene.nodes.items():
        st = NodeStyle(fill=S.ROLE_FILL[nd.role])
        styles[nid] = st
        labels[nid] = tensor_label(nd, show=show, after_backward=False, fill=st.fill,
                                   ink=st.ink)
    g = new_digraph(direction)
    g.attr(label="")
    emit_full(g, scene, show=show, backward=True, styles=styles, labels=labels)
    return g.source


def _svg(data: bytes) -> str:
    """Graphviz's SVG, ready to inline in HTML (no XML declaration, doctype or comments)."""
    text = data.decode("utf-8")
    text = re.sub(r"<\?xml[^>]*\?>", "", text, count=1)
    text = re.sub(r"<!DOCTYPE[^>]*>", "", text, count=1)
    return re.sub(r"<!--.*?-->", "", text, flags=re.S).strip()


@dataclass
class Group:
    """Consecutive steps of the sweep inside one module: a layer's backward at a glance."""

    module: str
    first: int  # frame indices, inclusive
    last: int


def groups(scene: Scene, sw: Sweep, title_of: dict[int, str] | None = None) -> list[Group]:
    """The frames cut into runs that stay in one module (or in one box of a collapsed
    drawing, `title_of`); an op outside every module is a run of its own. In sweep order."""
    out: list[Group] = []
    for k, fr in enumerate(sw.frames):
        m = (title_of[fr.node] if title_of is not None else scene.nodes[fr.node].module) or ""
        if out and m and out[-1].module == m and out[-1].last == k - 1:
            out[-1].last = k
        else:
            out.append(Group(m, k, k))
    return out


def _frame_data(scene: Scene, sw: Sweep, unit_of: dict[int, str] | None = None
                ) -> dict[str, Any]:
    """What each step changes in the drawing, as numbers the page's script applies.

    `items` are the drawn boxes that take part in backward: ``[title, op title, fired at,
    reached at, complete after]`` (frame indices; Graphviz puts the title in the SVG). With
    `unit_of` (a collapsed drawing) a box is a module or a run of modules, fired when its
    first op runs. `frames` name the boxes each step applies and sends to; `heads` give, per
    box a backward edge ends at, the frame from which that edge has carried δ.
    """
    fired = {fr.node: k for k, fr in enumerate(sw.frames)}
    reach: dict[int, int] = {scene.output: -1}
    for k, fr in enumerate(sw.frames):
        for snd in fr.sends:
            reach.setdefault(snd.input, k)
    consumers: dict[int, list[int]] = {nid: [] for nid in scene.nodes}
    for nid, nd in scene.nodes.items():
        for u, _ in nd.inputs:
            consumers[u].append(nid)
    never = 10**9
    rows: dict[str, list[Any]] = {}
    for nid, nd in scene.nodes.items():
        if not nd.tensor.requires_grad:
            continue
        done = max([reach.get(nid, never)] + [fired.get(c, -1) for c in consumers[nid]])
        if unit_of is None:
            rows[tensor_id(nd)] = [tensor_id(nd), op_id(nd) if nd.op else "",
                                   fired.get(nid, -2), reach.get(nid, never), done]
        else:
            key = unit_of[nid]
            r = rows.setdefault(key, [key, "", never, never, -1])
            if nid in fired:
                r[2] = min(r[2], fired[nid])
            r[3] = min(r[3], reach.get(nid, never))
            r[4] = max(r[4], done)
    items = list(rows.values())
    pos = {r[0]: i for i, r in enumerate(items)}

    def box(nid: int) -> str:
        return tensor_id(scene.nodes[nid]) if unit_of is None else unit_of[nid]

    frames = []
    for fr in sw.frames:
        cur = pos[box(fr.node)]
        to = sorted({pos[box(s.input)] for s in fr.sends} - {cur})
        frames.append([cur] + to)
    heads = {(r[1] or r[0]): r[2] for r in items if r[2] < never}
    return {
        "items": items,
        "frames": frames,
        "heads": heads,
        "colours": {"current": CURRENT, "backward": S.BACKWARD, "reached": "#555555",
                    "grey": GREY_FILL, "greyBorder": GREY_BORDER, "futureEdge": FUTURE_EDGE},
    }


# --------------------------------------------------------------------------- the page
def _numbers_html(a: np.ndarray) -> str:
    rows = value_rows(np.asarray(a))
    if rows is None:
        return '<span class="summary">' + "<br>".join(
            _html.escape(line) for line in summary_lines(np.asarray(a))) + "</span>"
    body = "".join("<tr>" + "".join(f"<td>{_html.escape(v)}</td>" for v in row) + "</tr>"
                   for row in rows)
    return f'<table class="num">{body}</table>'


def _name_html(nd: DiagramNode) -> str:
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
        f"<tr><td>→ {_name_html(scene.nodes[s.input])}</td>"
        f'<td class="formula">'
        f"{_html.escape(row_labels.get((s.input, frame.node)) or s.formula)}</td>"
        f"<td>= {_numbers_html(s.grad)}</td></tr>"
        for s in frame.sends
    ) or '<tr><td colspan="3">no input needs a gradient</td></tr>'
    return (
        f'<div class="caption"><div class="title">Step {k} of {n}: the VJP of '
        f"<b>{_html.escape(op)}</b> <span class=\"formula\">{_html.escape(formula)}</span>"
        f"{where}</div>"
        f'<table class="flow"><tr><td>δ arriving at {_name_html(nd)}{seed}</td><td></td>'
        f"<td>= {_numbers_html(frame.delta)}</td></tr>"
        f'<tr><td colspan="3" class="sub">sends to each input:</td></tr>{sends}</table></div>'
    )


def _derive_html(step: Any, arriving: Any, seed: bool) -> str:
    """The derivation's step for one frame (`minigrad.derive`): the rule applied, the δ
    arriving as a formula in the lecture's notation, and what it sends; for an op inside a
    module's step (or outside the derivation's steps) the δ arriving alone."""
    if step is None and arriving is None:
        return ""
    e = _html.escape
    delta = step.delta if step is not None and (seed or arriving is None) else arriving.text
    if step is None:
        return (f'<div class="derive"><div class="sub">derivation</div>'
                f'<div>δ arriving: <span class="formula">{e(delta)}</span></div></div>')
    rows = [f'<div>δ arriving: <span class="formula">{e(delta)}</span></div>']
    if step.sum:
        rows.append(f'<div>fan-out: <span class="formula">{e(step.sum)}</span></div>')
    rows += [f'<div>→ {e(name)}: <span class="formula">{e(text)}</span></div>'
             for name, text in step.sends]
    if step.note:
        rows.append(f'<div class="note">{e(step.note)}</div>')
    return (f'<div class="derive"><div class="sub">derivation, step {step.index}'
            f'{" [" + e(step.module) + "]" if step.module else ""}</div>'
            f'<div class="rule">{e(step.rule)}</div>{"".join(rows)}</div>')


def derivation_html(scene: Scene, sw: Sweep, derivation: Any) -> list[str]:
    """Per frame of `sw`, the HTML of the derivation's step for its op (`_derive_html`):
    a step is shown at the frame of the op that made the step's tensor."""
    step_of = {id(s.tensor): s for s in derivation.steps if s.tensor is not None}
    return [_derive_html(step_of.get(fr.node), derivation.arriving(scene.nodes[fr.node].tensor),
                         fr.node == scene.output) for fr in sw.frames]


_CSS = """
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 0; color: #111; }
header { position: sticky; top: 0; background: #fff; border-bottom: 1px solid #ddd;
         padding: 8px 16px; z-index: 1; }
h1 { font-size: 18px; margin: 0 0 4px 0; }
header p { margin: 0 0 6px 0; font-size: 13px; color: #555; }
nav { display: flex; align-items: center; gap: 10px; flex-wrap: wrap; }
nav button { font-size: 15px; padding: 4px 14px; cursor: pointer; }
nav input[type=range] { flex: 1; max-width: 480px; }
#counter { font-variant-numeric: tabular-nums; min-width: 8em; }
#where { color: #555; font-size: 13px; }
#captions { max-height: 32vh; overflow: auto; margin: 4px -16px 0 -16px; }
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
.derive { font-size: 13px; border-left: 3px solid #c0392b; padding: 2px 8px; margin: 4px 0; }
.derive .rule { margin-bottom: 2px; }
.picture { padding: 8px 16px; }
.picture svg { max-width: 100%; height: auto; }
g.future text { fill: #b3b3b3; }
g.edge.future text { fill: #ffffff; }
"""

# The drawing is made once; a step is data. At load the script indexes the SVG's nodes and
# edges by their Graphviz titles (t12, o12, t3->o12), then each step repaints: the op applied
# now (yellow), the tensors it sends to (red border), those reached earlier, and in grey what
# backward has not reached. O(nodes + edges) attribute changes per step, no layout.
_JS = """
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("steps-data").textContent);
  var C = D.colours;
  var sections = Array.prototype.slice.call(document.querySelectorAll("section.frame"));
  var prev = document.getElementById("prev"), next = document.getElementById("next");
  var slider = document.getElementById("slider"), counter = document.getElementById("counter");
  var where = document.getElementById("where");
  var openBtn = document.getElementById("open"), backBtn = document.getElementById("back");
  var svg = document.querySelector(".picture svg");
  var nodes = {}, edges = [];
  Array.prototype.forEach.call(svg.querySelectorAll("g.node"), function (g) {
    var t = g.querySelector("title"), shape = g.querySelector("path,polygon,ellipse");
    if (!t || !shape) { return; }
    nodes[t.textContent] = {g: g, shape: shape, fill: shape.getAttribute("fill"),
                            stroke: shape.getAttribute("stroke")};
  });
  Array.prototype.forEach.call(svg.querySelectorAll("g.edge"), function (g) {
    var t = g.querySelector("title"), path = g.querySelector("path");
    if (!t || !path) { return; }
    var ends = t.textContent.split("->");
    if (!path.getAttribute("stroke-dasharray")) { return; }  // forward edges stay as drawn
    edges.push({g: g, path: path, arrow: g.querySelector("polygon"),
                head: ends[1].replace(/:.*$/, "")});
  });
  function paint(el, fill, stroke, future) {
    if (!el) { return; }
    el.shape.setAttribute("fill", fill);
    el.shape.setAttribute("stroke", stroke);
    el.g.classList.toggle("future", !!future);
  }
  // the state after frames first..last have run, with those frames' boxes highlighted
  function render(first, last) {
    var now = {}, receiving = {};
    for (var f = first; f <= last; f++) {
      var fr = D.frames[f];
      now[fr[0]] = true;
      for (var j = 1; j < fr.length; j++) { receiving[fr[j]] = true; }
    }
    D.items.forEach(function (r, i) {
      var t = nodes[r[0]], o = r[1] ? nodes[r[1]] : null;
      if (now[i]) {
        paint(t, C.current, C.backward, false);
        paint(o, C.current, C.backward, false);
        return;
      }
      if (r[3] <= last) {
        paint(t, t && t.fill, receiving[i] || r[4] > last ? C.backward : C.reached, false);
      } else {
        paint(t, C.grey, C.greyBorder, true);
      }
      if (o) {
        if (r[2] >= 0 && r[2] <= last) { paint(o, o.fill, o.stroke, false); }
        else { paint(o, C.grey, C.greyBorder, true); }
      }
    });
    var lit = {};
    for (var f2 = first; f2 <= last; f2++) {
      var it = D.items[D.frames[f2][0]];
      lit[it[1] || it[0]] = true;
    }
    edges.forEach(function (e) {
      var at = D.heads[e.head];
      var on = at !== undefined && at <= last;
      var colour = on ? C.backward : C.futureEdge;
      e.path.setAttribute("stroke", colour);
      e.path.setAttribute("stroke-width", lit[e.head] ? "2.2" : "1.1");
      if (e.arrow) { e.arrow.setAttribute("stroke", colour); e.arrow.setAttribute("fill", colour); }
      e.g.classList.toggle("future", !on);
    });
    var focus = nodes[D.items[D.frames[last][0]][0]];
    if (focus && focus.g.scrollIntoView) {
      var box = focus.g.getBoundingClientRect();
      if (box.top < 0 || box.bottom > window.innerHeight) {
        focus.g.scrollIntoView({block: "center", inline: "nearest"});
      }
    }
  }
  // two ways to step: by op (every frame), or by module (a run of frames in one module);
  // "open" steps through the ops of the current module only
  var mode = document.body.getAttribute("data-mode"), current = 0, lo = 0, hi = 0;
  function steps() {
    if (mode === "module") { return D.groups.length; }
    return hi - lo + 1;
  }
  function show(i) {
    var n = steps();
    i = Math.max(0, Math.min(n - 1, i));
    current = i;
    var first, last, label;
    if (mode === "module") {
      var g = D.groups[i];
      first = g[1]; last = g[2];
      label = (g[0] ? "module " + g[0] : "outside every module") +
              " · ops " + (first + 1) + "–" + (last + 1) + " of " + D.frames.length;
    } else {
      first = last = lo + i;
      label = lo === 0 && hi === D.frames.length - 1 ? "" : "inside " + where.dataset.module;
    }
    for (var j = 0; j < sections.length; j++) { sections[j].hidden = (j < first || j > last); }
    render(first, last);
    slider.max = String(n);
    slider.value = String(i + 1);
    counter.textContent = "step " + (i + 1) + " of " + n;
    if (mode === "op") { where.textContent = label; } else { where.textContent = label; }
    prev.disabled = (i === 0);
    next.disabled = (i === n - 1);
    openBtn.hidden = (mode !== "module");
    backBtn.hidden = !(mode === "op" && D.groups.length < D.frames.length &&
                       document.body.getAttribute("data-mode") === "module");
    document.body.setAttribute("data-frame", String(last + 1));
    document.body.setAttribute("data-step", String(i + 1));
  }
  openBtn.addEventListener("click", function () {
    var g = D.groups[current];
    where.dataset.module = g[0] || "this step";
    where.dataset.group = String(current);
    mode = "op"; lo = g[1]; hi = g[2]; show(0);
  });
  backBtn.addEventListener("click", function () {
    mode = "module"; lo = 0; hi = D.frames.length - 1;
    show(parseInt(where.dataset.group || "0", 10));
  });
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
    } else if (k === "Home") { show(0); } else if (k === "End") { show(steps() - 1); }
    else { return; }
    e.preventDefault();
  });
  hi = D.frames.length - 1;
  // ?frame=N opens step N (1-based), so a step can be linked to or opened headless
  var m = /[?&]frame=(\\d+)/.exec(window.location.search);
  show(m ? parseInt(m[1], 10) - 1 : 0);
})();
"""


def _page(scene: Scene, sw: Sweep, svg: str, title: str, mode: str,
          unit_of: dict[int, str] | None = None, title_of: dict[int, str] | None = None,
          derived: list[str] | None = None) -> str:
    n = len(sw.frames)
    row_labels = row_layer_labels(scene)
    grp = groups(scene, sw, title_of)
    sections = []
    for k, fr in enumerate(sw.frames, start=1):
        nd = scene.nodes[fr.node]
        sections.append(
            f'<section class="frame" id="frame-{k}" data-op={json.dumps(nd.op or "")} '
            f'data-node="{_html.escape(nd.name, quote=True)}" data-current="{tensor_id(nd)}"'
            f'{"" if k == 1 else " hidden"}>'
            f"{_caption(scene, fr, k, n, row_labels)}{derived[k - 1] if derived else ''}"
            "</section>"
        )
    frame_data = _frame_data(scene, sw, unit_of)
    frame_data["groups"] = [[g.module, g.first, g.last] for g in grp]
    data = json.dumps(frame_data, separators=(",", ":")).replace("</", "<\\/")
    steps = n if mode == "op" else len(grp)
    intro = (
        "Backward visits the ops in reverse topological order. At each op, the gradient δ "
        "that arrived at its result goes through the op's vector-Jacobian product, once per "
        "input. Yellow: the op applied now; red borders: the inputs it sends to, and tensors "
        "still waiting for a consumer's share; grey: not reached yet. "
        + ("Each step is one module's ops (a layer at a time); “Open module” steps through "
           "its ops one by one. " if mode == "module" else "")
        + "Keys: ← → (or Home/End)."
    )
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_html.escape(title)}</title><style>{_CSS}</style></head>"
        f'<body data-frame="1" data-step="1" data-frames="{n}" data-mode="{mode}">'
        f"<header><h1>{_html.escape(title)}</h1>"
        f"<p>{_html.escape(intro)}</p><nav>"
        '<button id="prev" type="button" aria-label="previous step">◀ Prev</button>'
        f'<input id="slider" type="range" min="1" max="{steps}" value="1" step="1" '
        'aria-label="step">'
        '<button id="next" type="button" aria-label="next step">Next ▶</button>'
        f'<span id="counter">step 1 of {steps}</span>'
        '<button id="open" type="button" hidden>Open module</button>'
        '<button id="back" type="button" hidden>Back to modules</button>'
        '<span id="where"></span></nav>'
        '<div id="captions">' + "".join(sections) + "</div></header>"
        f'<div class="picture">{svg}</div>'
        f'<script type="application/json" id="steps-data">{data}</script>'
        f"<script>{_JS}</script></body></html>\n"
    )


def backward_steps(
    output: Tensor,
    path: str | os.PathLike[str],
    model: Any = None,
    *,
    overwrite: bool = False,
    direction: str = "TB",
    show: Sequence[str] | None = None,
    title: str | None = None,
    timeout: float = 120,
    by: str = "auto",
    derive: bool = False,
) -> Path:
    r"""Writes an HTML page that steps through the backward pass of `output`.

    The page is a single file with one inline SVG drawing of the graph and a little inline
    JavaScript (no network, no other files). The graph is laid out once; each step is data
    (which op runs, which tensors have received their gradient, the δ and the gradients
    sent, with their numbers) that the script applies to the drawing, so the page stays small
    and quick for graphs of thousands of tensors. Prev/Next buttons, a slider and the arrow
    keys move between steps, and ``page.html?frame=N`` opens step N.

    A step is one op, in the order backward applies its VJPs (``by="op"``), or, for a model
    with modules, one module's run of ops, a layer at a time (``by="module"``), from which
    “Open module” steps through that module's ops one by one. Each step highlights the op
    whose VJP is applied, shows the δ arriving there and the gradient sent to each input
    (the numbers for tensors of up to 12 elements, else a summary), and greys out the
    tensors not reached yet.

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
        show: what tensor boxes contain besides their name: ``"value"``, ``"shape"``
            (gradients are in the step's caption). Default: both up to 300 tensors, the
            shape only above.
        title: the page's heading.
        timeout: seconds to wait for Graphviz.
        by: ``"op"``, ``"module"`` or ``"auto"`` (by module for a model's graph of more than
            300 tensors, else by op).
        derive: also show, on each step, the derivation's step for that op or module
            (`minigrad.derive` at level ``"op"`` or ``"module"``, as `by`): the rule applied,
            the δ arriving as a formula in the lecture's notation, and what it sends. Needs a
            scalar `output`.

    Returns:
        The path written.

    Raises:
        ValueError: the graph has no op (nothing to step through), the suffix is not .html,
            `by` is unknown, or `derive` is asked for a non-scalar `output`.
        FileExistsError: `path` exists and `overwrite` is False.
        GraphvizNotFound: Graphviz's ``dot`` is not installed.
    """
    p = Path(path).expanduser()
    if p.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"backward_steps(): write to an .html file, not {p.name!r}")
    if by not in ("auto", "op", "module"):
        raise ValueError(f"backward_steps(): by must be 'auto', 'op' or 'module', not {by!r}")
    p = check_destination(p, overwrite)
    if not isinstance(output, Tensor):
        raise TypeError(f"backward_steps() takes a minigrad Tensor, got {type(output).__name__}")
    if not output.requires_grad:
        raise ValueError("backward_steps(): this tensor does not require grad, so backward "
                         "has nothing to do (no input has requires_grad=True)")
    scene = build_scene(output, model)
    big = len(scene.order) > BIG
    if show is None:
        show = ("shape",) if big else SHOW_OPTIONS
    elif isinstance(show, str):
        show = (show,)
    sw = sweep(scene)
    if not sw.frames:
        raise ValueError("backward_steps(): the graph has no op, so there is nothing to step")
    if by == "auto":
        by = "module" if big else "op"
    derived = None
    if derive:
        from minigrad.derive import derive as derive_

        d = derive_(output, model, level="op" if by == "op" else "module")
        derived = derivation_html(scene, sw, d)
    unit_of = title_of = None
    if big:  # one box per module (or run of modules): Graphviz lays out a few hundred boxes
        ordered, of, _ = units(scene, MAX_BOXES)
        ids = {u.key: f"u{i}" for i, u in enumerate(ordered)}
        unit_of = {nid: ids[u.key] for nid, u in of.items()}
        title_of = {nid: u.title for nid, u in of.items()}
        source = draw_collapsed(
            scene, show=tuple(x for x in show if x != "grad"), direction=direction, title=None,
            backward=True, color_by="role", max_nodes=MAX_BOXES,
            note=f"{len(scene.order):,} tensors drawn one box per module").source
    else:
        source = _picture_source(scene, tuple(show), direction)
    data = run_dot(source, "svg", timeout)
    out_name = scene.nodes[scene.output].name
    page = _page(scene, sw, _svg(data), title or f"Backward through {out_name}, step by step",
                 by, unit_of, title_of, derived)
    return write_atomic(p, page.encode("utf-8"), overwrite)
