"""The ONNX opset the files use, and the ``onnx`` package that builds and reads them (an
optional dependency, imported only when a file is written or read)."""

from __future__ import annotations

from typing import Any

OPSET = 17
"""The ONNX opset the files use (LayerNormalization needs 17)."""


def require_onnx() -> Any:
    try:
        import onnx
    except ImportError as e:
        raise ImportError(
            "minigrad.onnx needs the onnx package: pip install 'minigrad[onnx]' (or pip install "
            "onnx)"
        ) from e
    return onnx
