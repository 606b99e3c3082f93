"""The distribution: `python -m build` makes an sdist and a wheel, and the wheel, installed into
a fresh virtual environment and run away from the source tree, has everything the ``minigrad``
command needs (``minigrad check`` and ``minigrad demo`` run from it) and no top-level module
but ``minigrad``.

The fresh environment gets the wheel alone (``--no-deps``); it sees this environment's
site-packages through a path file, for numpy and the other dependencies, but not the source
tree: no PYTHONPATH, and it runs in a temporary folder.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    """This process's environment without anything that would put the source tree in reach."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    env["MPLBACKEND"] = "Agg"
    return env


def _run(args: list[str | Path], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> dict[str, Path]:
    """`python -m build`: the sdist, and the wheel built from it. Without build isolation when
    hatchling is already here (no download); with it otherwise."""
    if importlib.util.find_spec("build") is None:
        pytest.fail("the `build` package is missing: it is in the test extra")
    out = tmp_path_factory.mktemp("dist")
    isolation = ["--no-isolation"] if importlib.util.find_spec("hatchling") else []
    r = _run([sys.executable, "-m", "build", *isolation, "--outdir", out, ROOT], cwd=out)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    wheels, sdists = list(out.glob("*.whl")), list(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
    return {"wheel": wheels[0], "sdist": sdists[0]}


@pytest.fixture(scope="module")
def venv(dist, tmp_path_factory) -> Path:
    """A fresh virtual environment with the wheel installed; returns its folder."""
    where = tmp_path_factory.mktemp("venv")
    env_dir = where / "env"
    r = _run([sys.executable, "-m", "venv", "--without-pip", env_dir], cwd=where)
    assert r.returncode == 0, r.stderr
    python = env_dir / "bin" / "python"
    site = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                cwd=where).stdout.strip()
    # the dependencies come from here; a plain path line adds the folder but runs none of its
    # own path files, so an editable install of the source tree stays out of reach
    ours = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (Path(site) / "zz_test_dependencies.pth").write_text("\n".join(ours) + "\n")
    r = _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps",
              "--no-index", "--quiet", dist["wheel"]], cwd=where)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return env_dir


def _top_level(names: list[str]) -> set[str]:
    return {n.split("/")[0] for n in names}


def test_the_wheel_holds_minigrad_alone(dist):
    """No top-level module but minigrad: `visualize` is another package's name on PyPI."""
    with zipfile.ZipFile(dist["wheel"]) as z:
        names = z.namelist()
    top = {t for t in _top_level(names) if not t.endswith(".dist-info")}
    assert top == {"minigrad"}
    assert "minigrad/visualize/__init__.py" in names
    assert not any(n.startswith("visualize/") or "__pycache__" in n for n in names)


def test_the_wheel_holds_every_file_of_the_packages(dist):
    """Everything under minigrad/ and visualize/ in the source tree (code, and any template,
    font or data file the code reads) is in the wheel, visualize/ as minigrad/visualize/."""
    with zipfile.ZipFile(dist["wheel"]) as z:
        names = set(z.namelist())
    expected = set()
    for folder, target in (("minigrad", "minigrad"), ("visualize", "minigrad/visualize")):
        for path in (ROOT / folder).rglob("*"):
            rel = path.relative_to(ROOT / folder)
            if "__pycache__" in rel.parts or path.is_dir() or path.suffix == ".pyc":
                continue
            if folder == "minigrad" and rel.parts[0] == "visualize":  # the symlink
                continue
            expected.add(f"{target}/{rel.as_posix()}")
    assert expected and expected <= names, sorted(expected - names)
    assert sorted(n for n in names - expected if not n.split("/")[0].endswith(".dist-info")) == []


def test_the_sdist_keeps_the_repository_layout(dist):
    """The sdist has visualize/ at the top, as the repository does, and not a second copy of it
    under minigrad/ (the repository's minigrad/visualize is a symlink)."""
    with tarfile.open(dist["sdist"]) as t:
        names = [n.split("/", 1)[1] for n in t.getnames() if "/" in n]
    assert "visualize/__init__.py" in names and "minigrad/__init__.py" in names
    assert not any(n.startswith("minigrad/visualize") for n in names)
    assert "pyproject.toml" in names and "README.md" in names


def test_the_installed_package_is_the_wheel(venv, tmp_path):
    code = ("import importlib.util, minigrad, minigrad.visualize as v; "
            "print(minigrad.__file__); print(v.__file__); "
            "print(importlib.util.find_spec('visualize'))")
    r = _run([venv / "bin" / "python", "-c", code], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    mg_file, vis_file, top_visualize = r.stdout.split("\n")[:3]
    for f in (mg_file, vis_file):
        assert Path(f).resolve().is_relative_to(venv.resolve()), f
        assert not Path(f).resolve().is_relative_to(ROOT), f
    assert top_visualize == "None"


def test_minigrad_check_runs_from_the_wheel(venv, tmp_path):
    r = _run([venv / "bin" / "minigrad", "check"], cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "ops pass" in r.stdout.splitlines()[-1]


def test_minigrad_demo_runs_from_the_wheel(venv, tmp_path):
    out = tmp_path / "demo"
    r = _run([venv / "bin" / "minigrad", "demo", "--epochs", "5", "--out", out], cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "missing" not in r.stdout and "failed" not in r.stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["graph.svg", "backward.html", "grad_flow.png", "training.png", "decision_boundary.png",
         "model.npz"])


def test_an_editable_install_imports_minigrad_visualize_from_the_tree(tmp_path):
    """``pip install -e .`` (what make and CI do) puts the repository on the path, where
    minigrad/visualize (a symlink to visualize/) gives the same import name as the wheel."""
    if importlib.util.find_spec("hatchling") is None:
        pytest.skip("hatchling (in the test extra) builds the editable install without a "
                    "download")
    env_dir = tmp_path / "env"
    assert _run([sys.executable, "-m", "venv", "--without-pip", env_dir], cwd=tmp_path
                ).returncode == 0
    python = env_dir / "bin" / "python"
    site = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                cwd=tmp_path).stdout.strip()
    ours = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (Path(site) / "zz_test_dependencies.pth").write_text("\n".join(ours) + "\n")
    r = _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps",
              "--no-build-isolation", "--no-index", "--quiet", "-e", ROOT], cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    r = _run([python, "-c", "import minigrad.visualize as v; print(v.__file__); "
                            "print(v.draw.__module__)"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    path, module = r.stdout.split("\n")[:2]
    assert Path(path) == ROOT / "minigrad" / "visualize" / "__init__.py"
    assert module == "minigrad.visualize.diagram"
