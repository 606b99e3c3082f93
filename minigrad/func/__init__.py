r"""Function transforms, as ``torch.func``: forward mode, reverse mode, Jacobians, Hessians
and batching.

    from minigrad import func
    out, tangent = func.jvp(f, (x,), (v,))              # forward mode: J·v in one pass
    out, vjp_fn = func.vjp(f, x);  (g,) = vjp_fn(u)     # reverse mode: uᵀ·J
    func.grad(f, argnums=0)(x);  func.grad_and_value(f)(x)
    func.jacrev(f)(x);  func.jacfwd(f)(x)               # m reverse passes vs n forward passes
    func.hessian(f)(x)                                   # forward-over-reverse
    func.vmap(f, in_dims=0, out_dims=0)(xs)              # per-example computations
    func.functional_call(model, params_and_buffers, args)

How it works: `minigrad.levels` (each op meets the active transforms),
`minigrad.forward` (tangents and JVP rules), `minigrad.func.vmap_level` and
`minigrad.func.batching` (batching rules).
"""

from minigrad.forward import derived_jvps, jvp_formula, tangents_of
from minigrad.func import batching as _batching  # noqa: F401  (registers the batching rules)
from minigrad.func.api import grad, grad_and_value, jvp, vjp, vmap
from minigrad.func.batched import BatchedTensor
from minigrad.func.batching import batched_ops
from minigrad.func.counting import Passes, count, count_passes
from minigrad.func.jacobians import hessian, jacfwd, jacrev
from minigrad.func.modules import functional_call

__all__ = [
    "jvp", "vjp", "grad", "grad_and_value", "jacrev", "jacfwd", "hessian", "vmap",
    "functional_call", "count_passes", "count", "Passes", "tangents_of", "derived_jvps",
    "jvp_formula", "batched_ops", "BatchedTensor",
]
