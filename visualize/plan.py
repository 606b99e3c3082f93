"""Pictures of `minigrad.compile`'s plans: the compiled schedule, and each pass before and after.

`draw_plan(plan)` draws the final graph: every computed array as a box with its step number,
op, shape and the buffer it lives in (one colour per buffer; "fresh" for arrays numpy
allocates at each call), forward in black and backward in red, and, greyed out, what the
passes removed (dead code) or folded into constants. `draw_pass(plan, name)` draws the graph
before and after one pass side by side.
"""

from __future__ import annotations

from typing import Any

import graphviz
import networkx as nx

from . import _style as S
from .emit import new_digraph

__all__ = ["draw_pass", "draw_plan"]

# light fills (ColorBrewer Set3), one per buffer, cycling
BUFFER_FILLS = ("#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69",
                "#fccde5", "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f")
LEAF_FILL = {"input": S.ROLE_FILL["input"], "param": S.ROLE_FILL["parameter"],
             "const": "#ffffff"}


def _shape(d: dict[str, Any]) -> str:
    return "×".join(map(str, d["shape"])) or "scalar"


BACKWARD_KINDS = ("seed", "vjp", "acc", "bprim")


def _rule(G: nx.DiGraph, n: Any) -> str:
    """What node `n` computes, in the registry's words (∇ tanh → input 0, matmul…)."""
    d = G.nodes[n]
    was = d.get("was", d["kind"])
    if was == "vjp":
        return f"∇ {d['fn'].name} → input {d['argnum']}"
    if was == "acc":
        return "+ (accumulate)"
    return str(d["op"])


def _label(G: nx.DiGraph, n: Any, d: dict[str, Any], memory: bool) -> str:
    kind = d["kind"]
    if kind in ("input", "param", "const"):
        name = d.get("name") or {"input": f"argument {d.get('index', '')}", "param": "parameter",
                                 "const": "folded constant" if d.get("folded") else "constant"
                                 }[kind]
        return f"{name}\n{_shape(d)}"
    step = f"#{d['step']} " if "step" in d else ""
    if kind in ("fprim", "bprim"):  # one numpy call of a lowered rule
        src = d["lowered_from"]
        rule = _rule(G, src) if src in G else str(src)
        lines = [f"{step}{d['prim']}"] + ([f"of {rule}"] if rule != d["prim"] else [])
        lines.append(_shape(d))
    else:
        lines = [f"{step}{_rule(G, n)}", _shape(d)]
    if memory and "root" in d:
        if "buffer" in d:
            lines.append(f"buffer b{d['buffer']}")
        elif d["root"] != n:
            root = G.nodes[d["root"]]
            lines.append(f"view of #{root['step']}" if "step" in root else f"view of {d['root']}")
        else:
            lines.append("fresh")
        if d.get("life") not in (None, float("inf")):
            lines.append(f"last read #{int(d['life'])}")
    return "\n".join(lines)


def _add_graph(g: Any, G: nx.DiGraph, prefix: str, memory: bool,
               ghosts: dict[Any, str] | None = None) -> None:
    """Adds G's nodes and edges to `g` (a Digraph or a cluster), ids prefixed."""
    for n, d in G.nodes(data=True):
        kind = d["kind"]
        attrs = {"fillcolor": "#f2f2f2", "color": S.OP_BORDER, "fontcolor": S.FORWARD}
        if kind in LEAF_FILL:
            attrs["fillcolor"] = LEAF_FILL[kind]
            if d.get("folded"):
                attrs.update(style="rounded,filled,dashed", fontcolor=S.MUTED)
        elif kind in BACKWARD_KINDS:
            attrs.update(color=S.BACKWARD, fontcolor=S.BACKWARD, fillcolor="#fdf0ee")
        if memory and "buffer" in d:
            attrs["fillcolor"] = BUFFER_FILLS[d["buffer"] % len(BUFFER_FILLS)]
        g.node(f"{prefix}{n}", _label(G, n, d, memory), **attrs)
    for u, v in G.edges:
        back = G.nodes[v]["kind"] in BACKWARD_KINDS
        g.edge(f"{prefix}{u}", f"{prefix}{v}", color=S.BACKWARD if back else S.FORWARD)
    for n, why in (ghosts or {}).items():
        g.node(f"{prefix}{n}", why, style="rounded,dashed", color=S.MUTED, fontcolor=S.MUTED,
               fillcolor="#ffffff")


def _ghosts(plan: Any) -> tuple[dict[Any, str], list[tuple[Any, Any]]]:
    """The trace's nodes that the passes removed, with a note, and their trace edges."""
    T, G = plan.trace, plan.graph
    ghosts = {}
    for entry in G.graph["log"]:
        for n in entry.get("removed", ()):
            d = T.nodes[n]
            what = d["op"] or ("constant" if d["kind"] == "const" else d["kind"])
            why = "dead code" if entry["pass"] == "eliminate_dead_code" else "folded away"
            ghosts[n] = f"{what}\n{_shape(d)}\n({why})"
    edges = [(u, v) for u, v in T.edges if u in ghosts or v in ghosts]
    return ghosts, edges


def draw_plan(plan: Any, *, direction: str = "TB", title: str | None = None) -> graphviz.Digraph:
    """The compiled schedule of `plan` (a `minigrad.compile` plan, e.g. ``step.plan``).

    Boxes are numbered in order of execution (#0, #1, …); each computed array says where it
    lives: ``buffer bK`` (one of the plan's preallocated buffers, also its colour), ``fresh``
    (numpy allocates it at each call) or ``view of`` another array, and the last step that
    reads it. Forward is black, backward red; dashed grey boxes are what the passes removed.
    """
    st = plan.stats()
    head = title or f"compiled plan of {plan.name}"
    notes = (f"{st.steps} steps · {st.buffers} buffers ({st.buffer_bytes:,} bytes, allocated "
             f"once) · peak {st.peak_bytes:,} bytes alive")
    g = new_digraph(direction, f"<<B>{_esc(head)}</B><BR/>{_esc(notes)}>")
    ghosts, edges = _ghosts(plan)
    _add_graph(g, plan.graph, "n", memory=True, ghosts=ghosts)
    for u, v in edges:
        if u in ghosts or u in plan.graph:
            g.edge(f"n{u}", f"n{v}", style="dashed", color=S.MUTED)
    return g


def draw_pass(plan: Any, name: str, *, direction: str = "TB") -> graphviz.Digraph:
    """The graph just before and just after pass `name` (e.g. ``"fold_constants"``), side by
    side; the nodes the pass removed, folded or added are outlined in bold."""
    names = [s for s, _ in plan.stages]
    if name not in names[1:]:
        raise ValueError(f"draw_pass: no pass named {name!r}; the plan ran {names[1:]}")
    i = names.index(name)
    before, after = plan.stages[i - 1][1], plan.stages[i][1]
    entry = after.graph["log"][-1]
    changed = {n for key in ("removed", "folded", "added", "placed") for n in entry.get(key, ())}
    memory = name in ("liveness", "assign_buffers")
    g = new_digraph(direction, f"<<B>{_esc(name)}</B>: {before.number_of_nodes()} → "
                               f"{after.number_of_nodes()} nodes>")
    for tag, G, mem in (("before", before, memory and name == "assign_buffers"),
                        ("after", after, memory)):
        with g.subgraph(name=f"cluster_{tag}") as c:
            c.attr(label=tag, style="rounded", color=S.CLUSTER_BORDER)
            _add_graph(c, G, f"{tag[0]}", mem)
            for n in changed:
                if n in G:
                    c.node(f"{tag[0]}{n}", penwidth="3")
    return g


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
