"""minigrad.compile: replays equal eager mode bit for bit; each pass alone; the guards."""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable
from typing import Any

import networkx as nx
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import minigrad.functional as F
from minigrad import opinfo
from minigrad.compiler import (
    TraceError,
    assign_buffers,
    compile_plan,
    differentiate,
    eliminate_dead_code,
    fold_constants,
    liveness,
    lower,
    materialize_operands,
    schedule,
    share_common_calls,
    trace,
)
from minigrad.compiler.lower import Guard, GuardMiss, Unlowerable, record, replay
from minigrad.ops.registry import REGISTRY

# minigrad's own ops: an op another test file registers while it is collected must not
# change this file's tests from one test process to the next
BUILTIN = sorted(name for name, op in REGISTRY.items() if op.builtin)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit for bit: same shape, dtype and bytes (so -0.0 ≠ 0.0 and NaNs compare by payload)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def _mlp_data(n: int = 16, d: int = 8, c: int = 4, seed: int = 0,
              dtype: Any = np.float32) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)).astype(dtype), rng.integers(0, c, n)


def _train(model: Any, loss_fn: Callable[..., Any], opt_cls: Any, batches: list[Any],
           **opt_kw: Any) -> tuple[list[np.ndarray], list[list[np.ndarray]]]:
    """Runs one optimizer step per batch; returns the losses and every step's gradients."""
    opt = opt_cls(model.parameters(), **opt_kw)
    losses, grads = [], []
    for X, y in batches:
        opt.zero_grad()
        loss = loss_fn(X, y)
        loss.backward()
        losses.append(loss.data.copy())
        grads.append([p.grad.data.copy() for p in model.parameters()])
        opt.step()
    return losses, grads


@pytest.mark.parametrize("opt", ["SGD", "Adam"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_mlp_training_is_bit_identical_to_eager(opt: str, dtype: Any) -> None:
    mg.manual_seed(3)
    eager = mg.nn.MLP([8, 16, 16, 4], dtype=dtype)
    model = copy.deepcopy(eager)
    step = mg.compile(lambda x, y: F.cross_entropy(model(x), y))
    batches = [_mlp_data(seed=s, dtype=dtype) for s in range(4)]
    batches = [(mg.Tensor(X), y) for X, y in batches]
    kw = {"lr": 0.1, "momentum": 0.9} if opt == "SGD" else {"lr": 0.01}
    cls = getattr(mg.optim, opt)
    le, ge = _train(eager, lambda x, y: F.cross_entropy(eager(x), y), cls, batches, **kw)
    lc, gc = _train(model, step, cls, batches, **kw)
    assert step.traces == 1
    for a, b in zip(le, lc):
        assert _same(a, b)
    for ga, gb in zip(ge, gc):
        assert all(_same(a, b) for a, b in zip(ga, gb))
    for p, q in zip(eager.parameters(), model.parameters()):
        assert _same(p.data, q.data)


def test_gradients_accumulate_across_backward_calls_as_in_eager() -> None:
    mg.manual_seed(0)
    eager = mg.nn.MLP([8, 5, 4], activation="tanh", dtype=np.float64)
    model = copy.deepcopy(eager)
    X, y = _mlp_data(dtype=np.float64)
    step = mg.compile(lambda x, t: F.cross_entropy(model(x), t))
    for _ in range(3):
        F.cross_entropy(eager(mg.Tensor(X)), y).backward()
        step(mg.Tensor(X), y).backward()
    for p, q in zip(eager.parameters(), model.parameters()):
        assert _same(p.grad.data, q.grad.data)


def test_input_that_requires_grad_gets_its_gradient() -> None:
    rng = np.random.default_rng(1)
    W = mg.Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    xs = [mg.Tensor(rng.standard_normal((2, 3)), requires_grad=True) for _ in range(2)]

    def f(x: mg.Tensor) -> mg.Tensor:
        h = (x @ W).tanh()
        return (h * h + x.sum()).mean()

    step = mg.compile(f)
    f(xs[0]).backward()
    gx, gW = xs[0].grad.data.copy(), W.grad.data.copy()
    W.grad = xs[0].grad = None
    step(xs[1])  # traced on another tensor of that shape, never backward
    step(xs[0]).backward()
    assert xs[1].grad is None
    assert _same(xs[0].grad.data, gx) and _same(W.grad.data, gW)


def test_second_backward_needs_retain_graph_as_in_eager() -> None:
    w = mg.Tensor(np.arange(3.0), requires_grad=True)
    step = mg.compile(lambda x: (x * w).exp().sum())
    x = mg.Tensor(np.ones(3))
    loss = step(x)
    loss.backward(retain_graph=True)
    loss.backward()
    compiled = w.grad.data.copy()
    w.grad = None
    eager = (x * w).exp().sum()
    eager.backward(retain_graph=True)
    eager.backward()
    assert _same(w.grad.data, compiled)
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()
    (g,) = mg.grad(step(x), [w])  # through eager backward and the compiled node's VJP
    (e,) = mg.grad((x * w).exp().sum(), [w])
    assert _same(g.data, e.data)


def test_two_forwards_before_one_backward_keep_their_own_buffers() -> None:
    mg.manual_seed(1)
    model = mg.nn.MLP([8, 16, 4])
    step = mg.compile(lambda x, t: F.cross_entropy(model(x), t))
    (X1, y1), (X2, y2) = _mlp_data(seed=1), _mlp_data(seed=2)
    first = step(mg.Tensor(X1), y1)
    step(mg.Tensor(X2), y2)  # may not overwrite what `first` still needs
    first.backward()
    got = [p.grad.data.copy() for p in model.parameters()]
    model.zero_grad()
    F.cross_entropy(model(mg.Tensor(X1)), y1).backward()
    assert all(_same(a, p.grad.data) for a, p in zip(got, model.parameters()))


def test_tuple_outputs_and_numpy_arguments() -> None:
    mg.manual_seed(2)
    model = mg.nn.MLP([8, 6, 4])
    step = mg.compile(lambda x, t: (F.cross_entropy(model(x), t), model(x).softmax(-1)))
    X, y = _mlp_data()
    loss, probs = step(X, y)
    eager_probs = model(mg.Tensor(X)).softmax(-1)
    assert _same(probs.data, eager_probs.data)
    assert _same(loss.data, F.cross_entropy(model(mg.Tensor(X)), y).data)
    X2, y2 = _mlp_data(seed=5)
    loss2, _ = step(X2, y2)  # numpy arguments are read at every call, not baked
    assert _same(loss2.data, F.cross_entropy(model(mg.Tensor(X2)), y2).data)


# ----------------------------------------------------------------------------- passes, alone


def _graph_snapshot(G: nx.DiGraph) -> Any:
    return (sorted(map(str, G.nodes)), sorted(map(str, G.edges)),
            {str(n): sorted(d) for n, d in G.nodes(data=True)}, sorted(G.graph))


def _program() -> tuple[Callable[..., Any], list[Any]]:
    """A small function with dead code, a constant subgraph, fan-out and a broadcast bias."""
    rng = np.random.default_rng(7)
    W = mg.Tensor(rng.standard_normal((4, 3)), requires_grad=True, name="W")
    b = mg.Tensor(rng.standard_normal(3), requires_grad=True, name="b")
    scale = mg.Tensor(np.arange(3.0))

    def f(x: mg.Tensor) -> mg.Tensor:
        c = (scale * 2.0 + 1.0).exp()  # varies with nothing: folded
        h = (x @ W + b).tanh()
        _unused = h.exp().sum()  # dead
        return (h * h * c + h).mean()

    return f, [mg.Tensor(rng.standard_normal((5, 4)))]


PASSES = [eliminate_dead_code, fold_constants, differentiate, lower, share_common_calls,
          materialize_operands, schedule, liveness, assign_buffers]


@pytest.mark.parametrize("upto", range(len(PASSES)), ids=[p.__name__ for p in PASSES])
def test_each_pass_leaves_the_graph_it_was_given_unchanged(upto: int) -> None:
    f, args = _program()
    G, _ = trace(f, args)
    for p in PASSES[:upto]:
        G = p(G)
    before = _graph_snapshot(G)
    H = PASSES[upto](G)
    assert H is not G and _graph_snapshot(G) == before
    assert H.graph["log"][-1]["pass"] == PASSES[upto].__name__


def test_trace_has_the_attributes_of_minigrad_graph() -> None:
    f, args = _program()
    G, out = trace(f, args)
    eager = mg.graph(out)
    attrs = set(next(iter(eager.nodes(data=True)))[1])
    for _, d in G.nodes(data=True):
        assert attrs <= set(d)
    for _, _, d in G.edges(data=True):
        assert {"argnums", "op", "formulas"} <= set(d)
    ops = sorted(d["op"] for _, d in eager.nodes(data=True) if d["op"])
    live = eliminate_dead_code(G)
    traced = sorted(d["op"] for _, d in live.nodes(data=True) if d["kind"] == "op" and
                    d["requires_grad"])
    assert ops == traced  # the same ops as the eager graph, where both record history


def test_dead_code_elimination_keeps_exactly_the_ancestors_of_the_outputs() -> None:
    f, args = _program()
    G, _ = trace(f, args)
    H = eliminate_dead_code(G)
    (out,) = H.graph["outputs"]
    assert set(H.nodes) == nx.ancestors(G, out) | {out} | set(G.graph["inputs"])
    removed = H.graph["log"][-1]["removed"]
    assert {G.nodes[n]["op"] for n in removed} == {"exp", "sum"}


def test_constant_folding_folds_what_varies_with_nothing() -> None:
    f, args = _program()
    G = eliminate_dead_code(trace(f, args)[0])
    H = fold_constants(G)
    folded = H.graph["log"][-1]["folded"]
    assert sorted(G.nodes[n]["op"] for n in folded) == ["add", "exp", "mul"]
    kept = [n for n in folded if n in H]  # the inner folded ops are read by nothing now
    assert [G.nodes[n]["op"] for n in kept] == ["exp"]
    for n in kept:
        assert H.nodes[n]["kind"] == "const" and H.in_degree(n) == 0
        assert _same(H.nodes[n]["value"], np.exp(np.arange(3.0) * 2.0 + 1.0))
    assert all(H.nodes[n]["varying"] for n in H.nodes if H.nodes[n]["kind"] == "op")
    step = mg.compile(f)
    assert _same(step(*args).data, f(*args).data)


def test_differentiate_records_eager_backward() -> None:
    f, args = _program()
    H = differentiate(fold_constants(eliminate_dead_code(trace(f, args)[0])))
    loss = f(*args)
    loss.backward()
    for leaf, g in H.graph["grads"].items():
        t = H.nodes[leaf]["tensor"]
        assert _same(H.nodes[g]["value"], t.grad.data)  # the recorded sweep's own values
    kinds = [d["kind"] for _, d in H.nodes(data=True)]
    assert kinds.count("acc") >= 2  # h feeds three products: its gradients are added up
    for n, d in H.nodes(data=True):
        if d["kind"] == "vjp":
            assert H.has_edge(d["of"], n)


def test_lower_turns_rules_into_their_numpy_calls() -> None:
    """tanh's VJP δ ⊙ (1 − h ⊙ h) becomes three ufunc calls; add's VJP, which hands δ
    on, disappears; cross-entropy, which keeps ŷ for its VJP, is lowered with its VJP, which
    reads the forward's ŷ; each lowered call is the last of its rule's calls and keeps the
    node's key."""
    rng = np.random.default_rng(0)
    W = mg.Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    b = mg.Tensor(rng.standard_normal(3), requires_grad=True)

    def f(x: mg.Tensor, t: np.ndarray) -> mg.Tensor:
        return F.cross_entropy((x @ W + b).tanh(), t)

    args = [mg.Tensor(rng.standard_normal((5, 4))), rng.integers(0, 3, 5)]
    G = differentiate(fold_constants(eliminate_dead_code(trace(f, args)[0])))
    H = lower(G)
    entry = H.graph["log"][-1]
    ops = {n: G.nodes[n]["op"] for n in G.nodes}
    assert entry["kept"] == []
    ce = next(n for n in G.nodes if ops[n] == "cross_entropy")
    ce_vjp = next(n for n, d in G.nodes(data=True) if d.get("of") == ce)
    kept = [a for m, d in H.nodes(data=True) if d.get("lowered_from") == ce_vjp
            for a in H.pred[m] if H.nodes[a].get("lowered_from") == ce]
    assert len(kept) == 1 and H.nodes[kept[0]]["prim"] == "divide"  # ŷ = e / Σ e
    assert _same(H.nodes[kept[0]]["value"], G.nodes[ce]["saved"])
    tanh_vjp = next(n for n, d in G.nodes(data=True)
                    if d["kind"] == "vjp" and d["fn"].name == "tanh")
    calls = [d["prim"] for _, d in H.nodes(data=True) if d.get("lowered_from") == tanh_vjp]
    assert sorted(calls) == ["multiply", "multiply", "subtract"]  # h ⊙ h, 1 − ·, δ ⊙ ·
    assert H.nodes[tanh_vjp]["kind"] == "bprim" and H.nodes[tanh_vjp]["prim"] == "multiply"
    add_vjps = [n for n, d in G.nodes(data=True) if d["kind"] == "vjp" and d["fn"].name == "add"]
    to_xW, to_b = sorted(add_vjps)
    assert to_xW not in H  # δ handed on to x @ W, whose VJPs read it directly
    bias_grad = H.graph["grads"][next(k for k in G.graph["grads"]
                                      if G.nodes[k]["tensor"] is b)]
    assert bias_grad == to_b and H.nodes[to_b]["prim"] == "add.reduce"  # Σ_i δ_i
    for n, d in H.nodes(data=True):
        if d["kind"] in ("fprim", "bprim"):
            assert all(a in H for a in d["args"]) and all(H.has_edge(a, n) for a in d["args"])
    plan = compile_plan(f, args)
    assert "lambda" not in plan.source and "np_tanh(" in plan.source
    loss = f(*args)
    loss.backward()
    got = mg.compile(f)(*args)
    gW, gb = W.grad.data.copy(), b.grad.data.copy()
    W.grad = b.grad = None
    got.backward()
    assert _same(got.data, loss.data) and _same(W.grad.data, gW) and _same(b.grad.data, gb)


@pytest.mark.parametrize("fn", [
    lambda a, x: a.sum() + x,        # x's gradient is δ itself, which sum's VJP also reads
    lambda a, x: (a + x) + x,        # δ handed on twice, then added up
    lambda a, x: (a * 1.0).reshape(()) + x * x,
    lambda a, x: a.T.sum() * x,
], ids=["seed-is-a-gradient", "handed-on-twice", "reshape", "transpose"])
def test_gradients_that_are_another_array_replay_bit_for_bit(fn: Any) -> None:
    """Lowering removes rules that hand δ on, so one array may be the seed, a gradient and
    the input of other rules at once."""
    x = mg.Tensor(np.array(2.0), requires_grad=True)
    step = mg.compile(lambda a: fn(a, x))
    for value in (np.array(5.0), np.array(-1.5)):
        a = mg.Tensor(value, requires_grad=True)
        got = step(a)
        got.backward()
        g = (a.grad.data.copy(), x.grad.data.copy())
        a.grad = x.grad = None
        want = fn(a, x)
        want.backward()
        assert _same(got.data, want.data)
        assert _same(g[0], a.grad.data) and _same(g[1], x.grad.data)
        a.grad = x.grad = None


def _special(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`values` with about one entry in six made ±0.0, ±inf or NaN, at random places."""
    out = values.copy()
    specials = np.array([-0.0, 0.0, np.inf, -np.inf, np.nan], out.dtype)
    where = rng.random(out.shape) < 1 / 6
    out[where] = rng.choice(specials, int(where.sum()))
    return out


def test_broadcast_and_cast_inputs_are_copied_first_with_eager_bits() -> None:
    """``sum(relu(x + b) ⊙ w)``: the bias add broadcasts b over the rows, and relu's VJP
    δ ⊙ 1[a > 0] multiplies δ by a bool mask, inputs that `materialize_operands` copies into
    buffers of the output's shape and dtype first. With pre-activations ±0.0, ±inf and NaN
    and δ = w negative, ±0.0, ±inf and NaN (δ · 0 is −0.0 for a negative δ, NaN for an
    infinite one), replays give eager mode's bits, on 10,240 elements (past numpy's buffer of
    8,192, so eager mode's own loop runs in chunks)."""
    rng = np.random.default_rng(11)
    n, d = 64, 160
    b = mg.Tensor(_special(rng.standard_normal(d).astype(np.float32), rng), requires_grad=True)
    w = mg.Tensor(_special(-np.abs(rng.standard_normal((n, d))).astype(np.float32), rng))

    def f(x: mg.Tensor) -> mg.Tensor:
        return (F.relu(x + b) * w).sum()

    step = mg.compile(f)
    for _ in range(2):
        xv = _special(rng.standard_normal((n, d)).astype(np.float32), rng)
        grads = []
        for run in (step, f):
            x = mg.Tensor(xv, requires_grad=True)
            with np.errstate(all="ignore"):
                out = run(x)
                out.backward()
            grads.append((out.data, x.grad.data, b.grad.data))
            b.grad = None
        assert all(_same(got, want) for got, want in zip(*grads))
    G = step.plan.graph
    copies = [(G.nodes[d["args"][0]]["value"], d["value"]) for _, d in G.nodes(data=True)
              if d.get("prim") == "copyto"]
    assert any(src.shape == (d,) and v.shape == (n, d) for src, v in copies)  # the bias
    assert any(src.dtype == bool and v.dtype == np.float32 for src, v in copies)  # 1[a > 0]
    assert "np_copyto(b" in step.plan.source


def test_materialize_operands_lays_a_constant_out_once_and_leaves_stride_0_inputs() -> None:
    """A constant that a ufunc would broadcast over rows becomes, at compile time, a constant
    of the output's shape, which keeps the guard of its tensor (a change in place retraces);
    sum's δ, one number broadcast (stride 0 along every axis), is read in place by numpy and
    is not copied."""
    rng = np.random.default_rng(2)
    c = mg.Tensor(rng.standard_normal(64))
    W = mg.Tensor(rng.standard_normal((64, 64)), requires_grad=True)

    def f(x: mg.Tensor) -> mg.Tensor:
        return ((x @ W) * c * 2.0).sum()

    args = [mg.Tensor(rng.standard_normal((128, 64)))]
    G = lower(differentiate(fold_constants(eliminate_dead_code(trace(f, args)[0]))))
    H = materialize_operands(G)
    assert not any(d.get("prim") == "copyto" for _, d in H.nodes(data=True))
    (laid,) = H.graph["log"][-1]["added"]
    assert H.nodes[laid]["kind"] == "const" and H.nodes[laid]["value"].shape == (128, 64)
    assert H.nodes[laid]["tensor"] is c and H.graph["log"][-1]["removed"] != []
    step = mg.compile(f)
    for _ in range(2):
        assert _same(step(*args).data, f(*args).data)
        with mg.no_grad():
            c.mul_(3.0)
    assert step.traces == 2


def test_schedule_is_topological_and_runs_backward_after_forward() -> None:
    f, args = _program()
    H = schedule(lower(differentiate(fold_constants(eliminate_dead_code(trace(f, args)[0])))))
    step = {n: H.nodes[n]["step"] for n in H.graph["schedule"]}
    for u, v in H.edges:
        if u in step:
            assert step[u] < step[v]
    kinds = [H.nodes[n]["kind"] for n in H.graph["schedule"]]
    first_backward = kinds.index("seed")
    assert all(k in ("op", "raw", "fprim") for k in kinds[:first_backward])
    assert all(k in ("seed", "vjp", "acc", "bprim") for k in kinds[first_backward:])


def test_liveness_and_buffers_never_overlap_two_live_arrays() -> None:
    mg.manual_seed(4)
    model = mg.nn.MLP([8, 16, 16, 16, 4])
    X, y = _mlp_data()
    plan = compile_plan(lambda x, t: F.cross_entropy(model(x), t), [mg.Tensor(X), y])
    H = plan.graph
    for n in H.graph["schedule"]:
        d = H.nodes[n]
        for s in H.successors(n):
            assert d["last_use"] >= H.nodes[s]["step"]
    by_buffer: dict[int, list[Any]] = {}
    for n, d in H.nodes(data=True):
        if "buffer" in d:
            by_buffer.setdefault(d["buffer"], []).append(n)
            assert H.graph["buffers"][d["buffer"]][0] == d["value"].shape
    in_place = 0
    for nodes in by_buffer.values():
        spans = sorted((H.nodes[n]["step"], H.nodes[n]["life"], n) for n in nodes)
        for (_, end, a), (start, _, b) in zip(spans, spans[1:]):
            # a buffer is handed on the step after its array's last read, or at that very
            # step to the elementwise call making that read, which writes where it reads
            assert end < start or (end == start and a in H.nodes[b]["args"]
                                   and isinstance(H.nodes[b]["call"], np.ufunc))
            in_place += end == start
    assert in_place == H.graph["in_place"] > 0
    st = plan.stats()
    assert 0 < st.peak_bytes <= sum(d["value"].nbytes for _, d in H.nodes(data=True)
                                    if d["kind"] not in ("input", "param", "const"))
    assert st.buffers >= 1 and "assign_buffers" in str(st)
    assert st.kept == []  # cross-entropy too: its forward and VJP are lowered together


def _registry_cases(name: str) -> list[Any]:
    op = REGISTRY[name]
    rng = np.random.default_rng(0)
    return [(op, args, params) for args, params in opinfo.cases(op, rng, np.float64)]


def _rules(op: Any, args: list[Any], params: dict[str, Any]) -> list[tuple[str, Any, list[Any]]]:
    """The forward and each VJP of `op` as functions of arrays, with their arguments."""
    if op.keeps:
        return []
    out = np.asarray(op.forward(*args, **params))
    g = np.asarray(np.random.default_rng(1).standard_normal(out.shape)).astype(out.dtype)
    rules = [("forward", lambda *xs: op.forward(*xs, **params), list(args))]
    for i in range(len(args)):
        f = op.vjp(i)
        if f is None or np.asarray(args[i]).dtype.kind != "f":
            continue
        kw = {"argnum": i} if op.variadic else {}
        rules.append((f"vjp {i}", lambda g, o, *xs, f=f, kw=kw: f(g, o, *xs, **kw, **params),
                      [g, out, *args]))
    return rules


# ops every rule of which must lower (the MLP's, the chain's, the elementwise family)
MUST_LOWER = ("add", "sub", "mul", "div", "neg", "exp", "log", "tanh", "relu", "sigmoid",
              "matmul", "linear", "sum", "reshape", "transpose")


@pytest.mark.parametrize("name", BUILTIN)
def test_lowered_rules_equal_the_registry_bit_for_bit_on_new_values(name: str) -> None:
    """Each recordable rule, replayed with output buffers on the values of another example
    of the same shapes, equals the rule itself there: the recording depends on shapes and
    dtypes only."""
    op = REGISTRY[name]
    lowered = 0
    for dt in (np.float32, np.float64):
        first = [[np.asarray(a).astype(dt) if np.asarray(a).dtype.kind == "f" else a
                  for a in args] for args, _ in opinfo.cases(op, np.random.default_rng(0), dt)]
        again = [[np.asarray(a).astype(dt) if np.asarray(a).dtype.kind == "f" else a
                  for a in args] for args, _ in opinfo.cases(op, np.random.default_rng(7), dt)]
        params = [p for _, p in opinfo.cases(op, np.random.default_rng(0), dt)]
        for args, args2, kw in zip(first, again, params):
            if [np.shape(a) for a in args] != [np.shape(a) for a in args2]:
                continue
            with np.errstate(all="ignore"):
                for (what, f, ins), (_, _, ins2) in zip(_rules(op, args, kw),
                                                       _rules(op, args2, kw)):
                    try:
                        steps, result = record(f, ins, f(*ins))
                    except Unlowerable:
                        assert name not in MUST_LOWER, f"{name} {what} did not lower"
                        continue
                    assert _same(replay(steps, result, ins2), f(*ins2)), (name, what)
                    lowered += 1
    assert lowered or name not in MUST_LOWER


@pytest.mark.parametrize("name", BUILTIN)
def test_every_op_compiles_and_replays_bit_for_bit(name: str) -> None:
    """Each op of the registry, compiled alone (a weighted sum of its output as the loss),
    traced on one example and replayed on another of the same shapes: forward and every
    gradient equal eager mode's bits, whether the pass lowered its rules or kept them."""
    from minigrad.function import apply

    op = REGISTRY[name]
    checked = 0
    for dt in (np.float64, np.float32):
        pairs = zip(opinfo.cases(op, np.random.default_rng(0), dt),
                    opinfo.cases(op, np.random.default_rng(5), dt))
        for (args, params), (args2, _) in pairs:
            if [np.shape(a) for a in args] != [np.shape(a) for a in args2]:
                continue

            def tensors(values: Any) -> list[Any]:
                return [mg.Tensor(np.asarray(a), requires_grad=np.asarray(a).dtype.kind == "f")
                        if isinstance(a, np.ndarray) else a for a in values]

            out = apply(op, *tensors(args), **params)
            w = (mg.Tensor(np.random.default_rng(3).standard_normal(out.shape).astype(out.dtype))
                 if out.dtype.kind == "f" else None)

            def f(*ts: Any, params: Any = params, w: Any = w) -> mg.Tensor:
                o = apply(op, *ts, **params)
                return (o * w).sum() if w is not None else o

            step = mg.compile(f)
            for values in (args, args2):
                mine, theirs = tensors(values), tensors(values)
                got, want = step(*mine), f(*theirs)
                assert _same(got.data, want.data), name
                if want.requires_grad:
                    got.backward()
                    want.backward()
                    for p, q in zip(mine, theirs):
                        if isinstance(p, mg.Tensor) and p.requires_grad:
                            assert (p.grad is None) == (q.grad is None), name
                            assert p.grad is None or _same(p.grad.data, q.grad.data), name
                checked += 1
    assert checked


def test_a_rule_sees_a_stand_in_as_an_array() -> None:
    """A rule with a path for arrays (``isinstance(a, np.ndarray)``) records that path, the
    one eager mode runs; gelu's is written with in-place updates into arrays it made."""
    x = np.linspace(-3.0, 3.0, 7)
    f = REGISTRY["gelu"].forward
    steps, result = record(f, [x], f(x))
    assert any(s.inplace is not None for s in steps)  # t *= c, … into its own arrays
    y = x * 0.37 + 0.1
    assert _same(replay(steps, result, [y]), f(y))


def test_rules_that_read_values_or_write_into_their_arguments_stay_opaque() -> None:
    x = np.arange(6.0).reshape(2, 3)
    branch = lambda a: a * 2 if a.sum() > 0 else a  # noqa: E731
    for f in (branch, lambda a: np.asarray(a) + 1, lambda a: float(a.max()) * a,
              lambda a: a.__iadd__(1)):
        with pytest.raises(Unlowerable):
            record(f, [x], f(x.copy()))
    with pytest.raises(Unlowerable):  # a result that differs in one bit is not accepted
        record(lambda a: a * 2, [x], x * 2 + np.array(1e-300))
    steps, result = record(lambda a: (a * 2).__iadd__(1), [x], x * 2 + 1)  # its own array
    assert [s.fn for s in steps] == [np.multiply, np.add] and steps[1].inplace is not None
    assert _same(replay(steps, result, [x + 1]), (x + 1) * 2 + 1)


def test_a_forward_that_branches_on_a_value_records_a_guard() -> None:
    """With `guards`, ``if a.sum() > 0:`` follows the trace's branch and leaves a `Guard`;
    a replay whose values take the other branch stops with `GuardMiss`."""
    x = np.arange(6.0).reshape(2, 3)

    def branch(a: Any) -> Any:
        return a * 2 if a.sum() > 0 else a * 3

    steps, result = record(branch, [x], branch(x), guards="branchy")
    guards = [s for s in steps if isinstance(s.fn, Guard)]
    assert len(guards) == 1 and guards[0].fn.expected is True
    assert _same(replay(steps, result, [x + 1]), (x + 1) * 2)
    with pytest.raises(GuardMiss, match="branchy branches the other way"):
        replay(steps, result, [-x])


def _layer_norm_fn(ln: Any, scale: Any) -> Callable[[Any], Any]:
    return lambda x: (ln(x * 1.5) * scale).sum()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_norm_is_lowered_and_replays_eager_bits(dtype: Any) -> None:
    """Layer norm keeps (x̂, 1/σ) for its VJPs: the forward, its guards against overflow and
    the three VJPs become numpy calls with buffers, and ∇x, ∇γ, ∇β are eager's bits."""
    rng = np.random.default_rng(4)
    mg.manual_seed(0)
    ln = mg.nn.LayerNorm(6)
    ln.weight.data = rng.standard_normal(6).astype(dtype)
    ln.bias.data = rng.standard_normal(6).astype(dtype)
    scale = mg.Tensor(rng.standard_normal((3, 6)).astype(dtype))
    f = _layer_norm_fn(ln, scale)
    c = mg.compile(f)
    for k in range(3):
        x = mg.Tensor(rng.standard_normal((3, 6)).astype(dtype) * 10.0 ** k, requires_grad=True)
        xe = mg.Tensor(x.data.copy(), requires_grad=True)
        c(x).backward()
        got = [x.grad.data] + [p.grad.data for p in ln.parameters()]
        for p in ln.parameters():
            p.grad = None
        f(xe).backward()
        want = [xe.grad.data] + [p.grad.data for p in ln.parameters()]
        for p in ln.parameters():
            p.grad = None
        assert all(_same(a, b) for a, b in zip(got, want))
    assert c.traces == 1 and c.eager_calls == 0
    assert not [k for k in c.plan.stats().kept if "layer_norm" in k[0]]
    assert any(isinstance(d.get("call"), Guard) for _, d in c.plan.graph.nodes(data=True))


@pytest.mark.parametrize("dtype, big", [(np.float32, 1e17), (np.float64, 1e200)])
def test_values_that_take_a_rules_other_branch_run_eagerly(dtype: Any, big: float,
                                                             capsys: Any) -> None:
    """Traced on ordinary values, layer norm's plan assumes neither overflow guard fires; a
    call with |x| past them (float32 statistics in float64, float64 rows rescaled) runs
    eagerly, says so when verbose, and the next ordinary call replays the plan again."""
    rng = np.random.default_rng(5)
    ln = mg.nn.LayerNorm(4)
    scale = mg.Tensor(rng.standard_normal((2, 4)).astype(dtype))
    f = _layer_norm_fn(ln, scale)
    c = mg.compile(f, verbose=True)
    x = rng.standard_normal((2, 4)).astype(dtype)
    for v, eager_calls in ((x, 0), (x * big, 1), (x * 2, 1)):
        got, want = c(mg.Tensor(v)), f(mg.Tensor(v))
        assert _same(got.data, want.data) and np.isfinite(want.data)
        assert c.eager_calls == eager_calls and c.traces == 1
    out = capsys.readouterr().out
    assert out.count("runs eagerly on this call (layer_norm branches the other way") == 1


def test_a_training_step_whose_values_miss_a_guard_is_an_eager_step() -> None:
    """The guards run in the forward, before any update: the step then runs eagerly, and
    the parameters and Adam's state stay eager's bit for bit."""
    rng = np.random.default_rng(6)
    pairs = []
    for _ in range(2):
        mg.manual_seed(1)
        model = mg.nn.Sequential(mg.nn.Linear(4, 4), mg.nn.LayerNorm(4), mg.nn.Linear(4, 1))
        pairs.append((model, mg.optim.Adam(model.parameters(), lr=1e-2)))
    (m_c, o_c), (m_e, o_e) = pairs
    step = mg.compile(lambda x: (m_c(x) ** 2).mean(), optimizer=o_c)
    xs = [rng.standard_normal((3, 4)).astype(np.float32) for _ in range(4)]
    xs[2] = xs[2] * np.float32(1e25)  # the first Linear's output passes 1e15: float64 statistics
    for x in xs:
        step(mg.Tensor(x))
        o_e.zero_grad()
        (m_e(mg.Tensor(x)) ** 2).mean().backward()
        o_e.step()
    assert step.eager_calls == 1 and step.traces == 1
    for p, q in zip(m_c.parameters(), m_e.parameters()):
        assert _same(p.data, q.data)


@pytest.mark.parametrize("loss", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("bad", [4, -1])
def test_a_class_index_out_of_range_raises_in_a_replay_as_in_eager(loss: str, bad: int) -> None:
    """The classes are checked in the rule, so the plan keeps the check as a guard: a label
    out of range (in any row, negative too) sends the call to eager mode, which raises; a
    training step then changes nothing."""
    rng = np.random.default_rng(10)
    mg.manual_seed(0)
    lin = mg.nn.Linear(3, 4)
    head = F.log_softmax if loss == "nll_loss" else (lambda z: z)
    opt = mg.optim.SGD(lin.parameters(), lr=0.1)
    x = mg.Tensor(rng.standard_normal((5, 3)).astype(np.float32))
    fn = lambda x, t: getattr(F, loss)(head(lin(x)), t)  # noqa: E731
    c, step = mg.compile(fn), mg.compile(fn, optimizer=opt)
    good, wrong = np.array([0, 1, 2, 3, 0]), np.array([0, bad, 2, 3, 0])
    for f in (c, step):
        f(x, good)
        f(x, good)
    before = [p.data.copy() for p in lin.parameters()]
    for f in (c, step):
        with pytest.raises(ValueError, match=rf"{loss}: class indices must lie in \[0, 4\)"):
            f(x, wrong)
        assert f.eager_calls == 1 and f.traces == 1
    assert all(_same(p.data, q) for p, q in zip(lin.parameters(), before))


def _shared(plan: Any) -> list[Any]:
    return next(e["shared"] for e in plan.graph.graph["log"] if e["pass"] == "share_common_calls")


def _grads_pair(f: Callable[..., Any], arrays: list[np.ndarray]) -> tuple[Any, list[Any]]:
    """Compiled and eager values and gradients of ``f(*arrays)``."""
    c = mg.compile(f)
    res = []
    for fn in (c, f):
        ts = [mg.Tensor(a.copy(), requires_grad=True) for a in arrays]
        out = fn(*ts)
        out.backward()
        res.append([out.data] + [t.grad.data for t in ts])
    assert all(_same(a, b) for a, b in zip(*res))
    return c, res


def test_a_call_repeated_on_the_same_arrays_runs_once() -> None:
    rng = np.random.default_rng(7)
    c, _ = _grads_pair(lambda x: ((x * 2.0).tanh() + (x * 2.0).exp()).sum(),
                       [rng.standard_normal((3, 4))])
    shared = _shared(c.plan)
    assert [dict(c.plan.stages)["lower"].nodes[n]["prim"] for n in shared] == ["multiply"]


def test_attentions_vjps_for_q_and_k_compute_their_common_start_once() -> None:
    """∇S = P ⊙ (∇P − rowsum(∇P ⊙ P)), ∇P = δVᵀ, is in both VJPs' rules; the plan makes it
    once, and every gradient keeps eager's bits."""
    rng = np.random.default_rng(8)
    q, k, v = (rng.standard_normal((2, 3, 5, 4)) for _ in range(3))
    c, _ = _grads_pair(lambda q, k, v: (F.scaled_dot_product_attention(
        q, k, v, is_causal=True) ** 2).sum(), [q, k, v])
    lowered = dict(c.plan.stages)["lower"].nodes
    assert {"matmul", "multiply", "subtract"} <= {lowered[n]["prim"] for n in _shared(c.plan)}
    assert not [k for k in c.plan.stats().kept if "attention" in k[0]]


def test_arrays_written_in_place_are_never_shared() -> None:
    """gelu writes its tanh into an array it made (``np.clip(…, out=np.empty_like(a))``):
    two gelus of one input share none of those arrays, and both results are exact."""
    rng = np.random.default_rng(9)
    c, _ = _grads_pair(lambda x: (F.gelu(x) * F.gelu(x)).sum(), [rng.standard_normal((4, 3))])
    G = dict(c.plan.stages)["lower"]
    written = {d["inplace"] for _, d in G.nodes(data=True) if d.get("inplace") is not None}
    assert written and not written & set(_shared(c.plan))


# ----------------------------------------------------------------------------- random programs

UNARY = [F.tanh, F.sigmoid, F.relu, F.softplus, lambda x: x * x, lambda x: -x,
         lambda x: x.sum(0, keepdims=True), lambda x: x.T.T, lambda x: F.softmax(x, -1),
         lambda x: F.log_softmax(x, -1), lambda x: x.mean(-1, keepdims=True),
         lambda x: x.abs(), lambda x: (x * 0.5).exp()]
BINARY = [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, F.maximum,
          lambda a, b: a / (b * b + 1.0)]
SHAPES = [(2, 3), (3,), (1, 3)]


@st.composite
def programs(draw: Any) -> list[tuple[int, int, int, int]]:
    n = draw(st.integers(1, 12))
    steps = []
    for k in range(n):
        pool = 4 + k
        steps.append((draw(st.integers(0, 1)), draw(st.integers(0, len(UNARY) - 1)),
                      draw(st.integers(0, pool - 1)), draw(st.integers(0, pool - 1))))
    return steps


@given(programs(), st.integers(0, 2**31 - 1), st.sampled_from([np.float32, np.float64]))
def test_random_programs_replay_bit_for_bit(prog: list[Any], seed: int, dtype: Any) -> None:
    rng = np.random.default_rng(seed)
    p = [mg.Tensor(rng.standard_normal(s).astype(dtype), requires_grad=True)
         for s in SHAPES[:2]]
    c = mg.Tensor(rng.standard_normal((1, 3)).astype(dtype))

    def f(x: mg.Tensor) -> mg.Tensor:
        vals = [x, p[0], p[1], c]
        for kind, which, i, j in prog:
            vals.append(UNARY[which](vals[i]) if kind == 0 else
                        BINARY[which % len(BINARY)](vals[i], vals[j]))
        return vals[-1].sum() + (vals[len(vals) // 2] * 0.5).sum()  # a final diamond

    step = mg.compile(f)
    for _ in range(2):  # the trace, then a replay on new data
        x = mg.Tensor(rng.standard_normal((2, 3)).astype(dtype))
        got = step(x)
        if got.requires_grad:
            got.backward()
        cg = [q.grad for q in p]
        for q in p:
            q.grad = None
        want = f(x)
        if want.requires_grad:
            want.backward()
        assert _same(got.data, want.data)
        for a, q in zip(cg, p):
            assert (a is None and q.grad is None) or _same(a.data, q.grad.data)
        for q in p:
            q.grad = None


@pytest.mark.parametrize("limit", [None, 7], ids=["default", "tiny pieces"])
def test_long_functions_run_in_pieces_of_fewer_than_256_locals_bit_for_bit(
        limit: int | None, monkeypatch: Any) -> None:
    plan_module = importlib.import_module("minigrad.compiler.plan")
    if limit is not None:
        monkeypatch.setattr(plan_module, "MAX_LOCALS", limit)
    rng = np.random.default_rng(0)
    w = mg.Tensor(rng.standard_normal((4, 4)).astype(np.float32), requires_grad=True)
    c = mg.Tensor(rng.standard_normal((4, 4)).astype(np.float32))
    n = 900 if limit is None else 60  # the default: some 300 tanh outputs the backward reads

    def f(x: mg.Tensor) -> mg.Tensor:
        h = x
        for k in range(n):
            h = mg.tanh(h) if k % 3 == 2 else (h + w if k % 3 == 0 else h * c)
        return (h * 0.5).sum()

    step = mg.compile(f)
    for _ in range(2):  # the trace, then a replay on new data
        x = mg.Tensor(rng.standard_normal((4, 4)).astype(np.float32), requires_grad=True)
        got = step(x)
        got.backward()
        gw, gx = w.grad, x.grad
        w.grad = x.grad = None
        want = f(x)
        want.backward()
        assert _same(got.data, want.data)
        assert _same(gw.data, w.grad.data) and _same(gx.data, x.grad.data)
        w.grad = None
    plan = step.plan
    assert "def _forward_1(" in plan.source and "def _backward_1(" in plan.source
    made = [v.__code__ for v in plan._ns.values() if callable(v) and hasattr(v, "__code__")
            and v.__code__.co_filename.startswith("<minigrad.compile")]
    assert len(made) > 4 and max(co.co_nlocals for co in made) < 256


# ----------------------------------------------------------------------------- guards


def test_other_shapes_or_dtypes_retrace_and_say_so(capsys: Any) -> None:
    mg.manual_seed(0)
    model = mg.nn.MLP([8, 6, 4])
    step = mg.compile(lambda x, t: F.cross_entropy(model(x), t), verbose=True)
    X, y = _mlp_data(n=16)
    step(mg.Tensor(X), y)
    step(mg.Tensor(X), y)
    assert step.traces == 1
    X2, y2 = _mlp_data(n=7)
    loss = step(mg.Tensor(X2), y2)
    assert step.traces == 2
    assert _same(loss.data, F.cross_entropy(model(mg.Tensor(X2)), y2).data)
    step(mg.Tensor(X.astype(np.float64)), y)
    assert step.traces == 3
    out = capsys.readouterr().out
    assert "tracing" in out and "argument 0 is Tensor (7, 8) float32, traced with " \
        "Tensor (16, 8) float32" in out and "float64" in out


@pytest.mark.parametrize("branch", [
    lambda t: bool(t.sum() > 0),
    lambda t: t.sum().item(),
    lambda t: float(t.mean()),
    lambda t: 1 if t.sum() > 0 else 0,
], ids=["bool", "item", "float", "if"])
def test_value_dependent_control_flow_is_an_error_naming_the_line(branch: Any) -> None:
    w = mg.Tensor(np.ones(3), requires_grad=True)

    def f(x: mg.Tensor) -> mg.Tensor:
        y = x * w
        branch(y)
        return y.sum()

    step = mg.compile(f)
    with pytest.raises(TraceError, match=r"test_compile\.py.*line \d+") as e:
        step(mg.Tensor(np.arange(3.0)))
    assert "control flow" in str(e.value)


def test_control_flow_on_constants_is_allowed() -> None:
    k = mg.Tensor(np.array(2.0))
    w = mg.Tensor(np.ones(3), requires_grad=True)
    step = mg.compile(lambda x: (x * w).sum() * (2.0 if k.item() > 1 else 3.0))
    assert _same(step(mg.Tensor(np.ones(3))).data, np.asarray(6.0))


def test_comparisons_and_argmax_are_recomputed_at_every_replay() -> None:
    w = mg.Tensor(np.ones(4), requires_grad=True)

    def f(x: mg.Tensor) -> tuple[mg.Tensor, mg.Tensor]:
        mask = x > 0
        acc = (x.argmax(-1) == 1).astype("float64").mean()
        return (x * w * mask).sum(), acc

    step = mg.compile(f)
    for data in ([[1.0, 2.0, -1.0, 0.0]], [[-1.0, 5.0, 3.0, 2.0]], [[4.0, -1.0, -2.0, 1.0]]):
        x = mg.Tensor(np.array(data))
        got, acc = step(x)
        want, wacc = f(x)
        assert _same(got.data, want.data) and _same(acc.data, wacc.data)


def test_optimizer_updates_are_seen_and_replaced_arrays_too() -> None:
    w = mg.Tensor(np.ones(3), requires_grad=True)
    step = mg.compile(lambda x: (x * w).sum())
    x = mg.Tensor(np.arange(3.0))
    assert step(x).item() == 3.0
    opt = mg.optim.SGD([w], lr=1.0)
    step(x).backward()
    opt.step()
    assert _same(step(x).data, (x * w).sum().data)
    w.data = np.zeros(3)  # a new array, e.g. load_state_dict
    assert step(x).item() == 0.0
    w.data = np.zeros(4)
    with pytest.raises(ValueError):  # retraced: eager's own error for the new shape
        step(x)


def test_a_constant_changed_in_place_is_retraced() -> None:
    c = mg.Tensor(np.ones(3))
    w = mg.Tensor(np.ones(3), requires_grad=True)
    step = mg.compile(lambda x: (x * w * c).sum())
    x = mg.Tensor(np.ones(3))
    step(x)
    with mg.no_grad():
        c.mul_(2.0)
    assert step(x).item() == 6.0 and step.traces == 2


def test_in_place_changes_and_random_draws_inside_are_errors() -> None:
    w = mg.Tensor(np.ones(3), requires_grad=True)

    def inplace(x: mg.Tensor) -> mg.Tensor:
        y = x * w
        y.add_(1.0)
        return y.sum()

    with pytest.raises(TraceError, match="in place"):
        mg.compile(inplace)(mg.Tensor(np.ones(3)))
    drop = mg.nn.Dropout(0.5)
    with pytest.raises(TraceError, match="random"):
        mg.compile(lambda x: drop(x * w).sum())(mg.Tensor(np.ones(3)))
    drop.eval()
    assert mg.compile(lambda x: drop(x * w).sum())(mg.Tensor(np.ones(3))).item() == 3.0


def test_copies_and_detached_values_are_replayed_and_cut_from_backward() -> None:
    w = mg.Tensor(np.ones(3), requires_grad=True)

    def f(x: np.ndarray) -> mg.Tensor:
        h = mg.Tensor(x, dtype="float64") * w  # a copy of the argument, made inside
        return (h * h.detach() + h * h.data).sum()  # the detached factors pass no gradient

    step = mg.compile(f)
    for data in (np.arange(3.0), np.array([2.0, -1.0, 0.5])):
        got = step(data)
        got.backward()
        g = w.grad.data.copy()
        w.grad = None
        want = f(data)
        want.backward()
        assert _same(got.data, want.data) and _same(g, w.grad.data)
        w.grad = None


def test_a_copy_made_out_of_sight_would_bake_the_argument_in() -> None:
    w = mg.Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(TraceError, match="copied"):
        mg.compile(lambda x: (mg.Tensor(np.array(x)) * w).sum())(np.arange(3.0))


def test_no_grad_replays_without_history() -> None:
    mg.manual_seed(0)
    model = mg.nn.MLP([8, 6, 4])
    step = mg.compile(lambda x, t: F.cross_entropy(model(x), t))
    X, y = _mlp_data()
    with mg.no_grad():
        a = step(mg.Tensor(X), y)
        b = step(mg.Tensor(X), y)
    assert not a.requires_grad and a._ctx is None and _same(a.data, b.data)
    c = step(mg.Tensor(X), y)
    assert c.requires_grad and step.traces == 2 and _same(a.data, c.data)
    assert not step.plans[next(iter(step.plans))].graph.graph["grads"]


def test_detect_anomaly_names_the_op_and_line_in_forward_and_backward() -> None:
    w = mg.Tensor(np.array([1.0, 1.0]), requires_grad=True)
    step = mg.compile(lambda x: (x * w).sqrt().sum())
    with mg.detect_anomaly(), np.errstate(all="ignore"):
        step(mg.Tensor(np.array([1.0, 4.0])))  # traced on finite values
        with pytest.raises(FloatingPointError, match=r"'sqrt'.*\n.*test_compile\.py.*lambda"):
            step(mg.Tensor(np.array([-1.0, 1.0])))  # replayed: NaN in forward
        loss = step(mg.Tensor(np.array([0.0, 1.0])))  # √0 is fine, its VJP δ/(2·0) is not
        with pytest.raises(FloatingPointError, match=r"VJP of op 'sqrt'.*\n.*test_compile"):
            loss.backward()
        assert w.grad is None  # nothing written, as in eager
    assert step.traces == 1
    with np.errstate(all="ignore"):
        step(mg.Tensor(np.array([-1.0, 1.0])))  # anomaly mode off: another plan, no checks
    assert step.traces == 2


def test_numpy_views_of_arguments_are_made_again_and_numpy_copies_are_errors() -> None:
    mg.manual_seed(0)
    model = mg.nn.MLP([8, 6, 4])
    step = mg.compile(lambda x, t: F.cross_entropy(model(x.reshape(-1, 8)), t.reshape(-1)))
    for seed in range(3):
        X, y = _mlp_data(seed=seed)
        X3, y3 = X.reshape(4, 4, 8), y.reshape(4, 4)
        got = step(mg.Tensor(X3), y3)
        assert _same(got.data, F.cross_entropy(model(mg.Tensor(X)), y).data)
    assert step.traces == 1
    with pytest.raises(TraceError, match="copied"):
        mg.compile(lambda x, t: F.cross_entropy(model(x), t + 0))(mg.Tensor(X), y)


# ----------------------------------------------------------------------------- the examples


def _train_pair(make: Callable[[], Any], loss: Callable[..., Any], batches: list[Any],
                opt: str = "Adam", lr: float = 1e-2) -> None:
    """Trains a model eagerly and its copy compiled on the same batches, asserting equal bits
    for every loss, every gradient and the weights after every update."""
    eager = make()
    model = copy.deepcopy(eager)
    step = mg.compile(lambda *a: loss(model, *a))
    o_e = getattr(mg.optim, opt)(eager.parameters(), lr=lr)
    o_c = getattr(mg.optim, opt)(model.parameters(), lr=lr)
    for batch in batches:
        o_e.zero_grad()
        o_c.zero_grad()
        le, lc = loss(eager, *batch), step(*batch)
        assert _same(le.data, lc.data)
        le.backward()
        lc.backward()
        for p, q in zip(eager.parameters(), model.parameters()):
            assert _same(p.grad.data, q.grad.data)
        o_e.step()
        o_c.step()
        for p, q in zip(eager.parameters(), model.parameters()):
            assert _same(p.data, q.data)
    assert step.traces == 1


def test_transformer_training_is_bit_identical_to_eager() -> None:
    from minigrad.models.transformer import TinyTransformer

    mg.manual_seed(0)
    rng = np.random.default_rng(0)
    batches = [(rng.integers(0, 11, (4, 8)), rng.integers(0, 11, (4, 8))) for _ in range(3)]
    _train_pair(
        lambda: TinyTransformer(vocab_size=11, block_size=8, embed_dim=16, num_heads=2,
                                num_layers=2),
        lambda m, x, t: F.cross_entropy(m(x).reshape(-1, 11), t.reshape(-1)), batches)


def test_cnn_training_is_bit_identical_to_eager() -> None:
    from minigrad.models.cnn import DigitsCNN

    mg.manual_seed(0)
    rng = np.random.default_rng(0)
    batches = [(mg.Tensor(rng.standard_normal((4, 1, 8, 8)).astype(np.float32)),
                rng.integers(0, 10, 4)) for _ in range(3)]
    _train_pair(lambda: DigitsCNN(channels=(4, 6)),
                lambda m, x, t: F.cross_entropy(m(x), t), batches, opt="SGD", lr=0.1)


def test_batchnorm_compiles_in_eval_mode_and_refuses_training_mode() -> None:
    nn = mg.nn
    mg.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 4))
    X, y = _mlp_data()
    with pytest.raises(TraceError, match="in place"):  # the running estimates move
        mg.compile(lambda x, t: F.cross_entropy(model(x), t))(mg.Tensor(X), y)
    model.eval()
    step = mg.compile(lambda x, t: F.cross_entropy(model(x), t))
    got = step(mg.Tensor(X), y)
    assert _same(got.data, F.cross_entropy(model(mg.Tensor(X)), y).data)
