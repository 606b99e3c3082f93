"""Pictures of minigrad's computation graphs: Graphviz diagrams, a backward step-through page,
and matplotlib plots of gradients and training.

- `draw` returns a `graphviz.Digraph` of a tensor's graph. In Jupyter it displays inline (a
  Digraph implements ``_repr_mimebundle_``, so ending a cell with ``visualize.draw(loss)``
  shows the SVG); `render` saves it as .svg, .png, .pdf or .dot.
- `backward_steps` writes one self-contained HTML page that steps through backward, one op
  at a time.
- `grad_flow`, `plot_history` and `decision_boundary` save matplotlib figures (Agg backend,
  no display needed).
- `lecture_net` builds the lecture's small feedforward network, runs forward and backward on
  one random example, and returns ``(model, loss)`` ready to draw.

This package is the only part of minigrad that imports graphviz and matplotlib.
"""

from .diagram import draw
from .files import GraphvizNotFound
from .lecture import lecture_net
from .plan import draw_pass, draw_plan
from .plots import decision_boundary, grad_flow, plot_history
from .render import render
from .steps import backward_steps

__all__ = [
    "GraphvizNotFound",
    "backward_steps",
    "decision_boundary",
    "draw",
    "draw_pass",
    "draw_plan",
    "grad_flow",
    "lecture_net",
    "plot_history",
    "render",
]
