"""Every Python block in the README runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_readme_has_python_blocks():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("i", range(len(BLOCKS)))
def test_readme_block_runs(i, capsys):
    code = BLOCKS[i]
    # user-defined ops register under their class name once per process
    import minigrad

    for name in re.findall(r"class (\w+)\(mg\.Function\)", code):
        minigrad.REGISTRY.pop(name.lower(), None)
    exec(compile(code, f"README block {i}", "exec"), {"__name__": f"readme_{i}"})
