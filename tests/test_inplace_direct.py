"""In-place arithmetic that records nothing writes straight into the tensor's memory: the
same values as the recorded path, bit for bit, the version bumped, errors unchanged."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg


@pytest.mark.parametrize("method", ["add_", "sub_", "mul_", "div_"])
@pytest.mark.parametrize("other_dtype", ["float32", "float64"])
def test_direct_path_equals_the_recorded_one(method: str, other_dtype: str) -> None:
    rng = np.random.default_rng(0)
    base = rng.standard_normal((5, 4)).astype(np.float32)
    other = (rng.standard_normal((5, 4)) + 3).astype(other_dtype)
    direct = mg.Tensor(base, requires_grad=True)
    memory = direct.data
    with mg.no_grad():
        getattr(direct, method)(mg.Tensor(other))
    ref = getattr(mg.Tensor(base) * 1.0, method)(mg.Tensor(other))  # records nothing either
    expected = {"add_": np.add, "sub_": np.subtract, "mul_": np.multiply,
                "div_": np.divide}[method](base, other).astype(np.float32)
    assert direct.data is memory
    assert direct.version == 1
    assert np.array_equal(direct.data, expected)
    assert np.array_equal(ref.data, expected)


def test_alpha_scales_as_the_mul_op_does() -> None:
    rng = np.random.default_rng(1)
    w = rng.standard_normal((3, 3)).astype(np.float32)
    g = rng.standard_normal((3, 3)).astype(np.float32)
    p = mg.Tensor(w, requires_grad=True)
    with mg.no_grad():
        p.sub_(mg.Tensor(g), alpha=0.1)
    assert np.array_equal(p.data, w - (g * np.float32(0.1)))
    q = mg.Tensor(w, requires_grad=True)
    with mg.no_grad():
        q.sub_(mg.Tensor(g) * 0.1)
    assert np.array_equal(p.data, q.data)


def test_broadcasting_numbers_and_errors() -> None:
    t = mg.Tensor(np.ones((2, 3), np.float32))
    t.add_(2.0)
    t.mul_(mg.Tensor(np.arange(3, dtype=np.float32)))  # other shape: the general path
    assert np.array_equal(t.data, np.tile(np.arange(3, dtype=np.float32) * 3, (2, 1)))
    assert t.version == 2
    i = mg.Tensor(np.ones(3, np.int64))
    with pytest.raises(TypeError):
        i.add_(mg.Tensor(np.full(3, 0.5)))
    assert np.array_equal(i.data, np.ones(3)) and i.version == 0


def test_recording_still_happens_when_grad_is_on() -> None:
    x = mg.Tensor(np.ones(3), requires_grad=True)
    y = x * 2.0
    y.add_(1.0)
    assert y.op == "add"
    y.sum().backward()
    assert np.array_equal(x.grad.numpy(), np.full(3, 2.0))
