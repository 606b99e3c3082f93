"""The shape of the code: imports flow one way (no module imports, even indirectly, a module
that imports it) and no function is longer than a reader can hold in one screen.

Both are read from the source with `ast` and `tokenize`, without importing anything: every
import statement counts, at module level and inside functions, so a cycle hidden behind a
deferred import fails here too. Only imports under ``if TYPE_CHECKING:`` are left out: they
never run, and name a type for the annotations (tensor.py's `Node`) without importing it.
(Ruff's C901, run by ``make lint``, keeps each function's cyclomatic complexity at 15 or
less.)
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]

MAX_LINES = 60
"""The most lines of code a function may have: docstrings, comments and blank lines aside."""

# --------------------------------------------------------------------------- the modules
def _modules() -> dict[str, tuple[Path, bool]]:
    """Every module of minigrad and of visualize (installed as minigrad.visualize): its dotted
    name → (its file, whether it is a package's ``__init__``)."""
    out: dict[str, tuple[Path, bool]] = {}
    for folder, prefix in (("minigrad", "minigrad"), ("visualize", "minigrad.visualize")):
        base = ROOT / folder
        for path in sorted(base.rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if folder == "minigrad" and parts[0] == "visualize":
                continue  # the symlink to ../visualize: read once, under its own folder
            package = parts[-1] == "__init__"
            if package:
                parts = parts[:-1]
            out[".".join([prefix, *parts])] = (path, package)
    return out


MODULES = _modules()


def _known(name: str) -> str | None:
    """The module `name` names, or the closest package above it that is ours (None: not
    ours, e.g. numpy)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _is_type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _executed(tree: ast.AST) -> list[ast.AST]:
    """Every node of `tree` except those inside an ``if TYPE_CHECKING:`` block (its ``else``
    runs, and is kept)."""
    out: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        out.append(node)
        if _is_type_checking(node):
            todo.extend(node.orelse)  # type: ignore[attr-defined]
            continue
        todo.extend(ast.iter_child_nodes(node))
    return out


def _imports(module: str) -> set[str]:
    """The modules of ours that `module` imports, wherever the import statement stands."""
    path, package = MODULES[module]
    here = module if package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _executed(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(filter(None, (_known(a.name) for a in node.names)))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            for alias in node.names:
                # `from package import name`: the submodule when name is one
                target = f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else _known(
                    base)
                if target is not None:
                    found.add(target)
    found.discard(module)
    return found


def import_graph() -> nx.DiGraph:
    """An edge from each module to each module of ours it imports."""
    G = nx.DiGraph()
    for module in MODULES:
        G.add_node(module)
        G.add_edges_from((module, target) for target in _imports(module))
    return G


# --------------------------------------------------------------------------- the tests
def test_the_walk_sees_relative_deferred_and_submodule_imports() -> None:
    G = import_graph()
    assert G.has_edge("minigrad.visualize.diagram", "minigrad.visualize.scene")  # from .scene
    assert G.has_edge("minigrad.reference.layers", "minigrad.reference.dense")  # from pkg import
    assert G.has_edge("minigrad.tensor", "minigrad.device")  # inside a method
    assert G.has_edge("minigrad.ops.activation", "minigrad.tensor")
    assert not G.has_edge("minigrad.tensor", "minigrad.function")  # under TYPE_CHECKING
    assert not G.has_edge("minigrad.graph", "networkx")  # not ours


def test_no_import_cycles() -> None:
    G = import_graph()
    knots = [c for c in nx.strongly_connected_components(G) if len(c) > 1]
    messages = []
    for component in map(sorted, knots):
        cycle = nx.find_cycle(G.subgraph(component))
        path = " → ".join([u for u, _ in cycle] + [cycle[0][0]])
        messages.append(f"{path} (the modules that import each other: {', '.join(component)})")
    assert not messages, (
        "import cycles; move what the modules share into a module both import:\n"
        + "\n".join(messages))


# --------------------------------------------------------------------------- function length
def _code_lines(source: str, tree: ast.AST) -> set[int]:
    """The numbers of the lines that hold code: not blank, not only a comment, not part of a
    docstring (a string spanning lines counts on each of them)."""
    lines: set[int] = set()
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
            tokenize.ENDMARKER}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in skip:
            lines.update(range(tok.start[0], tok.end[0] + 1))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = node.body[0] if node.body else None
            if isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant) and isinstance(
                    doc.value.value, str):
                lines.difference_update(range(doc.lineno, (doc.end_lineno or 0) + 1))
    return lines


def function_lengths() -> dict[str, int]:
    """``"path::name"`` → lines of code, for every function and method of minigrad and
    visualize (a nested function counts in its own right and in the function around it)."""
    out: dict[str, int] = {}
    for path, _ in MODULES.values():
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        code = _code_lines(source, tree)
        where = path.relative_to(ROOT).as_posix()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = sum(1 for ln in range(node.lineno, (node.end_lineno or 0) + 1) if ln in code)
                key = f"{where}::{node.name}"
                out[key] = max(n, out.get(key, 0))
    return out


def test_the_line_count_leaves_out_docstrings_comments_and_blank_lines() -> None:
    source = '''def f(x):
    """Doc,
    on two lines."""

    # a comment
    s = """a string
    # on two lines"""
    return x + len(s)  # why
'''
    assert sorted(_code_lines(source, ast.parse(source))) == [1, 6, 7, 8]


def test_no_function_is_longer_than_a_screen() -> None:
    long = {k: n for k, n in function_lengths().items() if n > MAX_LINES}
    assert not long, (
        f"functions over {MAX_LINES} lines of code; split each into parts that a name "
        f"explains: {long}")


def test_tensor_imports_no_op_module() -> None:
    # Tensor's methods reach the ops through minigrad.dispatch (the ops import Tensor)
    assert not {m for m in _imports("minigrad.tensor") if m.startswith("minigrad.ops")}
    assert "minigrad.dispatch" in _imports("minigrad.tensor")
