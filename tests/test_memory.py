"""The allocator setting (minigrad.memory): on by default, can be turned off, and with it
repeated large allocations reuse memory instead of page-faulting it in again."""

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
from minigrad import memory

ROOT = Path(__file__).resolve().parents[1]
GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# Each round makes 8 arrays of 1 MiB and frees them all: more than glibc's adaptive trim
# threshold (twice the largest block freed), so by default the heap's top goes back to the
# kernel every round and the next round faults it in again.
_PROBE = """
import json, resource, sys
import numpy as np
import minigrad
def rounds(n):
    for _ in range(n):
        arrays = [np.ones(1 << 18, dtype=np.float32) for _ in range(8)]
        del arrays
rounds(3)
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
rounds(20)
f1 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
print(json.dumps({"policy": minigrad.get_allocator(), "faults_per_round": (f1 - f0) / 20}))
"""


def _probe(env_value: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "MINIGRAD_ALLOCATOR"}
    if env_value is not None:
        env["MINIGRAD_ALLOCATOR"] = env_value
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    p = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_unknown_policy_is_an_error_and_changes_nothing() -> None:
    before = mg.get_allocator()
    with pytest.raises(ValueError, match="unknown policy 'pooled'.*reuse, system"):
        mg.set_allocator("pooled")
    assert mg.get_allocator() == before


def test_set_allocator_switches_and_back() -> None:
    before = mg.get_allocator()
    try:
        mg.set_allocator("system")
        assert mg.get_allocator() == "system"
        mg.set_allocator("reuse")
        assert mg.get_allocator() == "reuse"
    finally:
        mg.set_allocator(before)


@pytest.mark.skipif(not GLIBC, reason="the allocator setting acts on glibc's malloc only")
def test_reuse_is_the_default_and_removes_the_page_faults() -> None:
    default = _probe(None)
    off = _probe("system")
    assert default["policy"] == "reuse"
    assert off["policy"] == "system"
    # 8 MiB freed and faulted in again each round is ~2,048 faults of 4 KiB pages
    assert off["faults_per_round"] > 1000, off
    assert default["faults_per_round"] < 50, default


def test_unknown_environment_value_warns_and_leaves_malloc_alone() -> None:
    env = dict(os.environ, MINIGRAD_ALLOCATOR="fast",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    code = "import warnings; warnings.simplefilter('always'); import minigrad; " \
           "print(minigrad.get_allocator())"
    p = subprocess.run([sys.executable, "-W", "always", "-c", code], env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "system"
    assert "MINIGRAD_ALLOCATOR='fast'" in p.stderr


def test_results_do_not_depend_on_the_allocator() -> None:
    rng = np.random.default_rng(0)
    W = rng.standard_normal((300, 200)).astype(np.float32)
    x = rng.standard_normal((64, 300)).astype(np.float32)
    grads = []
    before = mg.get_allocator()
    try:
        for policy in memory.ALLOCATORS:
            mg.set_allocator(policy)
            Wt = mg.Tensor(W, requires_grad=True)
            (mg.Tensor(x) @ Wt).relu().sum().backward()
            grads.append(Wt.grad.numpy().copy())
    finally:
        mg.set_allocator(before)
    assert np.array_equal(grads[0], grads[1])
