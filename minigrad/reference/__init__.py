r"""The lecture's formula book: every layer's forward and backward derived by hand, in plain
numpy, and the tools that set them beside autograd.

One module per layer family, each with its derivation in the docstring in the lecture's
notation (``a_k``, ``h_k``, ``W_k``, ``b_k``, ``δ = ∇a_k L``) and nothing from the engine:

- `dense`: ``a = b + W h`` and the activations ``h = g(a)``; ``∇W = δ·hᵀ``, ``∇h = Wᵀ·δ``,
  ``∇a = ∇h ⊙ g′(a)``;
- `losses`: softmax + cross-entropy (``∇a = ŷ − e(ℓ)``), NLL, squared error, binary
  cross-entropy;
- `mlp`: the lecture's whole feedforward network, one example at a time (`forward`,
  `backward`, `loss_value`);
- `normalization`: batch norm and layer norm;
- `convolution`: conv1d/conv2d, max and average pooling;
- `embedding`, `attention`, `dropout`.

On top of them: `layers`, each ``nn`` layer as its formulas (the table `LAYER_FORMULAS`);
`compare` (module `comparison`: autograd vs the formulas, layer by layer, for the lecture's
MLP, and `layerwise` for any other model, both measuring with `measure`) and `check` (module
`checking`: autograd vs a learner's own gradients, tensor by tensor). Both name the mistake
in a wrong gradient (`diagnosis`: transposed, scaled, a path left out, a classic slip from
the lists beside the formulas, `slips`, …, or only inherited from a wrong step above), and
`origin` finds where the first NaN of a graph came from.
"""

from __future__ import annotations

from minigrad.reference.checking import CheckReport, CheckRow, check, check_tolerance
from minigrad.reference.comparison import (  # noqa: F401  (private helpers kept importable)
    Report,
    Row,
    _errors,
    _mapping,
    _rank,
    compare,
    tolerance,
)
from minigrad.reference.dense import (
    ACTIVATIONS,
    DERIVATIVES,
    Activation,
    ActivationSpec,
    activation_backward,
    activation_forward,
    gelu,
    gelu_prime,
    leaky_relu,
    leaky_relu_prime,
    linear,
    linear_backward,
    linear_forward,
    linear_prime,
    relu,
    relu_prime,
    sigmoid,
    sigmoid_prime,
    softplus,
    softplus_prime,
    tanh_prime,
)
from minigrad.reference.diagnosis import KINDS, Diagnosis
from minigrad.reference.layers import LAYER_FORMULAS, LayerFormula
from minigrad.reference.layerwise import LayerReport, LayerRow, compare_layers
from minigrad.reference.losses import LOSSES, REDUCTIONS, loss_scale, one_hot, softmax
from minigrad.reference.mlp import (
    Forward,
    Gradients,
    Params,
    backward,
    forward,
    init_params,
    loss_value,
)

__all__ = [
    "ACTIVATIONS", "DERIVATIVES", "LOSSES", "REDUCTIONS", "Activation", "ActivationSpec",
    "CheckReport", "CheckRow", "check", "check_tolerance", "Diagnosis", "KINDS",
    "LAYER_FORMULAS", "LayerFormula",
    "LayerReport", "LayerRow", "compare_layers",
    "Forward", "Gradients", "Params", "Report", "Row", "activation_backward",
    "activation_forward", "backward", "compare", "forward", "gelu", "gelu_prime",
    "init_params", "leaky_relu", "leaky_relu_prime", "linear", "linear_backward",
    "linear_forward", "linear_prime", "loss_scale", "loss_value", "one_hot", "relu",
    "relu_prime", "sigmoid", "sigmoid_prime", "softmax", "softplus", "softplus_prime",
    "tanh_prime", "tolerance",
]
