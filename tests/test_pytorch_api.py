"""PyTorch's names, arguments and defaults that lecture code reaches for, checked against
PyTorch where it computes something, and by their contract where numbers are random."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.nn import functional as F

torch = pytest.importorskip("torch")


# --------------------------------------------------------------------- random numbers
def test_generator_manual_seed_returns_the_generator_and_repeats() -> None:
    g = mg.Generator().manual_seed(2147483647)
    assert isinstance(g, mg.Generator) and g.initial_seed() == 2147483647
    a = mg.randn((27, 10), generator=g)
    b = mg.randn(27, 10, generator=mg.Generator().manual_seed(2147483647))
    assert a.shape == (27, 10) and a.dtype == np.float32
    np.testing.assert_array_equal(a.data, b.data)
    assert not np.array_equal(a.data, mg.randn(27, 10, generator=g).data)  # it moved on


def test_manual_seed_seeds_the_default_generator() -> None:
    g = mg.manual_seed(3)
    assert g is mg.default_generator
    x = mg.rand(5)
    mg.manual_seed(3)
    np.testing.assert_array_equal(x.data, mg.rand(5).data)
    assert ((x.data >= 0) & (x.data < 1)).all()


def test_a_generator_leaves_the_default_one_alone() -> None:
    mg.manual_seed(0)
    ref = mg.randn(4).data
    mg.manual_seed(0)
    g = mg.Generator().manual_seed(1)
    for f in (lambda: mg.randn(3, generator=g), lambda: mg.rand(3, generator=g),
              lambda: mg.randint(0, 5, (3,), generator=g), lambda: mg.randperm(4, generator=g),
              lambda: mg.multinomial(mg.tensor([0.2, 0.8]), 2, True, generator=g),
              lambda: F.dropout(mg.ones(4), 0.5, generator=g),
              lambda: nn.init.normal_(mg.zeros(2, 2), generator=g)):
        f()
    np.testing.assert_array_equal(mg.randn(4).data, ref)


@pytest.mark.parametrize("args", [(0, 27, (32,)), (27, (32,)), (5, 9, (3, 4))])
def test_randint_takes_pytorch_arguments(args: tuple) -> None:
    g = mg.Generator().manual_seed(0)
    x = mg.randint(*args, generator=g)
    t = torch.randint(*args, generator=torch.Generator().manual_seed(0))
    assert x.shape == tuple(t.shape) and x.dtype == np.int64
    lo, hi = (0, args[0]) if len(args) == 2 else args[:2]
    assert x.data.min() >= lo and x.data.max() < hi


def test_randint_errors() -> None:
    with pytest.raises(TypeError, match="tuple"):
        mg.randint(0, 10, 5)
    with pytest.raises(ValueError, match="empty"):
        mg.randint(3, 3, (2,))


def test_multinomial_draws_by_weight() -> None:
    g = mg.Generator().manual_seed(0)
    probs = mg.tensor([0.0, 0.25, 0.75])
    x = mg.multinomial(probs, num_samples=4000, replacement=True, generator=g)
    assert x.shape == (4000,) and x.dtype == np.int64
    counts = np.bincount(x.data, minlength=3) / 4000
    np.testing.assert_allclose(counts, [0, 0.25, 0.75], atol=0.03)
    one = mg.multinomial(probs, num_samples=1, replacement=True, generator=g).item()
    assert one in (1, 2)
    rows = probs.multinomial(2, generator=g)  # the method; without replacement: 1 and 2
    assert sorted(rows.tolist()) == [1, 2]
    batch = mg.multinomial(mg.tensor([[1.0, 0.0], [0.0, 3.0]]), 1, generator=g)
    assert batch.tolist() == [[0], [1]]
    with pytest.raises(ValueError, match="without replacement"):
        mg.multinomial(probs, 3)
    with pytest.raises(ValueError, match="non-negative"):
        mg.multinomial(mg.tensor([-1.0, 2.0]), 1)


def test_randperm_is_a_permutation() -> None:
    p = mg.randperm(10, generator=mg.Generator().manual_seed(5))
    assert sorted(p.tolist()) == list(range(10)) and p.dtype == np.int64


def test_dropout_with_a_generator_repeats() -> None:
    x = mg.ones(100)
    a = F.dropout(x, 0.3, generator=mg.Generator().manual_seed(9))
    b = F.dropout(x, 0.3, generator=mg.Generator().manual_seed(9))
    np.testing.assert_array_equal(a.data, b.data)
    assert set(np.unique(a.data).tolist()) <= {0.0, np.float32(1 / 0.7)}


@pytest.mark.parametrize("init", [
    lambda t, g: nn.init.normal_(t, mean=1.0, std=0.02, generator=g),
    lambda t, g: nn.init.uniform_(t, -0.1, 0.1, generator=g),
    lambda t, g: nn.init.xavier_uniform_(t, generator=g),
    lambda t, g: nn.init.xavier_normal_(t, gain=nn.init.calculate_gain("tanh"), generator=g),
    lambda t, g: nn.init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu", generator=g),
    lambda t, g: nn.init.kaiming_uniform_(t, a=5 ** 0.5, generator=g),
    lambda t, g: nn.init.trunc_normal_(t, std=0.02, generator=g),
])
def test_init_functions_fill_in_place_from_a_generator(init) -> None:
    w = nn.Parameter(np.zeros((64, 32), np.float32))
    memory = w.data
    out = init(w, mg.Generator().manual_seed(0))
    assert out is w and w.data is memory and w.version == 1 and w.dtype == np.float32
    again = init(nn.Parameter(np.zeros((64, 32), np.float32)), mg.Generator().manual_seed(0))
    np.testing.assert_array_equal(w.data, again.data)
    assert w.data.std() > 0


def test_init_statistics_match_pytorch_formulas() -> None:
    g = mg.Generator().manual_seed(1)
    w = nn.init.kaiming_normal_(mg.zeros(400, 300), generator=g)
    assert w.data.std() == pytest.approx(np.sqrt(2 / 300), rel=0.02)
    w = nn.init.normal_(mg.zeros(400, 300), mean=0.0, std=0.02, generator=g)
    assert w.data.std() == pytest.approx(0.02, rel=0.02)
    for name in ("linear", "sigmoid", "tanh", "relu", "selu"):
        assert nn.init.calculate_gain(name) == pytest.approx(torch.nn.init.calculate_gain(name))
    assert nn.init.calculate_gain("leaky_relu", 0.2) == pytest.approx(
        torch.nn.init.calculate_gain("leaky_relu", 0.2))
    z = nn.init.zeros_(mg.ones(3))
    o = nn.init.ones_(mg.zeros(3))
    c = nn.init.constant_(mg.zeros(3), 0.5)
    assert z.tolist() == [0, 0, 0] and o.tolist() == [1, 1, 1] and c.tolist() == [0.5] * 3


# --------------------------------------------------------------------- sizes
def test_size_numel_nelement_dim() -> None:
    x0 = np.zeros((4, 3, 2))
    for lib in (mg, torch):
        x = lib.tensor(x0)
        assert tuple(x.size()) == (4, 3, 2) and x.size(1) == 3 and x.size(-1) == 2
        assert x.numel() == 24 and x.nelement() == 24 and x.dim() == 3
        assert tuple(x.shape) == (4, 3, 2)
    model = nn.Linear(3, 2)
    assert sum(p.nelement() for p in model.parameters()) == 8
    with pytest.raises(ValueError, match="3 dims"):
        mg.tensor(x0).size(3)
