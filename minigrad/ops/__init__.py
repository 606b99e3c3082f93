"""All built-in ops. Importing this package declares them in `REGISTRY`."""

from minigrad.ops.activation import gelu, leaky_relu, relu, sigmoid, softplus, stable_sigmoid, tanh
from minigrad.ops.attention import masked_fill, scaled_dot_product_attention
from minigrad.ops.conv import avg_pool2d, conv1d, conv2d, flatten, max_pool2d, pad
from minigrad.ops.dropout import dropout
from minigrad.ops.elementwise import (
    abs,
    add,
    astype,
    clamp,
    clip,
    div,
    exp,
    log,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    sqrt,
    sub,
    where,
)
from minigrad.ops.embedding import EmbeddingIndexError, embedding
from minigrad.ops.layernorm import layer_norm
from minigrad.ops.linalg import linear, matmul
from minigrad.ops.loss import (
    binary_cross_entropy_with_logits,
    cross_entropy,
    log_softmax,
    mse_loss,
    nll_loss,
    softmax,
    stable_log_softmax,
    stable_softmax,
)
from minigrad.ops.norm_batch import batch_norm
from minigrad.ops.reduce import logsumexp, max, mean, min, std, sum, var
from minigrad.ops.registry import OUT, REGISTRY, Op, defop, registered
from minigrad.ops.shape import (
    broadcast_to,
    cat,
    concatenate,
    getitem,
    normalize_index,
    permute,
    reshape,
    scatter_add,
    scatter_add_forward,
    setitem,
    squeeze,
    stack,
    swap_dims,
    transpose,
    unsqueeze,
)

__all__ = [
    "OUT", "REGISTRY", "Op", "defop", "registered",
    "abs", "add", "astype", "clamp", "clip", "div", "exp", "log", "maximum", "minimum", "mul",
    "neg", "pow", "sqrt", "sub", "where",
    "gelu", "leaky_relu", "relu", "sigmoid", "softplus", "tanh", "stable_sigmoid",
    "logsumexp", "max", "mean", "min", "std", "sum", "var",
    "broadcast_to", "cat", "concatenate", "getitem", "normalize_index", "permute", "reshape",
    "scatter_add", "scatter_add_forward", "setitem", "squeeze", "stack", "swap_dims", "transpose",
    "unsqueeze",
    "linear", "matmul",
    "avg_pool2d", "conv1d", "conv2d", "flatten", "max_pool2d", "pad",
    "batch_norm",
    "binary_cross_entropy_with_logits", "cross_entropy", "log_softmax", "mse_loss", "nll_loss",
    "softmax", "stable_log_softmax", "stable_softmax",
    "dropout", "embedding", "EmbeddingIndexError", "layer_norm", "masked_fill",
    "scaled_dot_product_attention",
]
