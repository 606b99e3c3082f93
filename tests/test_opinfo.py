"""The op table (`minigrad.opinfo`) joined with the registry: one entry per built-in op and
none for an op that does not exist; a user's `Function` brings its own cases."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import opinfo
from minigrad.function import function_of
from minigrad.ops import REGISTRY


def test_every_entry_names_a_registered_op() -> None:
    assert opinfo.unmatched() == []


def test_an_entry_naming_no_op_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(opinfo.TABLE, "no_such_op", opinfo.OpInfo("no_such_op", lambda r, d: []))
    assert opinfo.unmatched() == ["no_such_op"]


def test_every_built_in_op_has_an_entry() -> None:
    built_in = [op.name for op in REGISTRY.values() if function_of(op) is None]
    assert [name for name in built_in if name not in opinfo.TABLE] == []


def test_a_function_s_examples_reach_the_table(registered) -> None:
    def samples(rng, dtype):
        return [((rng.standard_normal(3).astype(dtype),), {})]

    class Halve(mg.Function):
        formula = "y = x / 2"
        grads = ("δ / 2",)
        examples = samples

        @staticmethod
        def forward(x):
            return x / 2

        @staticmethod
        def vjp_x(g, out, x):
            return g / 2

    assert opinfo.info(Halve.op).cases is samples
    assert opinfo.info("halve").torch is None and opinfo.info("halve").calls == ()
    ((x,), params), = opinfo.cases(Halve.op, np.random.default_rng(0), np.float32)
    assert x.shape == (3,) and x.dtype == np.float32 and params == {}


def test_an_op_without_cases_is_an_error_naming_it(registered) -> None:
    class Bare(mg.Function):
        @staticmethod
        def forward(x):
            return x

        @staticmethod
        def vjp_x(g, out, x):
            return g

    assert opinfo.find(Bare.op) is None
    with pytest.raises(opinfo.MissingCases, match="op 'bare' has no samples.*opinfo/table.py"):
        opinfo.cases(Bare.op, np.random.default_rng(0), np.float64)
