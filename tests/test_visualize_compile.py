"""Pictures of compiled plans: the schedule with its buffers, and each pass before and after."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import visualize
from minigrad.compiler import PIPELINE


def _plan() -> object:
    rng = np.random.default_rng(0)
    W = mg.Tensor(rng.standard_normal((4, 3)), requires_grad=True, name="W")
    c = mg.Tensor(np.arange(3.0))

    def f(x: mg.Tensor) -> mg.Tensor:
        _dead = x.exp()
        return ((x @ W).tanh() * (c * 2.0).exp()).mean()

    step = mg.compile(f)
    step(mg.Tensor(rng.standard_normal((5, 4))))
    return step.plan


def test_draw_of_a_plan_shows_order_buffers_and_what_was_removed() -> None:
    plan = _plan()
    src = visualize.draw(plan).source
    for n in plan.graph.graph["schedule"]:
        assert f"#{plan.graph.nodes[n]['step']} " in src
    assert "buffer b0" in src and "fresh" in src and "last read #" in src
    assert "(dead code)" in src and "folded" in src
    assert "∇ tanh" in src  # the backward is drawn too
    assert src == visualize.draw_plan(plan).source


@pytest.mark.parametrize("name", [p.__name__ for p in PIPELINE])
def test_each_pass_is_drawn_before_and_after(name: str) -> None:
    plan = _plan()
    g = visualize.draw_pass(plan, name)
    src = g.source
    assert "cluster_before" in src and "cluster_after" in src and name in src
    i = [s for s, _ in plan.stages].index(name)
    before, after = (plan.stages[j][1].number_of_nodes() for j in (i - 1, i))
    assert f"{before} → {after} nodes" in src


def test_draw_pass_names_the_passes_when_the_name_is_wrong() -> None:
    with pytest.raises(ValueError, match="fold_constants"):
        visualize.draw_pass(_plan(), "fold")
