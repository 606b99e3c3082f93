"""Module buffers: registration, traversal, state dicts in PyTorch's order, strict loading and
checkpoint files (int64 counters included)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import minigrad as mg
from minigrad import Tensor, nn


class Counter(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 3, dtype="float64")
        self.register_buffer("steps", Tensor(np.array(0, dtype=np.int64)))
        self.scale = nn.Parameter(np.ones(3))
        self.register_buffer("centre", Tensor(np.zeros(3)))
        self.register_buffer("cache", Tensor(np.ones(2)), persistent=False)
        self.register_buffer("unset", None)
        self.bn = nn.BatchNorm1d(3, dtype="float64")


def test_register_and_traverse() -> None:
    m = Counter()
    assert [n for n, _ in m.named_buffers()] == [
        "steps", "centre", "cache", "bn.running_mean", "bn.running_var",
        "bn.num_batches_tracked"]
    assert [n for n, _ in m.named_buffers(recurse=False)] == ["steps", "centre", "cache"]
    assert list(m.buffers())[0] is m.steps
    assert m.unset is None
    # buffers are no parameters: optimizers never see them
    assert {id(p) for p in m.parameters()}.isdisjoint(id(b) for b in m.buffers())
    m.centre = Tensor(np.full(3, 2.0))  # assignment replaces the buffer
    assert dict(m.named_buffers())["centre"] is m.centre
    del m.centre
    assert "centre" not in dict(m.named_buffers())


def test_state_dict_order_matches_torch() -> None:
    torch = pytest.importorskip("torch")

    class TorchCounter(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(2, 3)
            self.register_buffer("steps", torch.tensor(0))
            self.scale = torch.nn.Parameter(torch.ones(3))
            self.register_buffer("centre", torch.zeros(3))
            self.register_buffer("cache", torch.ones(2), persistent=False)
            self.register_buffer("unset", None)
            self.bn = torch.nn.BatchNorm1d(3)

    assert list(Counter().state_dict()) == list(TorchCounter().state_dict())
    assert list(Counter().state_dict()) == [
        "scale", "steps", "centre", "lin.weight", "lin.bias", "bn.weight", "bn.bias",
        "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"]


def test_state_dict_copies_buffers() -> None:
    m = Counter()
    sd = m.state_dict()
    assert sd["steps"].dtype == np.int64 and sd["steps"].shape == ()
    assert not np.shares_memory(sd["centre"].data, m.centre.data)
    m.centre.data[...] = 5.0
    np.testing.assert_array_equal(sd["centre"].data, 0.0)


def test_load_state_dict_loads_buffers_in_place() -> None:
    a, b = Counter(), Counter()
    a.steps.data[...] = 7
    a.centre.data[...] = [1.0, 2.0, 3.0]
    a.bn(Tensor(np.random.default_rng(0).normal(size=(4, 3))))
    centre = b.centre
    b.load_state_dict(a.state_dict())
    assert b.centre is centre  # the same object, written in place
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert x.dtype == y.dtype and x.data.tobytes() == y.data.tobytes(), name
    assert b.bn.num_batches_tracked.item() == 1
    np.testing.assert_array_equal(b.cache.data, 1.0)  # not persistent: not loaded


def test_load_state_dict_buffer_problems_change_nothing() -> None:
    m = Counter()
    before = {k: v.data.tobytes() for k, v in m.state_dict().items()}
    sd: dict[str, Any] = {k: v.data + 1 for k, v in m.state_dict().items()}
    del sd["bn.running_var"]  # missing
    sd["steps"] = np.array(1.5)  # a float where the counter is an integer
    sd["centre"] = np.zeros(4)  # wrong shape
    sd["cache"] = np.zeros(2)  # not persistent: unexpected
    with pytest.raises(mg.nn.StateDictError) as info:
        m.load_state_dict(sd)
    msg = str(info.value)
    assert len(info.value.problems) == 4
    for text in ("missing key 'bn.running_var'", "unexpected key 'cache'", "'centre': shape (4,)",
                 "'steps': dtype float64", "int64 values needed"):
        assert text in msg, text
    assert {k: v.data.tobytes() for k, v in m.state_dict().items()} == before
    res = m.load_state_dict({"steps": np.array(3, dtype=np.int32)}, strict=False)
    assert "bn.running_var" in res.missing_keys
    assert m.steps.item() == 3 and m.steps.dtype == np.int64


@pytest.mark.parametrize("how", ["module", "functions"])
def test_checkpoint_round_trip_keeps_int64(tmp_path: Any, how: str) -> None:
    a, b = Counter(), Counter()
    rng = np.random.default_rng(1)
    for _ in range(3):
        a.bn(Tensor(rng.normal(size=(5, 3))))
    a.steps.data[...] = 2**40  # beyond float32 and int32
    path = tmp_path / "counter.npz"
    if how == "module":
        a.save(path)
        b.load(path)
    else:
        mg.save(a.state_dict(), path)
        loaded = mg.load(path)
        assert list(loaded) == list(a.state_dict())
        assert loaded["bn.num_batches_tracked"].dtype == np.int64
        b.load_state_dict(loaded)
    assert b.steps.item() == 2**40 and b.steps.dtype == np.int64
    assert b.bn.num_batches_tracked.item() == 3
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert x.dtype == y.dtype and x.data.tobytes() == y.data.tobytes(), name


def test_register_buffer_errors() -> None:
    m = Counter()
    with pytest.raises(KeyError, match="without '.'"):
        m.register_buffer("a.b", Tensor(np.zeros(1)))
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("scale", Tensor(np.zeros(1)))
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("lin", Tensor(np.zeros(1)))
    with pytest.raises(TypeError, match="expected a Tensor or None, got ndarray"):
        m.register_buffer("fresh", np.zeros(1))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="buffer 'centre'"):
        m.centre = np.zeros(3)
    assert "fresh" not in dict(m.named_buffers())
    # a parameter registered under a buffer's name replaces it
    m.centre = nn.Parameter(np.zeros(3))
    assert "centre" not in dict(m.named_buffers()) and "centre" in dict(m.named_parameters())


def test_train_and_eval_reach_nested_batchnorm() -> None:
    m = Counter()
    m.eval()
    assert not m.bn.training
    x = Tensor(np.random.default_rng(2).normal(size=(4, 3)))
    m.bn(x)
    assert m.bn.num_batches_tracked.item() == 0
    m.train()
    m.bn(x)
    assert m.bn.num_batches_tracked.item() == 1
