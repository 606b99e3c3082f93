"""The tools behind the documentation: run a page's code, make its notebook, redraw its pictures.

Every ```python block of a page in docs/ is real code: the blocks of one page share one
namespace and run in order, like the cells of a notebook. Three commands use that:

    python docs/doctools.py run docs/tutorial.md     # run a page's blocks in the current folder
    python docs/doctools.py notebooks                # write examples/notebooks/*.ipynb from pages
    python docs/doctools.py images                   # redraw the pictures in docs/img/

``images`` runs each page's blocks in a scratch folder and copies the pictures the page shows
(``![…](img/NAME)``) that its code wrote, so every picture is the output of the code beside
it; a picture made by a shell command (a ```bash line starting with ``minigrad `` and
writing into ``docs/img/``) is made by running that line from the repository's root.

tests/test_docs.py and tests/test_notebooks.py use the same functions.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
IMG = DOCS / "img"
NOTEBOOKS = ROOT / "examples" / "notebooks"

# page → notebook: the pages that are also notebooks
NOTEBOOK_PAGES = {
    "tutorial.md": "tutorial.ipynb",
    "diagrams.md": "diagrams.ipynb",
    "custom_ops.md": "custom_ops.ipynb",
    "convolution.md": "convolution.ipynb",
    "attention.md": "attention.ipynb",
    "backprop_exercise.md": "backprop_exercise.ipynb",
    "derive.md": "derive.ipynb",
    "forward_mode.md": "forward_mode.ipynb",
}

_FENCE = re.compile(r"^```\s*([\w+-]*)\s*$")
_LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s]+)(\))")


@dataclass
class Block:
    """One fenced code block: its language, first line number (1-based) and text."""

    lang: str
    line: int
    code: str


def split(text: str) -> list[str | Block]:
    """The page as a list of Markdown chunks (str) and fenced code blocks (`Block`)."""
    parts: list[str | Block] = []
    prose: list[str] = []
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None:
            prose.append(lines[i])
            i += 1
            continue
        start = i + 1
        j = start
        while j < len(lines) and not re.match(r"^```\s*$", lines[j]):
            j += 1
        if j == len(lines):
            raise ValueError(f"unclosed code fence at line {i + 1}")
        if prose:
            parts.append("".join(prose))
            prose = []
        parts.append(Block(m.group(1).lower(), start + 1, "".join(lines[start:j])))
        i = j + 1
    if prose:
        parts.append("".join(prose))
    return parts


def blocks(text: str, lang: str = "python") -> list[Block]:
    """The fenced blocks of one language, in page order."""
    return [p for p in split(text) if isinstance(p, Block) and p.lang == lang]


def pages() -> list[Path]:
    """Every Markdown page of the documentation."""
    return sorted(DOCS.rglob("*.md"))


def run_page(page: Path, namespace: dict[str, Any] | None = None) -> dict[str, Any]:
    """Runs the page's python blocks in order, in one namespace, in the current folder.

    Each block is compiled under the page's path with its own line numbers, so a traceback
    points at the line of the Markdown file.
    """
    ns: dict[str, Any] = {"__name__": "__main__"} if namespace is None else namespace
    for b in blocks(page.read_text(encoding="utf-8")):
        code = "\n" * (b.line - 1) + b.code
        exec(compile(code, str(page), "exec"), ns)  # noqa: S102 (running the docs is the point)
    return ns


# --------------------------------------------------------------------------- notebooks
def _relink(markdown: str, page: Path, notebook: Path) -> str:
    """Rewrites the page's relative links so they work from the notebook's folder."""

    def fix(m: re.Match[str]) -> str:
        target = m.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith(("#", "/")):
            return m.group(0)
        path, _, anchor = target.partition("#")
        moved = os.path.relpath(page.parent / path, notebook.parent).replace(os.sep, "/")
        return m.group(1) + moved + ("#" + anchor if anchor else "") + m.group(3)

    return _LINK.sub(fix, markdown)


def to_notebook(page: Path, notebook: Path) -> Any:
    """The page as a notebook: prose as Markdown cells, python blocks as code cells, other
    blocks (shell commands, printed output) kept in the Markdown. No outputs are stored."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    rel = page.relative_to(ROOT).as_posix()
    cells = [nbformat.v4.new_markdown_cell(
        f"*This notebook is made from `{rel}` by `python docs/doctools.py notebooks`: edit the "
        f"page, not the notebook. Run it from any folder: the files it writes go there.*"
    )]
    prose: list[str] = []

    def flush() -> None:
        text = "".join(prose).strip("\n")
        prose.clear()
        if text.strip():
            cells.append(nbformat.v4.new_markdown_cell(_relink(text, page, notebook)))

    for part in split(page.read_text(encoding="utf-8")):
        if isinstance(part, Block) and part.lang == "python":
            flush()
            cells.append(nbformat.v4.new_code_cell(part.code.rstrip("\n")))
        elif isinstance(part, Block):
            prose.append(f"```{part.lang}\n{part.code}```\n")
        else:
            prose.append(part)
    flush()
    for i, cell in enumerate(cells):
        cell["id"] = f"{notebook.stem}-{i}"  # stable ids: regenerating changes nothing
    nb.cells = cells
    return nb


def notebook_text(page_name: str) -> str:
    """The .ipynb text that `notebooks` writes for one page."""
    import nbformat

    notebook = NOTEBOOKS / NOTEBOOK_PAGES[page_name]
    return nbformat.writes(to_notebook(DOCS / page_name, notebook)) + "\n"


def write_notebooks() -> list[Path]:
    NOTEBOOKS.mkdir(parents=True, exist_ok=True)
    written = []
    for page_name, nb_name in NOTEBOOK_PAGES.items():
        path = NOTEBOOKS / nb_name
        path.write_text(notebook_text(page_name), encoding="utf-8")
        written.append(path)
    return written


# --------------------------------------------------------------------------- pictures
def shown_images(text: str) -> set[str]:
    """The names of the pictures and pages under img/ that a page links to."""
    return {m.group(2)[len("img/"):] for m in _LINK.finditer(text)
            if m.group(2).startswith("img/")}


def image_commands(text: str) -> list[list[str]]:
    """The ``minigrad …`` lines of the page's bash blocks that write into docs/img/."""
    out = []
    for b in blocks(text, "bash"):
        for line in b.code.splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith("minigrad ") and "docs/img/" in line:
                out.append(shlex.split(line))
    return out


def make_images(names: list[str] | None = None) -> list[Path]:
    """Redraws the pictures of the given pages (default: all) into docs/img/."""
    written: list[Path] = []
    exe = Path(sys.executable).with_name("minigrad")
    for page in pages():
        if names and page.name not in names:
            continue
        text = page.read_text(encoding="utf-8")
        for cmd in image_commands(text):
            subprocess.run([str(exe), *cmd[1:], "--overwrite"], cwd=ROOT, check=True)
            written += [ROOT / a for a in cmd if a.startswith("docs/img/")]
        wanted = shown_images(text)
        if not wanted or not blocks(text):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([sys.executable, str(Path(__file__)), "run", str(page)], cwd=tmp,
                           check=True, env={**os.environ, "MPLBACKEND": "Agg"})
            for name in sorted(wanted):
                made = Path(tmp) / name
                if made.exists():
                    shutil.copyfile(made, IMG / name)
                    written.append(IMG / name)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a page's python blocks in the current folder")
    run.add_argument("page", type=Path)
    sub.add_parser("notebooks", help="write examples/notebooks/*.ipynb from their pages")
    img = sub.add_parser("images", help="redraw the pictures in docs/img/")
    img.add_argument("pages", nargs="*", help="page names, e.g. diagrams.md (default: all)")
    args = parser.parse_args(argv)
    if args.command == "run":
        run_page(args.page.resolve())
    elif args.command == "notebooks":
        for p in write_notebooks():
            print(f"wrote {p.relative_to(ROOT)}")
    else:
        for p in make_images(args.pages):
            print(f"wrote {p.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
