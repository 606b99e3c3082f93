"""Recording ops: `apply` runs an op's forward and, when a gradient will be needed, remembers
the op and its inputs on the result (its history). `Function` is the public way to add an op."""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from minigrad.dtypes import DEFAULT_FLOAT, result_type
from minigrad.modes import state
from minigrad.ops.either import unbroadcast
from minigrad.ops.registry import OUT, REGISTRY, Op, defop
from minigrad.tensor import _VJP_GUARD, Tensor, Version, lift

__all__ = ["Node", "apply", "Function"]


class Node:
    """The history of one result tensor: which op made it from which inputs.

    `versions` holds the version counters of the inputs the VJPs read (and of the output when
    they read it), as they were when the op ran, so an in-place change made since then is
    caught before backward uses a stale value.
    """

    __slots__ = ("op", "inputs", "params", "versions", "epoch", "saved", "freed", "where")

    def __init__(
        self,
        op: Op,
        inputs: tuple[Tensor, ...],
        params: dict[str, Any],
        versions: tuple[int, ...],
        saved: Any = None,
    ) -> None:
        self.op = op
        self.inputs = inputs
        self.params = params
        self.versions = versions
        self.epoch = Version.epoch
        self.saved = saved
        self.freed = False
        self.where: str | None = None

    def vjp(self, i: int, g: Any, out: Any, args: Sequence[Any]) -> Any:
        """The gradient this node sends to input `i`: the op's VJP for that input applied to
        δ = `g`, summed back to the input's shape. `out` and `args` are the output and the
        inputs, as arrays (or as Tensors, to record the backward under create_graph)."""
        op = self.op
        if op.vjp(i) is None:
            raise RuntimeError(f"op '{op.name}' has no VJP for input {i}, which requires grad")
        recording = isinstance(g, Tensor)  # create_graph: the backward is itself recorded
        if recording:
            _VJP_GUARD.append(lambda t: _left_minigrad(self, i, g, t))
        try:
            gx = op.call_vjp(i, g, out, args, self.params, self.saved)
        finally:
            if recording:
                _VJP_GUARD.pop()
        if recording:
            _check_recorded(self, i, g, gx)
        shape = args[i].shape
        if gx.shape != shape:
            gx = unbroadcast(gx, shape)
            if gx.shape != shape:
                raise RuntimeError(
                    f"op '{op.name}': the VJP for input {i} returned shape {gx.shape}, but the "
                    f"input has shape {shape}"
                )
        return gx

    def check_saved(self, out: Tensor) -> None:
        """Raises if backward cannot use what this node saved for it: freed by an earlier
        backward, or changed in place since the op ran (`out` is the node's result)."""
        op = self.op
        if self.freed:
            raise RuntimeError(
                f"backward through the graph a second time: the values that op '{op.name}' "
                f"({op.formula}) saved were freed by the first backward. Pass "
                f"retain_graph=True to the first backward() to backward twice."
            )
        saved = [(i, self.inputs[i]) for i in op.saves if i < len(self.inputs)]
        if op.saves_output:
            saved.append((-1, out))
        needed = {-1}.union(*(op.reads_of(j) for j, x in enumerate(self.inputs)
                              if x.requires_grad))
        for (i, x), v in zip(saved, self.versions):
            if x.version != v and i in needed:
                what = "its output" if i < 0 else f"input {i}"
                raise RuntimeError(
                    f"a value that op '{op.name}' ({op.formula}) saved for backward was "
                    f"changed in place: {what} (shape {x.shape}) is at version {x.version}, "
                    f"but '{op.name}' used it at version {v}. Use an out-of-place op "
                    f"(x = x + y instead of x.add_(y)) or change it after backward()."
                )

    def __repr__(self) -> str:
        return f"<Node {self.op.name}>"


_HOW = (
    "Write the VJP with minigrad operations, which work on arrays and on Tensors alike: "
    "operators (+ - * / ** @) and methods (.sum, .reshape, .exp, .log, .sqrt, .tanh), and the "
    "helpers of minigrad.ops.either (either.exp, either.log, either.sqrt, either.tanh, "
    "either.where, either.broadcast_to) instead of numpy functions such as np.exp or np.sqrt; "
    "keep either.value(x) (the raw array) for masks and constants only."
)


def _describe_input(node: Node, t: Tensor) -> str:
    k = next((k for k, x in enumerate(node.inputs) if x is t), None)
    where = "a tensor" if k is None else f"its input {k}"
    name = f" {t.name!r}" if t.name else ""
    return f"{where}{name} (shape {t.shape}, {t.dtype})"


def _left_minigrad(node: Node, i: int, g: Tensor, t: Tensor) -> None:
    """Raised when numpy converts a differentiable tensor inside a VJP under create_graph."""
    op = node.op
    raise RuntimeError(
        f"op '{op.name}' ({op.formula}): under create_graph=True its VJP for input {i} "
        f"({op.grad_formula(i)}) handed "
        f"{'δ' if t is g else _describe_input(node, t)} to numpy (np.sqrt, np.exp, "
        f"np.asarray…), which turns it into a plain array. The gradient will be differentiated "
        f"again, and a plain array counts as a constant, so every second derivative through "
        f"this op would be wrong without a word. " + _HOW
    )


def _check_recorded(node: Node, i: int, g: Tensor, gx: Any) -> None:
    """Under ``create_graph=True`` the gradient a VJP returns is differentiated again, so it
    must be a Tensor recorded from δ and the inputs. A plain array (a VJP that called
    ``np.sqrt`` on its inputs) or a Tensor cut off from δ would make every second derivative
    through this op silently wrong (usually zero): that is an error, not a guess."""
    if isinstance(gx, Tensor):
        if gx.requires_grad or not g.requires_grad or not np.any(gx.data):
            return
        what = "a Tensor without history (it does not depend on δ)"
    else:
        if not np.any(gx):  # a zero gradient is constant: nothing is lost
            return
        what = f"a plain {type(gx).__name__}"
    op = node.op
    raise RuntimeError(
        f"op '{op.name}' ({op.formula}): under create_graph=True its VJP for input {i}, "
        f"{_describe_input(node, node.inputs[i])}, returned {what}, not a recorded Tensor. "
        f"The gradient {op.grad_formula(i)} will be differentiated again, and an unrecorded "
        f"value counts as a constant, so every second derivative through this op would be "
        f"wrong without a word. " + _HOW
    )


def _creation_site() -> str:
    """The innermost frame outside minigrad's engine: where the user wrote the op."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        if "/minigrad/" not in frame.filename.replace("\\", "/") or "/tests/" in frame.filename:
            return f'File "{frame.filename}", line {frame.lineno}, in {frame.name}: {frame.line}'
    return "<unknown>"


_NO_PARAMS: dict[str, Any] = {}  # shared by every node whose op takes no parameters
_ZEROS = tuple((0,) * k for k in range(8))  # version tuples of nodes that saw no change


def apply(op: Op, *args: Any, **params: Any) -> Tensor:
    """Runs `op` forward on `args` (Tensors, arrays or Python numbers) and records it.

    Non-Tensor arguments become constant tensors (dtype taken from the first tensor argument,
    so ``2 * x`` stays float32 when x is). The inputs of an op that promotes (``op.promote``:
    the arithmetic, `where`, `concatenate`…) first meet at PyTorch's result dtype, see
    `minigrad.dtypes`. The result remembers its history only when grad mode is on and some
    input requires grad: constants need no place in the backward sweep.
    """
    if state.interpose is not None:  # a function transform is active (minigrad.func)
        return state.interpose(op, args, params)  # type: ignore[no-any-return]
    try:
        args, inputs, data = _forward(op, args, params)
    except (ValueError, TypeError) as e:
        err = _op_error(op, args, e)
        if err is e:
            raise
        raise err from e
    saved = None
    if op.keeps:
        data, saved = data
    if type(data) is not np.ndarray:
        data = np.asarray(data)
    out = Tensor._wrap(data)
    if op.view:
        out._ver = inputs[0]._shared_version()
    if state.grad_enabled:
        _record(op, inputs, params, out, saved)
    if state.scope is not None:
        out.module = state.scope
    if state.tracer is not None:
        state.tracer.record(op, args, inputs, params, out, saved)
    if state.anomaly:
        _check_finite_forward(op, out)
    return out


def _forward(op: Op, args: tuple[Any, ...],
             params: dict[str, Any]) -> tuple[tuple[Any, ...], tuple[Tensor, ...], Any]:
    """Brings `args` to the op's dtype and to tensors, and runs the op's forward on their
    arrays: (the arguments as promoted, the input tensors, what the forward returned). The
    two-argument case comes first, as it is nearly every op."""
    if len(args) == 2:
        x, y = args
        if op.promote and not _same_float(x, y):
            args = _promote(op, args)
            x, y = args
        if not isinstance(x, Tensor):
            x = lift(x, y if isinstance(y, Tensor) else None)
        if not isinstance(y, Tensor):
            y = lift(y, x)
        return args, (x, y), op.forward(x._data, y._data, **params)
    if op.promote and not _one_dtype(args):
        args = _promote(op, args)
    if len(args) == 1 and isinstance(args[0], Tensor):
        return args, args, op.forward(args[0]._data, **params)
    like = next((a for a in args if isinstance(a, Tensor)), None)
    inputs = tuple([a if isinstance(a, Tensor) else lift(a, like) for a in args])
    return args, inputs, op.forward(*[t._data for t in inputs], **params)


def _record(op: Op, inputs: tuple[Tensor, ...], params: dict[str, Any], out: Tensor,
            saved: Any) -> None:
    """Gives `out` its history (a `Node`) when some input requires grad: constants need no
    place in the backward sweep."""
    for t in inputs:
        if t.requires_grad:
            vs: tuple[int, ...] = ()
            if op.saves or op.saves_output:
                vs = _versions(op, inputs, out)
            out._ctx = Node(op, inputs, params or _NO_PARAMS, vs, saved)
            out.requires_grad = True
            return


def _same_float(x: Any, y: Any) -> bool:
    """`_one_dtype` for two operands, the case of nearly every op."""
    if isinstance(x, Tensor):
        d = x._data.dtype
        if isinstance(y, Tensor):
            return d == y._data.dtype and d.kind == "f"
        t = type(y)
        return (t is float or t is int) and d.kind == "f"
    if isinstance(y, Tensor):
        t = type(x)
        return (t is float or t is int) and y._data.dtype.kind == "f"
    return False


def _one_dtype(args: tuple[Any, ...]) -> bool:
    """The usual case, with nothing to promote: floating tensors of one dtype, or one such
    tensor and a Python number."""
    dt = None
    for a in args:
        if isinstance(a, Tensor):
            d = a._data.dtype
            if d.kind != "f" or (dt is not None and d != dt):
                return False
            dt = d
        elif type(a) is not float and type(a) is not int:
            return False
    return dt is not None


def _promote(op: Op, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """`args` with the inputs that `op.promote` names brought to one dtype, PyTorch's
    (`minigrad.dtypes.result_type`; the default float where `op.to_float` asks for one).

    A Python number becomes a constant of that dtype. A tensor of another dtype goes
    through the `astype` op, so that `minigrad.compile` replays the conversion and a
    gradient flows back in the tensor's own dtype; the conversion is skipped where numpy's
    own promotion gives the same dtype with the same values (a float32 input of a float64
    result, a boolean mask), as long as one input has that dtype already."""
    promote = op.promote
    pos = range(len(args)) if isinstance(promote, bool) else [i for i in promote if i < len(args)]
    dt = result_type(*[args[i] for i in pos])
    if op.to_float and dt.kind not in "fc":
        dt = DEFAULT_FLOAT
    out = list(args)
    kept: list[int] = []
    exact = False
    for i in pos:
        a = args[i]
        if isinstance(a, (bool, int, float, complex, np.generic)):
            out[i] = Tensor._wrap(np.asarray(a, dtype=dt))
            exact = True
            continue
        t = a if isinstance(a, Tensor) else lift(a, None)
        d = t.data.dtype
        if d == dt:
            exact = True
        elif (d.kind == dt.kind or d.kind == "b") and np.promote_types(d, dt) == dt:
            kept.append(i)
        else:
            out[i] = _astype(t, dt)
            exact = True
    if not exact and kept:
        i = kept[0]
        out[i] = _astype(out[i] if isinstance(out[i], Tensor) else lift(out[i], None), dt)
    return tuple(out)


def _astype(t: Tensor, dt: np.dtype) -> Tensor:
    return apply(REGISTRY["astype"], t, dtype=dt)


def _versions(op: Op, inputs: tuple[Tensor, ...], out: Tensor) -> tuple[int, ...]:
    """The version counters of the values `op`'s VJPs read (its saved inputs, and its output
    when it reads it), as they are now, so that backward catches a later in-place change."""
    vl = []
    for i in op.saves:
        if i < len(inputs):
            v = inputs[i]._ver
            vl.append(0 if v is None else v.n)
    if op.saves_output:
        vl.append(0 if out._ver is None else out._ver.n)
    # nearly always all 0 (nothing changed in place yet): one shared tuple
    return _ZEROS[len(vl)] if len(vl) < len(_ZEROS) and not any(vl) else tuple(vl)


def _op_error(op: Op, args: tuple[Any, ...], e: Exception) -> Exception:
    """numpy's error, restated with the op's name and its inputs' shapes and dtypes."""
    msg = str(e)
    if msg.startswith(op.name + ":"):
        return e  # the op's own, already specific message

    def describe(a: Any) -> str:
        if isinstance(a, (Tensor, np.ndarray)):
            return f"shape {a.shape} {a.dtype}"
        return type(a).__name__

    hint = ""
    if "broadcast" in msg:
        hint = (" Shapes broadcast when, axis by axis from the right, they are equal or one of "
                "them is 1; reshape or unsqueeze an input to line its axes up.")
    kind = ValueError if isinstance(e, ValueError) else TypeError
    return kind(f"{op.name}: {msg} (inputs: {'; '.join(describe(a) for a in args)}).{hint}")


def _check_finite_forward(op: Op, out: Tensor) -> None:
    where = _creation_site()
    if out._ctx is not None:
        out._ctx.where = where
    if out.data.dtype.kind in "fc" and not np.all(np.isfinite(out.data)):
        raise FloatingPointError(
            f"detect_anomaly: op '{op.name}' ({op.formula}) produced NaN or Inf in forward "
            f"(output shape {out.shape}).\n  created at {where}"
        )


_ORIGIN: dict[str, tuple[str, str]] = {}
_CLASSES: dict[str, type[Function]] = {}


def function_of(op: Op) -> type[Function] | None:
    """The `Function` subclass that declared `op`, or None (a built-in op)."""
    cls = _CLASSES.get(op.name)
    return cls if cls is not None and cls.op is op else None


class Function:
    """Base class for user-defined ops. Subclass it, write `forward` and one VJP per input,
    and the op joins the registry: it is gradchecked by the test suite, drawn in diagrams
    with its formula labels, and differentiated twice under ``create_graph=True`` when its
    VJPs use minigrad ops (or operators) only.

    Example::

        class Cube(minigrad.Function):
            formula = "y = x³"
            grads = ("δ ⊙ 3x²",)

            @staticmethod
            def forward(x):                # numpy in, numpy out
                return x ** 3

            @staticmethod
            def vjp_x(g, out, x):          # g = δ, the gradient arriving at y
                return g * 3 * x * x

        y = Cube.apply(t)

    VJP methods are the static methods whose names start with ``vjp``, in the order they are
    defined, one per input. Set ``role`` to ``"activation"``, ``"loss"`` or ``"pass-through"``
    so diagrams name the op's result as the lecture does (``h_k``, ``L``). Set ``examples``
    to a callable ``(rng, dtype) -> [(inputs, params), ...]`` so the registry's gradient
    checks can exercise it (`minigrad.opinfo` finds them there).
    """

    formula: ClassVar[str] = ""
    grads: ClassVar[tuple[str, ...]] = ()
    examples: ClassVar[Any] = None
    saves_output: ClassVar[bool] = False
    role: ClassVar[str | None] = None
    op: ClassVar[Op]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        vjps = [v for k, v in vars(cls).items() if k.startswith("vjp")]
        vjps = [v.__func__ if isinstance(v, staticmethod) else v for v in vjps]
        fwd = vars(cls)["forward"]
        fwd = fwd.__func__ if isinstance(fwd, staticmethod) else fwd
        name = getattr(cls, "name", None) or cls.__name__.lower()
        old = REGISTRY.get(name)
        if old is not None and _ORIGIN.get(name) == (cls.__module__, cls.__qualname__):
            # the same class defined again (a re-run notebook cell, a reload): replace it
            del REGISTRY[name]
        _ORIGIN[name] = (cls.__module__, cls.__qualname__)
        grads = cls.grads or tuple(f"∂{cls.__name__}/∂x{i}·δ" for i in range(len(vjps)))
        cls.op = defop(
            name,
            fwd,
            *vjps,
            formula=cls.formula or f"{name}(…)",
            grads=grads,
            saves=(*range(len(vjps)), OUT) if cls.saves_output else None,
            role=cls.role,
            doc=(cls.__doc__ or "").strip().split("\n")[0],
            module=cls.__module__,
        )
        _CLASSES[name] = cls

    @classmethod
    def apply(cls, *args: Any, **params: Any) -> Tensor:
        return apply(cls.op, *args, **params)
