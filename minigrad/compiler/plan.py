r"""The compiled plan: the scheduled graph written out as two straight-line Python functions.

`forward(x, p, b)` takes the arguments' arrays, the parameters' arrays (read afresh at each
call, so optimizer updates are seen) and the preallocated buffers, and returns the outputs and
what the backward reads. `backward(seed, s)` replays the sweep: the registry's VJPs in eager
backward's order, returning one gradient per leaf. Both are generated from the graph, one line
per node (``plan.source`` shows them), so a replay costs one numpy call per op and nothing else.
A long one is cut into pieces of consecutive lines, each a function of its own with fewer than
256 locals, that a short driver calls in order (`_split`).

The loss a replay returns carries one `Node` whose op, ``compiled``, has every parameter as an
input and the compiled backward as its VJP: ``loss.backward()`` runs eager backward over that
one node, which writes ``.grad`` exactly as it does for any leaf (accumulating, running hooks,
refusing a second backward through freed values).
"""

from __future__ import annotations

import ast
import builtins
import gc
import re
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from minigrad.autograd import _anomaly, _run_hooks, _seed, _write
from minigrad.compiler.passes import BACKWARD, FORWARD, Key
from minigrad.function import Node
from minigrad.ops.either import unbroadcast
from minigrad.ops.registry import Op
from minigrad.tensor import Tensor, Version

__all__ = ["Plan", "PlanStats", "STALE"]

STALE = object()  # what `Plan.run` returns when its guards fail and the function must be retraced


def _var_name(n: Any) -> str:
    return f"v{n}" if isinstance(n, int) else str(n).replace(".", "_")


def _literal(v: Any) -> str | None:
    """Python source for `v` when it reads back as the same value, else None."""
    if isinstance(v, (bool, int, float, str, type(None), tuple)):
        src = repr(v)
        try:
            back = ast.literal_eval(src)
        except (ValueError, SyntaxError):
            return None
        if back == v and type(back) is type(v):
            return src
    return None


class _Writer:
    """The namespace the generated code refers to: op functions, parameters of ops."""

    def __init__(self, ns: dict[str, Any]) -> None:
        self.ns = ns
        self.numbers: dict[tuple[str, bytes], str] = {}

    def name(self, key: str, value: Any) -> str:
        """Binds `value` to `key` in the generated code's namespace."""
        self.ns[key] = value
        return key

    def function(self, fn: Any) -> str:
        """A readable name for numpy function `fn`: ``np_add``, ``np_add_reduce``,
        ``ndarray_reshape``…"""
        owner = getattr(fn, "__self__", None)
        if isinstance(owner, np.ufunc):
            base = f"np_{owner.__name__}_{fn.__name__}"
        elif getattr(fn, "__objclass__", None) is np.ndarray:
            base = f"ndarray_{fn.__name__}"
        else:
            base = f"np_{getattr(fn, '__name__', 'fn')}"
        key, i = base, 1
        while key in self.ns and self.ns[key] is not fn:
            i += 1
            key = f"{base}_{i}"
        return self.name(key, fn)

    def kwargs(self, n: Any, params: dict[str, Any]) -> str:
        parts = []
        for k, v in params.items():
            src = _literal(v)
            if src is None:
                src = self.name(f"k{_var_name(n)}_{k}", v)
            parts.append(f"{k}={src}")
        return "".join(", " + p for p in parts)


class _Registers:
    """Local variable names for the arrays of one generated function, reused once an array is
    dead, so that a long schedule needs few locals (Python allocates a function's frame, all
    its locals, at every call)."""

    def __init__(self) -> None:
        self.names: dict[Any, str] = {}
        self.free: list[str] = []
        self.count = 0

    def define(self, n: Any) -> str:
        if self.free:
            name = self.free.pop()
        else:
            name = f"r{self.count}"
            self.count += 1
        self.names[n] = name
        return name

    def release(self, n: Any) -> str | None:
        """Frees `n`'s name; returns it when the array should be dropped (``del``), None for
        a buffer (``bK``: the buffers stay bound for the whole call)."""
        name = self.names.pop(n)
        if _BUFFER.fullmatch(name):
            return None
        if name.startswith("r"):  # arguments keep their own names
            self.free.append(name)
        return name


_BUFFER = re.compile(r"b\d+")
_IDENT = re.compile(r"[A-Za-z_]\w*")
MAX_BOUND = 200  # at most this many globals of the generated code are made locals


def _bind_locals(lines: list[str], ns: dict[str, Any], key: str) -> list[str]:
    """`lines` (one generated function) with the namespace's names it reads most often (numpy
    functions, constants) bound to locals once, at its start: a local is read with a 2-byte
    instruction, a global with a 12-byte one, and a schedule of thousands of calls is
    bytecode the interpreter streams through at every call."""
    counts: dict[str, int] = {}
    for line in lines[1:]:
        for name in _IDENT.findall(line):
            if name in ns:
                counts[name] = counts.get(name, 0) + 1
    bound = sorted(counts, key=lambda k: -counts[k])[:MAX_BOUND]
    if not bound:
        return lines
    ns[key] = tuple(ns[k] for k in bound)
    return [lines[0], "    " + "".join(k + ", " for k in bound) + f"= {key}", *lines[1:]]


_UNPACK = "<buffers>"


def _unpack_buffers(lines: list[str]) -> tuple[list[str], list[int]]:
    """`lines` with the buffers the function reads unpacked most-read first (Python numbers
    a function's locals in order of first appearance, and a local numbered past 255 is read
    with an extra instruction), and that order."""
    counts: dict[int, int] = {}
    for line in lines:
        if _UNPACK not in line:
            for m in _BUFFER_REF.findall(line):
                counts[int(m)] = counts.get(int(m), 0) + 1
    order = sorted(counts, key=lambda i: (-counts[i], i))
    out = []
    for line in lines:
        if _UNPACK in line:
            if not order:
                continue
            line = line.replace(_UNPACK, "".join(f"b{i}, " for i in order).rstrip(" "))
        out.append(line)
    return out, order


_BUFFER_REF = re.compile(r"\bb(\d+)\b")


def _generate(G: nx.DiGraph, anomaly: bool
              ) -> tuple[str, dict[str, Any], list[Any], tuple[list[list[int]], ...]]:
    """The source of `forward` and `backward` (and of the pieces a long one is split into),
    their namespace, the saved values and the order in which each piece unpacks the buffers."""
    code = _Code(G, anomaly)
    if anomaly:
        code.ns["_chkf"] = _forward_check(G)
        code.ns["_chkb"] = _backward_check(G)
    fwd, fwd_orders = _finish(code.forward(), code.ns)
    bwd, bwd_orders = _finish(code.backward(), code.ns)
    return "\n".join(fwd + ["", ""] + bwd) + "\n", code.ns, code.saved, (fwd_orders, bwd_orders)


def _finish(lines: list[str], ns: dict[str, Any]) -> tuple[list[str], list[list[int]]]:
    """One generated function made ready to compile: whole when its locals fit under
    `MAX_LOCALS`, else split (`_split`); and, per piece, the order of its buffers."""
    name = lines[0][4:lines[0].index("(")]
    body = _Body(lines[1:], ns)
    chunks = body.chunks()
    if len(chunks) == 1:
        one, order = _unpack_buffers(lines)
        return _bind_locals(one, ns, f"_{name}_names"), [order]
    return _split(lines[0], body, chunks, ns)


MAX_LOCALS = 240  # a generated function's locals stay below 256 (a local numbered past 255
#                   is read with an extra instruction), with room for its arguments


class _Body:
    """The statements of one generated function (one a line) and, per line, the names it
    reads before it writes them, writes, deletes, and every name it refers to (its future
    locals: the function's own names, buffers and the namespace's names it binds)."""

    def __init__(self, lines: list[str], ns: dict[str, Any]) -> None:
        self.lines = lines
        self.unpack = next((i for i, line in enumerate(lines) if _UNPACK in line), None)
        src = [line.replace(_UNPACK, "_B") for line in lines]
        tree = ast.parse("\n".join(line[4:] for line in src))
        assert len(tree.body) == len(lines)
        self.uses: list[tuple[list[str], list[str], list[str]]] = []
        self.names: list[set[str]] = []
        for stmt in tree.body:
            found = [n for n in ast.walk(stmt) if isinstance(n, ast.Name)]
            self.names.append({n.id for n in found})
            own = [n for n in found if n.id not in ns and n.id not in _BUILTINS
                   and not _BUFFER.fullmatch(n.id)]  # the function's own variables
            loads, dels, stores = ([n.id for n in own if isinstance(n.ctx, ctx)]
                                   for ctx in (ast.Load, ast.Del, ast.Store))
            self.uses.append((loads, dels, stores))

    def chunks(self) -> list[range]:
        """The lines cut into runs of consecutive lines, each referring to fewer than
        `MAX_LOCALS` names (the whole function, one run, when it does)."""
        out: list[range] = []
        start, seen = 0, set[str]()
        for i, ids in enumerate(self.names):
            if i == self.unpack:
                continue
            if seen and len(seen | ids) > MAX_LOCALS:
                out.append(range(start, i))
                start, seen = i, set()
            seen |= ids
        out.append(range(start, len(self.lines)))
        return out

    def flow(self, lines: range) -> tuple[list[str], list[str]]:
        """The names `lines` need bound on entry (read or deleted before written), and those
        they leave bound (written last), each in order of first appearance."""
        need: dict[str, None] = {}
        bound: dict[str, bool] = {}
        for i in lines:
            if i == self.unpack:
                continue
            loads, dels, stores = self.uses[i]
            for name in loads + dels:
                if name not in bound:
                    need[name] = None
            for name in dels:
                bound[name] = False
            for name in stores:
                bound[name] = True
        return list(need), [name for name, b in bound.items() if b]


_BUILTINS = frozenset(dir(builtins))


def _split(header: str, body: _Body, chunks: list[range], ns: dict[str, Any]
           ) -> tuple[list[str], list[list[int]]]:
    """A function whose locals would pass `MAX_LOCALS` as pieces of consecutive lines, each
    a function of its own (``_forward_0``, ``_forward_1``…) with its own locals, called in
    order by a short driver under the function's name. What crosses from one piece to a later
    one goes through the driver: a piece takes what it reads from before as arguments and
    returns what later pieces read, and the driver drops what no later piece reads; each
    piece unpacks the buffers it reads from its own tuple of them. The numpy calls are the
    same lines in the same order: only the frames they run in change."""
    name = header[4:header.index("(")]
    pieces, orders, driver = [], [], [header]
    first = ["_B"] if body.unpack is not None else []
    if body.unpack is not None:
        driver.append("    _B" + body.lines[body.unpack].split(_UNPACK, 1)[1])
    flows = [body.flow(c) for c in chunks]
    later: set[str] = set()
    live_after = []
    for need, left in reversed(flows):
        live_after.append(set(later))
        later = (later - set(left)) | set(need)
    live_after.reverse()
    held: dict[str, None] = {}  # what the driver holds for later pieces
    for k, (c, (need, left), after) in enumerate(zip(chunks, flows, live_after)):
        call = f"_{name}_{k}({', '.join(first + need)})"
        lines = [f"def {call}:", *(f"    {_UNPACK} = _B[{k}]" for _ in first),
                 *(body.lines[i] for i in c if i != body.unpack)]
        out = [n for n in left if n in after]
        if k == len(chunks) - 1:
            driver.append(f"    return {call}")
        else:
            if out:
                lines.append("    return " + "".join(n + ", " for n in out).rstrip(" "))
            driver.append("    " + "".join(n + ", " for n in out) + ("= " if out else "")
                          + call)
            held.update(dict.fromkeys(out))
            dead = [n for n in held if n not in after]
            driver += [f"    del {n}" for n in dead]  # as the whole function dropped them
            for n in dead:
                del held[n]
        lines, order = _unpack_buffers(lines)
        pieces += _bind_locals(lines, ns, f"_{name}_names_{k}") + ["", ""]
        orders.append(order)
    return pieces + driver, orders


class _Code:
    """What the two generated functions share: the namespace, the schedule split into its
    forward and backward parts, and the slots of ``S`` through which the forward hands the
    backward what it reads (``saved``, then what ops keep for their VJPs, then the buffers).
    """

    def __init__(self, G: nx.DiGraph, anomaly: bool) -> None:
        self.G, self.nodes, self.anomaly = G, G.nodes, anomaly
        self.ns: dict[str, Any] = {"_unb": unbroadcast, "_asarray": np.asarray}
        self.w = _Writer(self.ns)
        nodes = G.nodes
        sched = G.graph["schedule"]
        self.inputs = G.graph["inputs"]
        self.params = [n for n, d in G.nodes(data=True) if d["kind"] == "param"]
        for n, d in G.nodes(data=True):
            if d["kind"] == "const":
                self.ns[_var_name(n)] = d["value"]
        self.fwd = [n for n in sched if nodes[n]["kind"] in FORWARD]
        self.bwd = [n for n in sched if nodes[n]["kind"] in BACKWARD]
        keeps = {nodes[n]["of"] for n in self.bwd
                 if nodes[n]["kind"] == "vjp" and nodes[n]["fn"].keeps}
        self.saved = [n for n in list(self.inputs) + self.params + self.fwd
                      if any(nodes[s]["kind"] in BACKWARD for s in G.successors(n))]
        # an array in a buffer reaches the backward through the buffer, not a slot
        slotted = [n for n in self.saved if self.in_buffer(n) is None]
        self.slot = {n: i for i, n in enumerate(slotted)}
        self.kept = {n: len(slotted) + i
                     for i, n in enumerate(k for k in self.fwd if k in keeps)}
        self.nbuf = len(G.graph.get("buffers", []))
        self.nslots = len(slotted) + len(self.kept) + 1  # the last slot: the buffers
        self.regs = _Registers()

    # ---------------------------------------------------------------- liveness
    def ref(self, x: Any) -> str:
        """The name an array has in the function being written."""
        return self.regs.names[x] if x in self.regs.names else _var_name(x)

    def last_read(self, n: Any, part: tuple[str, ...]) -> int:
        steps = [self.nodes[s]["step"] for s in self.G.successors(n)
                 if self.nodes[s]["kind"] in part]
        return max(steps, default=-1)

    def deaths(self, names: list[Any], part: tuple[str, ...], keep: set[Any],
               first: int) -> dict[int, list[Any]]:
        """step → the arrays of this function last read there (or made and never read; an
        argument never read dies at the `first` step)."""
        out: dict[int, list[Any]] = {}
        for n in names:
            if n in keep:
                continue
            last = max(self.last_read(n, part), self.nodes[n].get("step", first))
            out.setdefault(max(last, first), []).append(n)
        return out

    def emit_deaths(self, lines: list[str], dies: dict[int, list[Any]], step: int) -> None:
        for m in dies.get(step, ()):
            name = self.regs.release(m)
            if name is not None and self.holds_memory(m):
                lines.append(f"    del {name}")

    def holds_memory(self, n: Any) -> bool:
        """False when dropping `n`'s name frees nothing: an argument, a parameter or the seed
        (their owners hold them), an array in a buffer or a view of one, a view of a leaf."""
        nodes = self.nodes
        d = nodes[n]
        if d["kind"] in ("input", "param", "const", "seed") or "buffer" in nodes[d.get("root", n)] \
                or d.get("inplace") is not None:  # written in place: another array's memory
            return False
        return not any(nodes[a]["kind"] in ("input", "param", "const")
                       and np.may_share_memory(d["value"], nodes[a]["value"])
                       for a in d.get("args", ()))

    def in_buffer(self, n: Any) -> str | None:
        """The buffer's name when lowered call `n` writes into one (its array is then read
        by that name for its whole life: no local, no ``del``, no slot of ``S``)."""
        d = self.nodes[n]
        if "buffer" in d and d["kind"] in ("fprim", "bprim"):
            return f"b{d['buffer']}"
        return None

    def place(self, n: Any, regs: _Registers, lines: list[str],
              written: Callable[[Any, str, list[str]], list[str]]) -> str:
        """Emits node `n`: a lowered call into its buffer, named by the buffer, or else the
        lines `written` gives for a new local (from `n`, the local's name and the names of
        its arguments). Returns the name its value goes by."""
        v = self.in_buffer(n)
        if v is not None:
            regs.names[n] = v
            lines.append(f"    {_prim(self.w, self.G, n, self.ref)}")
            return v
        v = regs.define(n)
        lines += written(n, v, [self.ref(a) for a in self.nodes[n]["args"]])
        return v

    def forward_lines(self, n: Any, v: str, args: list[str]) -> list[str]:
        return [self.forward_line(n, v, args)]

    # ---------------------------------------------------------------- forward
    def forward(self) -> list[str]:
        """``forward(x, p, b)``: one line per forward node, saving what the backward reads."""
        nodes, regs = self.nodes, _Registers()
        self.regs = regs
        lines = ["def forward(x, p, b):", f"    S = [None] * {self.nslots}"]
        for group, names in (("x", self.inputs), ("p", self.params)):
            if names:
                lines.append("    " + "".join(regs.define(n) + ", " for n in names)
                             + f"= {group}")
        if self.nbuf:
            lines.append(f"    {_UNPACK} = b[0]")
            lines.append(f"    S[{self.nslots - 1}] = b[1]")
        for n in list(self.inputs) + self.params:
            if n in self.slot:
                lines.append(f"    S[{self.slot[n]}] = {regs.names[n]}")
        outputs = list(self.G.graph["outputs"])
        first = nodes[self.fwd[0]]["step"] if self.fwd else 0
        dies = self.deaths(self.fwd + list(self.inputs) + self.params, FORWARD, set(outputs),
                           first)
        for n in self.fwd:
            d = nodes[n]
            v = self.place(n, regs, lines, self.forward_lines)
            if d["kind"] != "raw" and np.ndim(d["value"]) == 0 and d.get("was") != "fprim":
                lines.append(f"    {v} = _asarray({v})")  # numpy hands back a scalar for 0-d
            if self.anomaly and d.get("was", d["kind"]) == "op":
                lines.append(f"    _chkf({v}, {n!r})")
            if n in self.slot and not _BUFFER.fullmatch(v):
                lines.append(f"    S[{self.slot[n]}] = {v}")
            self.emit_deaths(lines, dies, d["step"])
        outs = [self.ref(o) + (".copy()" if nodes[o]["kind"] == "const" else "")
                for o in outputs]
        lines.append("    return (" + "".join(o + ", " for o in outs) + "), S")
        return lines

    def forward_line(self, n: Any, v: str, args: list[str]) -> str:
        """The line computing forward node `n` into `v`: a call recorded as it was made
        (``raw``), a lowered numpy call (``fprim``), or a registry op's forward."""
        d, w = self.nodes[n], self.w
        if d["kind"] == "raw":
            it = iter(args)
            call = ", ".join(next(it) if lit is None else
                             (_literal(lit) or w.name(f"l{_var_name(n)}_{i}", lit))
                             for i, lit in enumerate(d["literals"]))
            f = w.name(f"f{_var_name(n)}", d["fn"])
            return f"    {v} = _asarray({f}({call}{w.kwargs(n, d['params'])}))"
        if d["kind"] == "fprim":
            return f"    {v} = {_prim(w, self.G, n, self.ref)}"
        op: Op = d["fn"]
        f = w.name(f"f{_var_name(n)}", op.forward)
        if op.keeps:
            target = f"{v}, S[{self.kept[n]}]" if n in self.kept else f"{v}, _"
        else:
            target = v
        return f"    {target} = {f}({', '.join(args)}{w.kwargs(n, d['params'])})"

    # ---------------------------------------------------------------- backward
    def backward(self) -> list[str]:
        """``backward(seed, S)``: the sweep, one line per VJP, accumulation or lowered call,
        loading each saved array where it is first read."""
        nodes, regs = self.nodes, _Registers()
        self.regs = regs
        lines = ["def backward(seed, S):"]
        if self.nbuf:
            lines.append(f"    {_UNPACK} = S[{self.nslots - 1}]")
        grads = self.G.graph["grads"]
        grad_set = set(grads.values())
        loads: dict[int, list[Any]] = {}  # step → the saved arrays first read there
        for n in self.saved:
            first = min(nodes[s]["step"] for s in self.G.successors(n)
                        if nodes[s]["kind"] in BACKWARD)
            loads.setdefault(first, []).append(n)
        dies = self.deaths([n for n in self.bwd if nodes[n]["kind"] != "seed"] + self.saved,
                           BACKWARD, grad_set, -1)
        for n in self.bwd:
            d = nodes[n]
            for m in loads.get(d["step"], ()):
                b = self.in_buffer(m)
                if b is not None:  # still in its buffer: the forward handed it over there
                    regs.names[m] = b
                else:
                    lines.append(f"    {regs.define(m)} = S[{self.slot[m]}]")
            if d["kind"] == "seed":
                regs.names[n] = "seed"
                if self.last_read(n, BACKWARD) >= 0 and n not in grad_set:
                    dies.setdefault(self.last_read(n, BACKWARD), []).append(n)
                continue
            v = self.place(n, regs, lines, self.backward_lines)
            if self.anomaly and d.get("was", d["kind"]) == "vjp":
                lines.append(f"    _chkb({v}, {n!r})")
            self.emit_deaths(lines, dies, d["step"])
        lines.append("    return (" + "".join(self.ref(grads[k]) + ", " for k in grads) + ")")
        return lines

    def backward_lines(self, n: Any, v: str, args: list[str]) -> list[str]:
        """The lines computing backward node `n` into `v`: a lowered numpy call (``bprim``),
        the sum of two contributions (``acc``), or a registry VJP, unbroadcast."""
        d, w = self.nodes[n], self.w
        if d["kind"] == "bprim":
            lines = [f"    {v} = {_prim(w, self.G, n, self.ref)}"]
            if d["was"] != "bprim" and not isinstance(d["value"], np.ndarray):
                lines.append(f"    {v} = _asarray({v})")  # as the rule's own result was
            return lines
        if d["kind"] == "acc":
            return [f"    {v} = {args[0]} + {args[1]}"]
        op = d["fn"]
        f = w.name(f"b{_var_name(d['of'])}_{d['argnum']}", op.vjp(d["argnum"]))
        extra = ""
        if op.variadic:
            extra = f", argnum={d['argnum']}"
        elif op.keeps:
            extra = f", saved=S[{self.kept[d['of']]}]"
        lines = [f"    {v} = {f}({', '.join(args)}{extra}{w.kwargs(n, d['params'])})"]
        if d["unbroadcast"] is not None:
            lines.append(f"    {v} = _unb({v}, {d['unbroadcast']!r})")
        return lines


def _prim(w: _Writer, G: nx.DiGraph, n: Any, ref: Callable[[Any], str]) -> str:
    """The source of one lowered numpy call (an ``fprim``/``bprim`` node)."""
    d = G.nodes[n]

    def src(x: Any) -> str:
        if isinstance(x, Key):
            return ref(x.node)
        if type(x) is tuple:
            return "(" + "".join(src(v) + ", " for v in x) + ")"
        if type(x) is list:
            return "[" + ", ".join(src(v) for v in x) + "]"
        if type(x) is dict:
            return "{" + ", ".join(f"{k!r}: {src(v)}" for k, v in x.items()) + "}"
        lit = _literal(x)
        if lit is not None and "\n" not in lit:
            return lit
        if isinstance(x, np.ndarray) and x.ndim == 0:  # one name per typed number
            key = (x.dtype.str, x.tobytes())
            if key not in w.numbers:
                w.numbers[key] = w.name(f"c{len(w.ns)}", x)
            return w.numbers[key]
        return w.name(f"c{len(w.ns)}", x)

    if d["attr"] is not None:
        return f"{src(d['cargs'][0])}.{d['attr']}"
    fn = d["call"]
    if fn is np.ndarray.swapaxes and np.ndim(d["value"]) == 2 and d["cargs"][1:] in \
            ((-1, -2), (-2, -1), (0, 1), (1, 0)):
        return f"{src(d['cargs'][0])}.T"  # the same view, read as an attribute
    f = w.function(fn)
    target = (ref(d["inplace"]) if d["inplace"] is not None
              else f"b{d['buffer']}" if "buffer" in d else None)
    parts = [src(a) for a in d["cargs"]]
    # with an output given, a ufunc's order= (the layout of the array it would allocate)
    # has nothing left to choose
    parts += [f"{k}={src(v)}" for k, v in d["ckwargs"].items()
              if not (k == "order" and target is not None and isinstance(fn, np.ufunc))]
    if d["out"] == "dst":  # np.copyto(dst, src): the output first, and only into a buffer
        assert target is not None, f"{n} copies into no buffer"
        parts.insert(0, target)
    elif target is not None and d["out"] == "pos":
        parts.insert(len(d["cargs"]), target)  # a ufunc's output follows its inputs
    elif target is not None:
        parts.append(f"out={target}")
    return f"{f}({', '.join(parts)})"


def _forward_check(G: nx.DiGraph) -> Callable[[Any, Any], None]:
    def check(arr: np.ndarray, n: Any) -> None:
        if arr.dtype.kind in "fc" and not np.all(np.isfinite(arr)):
            d = G.nodes[n]
            op = d["fn"]
            raise FloatingPointError(
                f"detect_anomaly: op '{op.name}' ({op.formula}) produced NaN or Inf in forward "
                f"(output shape {arr.shape}).\n  created at {d.get('where') or '<unknown>'}")
    return check


def _backward_check(G: nx.DiGraph) -> Callable[[Any, Any], None]:
    def check(arr: Any, n: Any) -> None:
        d = G.nodes[n]
        _anomaly(d["fn"], d.get("where"), d["argnum"], arr)
    return check


LINE = 64  # bytes in a cache line


class _Buffers:
    """One set of the plan's buffers, busy while the loss that reads them may still backward.

    The buffers are cut from one block of memory, in the order the schedule first uses them,
    each starting on a cache line: arrays allocated one by one land wherever the allocator
    has room (a small one often across two cache lines), and a long schedule of small arrays
    then reads memory in an order no prefetcher follows."""

    __slots__ = ("arrays", "owner", "block", "pair")

    def __init__(self, spec: Sequence[tuple[tuple[int, ...], np.dtype]],
                 orders: tuple[list[list[int]], ...]) -> None:
        sizes = [int(np.prod(shape)) * np.dtype(dtype).itemsize for shape, dtype in spec]
        offsets, total = [], 0
        for n in sizes:
            offsets.append(total)
            total += -(-max(n, 1) // LINE) * LINE
        self.block = np.empty(total + LINE, np.uint8)
        start = -self.block.__array_interface__["data"][0] % LINE
        self.arrays = [self.block[start + o:start + o + n].view(dtype).reshape(shape)
                       for o, n, (shape, dtype) in zip(offsets, sizes, spec)]
        # as forward and backward unpack them: each reads its own, most-read first; a function
        # split in pieces gets one tuple per piece
        self.pair = tuple(self._tuples(pieces) for pieces in orders)
        self.owner: Any = None

    def _tuples(self, pieces: list[list[int]]) -> Any:
        tuples = tuple(tuple(self.arrays[i] for i in order) for order in pieces)
        return tuples[0] if len(tuples) == 1 else tuples

    def free(self) -> bool:
        if self.owner is None:
            return True
        t = self.owner()
        if t is None or t._ctx is None or t._ctx.freed:
            self.owner = None
            return True
        return False


class _Run:
    """What one replay's backward needs: the saved arrays and the compiled sweep."""

    __slots__ = ("backward", "saved", "fresh", "g", "grads")

    def __init__(self, backward: Callable[..., Any], saved: Any, fresh: tuple[bool, ...]) -> None:
        self.backward, self.saved, self.fresh = backward, saved, fresh
        self.g: Any = None
        self.grads: tuple[Any, ...] = ()

    def grad(self, g: Any, i: int) -> Any:
        if self.g is not g:  # the first input of this backward: run the whole sweep once
            self.grads = self.backward(g, self.saved)
            self.g = g
        return self.grads[i]


def _compiled_vjp(g: Any, out: Any, *args: Any, argnum: int, run: _Run) -> Any:
    if isinstance(g, Tensor):
        raise RuntimeError(
            "backward(create_graph=True) through a compiled function: the compiled backward "
            "records no graph. Call the function eagerly to differentiate twice."
        )
    return run.grad(g, argnum)


class CompiledLoss(Tensor):
    """The loss a replay returns: a Tensor whose ``backward()`` runs the compiled sweep
    directly, skipping the one-node graph eager backward would build around it. It writes
    ``.grad`` with eager backward's own steps: the seed, leaf hooks, accumulation, the checks
    for freed and changed values. Everything else (``create_graph``, `minigrad.grad`) goes
    through eager backward and the ``compiled`` node's VJP."""

    __slots__ = ()

    def backward(self, gradient: Any = None, retain_graph: bool = False,
                 create_graph: bool = False) -> None:
        ctx = self._ctx
        if create_graph or ctx is None:
            return super().backward(gradient, retain_graph, create_graph)
        if ctx.freed or (ctx.versions and ctx.epoch != Version.epoch):
            ctx.check_saved(self)
        seed = _seed(self, gradient)
        run: _Run = ctx.params["run"]
        gc_was_on = gc.isenabled()
        gc.disable()  # as eager backward: the sweep makes no cycles worth collecting
        try:
            grads = run.backward(seed, run.saved)
        finally:
            if gc_was_on:
                gc.enable()
        store = []
        for t, g, fresh in zip(ctx.inputs, grads, run.fresh):
            if not t.requires_grad:
                continue
            if fresh and t.grad is None and not t._hooks:
                t.grad = Tensor._wrap(g)  # a new array the plan made for this leaf alone
            else:
                store.append((t, _run_hooks(t, g, False) if t._hooks else g))
        if store:
            _write(store, False, [seed])
        if not retain_graph:
            ctx.freed = True
        return None


@dataclass
class PlanStats:
    """Node counts before and after each pass, and the memory plan."""

    rows: list[tuple[str, int, int, str]]
    peak_bytes: int
    buffer_bytes: int
    buffers: int
    allocated_bytes: int
    steps: int
    extra: dict[str, Any] = field(default_factory=dict)
    kept: list[tuple[str, str, int]] = field(default_factory=list)  # rule, why, how many

    def __str__(self) -> str:
        w = max(len(r[0]) for r in self.rows)
        lines = [f"{'pass':<{w}}  nodes before → after  what"]
        for name, before, after, what in self.rows:
            lines.append(f"{name:<{w}}  {before:>6} → {after:<6}      {what}")
        lines.append(f"schedule: {self.steps} steps; peak bytes alive at once: {self.peak_bytes:,}")
        lines.append(f"buffers: {self.buffers} ({self.buffer_bytes:,} bytes, allocated once); "
                     f"arrays still allocated per step: {self.allocated_bytes:,} bytes")
        for rule, why, count in self.kept:
            lines.append(f"kept whole: {rule}" + (f" ×{count}" if count > 1 else "")
                         + f" ({why})")
        return "\n".join(lines)

    __repr__ = __str__


class Plan:
    """A traced function after the passes: the graphs before and after each pass, the
    generated code, and `run`, which replays it.

    Attributes:
        stages: ``[("trace", G), (pass name, G after it), …]``; every graph is its own copy.
        graph: the final graph (scheduled, with liveness and buffers).
        source: the generated Python of `forward` and `backward`.
    """

    def __init__(self, stages: list[tuple[str, nx.DiGraph]], anomaly: bool = False,
                 name: str = "fn") -> None:
        self.stages = stages
        self.trace = stages[0][1]
        self.graph = G = stages[-1][1]
        self.name = name
        self.source, ns, saved, self._orders = _generate(G, anomaly)
        code = compile(self.source, f"<minigrad.compile {name}>", "exec")
        exec(code, ns)  # noqa: S102  (our own generated code)
        self.forward: Callable[..., Any] = ns["forward"]
        self.backward: Callable[..., Any] = ns["backward"]
        self._ns = ns
        nodes = G.nodes
        self.input_index = [nodes[k]["index"] for k in G.graph["inputs"]]
        self.params = [d["tensor"] for _, d in G.nodes(data=True) if d["kind"] == "param"]
        self._param_spec = [(t.data.shape, t.data.dtype) for t in self.params]
        self.consts = [(d["tensor"], d["version"]) for _, d in G.nodes(data=True)
                       if d["kind"] == "const" and d.get("version") is not None]
        self._buffer_spec = G.graph.get("buffers", [])
        self._sets: list[_Buffers] = []
        self.tuple = G.graph["tuple"]
        outputs = G.graph["outputs"]
        loss = G.graph["loss"]
        self.loss_index = outputs.index(loss) if loss is not None and G.graph["grads"] else None
        self.modules = [(i, nodes[o]["module"], nodes[o]["name"]) for i, o in enumerate(outputs)
                        if nodes[o]["module"] is not None or nodes[o]["name"] is not None]
        leaves = list(G.graph["grads"])
        self.fresh = tuple(_fresh(G, k, g) for k, g in G.graph["grads"].items())
        self.leaves = [("input", nodes[k]["index"]) if nodes[k]["kind"] == "input"
                       else ("param", nodes[k]["tensor"]) for k in leaves]
        read = {a for n in G.graph["schedule"] if nodes[n]["kind"] in BACKWARD
                for a in nodes[n]["args"]}
        self._training(G)
        self.values_released = False
        self.op = Op(name="compiled", forward=_no_forward, vjps=(_compiled_vjp,),
                     formula=f"compiled {name}", grad_formulas=("∇ by the compiled backward",),
                     reads=(tuple(i for i, k in enumerate(leaves) if k in read),), variadic=True)

    def _training(self, G: nx.DiGraph) -> None:
        """What a compiled training step (`step_optimizer`) needs at every call: the seed,
        the trained parameters, the scalars to refill and what to guard."""
        updates = G.graph.get("updates")
        self.updates = updates
        if updates is None:
            return
        loss = G.nodes[G.graph["loss"]]
        self.seed = np.ones(loss["shape"], loss["dtype"])
        self.trained = [u["tensor"] for u in updates]
        self.refills = [(u["step_scalars"], u["state"], u["hyper"], list(u["scalars"].values()))
                        for u in updates if u["scalars"]]
        self.optimizer: Any = updates[0]["optimizer"] if updates else None
        groups = {id(u["group"]): u for u in updates}.values()
        self.hyper = [(u["group"], list(u["hyper"]), list(u["hyper"].values())) for u in groups]
        self.states = [(u["tensor"], u["state"], list(u["arrays"]), list(u["arrays"].values()))
                       for u in updates]
        self._param_ids: list[int] = []

    def _stale_update(self) -> bool:
        """True when the optimizer changed since the trace: a number of a param group (a
        learning-rate schedule), or its state (``load_state_dict``)."""
        for group, keys, values in self.hyper:
            if [group[k] for k in keys] != values:
                return True
        opt_state = self.optimizer.state  # load_state_dict may put a new dict there
        for t, state, keys, arrays in self.states:
            if opt_state.get(t) is not state or (keys and not all(
                    state.get(k) is a for k, a in zip(keys, arrays))):
                return True
        return False

    def step(self, args: Sequence[Any]) -> Any:
        """One compiled training step: forward, backward and the optimizer's update, in
        place, with ``.grad`` left None. Returns the outputs (new arrays, never buffers) or
        `STALE`."""
        ps = [t.data for t in self.params]
        ids = list(map(id, ps))
        if ids != self._param_ids:  # new arrays (a load_state_dict): check their layout
            if [(a.shape, a.dtype) for a in ps] != self._param_spec:
                return STALE
            self._param_ids = ids
        if self._stale_update():
            return STALE
        for t, v in self.consts:
            if t.version != v:
                return STALE
        xs = [a.data if isinstance(a, Tensor) else a for a in (args[i] for i in self.input_index)]
        if not self._sets:
            self._sets.append(_Buffers(self._buffer_spec, self._orders))
        outs, saved = self.forward(xs, ps, self._sets[0].pair)
        for step_scalars, state, hyper, scalars in self.refills:
            for z, v in zip(scalars, step_scalars(state, hyper).values()):
                z[()] = v
        self.backward(self.seed, saved)
        Version.epoch += 1
        for t in self.trained:
            t._shared_version().n += 1
            if t.grad is not None:
                t.grad = None
        res = [Tensor._wrap(o) for o in outs]
        for i, module, name in self.modules:
            res[i].module, res[i].name = module, name
        return tuple(res) if self.tuple else res[0]

    def release_values(self) -> None:
        """Drops the arrays the trace computed (each node's ``value``, the tensors of its ops,
        what they kept for their VJPs) from every stage's graph, keeping their shapes and
        dtypes: a plan then holds its buffers and nothing of the call it was traced from.
        Drawings and `stats` need only shapes; `values_released` says it was done."""
        placeholders: dict[tuple[Any, ...], np.ndarray] = {}
        for _, G in self.stages:
            for _, d in G.nodes(data=True):
                v = d.get("value")
                if d["kind"] in ("param", "const"):
                    continue
                if d.get("tensor") is not None:
                    d["tensor"] = None
                d.pop("saved", None)
                if isinstance(v, (np.ndarray, np.generic)):
                    key = (v.shape, v.dtype.str)
                    if key not in placeholders:  # same shape and dtype, no memory
                        placeholders[key] = np.broadcast_to(np.zeros((), v.dtype), v.shape)
                    d["value"] = placeholders[key]
        self.values_released = True

    # ------------------------------------------------------------------ running
    def _buffers(self) -> _Buffers:
        for s in self._sets:
            if s.free():
                return s
        s = _Buffers(self._buffer_spec, self._orders)
        self._sets.append(s)
        return s

    def run(self, args: Sequence[Any]) -> Any:
        """Replays the plan on `args`; returns `STALE` when a captured parameter changed shape
        or dtype, or a captured constant was changed in place, since the trace."""
        ps = [t.data for t in self.params]
        if [(a.shape, a.dtype) for a in ps] != self._param_spec:
            return STALE
        for t, v in self.consts:
            if t.version != v:
                return STALE
        xs = [a.data if isinstance(a, Tensor) else a for a in (args[i] for i in self.input_index)]
        bufs = self._buffers()
        outs, saved = self.forward(xs, ps, bufs.pair)
        res = [Tensor._wrap(o) for o in outs]
        li = self.loss_index
        for i, module, name in self.modules:
            res[i].module, res[i].name = module, name
        if li is not None:
            loss = res[li]
            loss.__class__ = CompiledLoss
            inputs = tuple(args[x] if kind == "input" else x for kind, x in self.leaves)
            versions = tuple(inputs[i].version for i in self.op.saves)
            loss._ctx = Node(self.op, inputs, {"run": _Run(self.backward, saved, self.fresh)},
                             versions)
            loss.requires_grad = True
            bufs.owner = weakref.ref(loss)
        return tuple(res) if self.tuple else res[0]

    # ------------------------------------------------------------------ reporting
    def stats(self) -> PlanStats:
        """Node counts before and after each pass, peak bytes and the buffer plan."""
        rows = [("trace", 0, self.trace.number_of_nodes(), "one eager call, recorded")]
        for entry in self.graph.graph["log"]:
            what = []
            for key in ("removed", "folded", "added", "lowered", "kept", "shared", "placed"):
                if entry.get(key):
                    what.append(f"{len(entry[key])} {key}")
            if "steps" in entry:
                what.append(f"{entry['steps']} steps")
            if "buffers" in entry:
                what.append(f"{entry['buffers']} buffers")
            rows.append((entry["pass"], entry["before"], entry["after"], ", ".join(what)))
        G = self.graph
        spec = G.graph.get("buffers", [])
        buffer_bytes = sum(int(np.prod(s)) * np.dtype(d).itemsize for s, d in spec)
        allocated = sum(d["value"].nbytes for n, d in G.nodes(data=True)
                        if d["kind"] in FORWARD + BACKWARD and d.get("root") == n
                        and "buffer" not in d and d["kind"] != "seed"
                        and d.get("inplace") is None and d.get("attr") is None
                        and getattr(d["value"], "base", None) is None)  # views are free
        kept: dict[tuple[str, str], int] = {}
        for entry in G.graph["log"]:
            for n, why in entry.get("kept", ()):
                d = G.nodes[n]
                rule = (f"∇ {d['fn'].name} → input {d['argnum']}" if d["kind"] == "vjp"
                        else d["op"])
                kept[rule, why] = kept.get((rule, why), 0) + 1
        return PlanStats(rows, G.graph.get("peak_bytes", 0), buffer_bytes, len(spec), allocated,
                         len(G.graph["schedule"]),
                         kept=[(rule, why, k) for (rule, why), k in kept.items()])

    def __repr__(self) -> str:
        G = self.graph
        return (f"<Plan of {self.name}: {len(G.graph['schedule'])} steps, "
                f"{len(G.graph.get('buffers', []))} buffers>")


def _fresh(G: nx.DiGraph, leaf: Any, k: Any) -> bool:
    """True when gradient node `k` is an array made anew at every call for `leaf` alone (no
    view, not shared with another gradient or the seed, the leaf's dtype), which ``.grad`` can
    take without a copy."""
    d = G.nodes[k]
    v = d["value"]
    made = d["kind"] in ("bprim", "acc") or (d["kind"] == "vjp" and v.base is None)
    shared = sum(1 for g in G.graph["grads"].values() if g == k) > 1
    return (made and not shared and d.get("root") == k and type(v) is np.ndarray
            and v.dtype == G.nodes[leaf]["dtype"] and v.flags.writeable)


def _no_forward(*args: Any, **kw: Any) -> Any:
    raise RuntimeError("the 'compiled' op only stands for a compiled backward; it has no forward")
