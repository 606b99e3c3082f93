r"""The compiler behind the function `minigrad.compile`: the networkx graph as a compiler's IR.
(The package is `minigrad.compiler` so that the function does not hide it, as PyTorch keeps
``torch.compile`` apart from the packages that implement it.)

Trace one eager call into a DiGraph (`trace`), run small pure passes over it (`passes`; one of
them lowers each rule to the numpy calls it makes, `lower`), write
the scheduled graph out as straight-line Python (`plan`), and replay that on every call (`api`).
"""

from minigrad.compiler.api import CompiledFunction, compile, compile_plan
from minigrad.compiler.passes import (
    PIPELINE,
    assign_buffers,
    differentiate,
    eliminate_dead_code,
    fold_constants,
    liveness,
    lower,
    materialize_operands,
    schedule,
    share_common_calls,
)
from minigrad.compiler.plan import Plan, PlanStats
from minigrad.compiler.trace import TraceError, trace

__all__ = [
    "PIPELINE", "CompiledFunction", "Plan", "PlanStats", "TraceError", "assign_buffers",
    "compile", "compile_plan", "differentiate", "eliminate_dead_code", "fold_constants",
    "liveness", "lower", "materialize_operands", "schedule", "share_common_calls", "trace",
]
