"""The example models beyond the lecture's MLP (`minigrad.nn.MLP`), importable so that the
examples, `compare`, export and the benchmarks all use the same architectures:

- `minigrad.models.cnn.DigitsCNN`: conv → relu → pool, twice, then linear (8×8 digits).
- `minigrad.models.transformer.TinyTransformer`: a decoder-only transformer (token + position
  embeddings, blocks of causal self-attention + MLP with layer norm and residuals).
"""
