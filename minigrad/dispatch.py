"""Where Tensor's methods find the functions they call.

``t.exp()`` runs `minigrad.ops.exp`, ``t.backward()`` runs `minigrad.autograd.backward`; but
the op modules and autograd import Tensor (they make tensors), so tensor.py cannot import
them back. Instead each of them puts its functions into one of the two namespaces below when
it is imported, and Tensor's methods look them up here when they are called, as PyTorch's
methods reach their kernels through its dispatcher. ``import minigrad`` imports them all, so
by the time a method runs, its function is here.
"""

from types import SimpleNamespace

ops = SimpleNamespace()
"""`minigrad.ops`'s public functions by name (``add``, ``exp``, ``matmul``, …): filled in by
``minigrad/ops/__init__.py``."""

engine = SimpleNamespace()
"""The rest of what Tensor's methods call: ``backward`` (`minigrad.autograd`), ``build``
(`minigrad.graph`), ``multinomial`` and ``generator`` (`minigrad.creation`)."""
