"""minigrad: an autograd framework built on an explicit computation graph.

Every tensor an op makes remembers the op and its inputs; `minigrad.graph(t)` turns that
history into a `networkx.DiGraph`, and `backward()` walks it in reverse topological order,
applying one vector-Jacobian rule per op from the registry (`minigrad.ops.REGISTRY`).
"""

from minigrad import creation as _creation
from minigrad import dispatch as _dispatch
from minigrad import memory as _memory
from minigrad import ops, return_types
from minigrad.autograd import backward, grad
from minigrad.check import GradcheckError, gradcheck, gradgradcheck
from minigrad.creation import (
    Generator,
    arange,
    default_generator,
    empty,
    empty_like,
    eye,
    full,
    full_like,
    initial_seed,
    linspace,
    manual_seed,
    multinomial,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    seed,
    tensor,
    zeros,
    zeros_like,
)
from minigrad.device import DeviceError, backends, cuda, device
from minigrad.function import Function
from minigrad.functions import (
    allclose,
    amax,
    amin,
    argmax,
    argmin,
    chunk,
    clamp,
    equal,
    flatten,
    histogram,
    is_tensor,
    isclose,
    log10,
    log_softmax,
    logsumexp,
    neg,
    numel,
    softmax,
    split,
    squeeze,
    swapaxes,
    swapdims,
    t,
    tril,
    triu,
    unbind,
    unsqueeze,
)
from minigrad.graph import build as _build
from minigrad.graph import graph
from minigrad.memory import get_allocator, set_allocator
from minigrad.modes import (
    detect_anomaly,
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from minigrad.ops import (
    abs,
    cat,
    clip,
    concatenate,
    exp,
    log,
    matmul,
    maximum,
    mean,
    minimum,
    permute,
    relu,
    reshape,
    sigmoid,
    sqrt,
    stack,
    std,
    sum,
    tanh,
    transpose,
    var,
    where,
)
from minigrad.ops.registry import REGISTRY, defop
from minigrad.tensor import Tensor

# Tensor's methods (t.exp(), t @ W, t.backward()) call these functions through
# minigrad.dispatch, because tensor.py cannot import the modules that import Tensor
vars(_dispatch.ops).update((name, getattr(ops, name)) for name in ops.__all__)
_dispatch.engine.backward = backward
_dispatch.engine.build = _build
_dispatch.engine.multinomial = _creation.multinomial
_dispatch.engine.generator = _creation.generator

_memory._configure_from_environment()  # MINIGRAD_ALLOCATOR: "reuse" (default) or "system"

# PyTorch's names for the dtypes (numpy's scalar types: `x.dtype == minigrad.long` holds)
# and its type promotion.
from minigrad import dtypes as _dtypes  # noqa: E402
from minigrad import functions as _functions  # noqa: E402
from minigrad.dtypes import (  # noqa: E402
    cdouble,
    cfloat,
    complex64,
    complex128,
    double,
    float16,
    float32,
    float64,
    get_default_dtype,
    half,
    int8,
    int16,
    int32,
    int64,
    long,
    promote_types,
    result_type,
    short,
    uint8,
)

# Names that would shadow Python's builtins: attributes (`minigrad.max`, `minigrad.float`),
# left out of __all__ so that `from minigrad import *` keeps Python's max and float.
all, any, max, min, pow = (_functions.all, _functions.any, _functions.max, _functions.min,
                           _functions.pow)
bool, float, int = _dtypes.bool, _dtypes.float, _dtypes.int

__version__ = "0.1.0"

__all__ = [
    "Tensor", "tensor", "zeros", "ones", "full", "zeros_like", "ones_like", "randn", "rand",
    "arange", "eye", "manual_seed", "graph", "backward", "grad", "no_grad", "enable_grad",
    "set_grad_enabled", "is_grad_enabled", "detect_anomaly", "gradcheck", "gradgradcheck",
    "GradcheckError", "Function", "defop", "REGISTRY", "ops", "float32", "float64",
    "abs", "cat", "clip", "concatenate", "exp", "log", "matmul", "maximum", "mean", "minimum",
    "permute", "reshape", "sqrt", "stack", "std", "sum", "tanh", "sigmoid", "relu", "transpose",
    "var", "where",
    "set_allocator", "get_allocator",
    "cdouble", "cfloat", "complex64", "complex128", "double", "float16", "float64", "half",
    "int8", "int16", "int32", "int64", "long", "short", "uint8",
    "get_default_dtype", "promote_types", "result_type",
    "Generator", "default_generator", "seed", "initial_seed", "randint", "randperm",
    "multinomial", "randn_like", "rand_like", "empty", "empty_like", "full_like", "linspace",
    "allclose", "amax", "amin", "argmax", "argmin", "chunk", "clamp", "equal",
    "flatten", "histogram", "is_tensor", "isclose", "log10", "log_softmax", "logsumexp",
    "neg", "numel", "softmax", "split", "squeeze", "swapaxes", "swapdims", "t",
    "tril", "triu", "unbind", "unsqueeze", "return_types",
    "device", "DeviceError", "cuda", "backends", "inference_mode",
]
from minigrad import data  # noqa: E402, F401
from minigrad.io import load, save  # noqa: E402, F401

__all__ += ["data", "load", "save", "nn", "optim", "compile", "derive", "func"]
# nn, optim and the function transforms (as torch.func: func.jvp, func.vmap…) come last:
# they build on everything above
from minigrad import func, nn, optim  # noqa: E402

# the function shadows its package's name here: import the package's parts with
# `from minigrad.compiler import passes`, and call `minigrad.compile(fn)`
from minigrad.compiler import compile  # noqa: E402

# the same for derive: `minigrad.derive(loss, model)`; its parts by `from minigrad.derive import …`
from minigrad.derive import derive  # noqa: E402
