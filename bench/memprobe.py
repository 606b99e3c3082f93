"""One memory measurement for one library, in a process of its own so peaks don't mix.

    python bench/memprobe.py {mlp,mlp-long,chain,train} LIBRARY [--quick]

prints one JSON line. bench/run.py starts it once per library and scenario, with the thread
environment variables already set.

Method (the same for every library): after the imports and the data (weights, batch and the
library's own copies of them) exist, a `gc.collect()`, then the process's peak resident set
is reset (``echo 5 > /proc/self/clear_refs``) and the current RSS read as the baseline. The
figures are RSS above that baseline: ``peak`` from VmHWM, ``held`` from VmRSS. Where the peak
cannot be reset, ru_maxrss is used instead (the method field says which).

- mlp: 3 SGD steps of the large MLP, float32: peak.
- mlp-long: 10,000 SGD steps of the large MLP, float32: the peak after 3 steps, after 100
  and after all of them (flat: the same), and the minor page faults per step.
- chain: the 100,000-op chain: held after forward (the recorded graph), peak over forward
  and backward.
- train: the small MLP trained for many steps on one batch: RSS after the warm-up steps, at
  9 checkpoints up to the last one, and the growth in the number of objects the cyclic GC
  tracks (a leak of tensors or graph nodes shows there even when RSS hides it).
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import workloads as wl  # noqa: E402


def _status_kib(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


class Meter:
    def __init__(self) -> None:
        gc.collect()
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.method = "VmHWM (peak reset at baseline)"
        except OSError:
            self.method = "ru_maxrss"
        self.base = _status_kib("VmRSS")
        self.base_maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def held(self) -> int:
        return (_status_kib("VmRSS") - self.base) * 1024

    def peak(self) -> int:
        if self.method == "ru_maxrss":
            top = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            return max(0, top - self.base) * 1024
        return (_status_kib("VmHWM") - self.base) * 1024


def main(argv: list[str]) -> dict:
    kind, lib = argv[0], argv[1]
    sizes = wl.Sizes(quick="--quick" in argv)
    if lib == "torch":
        wl.pin_torch_threads()
    if lib != "numpy":
        __import__(lib)
    if kind == "mlp":
        params, X, y = wl.mlp_data(sizes.mlp_large, sizes.batch_large, np.float32)
        model = wl.make_mlp(lib, params, X, y)
        m = Meter()
        for _ in range(3):
            model.step()
        return {"peak": m.peak(), "method": m.method}
    if kind == "mlp-long":
        params, X, y = wl.mlp_data(sizes.mlp_large, sizes.batch_large, np.float32)
        model = wl.make_mlp(lib, params, X, y)
        steps = 50 if "--quick" in argv else 10_000
        m = Meter()
        marks = []
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for i in range(1, steps + 1):
            model.step()
            if i in (3, 100):
                marks.append((i, m.peak()))
        f1 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        return {"peak": m.peak(), "marks": marks, "steps": steps,
                "faults": (f1 - f0) / steps, "method": m.method}
    if kind == "chain":
        n = sizes.chain_long
        wl.make_chain(lib, 300).run()  # one-time set-up of the library is not per op
        chain = wl.make_chain(lib, n)
        m = Meter()
        state = chain.forward()
        gc.collect()
        held = m.held()
        chain.backward(state)
        peak = m.peak()
        return {"held": held, "peak": peak, "ops": n, "method": m.method}
    if kind == "train":
        warm, total = sizes.train_steps
        params, X, y = wl.mlp_data(sizes.mlp_small, sizes.batch_small, np.float32)
        model = wl.make_mlp(lib, params, X, y)
        for _ in range(warm):
            model.step()
        gc.collect()
        first = _status_kib("VmRSS") * 1024
        objects0 = len(gc.get_objects())
        marks = []
        chunk = max(1, (total - warm) // 9)
        done = warm
        while done < total:
            k = min(chunk, total - done)
            for _ in range(k):
                loss = model.step()
            done += k
            last = float(loss.item() if hasattr(loss, "item") else loss)
            del loss  # its graph is not a leak
            gc.collect()
            marks.append(_status_kib("VmRSS") * 1024)
        objects = len(gc.get_objects()) - objects0 - 1  # less the list `marks`
        return {"after_warmup": first, "after_all": marks[-1], "marks": marks,
                "objects_growth": objects, "warm": warm, "steps": total, "loss": last}
    raise SystemExit(f"unknown kind {kind!r}")


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
