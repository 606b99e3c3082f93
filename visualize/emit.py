r"""Writing a scene into a `graphviz.Digraph`: the house style, one node per tensor and per op,
the module boxes, and the forward and backward edges."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import graphviz

from . import _style as S
from ._text import escape
from .labels import formulas_text, op_label, row_layer_labels, tensor_label
from .scene import DiagramNode, Scene


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


def role_style(node: DiagramNode) -> NodeStyle:
    return NodeStyle(fill=S.ROLE_FILL[node.role])


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
        v.sort(key=natural_order)
    return children


def natural_order(name: str) -> list[Any]:
    """``layers.10`` after ``layers.9``."""
    return [int(p) if p.isdigit() else p for p in name.split(".")]


def cluster_label(name: str, desc: str) -> str:
    text = f"<B>{escape(name)}</B>"
    if desc:
        text += f"\u00a0· {escape(desc)}"  # nbsp: SVG viewers drop a leading space
    return f'<<FONT POINT-SIZE="11">{text}</FONT>>'


def tensor_id(nd: DiagramNode) -> str:
    return f"t{nd.index}"


def op_id(nd: DiagramNode) -> str:
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
    row_labels = row_layer_labels(scene)

    def add_nodes(target: Any, members: list[DiagramNode]) -> None:
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

    _emit_boxes(g, scene, add_nodes)
    _emit_edges(g, scene, backward, edge_styles or {}, backward_labels or {}, row_labels)


def _emit_boxes(g: graphviz.Digraph, scene: Scene,
                add_nodes: Callable[[Any, list[DiagramNode]], None]) -> None:
    """The nodes of each module inside its box, boxes nested as the modules are."""
    by_module: dict[str | None, list[DiagramNode]] = {}
    for nid in scene.order:
        nd = scene.nodes[nid]
        by_module.setdefault(nd.module, []).append(nd)
    tree = module_tree(scene.modules)
    module_index = {m: i for i, m in enumerate(sorted(scene.modules, key=natural_order))}

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


def _forward_attrs(style: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in style.items() if not k.startswith("b_")}


def _backward_attrs(attrs: dict[str, str], style: dict[str, str]) -> dict[str, str]:
    """A backward edge's attributes, repainted by the style's ``b_`` entries."""
    attrs.update({k[2:]: v for k, v in style.items() if k.startswith("b_")})
    return attrs


def _emit_edges(g: graphviz.Digraph, scene: Scene, backward: bool,
                es: dict[tuple[int, int], dict[str, str]],
                backward_labels: dict[tuple[int, int], str],
                row_labels: dict[tuple[int, int], str]) -> None:
    """Each op's edges: from its inputs and to its result, and with `backward` the dashed
    edges back, labelled with each input's VJP formula."""
    for nid in scene.order:
        nd = scene.nodes[nid]
        if nd.op is None:
            continue
        style = es.get((nid, nid), {})
        g.edge(op_id(nd), tensor_id(nd), **_forward_attrs(style))
        if backward:
            # δ arrives at the op from its result: drawn so the dashed path runs unbroken
            # from the loss back to every parameter
            g.edge(op_id(nd), tensor_id(nd), **_backward_attrs(
                {"dir": "back", "style": "dashed", "color": S.BACKWARD, "arrowsize": "0.7"},
                style))
        for u, data in sorted(nd.inputs, key=lambda e: min(e[1]["argnums"])):
            src = scene.nodes[u]
            style = es.get((u, nid), {})
            g.edge(tensor_id(src), op_id(nd), **_forward_attrs(style))
            if backward and src.tensor.requires_grad:
                label = backward_labels.get((u, nid))
                if label is None:
                    text = row_labels.get((u, nid)) or formulas_text(data)
                    label = f'<<FONT COLOR="{S.BACKWARD}">{escape(text)}</FONT>>'
                g.edge(tensor_id(src), op_id(nd), **_backward_attrs(
                    {"dir": "back", "style": "dashed", "color": S.BACKWARD,
                     "fontcolor": S.BACKWARD, "label": label, "arrowsize": "0.7"}, style))
