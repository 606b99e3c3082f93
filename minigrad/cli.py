r"""The ``minigrad`` command: ``demo``, ``compare``, ``render`` and ``check``.

- ``minigrad compare``: builds an MLP (or, with ``--model cnn|transformer``, an example
  model, or with ``--from FILE.py:FUNCTION`` your own) and sets autograd's gradients beside
  the hand-derived formulas (`minigrad.reference.compare`), layer by layer; exit code 0 only
  when every row matches.
- ``minigrad check``: gradchecks every op in the registry against central differences.
- ``minigrad render``: draws a model's graph and its backward pass: the lecture's network,
  an example model (``--model``) or your own (``--from``).
- ``minigrad demo``: the main job (``make demo``): trains an MLP on the spirals, compares one
  batch with the formulas, and writes the diagrams, plots and weights into a folder.

``--from FILE.py:FUNCTION`` imports the file (`importlib`, as a module of its own) and calls
the function with no arguments. It returns a scalar loss Tensor, ``(loss, model)`` (the model
names the parameters), or ``(model, x, y)`` (a model, an input batch and its targets, run
with ``--loss``); ``compare`` needs the last form, since it runs the model itself.

Bad arguments, and a ``--from`` file or function that is missing, raises or returns
something else, give one line, ``minigrad: error: …``, and exit code 2 (``--debug`` adds the
traceback); a command that runs but fails (a row that differs, a file that exists) exits
with 1.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import inspect
import json
import os
import re
import sys
import time
import traceback
import types
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

import numpy as np

__all__ = ["main", "build_parser", "BadInput", "FromSpec"]

PROG = "minigrad"
DTYPES = ("float64", "float32")
MODELS = ("mlp", "cnn", "transformer")
COLLAPSE = ("auto", "module", "none")
# how --steps steps for each --collapse: a module at a time, an op at a time, or by size
STEPS_BY = {"auto": "auto", "module": "module", "none": "op"}
RETURNS = "a scalar loss Tensor, (loss, model) or (model, x, y)"


# --------------------------------------------------------------------------- argument types
def sizes_type(text: str) -> list[int]:
    """``"3,3,3,2"`` → ``[3, 3, 3, 2]``: the widths ``n_0, …, n_L``, each a positive integer."""
    parts = [p.strip() for p in text.split(",")]
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer widths like 3,3,3,2, got {text!r}"
        ) from None
    if len(sizes) < 2:
        raise argparse.ArgumentTypeError(
            f"need at least an input and an output width (like 3,2), got {text!r}"
        )
    bad = [n for n in sizes if n < 1]
    if bad:
        raise argparse.ArgumentTypeError(
            f"every width must be a positive integer, got {bad[0]} in {text!r}"
        )
    return sizes


def _int_at_least(low: int, what: str) -> Callable[[str], int]:
    """An argparse type: an integer ≥ `low`, else a one-line error naming `what` it must be."""

    def convert(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if n < low:
            raise argparse.ArgumentTypeError(f"expected {what}, got {n}")
        return n

    return convert


positive_int = _int_at_least(1, "a positive integer")
seed_type = _int_at_least(0, "a non-negative integer")


class FromSpec(NamedTuple):
    """``--from FILE.py:FUNCTION``: a Python file and the name of a function in it."""

    path: Path
    function: str

    def __str__(self) -> str:
        return f"{self.path}:{self.function}"


def from_type(text: str) -> FromSpec:
    """``"examples/my_model.py:loss"`` → ``FromSpec(Path("examples/my_model.py"), "loss")``.
    The last colon splits, so a path may hold colons of its own."""
    path, sep, function = text.rpartition(":")
    if not sep or not path or not function.isidentifier():
        raise argparse.ArgumentTypeError(
            f"expected FILE.py:FUNCTION, like examples/my_model.py:loss, got {text!r}"
        )
    return FromSpec(Path(path), function)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is the single line ``minigrad: error: …`` (exit code 2):
    the usage block it normally prints first buries the one thing that went wrong."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message} (see '{self.prog} --help')\n")


def _activations() -> list[str]:
    from minigrad import reference

    return sorted(reference.ACTIVATIONS)


# --------------------------------------------------------------------------- the parser
def build_parser() -> argparse.ArgumentParser:
    """The parser with its four subcommands."""
    p = _Parser(
        prog=PROG,
        description="minigrad: autograd on an explicit computation graph, for learning "
                    "backpropagation.",
    )
    _debug_flag(p, default=False)
    sub = p.add_subparsers(dest="command", metavar="command", required=True)
    acts = _activations()
    _add_compare(sub, acts)
    _add_check(sub)
    _add_render(sub, acts)
    _add_derive(sub, acts)
    _add_demo(sub)
    return p


def _debug_flag(q: argparse.ArgumentParser, default: Any) -> None:
    """``--debug``, before or after the subcommand. A subcommand's copy defaults to SUPPRESS
    so that it does not overwrite a ``--debug`` given before the subcommand's name."""
    q.add_argument("--debug", action="store_true", default=default,
                   help="on an error, print the traceback as well as the one-line message")


def _subcommand(sub: Any, name: str, help: str, description: str) -> argparse.ArgumentParser:
    """A subcommand's parser, with its own copy of ``--debug``."""
    q: argparse.ArgumentParser = sub.add_parser(name, help=help, description=description)
    _debug_flag(q, default=argparse.SUPPRESS)
    return q


_MODEL_HELP = ("mlp: the lecture's MLP (--sizes, --activation); cnn: DigitsCNN; "
               "transformer: TinyTransformer (default: mlp)")


def _model_args(q: argparse.ArgumentParser, acts: list[str], model_help: str,
                from_help: str) -> None:
    """Which model: --model (an example) or --from (the user's own), then the lecture's
    network's arguments (``_net_args``)."""
    which = q.add_mutually_exclusive_group()
    which.add_argument("--model", choices=MODELS, default="mlp", help=model_help)
    which.add_argument("--from", dest="source", type=from_type, default=None,
                       metavar="FILE.py:FUNCTION", help=from_help)
    _net_args(q, acts)


def _batch_arg(q: argparse.ArgumentParser) -> None:
    q.add_argument("--batch", type=positive_int, default=1,
                   help="examples in the batch (default: 1, the lecture's single example)")


def _net_args(q: argparse.ArgumentParser, acts: list[str]) -> None:
    """The lecture's network: --sizes, --activation, --loss, --seed."""
    q.add_argument("--sizes", type=sizes_type, default=[3, 3, 3, 2], metavar="N0,N1,…,NL",
                   help="layer widths n_0,…,n_L (default: 3,3,3,2)")
    q.add_argument("--activation", choices=acts, default="sigmoid",
                   help="g for the hidden layers (default: sigmoid)")
    q.add_argument("--loss", choices=("ce", "mse"), default="ce",
                   help="ce: softmax + cross-entropy; mse: identity + squared error "
                        "(default: ce)")
    q.add_argument("--seed", type=seed_type, default=0, help="random seed (default: 0)")


def _add_compare(sub: Any, acts: list[str]) -> None:
    c = _subcommand(
        sub, "compare", help="autograd vs the lecture's hand-derived formulas, layer by layer",
        description="""
            Builds a model, runs it with autograd and with the hand-derived formulas on the same
            weights and inputs, and prints one row per layer and quantity. --model mlp (the
            default) is the lecture's network, compared with its formulas (∇W_k = ∇a_k·h_(k−1)ᵀ,
            ∇b_k = ∇a_k, ∇h_(k−1) = W_kᵀ·∇a_k, ∇a_k = ∇h_k ⊙ g′(a_k)); cnn and transformer are
            the example models (minigrad.models), compared layer by layer with each layer's
            formulas. --from FILE.py:FUNCTION compares your own model: the file is imported,
            FUNCTION() is called with no arguments and returns (model, x, y), the model, an
            input batch and its targets (class indices for --loss ce, an array of the output's
            shape for --loss mse); --sizes, --activation and --batch then do not apply. Exit
            code 0 only when every row matches.
        """,
    )
    _model_args(c, acts,
                model_help="mlp: the lecture's MLP (--sizes, --activation); cnn: DigitsCNN on "
                           "8×8 images; transformer: TinyTransformer on token sequences "
                           "(default: mlp)",
                from_help="your own model: FUNCTION() in FILE.py returns (model, x, y)")
    _batch_arg(c)
    c.add_argument("--reduction", choices=("mean", "sum"), default="mean",
                   help="how the batch's losses combine (default: mean)")
    c.add_argument("--dtype", choices=DTYPES, default=None,
                   help="the model's dtype; sets the tolerance (default: float64; with --from, "
                        "the model's own, and --dtype sets only the tolerance)")
    c.add_argument("--render", metavar="PATH", default=None,
                   help="also draw the graph of the compared backward pass (svg, png, pdf)")
    c.add_argument("--overwrite", action="store_true", help="replace an existing --render file")
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.set_defaults(func=cmd_compare)


def _add_check(sub: Any) -> None:
    k = _subcommand(
        sub, "check", help="gradcheck every op in the registry (a self-test)",
        description="""
            Checks every op's vector-Jacobian products against central finite differences in
            float64, over the op's own example cases. Exit code 0 only when every op passes.
        """,
    )
    k.add_argument("--op", action="append", default=None, metavar="NAME",
                   help="check only this op (repeatable)")
    k.set_defaults(func=cmd_check)


def _add_render(sub: Any, acts: list[str]) -> None:
    r = _subcommand(
        sub, "render", help="draw a model's graph and its backward pass",
        description="""
            Draws the computation graph of a model's loss, with the formulas on the edges, after
            one backward pass. --model mlp (the default) is the lecture's network
            (minigrad.visualize.lecture_net: --sizes, --activation, --loss, --seed); cnn is
            DigitsCNN on one 8×8 image and transformer TinyTransformer on one token sequence
            (minigrad.models, with --loss and --seed). --from FILE.py:FUNCTION draws your own
            model: the file is imported, FUNCTION() is called with no arguments and returns a
            scalar loss Tensor, (loss, model), whose model gives the parameters their dotted
            names, or (model, x, y), which is run on x with --loss against y. Unless the
            function ran backward itself, render runs it, keeping every intermediate's gradient.
        """,
    )
    _model_args(r, acts, model_help=_MODEL_HELP,
                from_help=f"your own model: FUNCTION() in FILE.py returns {RETURNS}")
    r.add_argument("--out", default="graph.svg", metavar="PATH",
                   help="the diagram (svg, png or pdf; default: graph.svg)")
    r.add_argument("--backward", action="store_true",
                   help="draw the backward edges with their gradients and formulas")
    r.add_argument("--steps", default=None, metavar="HTML",
                   help="also write the backward step-through page")
    r.add_argument("--derive", action="store_true",
                   help="with --steps: show on each step the derivation's step for that op "
                        "or module (minigrad.derive), in the lecture's notation")
    r.add_argument("--collapse", choices=COLLAPSE, default="auto",
                   help="module: one box per module; auto: one box per module only for a "
                        "graph of more than 200 tensors; none: one box per tensor (default: "
                        "auto). With --steps, module steps a module at a time and none an op "
                        "at a time")
    r.add_argument("--direction", choices=("LR", "TB"), default="LR",
                   help="LR: left to right; TB: top to bottom, narrower (default: LR)")
    r.add_argument("--color-by", choices=("role", "grad"), default="role", dest="color_by",
                   help="fill nodes by role, or by log10 of their gradient's norm "
                        "(default: role)")
    r.add_argument("--title", default=None, help="the diagram's title")
    r.add_argument("--overwrite", action="store_true", help="replace existing files")
    r.set_defaults(func=cmd_render)


def _add_derive(sub: Any, acts: list[str]) -> None:
    d = _subcommand(
        sub, "derive", help="derive a model's gradients as formulas, step by step",
        description=f"""
            Builds a model (the lecture's MLP by default, or an example model), computes its
            loss on a random batch and prints the derivation of every parameter's gradient from
            the recorded graph, in the lecture's notation: δ_k = (W_(k+1)ᵀ δ_(k+1)) ⊙ g′(a_k),
            ∇W_k L = δ_k · h_(k−1)ᵀ, ∇b_k L = δ_k. --from FILE.py:FUNCTION derives a loss of
            your own: FUNCTION() returns {RETURNS}, or (loss, [tensors]) to derive the
            gradients of those tensors.
        """,
    )
    _model_args(d, acts, model_help=_MODEL_HELP, from_help="derive a loss of your own")
    _batch_arg(d)
    d.add_argument("--level", choices=("module", "op"), default="module",
                   help="module: one step per layer, the formula book's formulas; op: one "
                        "step per op, every δ named (default: module)")
    out = d.add_mutually_exclusive_group()
    out.add_argument("--latex", action="store_true",
                     help="print the formulas as one LaTeX aligned block (KaTeX-ready)")
    out.add_argument("--markdown", action="store_true",
                     help="print the derivation as Markdown with display math")
    d.set_defaults(func=cmd_derive)


def _add_demo(sub: Any) -> None:
    d = _subcommand(
        sub, "demo", help="train on the spirals, compare with the formulas, write every picture",
        description="""
            The main job: trains an MLP on the built-in spirals, compares one batch with the
            lecture's formulas, and writes graph.svg, backward.html, grad_flow.png,
            training.png, decision_boundary.png and model.npz into --out (the demo owns that
            folder and overwrites its files).
        """,
    )
    d.add_argument("--out", default="minigrad-demo", metavar="DIR",
                   help="output folder (default: ./minigrad-demo/)")
    d.add_argument("--epochs", type=positive_int, default=300,
                   help="training epochs, full batch (default: 300)")
    d.add_argument("--seed", type=seed_type, default=0, help="random seed (default: 0)")
    d.set_defaults(func=cmd_demo)


# --------------------------------------------------------------------------- main
class BadInput(Exception):
    """What a command was pointed at cannot be used: a ``--from`` file or function that is
    missing, raises, or returns something the command cannot draw or compare. Like a bad
    argument, it is one line on stderr and exit code 2."""


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit code (0 success, 1 failure, 2 bad arguments
    or bad input)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error (2), already printed
        return e.code if isinstance(e.code, int) else 2
    try:
        with _one_blas_thread():
            code: int = args.func(args)
    except BrokenPipeError:
        # the reader went away (`minigrad check | head`): stop quietly, as the docs advise,
        # pointing stdout at devnull so the interpreter's final flush does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except BadInput as e:
        return _report(e, 2, args.debug)
    except Exception as e:
        # expected failures (a file that exists, a model compare cannot map, no Graphviz) get
        # one line; anything else is a bug, and its traceback is worth seeing
        if isinstance(e, (ValueError, OSError)) or type(e).__name__ == "GraphvizNotFound":
            return _report(e, 1, args.debug)
        raise
    return code


def _report(e: Exception, code: int, debug: bool) -> int:
    """Prints `e` as the one line ``minigrad: error: …`` (after its traceback with --debug)
    and returns the exit `code`."""
    if debug:
        traceback.print_exception(type(e), e, e.__traceback__)
    hint = " (--debug shows the traceback)" if e.__cause__ is not None and not debug else ""
    print(f"{PROG}: error: {e}{hint}", file=sys.stderr)
    return code


# --------------------------------------------------------------------------- helpers
def _one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """Limits BLAS to one thread while a command runs. minigrad's matrices are small (64 × 64
    at most here), and OpenBLAS's threads then cost far more than they save: on a busy 2-core
    machine the demo's training ran 5–10× slower with them. threadpoolctl does it in-process,
    for the BLAS numpy has already loaded, where environment variables would have to be set
    before numpy is imported."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")  # type: ignore[no-any-return]


def _model(sizes: list[int], activation: str, dtype: str, seed: int) -> Any:
    import minigrad
    from minigrad import nn

    minigrad.manual_seed(seed)
    return nn.MLP(sizes, activation=activation, dtype=dtype)


def _example_model(name: str, *, sizes: list[int], activation: str, loss: str, batch: int,
                   dtype: str | None, seed: int) -> tuple[Any, np.ndarray, np.ndarray]:
    """The model of ``--model`` with a random batch ``(x, y)`` of `batch` examples for it;
    `sizes` and `activation` apply to the MLP, and `dtype` None is the modules' default."""
    import minigrad
    from minigrad.models.cnn import DigitsCNN
    from minigrad.models.transformer import TinyTransformer

    rng = np.random.default_rng(seed)
    x: np.ndarray
    if name == "mlp":
        model = _model(sizes, activation, dtype or "float64", seed)
        n0, nL = sizes[0], sizes[-1]
        x = rng.standard_normal((batch, n0))
        y = rng.integers(0, nL, size=batch) if loss == "ce" else rng.standard_normal((batch, nL))
        return model, x, y
    minigrad.manual_seed(seed)
    if name == "cnn":
        model = DigitsCNN(dtype=dtype)
        x = rng.standard_normal((batch, 1, 8, 8))
    else:
        model = TinyTransformer(vocab_size=10, block_size=6, embed_dim=16, num_heads=2,
                                num_layers=2, dtype=dtype)
        x = rng.integers(0, 10, size=(batch, 6))
    with minigrad.no_grad():
        shape = tuple(model(x).shape)
    if loss == "ce":
        y = rng.integers(0, shape[-1], size=shape[:-1])
    else:
        y = rng.standard_normal(shape)
    return model, x, y


def _model_loss(model: Any, x: Any, y: Any, loss: str) -> Any:
    """``L``: `model` run on `x`, then `loss` (``"ce"`` or ``"mse"``, mean over the batch)
    against `y`. A float `x` is cast to the parameters' dtype, as `compare` does; for
    cross-entropy the logits' last axis is the class axis."""
    import minigrad.functional as F
    from minigrad.tensor import Tensor

    X = np.asarray(getattr(x, "data", x))
    params = list(model.parameters())
    if X.dtype.kind == "f" and params:
        X = X.astype(params[0].data.dtype)
    logits = model(Tensor(X, name="x"))
    Y = np.asarray(getattr(y, "data", y))
    if loss == "ce":
        flat = logits.reshape((-1, logits.shape[-1])) if logits.ndim > 2 else logits
        L = F.cross_entropy(flat, Tensor(Y.reshape(-1) if logits.ndim > 2 else Y, name="ℓ"))
    else:
        L = F.mse_loss(logits, Tensor(Y.astype(logits.dtype), name="y"))
    L.name = "L"
    return L


def _backward(loss: Any) -> Any:
    """Runs `loss`'s backward, keeping every intermediate's gradient (as `lecture_net` does)
    and the graph, so that the diagram and the step-through page can show both."""
    _retain_all(loss)
    loss.backward(retain_graph=True)
    return loss


def _has_gradients(loss: Any) -> bool:
    """Whether a backward through `loss` has run, as far as render can tell: a leaf of its
    graph (a parameter, or an input that requires grad) holds a gradient."""
    import minigrad

    return any(d["tensor"].grad is not None
               for _, d in minigrad.graph(loss).nodes(data=True) if d["is_leaf"])


# --------------------------------------------------------------------------- --from
def _one_line(e: BaseException) -> str:
    """``ValueError: the first line of its message``."""
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0]}" if lines else type(e).__name__


@contextlib.contextmanager
def _importable_beside(folder: Path) -> Iterator[None]:
    """The file's own folder first on sys.path while it loads and runs, as ``python file.py``
    would have it, so that it can import the modules beside it."""
    entry = str(folder)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(entry)


def _load_file(spec: FromSpec) -> types.ModuleType:
    """Imports ``spec.path`` as a module of its own (not ``__main__``, so a script's
    ``if __name__ == "__main__":`` part does not run)."""
    path = spec.path.expanduser()
    if not path.exists():
        raise BadInput(f"--from {spec}: there is no file {path}")
    if path.is_dir():
        raise BadInput(f"--from {spec}: {path} is a folder, not a Python file")
    name = "minigrad_from_" + re.sub(r"\W", "_", path.stem)
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise BadInput(f"--from {spec}: {path} is not a Python file (.py)")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # before running it, as an import does: dataclasses look it up
    try:
        module_spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[name]
        raise BadInput(f"--from {spec}: importing {path} raised {_one_line(e)}") from e
    return module


def _function(module: types.ModuleType, spec: FromSpec) -> Callable[[], Any]:
    """The function ``spec.function`` of `module`, checked to be callable with no arguments."""
    fn = getattr(module, spec.function, None)
    if fn is None:
        defined = sorted(n for n, v in vars(module).items()
                         if inspect.isfunction(v) and v.__module__ == module.__name__)
        listing = f"it defines {', '.join(defined)}" if defined else "it defines no function"
        raise BadInput(f"--from {spec}: {spec.path} has no function {spec.function!r} "
                       f"({listing})")
    if not callable(fn):
        raise BadInput(f"--from {spec}: {spec.function} is {_a(type(fn).__name__)}, "
                       f"not a function")
    try:
        inspect.signature(fn).bind()
    except TypeError:
        raise BadInput(f"--from {spec}: {spec.function}{inspect.signature(fn)} takes "
                       f"arguments, and --from calls it with none") from None
    except ValueError:  # no signature to read (a builtin): calling it will tell
        pass
    return fn  # type: ignore[no-any-return]


def _call_from(spec: FromSpec, seed: int) -> Any:
    """Imports the file and calls the function with no arguments, minigrad's random numbers
    seeded with `seed` first; returns what the function returned."""
    import minigrad

    minigrad.manual_seed(seed)
    with _importable_beside(spec.path.expanduser().resolve().parent):
        fn = _function(_load_file(spec), spec)
        try:
            return fn()
        except Exception as e:
            raise BadInput(f"--from {spec}: {spec.function}() raised {_one_line(e)}") from e


def _guarded(spec: FromSpec, what: str, run: Callable[[], Any]) -> Any:
    """`run()`; an exception from it (the user's model, or data that does not fit it) is
    bad input, named with `spec` and `what` was being done."""
    try:
        return run()
    except Exception as e:
        raise BadInput(f"--from {spec}: {what} raised {_one_line(e)}") from e


def _a(noun: str) -> str:
    """``a Tensor``, ``an int``."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _describe(value: Any) -> str:
    """`value` in a few words for an error: ``None``, ``an int``, ``(Tensor, MLP)``."""
    if isinstance(value, (tuple, list)):
        kind = "a list " if isinstance(value, list) else ""
        return kind + "(" + ", ".join(type(v).__name__ for v in value) + ")"
    return "None" if value is None else _a(type(value).__name__)


def _is_model(obj: Any) -> bool:
    return callable(obj) and callable(getattr(obj, "named_parameters", None))


def _unpack(value: Any, spec: FromSpec) -> tuple[Any, Any, tuple[Any, Any] | None]:
    """What the function returned, as ``(loss, model, batch)``: a loss Tensor is
    ``(loss, None, None)``, ``(loss, model)`` is ``(loss, model, None)``, and
    ``(model, x, y)`` is ``(None, model, (x, y))``."""
    from minigrad.tensor import Tensor

    if isinstance(value, Tensor):
        return value, None, None
    if isinstance(value, (tuple, list)):
        if len(value) == 2 and isinstance(value[0], Tensor) and _is_model(value[1]):
            return value[0], value[1], None
        if len(value) == 3 and _is_model(value[0]):
            return None, value[0], (value[1], value[2])
    raise BadInput(f"--from {spec}: {spec.function}() returned {_describe(value)}; "
                   f"expected {RETURNS}")


def _check_loss(loss: Any, spec: FromSpec) -> None:
    """A loss to draw is a scalar with a graph behind it."""
    if loss.numel() != 1:
        raise BadInput(f"--from {spec}: {spec.function}() gave a Tensor of shape "
                       f"{tuple(loss.shape)}, not a scalar loss; reduce it (.mean(), or a loss "
                       f"function)")
    if not loss.requires_grad:
        raise BadInput(f"--from {spec}: {spec.function}() gave a loss that does not require "
                       f"grad (no tensor in its graph has requires_grad=True), so it has no "
                       f"graph to draw")


def _loss_from(spec: FromSpec, loss_name: str, seed: int) -> tuple[Any, Any]:
    """``(model or None, loss)`` from the function of `spec`, after a backward pass (the
    function's own, if it ran one; else render's, keeping every intermediate's gradient)."""
    loss, model, batch = _unpack(_call_from(spec, seed), spec)
    if batch is not None:
        loss = _guarded(spec, "running the model on x",
                        lambda: _model_loss(model, *batch, loss_name))
    _check_loss(loss, spec)
    if loss.name is None:
        loss.name = "L"
    if not _has_gradients(loss):
        _guarded(spec, "backward()", lambda: _backward(loss))
    return model, loss


def _batch_from(spec: FromSpec, seed: int) -> tuple[Any, Any, Any]:
    """``(model, x, y)`` from the function of `spec`, for compare."""
    value = _call_from(spec, seed)
    if isinstance(value, (tuple, list)) and len(value) == 3 and _is_model(value[0]):
        return value[0], value[1], value[2]
    raise BadInput(f"--from {spec}: compare runs the model itself beside the formulas, so "
                   f"{spec.function}() must return (model, x, y), the model with an input "
                   f"batch and its targets; it returned {_describe(value)}")


# --------------------------------------------------------------------------- compare
def _compared(args: argparse.Namespace) -> tuple[Any, Any, Any, str | None]:
    """``(model, x, y, dtype)`` for compare: from --from, or the model of --model."""
    if args.source is not None:
        return (*_batch_from(args.source, args.seed), args.dtype)
    dtype = args.dtype or "float64"
    model, x, y = _example_model(args.model, sizes=args.sizes, activation=args.activation,
                                 loss=args.loss, batch=args.batch, dtype=dtype, seed=args.seed)
    return model, x, y, dtype


def cmd_compare(args: argparse.Namespace) -> int:
    from minigrad import reference

    model, x, y, dtype = _compared(args)

    def run() -> Any:
        # with --render, the parameters keep their gradients so that the diagram shows them
        return reference.compare(model, x, y, loss=args.loss, reduction=args.reduction,
                                 dtype=dtype, keep_grads=bool(args.render))

    report = _guarded(args.source, "compare", run) if args.source is not None else run()
    print(json.dumps(report.to_dict(), ensure_ascii=False, indent=1) if args.json else report)
    # a layer without a formula is not a match either
    code = 0 if report.ok and not getattr(report, "no_formula", []) else 1
    if args.render:
        from minigrad.visualize import render

        render(report.output, args.render, model=model, backward=True,
               overwrite=args.overwrite)
        print(f"wrote {args.render}")
    return code


# --------------------------------------------------------------------------- check
def _check_op(op: Any, rng: np.random.Generator) -> tuple[int, list[str], float, str]:
    """Gradchecks one op over its example cases: (cases, input shapes, max error, verdict)."""
    from minigrad import gradcheck, opinfo
    from minigrad.check import analytical_jacobian, numerical_jacobian
    from minigrad.function import apply
    from minigrad.modes import no_grad
    from minigrad.tensor import Tensor

    found = opinfo.find(op)
    cases = [] if found is None else list(found.cases(rng, np.float64))
    if not cases:
        return 0, [], float("nan"), "no examples"
    shapes: list[str] = []
    worst = 0.0
    verdict = "ok"
    for inputs, params in cases:
        tensors = []
        for i, arr in enumerate(inputs):
            arr = np.asarray(arr)
            # float inputs with a VJP are differentiated; masks, indices and the like are
            # constants of the op
            wants = arr.dtype.kind == "f" and op.vjp(i) is not None
            t = Tensor(arr.astype(np.float64) if wants else arr)
            tensors.append(t.requires_grad_() if wants else t)
        shapes.append("×".join(str(tuple(t.shape)) for t in tensors))
        if not any(t.requires_grad for t in tensors):
            continue
        with no_grad():
            out_shape = apply(op, *tensors, **params).shape
        # one fixed random weighting makes the output a scalar whose gradient still involves
        # every output element
        w = np.random.default_rng(len(shapes)).uniform(0.5, 1.5, size=out_shape)

        def f(*ts: Any, _p: dict[str, Any] = params, _w: np.ndarray = w) -> Any:
            return (apply(op, *ts, **_p) * Tensor(_w)).sum()

        try:
            num = numerical_jacobian(f, tensors)
            ana = analytical_jacobian(f, tensors)
            for t, n, a in zip(tensors, num, ana):
                if t.requires_grad and n.size:
                    worst = max(worst, float(np.max(np.abs(a - n))))
            gradcheck(f, tensors)
        except AssertionError as e:  # GradcheckError: the VJP disagrees with the differences
            verdict = "FAIL: " + str(e).split(";")[0]
        except Exception as e:  # noqa: BLE001 - report any op that breaks, keep checking
            verdict = f"ERROR: {type(e).__name__}: {e}"
        if verdict != "ok":
            break
    return len(cases), shapes, worst, verdict


def _shapes_text(shapes: list[str], width: int = 36) -> str:
    uniq = list(dict.fromkeys(shapes))
    text = ", ".join(uniq)
    return text if len(text) <= width else text[: width - 1] + "…"


def cmd_check(args: argparse.Namespace) -> int:
    from minigrad.ops import registered

    ops = list(registered())
    if args.op:
        unknown = [n for n in args.op if n not in {o.name for o in ops}]
        if unknown:
            raise ValueError(f"unknown op {unknown[0]!r}; the registry has "
                             f"{', '.join(o.name for o in ops)}")
        ops = [o for o in ops if o.name in args.op]
    rng = np.random.default_rng(0)
    rows = [["op", "cases", "input shapes", "max error", "verdict"]]
    failed = []
    for op in ops:
        n, shapes, worst, verdict = _check_op(op, rng)
        ok = verdict == "ok"
        if not ok:
            failed.append(op.name)
        rows.append([op.name, str(n), _shapes_text(shapes),
                     "—" if np.isnan(worst) else f"{worst:.1e}", "✓" if ok else "✗ " + verdict])
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4])
    print("float64 central differences, ε = 1e-6; an entry passes when "
          "|autograd − numeric| ≤ 1e-5 + 1e-3·|numeric|")
    if failed:
        print(f"{len(failed)} of {len(ops)} ops fail: {', '.join(failed)}")
        return 1
    print(f"all {len(ops)} ops pass")
    return 0


# --------------------------------------------------------------------------- render
def _drawn(args: argparse.Namespace) -> tuple[Any, Any]:
    """``(model, loss)`` to draw, after a backward pass: the lecture's network, the example
    model of --model (one example), or what the function of --from returns."""
    from minigrad import visualize as vis

    if args.source is not None:
        return _loss_from(args.source, args.loss, args.seed)
    if args.model == "mlp":
        return vis.lecture_net(args.sizes, args.activation, args.loss, args.seed)
    model, x, y = _example_model(args.model, sizes=args.sizes, activation=args.activation,
                                 loss=args.loss, batch=1, dtype=None, seed=args.seed)
    return model, _backward(_model_loss(model, x, y, args.loss))


def cmd_render(args: argparse.Namespace) -> int:
    from minigrad import visualize as vis

    if args.derive and not args.steps:
        raise BadInput("--derive shows the derivation on the step-through page: add "
                       "--steps PATH")
    model, out = _drawn(args)
    vis.render(out, args.out, model=model, backward=args.backward, overwrite=args.overwrite,
               direction=args.direction, color_by=args.color_by, title=args.title,
               collapse=args.collapse)
    print(f"wrote {args.out}")
    if args.steps:
        vis.backward_steps(out, args.steps, model=model, overwrite=args.overwrite,
                           by=STEPS_BY[args.collapse], derive=args.derive)
        print(f"wrote {args.steps}")
    return 0


# --------------------------------------------------------------------------- derive
def _derived(args: argparse.Namespace) -> tuple[Any, Any]:
    """``(loss, wrt)`` to derive: the example model of --model on a random batch (the MLP
    on one example is the lecture's column vector x), or what the function of --from
    returns; `wrt` is a model, a list of tensors, or None (every leaf)."""
    from minigrad.tensor import Tensor

    if args.source is None:
        model, x, y = _example_model(args.model, sizes=args.sizes, activation=args.activation,
                                     loss=args.loss, batch=args.batch, dtype="float64",
                                     seed=args.seed)
        if args.model == "mlp" and args.batch == 1:
            x, y = x[0], (y[0] if args.loss == "ce" else y[0])
        return _model_loss(model, x, y, args.loss), model
    value = _call_from(args.source, args.seed)
    if (isinstance(value, (tuple, list)) and len(value) == 2 and isinstance(value[0], Tensor)
            and isinstance(value[1], (list, tuple))):
        loss, wrt = value[0], list(value[1])
    else:
        loss, wrt, batch = _unpack(value, args.source)
        if batch is not None:
            loss = _guarded(args.source, "running the model on x",
                            lambda: _model_loss(wrt, *batch, args.loss))
    _check_loss(loss, args.source)
    return loss, wrt


def cmd_derive(args: argparse.Namespace) -> int:
    import minigrad

    loss, wrt = _derived(args)
    d = minigrad.derive(loss, wrt, level=args.level)
    print(d.latex() if args.latex else d.markdown() if args.markdown else d)
    return 0


# --------------------------------------------------------------------------- demo
class _Demo:
    """Writes the demo's files in order, each reported as written or failed."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.written: list[Path] = []
        self.failed: list[str] = []

    def write(self, name: str, make: Callable[[Path], Any]) -> None:
        path = self.out / name
        try:
            make(path)
        except Exception as e:  # noqa: BLE001 - one broken picture must not stop the others
            print(f"failed: {name}: {type(e).__name__}: {e}")
            self.failed.append(name)
            return
        self.written.append(path)
        print(f"wrote {path}")


def cmd_demo(args: argparse.Namespace) -> int:
    from minigrad import io, reference
    from minigrad import visualize as vis

    t0 = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    demo = _Demo(out)
    X, y, X_train, X_test, y_train, y_test = _demo_data(args.seed)
    model, criterion, opt = _demo_model(args.seed)
    print(f"model: {model.describe()}, relu, Adam(lr=0.01); spirals: {len(X_train)} train / "
          f"{len(X_test)} test")

    # ---- training, full batch: a few hundred steps are enough for 2-D spirals
    history = _train(model, criterion, opt, X_train, y_train, args.epochs)
    train_acc = _accuracy(model, X_train, y_train)
    test_acc = _accuracy(model, X_test, y_test)
    print(f"accuracy: train {train_acc:.1%}, test {test_acc:.1%} after {args.epochs} epochs")

    # ---- the lecture's formulas against autograd, on one batch of the trained model
    report = reference.compare(model, X_test[:4], y_test[:4], loss="ce")
    print(report)

    # ---- one more training step, drawn, then the plots and the weights
    _draw_step(demo, model, criterion, X_train, y_train)
    opt.step()
    model.zero_grad()
    demo.write("training.png", lambda p: vis.plot_history(history, p))
    demo.write("decision_boundary.png", lambda p: vis.decision_boundary(model, X, y, p))
    demo.write("model.npz", lambda p: io.save(model.state_dict(), p))

    print(f"done in {time.perf_counter() - t0:.1f} s: {len(demo.written)} files in {out}/")
    if demo.failed:
        print(f"failed: {', '.join(demo.failed)}")
    if not report.ok:
        print("the comparison found rows that differ")
    return 0 if report.ok and not demo.failed else 1


def _demo_data(seed: int) -> tuple[np.ndarray, ...]:
    """``(X, y, X_train, X_test, y_train, y_test)``: 3 interleaved spirals, which no linear
    classifier separates, a quarter held out."""
    from minigrad import data

    X, y = data.spirals(n_classes=3, n_per_class=200, noise=0.2, seed=seed)
    X_train, X_test, y_train, y_test = data.train_test_split(X, y, test_size=0.25, seed=seed)
    return X, y, X_train, X_test, y_train, y_test


def _demo_model(seed: int) -> tuple[Any, Any, Any]:
    """``(model, criterion, optimizer)``: a 2-64-64-3 ReLU MLP, cross-entropy, Adam."""
    import minigrad
    from minigrad import nn, optim

    minigrad.manual_seed(seed)
    # float64 so that the comparison holds to 1e-10, not just float32's 1e-5
    model = nn.MLP([2, 64, 64, 3], activation="relu", dtype="float64")
    return model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.01)


def _draw_step(demo: _Demo, model: Any, criterion: Any, X: np.ndarray, y: np.ndarray) -> None:
    """One training step's forward and backward, drawn: the graph with the gradients on its
    edges, the gradient flow, and the step-through page. The gradients stay in the
    parameters' ``.grad`` for the optimizer's step."""
    from minigrad import visualize as vis

    model.zero_grad()
    step_loss = _demo_loss(model, criterion, X[:8], y[:8])
    demo.write("graph.svg", lambda p: vis.render(step_loss, p, model=model, backward=True,
                                                 overwrite=True))
    demo.write("grad_flow.png", lambda p: vis.grad_flow(model, p))
    # two examples keep the step-through page small: the graph is the same at any batch
    small = _demo_loss(model, criterion, X[:2], y[:2])
    demo.write("backward.html", lambda p: vis.backward_steps(small, p, model=model,
                                                             overwrite=True))


def _demo_loss(model: Any, criterion: Any, X: np.ndarray, y: np.ndarray) -> Any:
    """The loss ``L`` of one batch after its backward, every intermediate's gradient kept."""
    from minigrad.tensor import Tensor

    loss = criterion(model(Tensor(X)), Tensor(y))
    loss.name = "L"
    _retain_all(loss)
    loss.backward()
    return loss


def _retain_all(loss: Any) -> None:
    """Keeps the gradient of every intermediate (every a_k, h_k: the lecture's δ's), which
    backward otherwise frees, so that the diagrams can show them."""
    import minigrad

    for _, node in minigrad.graph(loss).nodes(data=True):
        if not node["is_leaf"] and node["tensor"].requires_grad:
            node["tensor"].retain_grad()


def _train(model: Any, criterion: Any, opt: Any, X: np.ndarray, y: np.ndarray,
           epochs: int) -> dict[str, list[float]]:
    """Full-batch training with a tqdm bar; returns the history of loss and accuracy."""
    from tqdm import tqdm

    from minigrad.tensor import Tensor

    xb, yb = Tensor(X), Tensor(y)
    history: dict[str, list[float]] = {"loss": [], "accuracy": []}
    bar = tqdm(range(epochs), desc="training", unit="epoch", file=sys.stderr,
               dynamic_ncols=True, mininterval=0.2)
    for _ in bar:
        opt.zero_grad()
        logits = model(xb)
        loss = criterion(logits, yb)
        loss.backward()
        opt.step()
        acc = float(np.mean(np.argmax(logits.data, axis=1) == y))
        history["loss"].append(float(loss.item()))
        history["accuracy"].append(acc)
        bar.set_postfix(loss=f"{history['loss'][-1]:.3f}", acc=f"{acc:.0%}", refresh=False)
    bar.close()
    return history


def _accuracy(model: Any, X: np.ndarray, y: np.ndarray) -> float:
    from minigrad.modes import no_grad
    from minigrad.tensor import Tensor

    with no_grad():
        logits = model(Tensor(X))
    return float(np.mean(np.argmax(logits.data, axis=1) == y))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
