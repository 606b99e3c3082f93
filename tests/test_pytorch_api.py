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


# --------------------------------------------------------------------- dim= everywhere
X0 = np.array([[0.5, -1.0, 2.0, 0.0], [3.0, 1.5, -2.5, 1.0], [-0.5, 0.25, 1.0, 4.0]])

DIM_CALLS = {
    "sum(1, keepdim=True)": lambda lib, x: x.sum(1, keepdim=True),
    "sum(dim=(0, 1))": lambda lib, x: x.sum(dim=(0, 1)),
    "mean(dim=0)": lambda lib, x: x.mean(dim=0),
    "lib.mean(x, 1, True)": lambda lib, x: lib.mean(x, 1, True),
    "lib.sum(x, dim=0)": lambda lib, x: lib.sum(x, dim=0),
    "max()": lambda lib, x: x.max(),
    "max(1).values": lambda lib, x: x.max(1).values,
    "max(dim=0, keepdim=True)[0]": lambda lib, x: x.max(dim=0, keepdim=True)[0],
    "min(1, keepdim=True).values": lambda lib, x: x.min(1, keepdim=True).values,
    "lib.max(x, 1)[0]": lambda lib, x: lib.max(x, 1)[0],
    "lib.max(x, y)": lambda lib, x: lib.max(x, x.flip(0) if lib is torch else x[::-1]),
    "x.max(y)": lambda lib, x: x.max(x * 0.5),
    "amax(dim=(0, 1))": lambda lib, x: x.amax(dim=(0, 1)),
    "amin(1, True)": lambda lib, x: x.amin(1, True),
    "softmax(dim=1)": lambda lib, x: x.softmax(dim=1),
    "F.softmax(x, dim=-1)": lambda lib, x: lib.nn.functional.softmax(x, dim=-1),
    "F.softmax(x, 0)": lambda lib, x: lib.nn.functional.softmax(x, 0),
    "F.log_softmax(x, dim=1)": lambda lib, x: lib.nn.functional.log_softmax(x, dim=1),
    "lib.softmax(x, 1)": lambda lib, x: lib.softmax(x, 1),
    "logsumexp(dim=1)": lambda lib, x: x.logsumexp(dim=1),
    "lib.cat([x, x], dim=1)": lambda lib, x: lib.cat([x, x], dim=1),
    "lib.cat((x, x), 0)": lambda lib, x: lib.cat((x, x), 0),
    "lib.stack([x, x], dim=1)": lambda lib, x: lib.stack([x, x], dim=1),
    "lib.stack([x, x], -1)": lambda lib, x: lib.stack([x, x], -1),
    "unsqueeze(dim=1)": lambda lib, x: x.unsqueeze(dim=1),
    "unsqueeze(1).squeeze(dim=1)": lambda lib, x: x.unsqueeze(1).squeeze(dim=1),
    "squeeze(0) (not of size 1)": lambda lib, x: x.squeeze(0),
    "view(1, 3, 4).squeeze()": lambda lib, x: x.view(1, 3, 4).squeeze(),
    "flatten()": lambda lib, x: x.flatten(),
    "view(-1, 2)": lambda lib, x: x.view(-1, 2),
    "expand(2, 3, 4)": lambda lib, x: x.expand(2, 3, 4),
    "x[:1].expand(3, -1)": lambda lib, x: x[:1].expand(3, -1),
    "log10()": lambda lib, x: (x.abs() + 1).log10(),
    "lib.log10(x)": lambda lib, x: lib.log10(x.abs() + 1),
    "tril()": lambda lib, x: x.tril(),
    "lib.tril(x, 1)": lambda lib, x: lib.tril(x, 1),
    "lib.triu(x, -1)": lambda lib, x: lib.triu(x, -1),
    "lib.cat(x.unbind(1), 0)": lambda lib, x: lib.cat(x.unbind(1), 0),
    "lib.cat(x.split(3, dim=1)[::-1], 1)": lambda lib, x: lib.cat(x.split(3, dim=1)[::-1], 1),
    "x.split([1, 3], 1)[1]": lambda lib, x: x.split([1, 3], 1)[1],
    "lib.cat(x.chunk(2, 1), 0)": lambda lib, x: lib.cat(x.chunk(2, 1), 0),
    "x.t()": lambda lib, x: x.t(),
}


@pytest.mark.parametrize("name", DIM_CALLS)
def test_pytorch_calls_give_pytorch_values_and_gradients(name: str) -> None:
    f = DIM_CALLS[name]
    x, t = mg.tensor(X0, requires_grad=True), torch.tensor(X0, requires_grad=True)
    y, ty = f(mg, x), f(torch, t)
    assert y.shape == tuple(ty.shape), name
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-14, atol=1e-15)
    w = np.random.default_rng(0).standard_normal(y.shape)
    (y * mg.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad.data, t.grad.numpy(), rtol=1e-13, atol=1e-15)


INDEX_CALLS = {
    "argmax()": lambda lib, x: x.argmax(),
    "argmax(dim=1)": lambda lib, x: x.argmax(dim=1),
    "argmax(1, keepdim=True)": lambda lib, x: x.argmax(1, keepdim=True),
    "lib.argmin(x, dim=0)": lambda lib, x: lib.argmin(x, dim=0),
    "max(1).indices": lambda lib, x: x.max(1).indices,
    "min(dim=0, keepdim=True)[1]": lambda lib, x: x.min(dim=0, keepdim=True)[1],
    "all()": lambda lib, x: (x > -3).all(),
    "lib.all(x > 0, dim=1)": lambda lib, x: lib.all(x > 0, dim=1),
    "any(dim=0, keepdim=True)": lambda lib, x: (x > 3).any(dim=0, keepdim=True),
    "isclose": lambda lib, x: x.isclose(x + 1e-9),
    "F.one_hot(argmax)": lambda lib, x: lib.nn.functional.one_hot(x.argmax(1), num_classes=5),
    "F.one_hot(idx)": lambda lib, x: lib.nn.functional.one_hot(lib.tensor([[0, 3], [2, 1]])),
}


@pytest.mark.parametrize("name", INDEX_CALLS)
def test_pytorch_index_and_bool_results(name: str) -> None:
    f = INDEX_CALLS[name]
    y, ty = f(mg, mg.tensor(X0)), f(torch, torch.tensor(X0))
    assert y.shape == tuple(ty.shape) and y.dtype == np.dtype(str(ty.dtype)[6:])
    np.testing.assert_array_equal(y.data, ty.numpy())


def test_max_over_a_dim_is_a_named_pair() -> None:
    x = mg.tensor(X0)
    values, indices = x.max(dim=1)
    pair = x.max(1)
    assert pair.values is not None and pair.indices.tolist() == indices.tolist() == [2, 0, 3]
    assert repr(pair).startswith("max(values=")
    with pytest.raises(TypeError, match="amax"):
        x.max(dim=(0, 1))


def test_allclose_equal_and_friends() -> None:
    a = mg.tensor([1.0, 2.0])
    assert mg.allclose(a, a + 1e-9) and not mg.allclose(a, a + 1e-3)
    assert a.allclose(mg.tensor([1.0, 2.0])) and mg.equal(a, mg.tensor([1.0, 2.0]))
    assert isinstance(mg.allclose(a, a), bool) and mg.is_tensor(a) and mg.numel(a) == 2
    assert bool(mg.all(a > 0)) and not bool(mg.any(a > 5))


def test_linspace_and_histogram_match_pytorch() -> None:
    np.testing.assert_allclose(mg.linspace(-1, 1, 5).data, torch.linspace(-1, 1, 5).numpy())
    assert mg.linspace(0, 1, 3).dtype == np.float32
    x0 = np.random.default_rng(1).standard_normal(500).astype(np.float32)
    for kw in ({}, {"bins": 7}, {"bins": 10, "density": True}, {"bins": 4, "range": (-1.0, 1.0)}):
        h, e = mg.histogram(mg.tensor(x0), **kw)
        th, te = torch.histogram(torch.tensor(x0), **kw)
        np.testing.assert_allclose(h.data, th.numpy(), rtol=1e-5)
        np.testing.assert_allclose(e.data, te.numpy(), rtol=1e-5, atol=1e-6)
        assert h.dtype == np.float32
    with pytest.raises(TypeError, match="floating"):
        mg.histogram(mg.tensor([1, 2]))


# --------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("name", ["long", "float", "double", "int", "int32", "int64", "float32",
                                  "float64", "bool", "half", "short", "uint8", "int8",
                                  "int16", "float16"])
def test_dtype_names_are_pytorchs(name: str) -> None:
    want = str(getattr(torch, name)).replace("torch.", "")
    assert np.dtype(getattr(mg, name)) == np.dtype(want)
    assert mg.zeros(2, dtype=getattr(mg, name)).dtype == getattr(mg, name)
    assert mg.tensor([1, 0], dtype=getattr(mg, name)).dtype == np.dtype(want)


@pytest.mark.parametrize("method", ["long", "float", "double", "int", "bool", "half"])
def test_conversion_methods(method: str) -> None:
    x0 = np.array([1.5, -2.0, 0.0], np.float32)
    y, ty = getattr(mg.tensor(x0), method)(), getattr(torch.tensor(x0), method)()
    assert y.dtype == np.dtype(str(ty.dtype)[6:])
    np.testing.assert_array_equal(y.data, ty.numpy())


def test_to_and_type() -> None:
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    assert x.to("cpu") is x and x.to(mg.float32) is x and x.float() is x and x.cpu() is x
    y = x.to(mg.float64)
    assert y.dtype == np.float64 and y.requires_grad and not y.is_leaf
    assert x.to("cpu", mg.float64).dtype == np.float64
    assert x.to(device="cpu", dtype=mg.long).dtype == np.int64
    assert x.to(mg.tensor([1], dtype=mg.int32)).dtype == np.int32
    assert x.to(x.device) is x and x.device == "cpu" and str(x.device) == "cpu"
    assert x.type(mg.float64).dtype == np.float64 and x.type_as(y).dtype == np.float64
    assert x.to(copy=True) is not x
    (y * y).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0])
    assert x.grad.dtype == np.float32


# --------------------------------------------------------------------- devices
def test_the_lecture_device_line_picks_the_cpu() -> None:
    device = "cuda" if mg.cuda.is_available() else "cpu"
    assert device == "cpu" and not mg.backends.mps.is_available()
    assert mg.cuda.device_count() == 0
    mg.cuda.manual_seed(1337)  # nothing to seed: no error
    for make in (lambda: mg.zeros(2, 2, device=device), lambda: mg.ones(3, device=device),
                 lambda: mg.tensor([1, 2], dtype=mg.long, device=device),
                 lambda: mg.arange(4, device=device), lambda: mg.randn(2, device=device),
                 lambda: mg.randint(0, 3, (2,), device=device),
                 lambda: mg.full((2,), 1.0, device=mg.device("cpu")),
                 lambda: mg.empty(2, device=device), lambda: mg.linspace(0, 1, 3, device=device)):
        t = make()
        assert t.to(device) is t and t.device == mg.device("cpu")
    model = nn.Linear(2, 2)
    assert model.to(device) is model and model.cpu() is model


@pytest.mark.parametrize("bad", ["cuda", "cuda:0", "mps", "meta"])
def test_another_device_is_a_clear_error(bad: str) -> None:
    for f in (lambda: mg.zeros(2, device=bad), lambda: mg.ones(2).to(bad),
              lambda: nn.Linear(2, 2).to(bad), lambda: mg.Generator(device=bad),
              lambda: mg.device(bad)):
        with pytest.raises(mg.DeviceError, match=f"'{bad}' is not available.*CPU only"):
            f()
    with pytest.raises(RuntimeError):
        mg.ones(2).cuda()


def test_module_to_a_dtype_converts_in_place() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    weight = model[0].weight
    opt = mg.optim.SGD(model.parameters(), lr=0.1)
    assert model.to(mg.float64) is model and model[0].weight is weight
    assert weight.dtype == np.float64 and model[1].running_var.dtype == np.float64
    assert model[1].num_batches_tracked.dtype == np.int64  # not a float: left as it is
    y = model(mg.tensor(np.ones((5, 3))))
    y.sum().backward()
    opt.step()
    assert weight.grad.dtype == np.float64 and model.float() is model
    assert weight.dtype == np.float32


# --------------------------------------------------------------------- containers
def test_module_list_and_dict_register_their_children() -> None:
    class Heads(nn.Module):
        def __init__(self):
            super().__init__()
            self.heads = nn.ModuleList([nn.Linear(4, 2, bias=False) for _ in range(3)])
            self.extra = nn.ModuleDict({"proj": nn.Linear(6, 4)})

        def forward(self, x):
            return self.extra["proj"](mg.cat([h(x) for h in self.heads], dim=-1))

    m = Heads()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["heads.0.weight", "heads.1.weight", "heads.2.weight",
                     "extra.proj.weight", "extra.proj.bias"]
    assert len(m.heads) == 3 and isinstance(m.heads[-1], nn.Linear) and "proj" in m.extra
    assert m(mg.ones(5, 4)).shape == (5, 4)
    t = torch.nn.ModuleList([torch.nn.Linear(4, 2, bias=False) for _ in range(3)])
    assert [k for k in m.heads.state_dict()] == [k for k in t.state_dict()]


# --------------------------------------------------------------------- small idioms
def test_formatting_and_indexing_with_tensors() -> None:
    losses = mg.zeros(4)
    for k in range(4):
        losses[k] = 0.5 * k
    tl = torch.tensor([0.0, 0.5, 1.0, 1.5])
    assert f"{losses.mean():.4f}" == f"{tl.mean():.4f}" == "0.7500"
    data = mg.tensor(np.arange(20), dtype=mg.long)
    ix = mg.randint(0, 12, (3,), generator=mg.Generator().manual_seed(0))
    x = mg.stack([data[i:i + 8] for i in ix])
    assert x.shape == (3, 8) and x[:, 0].tolist() == ix.tolist()
    assert [10, 20, 30][mg.tensor(1)] == 20
    with pytest.raises(TypeError, match="integer"):
        [1, 2][mg.tensor(1.0)]


def test_inplace_variants_and_inference_mode() -> None:
    x0 = np.array([[0.5, -2.0], [3.0, 1.0]])
    for lib in (mg, torch):
        x = lib.tensor(x0)
        x.masked_fill_(lib.tensor([[True, False], [False, True]]), -1.0)
        x.clamp_(min=-1.5, max=2.0)
        np.testing.assert_array_equal(np.asarray(x), [[-1.0, -1.5], [2.0, -1.0]])
        w = lib.ones(2, requires_grad=True)
        with lib.inference_mode():
            y = w * 2
        assert not y.requires_grad
