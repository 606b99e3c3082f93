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


ROOT = README.parent
TWO_COMMANDS = re.search(r"## Two commands\n+```bash\n(.*?)```",
                         README.read_text(encoding="utf-8"), re.S)


def _commands(script: str) -> list[str]:
    """The shell commands of a script, without comments, blank lines and `set`/`cd` set-up."""
    lines = [line.split("#", 1)[0].strip() for line in script.splitlines()]
    return [line for line in lines if line and not line.startswith(("set ", "cd "))]


def test_readme_shows_the_two_commands():
    assert TWO_COMMANDS is not None, "README.md lost its '## Two commands' block"
    assert [c.split()[:2] for c in _commands(TWO_COMMANDS.group(1))] == [["make", "demo"],
                                                                        ["make", "test"]]


def test_ci_runs_the_readme_commands_and_installs_nothing():
    """CI must test the set-up a newcomer gets: the README's `make test` (and `make lint`),
    with every install done by the Makefile, never by the CI script itself."""
    commands = _commands((ROOT / ".ci" / "run").read_text(encoding="utf-8"))
    install = r"\b(pip3?|apt-get|apt|conda|brew|npm)\b.*\binstall\b|-m (pip|venv)\b"
    installs = [c for c in commands if re.search(install, c)]
    assert installs == [], f".ci/run installs things itself (the Makefile must): {installs}"
    assert "make test" in commands
    assert set(commands) <= {"make lint", "make test", "make demo"}, commands
    assert "make lint" in README.read_text(encoding="utf-8")


def test_make_test_fails_on_a_skip():
    """The set-up installs everything the suite needs, so `make test` fails on any skip."""
    recipe = re.search(r"^test:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(encoding="utf-8"),
                       re.M)
    assert recipe is not None and "--no-skips" in recipe.group(1)
