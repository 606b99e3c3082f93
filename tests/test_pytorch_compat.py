"""Where minigrad and PyTorch once parted without a word: each test runs PyTorch's idiom on
both and asks for the same numbers (or the same error)."""

from __future__ import annotations

import operator

import numpy as np
import pytest

import minigrad as mg

torch = pytest.importorskip("torch")

# `p -= u` is `p = operator.isub(p, u)`: the statement, as a function
INPLACE = {"+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv}


# --------------------------------------------------------------------- 1. in-place operators
@pytest.mark.parametrize("op", ["+=", "-=", "*=", "/="])
def test_inplace_operators_change_the_tensor_itself(op: str) -> None:
    """``for p in params: p -= lr * p.grad`` under no_grad must move the parameters; an
    out-of-place operator would only rebind the loop variable."""
    rng = np.random.default_rng(0)
    w0, g0 = rng.standard_normal((3, 4)), rng.standard_normal((3, 4)) + 3.0

    def run(lib):
        w = lib.tensor(w0, requires_grad=True)
        (w * lib.tensor(g0)).sum().backward()
        params = [w]
        with lib.no_grad():
            for p in params:
                p = INPLACE[op](p, 0.1 * p.grad)  # what `p -= …` does
        return w

    mw, tw = run(mg), run(torch)
    assert mw.dtype == np.float64 and tw.dtype == torch.float64
    np.testing.assert_array_equal(mw.data, tw.detach().numpy())
    assert not np.array_equal(mw.data, w0)
    assert mw.is_leaf and mw.requires_grad and mw.version == 1


def test_inplace_operator_keeps_the_identity_and_memory() -> None:
    p = mg.Tensor(np.ones(3))
    q, memory = p, p.data
    p += 1.0
    p *= mg.Tensor(np.full(3, 3.0))
    assert q is p and p.data is memory
    np.testing.assert_array_equal(memory, [6.0, 6.0, 6.0])


@pytest.mark.parametrize("op", ["+=", "-=", "*=", "/="])
def test_inplace_operator_on_a_leaf_that_requires_grad_raises(op: str) -> None:
    for lib in (mg, torch):
        w = lib.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError):
            INPLACE[op](w, 2.0)
    w = mg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="no_grad"):
        w -= 1.0
    np.testing.assert_array_equal(w.data, [1.0, 1.0, 1.0])


def test_inplace_operator_on_a_non_leaf_is_recorded() -> None:
    x0 = np.array([0.5, -1.0, 2.0])

    def run(lib):
        x = lib.tensor(x0, requires_grad=True)
        y = x * 3.0
        y += x * x
        y *= 2.0
        y *= x  # the backward needs y's old value: kept, although y changes again below
        y /= x + 4.0
        y -= 1.0
        y.sum().backward()
        return y, x.grad

    (my, mgx), (ty, tgx) = run(mg), run(torch)
    np.testing.assert_allclose(my.data, ty.detach().numpy(), rtol=1e-15)
    np.testing.assert_allclose(mgx.data, tgx.numpy(), rtol=1e-15)


def test_inplace_operator_on_a_saved_value_fails_at_backward() -> None:
    for lib in (mg, torch):
        x = lib.tensor([0.5, 1.0], requires_grad=True)
        y = x.exp()  # exp's VJP reads its output
        y += 1.0
        with pytest.raises(RuntimeError):
            y.sum().backward()


@pytest.mark.parametrize(("self_dtype", "other", "ok"), [
    ("int64", 1.5, False), ("int64", 2, True), ("int32", "int64", True),
    ("int64", "float32", False), ("float32", "float64", True), ("float32", 2, True),
    ("float64", "int64", True), ("bool", 1, False), ("int32", 2.0, False),
])
def test_inplace_dtype_rule_matches_pytorch(self_dtype: str, other, ok: bool) -> None:
    """The result is cast to self's dtype; a result of a higher kind (float into an integer
    tensor) is an error, as in PyTorch."""
    a0 = np.array([1, 2, 3]).astype(self_dtype)
    o = other if not isinstance(other, str) else np.array([2, 1, 3]).astype(other)
    m, t = mg.tensor(a0), torch.tensor(a0)
    mo = mg.tensor(o) if isinstance(o, np.ndarray) else o
    to = torch.tensor(o) if isinstance(o, np.ndarray) else o
    if not ok:
        with pytest.raises(RuntimeError):
            t += to
        with pytest.raises(RuntimeError, match="cannot be stored in place") as e:
            m += mo
        assert isinstance(e.value, TypeError)
        np.testing.assert_array_equal(m.data, a0)
        return
    t += to
    m += mo
    assert m.dtype == np.dtype(self_dtype)
    np.testing.assert_array_equal(m.data, t.numpy())


# --------------------------------------------------------------------- 2. transpose
TRANSPOSES = {
    "x.transpose(0, 1)": lambda lib, x: x.transpose(0, 1),
    "x.transpose(-2, -1)": lambda lib, x: x.transpose(-2, -1),
    "x.transpose(2, 0)": lambda lib, x: x.transpose(2, 0),
    "x.transpose(1, 1)": lambda lib, x: x.transpose(1, 1),
    "x.permute(2, 0, 1)": lambda lib, x: x.permute(2, 0, 1),
    "x.permute((1, 2, 0))": lambda lib, x: x.permute((1, 2, 0)),
    "x.permute(-1, 0, 1)": lambda lib, x: x.permute(-1, 0, 1),
    "x.mT": lambda lib, x: x.mT,
    "x.swapaxes(0, -1)": lambda lib, x: x.swapaxes(0, -1),
    "x.swapdims(1, 0)": lambda lib, x: x.swapdims(1, 0),
    "lib.transpose(x, 0, 2)": lambda lib, x: lib.transpose(x, 0, 2),
    "lib.permute(x, (2, 1, 0))": lambda lib, x: lib.permute(x, (2, 1, 0)),
}


@pytest.mark.parametrize(("name", "shape"), [
    (name, shape) for shape in [(3, 4, 5), (4, 2, 3, 5)] for name in TRANSPOSES
    if "permute" not in name or len(shape) == 3  # the permutations name three axes
])
def test_transpose_swaps_two_axes_as_pytorch(name: str, shape: tuple[int, ...]) -> None:
    """``k.transpose(-2, -1)`` is PyTorch's swap of two axes, not numpy's permutation."""
    rng = np.random.default_rng(1)
    x0 = rng.standard_normal(shape)
    f = TRANSPOSES[name]
    x, t = mg.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    y, ty = f(mg, x), f(torch, t)
    assert y.shape == tuple(ty.shape)
    np.testing.assert_array_equal(y.data, ty.detach().numpy())
    w = rng.standard_normal(y.shape)
    (y * mg.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(x.grad.data, t.grad.numpy())


def test_transpose_of_a_matrix_is_its_transpose() -> None:
    """On a 2-D tensor numpy's ``x.transpose(0, 1)`` is the identity permutation; PyTorch's
    (and minigrad's) swaps the axes."""
    x0 = np.arange(6.0).reshape(2, 3)
    for lib in (mg, torch):
        x = lib.tensor(x0)
        for y in (x.transpose(0, 1), x.transpose(1, 0), x.transpose(-1, -2), x.T, x.mT,
                  lib.transpose(x, 0, 1)):
            np.testing.assert_array_equal(np.asarray(y), x0.T)


def test_transpose_errors_name_the_fix() -> None:
    x = mg.zeros(2, 3, 4)
    with pytest.raises(TypeError, match="permute"):
        x.transpose(2, 0, 1)
    with pytest.raises(ValueError, match="out of range"):
        x.transpose(0, 3)
    with pytest.raises(TypeError, match="permute"):
        x.permute()
    with pytest.raises(ValueError, match="mT"):
        _ = mg.zeros(3).mT


# --------------------------------------------------------------------- 3. std and var
SPREADS = {
    "x.{f}()": (lambda x, f: getattr(x, f)(), lambda t, f: getattr(t, f)()),
    "x.{f}(0)": (lambda x, f: getattr(x, f)(0), lambda t, f: getattr(t, f)(0)),
    "x.{f}(1, True)": (lambda x, f: getattr(x, f)(1, True), lambda t, f: getattr(t, f)(1, True)),
    "x.{f}(1, False, True)": (lambda x, f: getattr(x, f)(1, False, True),
                              lambda t, f: getattr(t, f)(1, False, True)),
    "x.{f}(False)": (lambda x, f: getattr(x, f)(False), lambda t, f: getattr(t, f)(False)),
    "x.{f}(dim=1, keepdim=True)": (lambda x, f: getattr(x, f)(dim=1, keepdim=True),
                                   lambda t, f: getattr(t, f)(dim=1, keepdim=True)),
    "x.{f}(dim=0, unbiased=False)": (lambda x, f: getattr(x, f)(dim=0, unbiased=False),
                                     lambda t, f: getattr(t, f)(dim=0, unbiased=False)),
    "x.{f}(correction=0)": (lambda x, f: getattr(x, f)(correction=0),
                            lambda t, f: getattr(t, f)(correction=0)),
    "x.{f}(dim=(0, 1), correction=2)": (lambda x, f: getattr(x, f)(dim=(0, 1), correction=2),
                                        lambda t, f: getattr(t, f)(dim=(0, 1), correction=2)),
    "x.{f}(axis=1, keepdims=True, ddof=0)": (
        lambda x, f: getattr(x, f)(axis=1, keepdims=True, ddof=0),
        lambda t, f: getattr(t, f)(dim=1, keepdim=True, correction=0)),
    "lib.{f}(x, 1)": (lambda x, f: getattr(mg, f)(x, 1), lambda t, f: getattr(torch, f)(t, 1)),
}


@pytest.mark.parametrize("f", ["std", "var"])
@pytest.mark.parametrize("call", SPREADS)
def test_std_and_var_are_unbiased_by_default(f: str, call: str) -> None:
    """PyTorch divides by n − 1 unless told otherwise; numpy's 1/n was minigrad's default."""
    rng = np.random.default_rng(2)
    x0 = rng.standard_normal((4, 5))
    ours, theirs = SPREADS[call]
    x, t = mg.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    y, ty = ours(x, f), theirs(t, f)
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-14)
    w = rng.standard_normal(y.shape)
    (y * mg.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad.data, t.grad.numpy(), rtol=1e-12)


def test_std_of_a_batch_is_the_unbiased_estimate() -> None:
    x0 = np.array([1.0, 2.0, 3.0, 4.0])
    assert mg.tensor(x0).var().item() == pytest.approx(x0.var(ddof=1)) == 5 / 3
    assert mg.tensor(x0).std(unbiased=False).item() == pytest.approx(x0.std())
    with pytest.raises(TypeError, match="one of"):
        mg.tensor(x0).var(unbiased=True, correction=0)


# --------------------------------------------------------------------- 4. type promotion
DTYPES = ["bool", "uint8", "int32", "int64", "float16", "float32", "float64"]
SCALARS = [True, 3, 2.5]


def _operand(kind: str, dtype: str | None, value: object = None):
    """(minigrad operand, torch operand) of a kind: an n-d tensor, a 0-d tensor or a number."""
    if kind == "scalar":
        return value, value
    a = np.array([1, 0, 1] if kind == "nd" else 1).astype(dtype)
    return mg.tensor(a), torch.tensor(a)


OPERANDS = ([("nd", d, None) for d in DTYPES] + [("0d", d, None) for d in DTYPES]
            + [("scalar", None, v) for v in SCALARS])


def _id(o: tuple) -> str:
    return f"{o[0]}-{o[1]}" if o[0] != "scalar" else f"{type(o[2]).__name__}"


@pytest.mark.parametrize("b", OPERANDS, ids=_id)
@pytest.mark.parametrize("a", OPERANDS[: 2 * len(DTYPES)], ids=_id)
def test_result_type_matches_torch(a: tuple, b: tuple) -> None:
    """torch.result_type over n-d tensors, 0-d tensors and Python numbers of every pairing,
    and the dtype an elementwise op gives."""
    (ma, ta), (mb, tb) = _operand(*a), _operand(*b)
    want = str(torch.result_type(ta, tb)).replace("torch.", "")
    assert mg.result_type(ma, mb) == np.dtype(want)
    if want == "bool":
        return  # torch adds booleans as logical or, and refuses to subtract them
    for op in ("__add__", "__mul__", "__sub__"):
        if op == "__sub__" and "bool" in (a[1], b[1], type(b[2]).__name__):
            with pytest.raises(TypeError, match="~mask"):
                ma - mb
            continue
        ours, theirs = getattr(ma, op)(mb), getattr(ta, op)(tb)
        assert ours.dtype == np.dtype(want), op
        np.testing.assert_array_equal(ours.data, theirs.numpy())
    assert (mb * ma).dtype == np.dtype(want)  # the reflected operator


def test_int64_times_float32_is_float32() -> None:
    """numpy says float64; PyTorch (and minigrad) float32."""
    idx = np.array([0, 1, 2, 3])
    w0 = np.array([0.5, -1.5, 2.0, 1.0], np.float32)

    def run(lib):
        w = lib.tensor(w0, requires_grad=True)
        y = lib.tensor(idx) * w
        z = (y / lib.tensor(idx + 1)).sum()  # int / int would be float32 too
        z.backward()
        return y, z, w.grad

    for m, t in zip(run(mg), run(torch)):
        assert m.dtype == np.float32 and t.dtype == torch.float32
        np.testing.assert_array_equal(m.data, t.detach().numpy())


@pytest.mark.parametrize("expr", [
    "x / y", "x.exp()", "x.log()", "x.sqrt()", "x.tanh()", "x.sigmoid()", "x ** 2",
    "x * 0.5", "x + True", "lib.where(x > 1, x, 0.5)", "lib.cat([x, y.float()])",
    "lib.stack([x.double(), y])", "lib.maximum(x, y.double())",
])
def test_integer_operands_follow_pytorch(expr: str) -> None:
    x0, y0 = np.array([1, 2, 3]), np.array([2, 2, 4], np.int32)
    ours = eval(expr, {"lib": mg, "x": mg.tensor(x0), "y": mg.tensor(y0)})
    theirs = eval(expr, {"lib": torch, "x": torch.tensor(x0), "y": torch.tensor(y0)})
    assert ours.dtype == np.dtype(str(theirs.dtype).replace("torch.", ""))
    np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-6)


def test_a_float32_model_fed_float64_stays_exact() -> None:
    """float32 with float64 gives float64 (numpy and PyTorch agree); the float32 parameter's
    gradient comes back as float32."""
    rng = np.random.default_rng(3)
    w0, x0 = rng.standard_normal(4).astype(np.float32), rng.standard_normal((2, 4))
    w, tw = mg.tensor(w0, requires_grad=True), torch.tensor(w0, requires_grad=True)
    y, ty = (mg.tensor(x0) * w).tanh().sum(), (torch.tensor(x0) * tw).tanh().sum()
    y.backward()
    ty.backward()
    assert y.dtype == np.float64 and w.grad.dtype == np.float32
    np.testing.assert_array_equal(y.data, ty.detach().numpy())
    np.testing.assert_array_equal(w.grad.data, tw.grad.numpy())


# --------------------------------------------------------------------- 5. .data
def test_data_update_in_place_stays_a_numpy_array() -> None:
    """``p.data += -lr * p.grad``: numpy's in-place add used to hand the result to
    Tensor.__radd__, so p.data became a Tensor and a later p.std() failed."""
    rng = np.random.default_rng(4)
    w0, x0 = rng.standard_normal((3, 2)), rng.standard_normal((5, 3))

    def run(lib):
        w = lib.tensor(w0, requires_grad=True)
        memory = w.data
        for _ in range(3):
            loss = (lib.tensor(x0) @ w).tanh().sum()
            w.grad = None
            loss.backward()
            w.data += -0.1 * w.grad
        return w, memory

    (w, memory), (tw, _) = run(mg), run(torch)
    assert type(w.data) is np.ndarray and w.data is memory
    np.testing.assert_allclose(w.data, tw.detach().numpy(), rtol=1e-14)
    np.testing.assert_allclose(w.std().data, tw.std().detach().numpy(), rtol=1e-14)


@pytest.mark.parametrize("op", ["+=", "-=", "*=", "/="])
def test_every_inplace_operator_on_data_writes_the_same_array(op: str) -> None:
    p = mg.tensor(np.array([1.0, 2.0, 4.0]))
    held = p.data  # what an optimizer or a model keeps
    p.data = INPLACE[op](p.data, mg.tensor(np.array([2.0, 2.0, 2.0])))
    assert p.data is held and type(held) is np.ndarray
    expected = {"+=": [3, 4, 6], "-=": [-1, 0, 2], "*=": [2, 4, 8], "/=": [0.5, 1, 2]}[op]
    np.testing.assert_array_equal(held, expected)


def test_assigning_a_tensor_to_data_stores_its_array() -> None:
    p = mg.tensor([1.0, 2.0], requires_grad=True)
    new = mg.tensor([5.0, 6.0])
    p.data = new
    assert type(p.data) is np.ndarray and p.data is new.data  # shared, as in PyTorch
    assert p.requires_grad and p.is_leaf
    with pytest.raises(TypeError, match="numpy array"):
        p.data = [1.0, 2.0]


def test_array_and_tensor_still_give_a_tensor() -> None:
    x = mg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    for y in (np.ones(2) + x, np.ones(2) * x, np.ones(2) - x, np.ones(2) / x, np.ones(2) ** x,
              np.ones((2, 2)) @ x, np.float64(2.0) * x):
        assert isinstance(y, mg.Tensor) and y.requires_grad
    assert isinstance(np.ones(2) < x, mg.Tensor)
    assert type(np.exp(x)) is np.ndarray  # a numpy function: numpy's array, no history
