"""The documentation cannot drift from the code: every python block of docs/ runs, every
picture a page shows comes from its code or its commands, every relative link and image of
docs/ and README.md points to a file that exists, and the site builds in strict mode."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import types
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _load_doctools() -> types.ModuleType:
    name = "minigrad_docs_doctools"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, DOCS / "doctools.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before running it: its dataclass looks its module up
    spec.loader.exec_module(module)
    return module


doctools = _load_doctools()
PAGES = doctools.pages()
CODE_PAGES = [p for p in PAGES if doctools.blocks(p.read_text(encoding="utf-8"))]
LINKED = PAGES + [ROOT / "README.md"]
COMMAND_IMAGES = {Path(arg).name for p in PAGES
                  for cmd in doctools.image_commands(p.read_text(encoding="utf-8"))
                  for arg in cmd if arg.startswith("docs/img/")}


def _id(p: Path) -> str:
    return p.relative_to(ROOT).as_posix()


def test_the_pages_exist():
    names = {p.relative_to(DOCS).as_posix() for p in PAGES}
    expected = {"index.md", "tutorial.md", "engine.md", "diagrams.md", "custom_ops.md",
                "training.md"}
    assert expected <= names
    assert {p.name for p in CODE_PAGES} >= expected - {"index.md"}


@pytest.mark.parametrize("page", CODE_PAGES, ids=_id)
def test_page_code_runs(page, tmp_path):
    """The page's python blocks run in order in one namespace, as a reader would run them,
    in a fresh process and an empty folder (files the code writes land there)."""
    result = subprocess.run(
        [sys.executable, str(DOCS / "doctools.py"), "run", str(page)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert result.returncode == 0, (
        f"a code block of {_id(page)} failed (the traceback's line numbers are the page's):\n"
        f"{result.stderr[-6000:]}"
    )
    for name in doctools.shown_images(page.read_text(encoding="utf-8")):
        # a picture the page shows is written by the page's own code or by one of the
        # `minigrad` commands of the docs, so `doctools.py images` can redraw it
        assert (tmp_path / name).exists() or name in COMMAND_IMAGES, (
            f"{_id(page)} shows img/{name}, which neither its code nor a command writes"
        )


@pytest.mark.parametrize("page", CODE_PAGES, ids=_id)
def test_page_code_passes_the_linter(page):
    """The code readers copy follows the project's ruff rules (its blocks read as one module,
    so an import in a later block is fine)."""
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    code = "\n\n".join(b.code for b in doctools.blocks(page.read_text(encoding="utf-8")))
    result = subprocess.run(
        [ruff, "check", "--config", str(ROOT / "pyproject.toml"), "--extend-ignore", "E402",
         "--output-format", "concise", "--stdin-filename", f"{page.with_suffix('')}_page.py",
         "-"],
        input=code, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, f"{_id(page)}:\n{result.stdout}{result.stderr}"


def test_blocks_are_found_with_their_line_numbers():
    text = "intro\n```python\nx = 1\n```\n\n```text\n```python\n```\n```python\ny = x\n```\n"
    got = [(b.line, b.code) for b in doctools.blocks(text)]
    assert got == [(3, "x = 1\n"), (10, "y = x\n")]


def test_a_failing_block_names_the_page_and_line(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# t\n\n```python\nx = 1\n```\n\ntext\n\n```python\nassert x == 2\n```\n",
                    encoding="utf-8")
    result = subprocess.run([sys.executable, str(DOCS / "doctools.py"), "run", str(page)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert f'File "{page}", line 10' in result.stderr


# --------------------------------------------------------------------------- links
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HTML = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


def _prose(text: str, inline_code: bool = False) -> str:
    """The page without its code blocks (and inline code), where links are only examples."""
    prose = "".join(p for p in doctools.split(text) if isinstance(p, str))
    return prose if inline_code else re.sub(r"`[^`\n]*`", "", prose)


def _slug(heading: str) -> str:
    """The anchor mkdocs gives a heading (Python-Markdown's toc slugify)."""
    text = unicodedata.normalize("NFKD", heading.replace("`", ""))
    text = re.sub(r"[^\w\s-]", "", text.encode("ascii", "ignore").decode("ascii"))
    return re.sub(r"[-\s]+", "-", text.strip().lower())


def _anchors(md: Path) -> set[str]:
    prose = _prose(md.read_text(encoding="utf-8"), inline_code=True)
    return {_slug(h) for h in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", prose, re.M)}


def _targets(page: Path) -> list[str]:
    prose = _prose(page.read_text(encoding="utf-8"))
    return _LINK.findall(prose) + _HTML.findall(prose)


@pytest.mark.parametrize("page", LINKED, ids=_id)
def test_relative_links_and_images_exist(page):
    bad = []
    for target in _targets(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("//"):
            continue  # http:, https:, mailto:
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            bad.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            bad.append(f"{target}: no heading with the anchor #{anchor}")
    assert not bad, f"{_id(page)} has broken links: " + "; ".join(bad)


def test_the_link_check_sees_links():
    assert "img/tutorial_net.png" in _targets(DOCS / "index.md")
    assert "docs/img/lecture_net.png" in _targets(ROOT / "README.md")
    assert "broadcasting-and-unbroadcast" in _anchors(DOCS / "engine.md")
    assert "the-same-story-as-bars-grad_flow" in _anchors(DOCS / "diagrams.md")


# --------------------------------------------------------------------------- the site
@pytest.mark.slow
def test_site_builds_in_strict_mode(tmp_path):
    """What `make docs` runs: a warning (a broken link, an API reference that does not
    resolve, a page missing from the navigation) fails the build."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},  # a theme's banner, not a build warning
    )
    assert result.returncode == 0, result.stderr[-6000:]
    assert "WARNING" not in result.stderr, result.stderr[-6000:]
    built = (tmp_path / "site" / "reference" / "ops" / "index.html").read_text("utf-8")
    assert "δ·hᵀ" in built and "matmul" in built  # the op table came from the registry
    assert (tmp_path / "site" / "img" / "backward.html").exists()
