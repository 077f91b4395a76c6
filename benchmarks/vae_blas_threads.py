"""One VAE training step with NumPy's BLAS on one thread vs its default thread count, in alternating
blocks of steps in one process (why minigumbel.train runs the vae on one BLAS thread).

    python benchmarks/vae_blas_threads.py [steps]

OpenBLAS only (minigumbel.provenance sets its thread count). Prints min, median and mean per
step of each and their ratio; ratios within one run only (the machine is noisy).
"""
import sys
import time

import numpy as np

from minigumbel.provenance import blas_thread_count, blas_threads
from minigumbel.train import Run, TrainConfig


def main(steps=600, block=20):
    default = blas_thread_count()
    if default is None:
        sys.exit("vae_blas_threads.py: NumPy's BLAS is not OpenBLAS; nothing to compare")
    run = Run(TrainConfig.for_task("vae"))
    times = {1: [], default: []}
    for _ in range(steps // block):
        for n in times:
            with blas_threads(n):
                for _ in range(block):
                    t = time.perf_counter()
                    run.train_step()
                    times[n].append(time.perf_counter() - t)
    for stat in (np.min, np.median, np.mean):
        one, many = stat(times[1]) * 1e3, stat(times[default]) * 1e3
        print(f"{stat.__name__:>6}: 1 BLAS thread {one:.2f} ms  {default} threads {many:.2f} ms  ratio {many / one:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 600)
