r"""ONNX export: a model (or a function) as an ONNX file that ONNX Runtime runs and Netron draws.

`export` runs one forward call and turns minigrad's own graph of it (`minigrad.graph`: a
networkx DAG, walked in topological order) into an ONNX graph: one ONNX node per registry op,
or a small fixed pattern of them (attention is MatMul, Mul, Where, Softmax, MatMul), and one
initializer per parameter or buffer under its dotted name (``layers.0.weight``,
``0.running_mean``). Nothing is traced through Python: the file holds exactly the ops the
diagrams show.

The export is made in evaluation mode (dropout off, batch norm with its running statistics),
whatever mode the model is in; the model is left in the mode it was in. With
``dynamic_batch`` the first axis of every input is a symbolic ``batch`` dimension, so the file
runs on any batch size.

Needs the ``onnx`` package (``pip install minigrad[onnx]``); ``onnxruntime`` runs the result.

Example::

    import minigrad.onnx
    minigrad.onnx.export(model, np.zeros((1, 2), np.float32), "model.onnx")

    import onnxruntime as ort
    sess = ort.InferenceSession("model.onnx")
    logits = sess.run(None, {"input": x})[0]
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from minigrad.graph import build, topological_order
from minigrad.modes import enable_grad
from minigrad.nn.module import Module
from minigrad.tensor import Tensor

__all__ = ["export", "ExportError", "OPSET", "supported_ops", "load", "LoadError", "OnnxFunction"]

OPSET = 17
"""The ONNX opset the files use (LayerNormalization needs 17)."""


class ExportError(ValueError):
    """The forward call cannot be written as ONNX: an op without a mapping, or a setting the
    mapping cannot express. Raised before anything is written."""


def _onnx() -> Any:
    try:
        import onnx
    except ImportError as e:
        raise ImportError(
            "minigrad.onnx needs the onnx package: pip install 'minigrad[onnx]' (or pip install "
            "onnx)"
        ) from e
    return onnx


# --------------------------------------------------------------------------- the emitter
@dataclass
class _Emitter:
    """Collects ONNX nodes and initializers while the graph is walked."""

    onnx: Any
    dynamic: bool
    nodes: list[Any] = field(default_factory=list)
    initializers: list[Any] = field(default_factory=list)
    used: set[str] = field(default_factory=set)
    counter: int = 0
    where: str = ""  # the node being emitted: for errors and node names

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

    buffers: dict[str, np.ndarray] = field(default_factory=dict)
    written: set[str] = field(default_factory=set)

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
class _Value:
    """What the walk knows of a tensor: its ONNX name and which of its axes is the batch
    (None: it does not depend on the batch size)."""

    name: str
    batch_axis: int | None


Handler = Callable[[_Emitter, Tensor, list[_Value], dict[str, Any]], _Value]
_HANDLERS: dict[str, Handler] = {}


def _maps(*names: str) -> Callable[[Handler], Handler]:
    def register(f: Handler) -> Handler:
        for n in names:
            _HANDLERS[n] = f
        return f

    return register


def supported_ops() -> list[str]:
    """The registry ops `export` can write, sorted."""
    return sorted(_HANDLERS)


def _aligned(t: Tensor, ins: list[_Value], tensors: Sequence[Tensor]) -> int | None:
    """The batch axis of a result whose axes line up with its inputs' from the right (numpy
    broadcasting, matmul's leading axes)."""
    for v, x in zip(ins, tensors):
        if v.batch_axis is not None:
            return t.ndim - (x.ndim - v.batch_axis)
    return None


# --------------------------------------------------------------------------- elementwise
_BINARY = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "pow": "Pow",
           "maximum": "Max", "minimum": "Min"}
_UNARY = {"neg": "Neg", "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "abs": "Abs",
          "tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu", "softplus": "Softplus"}


@_maps(*_BINARY)
def _binary(e: _Emitter, t: Tensor, ins: list[_Value], p: dict[str, Any]) -> _Value:
    op = t._ctx.op.name  # type: ignore[union-attr]
    return _Value(e.node(_BINARY[op], [v.name for v in ins]),
                  _aligned(t, ins, t._ctx.inputs))  # type: ignore[union-attr]


@_maps(*_UNARY)
def _unary(e: _Emitter, t: Tensor, ins: list[_Value], p: dict[str, Any]) -> _Value:
    return _Value(e.node(_UNARY[t._ctx.op.name], [ins[0].name]),  # type: ignore[union-attr]
                  ins[0].batch_axis)


@_maps("leaky_relu")
def _leaky_relu(e: _Emitter, t: Tensor, ins: list[_Value], p: dict[str, Any]) -> _Value:
    alpha = float(p.get("negative_slope", 0.01))
    if t.dtype == np.float64 and 0 <= alpha <= 1:
        # an ONNX attribute is a float32: max(a, α a) keeps α in double precision
        scaled = e.node("Mul", [ins[0].name, e.const(alpha, t.dtype, "alpha")])
        return _Value(e.node("Max", [ins[0].name, scaled]), ins[0].batch_axis)
    return _Value(e.node("LeakyRelu", [ins[0].name], alpha=alpha), ins[0].batch_axis)


@_maps("gelu")
def _gelu(e: _Emitter, t: Tensor, ins: list[_Value], p: dict[str, Any]) -> _Value:
    """½a(1 + tanh(√(2/π)(a + 0.044715a³))): the tanh approximation, as minigrad's."""
    a, dt = ins[0].name, t.dtype
    cube = e.node("Mul", [e.node("Mul", [a, a]), a])
    inner = e.node("Add", [a, e.node("Mul", [cube, e.const(0.044715, dt)])])
    th = e.node("Tanh", [e.node("Mul", [inner, e.const(math.sqrt(2.0 / math.pi), dt)])])
    half_a = e.node("Mul", [a, e.const(0.5, dt)])
    return _Value(e.node("Mul", [half_a, e.node("Add", [th, e.const(1.0, dt)])]),
                  ins[0].batch_axis)


@_maps("clip")
def _clip(e: _Emitter, t: Tensor, ins: list[_Value], p: dict[str, Any]) -> _Value:
    lo, hi = p.get("min"), p.get("max")
    args = [ins[0].name, "" if lo is None else e.const(lo, t.dtype, "min"),
            "" if hi is None else e.const(hi, t.dtype, "max")]
    while args[-1] == "":
        args.pop()
    return _Value(e.node("Clip", args), ins[0].batch_axis)


@_maps("where")
def _where(e: _Emitter, t: Tensor, ins: list[_Value], p: dict[str, Any]) -> _Value:
    return _Value(e.node("Where", [v.name for v in ins]),
                  _aligned(t, ins, t._ctx.inputs))  # type: ignore[union-attr]


@_maps("masked_fill")
def _masked_fill(e: _Emitter, t: Tensor, ins: list[_Value], p: dict[str, Any]) -> _Value:
    value = e.const(p.get("value", 0.0), t.dtype, "value")
    return _Value(e.node("Where", [ins[1].name, value, ins[0].name]), ins[0].batch_axis)


@_maps("astype")
def _astype(e: _Emitter, t: Tensor, ins: list[_Value], p: dict[str, Any]) -> _Value:
    return _Value(e.node("Cast", [ins[0].name], to=_elem_type(e.onnx, t.dtype)),
                  ins[0].batch_axis)


# --------------------------------------------------------------------------- linear algebra
@_maps("matmul")
def _matmul(e: _Emitter, t: Tensor, ins: list[_Value], p: dict[str, Any]) -> _Value:
    return _Value(e.node("MatMul", [ins[0].name, ins[1].name]),
                  _aligned(t, ins, t._ctx.inputs))  # type: ignore[union-attr]


@_maps("linear")
def _linear(e: _Emitter, t: Tensor, ins: list[_Value], p: dict[str, Any]) -> _Value:
    """A = H Wᵀ + b: one Gemm for a batch of rows, else MatMul by Wᵀ then Add."""
    h = t._ctx.inputs[0]  # type: ignore[union-attr]
    names = [v.name for v in ins]
    if h.ndim == 2:
        return _Value(e.node("Gemm", names, transB=1), ins[0].batch_axis)
    out = e.node("MatMul", [names[0], e.node("Transpose", [names[1]], perm=[1, 0])])
    if len(names) == 3:
        out = e.node("Add", [out, names[2]])
    return _Value(out, ins[0].batch_axis)


@_maps("softmax", "log_softmax")
def _softmax(e: _Emitter, t: Tensor, ins: list[_Value], p: dict[str, Any]) -> _Value:
    kind = "Softmax" if t._ctx.op.name == "softmax" else "LogSoftmax"  # type: ignore[union-attr]
    return _Value(e.node(kind, [ins[0].name], axis=int(p.get("axis", -1))), ins[0].batch_axis)


@_maps("scaled_dot_product_attention")
def _attention(e: _Emitter, t: Tensor, ins: list[_Value], p: dict[str, Any]) -> _Value:
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
    return _Value(e.node("MatMul", [weights, ins[2].name]),
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


def _reduce(e: _Emitter, kind: str, name: str, axes: list[int] | None, keepdims: bool) -> str:
    if kind == "ReduceSum":  # axes are an input since opset 13
        args = [name] if axes is None else [name, e.ints(axes, "axes")]
        return e.node(kind, args, keepdims=int(keepdims))
    if axes is None:
        return e.node(kind, [name], keepdims=int(keepdims))
    return e.node(kind, [name], axes=axes, keepdims=int(keepdims))


_REDUCE = {"sum": "ReduceSum", "mean": "ReduceMean", "max": "ReduceMax", "min": "ReduceMin",
           "logsumexp": "ReduceLogSumExp"}


@_maps(*_REDUCE)
def _reduction(e: _Emitter, t: Tensor, ins: list[_Value], p: dict[str, Any]) -> _Value:
    x = t._ctx.inputs[0]  # type: ignore[union-attr]
    axes, keep = _axes(p.get("axis"), x.ndim), bool(p.get("keepdims", False))
    kind = _REDUCE[t._ctx.op.name]  # type: ignore[union-attr]
    return _Value(_reduce(e, kind, ins[0].name, axes, keep),
                  _reduced_axis(ins[0].batch_axis, axes, keep))


@_maps("var", "std")
def _variance(e: _Emitter, t: Tensor, ins: list[_Value], p: dict[str, Any]) -> _Value:
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
    return _Value(out, _reduced_axis(ins[0].batch_axis, axes, keep))


# --------------------------------------------------------------------------- shapes
@_maps("reshape")
def _reshape(e: _Emitter, t: Tensor, ins: list[_Value], p: dict[str, Any]) -> _Value:
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
    return _Value(e.node("Reshape", [ins[0].name, e.ints(shape, "shape")]), out_bax)


@_maps("transpose")
def _transpose(e: _Emitter, t: Tensor, ins: list[_Value], p: dict[str, Any]) -> _Value:
    x = t._ctx.inputs[0]  # type: ignore[union-attr]
    axes = p.get("axes")
    perm = list(range(x.ndim))[::-1] if axes is None else [int(a) % x.ndim for a in axes]
    bax = ins[0].batch_axis
    return _Value(e.node("Transpose", [ins[0].name], perm=perm),
                  None if bax is None else perm.index(bax))


@_maps("squeeze")
def _squeeze(e: _Emitter, t: Tensor, ins: list[_Value], p: dict[str, Any]) -> _Value:
    x = t._ctx.inputs[0]  # type: ignore[union-attr]
    bax = ins[0].batch_axis
    axes = _axes(p.get("axis"), x.ndim)
    if axes is None:
        axes = [i for i, n in enumerate(x.shape) if n == 1 and i != bax]
    if bax is not None and bax in axes and e.dynamic:
        raise e.fail("squeeze removes the batch axis; export with dynamic_batch=False")
    out = e.node("Squeeze", [ins[0].name, e.ints(axes, "axes")])
    return _Value(out, None if bax is None else bax - sum(a < bax for a in axes))


@_maps("unsqueeze")
def _unsqueeze(e: _Emitter, t: Tensor, ins: list[_Value], p: dict[str, Any]) -> _Value:
    axes = _axes(p.get("axis"), t.ndim) or []
    bax = ins[0].batch_axis
    if bax is not None:
        for a in axes:
            if a <= bax:
                bax += 1
    return _Value(e.node("Unsqueeze", [ins[0].name, e.ints(axes, "axes")]), bax)


@_maps("broadcast_to")
def _broadcast_to(e: _Emitter, t: Tensor, ins: list[_Value], p: dict[str, Any]) -> _Value:
    shape = list(t.shape)
    bax = _aligned(t, ins, t._ctx.inputs)  # type: ignore[union-attr]
    if bax is not None and e.dynamic:
        shape[bax] = 1  # Expand keeps the input's own size where the target says 1
    return _Value(e.node("Expand", [ins[0].name, e.ints(shape, "shape")]), bax)


@_maps("concatenate", "stack")
def _join(e: _Emitter, t: Tensor, ins: list[_Value], p: dict[str, Any]) -> _Value:
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
    return _Value(e.node("Concat", names, axis=axis), bax)


@_maps("getitem")
def _getitem(e: _Emitter, t: Tensor, ins: list[_Value], p: dict[str, Any]) -> _Value:
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
    return _Value(name, out_bax)


@_maps("pad")
def _pad(e: _Emitter, t: Tensor, ins: list[_Value], p: dict[str, Any]) -> _Value:
    x = t._ctx.inputs[0]  # type: ignore[union-attr]
    flat = list(p["pad"])
    begin, end = [0] * x.ndim, [0] * x.ndim
    for i in range(len(flat) // 2):  # PyTorch's order: the last axis first
        begin[x.ndim - 1 - i], end[x.ndim - 1 - i] = flat[2 * i], flat[2 * i + 1]
    return _Value(e.node("Pad", [ins[0].name, e.ints(begin + end, "pads"),
                                 e.const(p.get("value", 0.0), t.dtype, "value")]),
                  ins[0].batch_axis)


# --------------------------------------------------------------------------- layers
@_maps("conv1d", "conv2d")
def _conv(e: _Emitter, t: Tensor, ins: list[_Value], p: dict[str, Any]) -> _Value:
    pads = list(p["padding"]) * 2
    return _Value(e.node("Conv", [v.name for v in ins], strides=list(p["stride"]), pads=pads,
                         dilations=list(p["dilation"]), group=int(p["groups"])),
                  ins[0].batch_axis)


@_maps("max_pool2d")
def _max_pool(e: _Emitter, t: Tensor, ins: list[_Value], p: dict[str, Any]) -> _Value:
    return _Value(e.node("MaxPool", [ins[0].name], kernel_shape=list(p["kernel_size"]),
                         strides=list(p["stride"]), pads=list(p["padding"]) * 2,
                         dilations=list(p.get("dilation", (1, 1)))), ins[0].batch_axis)


@_maps("avg_pool2d")
def _avg_pool(e: _Emitter, t: Tensor, ins: list[_Value], p: dict[str, Any]) -> _Value:
    return _Value(e.node("AveragePool", [ins[0].name], kernel_shape=list(p["kernel_size"]),
                         strides=list(p["stride"]), pads=list(p["padding"]) * 2,
                         count_include_pad=1), ins[0].batch_axis)


@_maps("batch_norm")
def _batch_norm(e: _Emitter, t: Tensor, ins: list[_Value], p: dict[str, Any]) -> _Value:
    if p.get("training"):
        raise e.fail("batch_norm uses the batch's statistics (training mode, or a layer with "
                     "track_running_stats=False); only evaluation with running statistics "
                     "exports")
    x = t._ctx.inputs[0]  # type: ignore[union-attr]
    C, dt = x.shape[1], t.dtype
    scale = ins[1].name if len(ins) > 1 else e.const(np.ones(C), dt, "scale")
    bias = ins[2].name if len(ins) > 2 else e.const(np.zeros(C), dt, "bias")
    stats = [e.buffer(t, key, p[key]) for key in ("running_mean", "running_var")]
    return _Value(e.node("BatchNormalization", [ins[0].name, scale, bias, *stats],
                         epsilon=float(p.get("eps", 1e-5))), ins[0].batch_axis)


@_maps("layer_norm")
def _layer_norm(e: _Emitter, t: Tensor, ins: list[_Value], p: dict[str, Any]) -> _Value:
    ns = tuple(p["normalized_shape"])
    scale = ins[1].name if len(ins) > 1 else e.const(np.ones(ns), t.dtype, "scale")
    args = [ins[0].name, scale] + ([ins[2].name] if len(ins) > 2 else [])
    return _Value(e.node("LayerNormalization", args, axis=-len(ns),
                         epsilon=float(p.get("eps", 1e-5))), ins[0].batch_axis)


@_maps("embedding")
def _embedding(e: _Emitter, t: Tensor, ins: list[_Value], p: dict[str, Any]) -> _Value:
    return _Value(e.node("Gather", [ins[1].name, ins[0].name], axis=0), ins[0].batch_axis)


_REFUSED = {
    "dropout": "dropout is active: the export runs a model in evaluation mode, so this one was "
               "called with training=True explicitly; an inference graph has no dropout",
}
"""Ops that have an ONNX counterpart but no place in an exported inference graph."""


# --------------------------------------------------------------------------- the export
_ELEM = {"float32": "FLOAT", "float64": "DOUBLE", "float16": "FLOAT16", "int64": "INT64",
         "int32": "INT32", "int16": "INT16", "int8": "INT8", "uint8": "UINT8", "bool": "BOOL"}


def _elem_type(onnx: Any, dtype: Any) -> int:
    name = np.dtype(dtype).name
    if name not in _ELEM:
        raise ExportError(f"export: no ONNX element type for dtype {name}")
    return int(getattr(onnx.TensorProto, _ELEM[name]))


def _as_tensors(example_inputs: Any) -> list[Tensor]:
    """The example inputs as fresh Tensors: floating ones require grad, so that every op
    applied to them is recorded; integer ones (token indices) are recorded through the ops
    that also take a parameter."""
    items = list(example_inputs) if isinstance(example_inputs, (tuple, list)) else [
        example_inputs]
    if not items:
        raise ValueError("export: example_inputs is empty; give one array per input")
    out = []
    for i, a in enumerate(items):
        arr = a.data if isinstance(a, Tensor) else np.asarray(a)
        if arr.dtype.kind not in "fiub":
            raise TypeError(f"export: example input {i} has dtype {arr.dtype}; inputs are "
                            f"numeric arrays")
        if arr.dtype.kind == "f":
            out.append(Tensor(arr.copy(), requires_grad=True))
        else:
            out.append(Tensor(arr.copy()))
    return out


def _names(given: Sequence[str] | None, n: int, what: str) -> list[str]:
    if given is None:
        return [what] if n == 1 else [f"{what}_{i}" for i in range(n)]
    names = [str(g) for g in given]
    if len(names) != n or len(set(names)) != n:
        raise ValueError(f"export: {what}_names needs {n} distinct names, got {list(given)!r}")
    return names


def _trace(model_or_fn: Any, inputs: list[Tensor]) -> list[Tensor]:
    """One forward call with the graph recorded, in evaluation mode for a Module (whose modes
    are restored afterwards)."""
    modes = [(m, m.training) for m in model_or_fn.modules()] if isinstance(
        model_or_fn, Module) else []
    if modes:
        model_or_fn.eval()
    try:
        with enable_grad():
            out = model_or_fn(*inputs)
    finally:
        for m, mode in modes:
            object.__setattr__(m, "training", mode)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    if not outs or not all(isinstance(o, Tensor) for o in outs):
        raise TypeError(f"export: the forward call must return a Tensor or a tuple of Tensors, "
                        f"got {type(out).__name__}")
    return outs


def _node_label(t: Tensor) -> str:
    op = t._ctx.op.name  # type: ignore[union-attr]
    where = f" in module {t.module!r}" if t.module else ""
    named = f" (tensor {t.name!r})" if t.name else ""
    return f"op '{op}'{where}{named} making shape {tuple(t.shape)}"


def _check_mappings(G: Any, order: list[int]) -> None:
    missing = []
    for nid in order:
        t = G.nodes[nid]["tensor"]
        if t._ctx is None:
            continue
        if t._ctx.op.name in _REFUSED:
            raise ExportError(f"export: {_node_label(t)}: {_REFUSED[t._ctx.op.name]}")
        if t._ctx.op.name not in _HANDLERS:
            missing.append(_node_label(t))
    if missing:
        raise ExportError(
            f"export: no ONNX mapping for {missing[0]}"
            + (f" (and {len(missing) - 1} more: {'; '.join(missing[1:4])})" if len(missing) > 1
               else "")
            + f"; supported ops: {', '.join(supported_ops())}"
        )


def _other_inputs(inputs: list[Tensor]) -> list[Tensor]:
    """Inputs of the same shapes and dtypes with other values: floats moved by noise, integers
    (indices) shuffled, so they stay valid."""
    rng = np.random.default_rng(12345)
    out = []
    for x in inputs:
        a = x.data
        if a.dtype.kind == "f":
            scale = float(np.std(a)) or 1.0
            b = (a + rng.standard_normal(a.shape) * 0.25 * scale).astype(a.dtype)
            out.append(Tensor(b, requires_grad=True))
        else:
            b = rng.permutation(a.reshape(-1)).reshape(a.shape) if a.size > 1 else a.copy()
            if a.dtype.kind == "b" and np.array_equal(a, b):
                b = ~a
            out.append(Tensor(b))
    return out


def _check_constants(model_or_fn: Any, inputs: list[Tensor], G: Any, order: list[int],
                     params: set[int]) -> None:
    """Runs the forward again on other input values: a constant of the graph that changes
    with them was computed outside minigrad's ops (a comparison such as ``x > 0``, ``.data``,
    numpy), and the file would freeze the example's value. So would a graph whose shape
    depends on the values."""
    others = _other_inputs(inputs)
    G2 = build(*_trace(model_or_fn, others))
    order2 = topological_order(G2)
    ops = [G.nodes[n]["op"] for n in order]
    if len(order2) != len(order) or [G2.nodes[n]["op"] for n in order2] != ops:
        raise ExportError(
            "export: the forward call records different ops for other input values (Python "
            "control flow on the values?); a fixed ONNX graph cannot follow it")
    ids = {id(x) for x in inputs} | {id(x) for x in others}
    for n1, n2 in zip(order, order2):
        t1, t2 = G.nodes[n1]["tensor"], G2.nodes[n2]["tensor"]
        if t1._ctx is not None or id(t1) in params or id(t1) in ids:
            continue
        same_input = any(t1.data.shape == x.data.shape and t1.data.dtype == x.data.dtype
                         and np.array_equal(t1.data, x.data) for x in inputs)
        if same_input:  # a copy of an input (checked against the other run's input below)
            continue
        if t1.data.shape != t2.data.shape or not np.array_equal(
                t1.data, t2.data, equal_nan=t1.data.dtype.kind in "fc"):
            users = [G.nodes[s]["tensor"] for s in G.successors(n1)]
            user = _node_label(users[0]) if users else "the output"
            raise ExportError(
                f"export: a constant input of {user} changes with the input values: it was "
                f"computed outside minigrad's ops (a comparison such as x > 0, .data, numpy), "
                f"so the file would freeze the example's value. Compute it with ops (e.g. "
                f"F.relu, minigrad.where on a recorded mask) or make it an input")


def _leaf_value(e: _Emitter, t: Tensor, params: dict[int, str],
                inputs: list[tuple[Tensor, str, np.ndarray]]) -> _Value:
    """A leaf of the graph: an input (or a copy the forward made of one), a parameter, or a
    constant."""
    for x, name, _ in inputs:
        if t is x:
            return _Value(name, 0 if e.dynamic and x.ndim else None)
    pname = params.get(id(t))
    if pname is not None:
        e.used.add(pname)
        e.initializers.append(e.onnx.numpy_helper.from_array(np.asarray(t.data), pname))
        return _Value(pname, None)
    for _, name, arr in inputs:
        # a model may copy its input into a tensor of its own (TinyTransformer's tokens)
        if t.data.shape == arr.shape and t.data.dtype == arr.dtype and np.array_equal(
                t.data, arr):
            return _Value(name, 0 if e.dynamic and arr.ndim else None)
    e.where = t.module or ""
    return _Value(e.const(t.data, hint=t.name or "const"), None)


def _value_info(e: _Emitter, name: str, t: Tensor, batch_axis: int | None) -> Any:
    dims: list[Any] = list(t.shape)
    if e.dynamic and batch_axis is not None:
        dims[batch_axis] = "batch"
    return e.onnx.helper.make_tensor_value_info(name, _elem_type(e.onnx, t.dtype), dims)


def _check_destination(path: str | os.PathLike[str], overwrite: bool) -> Path:
    p = Path(path).expanduser()
    if p.is_dir():
        raise IsADirectoryError(f"export: {p} is a folder; give a file name such as "
                                f"{p / 'model.onnx'}")
    if not p.parent.is_dir():
        raise FileNotFoundError(f"export: cannot write {p}: the folder {p.parent} does not "
                                f"exist (create it first)")
    if p.exists() and not overwrite:
        raise FileExistsError(f"export: {p} already exists; pass overwrite=True to replace it")
    return p


def _write_atomic(path: Path, data: bytes, overwrite: bool) -> None:
    """Writes through a temporary file in the same folder, flushed to disk, then moved into
    place: a failure midway leaves any earlier file as it was. Without `overwrite` the move
    refuses a file that appeared meanwhile."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's file is private; a model file is not
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if the name exists: no race with another writer
            except FileExistsError:
                raise FileExistsError(f"export: {path} already exists; pass overwrite=True to "
                                      f"replace it") from None
            except OSError:  # a file system without hard links
                if path.exists():
                    raise FileExistsError(f"export: {path} already exists; pass "
                                          f"overwrite=True to replace it") from None
                os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def export(model_or_fn: Module | Callable[..., Any], example_inputs: Any,
           path: str | os.PathLike[str], *, input_names: Sequence[str] | None = None,
           output_names: Sequence[str] | None = None, dynamic_batch: bool = True,
           overwrite: bool = False) -> Path:
    r"""Writes the forward call ``model_or_fn(*example_inputs)`` as an ONNX model at `path`.

    The ONNX graph is minigrad's graph of that call, node for node in topological order: each
    registry op becomes one ONNX node or a small fixed pattern (`supported_ops` lists them);
    each parameter (and batch norm's running statistics) becomes an initializer under its
    dotted name in the model's `state_dict`. A Module is exported in evaluation mode and left
    in the mode it was in. Everything is checked (every op has a mapping, the model passes
    ``onnx.checker``) before the file is written, atomically.

    Args:
        model_or_fn: a `Module`, or a function of Tensors returning a Tensor (or a tuple of
            them); a function's parameters (leaf Tensors that require grad) become
            initializers named after ``Tensor.name`` (or ``param_k``).
        example_inputs: one array or Tensor, or a tuple of them: the inputs of the call, whose
            values shape the graph (their batch size does not, with ``dynamic_batch``).
        path: the file to write (``.onnx``).
        input_names: the graph's input names; by default ``input`` (``input_0``,
            ``input_1``, … when there are several).
        output_names: the graph's output names; ``output`` (``output_0``, …) by default.
        dynamic_batch: make the first axis of every input a symbolic ``batch`` dimension.
        overwrite: replace an existing file (otherwise that is a FileExistsError).

    Returns:
        The path written.

    Raises:
        ExportError: an op without an ONNX mapping (named, with its module and shape), or a
            setting it cannot express; nothing is written.
        FileExistsError: `path` exists and `overwrite` is False.
    """
    onnx = _onnx()
    dest = _check_destination(path, overwrite)
    inputs = _as_tensors(example_inputs)
    in_names = _names(input_names, len(inputs), "input")
    params: dict[int, str] = {}
    buffers: dict[str, np.ndarray] = {}
    if isinstance(model_or_fn, Module):
        params = {id(p): name for name, p in model_or_fn.named_parameters()}
        buffers = {name: b.data for name, b in model_or_fn.named_buffers()}
    elif not callable(model_or_fn):
        raise TypeError(f"export: expected a Module or a function, got "
                        f"{type(model_or_fn).__name__}")
    outputs = _trace(model_or_fn, inputs)
    out_names = _names(output_names, len(outputs), "output")
    G = build(*outputs)
    order = topological_order(G)
    _check_mappings(G, order)
    _check_constants(model_or_fn, inputs, G, order, set(params))

    e = _Emitter(onnx, bool(dynamic_batch), buffers=buffers)
    e.used.update(in_names + out_names)
    if not isinstance(model_or_fn, Module):
        k = 0
        for nid in order:
            t = G.nodes[nid]["tensor"]
            if t._ctx is None and t.requires_grad and all(t is not x for x in inputs):
                params[id(t)] = e.fresh(t.name or f"param_{k}")
                e.used.discard(params[id(t)])
                k += 1
    given = [(x, n, x.data) for x, n in zip(inputs, in_names)]
    values: dict[int, _Value] = {}
    for nid in order:
        t = G.nodes[nid]["tensor"]
        ctx = t._ctx
        if ctx is None:
            values[nid] = _leaf_value(e, t, params, given)
            continue
        e.where = f"{t.module}/{ctx.op.name}" if t.module else ctx.op.name
        ins = [values[id(x)] for x in ctx.inputs]
        try:
            values[nid] = _HANDLERS[ctx.op.name](e, t, ins, dict(ctx.params))
        except ExportError as err:
            raise ExportError(f"{err} ({_node_label(t)})") from None

    graph_outputs = []
    for t, name in zip(outputs, out_names):
        v = values[id(t)]
        e.where = "output"
        e.nodes.append(onnx.helper.make_node("Identity", [v.name], [name], name=f"{name}#node"))
        graph_outputs.append(_value_info(e, name, t, v.batch_axis))
    graph_inputs = [_value_info(e, name, x, 0 if x.ndim else None)
                    for x, name in zip(inputs, in_names)]
    # the parameters in the state dict's order, then the constants, for readers like Netron
    rank = {name: i for i, name in enumerate(list(params.values()) + list(buffers))}
    e.initializers.sort(key=lambda init: rank.get(init.name, len(rank)))
    graph = onnx.helper.make_graph(e.nodes, type(model_or_fn).__name__ if isinstance(
        model_or_fn, Module) else getattr(model_or_fn, "__name__", "minigrad"),
        graph_inputs, graph_outputs, initializer=e.initializers)
    proto = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", OPSET)],
                                   producer_name="minigrad")
    proto.ir_version = min(proto.ir_version, 8)  # readable by runtimes of the opset's age
    onnx.checker.check_model(proto, full_check=True)
    _write_atomic(dest, proto.SerializeToString(), overwrite)
    return dest


# --------------------------------------------------------------------------- load
class LoadError(ValueError):
    """An ONNX model uses an op (or a setting) `load` does not turn into minigrad ops."""


def _ints_of(v: Any) -> list[int]:
    return [int(i) for i in np.asarray(v.data if isinstance(v, Tensor) else v).reshape(-1)]


def _tensor(v: Any) -> Tensor:
    return v if isinstance(v, Tensor) else Tensor._wrap(np.asarray(v))


def _gemm(ins: list[Any], a: dict[str, Any]) -> Tensor:
    import minigrad.functional as F

    A, B = _tensor(ins[0]), _tensor(ins[1])
    C = ins[2] if len(ins) > 2 else None
    if a.get("transA", 0):
        A = A.T
    if a.get("alpha", 1.0) != 1.0:
        A = A * a["alpha"]
    if a.get("transB", 0):
        beta = a.get("beta", 1.0)
        return F.linear(A, B, None if C is None else (C if beta == 1.0 else _tensor(C) * beta))
    out = A @ B
    return out if C is None else out + _tensor(C) * a.get("beta", 1.0)


def _slice(ins: list[Any], a: dict[str, Any]) -> Tensor:
    x = _tensor(ins[0])
    starts, ends = _ints_of(ins[1]), _ints_of(ins[2])
    axes = _ints_of(ins[3]) if len(ins) > 3 and ins[3] is not None else list(range(len(starts)))
    steps = _ints_of(ins[4]) if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
    index: list[Any] = [slice(None)] * x.ndim
    for s, e, ax, st in zip(starts, ends, axes, steps):
        index[ax % x.ndim] = slice(s, None if e <= -(2 ** 62) or e >= 2 ** 62 else e, st)
    return x[tuple(index)]


def _gather(ins: list[Any], a: dict[str, Any]) -> Tensor:
    import minigrad.functional as F

    data, idx = ins[0], ins[1]
    axis = int(a.get("axis", 0))
    idx_arr = np.asarray(idx.data if isinstance(idx, Tensor) else idx)
    if axis == 0 and idx_arr.ndim > 0 and isinstance(data, Tensor) and data.requires_grad:
        return F.embedding(idx, data)  # a lookup table: the embedding op, as exported
    x = _tensor(data)
    index = (slice(None),) * (axis % x.ndim) + (
        int(idx_arr) if idx_arr.ndim == 0 else idx_arr,)
    return x[index]


def _pad_onnx(ins: list[Any], a: dict[str, Any]) -> Tensor:
    import minigrad.functional as F

    x = _tensor(ins[0])
    pads = _ints_of(ins[1])
    value = float(np.asarray(ins[2].data if isinstance(ins[2], Tensor) else ins[2])) if len(
        ins) > 2 and ins[2] is not None else 0.0
    n = x.ndim
    flat: list[int] = []
    for ax in range(n - 1, -1, -1):  # PyTorch's order: the last axis first
        flat += [pads[ax], pads[n + ax]]
    while len(flat) > 2 and flat[-2:] == [0, 0]:
        flat = flat[:-2]
    return F.pad(x, tuple(flat), value=value)


def _reshape_onnx(ins: list[Any], a: dict[str, Any]) -> Tensor:
    x = _tensor(ins[0])
    shape = [x.shape[i] if s == 0 else s for i, s in enumerate(_ints_of(ins[1]))]
    return x.reshape(tuple(shape))


def _expand(ins: list[Any], a: dict[str, Any]) -> Tensor:
    x = _tensor(ins[0])
    return x.broadcast_to(tuple(np.broadcast_shapes(x.shape, tuple(_ints_of(ins[1])))))


def _conv_onnx(ins: list[Any], a: dict[str, Any]) -> Tensor:
    import minigrad.functional as F

    x = _tensor(ins[0])
    d = x.ndim - 2
    pads = list(a.get("pads", [0] * 2 * d))
    if pads[:d] != pads[d:]:
        raise LoadError(f"load: Conv with uneven padding {pads} has no minigrad counterpart")
    conv = F.conv1d if d == 1 else F.conv2d
    return conv(x, ins[1], ins[2] if len(ins) > 2 else None, stride=tuple(a.get("strides",
                [1] * d)), padding=tuple(pads[:d]), dilation=tuple(a.get("dilations", [1] * d)),
                groups=int(a.get("group", 1)))


def _pool_onnx(kind: str) -> Callable[[list[Any], dict[str, Any]], Tensor]:
    def make(ins: list[Any], a: dict[str, Any]) -> Tensor:
        import minigrad.functional as F

        k = tuple(a["kernel_shape"])
        pads = list(a.get("pads", [0] * 2 * len(k)))
        if pads[:len(k)] != pads[len(k):] or a.get("ceil_mode", 0):
            raise LoadError(f"load: {kind} with uneven padding or ceil_mode has no minigrad "
                            f"counterpart")
        stride = tuple(a.get("strides", [1] * len(k)))
        if kind == "MaxPool":
            return F.max_pool2d(ins[0], k, stride, tuple(pads[:len(k)]),
                                tuple(a.get("dilations", [1] * len(k))))
        if not a.get("count_include_pad", 0) and any(pads):
            raise LoadError("load: AveragePool without count_include_pad has no minigrad "
                            "counterpart")
        return F.avg_pool2d(ins[0], k, stride, tuple(pads[:len(k)]))

    return make


def _reduce_onnx(method: str) -> Callable[[list[Any], dict[str, Any]], Tensor]:
    def make(ins: list[Any], a: dict[str, Any]) -> Tensor:
        import minigrad.functional as F

        x = _tensor(ins[0])
        axes = a.get("axes")
        if len(ins) > 1 and ins[1] is not None:
            axes = _ints_of(ins[1])
        axis = None if axes is None else tuple(int(i) for i in axes)
        keep = bool(a.get("keepdims", 1))
        if method == "logsumexp":
            return F.logsumexp(x, axis=axis, keepdims=keep)
        return getattr(x, method)(axis=axis, keepdims=keep)  # type: ignore[no-any-return]

    return make


def _onnx_ops() -> dict[str, Callable[[list[Any], dict[str, Any]], Any]]:
    import minigrad as mg
    import minigrad.functional as F

    binary = {"Add": lambda x, y: x + y, "Sub": lambda x, y: x - y, "Mul": lambda x, y: x * y,
              "Div": lambda x, y: x / y, "Pow": lambda x, y: x ** y, "Max": mg.maximum,
              "Min": mg.minimum}
    unary = {"Neg": lambda x: -x, "Exp": mg.exp, "Log": mg.log, "Sqrt": mg.sqrt, "Abs": mg.abs,
             "Tanh": mg.tanh, "Sigmoid": mg.sigmoid, "Relu": mg.relu, "Softplus": F.softplus,
             "Identity": lambda x: x}
    ops: dict[str, Callable[[list[Any], dict[str, Any]], Any]] = {}
    def two(f: Callable[[Any, Any], Any]) -> Callable[[list[Any], dict[str, Any]], Any]:
        return lambda ins, a: f(_tensor(ins[0]), _tensor(ins[1]))

    def one(f: Callable[[Any], Any]) -> Callable[[list[Any], dict[str, Any]], Any]:
        return lambda ins, a: f(_tensor(ins[0]))

    ops.update({k: two(f) for k, f in binary.items()})
    ops.update({k: one(g) for k, g in unary.items()})
    ops.update({
        "LeakyRelu": lambda ins, a: F.leaky_relu(ins[0], a.get("alpha", 0.01)),
        "Softmax": lambda ins, a: F.softmax(ins[0], axis=a.get("axis", -1)),
        "LogSoftmax": lambda ins, a: F.log_softmax(ins[0], axis=a.get("axis", -1)),
        "Gemm": _gemm,
        "MatMul": lambda ins, a: _tensor(ins[0]) @ _tensor(ins[1]),
        "Transpose": lambda ins, a: _tensor(ins[0]).permute(
            tuple(a["perm"]) if "perm" in a else tuple(reversed(range(_tensor(ins[0]).ndim)))),
        "Reshape": _reshape_onnx,
        "Squeeze": lambda ins, a: _tensor(ins[0]).squeeze(tuple(_ints_of(ins[1]))),
        "Unsqueeze": lambda ins, a: _unsqueeze_all(_tensor(ins[0]), _ints_of(ins[1])),
        "Concat": lambda ins, a: mg.cat([_tensor(v) for v in ins], axis=a["axis"]),
        "Slice": _slice,
        "Gather": _gather,
        "Expand": _expand,
        "Pad": _pad_onnx,
        "Where": lambda ins, a: mg.where(ins[0].data if isinstance(ins[0], Tensor) else ins[0],
                                         _tensor(ins[1]), _tensor(ins[2])),
        "Cast": lambda ins, a: _tensor(ins[0]).astype(_np_dtype(a["to"])),
        "Clip": lambda ins, a: mg.clip(
            ins[0], *[None if i >= len(ins) or ins[i] is None else float(np.asarray(
                ins[i].data if isinstance(ins[i], Tensor) else ins[i])) for i in (1, 2)]),
        "Conv": _conv_onnx,
        "MaxPool": _pool_onnx("MaxPool"),
        "AveragePool": _pool_onnx("AveragePool"),
        "BatchNormalization": lambda ins, a: F.batch_norm(
            ins[0], _tensor(ins[3]).data, _tensor(ins[4]).data, ins[1], ins[2], training=False,
            eps=a.get("epsilon", 1e-5)),
        "LayerNormalization": lambda ins, a: F.layer_norm(
            ins[0], tuple(_tensor(ins[0]).shape[a.get("axis", -1):]), ins[1],
            ins[2] if len(ins) > 2 else None, eps=a.get("epsilon", 1e-5)),
        "ReduceSum": _reduce_onnx("sum"), "ReduceMean": _reduce_onnx("mean"),
        "ReduceMax": _reduce_onnx("max"), "ReduceMin": _reduce_onnx("min"),
        "ReduceLogSumExp": _reduce_onnx("logsumexp"),
    })
    return ops


def _unsqueeze_all(x: Tensor, axes: list[int]) -> Tensor:
    n = x.ndim + len(axes)
    for ax in sorted(a % n for a in axes):
        x = x.unsqueeze(ax)
    return x


def _np_dtype(to: int) -> np.dtype:
    onnx = _onnx()
    return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(to))


class OnnxFunction:
    """A minigrad function made from an ONNX model by `load`: calling it runs minigrad ops,
    so its result has a graph to draw, differentiate and compare.

    Attributes:
        parameters: name → Tensor (requires grad) for each floating initializer that is a
            parameter: its name has no ``/`` (the constants `export` adds have one) and it is
            not batch norm's running statistics.
        input_names, output_names: the graph's.
    """

    def __init__(self, graph: Any, parameters: dict[str, Tensor], constants: dict[str, Any],
                 input_names: list[str], output_names: list[str]) -> None:
        self._graph = graph
        self.parameters = parameters
        self._constants = constants
        self.input_names = input_names
        self.output_names = output_names

    def __call__(self, *inputs: Any) -> Any:
        onnx = _onnx()
        if len(inputs) != len(self.input_names):
            raise TypeError(f"OnnxFunction: expected {len(self.input_names)} inputs "
                            f"({', '.join(self.input_names)}), got {len(inputs)}")
        ops = _onnx_ops()
        values: dict[str, Any] = {**self._constants, **self.parameters}
        for name, x in zip(self.input_names, inputs):
            values[name] = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
        for node in self._graph.node:
            attrs = {at.name: onnx.helper.get_attribute_value(at) for at in node.attribute}
            ins = [values[n] if n else None for n in node.input]
            out = ops[node.op_type](ins, attrs)
            values[node.output[0]] = out
        outs = tuple(values[n] for n in self.output_names)
        return outs[0] if len(outs) == 1 else outs

    def state_dict(self) -> dict[str, np.ndarray]:
        return {k: v.data.copy() for k, v in self.parameters.items()}


def load(path: str | os.PathLike[str]) -> OnnxFunction:
    """An ONNX model (of the ops `export` writes) as a minigrad function.

    Its floating initializers with plain names become Tensors that require grad, named as in
    the file (``layers.0.weight``), so ``f(x).sum().backward()`` fills their ``.grad`` and
    `minigrad.visualize` draws the result's graph like any other.

    Raises:
        LoadError: the model uses an op outside that set (named, with its node).
    """
    onnx = _onnx()
    model = onnx.load(os.fspath(path))
    known = _onnx_ops()
    for node in model.graph.node:
        if node.op_type not in known or node.domain not in ("", "ai.onnx"):
            raise LoadError(f"load: node {node.name!r} is an {node.op_type!r} op, which has no "
                            f"minigrad counterpart here; known: {', '.join(sorted(known))}")
    parameters: dict[str, Tensor] = {}
    constants: dict[str, Any] = {}
    # batch norm's running statistics are buffers: no gradient
    stats = {n for node in model.graph.node if node.op_type == "BatchNormalization"
             for n in node.input[3:5]}
    for init in model.graph.initializer:
        arr = onnx.numpy_helper.to_array(init).copy()
        if arr.dtype.kind == "f" and "/" not in init.name and init.name not in stats:
            parameters[init.name] = Tensor(arr, requires_grad=True, name=init.name)
        else:
            constants[init.name] = arr if arr.dtype.kind != "f" else Tensor(arr)
    inits = {i.name for i in model.graph.initializer}
    inputs = [i.name for i in model.graph.input if i.name not in inits]
    return OnnxFunction(model.graph, parameters, constants, inputs,
                        [o.name for o in model.graph.output])
