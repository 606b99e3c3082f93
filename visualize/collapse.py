"""Drawing a big graph small: one node per module, then, if that is still too many, one node
per run of consecutive modules in forward order.

Graphviz's layout time grows much faster than linearly in the number of nodes and edges, so a
graph of thousands of tensors is drawn as a few hundred nodes at most. The summary of each
collapsed node (tensor and op counts, parameter count, gradient norm) is computed from the
arrays directly; no per-tensor label is built for tensors that are collapsed away.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import graphviz

from . import _style as S
from ._text import escape, format_number, shape_text
from .emit import new_digraph
from .labels import GradScale, formulas_text, grad_norm, graph_label, role_legend, tensor_label
from .scene import DiagramNode, Scene

__all__ = ["draw_collapsed", "units"]


@dataclass
class Unit:
    """One drawn node of a collapsed graph: a module, a run of modules, or a lone tensor."""

    key: str
    title: str
    members: list[DiagramNode] = field(default_factory=list)
    modules: list[str] = field(default_factory=list)

    position: float = 0.0  # where the unit starts in forward order (see `units`)

    @property
    def lone(self) -> bool:
        return not self.modules


def units(scene: Scene, max_nodes: int) -> tuple[list[Unit], dict[int, Unit], bool]:
    """Groups the tensors of `scene`: by module, then into runs when that is still more than
    `max_nodes` nodes. Returns the units in forward order, the unit of each tensor, and
    whether runs were needed."""
    # A leaf's place in the topological order says little (every leaf is a source and may
    # come first), so a tensor counts as placed just before the first op that uses it.
    position: dict[int, float] = {}
    for nid in scene.order:
        nd = scene.nodes[nid]
        if nd.op is not None:
            position[nid] = nd.index
            for src, _ in nd.inputs:
                if scene.nodes[src].op is None:
                    position[src] = min(position.get(src, float("inf")), nd.index - 0.5)
    by_key: dict[str, Unit] = {}
    for nid in scene.order:
        nd = scene.nodes[nid]
        if nd.module is not None:
            key = "m:" + nd.module
            u = by_key.get(key)
            if u is None:
                u = by_key[key] = Unit(key, nd.module, modules=[nd.module])
        else:
            key = f"t:{nd.index}"
            u = by_key[key] = Unit(key, nd.name)
        u.members.append(nd)
    for u in by_key.values():
        u.position = min(position.get(nd.nid, nd.index) for nd in u.members)
    ordered = sorted(by_key.values(), key=lambda u: u.position)
    merged = False
    if len(ordered) > max_nodes:
        # runs of consecutive units: every run keeps its modules whole
        target = max(1, max_nodes // 2)
        size = math.ceil(len(ordered) / target)
        runs = []
        for j in range(0, len(ordered), size):
            chunk = ordered[j : j + size]
            mods = [m for u in chunk for m in u.modules]
            members = sorted((nd for u in chunk for nd in u.members), key=lambda nd: nd.index)
            if mods:
                title = mods[0] if len(mods) == 1 else f"{mods[0]} … {mods[-1]}"
            else:
                title = f"tensors {members[0].index + 1}–{members[-1].index + 1}"
            runs.append(Unit(f"r:{j}", title, members, mods or ["(no module)"],
                             chunk[0].position))
        ordered = runs
        merged = True
    of = {nd.nid: u for u in ordered for nd in u.members}
    return ordered, of, merged


def _unit_norm(u: Unit) -> float | None:
    norms = [n for n in (grad_norm(nd.tensor) for nd in u.members) if n is not None]
    if not norms:
        return None
    return math.sqrt(sum(n * n for n in norms))


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _unit_label(u: Unit, scene: Scene, ink: S.Ink, show: Sequence[str]) -> str:
    muted = ink.muted
    ops: dict[str, int] = {}
    for nd in u.members:
        if nd.op is not None:
            ops[nd.op] = ops.get(nd.op, 0) + 1
    params = [nd for nd in u.members if nd.role == "parameter"]
    n_params = int(sum(nd.tensor.data.size for nd in params))
    desc = scene.modules.get(u.title, "") if len(u.modules) == 1 else ""
    head = f"<B>{escape(u.title)}</B>"
    if desc:
        head += f"\u00a0· {escape(desc)}"  # nbsp: SVG viewers drop a leading space
    lines = [f'<FONT POINT-SIZE="12" COLOR="{ink.text}">{head}</FONT>']
    op_text = ", ".join(f"{k}×{v}" if v > 1 else k for k, v in list(ops.items())[:6])
    if len(ops) > 6:
        op_text += ", …"
    lines.append(f'<FONT POINT-SIZE="9" COLOR="{muted}">{_plural(len(u.members), "tensor")}, '
                 f'{_plural(sum(ops.values()), "op")}: {escape(op_text)}</FONT>')
    if params:
        lines.append(f'<FONT POINT-SIZE="9" COLOR="{muted}">'
                     f'{_plural(len(params), "parameter")}, {_plural(n_params, "number")}</FONT>')
    last = u.members[-1]
    if "shape" in show:
        lines.append(f'<FONT POINT-SIZE="9" COLOR="{muted}">out: '
                     f"{escape(shape_text(last.tensor.shape, last.tensor.dtype))}</FONT>")
    if "grad" in show:
        norm = _unit_norm(u)
        if norm is not None:
            g = f"grad norm {format_number(norm)}"
        elif scene.after_backward:
            g = "grads not kept (see retain_grad())"
        else:
            g = "not computed yet"
        lines.append(f'<FONT POINT-SIZE="9" COLOR="{ink.grad}">{escape(g)}</FONT>')
    return "<" + "<BR/>".join(lines) + ">"


def draw_collapsed(
    scene: Scene,
    *,
    show: Sequence[str],
    direction: str,
    title: str | None,
    backward: bool,
    color_by: str,
    max_nodes: int,
    note: str,
) -> graphviz.Digraph:
    """The collapsed drawing of `scene` (see `visualize.draw`)."""
    ordered, of, merged = units(scene, max_nodes)
    notes = [note + (f", then runs of modules in forward order: {len(ordered)} nodes"
                     if merged else f": {len(ordered)} nodes")]
    scale = None
    if color_by == "grad":
        scale = GradScale.of(n for n in (_unit_norm(u) for u in ordered) if n is not None)
    legend = []
    if color_by == "grad" and scale is not None:
        legend.append(scale.legend())
    roles = {"module" if not u.lone else u.members[0].role for u in ordered}
    legend.append(role_legend(roles if color_by == "role" else set(), backward))
    g = new_digraph(direction, graph_label(title, notes, legend))
    ids = {u.key: f"u{i}" for i, u in enumerate(ordered)}
    for u in ordered:
        if color_by == "grad":
            norm = _unit_norm(u)
            fill = S.NO_GRAD_FILL if norm is None or scale is None else scale.colour(norm)
        else:
            fill = S.ROLE_FILL["module" if not u.lone else u.members[0].role]
        ink = S.ink_on(fill)
        if u.lone:
            nd = u.members[0]
            extra = [f"op: {escape(nd.op)}"] if nd.op else []
            label = tensor_label(nd, show=show, after_backward=scene.after_backward,
                                 fill=fill, extra=extra)
        else:
            label = _unit_label(u, scene, ink, show)
        g.node(ids[u.key], label=label, fillcolor=fill, fontcolor=ink.text)
    edges: dict[tuple[str, str], set[str]] = {}
    needs_grad: dict[tuple[str, str], bool] = {}
    for nid in scene.order:
        nd = scene.nodes[nid]
        for src, data in nd.inputs:
            a, b = of[src].key, of[nid].key
            if a == b:
                continue
            edges.setdefault((a, b), set()).add(formulas_text(data))
            needs_grad[(a, b)] = needs_grad.get((a, b), False) or bool(
                scene.nodes[src].tensor.requires_grad)
    for (a, b), formulas in edges.items():
        g.edge(ids[a], ids[b])
        if backward and needs_grad[(a, b)]:
            label = " | ".join(sorted(formulas)) if len(formulas) <= 2 else ""
            g.edge(ids[a], ids[b], dir="back", style="dashed", color=S.BACKWARD,
                   fontcolor=S.BACKWARD, arrowsize="0.7",
                   label=f"<{escape(label)}>" if label else "")
    return g
