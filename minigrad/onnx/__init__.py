r"""ONNX export and load: a model (or a function) as an ONNX file that ONNX Runtime runs and
Netron draws, and such a file back as minigrad ops.

`export` runs one forward call and turns minigrad's own graph of it (`minigrad.graph`: a
networkx DAG, walked in topological order) into an ONNX graph: one ONNX node per registry op,
or a small fixed pattern of them (attention is MatMul, Mul, Where, Softmax, MatMul), and one
initializer per parameter or buffer under its dotted name (``layers.0.weight``,
``0.running_mean``). Nothing is traced through Python: the file holds exactly the ops the
diagrams show.

The export is made in evaluation mode (dropout off, batch norm with its running statistics),
whatever mode the model is in; the model is left in the mode it was in. With
``dynamic_batch`` the first axis of every input is a symbolic ``batch`` dimension, so the file
runs on any batch size.

`load` reads a file of those ops back into a function of minigrad ops, whose parameters
are Tensors named as in the file: a graph to draw, differentiate and compare.

The package: `exporter` (the walk and its checks), `ops` (the mapping table, one handler per
registry op), `loader` (ONNX nodes back to minigrad ops), `opset` (the opset and the ``onnx``
import).

Needs the ``onnx`` package (``pip install minigrad[onnx]``); ``onnxruntime`` runs the result.

Example::

    import minigrad.onnx
    minigrad.onnx.export(model, np.zeros((1, 2), np.float32), "model.onnx")

    import onnxruntime as ort
    sess = ort.InferenceSession("model.onnx")
    logits = sess.run(None, {"input": x})[0]
"""

from minigrad.onnx.exporter import export
from minigrad.onnx.loader import LoadError, OnnxFunction, load
from minigrad.onnx.ops import ExportError, supported_ops
from minigrad.onnx.opset import OPSET

__all__ = ["export", "ExportError", "OPSET", "supported_ops", "load", "LoadError", "OnnxFunction"]
