r"""Diagnoses: when a gradient derived by hand is wrong, which classic mistake it is.

`check` calls `diagnose_rows` on its failing rows, and `compare` diagnoses its own; each
failing row gets a `Diagnosis` whose ``kind`` is one of `KINDS`, with one sentence for the
learner (``text``) and the kind's details. Each kind is an exact match, within the row's
tolerance, of the given array with the true gradient changed in one way:

| kind | the given array equals … | details |
|---|---|---|
| `inherited` | the right rules applied to the learner's wrong gradient above | `source` |
| `transposed` | the truth with its axes permuted (a square `.T` too) | `axes` |
| `unreduced` | the truth before the sum over broadcast axes (a bias per example) | `axes` |
| `missing_path` | a sum over only some uses of a tensor used more than once | `missing` |
| `scaled` | c × the truth: −1, N, 1/N, 2, ½, … | `factor` |
| `wrong_rule` | the chain with one op's rule replaced by a classic slip (`slips`) | `used`, `op` |
| `swapped` | the truth of another tensor of the graph | `other` |
| `flipped` | the truth flipped along spatial axes, or a convolution's ∇x by correlation | `axes` |
| `unexplained` | none of these | `index`, `yours`, `autograd` |

The kinds are tried in that order, the scaled ones by named factors first and by any factor
last (a row downstream of a mistake is ``inherited`` even when it also happens to be, say,
−1 × the truth; a slip that happens to equal another tensor's gradient is named as the
slip). ``inherited``, ``missing_path``, ``wrong_rule`` and the correlation form of
``flipped`` need the graph's local rules: `Rules` calls each op's own VJP through the
tensors' history (``Node.vjp``: the registry's rule, summed back to the input's shape), never
a rule of its own.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from minigrad.reference import convolution as _convolution
from minigrad.reference import dense as _dense
from minigrad.reference import embedding as _embedding
from minigrad.reference import losses as _losses
from minigrad.reference import normalization as _normalization
from minigrad.reference.rules import Consumer, Rules, RulesUnavailable, SearchBudget
from minigrad.reference.slips import Slip

__all__ = ["KINDS", "SLIPS", "Compared", "Diagnosis", "Item", "Search", "diagnose_arrays",
           "diagnose_compared", "diagnose_rows", "shape_fits", "tolerance_test"]

KINDS = ("transposed", "scaled", "unreduced", "missing_path", "swapped", "flipped",
         "wrong_rule", "inherited", "unexplained")

ROW_BUDGET = 4000
"""The most local rules the search for one row's mistake may run (a few thousand: every
catalogue case needs a few hundred at most)."""
TOTAL_BUDGET = 20000
"""The most local rules the searches of one `check` may run, all rows together."""

SLIPS: dict[str, tuple[Slip, ...]] = {}
"""Every op's slips, from the formula book's tables (op name → slips)."""
for _table in (_dense.SLIPS, _losses.SLIPS, _normalization.SLIPS, _convolution.SLIPS,
               _embedding.SLIPS):
    for _op, _slips in _table.items():
        SLIPS[_op] = SLIPS.get(_op, ()) + _slips

Same = Callable[[np.ndarray, np.ndarray], bool]
"""``same(given, candidate)``: equal within the row's tolerance (shapes equal, no NaN)."""


@dataclass
class Diagnosis:
    """What is wrong with one gradient.

    Attributes:
        kind: one of `KINDS`.
        text: one sentence for the learner, naming the tensors.
        axes: ``transposed``: the permutation (the given array is the truth's
            ``.transpose(axes)``); ``unreduced``: the axes to sum over; ``flipped``: the
            spatial axes flipped.
        factor: ``scaled``: the given array is ``factor ×`` the truth.
        missing: ``missing_path``: the uses whose contribution is left out.
        other: ``swapped``: the tensor whose gradient was given.
        used: ``wrong_rule``: the slip's name; ``op`` the op whose rule it replaced.
        source: ``inherited``: the first wrong row it inherits from.
        index: ``unexplained``: the worst element; ``yours`` and ``autograd`` its two values.
    """

    kind: str
    text: str
    axes: tuple[int, ...] | None = None
    factor: float | None = None
    missing: tuple[Consumer, ...] | None = None
    other: str | None = None
    used: str | None = None
    op: str | None = None
    source: str | None = None
    index: tuple[int, ...] | None = None
    yours: float | None = None
    autograd: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The kind, the text and the details that apply (JSON-ready)."""
        out: dict[str, Any] = {"kind": self.kind, "text": self.text}
        for k in ("axes", "index"):
            v = getattr(self, k)
            if v is not None:
                out[k] = [int(i) for i in v]
        for k in ("factor", "other", "used", "op", "source", "yours", "autograd"):
            v = getattr(self, k)
            if v is not None:
                out[k] = v
        if self.missing is not None:
            out["missing"] = [m.to_dict() for m in self.missing]
        return out

    def __str__(self) -> str:
        return f"{self.kind}: {self.text}"


def tolerance_test(rtol: float, atol: float) -> Same:
    """`Same` for numpy's allclose with these tolerances (the candidate is the reference)."""

    def same(given: np.ndarray, candidate: np.ndarray) -> bool:
        if np.shape(given) != np.shape(candidate):
            return False
        with np.errstate(all="ignore"):
            return bool(np.all(np.isfinite(candidate))
                        and np.allclose(given, candidate, rtol=rtol, atol=atol))

    return same


# --------------------------------------------------------------------------- shapes
def _summed_axes(given: tuple[int, ...], true: tuple[int, ...]) -> tuple[int, ...] | None:
    """The axes of an array of shape `given` whose sum has shape `true` (the broadcast
    axes of a tensor of shape `true` stretched to `given`), or None."""
    lead = len(given) - len(true)
    if lead < 0 or given == true:
        return None
    axes = list(range(lead))
    for i, n in enumerate(true):
        g = given[lead + i]
        if n == g:
            continue
        if n != 1:
            return None
        axes.append(lead + i)
    if not axes and lead == 0:
        return None
    return tuple(axes)


def _sum_to(given: np.ndarray, axes: tuple[int, ...], true: tuple[int, ...]) -> np.ndarray:
    return np.asarray(given, np.float64).sum(axis=axes).reshape(true)


def _permutations(given: tuple[int, ...], true: tuple[int, ...]) -> Iterator[tuple[int, ...]]:
    """The non-identity permutations p with ``truth.transpose(p).shape == given`` (all of
    them up to 5 axes, swaps of two axes beyond)."""
    n = len(true)
    if len(given) != n or sorted(given) != sorted(true) or n < 2:
        return
    ident = tuple(range(n))
    if n <= 5:
        perms: Iterable[tuple[int, ...]] = itertools.permutations(range(n))
    else:
        perms = (tuple(j if k not in (a, b) else (b if k == a else a) for k, j in
                       enumerate(ident)) for a, b in itertools.combinations(range(n), 2))
    for p in perms:
        if p != ident and tuple(true[i] for i in p) == given:
            yield p


def shape_fits(given: tuple[int, ...], true: tuple[int, ...]) -> bool:
    """Whether a gradient of shape `given` can be diagnosed against a tensor of shape
    `true`: its axes permuted, or a sum over axes, gives `true`."""
    return (_summed_axes(given, true) is not None
            or next(_permutations(given, true), None) is not None)


# --------------------------------------------------------------------------- array kinds
def _transposed(given: np.ndarray, truth: np.ndarray, same: Same) -> tuple[int, ...] | None:
    for p in _permutations(given.shape, truth.shape):
        if same(given, np.transpose(truth, p)):
            return p
    return None


def _unreduced(given: np.ndarray, truth: np.ndarray, same: Same) -> tuple[int, ...] | None:
    axes = _summed_axes(given.shape, truth.shape)
    if axes is not None and same(_sum_to(given, axes, truth.shape), truth):
        return axes
    return None


def _flipped(given: np.ndarray, truth: np.ndarray, same: Same) -> tuple[int, ...] | None:
    """The spatial axes (2, 3, … of an NCHW array) along which `truth` flipped is `given`."""
    spatial = range(2, truth.ndim)
    for r in range(len(spatial), 0, -1):
        for axes in itertools.combinations(spatial, r):
            if same(given, np.flip(truth, axes)):
                return tuple(axes)
    return None


def _factors(counts: dict[int, str]) -> list[tuple[float, str]]:
    """The factors a slip puts on a gradient, each with what it means."""
    out: list[tuple[float, str]] = [(-1.0, "the sign is flipped")]
    for n, what in sorted(counts.items()):
        out += [(float(n), f"the 1/N of the mean is missing (N = {n}, {what})"),
                (1.0 / n, f"a 1/N too many (N = {n}, {what}): the mean divided twice"),
                (-float(n), f"the sign is flipped and the 1/N is missing (N = {n}, {what})"),
                (-1.0 / n, f"the sign is flipped and a 1/N is too many (N = {n}, {what})")]
        if n > 2:
            out += [(n / (n - 1), f"N/(N − 1), N = {n}: Bessel's correction where there is "
                                  f"none"),
                    ((n - 1) / n, f"(N − 1)/N, N = {n}: the biased 1/N where 1/(N − 1) "
                                  f"belongs")]
    out += [(2.0, "a factor 2 too many"), (0.5, "a factor ½ (or a 2 missing)"),
            (-2.0, "the sign is flipped and a factor 2 too many"),
            (-0.5, "the sign is flipped and a factor ½")]
    return out


def _scaled(given: np.ndarray, truth: np.ndarray, same: Same, counts: dict[int, str],
            any_factor: bool) -> tuple[float, str] | None:
    """``(c, meaning)`` with ``given = c × truth``: a named factor, or with `any_factor`
    the least-squares c when it fits."""
    if given.shape != truth.shape or not np.any(truth):
        return None
    t = np.asarray(truth, np.float64)
    for c, why in _factors(counts):
        if same(given, c * t):
            return c, why
    if not any_factor:
        return None
    with np.errstate(all="ignore"):
        c = float(np.vdot(np.asarray(given, np.float64), t) / np.vdot(t, t))
    if math.isfinite(c) and c != 0 and abs(c - 1) > 1e-6 and same(given, c * t):
        return c, ""
    return None


def _worst(given: np.ndarray, truth: np.ndarray) -> tuple[tuple[int, ...], float, float]:
    with np.errstate(all="ignore"):
        d = np.abs(np.asarray(given, np.float64) - np.asarray(truth, np.float64))
    d = np.where(np.isnan(d), np.inf, d)
    i = tuple(int(k) for k in np.unravel_index(int(np.argmax(d)), d.shape)) if d.size else ()
    return i, float(np.asarray(given)[i]), float(np.asarray(truth)[i])


def _fmt_factor(c: float) -> str:
    for v, s in ((-1, "−1"), (0.5, "½"), (-0.5, "−½")):
        if c == v:
            return s
    if c != 0 and abs(1 / c - round(1 / c)) < 1e-9 and abs(c) < 1:
        return f"{'−' if c < 0 else ''}1/{abs(round(1 / c))}"
    return f"{c:.4g}".replace("-", "−")


def diagnose_arrays(given: np.ndarray, truth: np.ndarray, same: Same, name: str, *,
                    counts: dict[int, str] | None = None, yours: str = "your",
                    of: str = "autograd's") -> Diagnosis:
    """The kinds that compare two arrays alone (``transposed``, ``unreduced``, ``scaled``,
    ``flipped``), else ``unexplained``: `given` against the true gradient `truth` of the
    tensor called `name`. `yours` and `of` word the sentence (``"your"``, ``"autograd's"``;
    ``compare`` says ``"the formula's"``)."""
    d = diagnose_shapes(given, truth, same, name, yours=yours, of=of)
    if d is None:
        d = _scaled_diagnosis(given, truth, same, name, counts or {}, True, yours, of)
    if d is None:
        axes = _flipped(given, truth, same)
        if axes is not None:
            d = Diagnosis("flipped", f"{yours} ∇{name} is {of} flipped along axes {axes}: "
                          f"a correlation where a convolution belongs, or the other way "
                          f"round", axes=axes)
    return d or unexplained(given, truth, name, yours, of)


def diagnose_shapes(given: np.ndarray, truth: np.ndarray, same: Same, name: str, *,
                    yours: str = "your", of: str = "autograd's") -> Diagnosis | None:
    """``transposed`` or ``unreduced`` when `given` is `truth` permuted or not yet summed
    over broadcast axes (a square ``.T`` too); ``unexplained`` for another shape that a
    permutation or a sum would fit but whose values still differ; None otherwise."""
    axes = _transposed(given, truth, same)
    if axes is not None:
        what = "transposed" if len(axes) == 2 else f"with its axes permuted to {axes}"
        return Diagnosis("transposed", f"{yours} ∇{name} is {of} {what}: a gradient has its "
                         f"tensor's shape {tuple(truth.shape)} and layout (Δᵀ·H for a weight, "
                         f"not Hᵀ·Δ)", axes=axes)
    axes = _unreduced(given, truth, same)
    if axes is not None:
        return Diagnosis("unreduced", f"{yours} ∇{name} has shape {tuple(given.shape)}, one "
                         f"gradient per example: {name} is shared (broadcast) along axes "
                         f"{axes}, so its gradient is the sum over them, of shape "
                         f"{tuple(truth.shape)}", axes=axes)
    if given.shape == truth.shape:
        return None
    axes = _summed_axes(given.shape, truth.shape)
    fixed = (_sum_to(given, axes, truth.shape) if axes is not None
             else np.transpose(given, np.argsort(next(_permutations(given.shape,
                                                                    truth.shape)))))
    d = unexplained(fixed, truth, name, yours, of)
    how = f"summed over axes {axes}" if axes is not None else "with its axes put back"
    d.text = (f"{yours} ∇{name} has shape {tuple(given.shape)}, not {tuple(truth.shape)}, "
              f"and even {how} it differs from {of}: " + d.text.split(": ", 1)[-1])
    return d


def _scaled_diagnosis(given: np.ndarray, truth: np.ndarray, same: Same, name: str,
                      counts: dict[int, str], any_factor: bool, yours: str, of: str,
                      ) -> Diagnosis | None:
    found = _scaled(given, truth, same, counts, any_factor)
    if found is None:
        return None
    c, why = found
    text = f"{yours} ∇{name} is {_fmt_factor(c)} × {of}" + (f": {why}" if why else "")
    return Diagnosis("scaled", text, factor=c)


def unexplained(given: np.ndarray, truth: np.ndarray, name: str, yours: str = "your",
                of: str = "autograd's") -> Diagnosis:
    """``unexplained``: where the two differ most, and by how much."""
    index, y, a = _worst(given, truth)
    text = (f"{yours} ∇{name} matches none of the classic mistakes: it differs most at "
            f"index {index}, {y:.4g} where {of} is {a:.4g}")
    if not np.any(truth):
        text += f" ({of} gradient is zero everywhere here)"
    elif a == 0:
        text += f" ({of} gradient is zero there: a dead relu or a masked position?)"
    return Diagnosis("unexplained", text, index=index, yours=y, autograd=a)


# --------------------------------------------------------------------------- rows of a graph
@dataclass
class Item:
    """One gradient to diagnose: the tensor's node id, its name, the given array, the true
    gradient, and (once diagnosed) the diagnosis."""

    name: str
    nid: int
    given: np.ndarray
    truth: np.ndarray
    ok: bool
    diagnosis: Diagnosis | None = None


def diagnose_rows(loss: Any, G: Any, order: list[int], items: list[Item], same: Same,
                  ) -> tuple[bool, str]:
    """Sets ``item.diagnosis`` on every item that is not ok, from the loss down.

    Returns whether the graph's local rules were available (without them nothing is
    ``inherited``, ``missing_path`` or ``wrong_rule``) and, if not, why.
    """
    d = _Diagnoser(loss, G, order, items, same)
    for it in sorted((it for it in items if not it.ok),
                     key=lambda it: -d.rules.position[it.nid]):
        it.diagnosis = d.diagnose(it)
        if d.why:
            it.diagnosis.text += (f" (inherited, missing-path and wrong-rule diagnoses are "
                                  f"unavailable: {d.why})")
        if not np.all(np.isfinite(it.truth)):
            it.diagnosis.text += _nan_note(loss, d.rules)
    return not d.why, d.why


def _nan_note(loss: Any, rules: Rules) -> str:
    """Where the NaN in autograd's own gradient came from (`minigrad.reference.origin`)."""
    from minigrad.reference.origin import nan_origin

    with np.errstate(all="ignore"):
        origin = nan_origin(loss)
    if origin is None:
        return " (autograd's own gradient holds NaN or Inf here)"
    name = rules.name(id(origin.tensor)) if id(origin.tensor) in rules.G else "a tensor"
    what = "value" if origin.phase == "forward" else "gradient"
    return (f" (autograd's own gradient holds NaN or Inf here; the first one appears in the "
            f"{what} of {name}{origin.cause})")


def _agree(a: np.ndarray, b: np.ndarray, same: Same) -> bool:
    """`same`, with NaN and Inf agreeing where both have them."""
    if a.shape != b.shape:
        return False
    fa, fb = np.isfinite(a), np.isfinite(b)
    with np.errstate(invalid="ignore"):
        return (bool(np.array_equal(fa, fb) and np.array_equal(a[~fa], b[~fb], equal_nan=True))
                and same(np.where(fa, a, 0), np.where(fb, b, 0)))


def _counts(G: Any) -> dict[int, str]:
    """The N of every mean the graph takes (a loss's batch, a mean over axes, batch norm's
    statistics), each with what it counts."""
    out: dict[int, str] = {}
    batch = ("cross_entropy", "nll_loss", "mse_loss", "binary_cross_entropy_with_logits")
    for _, a in G.nodes(data=True):
        t = a["tensor"]
        ctx = t._ctx
        if ctx is None or not ctx.inputs:
            continue
        x = ctx.inputs[0].data
        name = ctx.op.name
        if name in batch and ctx.params.get("reduction", "mean") == "mean":
            n = x.size if name in batch[2:] else x.size // max(x.shape[-1], 1) if x.ndim else 1
            out[n] = "the batch size"
        elif name == "batch_norm" and ctx.params.get("training") and x.ndim >= 2:
            out.setdefault(x.size // x.shape[1], "the number of values per channel")
        elif name in ("mean", "var", "std") and t.data.size:
            out.setdefault(x.size // t.data.size, "the number of elements of the mean")
    return {n: w for n, w in out.items() if n > 1}


class _Diagnoser:
    """The state `diagnose_rows` shares between rows: the rules, autograd's gradient at every
    node by those rules (``truth``), and the learner's chain (``up``: what the rules give at
    each node from the learner's own gradients above it; ``used``: the learner's gradient
    where given, ``up`` elsewhere)."""

    def __init__(self, loss: Any, G: Any, order: list[int], items: list[Item],
                 same: Same) -> None:
        self.rules = Rules(G, order)
        self.items = {it.nid: it for it in items}
        self.same = same
        self.counts = _counts(G)
        self.root = id(loss)
        self.why = ""
        self.truth: dict[int, Any] = {}
        self.up: dict[int, Any] = {}
        self.used: dict[int, Any] = {}
        try:
            self._sweeps(loss, items)
        except RulesUnavailable as e:
            self.why = f"the local rules could not run ({e})"
        if self.why:
            self.truth = {n: np.asarray(a["tensor"].grad.data) for n, a in G.nodes(data=True)
                          if a["tensor"].grad is not None}
        for it in items:
            self.truth.setdefault(it.nid, it.truth)
        self.searched_from = self.rules.calls  # the budgets count the searches' rules only

    def _sweeps(self, loss: Any, items: list[Item]) -> None:
        seed = np.ones(loss.shape, dtype=loss.data.dtype)
        self.truth, _ = self.rules.sweep(self.root, seed)
        for it in items:
            local = np.asarray(self.truth.get(it.nid, np.zeros(it.truth.shape)))
            if not _agree(local, it.truth, self.same):
                self.why = (f"the graph's rules no longer give the gradient of {it.name} "
                            f"that autograd gave (values changed since, or .grad added up "
                            f"over several backward() calls?)")
                return
        given = {it.nid: it.given for it in items if it.given.shape == it.truth.shape}
        self.up, self.used = self.rules.sweep(self.root, seed, given)

    def diagnose(self, it: Item) -> Diagnosis:
        """The first kind that matches, in the order of the module docstring."""
        d = self._inherited(it) or diagnose_shapes(it.given, it.truth, self.same, it.name)
        if d is not None:
            return d
        truth_x = self.truth[it.nid]
        steps: list[Callable[[], Diagnosis | None]] = [
            lambda: self._graph_kinds(it, self.truth, truth_x, ("direct",)),
            lambda: _scaled_diagnosis(it.given, it.truth, self.same, it.name, self.counts,
                                      False, "your", "autograd's"),
            lambda: self._graph_kinds(it, self.truth, truth_x, ("missing", "kernel", "slip")),
            lambda: self._swapped(it),
            lambda: self._flipped(it),
            lambda: self._upstream_kinds(it),
            lambda: _scaled_diagnosis(it.given, it.truth, self.same, it.name, self.counts,
                                      True, "your", "autograd's"),
        ]
        # a search through a large graph stops at a budget of local rules, per row and in all
        self.rules.limit = min(self.rules.calls + ROW_BUDGET, self.searched_from + TOTAL_BUDGET)
        stopped = False
        for step in steps:
            try:
                d = step()
            except RulesUnavailable as e:
                self.why = self.why or f"the local rules could not run ({e})"
                d = None
            except SearchBudget:
                stopped, d = True, None
            if d is not None:
                return d
        d = unexplained(it.given, it.truth, it.name)
        if stopped:
            d.text += (" (the search for a slip or a left-out path stopped at its budget in "
                       "this large graph: check a tensor closer to this one to narrow it)")
        return d

    # ------------------------------------------------------------------ kinds
    def _inherited(self, it: Item) -> Diagnosis | None:
        up = self.up.get(it.nid)
        if (up is None or up.shape != it.given.shape or self.same(up, self.truth[it.nid])
                or not self.same(it.given, up)):
            return None
        # the checked rows the learner's chain comes down from: past them it is theirs
        _, ops = self.rules.region(it.nid, set(self.items))
        sources = []
        for nid in ops:
            other = self.items.get(nid)
            if other is None or other.ok or other.diagnosis is None:
                continue
            d = other.diagnosis
            src = d.source if d.kind == "inherited" and d.source else other.name
            sources.append((-self._position_of(src, nid), src))
        if not sources:
            return None
        src = min(sources)[1]
        return Diagnosis("inherited", f"your ∇{it.name} is what the right rules give from your "
                         f"wrong ∇{src} above it: fix ∇{src} first, and this row follows",
                         source=src)

    def _position_of(self, name: str, default: int) -> int:
        for nid, it in self.items.items():
            if it.name == name:
                return self.rules.position[nid]
        return self.rules.position[default]

    def _swapped(self, it: Item) -> Diagnosis | None:
        truth_x = self.truth[it.nid]
        rows = [n for n in self.items if n != it.nid]
        rest = [n for n in self.truth if n != it.nid and n not in self.items]
        for nid in rows + rest:
            t = self.truth[nid]
            if np.shape(t) != it.given.shape or self.same(t, truth_x):
                continue
            if self.same(it.given, np.asarray(t)):
                other = self.items[nid].name if nid in self.items else self.rules.name(nid)
                return Diagnosis("swapped", f"your ∇{it.name} is autograd's gradient of "
                                 f"{other} (∇{other}), not of {it.name}", other=other)
        return None

    def _flipped(self, it: Item) -> Diagnosis | None:
        axes = _flipped(it.given, it.truth, self.same)
        if axes is None:
            return None
        return Diagnosis("flipped", f"your ∇{it.name} is autograd's flipped along axes "
                         f"{axes}: a correlation where a convolution belongs (or the other "
                         f"way round), or its two arguments swapped", axes=axes)

    def _upstream_kinds(self, it: Item) -> Diagnosis | None:
        """The graph's kinds again, on the learner's own (wrong) gradients above: a step
        that is wrong in itself below one that is wrong too."""
        up = self.up.get(it.nid)
        if up is None or self.same(up, self.truth[it.nid]):
            return None
        return self._graph_kinds(it, self.used, up, ("missing", "kernel", "slip"))

    def _graph_kinds(self, it: Item, base: dict[int, Any], base_x: Any,
                     which: tuple[str, ...]) -> Diagnosis | None:
        if self.why or not self.up:
            return None
        tensors, ops = self.rules.region(it.nid, set(self.items))
        search = Search(self.rules, ops, tensors, base, base_x, it.nid, it.given, self.same,
                        it.name)
        for w in which:
            d = getattr(search, w)()
            if d is not None:
                return d
        return None


@dataclass
class Search:
    """A search for the one change of the right chain that gives the array given for the
    tensor `target`: a use of a tensor left out (`missing`), one op's rule replaced by a
    slip (`slip`) or a convolution's kernel left unflipped (`kernel`).

    Attributes:
        rules: the graph's rules.
        ops: the ops (by their results' ids) whose rule may be the one changed.
        tensors: the tensors whose gradient flows down to `target` (`target` first).
        base: the gradient at each op's result that the chain starts from (autograd's, or
            the learner's own); ``base_x`` the gradient it gives at `target` unchanged.
        given: the array given for `target`, called `name`; ``yours`` words the sentence.
    """

    rules: Rules
    ops: list[int]
    tensors: list[int]
    base: dict[int, Any]
    base_x: Any
    target: int
    given: np.ndarray
    same: Same
    name: str
    yours: str = "your"

    def variant(self, start: int, delta: Any) -> bool:
        """Whether the given array is the base gradient changed by `delta` at `start`."""
        value = np.asarray(self.base_x) + self.rules.carry(start, delta, self.target)
        return self.same(self.given, value)

    def direct(self) -> Diagnosis | None:
        """`missing` at the target itself: one of its own uses left out (``x * x``)."""
        return self.missing(self.tensors[:1])

    def missing(self, tensors: list[int] | None = None) -> Diagnosis | None:
        for b in self.tensors if tensors is None else tensors:
            parts = self.rules.contributions(b, self.base)
            n = len(parts)
            if not 2 <= n <= 6:
                continue
            for k in range(n - 1, 0, -1):
                for kept in itertools.combinations(range(n), k):
                    out = [parts[j] for j in range(n) if j not in kept]
                    if self.variant(b, -sum(p[2] for p in out)):
                        return self._missing_text(b, parts, out)
        return None

    def _missing_text(self, b: int, parts: list[Any], out: list[Any]) -> Diagnosis:
        missing = tuple(self.rules.consumer(c, i) for c, i, _ in out)
        twice = {c for c, _, _ in parts if sum(p[0] == c for p in parts) > 1}

        def use(c: int, i: int) -> str:  # x * x: which of the op's inputs
            return str(self.rules.consumer(c, i)) + (f" as input {i}" if c in twice else "")

        uses = "; ".join(use(c, i) for c, i, _ in parts)
        bname = self.name if b == self.target else self.rules.name(b)
        where = "" if b == self.target else f" (above {self.name})"
        left = " and ".join(use(c, i) for c, i, _ in out)
        times = "twice" if len(parts) == 2 else f"{len(parts)} times"
        return Diagnosis("missing_path", f"{self.yours} ∇{self.name} leaves out the path "
                         f"through {left}: {bname}{where} is used {times} ({uses}), and its "
                         f"gradient is the sum over all of its uses", missing=missing)

    def slip(self) -> Diagnosis | None:
        tensors = set(self.tensors)
        for o in self.ops:
            t = self.rules.tensor(o)
            ctx, g = t._ctx, self.base.get(o)
            if g is None:
                continue
            for slip in SLIPS.get(ctx.op.name, ()):
                i = slip.argnum
                if i >= len(ctx.inputs) or id(ctx.inputs[i]) not in tensors:
                    continue
                wrong = _run_slip(slip, g, t, ctx)
                if wrong is None or wrong.shape != ctx.inputs[i].shape:
                    continue
                if self.variant(id(ctx.inputs[i]), wrong - self.rules.local(o, i, g)):
                    return Diagnosis(
                        "wrong_rule", f"{self.yours} ∇{self.name} uses {slip.name} in the "
                        f"backward of {self.rules.consumer(o, i)}: {ctx.op.name}'s rule is "
                        f"{ctx.op.grad_formula(i)}", used=slip.name, op=ctx.op.name)
        return None

    def kernel(self) -> Diagnosis | None:
        """A convolution's input gradient computed as a correlation: W not flipped."""
        tensors = set(self.tensors)
        for o in self.ops:
            t = self.rules.tensor(o)
            ctx, g = t._ctx, self.base.get(o)
            if (g is None or ctx.op.name not in ("conv1d", "conv2d")
                    or id(ctx.inputs[0]) not in tensors):
                continue
            W = ctx.inputs[1]
            axes = tuple(range(2, W.ndim))
            args = [a.data for a in ctx.inputs]
            args[1] = np.flip(W.data, axes)
            delta = self.rules.local(o, 0, g, args) - self.rules.local(o, 0, g)
            if self.variant(id(ctx.inputs[0]), delta):
                wname = W.name or "W"
                return Diagnosis(
                    "flipped", f"{self.yours} ∇{self.name} correlates δ with {wname} where "
                    f"the backward of {self.rules.consumer(o, 0)} convolves it (correlates "
                    f"with {wname} flipped along axes {axes}): a correlation instead of a "
                    f"convolution", axes=axes)
        return None


def _run_slip(slip: Slip, g: Any, t: Any, ctx: Any) -> np.ndarray | None:
    """The slip's wrong gradient on the op's own arrays (None where it does not apply)."""
    try:
        with np.errstate(all="ignore"):
            out = slip.vjp(np.asarray(g), t.data, *[a.data for a in ctx.inputs], **ctx.params)
    except Exception:  # a slip that does not fit this call of the op names nothing
        return None
    return None if out is None else np.asarray(out)


# --------------------------------------------------------------------------- compare's rows
@dataclass
class Compared:
    """One row of `compare`, to diagnose: the formula's value (`chain`, from the formulas
    above it; `step`, on autograd's own δ) against autograd's.

    Attributes:
        name: the quantity as the sentence names it (``W_2``, ``x of fc1``).
        backward: a gradient row (only these can inherit).
        slips: ``(slip, op, value)``: what a classic slip of the row's op gives on
            autograd's own inputs (the formula then uses that slip).
        search: the layer's ops and rules, to look for a slip inside a layer.
    """

    name: str
    backward: bool
    autograd: np.ndarray
    chain: np.ndarray
    step: np.ndarray | None
    passed: bool
    step_passed: bool | None
    slips: list[tuple[str, str, np.ndarray]] = field(default_factory=list)
    search: Search | None = None
    diagnosis: Diagnosis | None = None


def diagnose_compared(rows: list[Compared], same: Same,
                      counts: dict[int, str] | None = None) -> None:
    """Sets ``row.diagnosis`` on every failing row of a comparison, in its order (forward
    rows, then the gradients from the loss down). A gradient whose step (the formula on
    autograd's own δ) matches is ``inherited`` from the first failing step above it.
    `counts`: the N of the loss's mean, to name a missing or extra 1/N."""
    first: str | None = None
    for r in rows:
        if r.passed:
            continue
        if r.backward and r.step is not None and r.step_passed and first is not None:
            r.diagnosis = Diagnosis(
                "inherited", f"the formula's ∇{r.name} is right for autograd's own δ (its "
                f"step matches): it differs only through the wrong ∇{first} above it",
                source=first)
            continue
        given = r.step if r.step is not None and not r.step_passed else r.chain
        r.diagnosis = _diagnose_compared(r, np.asarray(given), rows, same, counts or {})
        if r.backward and first is None:
            first = r.name


def _diagnose_compared(r: Compared, given: np.ndarray, rows: list[Compared], same: Same,
                       counts: dict[int, str]) -> Diagnosis:
    yours, of = "the formula's", "autograd's"
    truth = np.asarray(r.autograd)
    d = diagnose_shapes(given, truth, same, r.name, yours=yours, of=of)
    if d is not None:
        return d
    for name, op, value in r.slips:
        if same(given, value):
            return Diagnosis("wrong_rule", f"the formula's ∇{r.name} uses {name} in the "
                             f"backward of {op}", used=name, op=op)
    if r.search is not None:
        try:
            d = r.search.slip() or r.search.kernel() or r.search.missing()
        except RulesUnavailable:
            d = None
        if d is not None:
            return d
    d = _scaled_diagnosis(given, truth, same, r.name, counts, False, yours, of)
    for other in rows:
        if d is not None:
            break
        o = np.asarray(other.autograd)
        if (other is not r and other.backward and o.shape == given.shape
                and not same(o, truth) and same(given, o)):
            d = Diagnosis("swapped", f"the formula's ∇{r.name} is autograd's gradient of "
                          f"{other.name}, not of {r.name}", other=other.name)
    return d or diagnose_arrays(given, truth, same, r.name, counts=counts, yours=yours, of=of)
