"""One training step, hand vs autograd gradients, strictly alternating single steps (a second view
next to `minigumbel bench --parts train`, whose rotating start runs each case twice in a row at
every turn).

    python benchmarks/train_step_interleaved.py [float32|float64] [steps]

Prints min, median and mean per step of each and the autograd / hand ratio. Interleaving single
steps lets autograd's allocations evict the hand path's arrays from cache, so this view is the
less flattering one for the hand path; ratios within one run only (the machine is noisy).
"""
import sys
import time

import numpy as np

from minigumbel.train import Run, TrainConfig


def main(dtype="float32", steps=1500):
    runs = {g: Run(TrainConfig(grad=g, dtype=dtype)) for g in ("hand", "autograd")}
    times = {g: [] for g in runs}
    for _ in range(steps):
        for g, run in runs.items():
            t = time.perf_counter()
            run.train_step()
            times[g].append(time.perf_counter() - t)
    for stat in (np.min, np.median, np.mean):
        h, a = stat(times["hand"]) * 1e3, stat(times["autograd"]) * 1e3
        print(f"{dtype} {stat.__name__:>6}: hand {h:.3f} ms  autograd {a:.3f} ms  autograd/hand {a / h:.2f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "float32", int(sys.argv[2]) if len(sys.argv) > 2 else 1500)
