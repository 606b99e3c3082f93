r"""`load`: an ONNX file (of the ops `export` writes) back into minigrad ops, as a function
whose result has a graph to draw, differentiate and compare.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from minigrad.onnx.opset import require_onnx
from minigrad.tensor import Tensor


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
    onnx = require_onnx()
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
        onnx = require_onnx()
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
    onnx = require_onnx()
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

