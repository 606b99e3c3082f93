"""minigrad ⇄ PyTorch: state dicts load across and give the same outputs and gradients;
`to_torch` and `from_torch` build the other side's model with a copy of the weights; a layer
without a counterpart is a clear error."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import minigrad as mg
from minigrad import interop, nn
from minigrad.interop import UnsupportedLayerError

torch = pytest.importorskip("torch")
tnn = torch.nn

TOL = {"float32": dict(rtol=1e-5, atol=1e-5), "float64": dict(rtol=1e-12, atol=1e-12)}


def _x(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _mg_out(model, x):
    return model(mg.tensor(x)).data


def _torch_out(module, x):
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def _same_state(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for k in a:
        va = a[k].data if isinstance(a[k], mg.Tensor) else np.asarray(a[k])
        vb = b[k].data if isinstance(b[k], mg.Tensor) else np.asarray(b[k])
        assert va.dtype == vb.dtype and np.array_equal(va, vb), k


class TorchMLP(tnn.Module):
    """The PyTorch module a user writes for `nn.MLP([4, 8, 8, 3], "tanh")`: the same child
    name (``layers``) gives the same state dict keys."""

    def __init__(self, dtype=torch.float32):
        super().__init__()
        self.layers = tnn.Sequential(
            tnn.Linear(4, 8, dtype=dtype), tnn.Tanh(), tnn.Linear(8, 8, dtype=dtype), tnn.Tanh(),
            tnn.Linear(8, 3, dtype=dtype))

    def forward(self, x):
        return self.layers(x)


# --------------------------------------------------------------------------- state dicts
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_minigrad_state_dict_loads_into_the_torch_module(dtype):
    mg.manual_seed(1)
    model = nn.MLP([4, 8, 8, 3], activation="tanh", dtype=dtype)
    twin = TorchMLP(getattr(torch, dtype))
    twin.load_state_dict(interop.state_dict_to_torch(model.state_dict()))
    x = _x((5, 4), dtype)
    np.testing.assert_allclose(_torch_out(twin, x), _mg_out(model, x), **TOL[dtype])
    # the arrays as numpy arrays too (e.g. from minigrad.load): the same helper takes them
    arrays = {k: v.numpy() for k, v in model.state_dict().items()}
    twin2 = TorchMLP(getattr(torch, dtype))
    twin2.load_state_dict(interop.state_dict_to_torch(arrays))
    np.testing.assert_allclose(_torch_out(twin2, x), _mg_out(model, x), **TOL[dtype])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_torch_state_dict_loads_into_the_minigrad_model(dtype):
    torch.manual_seed(2)
    twin = TorchMLP(getattr(torch, dtype))
    model = nn.MLP([4, 8, 8, 3], activation="tanh", dtype=dtype)
    model.load_state_dict(interop.state_dict_from_torch(twin.state_dict()))
    x = _x((7, 4), dtype, seed=3)
    np.testing.assert_allclose(_mg_out(model, x), _torch_out(twin, x), **TOL[dtype])
    # load_state_dict takes torch's own state dict as it is (numpy reads CPU tensors)
    fresh = nn.MLP([4, 8, 8, 3], activation="tanh", dtype=dtype)
    fresh.load_state_dict(twin.state_dict())
    np.testing.assert_allclose(_mg_out(fresh, x), _torch_out(twin, x), **TOL[dtype])


def test_state_dict_helpers_copy():
    mg.manual_seed(0)
    model = nn.Linear(3, 2)
    state = interop.state_dict_to_torch(model)
    state["weight"].add_(1.0)
    assert not np.array_equal(model.weight.data, state["weight"].numpy())
    back = interop.state_dict_from_torch(state)
    back["weight"] += 1.0
    assert not np.array_equal(back["weight"], state["weight"].numpy())


def test_state_dict_helpers_reject_other_things():
    with pytest.raises(TypeError, match="state_dict_to_torch.*list"):
        interop.state_dict_to_torch([1, 2])
    with pytest.raises(TypeError, match="state_dict_from_torch.*int"):
        interop.state_dict_from_torch(3)


# --------------------------------------------------------------------------- to_torch
MODELS = {
    "mlp-relu": lambda dt: nn.MLP([4, 16, 16, 3], activation="relu", dtype=dt),
    "mlp-tanh-softmax": lambda dt: nn.MLP([4, 8, 3], activation="tanh", output="softmax",
                                          dtype=dt),
    "mlp-sigmoid-out": lambda dt: nn.MLP([4, 6, 1], activation="sigmoid", output="sigmoid",
                                         dtype=dt),
    "every-layer": lambda dt: nn.Sequential(
        nn.Linear(4, 6, dtype=dt), nn.LeakyReLU(0.2), nn.Dropout(0.3),
        nn.Linear(6, 6, bias=False, dtype=dt), nn.GELU(), nn.Softplus(), nn.Identity(),
        nn.Sequential(nn.Linear(6, 5, dtype=dt), nn.Sigmoid()), nn.Linear(5, 3, dtype=dt),
        nn.Tanh(), nn.Softmax(axis=1)),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(MODELS))
def test_to_torch_computes_the_same(name, dtype):
    mg.manual_seed(4)
    model = MODELS[name](dtype).eval()
    twin = interop.to_torch(model)
    assert isinstance(twin, tnn.Module) and not twin.training
    _same_state(model.state_dict(), interop.state_dict_from_torch(twin))
    for batch in (1, 9):
        x = _x((batch, 4), dtype, seed=batch)
        np.testing.assert_allclose(_torch_out(twin, x), _mg_out(model, x), **TOL[dtype])


@pytest.mark.parametrize("name", list(MODELS))
def test_to_torch_gives_the_same_gradients(name):
    mg.manual_seed(5)
    model = MODELS[name]("float64").eval()
    twin = interop.to_torch(model)
    x = _x((6, 4), "float64", seed=6)
    w = _x((6, 3 if name != "mlp-sigmoid-out" else 1), "float64", seed=7)
    (model(mg.tensor(x)) * mg.tensor(w)).sum().backward()
    (twin(torch.from_numpy(x)) * torch.from_numpy(w)).sum().backward()
    for (k, p), (tk, tp) in zip(model.named_parameters(), twin.named_parameters()):
        assert k == tk
        np.testing.assert_allclose(p.grad.data, tp.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_to_torch_keeps_training_mode_and_copies_the_weights():
    model = nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.5), nn.Linear(3, 1))
    model[1].eval()
    twin = interop.to_torch(model)
    assert twin.training and not twin[1].training and twin[2].training
    assert twin[1].p == 0.5
    with torch.no_grad():
        twin[0].weight.add_(1.0)
    assert not np.allclose(twin[0].weight.detach().numpy(), model[0].weight.data)


# --------------------------------------------------------------------------- from_torch
def _every_torch_layer(dtype):
    return tnn.Sequential(
        tnn.Linear(4, 6, dtype=dtype), tnn.ReLU(), tnn.Dropout(0.1),
        tnn.Linear(6, 6, bias=False, dtype=dtype), tnn.LeakyReLU(0.1),
        tnn.GELU(approximate="tanh"), tnn.Softplus(), tnn.Identity(),
        tnn.Sequential(OrderedDict(hidden=tnn.Linear(6, 5, dtype=dtype), act=tnn.Sigmoid())),
        tnn.Linear(5, 3, dtype=dtype), tnn.Tanh(), tnn.Softmax(dim=-1))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_from_torch_computes_the_same(dtype):
    torch.manual_seed(8)
    module = _every_torch_layer(getattr(torch, dtype)).eval()
    model = interop.from_torch(module)
    assert isinstance(model, nn.Sequential) and not model.training
    assert isinstance(model[8], nn.Sequential) and "8.hidden.weight" in model.state_dict()
    _same_state(interop.state_dict_from_torch(module), model.state_dict())
    for batch in (1, 5):
        x = _x((batch, 4), dtype, seed=batch)
        np.testing.assert_allclose(_mg_out(model, x), _torch_out(module, x), **TOL[dtype])


def test_from_torch_of_a_single_layer_and_the_round_trip():
    torch.manual_seed(9)
    lin = tnn.Linear(3, 2)
    model = interop.from_torch(lin)
    assert isinstance(model, nn.Linear) and model.weight.dtype == np.float32
    mg.manual_seed(10)
    mlp = nn.MLP([3, 7, 2], activation="leaky_relu")
    back = interop.from_torch(interop.to_torch(mlp))
    _same_state(mlp.state_dict(), back.state_dict())
    x = _x((4, 3), "float32")
    np.testing.assert_array_equal(_mg_out(back, x), _mg_out(mlp, x))


@pytest.mark.parametrize("layer, words", [
    (tnn.Conv3d(1, 1, 1), ["'1'", "torch.nn.modules.conv.Conv3d", "Linear"]),
    (tnn.LSTM(2, 2), ["'1'", "LSTM"]),
    (tnn.GELU(), ["'1'", "approximate='none'", "tanh"]),
    (tnn.Softplus(beta=2.0), ["'1'", "beta=2.0"]),
    (tnn.Softmax(dim=None), ["'1'", "dim=None"]),
])
def test_from_torch_names_the_layer_it_cannot_convert(layer, words):
    module = tnn.Sequential(tnn.Linear(2, 2), layer)
    with pytest.raises(UnsupportedLayerError) as info:
        interop.from_torch(module)
    for w in words:
        assert w in str(info.value)


def test_from_torch_rejects_half_precision_and_non_modules():
    with pytest.raises(UnsupportedLayerError, match="float16"):
        interop.from_torch(tnn.Sequential(tnn.Linear(2, 2).half()))
    with pytest.raises(TypeError, match="torch.nn.Module"):
        interop.from_torch(nn.Linear(2, 2))


def test_to_torch_names_the_layer_it_cannot_convert():
    class Custom(nn.Module):
        def forward(self, x):
            return x

    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU(), Custom()))
    with pytest.raises(UnsupportedLayerError) as info:
        interop.to_torch(model)
    assert "'1.1'" in str(info.value) and "Custom" in str(info.value)
    with pytest.raises(UnsupportedLayerError, match="the model itself is a .*Custom"):
        interop.to_torch(Custom())
    with pytest.raises(TypeError, match="minigrad nn.Module"):
        interop.to_torch(tnn.Linear(2, 2))


# --------------------------------------------------------------------------- the layers
def _digits_cnn_torch(dtype):
    """A CNN for 8×8 images in PyTorch, every conv/pool/norm layer interop knows."""
    return tnn.Sequential(
        tnn.Conv2d(1, 4, 3, padding=1, dtype=dtype), tnn.BatchNorm2d(4, dtype=dtype), tnn.ReLU(),
        tnn.MaxPool2d(2),
        tnn.Conv2d(4, 8, (3, 3), stride=1, padding="same", groups=2, dtype=dtype),
        tnn.ReLU(), tnn.AvgPool2d(2, stride=2, padding=1), tnn.Flatten(),
        tnn.Linear(8 * 3 * 3, 16, dtype=dtype), tnn.BatchNorm1d(16, momentum=None, dtype=dtype),
        tnn.Tanh(), tnn.Dropout(0.2), tnn.Linear(16, 10, dtype=dtype))


def _perturb(module, seed):
    """Moves every parameter and float buffer off its initial value (γ off 1, β off 0, running
    variance off 1), so that a value left behind would show."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for v in module.state_dict().values():  # they share memory with the module
            if v.is_floating_point():
                v.add_(torch.rand(v.shape, generator=g, dtype=v.dtype) * 0.5)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_cnn_with_batch_norm_converts_both_ways(dtype):
    torch.manual_seed(11)
    module = _digits_cnn_torch(getattr(torch, dtype))
    _perturb(module, 12)
    model = interop.from_torch(module)
    assert [type(m).__name__ for m in model] == [type(m).__name__ for m in module]
    _same_state(interop.state_dict_from_torch(module), model.state_dict())
    x = _x((6, 1, 8, 8), dtype, seed=13)
    # training mode: batch statistics, and the running estimates move the same way
    model[11].eval(), module[11].eval()  # dropout off, batch norm still training
    y = model(mg.tensor(x)).data
    ty = module(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(y, ty, **TOL[dtype])
    for k, v in model.state_dict().items():
        np.testing.assert_allclose(v.data, module.state_dict()[k].numpy(), **TOL[dtype],
                                   err_msg=k)
    # evaluation mode: the running estimates, at another batch size
    model.eval(), module.eval()
    for batch in (1, 3):
        x = _x((batch, 1, 8, 8), dtype, seed=batch)
        np.testing.assert_allclose(_mg_out(model, x), _torch_out(module, x), **TOL[dtype])
    back = interop.to_torch(model)
    _same_state(interop.state_dict_from_torch(back), model.state_dict())
    np.testing.assert_allclose(_torch_out(back, x), _mg_out(model, x), **TOL[dtype])


def test_conv1d_layer_norm_and_embedding_convert_both_ways():
    torch.manual_seed(14)
    seq = tnn.Sequential(
        tnn.Conv1d(3, 4, 3, padding=2, dilation=2, dtype=torch.float64), tnn.GELU("tanh"),
        tnn.Conv1d(4, 4, 1, groups=2, bias=False, dtype=torch.float64),
        tnn.LayerNorm(7, dtype=torch.float64), tnn.LayerNorm((4, 7), elementwise_affine=False,
                                                            dtype=torch.float64),
        tnn.LayerNorm(7, bias=False, dtype=torch.float64), tnn.Flatten(0, 1))
    emb = tnn.Sequential(tnn.Embedding(10, 6, dtype=torch.float64),
                         tnn.LayerNorm(6, eps=1e-3, dtype=torch.float64),
                         tnn.Linear(6, 3, dtype=torch.float64))
    _perturb(seq, 15), _perturb(emb, 16)
    for module, x in ((seq, _x((2, 3, 7), "float64")),
                      (emb, np.random.default_rng(0).integers(0, 10, size=(4, 5)))):
        model = interop.from_torch(module)
        _same_state(interop.state_dict_from_torch(module), model.state_dict())
        np.testing.assert_allclose(_mg_out(model, x), _torch_out(module, x), rtol=1e-12,
                                   atol=1e-12)
        back = interop.to_torch(model)
        np.testing.assert_allclose(_torch_out(back, x), _mg_out(model, x), rtol=1e-12,
                                   atol=1e-12)


@pytest.mark.parametrize("layer, words", [
    (tnn.Conv2d(2, 2, 3, padding_mode="reflect"), ["'1'", "padding_mode=reflect", "zeros"]),
    (tnn.MaxPool2d(2, ceil_mode=True), ["'1'", "ceil_mode=True"]),
    (tnn.AvgPool2d(2, count_include_pad=False), ["'1'", "count_include_pad"]),
    (tnn.Embedding(5, 2, padding_idx=0), ["'1'", "padding_idx=0"]),
    (tnn.MultiheadAttention(4, 2), ["'1'", "MultiheadAttention", "CausalSelfAttention"]),
])
def test_from_torch_names_the_layer_setting_it_cannot_reproduce(layer, words):
    with pytest.raises(UnsupportedLayerError) as info:
        interop.from_torch(tnn.Sequential(tnn.Identity(), layer))
    for w in words:
        assert w in str(info.value)


def test_to_torch_refuses_batch_norm_without_beta():
    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3, bias=False))
    with pytest.raises(UnsupportedLayerError, match="'1' is a BatchNorm1d with γ but no β"):
        interop.to_torch(model)


# --------------------------------------------------------------------------- attention
def test_causal_self_attention_converts_both_ways():
    mg.manual_seed(17)
    attn = nn.CausalSelfAttention(8, 2, dtype="float64")
    with mg.no_grad():
        for p in attn.parameters():
            p.data += np.random.default_rng(18).uniform(-0.2, 0.2, p.shape)
    twin = interop.to_torch(attn)
    assert isinstance(twin, tnn.MultiheadAttention)
    for shape in ((2, 5, 8), (5, 8), (2, 3, 4, 8)):
        x = _x(shape, "float64", seed=len(shape))
        np.testing.assert_allclose(_torch_out(twin, x), _mg_out(attn, x), rtol=1e-10,
                                   atol=1e-12)
    # PyTorch's own MultiheadAttention with the causal mask agrees: the twin adds nothing else
    x = torch.from_numpy(_x((2, 5, 8), "float64"))
    mha = tnn.MultiheadAttention(8, 2, batch_first=True, dtype=torch.float64)
    mha.load_state_dict(interop.state_dict_to_torch(attn))
    blocked = torch.ones(5, 5, dtype=torch.bool).triu(1)
    with torch.no_grad():
        ref = mha(x, x, x, attn_mask=blocked, need_weights=False)[0].numpy()
    np.testing.assert_allclose(_mg_out(attn, x.numpy()), ref, rtol=1e-10, atol=1e-12)
    back = interop.from_torch(twin)
    assert isinstance(back, nn.CausalSelfAttention) and back.num_heads == 2
    _same_state(attn.state_dict(), back.state_dict())


# --------------------------------------------------------------------------- example models
def test_mlp_goes_to_a_torch_twin_and_comes_back_an_mlp():
    mg.manual_seed(19)
    mlp = nn.MLP([3, 5, 2], activation="gelu", output="softmax", dtype="float64")
    twin = interop.to_torch(mlp)
    assert type(twin).__name__ == "MLP" and twin.sizes == [3, 5, 2]
    back = interop.from_torch(twin)
    assert isinstance(back, nn.MLP) and back.sizes == [3, 5, 2] and back.output == "softmax"
    assert back.describe() == mlp.describe()
    x = _x((4, 3), "float64")
    np.testing.assert_array_equal(_mg_out(back, x), _mg_out(mlp, x))


def test_tiny_transformer_converts_both_ways_with_the_same_logits_and_gradients():
    from minigrad.models.transformer import TinyTransformer

    mg.manual_seed(20)
    model = TinyTransformer(7, 8, embed_dim=16, num_heads=2, num_layers=2, dtype="float64")
    with mg.no_grad():
        for p in model.parameters():
            p.data += np.random.default_rng(21).uniform(-0.1, 0.1, p.shape)
    twin = interop.to_torch(model)
    assert list(twin.state_dict()) == list(model.state_dict())
    tokens = np.random.default_rng(22).integers(0, 7, size=(3, 8))
    out = model(tokens)
    tout = twin(torch.from_numpy(tokens))
    np.testing.assert_allclose(tout.detach().numpy(), out.data, rtol=1e-10, atol=1e-10)
    w = _x(out.shape, "float64", seed=23)
    (out * mg.tensor(w)).sum().backward()
    (tout * torch.from_numpy(w)).sum().backward()
    tgrads = dict(twin.named_parameters())
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad.data, tgrads[name].grad.numpy(), rtol=1e-9,
                                   atol=1e-10, err_msg=name)
    # shorter sequences too, and the twin refuses what the model refuses
    short = tokens[:1, :5]
    np.testing.assert_allclose(_torch_out(twin, short), _mg_out(model, short), rtol=1e-10,
                               atol=1e-10)
    with pytest.raises(ValueError, match="block_size=8"):
        twin(torch.zeros(1, 9, dtype=torch.long))
    back = interop.from_torch(twin)
    assert isinstance(back, TinyTransformer) and back.block_size == 8
    _same_state(model.state_dict(), back.state_dict())
    np.testing.assert_array_equal(back.generate(tokens[:, :3], 4),
                                  model.generate(tokens[:, :3], 4))


def test_digits_cnn_converts_both_ways():
    cnn = pytest.importorskip("minigrad.models.cnn")
    mg.manual_seed(24)
    model = cnn.DigitsCNN(channels=(4, 8), dtype="float64")
    twin = interop.to_torch(model)
    assert list(twin.state_dict()) == list(model.state_dict())
    x = _x((5, 1, 8, 8), "float64")
    np.testing.assert_allclose(_torch_out(twin, x), _mg_out(model, x), rtol=1e-12, atol=1e-12)
    back = interop.from_torch(twin)
    assert isinstance(back, cnn.DigitsCNN) and back.channels == (4, 8)
    np.testing.assert_array_equal(_mg_out(back, x), _mg_out(model, x))
    # or the weights alone, into a PyTorch module written by hand with the same names
    hand = tnn.Module()
    hand.conv1, hand.conv2 = tnn.Conv2d(1, 4, 3, padding=1), tnn.Conv2d(4, 8, 3, padding=1)
    hand.fc = tnn.Linear(8 * 2 * 2, 10)
    hand.double().load_state_dict(interop.state_dict_to_torch(model))
    p = tnn.functional.max_pool2d
    with torch.no_grad():
        h = p(torch.relu(hand.conv2(p(torch.relu(hand.conv1(torch.from_numpy(x))), 2))), 2)
        np.testing.assert_allclose(hand.fc(h.flatten(1)).numpy(), _mg_out(model, x),
                                   rtol=1e-12, atol=1e-12)
