r"""Neural network building blocks: `Module`, `Parameter`, layers, activations and losses.

A model is a tree of modules; its leaves hold the lecture's `W_k` and `b_k` as Parameters.
``MLP([2, 16, 3])`` is the lecture's feedforward network with one hidden layer of 16 neurons:
`a_1 = W_1 x + b_1`, `h_1 = g(a_1)`, `a_2 = W_2 h_1 + b_2` (the logits).
"""

from minigrad.nn import functional, init, utils
from minigrad.nn.activation import (
    ACTIVATIONS,
    GELU,
    Identity,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from minigrad.nn.attention import CausalSelfAttention
from minigrad.nn.batchnorm import BatchNorm1d, BatchNorm2d
from minigrad.nn.conv import AvgPool2d, Conv1d, Conv2d, Flatten, MaxPool2d
from minigrad.nn.layers import MLP, Dropout, Linear, ModuleDict, ModuleList, Sequential
from minigrad.nn.loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from minigrad.nn.module import IncompatibleKeys, Module, StateDictError
from minigrad.nn.normalization import LayerNorm
from minigrad.nn.parameter import Parameter
from minigrad.nn.sparse import Embedding

__all__ = [
    "Module", "Parameter", "StateDictError", "IncompatibleKeys",
    "Linear", "Sequential", "ModuleList", "ModuleDict", "MLP", "Dropout",
    "BatchNorm1d", "BatchNorm2d",
    "Conv1d", "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten",
    "LayerNorm", "Embedding", "CausalSelfAttention",
    "ReLU", "Tanh", "Sigmoid", "LeakyReLU", "GELU", "Softplus", "Identity", "Softmax",
    "ACTIVATIONS",
    "CrossEntropyLoss", "MSELoss", "BCEWithLogitsLoss",
    "functional", "init", "utils",
]
