r"""`export`: one forward call, recorded as minigrad's graph, written as an ONNX file.

The graph is checked first (every op has a mapping, no constant was computed outside the ops),
then walked in topological order, each op handed to its entry in the mapping table
(`minigrad.onnx.ops`), and the model is checked by ``onnx.checker`` before it is written,
atomically.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from minigrad.files import check_destination, write_atomic
from minigrad.graph import build, topological_order
from minigrad.modes import enable_grad
from minigrad.nn.module import Module
from minigrad.onnx.ops import (
    HANDLERS,
    REFUSED,
    Emitter,
    ExportError,
    Value,
    elem_type,
    supported_ops,
)
from minigrad.onnx.opset import OPSET, require_onnx
from minigrad.tensor import Tensor


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
        if t._ctx.op.name in REFUSED:
            raise ExportError(f"export: {_node_label(t)}: {REFUSED[t._ctx.op.name]}")
        if t._ctx.op.name not in HANDLERS:
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


def _leaf_value(e: Emitter, t: Tensor, params: dict[int, str],
                inputs: list[tuple[Tensor, str, np.ndarray]]) -> Value:
    """A leaf of the graph: an input (or a copy the forward made of one), a parameter, or a
    constant."""
    for x, name, _ in inputs:
        if t is x:
            return Value(name, 0 if e.dynamic and x.ndim else None)
    pname = params.get(id(t))
    if pname is not None:
        e.used.add(pname)
        e.initializers.append(e.onnx.numpy_helper.from_array(np.asarray(t.data), pname))
        return Value(pname, None)
    for _, name, arr in inputs:
        # a model may copy its input into a tensor of its own (TinyTransformer's tokens)
        if t.data.shape == arr.shape and t.data.dtype == arr.dtype and np.array_equal(
                t.data, arr):
            return Value(name, 0 if e.dynamic and arr.ndim else None)
    e.where = t.module or ""
    return Value(e.const(t.data, hint=t.name or "const"), None)


def _value_info(e: Emitter, name: str, t: Tensor, batch_axis: int | None) -> Any:
    dims: list[Any] = list(t.shape)
    if e.dynamic and batch_axis is not None:
        dims[batch_axis] = "batch"
    return e.onnx.helper.make_tensor_value_info(name, elem_type(e.onnx, t.dtype), dims)


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
    onnx = require_onnx()
    dest = check_destination(path, overwrite, op="export: ", example="model.onnx")
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

    e = Emitter(onnx, bool(dynamic_batch), buffers=buffers)
    e.used.update(in_names + out_names)
    if not isinstance(model_or_fn, Module):
        _name_parameters(e, G, order, inputs, params)
    values = _walk(e, G, order, params, [(x, n, x.data) for x, n in zip(inputs, in_names)])
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
    write_atomic(dest, proto.SerializeToString(), overwrite, op="export: ")
    return dest


def _name_parameters(e: Emitter, G: Any, order: list[int], inputs: list[Tensor],
                     params: dict[int, str]) -> None:
    """A function's parameters (leaf Tensors that require grad, other than its inputs):
    named after ``Tensor.name``, else ``param_k``, in the graph's order."""
    k = 0
    for nid in order:
        t = G.nodes[nid]["tensor"]
        if t._ctx is None and t.requires_grad and all(t is not x for x in inputs):
            params[id(t)] = e.fresh(t.name or f"param_{k}")
            e.used.discard(params[id(t)])
            k += 1


def _walk(e: Emitter, G: Any, order: list[int], params: dict[int, str],
          given: list[tuple[Tensor, str, np.ndarray]]) -> dict[int, Value]:
    """Each tensor of the graph, in topological order, as an ONNX value: a leaf as an input,
    an initializer or a constant, a result by its op's handler."""
    values: dict[int, Value] = {}
    for nid in order:
        t = G.nodes[nid]["tensor"]
        ctx = t._ctx
        if ctx is None:
            values[nid] = _leaf_value(e, t, params, given)
            continue
        e.where = f"{t.module}/{ctx.op.name}" if t.module else ctx.op.name
        ins = [values[id(x)] for x in ctx.inputs]
        try:
            values[nid] = HANDLERS[ctx.op.name](e, t, ins, dict(ctx.params))
        except ExportError as err:
            raise ExportError(f"{err} ({_node_label(t)})") from None
    return values
