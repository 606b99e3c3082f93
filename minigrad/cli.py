r"""The ``minigrad`` command: ``demo``, ``compare``, ``render`` and ``check``.

- ``minigrad compare``: builds an MLP (or, with ``--model cnn|transformer``, an example
  model) and sets autograd's gradients beside the hand-derived formulas
  (`minigrad.reference.compare`), layer by layer; exit code 0 only when every row matches.
- ``minigrad check``: gradchecks every op in the registry against central differences.
- ``minigrad render``: draws the lecture's network and its backward pass (needs
  `minigrad.visualize`).
- ``minigrad demo``: the main job (``make demo``): trains an MLP on the spirals, compares one
  batch with the formulas, and writes the diagrams, plots and weights into a folder.

Bad arguments give one line, ``minigrad: error: …``, and exit code 2; a command that runs
but fails (a row that differs, a missing part) exits with 1.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

__all__ = ["main", "build_parser"]

PROG = "minigrad"
DTYPES = ("float64", "float32")


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


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is the single line ``minigrad: error: …`` (exit code 2):
    the usage block it normally prints first buries the one thing that went wrong."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message} (see '{self.prog} --help')\n")


def _activations() -> list[str]:
    from minigrad import reference

    return sorted(reference.ACTIVATIONS)


def build_parser() -> argparse.ArgumentParser:
    """The parser with its four subcommands."""
    p = _Parser(
        prog=PROG,
        description="minigrad: autograd on an explicit computation graph, for learning "
                    "backpropagation.",
    )
    sub = p.add_subparsers(dest="command", metavar="command", required=True)
    acts = _activations()

    def net_args(q: argparse.ArgumentParser) -> None:
        q.add_argument("--sizes", type=sizes_type, default=[3, 3, 3, 2], metavar="N0,N1,…,NL",
                       help="layer widths n_0,…,n_L (default: 3,3,3,2)")
        q.add_argument("--activation", choices=acts, default="sigmoid",
                       help="g for the hidden layers (default: sigmoid)")
        q.add_argument("--loss", choices=("ce", "mse"), default="ce",
                       help="ce: softmax + cross-entropy; mse: identity + squared error "
                            "(default: ce)")
        q.add_argument("--seed", type=seed_type, default=0, help="random seed (default: 0)")

    c = sub.add_parser(
        "compare", help="autograd vs the lecture's hand-derived formulas, layer by layer",
        description="Builds a model, runs it with autograd and with the hand-derived formulas "
                    "on the same weights and inputs, and prints one row per layer and "
                    "quantity. --model mlp (the default) is the lecture's network, compared "
                    "with its formulas (∇W_k = ∇a_k·h_(k−1)ᵀ, ∇b_k = ∇a_k, ∇h_(k−1) = "
                    "W_kᵀ·∇a_k, ∇a_k = ∇h_k ⊙ g′(a_k)); cnn and transformer are the example "
                    "models (minigrad.models), compared layer by layer with each layer's "
                    "formulas. Exit code 0 only when every row matches.",
    )
    c.add_argument("--model", choices=("mlp", "cnn", "transformer"), default="mlp",
                   help="mlp: the lecture's MLP (--sizes, --activation); cnn: DigitsCNN on "
                        "8×8 images; transformer: TinyTransformer on token sequences "
                        "(default: mlp)")
    net_args(c)
    c.add_argument("--batch", type=positive_int, default=1,
                   help="examples in the batch (default: 1, the lecture's single example)")
    c.add_argument("--reduction", choices=("mean", "sum"), default="mean",
                   help="how the batch's losses combine (default: mean)")
    c.add_argument("--dtype", choices=DTYPES, default="float64",
                   help="the model's dtype; sets the tolerance (default: float64)")
    c.add_argument("--render", metavar="PATH", default=None,
                   help="also draw the graph of the compared backward pass (svg, png, pdf)")
    c.add_argument("--overwrite", action="store_true", help="replace an existing --render file")
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.set_defaults(func=cmd_compare)

    k = sub.add_parser(
        "check", help="gradcheck every op in the registry (a self-test)",
        description="Checks every op's vector-Jacobian products against central finite "
                    "differences in float64, over the op's own example cases. Exit code 0 "
                    "only when every op passes.",
    )
    k.add_argument("--op", action="append", default=None, metavar="NAME",
                   help="check only this op (repeatable)")
    k.set_defaults(func=cmd_check)

    r = sub.add_parser(
        "render", help="draw the lecture's network and its backward pass",
        description="Builds the lecture's network (minigrad.visualize.lecture_net), runs one "
                    "backward pass and draws its graph with the formulas on the edges.",
    )
    net_args(r)
    r.add_argument("--out", default="graph.svg", metavar="PATH",
                   help="the diagram (svg, png or pdf; default: graph.svg)")
    r.add_argument("--backward", action="store_true",
                   help="draw the backward edges with their gradients and formulas")
    r.add_argument("--steps", default=None, metavar="HTML",
                   help="also write the backward step-through page")
    r.add_argument("--direction", choices=("LR", "TB"), default="LR",
                   help="LR: left to right; TB: top to bottom, narrower (default: LR)")
    r.add_argument("--color-by", choices=("role", "grad"), default="role", dest="color_by",
                   help="fill nodes by role, or by log10 of their gradient's norm "
                        "(default: role)")
    r.add_argument("--title", default=None, help="the diagram's title")
    r.add_argument("--overwrite", action="store_true", help="replace existing files")
    r.set_defaults(func=cmd_render)

    d = sub.add_parser(
        "demo", help="train on the spirals, compare with the formulas, write every picture",
        description="The main job: trains an MLP on the built-in spirals, compares one batch "
                    "with the lecture's formulas, and writes graph.svg, backward.html, "
                    "grad_flow.png, training.png, decision_boundary.png and model.npz into "
                    "--out (the demo owns that folder and overwrites its files).",
    )
    d.add_argument("--out", default="minigrad-demo", metavar="DIR",
                   help="output folder (default: ./minigrad-demo/)")
    d.add_argument("--epochs", type=positive_int, default=300,
                   help="training epochs, full batch (default: 300)")
    d.add_argument("--seed", type=seed_type, default=0, help="random seed (default: 0)")
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit code (0 success, 1 failure, 2 bad arguments)."""
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
    except Exception as e:
        # expected failures (a file that exists, a model compare cannot map, no Graphviz) get
        # one line; anything else is a bug, and its traceback is worth seeing
        if isinstance(e, (ValueError, OSError)) or type(e).__name__ == "GraphvizNotFound":
            print(f"{PROG}: error: {e}", file=sys.stderr)
            return 1
        raise
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


def _optional(module: str, attr: str | None = None) -> Any:
    """`module` (or its `attr`) if it has landed, else None: parts of the project built
    separately are reported as missing rather than failing the whole command."""
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    if attr is None:
        return mod
    return getattr(mod, attr, None)


def _missing(what: str) -> None:
    print(f"missing: {what} (not built yet)")


def _model(sizes: list[int], activation: str, dtype: str, seed: int) -> Any:
    import minigrad
    from minigrad import nn

    minigrad.manual_seed(seed)
    return nn.MLP(sizes, activation=activation, dtype=dtype)


# --------------------------------------------------------------------------- compare
def _example_model(args: argparse.Namespace) -> tuple[Any, np.ndarray, np.ndarray] | None:
    """The model of ``--model`` with a random batch ``(x, y)`` for it, or None if missing."""
    import minigrad

    rng = np.random.default_rng(args.seed)
    N = args.batch
    x: np.ndarray
    if args.model == "mlp":
        if _optional("minigrad.nn", "MLP") is None:
            _missing("minigrad.nn.MLP, which compare runs")
            return None
        model = _model(args.sizes, args.activation, args.dtype, args.seed)
        n0, nL = args.sizes[0], args.sizes[-1]
        x = rng.standard_normal((N, n0))
        y = rng.integers(0, nL, size=N) if args.loss == "ce" else rng.standard_normal((N, nL))
        return model, x, y
    if args.model == "cnn":
        cls = _optional("minigrad.models.cnn", "DigitsCNN")
        if cls is None:
            _missing("minigrad.models.cnn.DigitsCNN, which compare --model cnn runs")
            return None
        minigrad.manual_seed(args.seed)
        model = cls(dtype=args.dtype)
        x = rng.standard_normal((N, 1, 8, 8))
    else:
        cls = _optional("minigrad.models.transformer", "TinyTransformer")
        if cls is None:
            _missing("minigrad.models.transformer.TinyTransformer, which compare "
                     "--model transformer runs")
            return None
        minigrad.manual_seed(args.seed)
        model = cls(vocab_size=10, block_size=6, embed_dim=16, num_heads=2, num_layers=2,
                    dtype=args.dtype)
        x = rng.integers(0, 10, size=(N, 6))
    with minigrad.no_grad():
        shape = tuple(model(x).shape)
    if args.loss == "ce":
        y = rng.integers(0, shape[-1], size=shape[:-1])
    else:
        y = rng.standard_normal(shape)
    return model, x, y


def cmd_compare(args: argparse.Namespace) -> int:
    from minigrad import reference

    made = _example_model(args)
    if made is None:
        return 1
    model, x, y = made
    # with --render, the parameters keep their gradients so that the diagram shows them
    report = reference.compare(model, x, y, loss=args.loss, reduction=args.reduction,
                               dtype=args.dtype, keep_grads=bool(args.render))
    print(json.dumps(report.to_dict(), ensure_ascii=False, indent=1) if args.json else report)
    # a layer without a formula is not a match either
    code = 0 if report.ok and not getattr(report, "no_formula", []) else 1
    if args.render:
        render = _optional("minigrad.visualize", "render")
        if render is None:
            _missing("minigrad.visualize.render, for --render")
            return 1
        render(report.output, args.render, model=model, backward=True,
               overwrite=args.overwrite)
        print(f"wrote {args.render}")
    return code


# --------------------------------------------------------------------------- check
def _check_op(op: Any, rng: np.random.Generator) -> tuple[int, list[str], float, str]:
    """Gradchecks one op over its example cases: (cases, input shapes, max error, verdict)."""
    from minigrad import gradcheck
    from minigrad.check import analytical_jacobian, numerical_jacobian
    from minigrad.function import apply
    from minigrad.modes import no_grad
    from minigrad.tensor import Tensor

    if op.examples is None:
        return 0, [], float("nan"), "no examples"
    cases = list(op.examples(rng, np.float64))
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
def cmd_render(args: argparse.Namespace) -> int:
    vis = _optional("minigrad.visualize")
    needed = ["lecture_net", "render"] + (["backward_steps"] if args.steps else [])
    absent = [n for n in needed if vis is None or not hasattr(vis, n)]
    if absent:
        _missing(", ".join(f"minigrad.visualize.{n}" for n in absent))
        return 1
    model, out = vis.lecture_net(args.sizes, args.activation, args.loss, args.seed)
    vis.render(out, args.out, model=model, backward=args.backward, overwrite=args.overwrite,
               direction=args.direction, color_by=args.color_by, title=args.title)
    print(f"wrote {args.out}")
    if args.steps:
        vis.backward_steps(out, args.steps, model=model, overwrite=args.overwrite)
        print(f"wrote {args.steps}")
    return 0


# --------------------------------------------------------------------------- demo
class _Demo:
    """Runs the demo's parts in order, each reported as written, missing or failed."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.written: list[Path] = []
        self.missing: list[str] = []
        self.failed: list[str] = []

    def need(self, module: str, attr: str) -> Any:
        found = _optional(module, attr)
        if found is None:
            what = f"{module}.{attr}"
            _missing(what)
            self.missing.append(what)
        return found

    def write(self, name: str, make: Callable[[Path], Any], maker: str) -> None:
        path = self.out / name
        try:
            make(path)
        except NotImplementedError:  # a placeholder of a part still being built
            _missing(f"{maker}, for {name}")
            self.missing.append(maker)
            return
        except Exception as e:  # noqa: BLE001 - one broken picture must not stop the others
            print(f"failed: {name}: {type(e).__name__}: {e}")
            self.failed.append(name)
            return
        self.written.append(path)
        print(f"wrote {path}")


def cmd_demo(args: argparse.Namespace) -> int:
    import minigrad
    from minigrad import reference

    t0 = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    demo = _Demo(out)
    spirals = demo.need("minigrad.data", "spirals")
    split = demo.need("minigrad.data", "train_test_split")
    MLP = demo.need("minigrad.nn", "MLP")
    CrossEntropyLoss = demo.need("minigrad.nn", "CrossEntropyLoss")
    Adam = demo.need("minigrad.optim", "Adam")
    if None in (spirals, split, MLP, CrossEntropyLoss, Adam):
        print("cannot train without data, nn and optim; nothing else to show")
        return 1

    # ---- data and model: 3 interleaved spirals, which no linear classifier separates
    X, y = spirals(n_classes=3, n_per_class=200, noise=0.2, seed=args.seed)
    X_train, X_test, y_train, y_test = split(X, y, test_size=0.25, seed=args.seed)
    minigrad.manual_seed(args.seed)
    # float64 so that the comparison below holds to 1e-10, not just float32's 1e-5
    model = MLP([2, 64, 64, 3], activation="relu", dtype="float64")
    criterion = CrossEntropyLoss()
    opt = Adam(model.parameters(), lr=0.01)
    print(f"model: {model.describe() if hasattr(model, 'describe') else type(model).__name__}"
          f", relu, Adam(lr=0.01); spirals: {len(X_train)} train / {len(X_test)} test")

    # ---- training, full batch: a few hundred steps are enough for 2-D spirals
    history = _train(model, criterion, opt, X_train, y_train, args.epochs)
    train_acc = _accuracy(model, X_train, y_train)
    test_acc = _accuracy(model, X_test, y_test)
    print(f"accuracy: train {train_acc:.1%}, test {test_acc:.1%} after {args.epochs} epochs")

    # ---- the lecture's formulas against autograd, on one batch of the trained model
    batch = slice(0, 4)
    report = reference.compare(model, X_test[batch], y_test[batch], loss="ce")
    print(report)

    # ---- one training step, drawn: forward, backward, the gradients on the edges
    vis = _optional("minigrad.visualize")
    minigrad_tensor = minigrad.Tensor
    xb, yb = minigrad_tensor(X_train[:8]), minigrad_tensor(y_train[:8])
    model.zero_grad()
    step_loss = criterion(model(xb), yb)
    step_loss.name = "L"
    _retain_all(step_loss)
    step_loss.backward()
    if demo.need("minigrad.visualize", "render") is not None:
        demo.write("graph.svg", lambda p: vis.render(step_loss, p, model=model, backward=True,
                                                     overwrite=True),
                   "minigrad.visualize.render")
    if demo.need("minigrad.visualize", "grad_flow") is not None:
        demo.write("grad_flow.png", lambda p: vis.grad_flow(model, p),
                   "minigrad.visualize.grad_flow")
    if demo.need("minigrad.visualize", "backward_steps") is not None:
        # two examples keep the step-through page small: the graph is the same at any batch
        small = criterion(model(minigrad_tensor(X_train[:2])), minigrad_tensor(y_train[:2]))
        small.name = "L"
        _retain_all(small)
        small.backward()
        demo.write("backward.html", lambda p: vis.backward_steps(small, p, model=model,
                                                                 overwrite=True),
                   "minigrad.visualize.backward_steps")
    opt.step()
    model.zero_grad()
    if demo.need("minigrad.visualize", "plot_history") is not None:
        demo.write("training.png", lambda p: vis.plot_history(history, p),
                   "minigrad.visualize.plot_history")
    if demo.need("minigrad.visualize", "decision_boundary") is not None:
        demo.write("decision_boundary.png", lambda p: vis.decision_boundary(model, X, y, p),
                   "minigrad.visualize.decision_boundary")
    save = demo.need("minigrad.io", "save")
    if save is not None:
        demo.write("model.npz", lambda p: save(model.state_dict(), p), "minigrad.io.save")

    print(f"done in {time.perf_counter() - t0:.1f} s: {len(demo.written)} files in {out}/")
    if demo.missing:
        print(f"incomplete: missing {', '.join(demo.missing)}")
    if demo.failed:
        print(f"failed: {', '.join(demo.failed)}")
    if not report.ok:
        print("the comparison found rows that differ")
    return 0 if report.ok and not demo.missing and not demo.failed else 1


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
