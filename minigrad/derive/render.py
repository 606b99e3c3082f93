r"""Printing an expression graph in the lecture's notation, in Unicode and in LaTeX.

Each node prints as a `Doc` (its text, its LaTeX and how tightly it binds); an operand that
binds more loosely than its place allows is put in parentheses. Products of different kinds
never mix without them: ``(W_3ᵀ δ_3) ⊙ σ′(a_2)``.

Rows are examples. minigrad's layers take a batch of rows (``A = H Wᵀ + b``) where the lecture
writes one column vector (``a = W h + b``); a matrix product is printed the lecture's way by
knowing which tensors hold one vector per row (`minigrad.derive.names.Names.vectors`):

- ``δ @ W`` (rows times a matrix) is ``Wᵀ δ`` per row, and ``h @ Wᵀ`` is ``W h``;
- ``Δᵀ H`` (rows against rows) is ``Σ_n δ · hᵀ``, one outer product per example, summed
  (without the ``Σ_n`` for one example);
- a sum over the rows that undoes broadcasting is ``Σ_n δ``;
- reshapes that only add unit axes or merge the rows of a batch print as nothing.

Which nodes get a name of their own (`plan`): a δ used by more than one rule (a layer's δ is
read by the rules for W, b and h: the lecture's ``δ_k``), every pre-activation's δ, any
other value used twice (``u_j``), and, at level="op", the δ of every op. Everything else is
written out where it is used, so the text grows with the graph, never faster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np

from minigrad.derive import scalars
from minigrad.derive.names import Names, latex_name

__all__ = ["Doc", "Printer", "plan"]

ATOM, POST, NEG, PROD, SIGMA, SUM = 100, 90, 35, 30, 20, 10
DEPTH_LIMIT = 24  # deeper single-use chains get names (short lines, no deep recursion)

_TRANSPARENT = frozenset({"reshape", "squeeze", "unsqueeze", "broadcast_to", "astype"})
_ELEMENTWISE = frozenset({
    "add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs", "clip", "maximum",
    "minimum", "where", "astype", "relu", "leaky_relu", "sigmoid", "tanh", "softplus", "gelu",
    "softmax", "log_softmax", "masked_fill", "dropout",
})
# the functions printed otherwise than by their op's name, ``op`` and ``\operatorname{op}``
# (`Printer._op`'s default for every other op)
_FUNCTIONS = {
    "exp": ("exp", r"\exp"), "log": ("log", r"\log"), "tanh": ("tanh", r"\tanh"),
    "sigmoid": ("σ", r"\sigma"), "log_softmax": ("log softmax", r"\log\operatorname{softmax}"),
    "max": ("max", r"\max"), "min": ("min", r"\min"), "maximum": ("max", r"\max"),
    "minimum": ("min", r"\min"),
    "scatter_add": ("scatter", r"\operatorname{scatter}"),
    "flat_scatter_add": ("scatter", r"\operatorname{scatter}"),
    "flat_gather": ("gather", r"\operatorname{gather}"),
    "concatenate": ("cat", r"\operatorname{cat}"),
}
_SUPERSCRIPT = str.maketrans("0123456789-.", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻·")


@dataclass(frozen=True)
class Doc:
    """A printed expression: Unicode `text`, `latex`, its binding strength `prec` (``ATOM``
    binds tightest, ``SUM`` loosest) and, for products, their `kind` (``⊙``, ``juxt``…)."""

    text: str
    latex: str
    prec: int = ATOM
    kind: str = ""


def _paren(d: Doc) -> Doc:
    return Doc(f"({d.text})", f"({d.latex})", ATOM)


def _operand(d: Doc, kind: str, right: bool = False) -> Doc:
    """`d` as an operand of a product of `kind`."""
    if d.prec > PROD and not (right and d.kind == "neg"):
        return d
    if d.prec == PROD and d.kind == kind and kind in ("⊙", "juxt") and not right:
        return d
    if d.prec == PROD and d.kind == kind == "juxt":
        return d  # a product of matrices associates
    return _paren(d)


def _join(a: Doc, b: Doc) -> tuple[str, str]:
    """Juxtaposition: a space, none before an opening parenthesis, and a dot beside a
    gradient written ``∇z L`` (which has a space of its own)."""
    if a.kind == "grad" or b.kind == "grad":
        return f"{a.text} · {b.text}", rf"{a.latex} \cdot {b.latex}"
    t = f"{a.text}{b.text}" if b.text.startswith("(") else f"{a.text} {b.text}"
    return t, f"{a.latex} {b.latex}"


def product(kind: str, a: Doc, b: Doc) -> Doc:
    a, b = _operand(a, kind), _operand(b, kind, right=True)
    if kind == "⊙":
        return Doc(f"{a.text} ⊙ {b.text}", rf"{a.latex} \odot {b.latex}", PROD, kind)
    if kind == "juxt":
        t, latex = _join(a, b)
        return Doc(t, latex, PROD, kind)
    if kind == "/":
        if b.prec <= PROD:
            b = _paren(b)
        return Doc(f"{a.text} / {b.text}", rf"{a.latex} / {b.latex}", PROD, kind)
    op = {"⋆": r"\star", "∗": r"\ast", "·": r"\cdot"}.get(kind, kind)
    return Doc(f"{a.text} {kind} {b.text}", f"{a.latex} {op} {b.latex}", PROD, kind)


def transpose(d: Doc) -> Doc:
    if d.prec < POST:
        d = _paren(d)
    return Doc(f"{d.text}ᵀ", rf"{d.latex}^\top", POST)


def outer(a: Doc, b: Doc, batch: bool) -> Doc:
    """``a · bᵀ``, and ``Σ_n a · bᵀ`` over a batch."""
    a = a if a.prec >= POST else _paren(a)
    bt = transpose(b)
    d = Doc(f"{a.text} · {bt.text}", rf"{a.latex} \, {bt.latex}", PROD, "outer")
    return sigma("n", d) if batch else d


def sigma(sub: str | None, d: Doc) -> Doc:
    if d.prec < PROD or d.prec == PROD and d.kind not in ("outer", "juxt", "scaled"):
        d = _paren(d)
    if sub is None:
        return Doc(f"Σ {d.text}", rf"\sum {d.latex}", SIGMA, "sigma")
    t = sub if len(sub) == 1 else "{" + sub + "}"
    return Doc(f"Σ_{t} {d.text}", rf"\sum_{{{sub}}} {d.latex}", SIGMA, "sigma")


def total(a: Doc, b: Doc, minus: bool) -> Doc:
    if b.prec <= SUM and minus or b.kind == "neg" and not minus:
        if b.kind == "neg" and not minus:
            inner = Doc(b.text[1:], b.latex[1:], NEG)
            return Doc(f"{a.text} − {inner.text}", f"{a.latex} - {inner.latex}", SUM, "sum")
        b = _paren(b)
    sign, lsign = ("−", "-") if minus else ("+", "+")
    return Doc(f"{a.text} {sign} {b.text}", f"{a.latex} {lsign} {b.latex}", SUM, "sum")


def negate(d: Doc) -> Doc:
    if d.prec < PROD or d.kind == "neg":
        d = _paren(d)
    return Doc(f"−{d.text}", f"-{d.latex}", NEG, "neg")


def call(name: tuple[str, str], *args: Doc) -> Doc:
    return Doc(f"{name[0]}({', '.join(a.text for a in args)})",
               f"{name[1]}({', '.join(a.latex for a in args)})", ATOM)


def scaled(c: Any, x: Doc) -> Doc:
    """A scalar coefficient and what it multiplies: ``2 (ŷ − y) / n``, ``(ŷ − e(ℓ)) / N``."""
    num, den = scalars.split(c)
    if x.prec < PROD or x.prec == PROD and (num != 1 or x.kind in ("scaled", "/", "label")):
        x = _paren(x)
    t, latex = x.text, x.latex
    if num == -1:
        t, latex = f"−{t}", f"-{latex}"
    elif num != 1:
        nt = scalars.text(num)
        t = f"{nt} {t}" if not t.startswith("(") else f"{nt} {t}"
    if den != 1:
        dt = scalars.text(den)
        simple = dt.lstrip("√").replace("_", "").isalnum()
        t = f"{t} / {dt}" if simple else f"{t} / ({dt})"
    if num != 1 or den != 1:
        latex = (rf"\frac{{{scalars.latex(num)}}}{{{scalars.latex(den)}}} {x.latex}"
                 if den != 1 else f"{scalars.latex(num)} {x.latex}")
    return Doc(t, latex, PROD, "scaled")


def _number(c: Any) -> Doc:
    t = scalars.text(c)
    latex = scalars.latex(c)
    if t.startswith("−"):
        return Doc(t, latex, NEG, "neg")
    if "/" in t or " " in t:
        return Doc(t, latex, PROD, "scaled")
    return Doc(t, latex, ATOM)


def _superscript(p: Any) -> str | None:
    s = scalars.text(p)
    if all(ch in "0123456789−" for ch in s):
        return s.replace("−", "-").translate(_SUPERSCRIPT)
    return None


def unit_reshape(E: nx.DiGraph, n: int) -> bool:
    """An op that only casts, broadcasts, or adds and removes axes of size 1 (``x[..., None]``,
    ``x.reshape(1, n)``): it changes nothing a reader sees."""
    d = E.nodes[n]
    if d["kind"] != "op":
        return False
    op = d["op"]
    if op in ("astype", "broadcast_to"):
        return True
    if op == "getitem":
        index = d["params"].get("index")
        parts = index if isinstance(index, tuple) else (index,)
        if not all(p is Ellipsis or p is None or isinstance(p, slice) and p == slice(None) or (
                isinstance(p, (int, np.integer)) and not isinstance(p, bool) and p == 0)
                for p in parts):
            return False
    elif op not in ("reshape", "squeeze", "unsqueeze"):
        return False
    shape = tuple(d["shape"])
    ashape = tuple(E.nodes[d["args"][0]]["shape"])
    return tuple(x for x in shape if x != 1) == tuple(x for x in ashape if x != 1)


def through(E: nx.DiGraph, n: int) -> int:
    """The node `n` shows: itself, or what its unit reshapes reshape."""
    while unit_reshape(E, n):
        n = E.nodes[n]["args"][0]
    return n


# --------------------------------------------------------------------------- layout
@dataclass(frozen=True)
class Layout:
    """``vec``: one lecture vector per row (``rows`` of them); ``vecT``: its transpose;
    ``mat``: a matrix (a weight); ``other``."""

    kind: str
    rows: int = 1


class Printer:
    """Prints the nodes of an expression graph with the names of a `Names`.

    Attributes:
        named: ``{node: (text, latex)}`` of the nodes written by name (see `plan`).
    """

    def __init__(self, E: nx.DiGraph, names: Names, named: dict[int, tuple[str, str]],
                 symbols: scalars.Symbols) -> None:
        self.E = E
        self.names = names
        self.named = named
        self.symbols = symbols
        self.memo: dict[int, Doc] = {}
        self.layouts: dict[int, Layout] = {}
        self.constants: dict[int, str] = {}
        self.visible = visible(E)
        for n in nx.topological_sort(E):
            self.layouts[n] = self._layout(n)
        self.suffix = self._suffixes()

    def _suffixes(self) -> dict[int, int]:
        """A number for each named quantity whose name several ops' rules use (three layer
        norms have three x̂): x̂_1, x̂_2, x̂_3 in forward order of their ops."""
        owners: dict[str, set[int]] = {}
        for n in self.visible:
            label = self.E.nodes[n].get("label")
            if label is not None and len(label) > 3 and label[3] is not None:
                text = label[0].format(*[self.names.text(f) for f in label[2]])
                owners.setdefault(text, set()).add(label[3])
        out: dict[int, int] = {}
        for n in self.visible:
            label = self.E.nodes[n].get("label")
            if label is None or len(label) <= 3 or label[3] is None:
                continue
            text = label[0].format(*[self.names.text(f) for f in label[2]])
            if len(owners[text]) > 1:
                order = sorted(owners[text], key=lambda f: self.names.index.get(f, -1))
                out[n] = order.index(label[3]) + 1
        return out

    # ------------------------------------------------------------------ layout
    def _layout(self, n: int) -> Layout:
        """How `n` is laid out: a tensor by `Names.vectors`, an op by its entry in `_OP_LAYOUTS`."""
        d = self.E.nodes[n]
        kind = d["kind"]
        if kind in ("sym", "delta"):
            shape = tuple(d["shape"])
            if d["fid"] in self.names.vectors:
                return Layout("vec", _rows(shape))
            return Layout("mat") if len(shape) == 2 else Layout("other")
        if kind == "abbrev":
            return self.layouts.get(d["of"], Layout("other"))
        if kind == "const":
            return Layout("vec") if len(d["shape"]) == 1 else Layout("other")
        rule = _OP_LAYOUTS.get(d["op"]) if kind == "op" else None
        return Layout("other") if rule is None else rule(self, n)

    def _elementwise_layout(self, n: int) -> Layout:
        """An elementwise op is laid out as an argument of its own shape that is a vector."""
        d = self.E.nodes[n]
        shape = tuple(d["shape"])
        for a in d["args"]:
            la = self.layouts[a]
            if tuple(self.E.nodes[a]["shape"]) == shape and la.kind in ("vec", "vecT"):
                return Layout(la.kind, la.rows if la.kind == "vecT" else _rows(shape))
        return Layout("other")

    def _reshape_layout(self, n: int) -> Layout:
        """A reshape keeps a vector when it keeps its last axis (or makes it a column)."""
        d = self.E.nodes[n]
        shape = tuple(d["shape"])
        a = d["args"][0]
        la, ashape = self.layouts[a], tuple(self.E.nodes[a]["shape"])
        if la.kind == "vec" and shape and ashape and shape[-1] == ashape[-1]:
            return Layout("vec", _rows(shape))
        if la.kind == "vec" and len(ashape) == 1 and shape == (ashape[0], 1):
            return Layout("vecT", 1)
        if la.kind == "vecT" and shape == ashape:
            return la
        return Layout("other")

    def _getitem_layout(self, n: int) -> Layout:
        return self._reshape_layout(n) if unit_reshape(self.E, n) else Layout("other")

    def _transpose_layout(self, n: int) -> Layout:
        """Swapping the last two axes turns a vector into its transpose and back."""
        d = self.E.nodes[n]
        p = self._perm(d)
        if len(p) >= 2 and p[-2:] == (len(p) - 1, len(p) - 2):
            la = self.layouts[d["args"][0]]
            swapped = {"vec": "vecT", "vecT": "vec", "mat": "mat"}.get(la.kind)
            if swapped is not None:
                return Layout(swapped, la.rows)
        return Layout("other")

    def _matmul_layout(self, n: int) -> Layout:
        d = self.E.nodes[n]
        shape = tuple(d["shape"])
        A, B = d["args"]
        la, lb = self.layouts[A], self.layouts[B]
        if la.kind == "vec" and lb.kind == "mat":
            return Layout("vec", _rows(shape))
        if la.kind == "mat" and lb.kind == "vec" and len(self.E.nodes[B]["shape"]) == 1:
            return Layout("vec", 1)
        if la.kind == "mat" and lb.kind == "vecT" and len(shape) == 2 and shape[1] == 1:
            return Layout("vecT", 1)
        return Layout("mat") if len(shape) == 2 else Layout("other")

    def _sum_layout(self, n: int) -> Layout:
        """A sum over the rows of a batch of vectors is one vector."""
        d = self.E.nodes[n]
        la = self.layouts[d["args"][0]]
        if la.kind == "vec" and not d["params"].get("keepdims") and self._over_rows(d):
            return Layout("vec", 1)
        return Layout("other")

    def _perm(self, d: dict[str, Any]) -> tuple[int, ...]:
        axes = d["params"].get("axes")
        nd = len(d["shape"])
        return tuple(reversed(range(nd))) if axes is None else tuple(
            int(a) % max(nd, 1) for a in axes)

    def _over_rows(self, d: dict[str, Any]) -> bool:
        """A sum over exactly the leading (example) axes of its argument."""
        a = self.E.nodes[d["args"][0]]
        nd = len(a["shape"])
        axis = d["params"].get("axis")
        if axis is None:
            return False
        axes = tuple(sorted(int(x) % max(nd, 1) for x in (axis if isinstance(
            axis, (tuple, list)) else (axis,))))
        return nd >= 2 and axes == tuple(range(nd - 1))

    # ------------------------------------------------------------------ docs
    def doc(self, n: int, top: bool = False) -> Doc:
        """`n` printed: its name when it has one (unless `top`), else written out."""
        if not top and n in self.named:
            t, latex = self.named[n]
            return Doc(t, latex, ATOM, "grad" if " " in t else "")
        if not top and n in self.memo:
            return self.memo[n]
        d = self.E.nodes[n]
        kind = d["kind"]
        if kind == "sym":
            out = Doc(self.names.text(d["fid"]), self.names.latex(d["fid"]))
        elif kind == "delta":
            out = self.doc(d["args"][0])
        elif kind == "const":
            out = self._const(n)
        elif kind == "abbrev":
            t, latex = d["name"]
            of = self.doc(d["of"])
            out = Doc(f"{t}({of.text})", f"{latex}({of.latex})")
        elif kind == "rule":
            out = self._rule(n)
        elif d.get("label") is not None and not top:
            out = self._label(d["label"], self.suffix.get(n))
        else:
            out = self._op(n)
        if not top:
            self.memo[n] = out
        return out

    def _label(self, label: tuple[Any, ...], suffix: int | None = None) -> Doc:
        t, latex, fids = label[:3]
        names = [self.names.text(f) for f in fids]
        lnames = [self.names.latex(f) for f in fids]
        text = t.format(*names)
        if suffix is not None:
            text = f"{text}_{suffix}"
            latex = f"{latex}_{{{{{suffix}}}}}"
        if text.startswith("−"):
            return Doc(text, latex.format(*lnames), NEG, "neg")
        if " " in text.replace(" ≤ ", "").replace(" = ", "").replace(" > ", "").replace(
                " < ", "") or "/" in text.replace("1/", "", 1)[:1] + text[1:]:
            return Doc(text, latex.format(*lnames), PROD, "label")
        return Doc(text, latex.format(*lnames), ATOM)

    def _const(self, n: int) -> Doc:
        d = self.E.nodes[n]
        if d.get("label") is not None:
            return self._label(d["label"], self.suffix.get(n))
        from minigrad.derive.passes import _scalar_of

        c = _scalar_of(self.E, n)
        if c is not None:
            return _number(c)
        name = self.constants.get(n)
        if name is None:
            name = self.constants[n] = f"C_{len(self.constants) + 1}"
        return Doc(name, latex_name(name))

    def _rule(self, n: int) -> Doc:
        d = self.E.nodes[n]
        delta = self.doc(d["args"][0])
        t = d["label_text"].replace("δ", delta.text)
        return Doc(f"⟨{t}⟩", rf"\langle \text{{{_tex_text(t)}}} \rangle")

    def _transparent(self, n: int) -> bool:
        """A reshape that changes nothing a reader sees: a cast, a broadcast, unit axes added
        or removed, or the rows of a batch merged."""
        if unit_reshape(self.E, n):
            return True
        d = self.E.nodes[n]
        if d["op"] not in _TRANSPARENT:
            return False
        a = d["args"][0]
        shape, ashape = tuple(d["shape"]), tuple(self.E.nodes[a]["shape"])
        return self.layouts[a].kind == "vec" and bool(shape) and bool(ashape) and \
            shape[-1] == ashape[-1]

    def _vector(self, n: int) -> Doc:
        """`n` as the vector it holds: through transposes and reshapes of its rows."""
        d = self.E.nodes[n]
        while d["kind"] == "op" and n not in self.named and (
                d["op"] in _TRANSPARENT or d["op"] == "transpose" or unit_reshape(self.E, n)):
            n = d["args"][0]
            d = self.E.nodes[n]
        return self.doc(n)

    def _matmul(self, n: int) -> Doc:
        d = self.E.nodes[n]
        A, B = d["args"]
        la, lb = self.layouts[A], self.layouts[B]
        if la.kind == "vecT" and lb.kind == "vec":
            return outer(self._vector(A), self._vector(B), batch=la.rows > 1)
        if la.kind == "vec" and lb.kind == "mat":
            bd = self.E.nodes[B]
            if bd["kind"] == "op" and bd["op"] == "transpose" and B not in self.named:
                return product("juxt", self.doc(bd["args"][0]), self._vector(A))
            return product("juxt", transpose(self.doc(B)), self._vector(A))
        if la.kind == "mat" and lb.kind in ("vec", "vecT") and len(self.E.nodes[n]["shape"]) <= 2:
            return product("juxt", self._matrix(A), self._vector(B))
        return product("juxt", self._matrix(A), self._matrix(B))

    def _matrix(self, n: int) -> Doc:
        d = self.E.nodes[n]
        if d["kind"] == "op" and d["op"] == "transpose" and n not in self.named:
            p = self._perm(d)
            if len(p) >= 2 and p[-2:] == (len(p) - 1, len(p) - 2) and \
                    p[:-2] == tuple(range(len(p) - 2)):
                return transpose(self.doc(d["args"][0]))
        return self.doc(n)

    def _op(self, n: int) -> Doc:
        """An op written out: by its entry in `_OP_DOCS`, else as a function of its args."""
        d = self.E.nodes[n]
        op = d["op"]
        write = _OP_DOCS.get(op)
        if write is not None:
            return write(self, n)
        name = _FUNCTIONS.get(op, (op, rf"\operatorname{{{_tex_text(op)}}}"))
        return call(name, *[self.doc(a) for a in d["args"]])

    def _add_sub(self, n: int) -> Doc:
        d = self.E.nodes[n]
        return total(self.doc(d["args"][0]), self.doc(d["args"][1]), minus=d["op"] == "sub")

    def _div(self, n: int) -> Doc:
        """``x / c`` as ``(1/c) x`` for a number c; else a quotient."""
        from minigrad.derive.passes import _scalar_of

        E = self.E
        d = E.nodes[n]
        a, b = d["args"][:2]
        c = _scalar_of(E, b)
        if c is not None and tuple(E.nodes[a]["shape"]) == tuple(d["shape"]):
            return scaled(1 / c, self.doc(a))
        return product("/", self.doc(a), self.doc(b))

    def _neg(self, n: int) -> Doc:
        return negate(self.doc(self.E.nodes[n]["args"][0]))

    def _reshape(self, n: int) -> Doc:
        a = self.E.nodes[n]["args"][0]
        if self._transparent(n):
            return self.doc(a)
        return call(("reshape", r"\operatorname{reshape}"), self.doc(a))

    def _transpose(self, n: int) -> Doc:
        """``xᵀ`` when the last two axes swap, else the permutation: ``perm_021(x)``."""
        d = self.E.nodes[n]
        p = self._perm(d)
        if len(p) >= 2 and p[:-2] == tuple(range(len(p) - 2)) and \
                p[-2:] == (len(p) - 1, len(p) - 2):
            return transpose(self.doc(d["args"][0]))
        a = self.doc(d["args"][0])
        tag = "".join(str(i) for i in p)
        return Doc(f"perm_{tag}({a.text})", rf"\operatorname{{perm}}_{{{tag}}}({a.latex})")

    def _sqrt(self, n: int) -> Doc:
        a = self.doc(self.E.nodes[n]["args"][0])
        t = f"√{a.text}" if a.prec == ATOM and not a.text.startswith("(") and \
            " " not in a.text else f"√({a.text})"
        return Doc(t, rf"\sqrt{{{a.latex}}}")

    def _abs(self, n: int) -> Doc:
        a = self.doc(self.E.nodes[n]["args"][0])
        return Doc(f"|{a.text}|", rf"\lvert {a.latex} \rvert")

    def _conv_input_grad(self, n: int) -> Doc:
        """A convolution's rule for its input: ``δ ∗ flip(W)``."""
        g, W = (self.doc(a) for a in self.E.nodes[n]["args"])
        return product("∗", g, Doc(f"flip({W.text})", rf"\operatorname{{flip}}({W.latex})"))

    def _conv_weight_grad(self, n: int) -> Doc:
        """A convolution's rule for its weight: ``δ ⋆ x``."""
        x, g = (self.doc(a) for a in self.E.nodes[n]["args"])
        return product("⋆", g, x)

    def _conv(self, n: int) -> Doc:
        return self._layer("⋆", n)

    def _linear(self, n: int) -> Doc:
        return self._layer("juxt", n)

    def _layer(self, kind: str, n: int) -> Doc:
        """A layer's ``W h + b``, with the product of `kind` (``⋆`` for a convolution)."""
        parts = [self.doc(a) for a in self.E.nodes[n]["args"]]
        core = product(kind, parts[1], parts[0])
        return total(core, parts[2], False) if len(parts) > 2 else core

    def _getitem(self, n: int) -> Doc:
        d = self.E.nodes[n]
        if unit_reshape(self.E, n):
            return self.doc(d["args"][0])
        a = self.doc(d["args"][0])
        a = a if a.prec >= POST else _paren(a)
        idx = _index_text(d["params"].get("index"))
        return Doc(f"{a.text}[{idx}]", f"{a.latex}[{_tex_text(idx)}]", POST)

    def _scatter_add(self, n: int) -> Doc:
        """``scatter(g, i)`` with the index tensor's name, else ``scatter[index](g)``."""
        d = self.E.nodes[n]
        g = self.doc(d["args"][0])
        index = d["params"].get("index")
        fid = self.names.arrays.get(id(index)) if isinstance(index, np.ndarray) else None
        if fid is not None:
            i = Doc(self.names.text(fid), self.names.latex(fid))
            return call(("scatter", r"\operatorname{scatter}"), g, i)
        idx = _index_text(index)
        return Doc(f"scatter[{idx}]({g.text})",
                   rf"\operatorname{{scatter}}_{{[{_tex_text(idx)}]}}({g.latex})")

    def _flat_scatter_add(self, n: int) -> Doc:
        return call(("to_argmax", r"\operatorname{to\_argmax}"),
                    self.doc(self.E.nodes[n]["args"][0]))

    def _mul(self, n: int) -> Doc:
        from minigrad.derive.passes import _scalar_of

        E = self.E
        d = E.nodes[n]
        a, b = d["args"]
        shape = tuple(d["shape"])
        if len(shape) == 2:  # g[:, None] * h: the outer product of two vectors
            for c, r in ((a, b), (b, a)):
                if self.layouts[c].kind == "vecT" and tuple(E.nodes[c]["shape"]) == (
                        shape[0], 1) and len(E.nodes[r]["shape"]) == 1 and \
                        self.layouts[r].kind == "vec" and (c, r) == (a, b):
                    return outer(self._vector(c), self.doc(r), batch=False)
        for c, x in ((a, b), (b, a)):
            s = _scalar_of(E, c)
            if s is not None and tuple(E.nodes[x]["shape"]) == shape and c not in self.named:
                return scaled(s, self.doc(x))
        for c, x in ((a, b), (b, a)):
            if not E.nodes[c]["shape"] and E.nodes[x]["shape"]:
                return product("juxt", self.doc(c), self.doc(x))
        return product("⊙", self.doc(a), self.doc(b))

    def _pow(self, n: int) -> Doc:
        from minigrad.derive.passes import _scalar_of

        d = self.E.nodes[n]
        x, p = d["args"]
        base = self.doc(x)
        if base.prec < POST:
            base = _paren(base)
        c = _scalar_of(self.E, p)
        if c is not None:
            if c == scalars.number(0.5):
                return Doc(f"√{base.text}", rf"\sqrt{{{base.latex}}}")
            sup = _superscript(c)
            if sup is not None:
                return Doc(f"{base.text}{sup}", f"{base.latex}^{{{scalars.latex(c)}}}", POST)
            return Doc(f"{base.text}^({scalars.text(c)})", f"{base.latex}^{{{scalars.latex(c)}}}",
                       POST)
        e = self.doc(p)
        return Doc(f"{base.text}^({e.text})", f"{base.latex}^{{{e.latex}}}", POST)

    def _sum(self, n: int) -> Doc:
        d = self.E.nodes[n]
        a = d["args"][0]
        axis = d["params"].get("axis")
        inner = self.doc(a)
        nd = len(self.E.nodes[a]["shape"])
        if axis is None:
            return sigma(None, inner)
        axes = tuple(sorted(int(x) % max(nd, 1) for x in (
            axis if isinstance(axis, (tuple, list)) else (axis,))))
        ashape = self.E.nodes[a]["shape"]
        if int(np.prod([ashape[x] for x in axes])) == 1 and \
                int(np.prod(ashape)) == int(np.prod(d["shape"])):
            return inner  # a sum of one term (a batch of one example)
        if axes == tuple(range(nd)):
            return sigma(None, inner)
        if self.layouts[a].kind == "vec" and self._over_rows(d):
            return sigma("n", inner)
        if axes == (nd - 1,) and nd >= 2:
            return call(("rowsum", r"\operatorname{rowsum}"), inner)
        return sigma(",".join(str(x) for x in axes), inner)

    def _where(self, n: int) -> Doc:
        E = self.E
        c, a, b = E.nodes[n]["args"]
        cond = self.doc(c)
        if _zero(E, b):
            return product("⊙", self.doc(a), Doc(f"1[{cond.text}]", rf"\mathbb{{1}}[{cond.latex}]"))
        if _zero(E, a):
            return product("⊙", self.doc(b),
                           Doc(f"1[¬{cond.text}]", rf"\mathbb{{1}}[\neg {cond.latex}]"))
        return call(("where", r"\operatorname{where}"), cond, self.doc(a), self.doc(b))



def _rows(shape: tuple[int, ...]) -> int:
    """The examples in a batch of vectors of `shape`: all its axes but the last."""
    return int(np.prod(shape[:-1])) if len(shape) >= 1 else 1


# how each op is laid out (`Printer._layout`); astype is elementwise and a reshape at once,
# and laid out as elementwise
_OP_LAYOUTS: dict[str, Callable[[Printer, int], Layout]] = {
    **dict.fromkeys(_TRANSPARENT - _ELEMENTWISE, Printer._reshape_layout),
    **dict.fromkeys(_ELEMENTWISE, Printer._elementwise_layout),
    "getitem": Printer._getitem_layout,
    "transpose": Printer._transpose_layout,
    "matmul": Printer._matmul_layout,
    "sum": Printer._sum_layout,
}

# how each op is written (`Printer._op`); any other op is a function of its arguments,
# named by `_FUNCTIONS`
_OP_DOCS: dict[str, Callable[[Printer, int], Doc]] = {
    "matmul": Printer._matmul,
    "add": Printer._add_sub,
    "sub": Printer._add_sub,
    "mul": Printer._mul,
    "div": Printer._div,
    "neg": Printer._neg,
    **dict.fromkeys(_TRANSPARENT, Printer._reshape),
    "transpose": Printer._transpose,
    "pow": Printer._pow,
    "sqrt": Printer._sqrt,
    "abs": Printer._abs,
    "sum": Printer._sum,
    "where": Printer._where,
    "conv_input_grad": Printer._conv_input_grad,
    "conv_weight_grad": Printer._conv_weight_grad,
    "conv1d": Printer._conv,
    "conv2d": Printer._conv,
    "linear": Printer._linear,
    "getitem": Printer._getitem,
    "scatter_add": Printer._scatter_add,
    "flat_scatter_add": Printer._flat_scatter_add,
}


def _zero(E: nx.DiGraph, n: int) -> bool:
    d = E.nodes[n]
    return d["kind"] == "const" and d["dtype"].kind in "fiub" and bool(
        np.all(np.asarray(d["value"]) == 0))


def _tex_text(s: str) -> str:
    for a, b in (("\\", r"\backslash "), ("_", r"\_"), ("#", r"\#"), ("%", r"\%"),
                 ("&", r"\&"), ("{", r"\{"), ("}", r"\}"), ("$", r"\$")):
        s = s.replace(a, b)
    return s


def _index_text(index: Any) -> str:
    parts = index if isinstance(index, tuple) else (index,)
    out = []
    for p in parts:
        if isinstance(p, slice):
            out.append(":" if p == slice(None) else
                       f"{'' if p.start is None else p.start}:{'' if p.stop is None else p.stop}"
                       + ("" if p.step is None else f":{p.step}"))
        elif p is Ellipsis:
            out.append("…")
        elif p is None:
            out.append("None")
        elif isinstance(p, (int, np.integer)):
            out.append(str(int(p)))
        else:
            out.append("i")
    return ", ".join(out)


# --------------------------------------------------------------------------- naming
def visible(E: nx.DiGraph) -> set[int]:
    """The nodes a derivation prints: everything the roots reach, except what lies behind an
    abbreviation (the factors of ``σ′(a)``)."""
    seen: set[int] = set()
    stack = [n for group in E.graph["roots"].values() for n in group.values() if n in E]
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        d = E.nodes[n]
        if d["kind"] == "abbrev":
            stack.append(d["of"])
            continue
        stack.extend(d["args"])
    return seen


def _uses(E: nx.DiGraph, shown: set[int]) -> dict[int, int]:
    """How often each node is read where it shows; a unit reshape shows as what it
    reshapes, so its readers count for that."""
    uses = {n: 0 for n in E.nodes}
    for n in shown:
        d = E.nodes[n]
        if d["kind"] == "abbrev" or unit_reshape(E, n):
            continue
        for a in d["args"]:
            uses[through(E, a)] += 1
    return uses


def _trivial(E: nx.DiGraph, n: int) -> bool:
    """Cheap enough to write twice: a transpose, reshape or negation of a tensor or number."""
    d = E.nodes[n]
    if d["kind"] != "op":
        return d["kind"] in ("sym", "const")
    if d["op"] in _TRANSPARENT or d["op"] in ("transpose", "neg") or unit_reshape(E, n):
        return _trivial(E, d["args"][0])
    return False


def plan(E: nx.DiGraph, names: Names, level: str, results: Iterable[int]) -> dict[int, tuple[
        str, str]]:
    """Which nodes are written by name, and their names (see the module docstring)."""
    F = names.F
    shown = visible(E)
    uses = _uses(E, shown)
    results = set(results)
    named: dict[int, tuple[str, str]] = {}
    depth: dict[int, int] = {}
    shared: list[int] = []
    topo = list(nx.topological_sort(E))
    for n in topo:
        d = E.nodes[n]
        kind = d["kind"]
        deep = 1 + max((depth[a] for a in d["args"]), default=0)
        if n not in shown or unit_reshape(E, n):
            depth[n] = 0 if n not in shown else deep - 1
            continue
        name = None
        if kind == "delta":
            fid = d["fid"]
            leaf = F.nodes[fid]["is_leaf"]
            if uses[n] and (fid in names.layer or uses[n] >= 2 or deep > DEPTH_LIMIT
                            or (level == "op" and not leaf) or n in results):
                name = delta_name(names, fid)
        elif kind in ("op", "abbrev", "rule") and d.get("label") is None:
            if uses[n] >= 2 and not _trivial(E, n) or deep > DEPTH_LIMIT and uses[n]:
                shared.append(n)
                name = ("u", "u")  # numbered below, in the order they are printed
        if kind == "rule":
            a = d["args"][0]
            if a not in named and E.nodes[a]["kind"] == "delta":
                named[a] = delta_name(names, E.nodes[a]["fid"])
        if name is not None:
            named[n] = name
            depth[n] = 0
        elif kind in ("sym", "const") or d.get("label") is not None:
            depth[n] = 0
        else:
            depth[n] = deep
    # forward quantities first, by the op that made them; then the backward ones, in order
    pos = {n: i for i, n in enumerate(topo)}

    def order(n: int) -> tuple[int, int]:
        d = E.nodes[n]
        if d["free"]:
            return 0, names.index.get(d.get("owner"), len(pos)) * len(pos) + pos[n]
        return 1, pos[n]

    for j, n in enumerate(sorted(shared, key=order), start=1):
        named[n] = (f"u_{j}", f"u_{{{j}}}" if j > 9 else f"u_{j}")
    return named


def delta_name(names: Names, fid: int) -> tuple[str, str]:
    """``δ_k`` for the pre-activation ``a_k`` of a stack of layers, else ``∇s L``."""
    k = names.layer.get(fid)
    if k is not None:
        return f"δ_{k}", rf"\delta_{k}" if k < 10 else rf"\delta_{{{k}}}"
    return gradient_name(names, fid)


def gradient_name(names: Names, fid: int) -> tuple[str, str]:
    """``∇W_1 L``: the gradient of the loss with respect to a tensor."""
    L = names.loss
    return f"∇{names.text(fid)} {L}", rf"\nabla_{{{names.latex(fid)}}} {latex_name(L)}"
