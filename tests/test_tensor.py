"""The Tensor API: construction, dtypes, factories, operators, conversion, custom ops."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg


def test_python_floats_and_lists_become_float32_numpy_keeps_dtype():
    assert mg.tensor(1.5).dtype == np.float32
    assert mg.tensor([[1.0, 2.0]]).dtype == np.float32
    assert mg.tensor([1, 2]).dtype == np.int64
    assert mg.tensor(np.zeros(2, np.float64)).dtype == np.float64
    assert mg.tensor(np.zeros(2, np.float16)).dtype == np.float16
    assert mg.tensor([1.0], dtype="float64").dtype == np.float64
    assert mg.Tensor([1.0], dtype=np.float64).dtype == np.float64
    assert mg.tensor([True]).dtype == np.bool_


def test_constructor_copies_user_arrays():
    a = np.ones(3)
    t = mg.tensor(a)
    t.data[0] = 5
    assert a[0] == 1


def test_attributes():
    t = mg.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True, name="W")
    assert t.shape == (2, 3) and t.ndim == 2 and t.numel() == 6 and t.dtype == np.float64
    assert t.size() == (2, 3) and t.size(1) == 3 and t.size(-2) == 2 and t.nelement() == 6
    assert t.is_leaf and t.requires_grad and t.grad is None and t.name == "W"
    assert t.T.shape == (3, 2) and not t.T.is_leaf
    assert isinstance(t.numpy(), np.ndarray)
    assert mg.tensor([[2.5]]).item() == 2.5
    d = t.detach()
    assert d.is_leaf and not d.requires_grad and np.shares_memory(d.data, t.data)
    with pytest.raises(ValueError, match="one-element"):
        t.item()


def test_factories_take_requires_grad_and_dtype_and_seed():
    assert mg.zeros(2, 3).shape == (2, 3) and mg.zeros(2, 3).dtype == np.float32
    assert mg.ones((2,), dtype="float64").dtype == np.float64
    assert mg.full((2, 2), 7.0).data.sum() == 28
    assert mg.eye(3).data.trace() == 3
    assert mg.arange(5).dtype == np.int64 and mg.arange(0.0, 1.0, 0.25).numel() == 4
    x = mg.randn(3, requires_grad=True)
    assert x.requires_grad and x.dtype == np.float32
    assert mg.zeros_like(x).shape == (3,) and mg.ones_like(x, dtype="float64").dtype == np.float64
    mg.manual_seed(3)
    a = mg.randn(4).data
    mg.manual_seed(3)
    np.testing.assert_array_equal(a, mg.randn(4).data)
    assert mg.rand(100).data.min() >= 0
    with pytest.raises(TypeError, match="only floating point"):
        mg.arange(3, requires_grad=True)


def test_scalars_and_arrays_on_either_side_give_tensors_and_keep_float32():
    t = mg.tensor([1.0, 2.0])
    for r in (2 * t, t * 2, 2.0 + t, t - 1, 1 - t, t / 2, 2 / t, t**2, 2**t, -t):
        assert isinstance(r, mg.Tensor) and r.dtype == np.float32
    r = np.ones(2, np.float32) + t
    assert isinstance(r, mg.Tensor)
    r = np.ones(2) * t  # a float64 array promotes, numpy's rule
    assert isinstance(r, mg.Tensor) and r.dtype == np.float64
    m = mg.tensor([[1.0, 2.0]]) @ np.ones((2, 1), np.float32)
    assert isinstance(m, mg.Tensor) and m.shape == (1, 1)


def test_comparisons_give_bool_tensors_without_gradient():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    c = x > 1.5
    assert c.dtype == np.bool_ and not c.requires_grad
    assert (x == x).all() and not (x != x).any()
    assert np.asarray(x).dtype == np.float32


def test_repr():
    x = mg.tensor([[1.0, 2.0]], requires_grad=True)
    assert repr(x) == "tensor([[1., 2.]], requires_grad=True)"
    y = x @ mg.tensor([[1.0], [1.0]])
    assert repr(y).endswith("requires_grad=True, op=matmul)")
    assert "dtype=float64" in repr(mg.tensor([1.0], dtype="float64"))


def test_indexing_forms_and_repeated_indices_add_up():
    x = mg.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    y = x[np.array([0, 0, 1])].sum() + x[:, 1].sum() + x[x > 3].sum() + x[mg.tensor([1])].sum()
    y.backward()
    rows = np.array([[2, 2, 2], [1, 1, 1]])  # row 0 taken twice
    col = np.array([[0, 1, 0], [0, 1, 0]])
    mask = np.array([[0, 0, 0], [0, 1, 1]])  # values 4 and 5
    expected = (rows + col + mask + np.array([[0, 0, 0], [1, 1, 1]])).astype(float)
    np.testing.assert_array_equal(x.grad.data, expected)


def test_methods_exist_like_pytorch():
    x = mg.Tensor(np.arange(1.0, 7.0).reshape(2, 3), requires_grad=True)
    out = (x.exp().log() + x.sqrt() ** 2 + x.abs() + x.clip(2, 5) + x.relu() + x.sigmoid()
           + x.tanh() + x.softmax(-1) + x.log_softmax(dim=1))
    s = (out.sum(axis=1) + out.mean(dim=1) + out.max(1).values + out.amax(1)
         + out.min(axis=1, keepdims=True).values.squeeze() + out.amin(dim=1)
         + out.var(1) + out.std(1) + out.logsumexp(1))
    s = s.reshape(2, 1).transpose().permute(1, 0).unsqueeze(0).flatten().sum()
    s.backward()
    assert x.grad.shape == (2, 3)
    assert mg.concatenate([x, x], axis=0).shape == (4, 3)
    assert mg.stack([x, x], axis=1).shape == (2, 2, 3)
    assert x.broadcast_to((4, 2, 3)).shape == (4, 2, 3)


class Cube(mg.Function):
    """x³, declared by a user."""

    formula = "y = x³"
    grads = ("δ ⊙ 3x²",)

    @staticmethod
    def forward(x):
        return x**3

    @staticmethod
    def vjp_x(g, out, x):
        return g * 3.0 * x * x

    @staticmethod
    def examples(rng, dtype):
        return [((rng.standard_normal(s).astype(dtype),), {}) for s in ((), (3,), (2, 3))]


def test_user_defined_op_joins_the_registry_graph_and_gradchecks():
    assert mg.REGISTRY["cube"] is Cube.op
    x = mg.Tensor(np.array([1.0, -2.0]), requires_grad=True)
    y = Cube.apply(x)
    G = mg.graph(y)
    assert G.nodes[id(y)]["op"] == "cube"
    assert G.edges[id(x), id(y)]["formulas"] == ("δ ⊙ 3x²",)
    assert mg.gradcheck(Cube.apply, [x])
    assert mg.gradgradcheck(Cube.apply, [x])


def test_defop_rejects_duplicates_and_mismatched_labels():
    with pytest.raises(ValueError, match="already registered"):
        mg.defop("add", np.add, None, None, formula="", grads=("", ""))
    with pytest.raises(ValueError, match="formula labels"):
        mg.defop("twice_new", lambda x: 2 * x, lambda g, o, x: 2 * g, formula="y = 2x",
                 grads=("a", "b"))


def test_defop_saves_what_the_vjps_read(registered):
    def vjp(g, out, a, b):
        return g

    def declare(name, saves):
        return mg.defop(name, np.add, vjp, vjp, formula="", grads=("", ""), saves=saves)

    every = declare("saves_default", None)  # every input, by every VJP
    assert every.reads == ((0, 1), (0, 1)) and every.saves == (0, 1) and not every.saves_output
    out = declare("saves_output", (mg.ops.OUT,))
    assert out.saves == () and out.saves_output and out.reads_of(1) == ()
    each = declare("saves_each", ((1,), (0, mg.ops.OUT)))  # per VJP: mul's way, and the output
    assert each.saves == (0, 1) and each.saves_output
    assert each.reads_of(0) == (1,) and each.reads_of(1) == (0,)
    with pytest.raises(ValueError, match="'saves_wrong': saves gives 1 entries for 2 VJPs"):
        declare("saves_wrong", ((0,),))


def test_gradcheck_refuses_float32_and_reports_failures():
    x32 = mg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="float64"):
        mg.gradcheck(lambda t: t * 2, [x32])

    class Wrong(mg.Function):
        formula = "y = x²"
        grads = ("δ ⊙ 2x (wrongly 3x)",)

        @staticmethod
        def forward(x):
            return x * x

        @staticmethod
        def vjp(g, out, x):
            return g * 3.0 * x

        examples = Cube.examples

    x = mg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    with pytest.raises(mg.GradcheckError, match=r"input 0 .*element \(1,\).*analytic.*numeric"):
        mg.gradcheck(Wrong.apply, [x])
    assert mg.gradcheck(Wrong.apply, [x], raise_exception=False) is False
    del mg.REGISTRY["wrong"]


def test_redefining_the_same_function_class_replaces_its_op():
    code = '''
class Twice(mg.Function):
    formula = "y = 2x"
    grads = ("2δ",)

    @staticmethod
    def forward(x):
        return 2 * x

    @staticmethod
    def vjp_x(g, out, x):
        return 2 * g
'''
    ns = {"mg": mg, "__name__": "notebook_cell"}
    exec(code, ns)
    first = ns["Twice"].op
    exec(code, ns)  # a re-run cell
    assert mg.REGISTRY["twice"] is ns["Twice"].op and ns["Twice"].op is not first
    with pytest.raises(ValueError, match="already registered"):
        exec(code, {"mg": mg, "__name__": "another_module"})
    del mg.REGISTRY["twice"]


def test_elementwise_choice_methods():
    a = mg.Tensor(np.array([1.0, 5.0]), requires_grad=True)
    b = mg.Tensor(np.array([3.0, 2.0]), requires_grad=True)
    np.testing.assert_array_equal(a.maximum(b).data, [3, 5])
    np.testing.assert_array_equal(a.minimum(b).data, [1, 2])
    w = a.where(a > 2, b)
    np.testing.assert_array_equal(w.data, [3, 5])
    w.sum().backward()
    np.testing.assert_array_equal(a.grad.data, [0, 1])
    np.testing.assert_array_equal(b.grad.data, [1, 0])
