r"""The op mapping table of the export: for each registry op, the ONNX node (or the small fixed
pattern of nodes) that computes it, and which axis of the result is the batch.

A handler takes the `Emitter`, the result Tensor (its op and inputs in ``t._ctx``), the
`Value` of each input and the op's parameters, adds its nodes and returns the result's `Value`.
`HANDLERS` maps op names to handlers; `supported_ops` lists them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from minigrad.ops.registry import rule_for
from minigrad.tensor import Tensor


class ExportError(ValueError):
    """The forward call cannot be written as ONNX: an op without a mapping, or a setting the
    mapping cannot express. Raised before anything is written."""


# --------------------------------------------------------------------------- the emitter
@dataclass
class Emitter:
    """Collects ONNX nodes and initializers while the graph is walked."""

    onnx: Any
    dynamic: bool
    nodes: list[Any] = field(default_factory=list)
    initializers: list[Any] = field(default_factory=list)
    used: set[str] = field(default_factory=set)
    counter: int = 0
    where: str = ""  # the node being emitted: for errors and node names
    buffers: dict[str, np.ndarray] = field(default_factory=dict)
    written: set[str] = field(default_factory=set)

    def fresh(self, hint: str) -> str:
        """A value name not used yet."""
        name = hint
        while name in self.used:
            self.counter += 1
            name = f"{hint}_{self.counter}"
        self.used.add(name)
        return name

    def node(self, op_type: str, inputs: Sequence[str], n_out: int = 1, **attrs: Any) -> Any:
        outs = [self.fresh(f"{self.where}/{op_type}") for _ in range(n_out)]
        self.nodes.append(self.onnx.helper.make_node(
            op_type, list(inputs), outs, name=self.fresh(f"{self.where}/{op_type}#node"),
            **attrs))
        return outs[0] if n_out == 1 else outs

    def const(self, value: Any, dtype: Any = None, hint: str = "const") -> str:
        """An initializer holding `value` (a constant of the graph)."""
        arr = np.asarray(value, dtype=dtype)
        name = self.fresh(f"{self.where}/{hint}" if self.where else hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(arr, name))
        return name

    def ints(self, values: Sequence[int], hint: str = "ints") -> str:
        return self.const(np.asarray(list(values), dtype=np.int64), hint=hint)

    def fail(self, why: str) -> ExportError:
        return ExportError(f"export: {self.where}: {why}")

    def buffer(self, t: Tensor, key: str, arr: Any) -> str:
        """The initializer of a buffer an op took as a parameter (batch norm's running
        statistics): under its dotted name when the op ran inside the module that owns it."""
        arr = np.asarray(arr)
        name = f"{t.module}.{key}" if t.module else key
        own = self.buffers.get(name)
        if own is not None and own.shape == arr.shape and np.array_equal(own, arr):
            if name not in self.written:
                self.written.add(name)
                self.used.add(name)
                self.initializers.append(self.onnx.numpy_helper.from_array(arr, name))
            return name
        return self.const(arr, hint=key)


@dataclass
class Value:
    """What the walk knows of a tensor: its ONNX name and which of its axes is the batch
    (None: it does not depend on the batch size)."""

    name: str
    batch_axis: int | None


Handler = Callable[[Emitter, Tensor, list[Value], dict[str, Any]], Value]
HANDLERS: dict[str, Handler] = {}


def _maps(*names: str) -> Callable[[Handler], Handler]:
    return rule_for(HANDLERS, *names)


def supported_ops() -> list[str]:
    """The registry ops `export` can write, sorted."""
    return sorted(HANDLERS)


def _aligned(t: Tensor, ins: list[Value], tensors: Sequence[Tensor]) -> int | None:
    """The batch axis of a result whose axes line up with its inputs' from the right (numpy
    broadcasting, matmul's leading axes)."""
    for v, x in zip(ins, tensors):
        if v.batch_axis is not None:
            return t.ndim - (x.ndim - v.batch_axis)
    return None


# --------------------------------------------------------------------------- dtypes
_ELEM = {"float32": "FLOAT", "float64": "DOUBLE", "float16": "FLOAT16", "int64": "INT64",
         "int32": "INT32", "int16": "INT16", "int8": "INT8", "uint8": "UINT8", "bool": "BOOL"}


def elem_type(onnx: Any, dtype: Any) -> int:
    name = np.dtype(dtype).name
    if name not in _ELEM:
        raise ExportError(f"export: no ONNX element type for dtype {name}")
    return int(getattr(onnx.TensorProto, _ELEM[name]))


# --------------------------------------------------------------------------- elementwise
_BINARY = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow",
           "maximum": "Max", "minimum": "Min"}
_UNARY = {"neg": "Neg", "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "abs": "Abs",
          "tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu", "softplus": "Softplus"}


@_maps(*_BINARY)
def _binary(e: Emitter, t: Tensor, ins: list[Value], p: dict[str, Any]) -> Value:
    op = t._ctx.op.name  # type: ignore[union-attr]
    return Value(e.node(_BINARY[op], [v.name for v in ins]),
                  _aligned(t, ins, t._ctx.inputs))  # type: ignore[union-attr]


@_maps(*_UNARY)
def _unary(e: Emitter, t: Tensor, ins: list[Value], p: dict[str, Any]) -> Value:
    return Value(e.node(_UNARY[t._ctx.op.name], [ins[0].name]),  # type: ignore[union-attr]
                  ins[0].batch_axis)


@_maps("leaky_relu")
def _leaky_relu(e: Emitter, t: Tensor, ins: list[Value], p: dict[str, Any]) -> Value:
    alpha = float(p.get("negative_slope", 0.01))
    if t.dtype == np.float64 and 0 <= alpha <= 1:
        # an ONNX attribute is a float32: max(a, α a) keeps α in double precision
        scaled = e.node("Mul", [ins[0].name, e.const(alpha, t.dtype, "alpha")])
        return Value(e.node("Max", [ins[0].name, scaled]), ins[0].batch_axis)
    return Value(e.node("LeakyRelu", [ins[0].name], alpha=alpha), ins[0].batch_axis)


@_maps("gelu")
def _gelu(e: Emitter, t: Tensor, ins: list[Value], p: dict[str, Any]) -> Value:
    """½a(1 + tanh(√(2/π)(a + 0.044715a³))): the tanh approximation, as minigrad's."""
    a, dt = ins[0].name, t.dtype
    cube = e.node("Mul", [e.node("Mul", [a, a]), a])
    inner = e.node("Add", [a, e.node("Mul", [cube, e.const(0.044715, dt)])])
    th = e.node("Tanh", [e.node("Mul", [inner, e.const(math.sqrt(2.0 / math.pi), dt)])])
    half_a = e.node("Mul", [a, e.const(0.5, dt)])
    return Value(e.node("Mul", [half_a, e.node("Add", [th, e.const(1.0, dt)])]),
                  ins[0].batch_axis)


@_maps("clip")
def _clip(e: Emitter, t: Tensor, ins: list[Value], p: dict[str, Any]) -> Value:
    lo, hi = p.get("min"), p.get("max")
    args = [ins[0].name, "" if lo is None else e.const(lo, t.dtype, "min"),
            "" if hi is None else e.const(hi, t.dtype, "max")]
    while args[-1] == "":
        args.pop()
    return Value(e.node("Clip", args), ins[0].batch_axis)


@_maps("where")
def _where(e: Emitter, t: Tensor, ins: list[Value], p: dict[str, Any]) -> Value:
    return Value(e.node("Where", [v.name for v in ins]),
                  _aligned(t, ins, t._ctx.inputs))  # type: ignore[union-attr]


@_maps("masked_fill")
def _masked_fill(e: Emitter, t: Tensor, ins: list[Value], p: dict[str, Any]) -> Value:
    value = e.const(p.get("value", 0.0), t.dtype, "value")
    return Value(e.node("Where", [ins[1].name, value, ins[0].name]), ins[0].batch_axis)


@_maps("astype")
def _astype(e: Emitter, t: Tensor, ins: list[Value], p: dict[str, Any]) -> Value:
    return Value(e.node("Cast", [ins[0].name], to=elem_type(e.onnx, t.dtype)),
                  ins[0].batch_axis)


# --------------------------------------------------------------------------- linear algebra
@_maps("matmul")
def _matmul(e: Emitter, t: Tensor, ins: list[Value], p: dict[str, Any]) -> Value:
    return Value(e.node("MatMul", [ins[0].name, ins[1].name]),
                  _aligned(t, ins, t._ctx.inputs))  # type: ignore[union-attr]


@_maps("linear")
def _linear(e: Emitter, t: Tensor, ins: list[Value], p: dict[str, Any]) -> Value:
    """A = H Wᵀ + b: one Gemm for a batch of rows, else MatMul by Wᵀ then Add."""
    h = t._ctx.inputs[0]  # type: ignore[union-attr]
    names = [v.name for v in ins]
    if h.ndim == 2:
        return Value(e.node("Gemm", names, transB=1), ins[0].batch_axis)
    out = e.node("MatMul", [names[0], e.node("Transpose", [names[1]], perm=[1, 0])])
    if len(names) == 3:
        out = e.node("Add", [out, names[2]])
    return Value(out, ins[0].batch_axis)


@_maps("softmax", "log_softmax")
def _softmax(e: Emitter, t: Tensor, ins: list[Value], p: dict[str, Any]) -> Value:
    kind = "Softmax" if t._ctx.op.name == "softmax" else "LogSoftmax"  # type: ignore[union-attr]
    return Value(e.node(kind, [ins[0].name], axis=int(p.get("axis", -1))), ins[0].batch_axis)


@_maps("scaled_dot_product_attention")
def _attention(e: Emitter, t: Tensor, ins: list[Value], p: dict[str, Any]) -> Value:
    """softmax(QKᵀ·scale + mask) V: MatMul, Mul, (Where or Add), Softmax, MatMul. A boolean
    mask (or the causal one) sets blocked scores to −∞ and, after the softmax, their weights to
    0, so a row with nothing to attend to gives zeros, as minigrad's op."""
    q, k, v = t._ctx.inputs[:3]  # type: ignore[union-attr]
    dt = t.dtype
    L, S = q.shape[-2], k.shape[-2]
    perm = list(range(k.ndim - 2)) + [k.ndim - 1, k.ndim - 2]
    scale = p.get("scale")
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    scores = e.node("Mul", [e.node("MatMul", [ins[0].name, e.node("Transpose", [ins[1].name],
                                                                  perm=perm)]),
                            e.const(scale, dt, "scale")])
    mask: str | None = None
    if p.get("is_causal"):
        mask = e.const(np.tril(np.ones((L, S), dtype=bool)), hint="causal_mask")
    elif len(ins) == 4:
        m = t._ctx.inputs[3]  # type: ignore[union-attr]
        if m.dtype == np.bool_:
            mask = ins[3].name
        else:
            scores = e.node("Add", [scores, ins[3].name])
    if mask is not None:
        scores = e.node("Where", [mask, scores, e.const(-np.inf, dt, "minus_inf")])
    weights = e.node("Softmax", [scores], axis=-1)
    if mask is not None:
        weights = e.node("Where", [mask, weights, e.const(0.0, dt, "zero")])
    return Value(e.node("MatMul", [weights, ins[2].name]),
                  _aligned(t, ins[:3], (q, k, v)))


# --------------------------------------------------------------------------- reductions
def _axes(axis: Any, ndim: int) -> list[int] | None:
    if axis is None:
        return None
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    return sorted(int(a) % ndim for a in items)


def _reduced_axis(bax: int | None, axes: list[int] | None, keepdims: bool) -> int | None:
    if bax is None or axes is None or bax in axes:
        return None
    return bax if keepdims else bax - sum(a < bax for a in axes)


def _reduce(e: Emitter, kind: str, name: str, axes: list[int] | None, keepdims: bool) -> str:
    if kind == "ReduceSum":  # axes are an input since opset 13
        args = [name] if axes is None else [name, e.ints(axes, "axes")]
        return e.node(kind, args, keepdims=int(keepdims))
    if axes is None:
        return e.node(kind, [name], keepdims=int(keepdims))
    return e.node(kind, [name], axes=axes, keepdims=int(keepdims))


_REDUCE = {"sum": "ReduceSum", "mean": "ReduceMean", "max": "ReduceMax", "min": "ReduceMin",
           "logsumexp": "ReduceLogSumExp"}


@_maps(*_REDUCE)
def _reduction(e: Emitter, t: Tensor, ins: list[Value], p: dict[str, Any]) -> Value:
    x = t._ctx.inputs[0]  # type: ignore[union-attr]
    axes, keep = _axes(p.get("axis"), x.ndim), bool(p.get("keepdims", False))
    kind = _REDUCE[t._ctx.op.name]  # type: ignore[union-attr]
    return Value(_reduce(e, kind, ins[0].name, axes, keep),
                  _reduced_axis(ins[0].batch_axis, axes, keep))


@_maps("var", "std")
def _variance(e: Emitter, t: Tensor, ins: list[Value], p: dict[str, Any]) -> Value:
    """mean((x − x̄)²)·n/(n − ddof), and its square root for std."""
    x = t._ctx.inputs[0]  # type: ignore[union-attr]
    axes, keep = _axes(p.get("axis"), x.ndim), bool(p.get("keepdims", False))
    ddof = int(p.get("ddof") or 0)
    centred = e.node("Sub", [ins[0].name, _reduce(e, "ReduceMean", ins[0].name, axes, True)])
    out = _reduce(e, "ReduceMean", e.node("Mul", [centred, centred]), axes, keep)
    if ddof:
        if e.dynamic and ins[0].batch_axis is not None and (
                axes is None or ins[0].batch_axis in axes):
            raise e.fail(f"a variance with ddof={ddof} over the batch axis depends on the batch "
                         f"size; export with dynamic_batch=False")
        n = x.numel() if axes is None else int(np.prod([x.shape[a] for a in axes]))
        out = e.node("Mul", [out, e.const(n / (n - ddof), t.dtype, "bessel")])
    if t._ctx.op.name == "std":  # type: ignore[union-attr]
        out = e.node("Sqrt", [out])
    return Value(out, _reduced_axis(ins[0].batch_axis, axes, keep))


# --------------------------------------------------------------------------- shapes
@_maps("reshape")
def _reshape(e: Emitter, t: Tensor, ins: list[Value], p: dict[str, Any]) -> Value:
    x = t._ctx.inputs[0]  # type: ignore[union-attr]
    shape = list(t.shape)
    bax = ins[0].batch_axis
    out_bax: int | None = None
    if e.dynamic and bax is not None:
        n = x.shape[bax]
        if bax == 0 and shape and shape[0] == n:
            shape[0], out_bax = 0, 0  # 0: this axis as in the input
        elif bax == 0 and shape and shape[0] % n == 0 and \
                (x.numel() // n) % max(1, int(np.prod(shape[1:]))) == 0:
            shape[0], out_bax = -1, 0  # the batch merged into the first axis
        else:
            raise e.fail(f"reshape of {tuple(x.shape)} to {tuple(t.shape)} moves the batch axis "
                         f"(axis {bax}) away from the front; export with dynamic_batch=False")
    return Value(e.node("Reshape", [ins[0].name, e.ints(shape, "shape")]), out_bax)


@_maps("transpose")
def _transpose(e: Emitter, t: Tensor, ins: list[Value], p: dict[str, Any]) -> Value:
    x = t._ctx.inputs[0]  # type: ignore[union-attr]
    axes = p.get("axes")
    perm = list(range(x.ndim))[::-1] if axes is None else [int(a) % x.ndim for a in axes]
    bax = ins[0].batch_axis
    return Value(e.node("Transpose", [ins[0].name], perm=perm),
                  None if bax is None else perm.index(bax))


@_maps("squeeze")
def _squeeze(e: Emitter, t: Tensor, ins: list[Value], p: dict[str, Any]) -> Value:
    x = t._ctx.inputs[0]  # type: ignore[union-attr]
    bax = ins[0].batch_axis
    axes = _axes(p.get("axis"), x.ndim)
    if axes is None:
        axes = [i for i, n in enumerate(x.shape) if n == 1 and i != bax]
    if bax is not None and bax in axes and e.dynamic:
        raise e.fail("squeeze removes the batch axis; export with dynamic_batch=False")
    out = e.node("Squeeze", [ins[0].name, e.ints(axes, "axes")])
    return Value(out, None if bax is None else bax - sum(a < bax for a in axes))


@_maps("unsqueeze")
def _unsqueeze(e: Emitter, t: Tensor, ins: list[Value], p: dict[str, Any]) -> Value:
    axes = _axes(p.get("axis"), t.ndim) or []
    bax = ins[0].batch_axis
    if bax is not None:
        for a in axes:
            if a <= bax:
                bax += 1
    return Value(e.node("Unsqueeze", [ins[0].name, e.ints(axes, "axes")]), bax)


@_maps("broadcast_to")
def _broadcast_to(e: Emitter, t: Tensor, ins: list[Value], p: dict[str, Any]) -> Value:
    shape = list(t.shape)
    bax = _aligned(t, ins, t._ctx.inputs)  # type: ignore[union-attr]
    if bax is not None and e.dynamic:
        shape[bax] = 1  # Expand keeps the input's own size where the target says 1
    return Value(e.node("Expand", [ins[0].name, e.ints(shape, "shape")]), bax)


@_maps("concatenate", "stack")
def _join(e: Emitter, t: Tensor, ins: list[Value], p: dict[str, Any]) -> Value:
    axis = int(p.get("axis", 0)) % t.ndim
    names = [v.name for v in ins]
    baxes = {v.batch_axis for v in ins}
    if e.dynamic and len(baxes) > 1:
        raise e.fail("joins tensors of which only some depend on the batch; export with "
                     "dynamic_batch=False")
    bax = baxes.pop()
    if t._ctx.op.name == "stack":  # type: ignore[union-attr]
        names = [e.node("Unsqueeze", [n, e.ints([axis], "axes")]) for n in names]
        if bax is not None and axis <= bax:
            bax += 1
    elif e.dynamic and bax == axis:
        raise e.fail("concatenates along the batch axis; export with dynamic_batch=False")
    return Value(e.node("Concat", names, axis=axis), bax)


@_maps("getitem")
def _getitem(e: Emitter, t: Tensor, ins: list[Value], p: dict[str, Any]) -> Value:
    """Basic indexing (ints, slices, None, ...): one Slice, a Gather per int, an Unsqueeze."""
    x = t._ctx.inputs[0]  # type: ignore[union-attr]
    index = p["index"]
    items = list(index) if isinstance(index, tuple) else [index]
    for it in items:
        if not (it is None or it is Ellipsis or isinstance(it, slice)
                or (isinstance(it, (int, np.integer)) and not isinstance(it, bool))):
            raise e.fail(f"indexing with {type(it).__name__} (advanced indexing) has no ONNX "
                         f"mapping here; only ints, slices, None and ... do")
    used = sum(it is not None and it is not Ellipsis for it in items)
    if Ellipsis in items:
        i = items.index(Ellipsis)
        items[i:i + 1] = [slice(None)] * (x.ndim - used)
    items += [slice(None)] * (x.ndim - sum(it is not None for it in items))
    bax = ins[0].batch_axis
    starts, ends, steps, sl_axes, gathers, news = [], [], [], [], [], []
    axis = out_pos = 0
    out_bax: int | None = None
    for it in items:
        if it is None:
            news.append(out_pos)
            out_pos += 1
            continue
        n = x.shape[axis]
        if isinstance(it, slice):
            if axis == bax:
                out_bax = out_pos
            if it != slice(None) and it != slice(None, None, 1):
                if e.dynamic and axis == bax:
                    raise e.fail("slices the batch axis; export with dynamic_batch=False")
                start, stop, step = it.indices(n)
                if step < 0 and stop < 0:
                    stop = -(2 ** 63)  # "before the first element", which −1 would not mean
                starts.append(start)
                ends.append(stop)
                steps.append(step)
                sl_axes.append(axis)
            out_pos += 1
        else:
            if e.dynamic and axis == bax:
                raise e.fail("picks one element of the batch axis; export with "
                             "dynamic_batch=False")
            gathers.append((axis, int(it) % n))
        axis += 1
    name = ins[0].name
    if sl_axes:
        name = e.node("Slice", [name, e.ints(starts, "starts"), e.ints(ends, "ends"),
                                e.ints(sl_axes, "axes"), e.ints(steps, "steps")])
    for ax, i in sorted(gathers, reverse=True):  # the last first: earlier axes keep numbers
        name = e.node("Gather", [name, e.const(np.int64(i), hint="index")], axis=ax)
    if news:
        name = e.node("Unsqueeze", [name, e.ints(news, "axes")])
    return Value(name, out_bax)


@_maps("pad")
def _pad(e: Emitter, t: Tensor, ins: list[Value], p: dict[str, Any]) -> Value:
    x = t._ctx.inputs[0]  # type: ignore[union-attr]
    flat = list(p["pad"])
    begin, end = [0] * x.ndim, [0] * x.ndim
    for i in range(len(flat) // 2):  # PyTorch's order: the last axis first
        begin[x.ndim - 1 - i], end[x.ndim - 1 - i] = flat[2 * i], flat[2 * i + 1]
    return Value(e.node("Pad", [ins[0].name, e.ints(begin + end, "pads"),
                                 e.const(p.get("value", 0.0), t.dtype, "value")]),
                  ins[0].batch_axis)


# --------------------------------------------------------------------------- layers
@_maps("conv1d", "conv2d")
def _conv(e: Emitter, t: Tensor, ins: list[Value], p: dict[str, Any]) -> Value:
    pads = list(p["padding"]) * 2
    return Value(e.node("Conv", [v.name for v in ins], strides=list(p["stride"]), pads=pads,
                         dilations=list(p["dilation"]), group=int(p["groups"])),
                  ins[0].batch_axis)


@_maps("max_pool2d")
def _max_pool(e: Emitter, t: Tensor, ins: list[Value], p: dict[str, Any]) -> Value:
    return Value(e.node("MaxPool", [ins[0].name], kernel_shape=list(p["kernel_size"]),
                         strides=list(p["stride"]), pads=list(p["padding"]) * 2,
                         dilations=list(p.get("dilation", (1, 1)))), ins[0].batch_axis)


@_maps("avg_pool2d")
def _avg_pool(e: Emitter, t: Tensor, ins: list[Value], p: dict[str, Any]) -> Value:
    return Value(e.node("AveragePool", [ins[0].name], kernel_shape=list(p["kernel_size"]),
                         strides=list(p["stride"]), pads=list(p["padding"]) * 2,
                         count_include_pad=1), ins[0].batch_axis)


@_maps("batch_norm")
def _batch_norm(e: Emitter, t: Tensor, ins: list[Value], p: dict[str, Any]) -> Value:
    if p.get("training"):
        raise e.fail("batch_norm uses the batch's statistics (training mode, or a layer with "
                     "track_running_stats=False); only evaluation with running statistics "
                     "exports")
    x = t._ctx.inputs[0]  # type: ignore[union-attr]
    C, dt = x.shape[1], t.dtype
    scale = ins[1].name if len(ins) > 1 else e.const(np.ones(C), dt, "scale")
    bias = ins[2].name if len(ins) > 2 else e.const(np.zeros(C), dt, "bias")
    stats = [e.buffer(t, key, p[key]) for key in ("running_mean", "running_var")]
    return Value(e.node("BatchNormalization", [ins[0].name, scale, bias, *stats],
                         epsilon=float(p.get("eps", 1e-5))), ins[0].batch_axis)


@_maps("layer_norm")
def _layer_norm(e: Emitter, t: Tensor, ins: list[Value], p: dict[str, Any]) -> Value:
    ns = tuple(p["normalized_shape"])
    scale = ins[1].name if len(ins) > 1 else e.const(np.ones(ns), t.dtype, "scale")
    args = [ins[0].name, scale] + ([ins[2].name] if len(ins) > 2 else [])
    return Value(e.node("LayerNormalization", args, axis=-len(ns),
                         epsilon=float(p.get("eps", 1e-5))), ins[0].batch_axis)


@_maps("embedding")
def _embedding(e: Emitter, t: Tensor, ins: list[Value], p: dict[str, Any]) -> Value:
    return Value(e.node("Gather", [ins[1].name, ins[0].name], axis=0), ins[0].batch_axis)


REFUSED = {
    "dropout": "dropout is active: the export runs a model in evaluation mode, so this one was "
               "called with training=True explicitly; an inference graph has no dropout",
}
"""Ops that have an ONNX counterpart but no place in an exported inference graph."""
