r"""`derive` and what it returns: the gradient as a formula, step by step.

    d = minigrad.derive(loss, model)          # or a list of tensors; level="op" for every op
    d[W1].text        # '∇W_1 L = δ_1 · h_0ᵀ'
    d.definitions     # δ_3 = ŷ − e(ℓ), δ_2 = (W_3ᵀ δ_3) ⊙ σ′(a_2), δ_1 = …
    d[W1].evaluate()  # the formula computed on the graph's values: autograd's gradient
    print(d)          # the whole derivation

How: the rules of the registry are traced on stand-ins (`minigrad.derive.trace`), the
resulting expression graph is simplified by pure passes (`minigrad.derive.passes`), and
printed in the lecture's notation (`minigrad.derive.render`, names from
`minigrad.derive.names`). Nothing of the user's changes: no ``.grad`` is written.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from minigrad.derive import modules, passes, scalars
from minigrad.derive.names import Names
from minigrad.derive.render import (
    ATOM,
    Doc,
    Printer,
    _index_text,
    call,
    delta_name,
    gradient_name,
    negate,
    plan,
    product,
    scaled,
    total,
)
from minigrad.derive.scalars import Symbols
from minigrad.derive.trace import Visit, call_rule, trace
from minigrad.graph import graph, topological_order
from minigrad.tensor import Tensor

__all__ = ["derive", "Derivation", "Formula", "Definition", "Step", "LEVELS"]

LEVELS = ("module", "op")


@dataclass
class Definition:
    """One line of a derivation: ``name = expression``.

    Attributes:
        name: what is defined (``δ_2``, ``u_1``, ``∇S``, ``a_1``).
        text: the whole line in Unicode.
        latex: the whole line in LaTeX (KaTeX-ready).
        kind: ``"delta"`` (a gradient arriving), ``"shared"`` (a value used twice),
            ``"named"`` (a quantity the formula book names) or ``"forward"``.
    """

    name: str
    text: str
    latex: str
    kind: str

    def __str__(self) -> str:
        return self.text


@dataclass
class Step:
    """One step of the chain rule, in backward order.

    Attributes:
        index: 1, 2, … in the order backward visits them.
        node: the name of the tensor the step starts from (the op's or layer's output).
        op: the op's name, or the layer's entry in the formula book (``Linear``).
        module: the module's dotted path, when known.
        rule: the rule applied, as its labels (the registry's, or the formula book's).
        delta: the δ arriving at `node`.
        sum: at a fan-out, the δ as the sum of its paths (``∇h L = W_2ᵀ δ_2 + ∇z_3 L``).
        sends: ``(input, what it receives)`` for each input the rule sends a gradient to.
        checked: False when the rule could not be traced and its label is shown as given.
        book: at level="module" with a model, whether the book's numpy formula for the layer,
            run on the same δ, agrees with the traced rules (None: not checked).
        note: anything else worth saying about the step.
        tensor: the tensor `node` names, in the user's graph (for pictures that show a
            step beside the op that made it).
    """

    index: int
    node: str
    op: str
    module: str | None
    rule: str
    delta: str
    sum: str | None
    sends: list[tuple[str, str]] = field(default_factory=list)
    checked: bool = True
    book: bool | None = None
    note: str = ""
    tensor: Tensor | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        where = f" [{self.module}]" if self.module else ""
        lines = [f"{self.index}. {self.node}{where}: {self.rule}"]
        if self.sum:
            lines.append(f"     fan-out: {self.sum}")
        lines.append(f"     δ arriving: {self.delta}")
        for name, text in self.sends:
            lines.append(f"     → {name}: {text}")
        if self.book is False:
            lines.append("     the formula book's numbers differ from the rules' here")
        if self.note:
            lines.append(f"     ({self.note})")
        return "\n".join(lines)


class Formula:
    """The gradient of the loss with respect to one tensor, as a formula.

    Attributes:
        tensor: the tensor.
        name: its name in the derivation (``W_1``, ``layers.0.weight``).
        text: ``'∇W_1 L = δ_1 · h_0ᵀ'``.
        latex: ``'\\nabla_{W_1} L = \\delta_1 \\, h_0^\\top'``.
        expression: the right-hand side alone, in Unicode (`latex_expression` in LaTeX).
    """

    def __init__(self, derivation: Derivation, tensor: Tensor, node: int, head: tuple[str, str],
                 body: Doc, name: str) -> None:
        self._d = derivation
        self.tensor = tensor
        self.node = node
        self.name = name
        self.head = head[0]
        self.expression = body.text
        self.latex_expression = body.latex
        self.text = f"{head[0]} = {body.text}"
        self.latex = f"{head[1]} = {body.latex}"

    def evaluate(self) -> np.ndarray:
        """The formula computed on the graph's recorded values, op by op with the registry's
        forwards: the same numbers as autograd's gradient."""
        return self._d._evaluate(self.node).astype(self.tensor.data.dtype, copy=False)

    @property
    def expanded(self) -> str:
        """The formula with every δ and shared value written out (for small networks:
        ``((W_2ᵀ((W_3ᵀ(ŷ − e(ℓ))) ⊙ σ′(a_2))) ⊙ σ′(a_1)) · h_0ᵀ``)."""
        return f"{self.head} = {self._d._expanded(self.node).text}"

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Formula({self.text!r})"

    def _repr_latex_(self) -> str:
        return f"$${self.latex}$$"


class Derivation:
    """A derivation of the gradients of a scalar loss (see `derive`).

    Indexable by tensor (``d[W1]``) or by name: a dotted parameter name of the model
    (``d["layers.0.weight"]``) or the derivation's own name for it (``d["W_1"]``).

    Attributes:
        level: ``"module"`` or ``"op"``.
        formulas: the `Formula` of each wanted tensor, in the order given.
        definitions: the named intermediate results (the δs first to last), in order.
        forward: the forward quantities the formulas mention (``a_1 = W_1 h_0 + b_1``,
            ``ŷ = softmax(a_3)``).
        steps: the chain rule, one `Step` per op (level="op") or layer (level="module").
        symbols: the named scalars (``N = 4: the examples the mean divides by``).
        graph: the simplified expression graph (nodes ``sym``, ``const``, ``op``, ``delta``,
            ``abbrev``, ``rule``; see `minigrad.derive.trace`).
    """

    def __init__(self, loss: Tensor, F: nx.DiGraph, names: Names, E: nx.DiGraph, level: str,
                 wanted: list[Tensor], keys: dict[str, Tensor], symbols: Symbols,
                 model: Any) -> None:
        self.loss = loss
        self.level = level
        self.graph = E
        self._F = F
        self._names = names
        self._keys = keys
        self._symbols = symbols
        roots = E.graph["roots"]
        results = [roots["result"][id(t)] for t in wanted]
        names.number(self._mentioned())
        self._named = plan(E, names, level, results)
        self._printer = Printer(E, names, self._named, symbols)
        P = self._printer
        self.formulas: dict[int, Formula] = {}
        for t in wanted:
            n = roots["result"][id(t)]
            fid = id(t)
            name = next((k for k, v in keys.items() if v is t), names.text(fid))
            self.formulas[fid] = Formula(self, t, n, gradient_name(names, fid),
                                         P.doc(n, top=True), name)
        self.definitions = self._definitions(set(results))
        self.forward = self._forward()
        self.steps = self._steps(model)
        self.symbols = symbols.legend()

    # ------------------------------------------------------------------ access
    def __getitem__(self, key: Any) -> Formula:
        if isinstance(key, Tensor):
            f = self.formulas.get(id(key))
            if f is None:
                raise KeyError(f"derivation: no formula for this tensor (shape {key.shape}"
                               f"{', ' + repr(key.name) if key.name else ''}); derive it by "
                               f"passing it in wrt")
            return f
        if isinstance(key, str):
            t = self._keys.get(key)
            if t is not None and id(t) in self.formulas:
                return self.formulas[id(t)]
            for f in self.formulas.values():
                if f.name == key or self._names.text(id(f.tensor)) == key:
                    return f
            raise KeyError(f"derivation: no formula named {key!r}; the names are "
                           f"{sorted(self.keys())}")
        raise TypeError(f"derivation: index by tensor or by name, got {type(key).__name__}")

    def __contains__(self, key: Any) -> bool:
        try:
            self[key]
        except (KeyError, TypeError):
            return False
        return True

    def __iter__(self) -> Iterator[Formula]:
        return iter(self.formulas.values())

    def __len__(self) -> int:
        return len(self.formulas)

    def keys(self) -> list[str]:
        return [f.name for f in self.formulas.values()]

    def arriving(self, tensor: Tensor) -> Definition | None:
        """The gradient arriving at any tensor of the derivation (not only the wanted ones),
        as a line: ``δ_2 = (W_3ᵀ δ_3) ⊙ σ′(a_2)``, ``∇h_2 L = W_3ᵀ δ_3``. None for a tensor
        no wanted one leads to (its gradient was not derived)."""
        fid = id(tensor)
        n = self.graph.graph["roots"]["delta"].get(fid)
        if n is None or n not in self.graph:
            return None
        name = self._named.get(n) or gradient_name(self._names, fid)
        body = self._printer.doc(n, top=True)
        return Definition(name[0], f"{name[0]} = {body.text}", f"{name[1]} = {body.latex}",
                          "delta")

    # ------------------------------------------------------------------ printing
    def lines(self) -> list[str]:
        """The whole derivation, line by line."""
        out = [f"The gradient of {self._names.loss} by the chain rule ({self.level} level, "
               f"{len(self.steps)} steps)"]
        if self.forward:
            out.append("forward:")
            out += [f"  {d.text}" for d in self.forward]
        if self.definitions:
            out.append("backward:")
            out += [f"  {d.text}" for d in self.definitions]
        out.append("gradients:")
        out += [f"  {f.text}" for f in self.formulas.values()]
        if self.symbols or self._printer.constants:
            out.append("where:")
            out += [f"  {s}" for s in self.symbols]
            for n, name in self._printer.constants.items():
                out.append(f"  {name}: a constant of shape {tuple(self.graph.nodes[n]['shape'])}")
        out.append("steps (backward order):")
        for s in self.steps:
            out += ["  " + line for line in str(s).split("\n")]
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def __repr__(self) -> str:
        return (f"<Derivation of {self._names.loss}: {len(self.formulas)} gradients, "
                f"{len(self.definitions)} definitions, {len(self.steps)} steps>")

    def latex(self) -> str:
        r"""The forward quantities, the δs and the gradients as one KaTeX-ready
        ``\begin{aligned} … \end{aligned}`` block."""
        rows = [_aligned(d.latex) for d in self.forward + self.definitions]
        rows += [_aligned(f.latex) for f in self.formulas.values()]
        return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"

    def markdown(self) -> str:
        """The derivation as Markdown: the formulas as display math (``$$ … $$``), then the
        steps as a numbered list."""
        def block(rows: list[str]) -> str:
            return "$$\n\\begin{aligned}\n" + " \\\\\n".join(_aligned(r) for r in rows) + \
                "\n\\end{aligned}\n$$"

        parts = [f"**The gradient of {self._names.loss} by the chain rule** ({self.level} "
                 f"level)"]
        if self.forward:
            parts += ["Forward:", block([d.latex for d in self.forward])]
        if self.definitions:
            parts += ["Backward:", block([d.latex for d in self.definitions])]
        parts += ["Gradients:", block([f.latex for f in self.formulas.values()])]
        if self.symbols:
            parts.append("Where " + "; ".join(self.symbols) + ".")
        steps = []
        for s in self.steps:
            sends = "; ".join(f"`{a}` ← `{b}`" for a, b in s.sends)
            steps.append(f"{s.index}. `{s.node}`: {s.rule}. δ arriving `{s.delta}`"
                         + (f"; fan-out `{s.sum}`" if s.sum else "") + (f"; {sends}" if sends
                                                                          else ""))
        parts += ["Steps (backward order):", "\n".join(steps)]
        return "\n\n".join(parts)

    def _repr_markdown_(self) -> str:
        return self.markdown()

    def _repr_latex_(self) -> str:
        return f"$${self.latex()}$$"

    # ------------------------------------------------------------------ building
    def _mentioned(self) -> list[int]:
        """Forward tensors the printed formulas name, for numbering ``x_i``/``z_i``."""
        E = self.graph
        fids = [d["fid"] for n, d in E.nodes(data=True) if d["kind"] in ("sym", "delta")]
        fids += [id(t) for t in self._keys.values()]
        for _, d in E.nodes(data=True):
            if d.get("label") is not None:
                fids += list(d["label"][2])
        return fids

    def _definitions(self, results: set[int]) -> list[Definition]:
        E = self.graph
        P = self._printer
        out = []
        for n in nx.topological_sort(E):
            d = E.nodes[n]
            label = d.get("label")
            if n not in self._printer.visible:
                continue
            if n in self._named and n not in results and not d["free"]:
                t, latex = self._named[n]
                body = P.doc(n, top=True)
                kind = "delta" if d["kind"] == "delta" else "shared"
                out.append(Definition(t, f"{t} = {body.text}", f"{latex} = {body.latex}", kind))
            elif label is not None and d["kind"] == "op" and not d["free"] and E.out_degree(n):
                head = P.doc(n)
                body = P.doc(n, top=True)
                out.append(Definition(head.text, f"{head.text} = {body.text}",
                                      f"{head.latex} = {body.latex}", "named"))
        return out

    def _forward(self) -> list[Definition]:
        """The forward pass between the wanted tensors and the loss, and after each op the
        quantities its rules name (``ŷ = softmax(a_3)``, ``x̂``, ``P``)."""
        E, F, names = self.graph, self._F, self._names
        P = self._printer
        fids = set(E.graph.get("relevant", ())) | {id(self.loss)}
        extras: dict[int | None, list[Definition]] = {}
        for n in nx.topological_sort(E):
            d = E.nodes[n]
            if n not in P.visible or not d["free"] or d["kind"] not in ("op", "abbrev"):
                continue
            if d.get("label") is not None or n in self._named:
                head = P.doc(n)
                body = P.doc(n, top=True)
                extras.setdefault(d.get("owner"), []).append(Definition(
                    head.text, f"{head.text} = {body.text}", f"{head.latex} = {body.latex}",
                    "forward"))
        out = []
        for fid in names.order:
            if fid in fids and not F.nodes[fid]["is_leaf"]:
                doc = _forward_doc(F, names, fid)
                t, latex = names.text(fid), names.latex(fid)
                out.append(Definition(t, f"{t} = {doc.text}", f"{latex} = {doc.latex}",
                                      "forward"))
            out += extras.pop(fid, [])
        for rest in extras.values():
            out += rest
        return out

    def _steps(self, model: Any) -> list[Step]:
        E, F, names = self.graph, self._F, self._names
        roots = E.graph["roots"]
        visits: list[Visit] = E.graph["visits"]
        by_fid = {v.fid: v for v in visits}
        into: dict[int, list[tuple[int, int]]] = {}
        for v in visits:
            for i, xid, _ in v.sends:
                into.setdefault(xid, []).append((v.fid, i))
        steps = []
        for k, u in enumerate(modules.units(visits, F, model, self.level), start=1):
            out = u.output
            dnode = roots["delta"][out]
            delta = self._printer.doc(dnode).text if dnode in E else "0"
            if out == id(self.loss):
                delta = "1 (the loss itself)"
            fan = self._fan_out(out, into.get(out, []))
            traced = all(by_fid[fid].traced for fid in u.fids)
            send_text, values = self._sends(u, by_fid)
            book = None
            if u.module_object is not None and dnode in E:
                book = modules.check_with_book(u, F, E.nodes[dnode]["value"], values)
            steps.append(Step(k, names.text(out), u.kind, u.module, u.labels, delta, fan,
                              send_text, traced, book, self._note(u, traced),
                              F.nodes[out]["tensor"]))
        return steps

    def _fan_out(self, out: int, parts: list[tuple[int, int]]) -> str | None:
        """At a tensor several ops read (`parts`: the (op, input) pairs), its δ as the sum of
        what each sends: ``∇h L = W_2ᵀ δ_2 + ∇z_3 L``; None for a tensor read once."""
        if len(parts) <= 1:
            return None
        contrib = self.graph.graph["roots"]["contrib"]
        docs = [self._printer.doc(contrib[p]) for p in parts if contrib[p] in self.graph]
        if not docs:
            return None
        return f"{delta_name(self._names, out)[0]} = {_sum_of(docs).text}"

    def _sends(self, u: modules.Unit, by_fid: dict[int, Visit]
               ) -> tuple[list[tuple[str, str]], dict[int, np.ndarray]]:
        """What a step's ops send to the tensors outside it: each tensor's name with the
        formula, and the values (summed when several of its ops send to one tensor)."""
        E, P = self.graph, self._printer
        contrib = E.graph["roots"]["contrib"]
        inside = set(u.fids)
        sends: dict[int, list[Doc]] = {}
        values: dict[int, np.ndarray] = {}
        for fid in u.fids:
            for i, xid, _ in by_fid[fid].sends:
                if xid in inside:
                    continue
                n = contrib[(fid, i)]
                if n not in E:
                    continue
                sends.setdefault(xid, []).append(P.doc(n))
                val = np.asarray(E.nodes[n]["value"])
                values[xid] = values[xid] + val if xid in values else val
        texts = [(self._names.text(xid), _sum_of(docs).text) for xid, docs in sends.items()]
        return texts, values

    def _note(self, u: modules.Unit, traced: bool) -> str:
        """What a step's reader should know: a rule not checked symbolically, a user op, or
        a hook that changes what backward computes."""
        F = self._F
        op = F.nodes[u.output]["tensor"]._ctx.op
        if not traced:
            return (f"not checked symbolically: '{op.name}' is a user op whose rule "
                    f"computes with numpy, so its label is shown as given")
        if not _builtin(op):
            return f"'{op.name}' is a user op; its rule was traced like any other"
        if any(F.nodes[f]["tensor"]._hooks for f in u.fids):
            return ("a hook changes the gradient backward computes here; the formula is the "
                    "rules alone")
        return ""

    # ------------------------------------------------------------------ values
    def _evaluate(self, node: int) -> np.ndarray:
        E, F = self.graph, self._F
        need = nx.ancestors(E, node) | {node}
        for fid in [E.nodes[n]["fid"] for n in need if E.nodes[n]["kind"] == "sym"] + [
                id(self.loss)]:
            ctx = F.nodes[fid]["tensor"]._ctx
            if ctx is not None and getattr(ctx, "freed", False):
                raise RuntimeError(
                    "evaluate(): the graph this derivation reads was freed by a backward() "
                    "without retain_graph=True. Call minigrad.derive before backward(), or "
                    "pass retain_graph=True to backward() first."
                )
        vals: dict[int, Any] = {}
        from minigrad.ops.registry import REGISTRY

        for n in nx.topological_sort(E.subgraph(need)):
            d = E.nodes[n]
            kind = d["kind"]
            if kind == "sym":
                vals[n] = F.nodes[d["fid"]]["tensor"].data
            elif kind == "const":
                vals[n] = d["value"]
            elif kind in ("delta", "abbrev"):
                vals[n] = vals[d["args"][0]]
            elif kind == "rule":
                a = [vals[x] for x in d["args"]]
                with np.errstate(all="ignore"):
                    vals[n] = np.asarray(call_rule(REGISTRY[d["op"]], d["params"], d["argnum"],
                                                   a[0], a[-1], a[1:-1]))
            else:
                vals[n] = passes.compute(d["op"], [vals[a] for a in d["args"]], d["params"])
        return np.asarray(vals[node])

    def _expanded(self, node: int) -> Doc:
        E = self.graph
        size: dict[int, int] = {}
        for n in nx.topological_sort(E):
            size[n] = min(10**9, 1 + sum(size[a] for a in E.nodes[n]["args"]))
        if size[node] > 5000:
            raise ValueError("this formula is too long to write out in full; read it with its "
                             "definitions (.text and Derivation.definitions)")
        forced = {n: v for n, v in self._named.items() if any(
            E.nodes[u]["kind"] == "rule" and E.nodes[u]["args"][0] == n for u in E.successors(n))}
        P = Printer(E, self._names, forced, self._symbols)
        return P.doc(node, top=True)


def _builtin(op: Any) -> bool:
    from minigrad.derive.trace import builtin

    return builtin(op)


def _aligned(latex: str) -> str:
    """``a = b`` as an aligned row ``a &= b``."""
    head, sep, body = latex.partition(" = ")
    return f"{head} &= {body}" if sep else latex


def _sum_of(docs: list[Doc]) -> Doc:
    """``a + b + …``: what several paths send to one tensor."""
    acc = docs[0]
    for doc in docs[1:]:
        acc = total(acc, doc, False)
    return acc


_FORWARD_FUNCTIONS = {"sigmoid": ("σ", r"\sigma"), "tanh": ("tanh", r"\tanh"),
                      "relu": ("relu", r"\operatorname{relu}"), "exp": ("exp", r"\exp"),
                      "log": ("log", r"\log"), "softmax": ("softmax", r"\operatorname{softmax}")}


def _forward_doc(F: nx.DiGraph, names: Names, fid: int) -> Doc:
    """How a forward tensor was made, in the lecture's notation where there is one."""
    ctx = F.nodes[fid]["tensor"]._ctx
    op = ctx.op.name
    args = [Doc(names.text(id(x)), names.latex(id(x))) for x in ctx.inputs]
    write = _FORWARD_DOCS.get(op)
    if write is not None:
        return write(F, ctx, args)
    if op in _FORWARD_FUNCTIONS:
        return call(_FORWARD_FUNCTIONS[op], *args)
    escaped = op.replace("_", r"\_")
    return call((op, rf"\operatorname{{{escaped}}}"), *args)


def _layer_doc(kind: str, args: list[Doc]) -> Doc:
    """A layer's ``W h + b``, with the product of `kind` (``⋆`` for a convolution)."""
    core = product(kind, args[1], args[0])
    return total(core, args[2], False) if len(args) > 2 else core


def _mul_doc(F: nx.DiGraph, ctx: Any, args: list[Doc]) -> Doc:
    """``2 x`` for a product with a number, else ``x ⊙ y``."""
    for i in (0, 1):
        x = ctx.inputs[i]
        if _is_number(F, x):
            return scaled(scalars.number(float(x.data)), args[1 - i])
    return product("⊙", args[0], args[1])


def _cross_entropy_doc(F: nx.DiGraph, ctx: Any, args: list[Doc]) -> Doc:
    """``−log softmax(a)_ℓ``, its mean or its sum over a batch."""
    red = ctx.params.get("reduction", "mean")
    core = Doc(f"−log softmax({args[0].text})_{args[1].text}",
               rf"-\log \operatorname{{softmax}}({args[0].latex})_{{{args[1].latex}}}", ATOM)
    shape = F.nodes[id(ctx.inputs[0])]["shape"]
    if red == "mean" and np.prod(shape[:-1]) > 1:
        return call(("mean_n", r"\operatorname{mean}_n"), core)
    if red == "sum" and len(shape) > 1:
        return Doc(f"Σ_n {core.text}", rf"\sum_n {core.latex}", 20)
    return core


def _mse_doc(F: nx.DiGraph, ctx: Any, args: list[Doc]) -> Doc:
    """``(ŷ − y)²``, its mean or its sum."""
    red = ctx.params.get("reduction", "mean")
    sq = Doc(f"({args[0].text} − {args[1].text})²", f"({args[0].latex} - {args[1].latex})^2",
             90)
    if red == "none":
        return sq
    return call(("mean" if red == "mean" else "Σ", r"\operatorname{mean}" if red == "mean"
                 else r"\sum"), sq)


def _getitem_doc(F: nx.DiGraph, ctx: Any, args: list[Doc]) -> Doc:
    idx = _index_text(ctx.params.get("index"))
    return Doc(f"{args[0].text}[{idx}]", f"{args[0].latex}[{idx}]", 90)


def _attention_doc(F: nx.DiGraph, ctx: Any, args: list[Doc]) -> Doc:
    """``softmax(Q Kᵀ / √d) V``, with its mask and causality when it has them."""
    q, k, v = args[:3]
    scores = product("juxt", q, Doc(f"{k.text}ᵀ", rf"{k.latex}^\top", 90))
    t = f"softmax({scores.text} / √d{' + mask' if len(args) > 3 else ''}"
    t += f"{', causal' if ctx.params.get('is_causal') else ''}) {v.text}"
    latex = (rf"\operatorname{{softmax}}\left({scores.latex} / \sqrt{{d}}"
             rf"{' + M' if len(args) > 3 else ''}\right) {v.latex}")
    return Doc(t, latex, 30, "juxt")


# how `_forward_doc` writes each op, from the forward graph, the op's context and its
# inputs' names; any other op is a function of its inputs
_FORWARD_DOCS: dict[str, Callable[[nx.DiGraph, Any, list[Doc]], Doc]] = {
    "linear": lambda F, ctx, args: _layer_doc("juxt", args),
    "conv1d": lambda F, ctx, args: _layer_doc("⋆", args),
    "conv2d": lambda F, ctx, args: _layer_doc("⋆", args),
    "add": lambda F, ctx, args: total(args[0], args[1], False),
    "sub": lambda F, ctx, args: total(args[0], args[1], True),
    "mul": _mul_doc,
    "div": lambda F, ctx, args: product("/", args[0], args[1]),
    "neg": lambda F, ctx, args: negate(args[0]),
    "matmul": lambda F, ctx, args: product("juxt", args[0], args[1]),
    "cross_entropy": _cross_entropy_doc,
    "mse_loss": _mse_doc,
    "getitem": _getitem_doc,
    "scaled_dot_product_attention": _attention_doc,
}


def _is_number(F: nx.DiGraph, x: Tensor) -> bool:
    d = F.nodes[id(x)]
    return bool(d["is_leaf"] and not d["requires_grad"] and not d["name"] and x.data.ndim == 0
                and x.data.dtype.kind in "fiu")


def _wanted(loss: Tensor, wrt: Any, F: nx.DiGraph, order: list[int]
            ) -> tuple[list[Tensor], dict[str, Tensor], Any]:
    """The tensors to differentiate for, their dotted names, and the model if one was given."""
    model = None
    keys: dict[str, Tensor] = {}
    if wrt is None:
        index = {n: i for i, n in enumerate(order)}
        leaves = [n for n in order if F.nodes[n]["is_leaf"] and F.nodes[n]["requires_grad"]]
        # in the order the forward pass first reads them: x, W_1, b_1, W_2, …
        leaves.sort(key=lambda n: min((index[s] for s in F.successors(n)), default=0))
        ts = [F.nodes[n]["tensor"] for n in leaves]
    elif isinstance(wrt, Tensor):
        ts = [wrt]
    elif hasattr(wrt, "named_parameters"):
        model = wrt
        ts = []
        for name, p in wrt.named_parameters():
            keys.setdefault(name, p)
            if id(p) in F and all(p is not q for q in ts):
                ts.append(p)
        if not ts:
            raise ValueError(f"derive: none of the parameters of the {type(wrt).__name__} is "
                             f"in the graph of the loss; was the loss computed with this model?")
    elif isinstance(wrt, (list, tuple)):
        ts = list(wrt)
        for i, t in enumerate(ts):
            if not isinstance(t, Tensor):
                raise TypeError(f"derive: wrt[{i}] is a {type(t).__name__}; pass Tensors, a "
                                f"list of them, or a model (nn.Module)")
    else:
        raise TypeError(f"derive: wrt must be a Tensor, a list of Tensors or a model "
                        f"(nn.Module), got {type(wrt).__name__}")
    for i, t in enumerate(ts):
        what = f"{t.name!r} " if t.name else ""
        if id(t) not in F:
            raise ValueError(
                f"derive: the tensor {what}of shape {t.shape} (wrt[{i}]) is not in the graph "
                f"of the loss: the loss was not computed from it"
                + ("" if t.requires_grad else " (or not while it required grad: ops record "
                   "their inputs only when one of them has requires_grad=True)"))
        if t.data.dtype.kind != "f":
            raise TypeError(f"derive: the tensor {what}of shape {t.shape} is {t.dtype}; only "
                            f"floating point tensors have gradients")
    uniq: list[Tensor] = []
    for t in ts:
        if all(t is not u for u in uniq):
            uniq.append(t)
    return uniq, keys, model


def derive(loss: Tensor, wrt: Tensor | Sequence[Tensor] | Any = None,
           level: str = "module") -> Derivation:
    r"""The gradients of a scalar `loss`, derived as formulas in the lecture's notation.

    The formulas are the engine's own rules (the registry's VJPs, traced on stand-ins for δ
    and the forward tensors), simplified the way a person writes them and named as the lecture
    names things: for a stack of layers, ``δ_k = (W_{k+1}ᵀ δ_{k+1}) ⊙ g′(a_k)``,
    ``∇W_k L = δ_k · h_{k−1}ᵀ`` and ``∇b_k L = δ_k`` (``Σ_n`` over a batch).
    ``d[W].evaluate()`` computes a formula on the graph's values, which gives autograd's
    gradient. Neither this nor evaluating changes any ``.grad``.

    Args:
        loss: a scalar Tensor with a recorded history.
        wrt: a Tensor, a list of Tensors, or a model (``nn.Module``: every parameter, indexable
            by dotted name); None: every leaf of the history that requires grad.
        level: ``"module"`` (a step per layer with a formula in the book, names only where the
            lecture has them) or ``"op"`` (a step per op, every δ named).

    Returns:
        a `Derivation`.

    Raises:
        TypeError: `loss` is not a Tensor, or a wanted tensor is not floating point.
        ValueError: `loss` is not a scalar, a wanted tensor is not in its graph, or `level` is
            unknown.
        RuntimeError: `loss` has no history, or an op has no symbolic form (a user op whose
            rule computes with numpy, without a formula label).
    """
    if not isinstance(loss, Tensor):
        raise TypeError(f"derive: the loss must be a minigrad Tensor, got {type(loss).__name__}")
    if loss.data.size != 1:
        raise ValueError(f"derive: the loss must be a scalar, but it has shape {loss.shape}; "
                         f"reduce it first (e.g. loss.sum() or loss.mean())")
    if level not in LEVELS:
        raise ValueError(f"derive: level must be one of {LEVELS}, got {level!r}")
    if not loss.requires_grad:
        raise RuntimeError("derive: the loss has no recorded history (no input of the ops that "
                           "made it requires grad, or it was computed under no_grad())")
    F = graph(loss)
    order = topological_order(F)
    wanted, keys, model = _wanted(loss, wrt, F, order)
    params: dict[int, str] = {}
    if model is not None:
        for name, p in model.named_parameters():
            params.setdefault(id(p), name)
    names = Names(F, order, loss, params)
    symbols = Symbols()
    E = trace(loss, wanted, F, order, names, symbols)
    hooked = [names.text(f) for f in order if f in E.graph["relevant"]
              and F.nodes[f]["tensor"]._hooks]
    if hooked:
        warnings.warn(
            f"derive: hooks on {', '.join(hooked)} change the gradients backward computes; "
            f"the formulas are the rules alone, so evaluate() differs from autograd there",
            stacklevel=2)
    E.graph["activations"] = {}
    for v in E.graph["visits"]:
        ctx = F.nodes[v.fid]["tensor"]._ctx
        if ctx.op.name in passes.DERIVATIVES:
            x = ctx.inputs[0]
            E.graph["activations"][v.fid] = (ctx.op.name, id(x), x.data)
    E = passes.run(E)
    return Derivation(loss, F, names, E, level, wanted, keys, symbols, model)
