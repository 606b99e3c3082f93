r"""The gradient as a formula: any gradient derived from the recorded graph, step by step, in
the lecture's notation.

    d = minigrad.derive(loss, model)     # or a list of tensors; level="op": every op
    print(d)                             # forward, the δs, the gradients, the steps
    d[W1].text                           # '∇W_1 L = δ_1 · h_0ᵀ'
    d[W1].latex                          # '\nabla_{W_1} L = \delta_1 \, h_0^\top'
    d[W1].evaluate()                     # = autograd's gradient

The parts, in the order `derive` uses them:

- `minigrad.derive.names`: the lecture's names (``W_k``, ``a_k``, ``h_k``, ``ŷ``, ``ℓ``)
  for a stack of layers, dotted parameter names and tensors' names otherwise;
- `minigrad.derive.trace`: the registry's rules traced on stand-in tensors into an
  expression graph (networkx), one node per operation a rule performs;
- `minigrad.derive.glossary`: the formula book's names for quantities inside rules (``ŷ``,
  ``e(ℓ)``, ``x̂``, ``P``, ``∇S``, the ``N`` of a mean);
- `minigrad.derive.passes`: pure simplification passes, DiGraph → DiGraph;
- `minigrad.derive.scalars`: scalar coefficients with sympy;
- `minigrad.derive.render`: the printer (Unicode and LaTeX), and which values get names;
- `minigrad.derive.modules`: steps per layer, matched to the formula book;
"""

from minigrad.derive.derivation import LEVELS, Definition, Derivation, Formula, Step, derive

__all__ = ["derive", "Derivation", "Formula", "Definition", "Step", "LEVELS"]
