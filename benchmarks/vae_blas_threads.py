"""One VAE training step with NumPy's BLAS on one thread vs its default thread count, in alternating
blocks of steps in one process (why minigumbel.train runs the vae on one BLAS thread).

    python benchmarks/vae_blas_threads.py [steps]

Needs threadpoolctl (scikit-learn, the 'data' extra, installs it). Prints min, median and mean per
step of each and their ratio; ratios within one run only (the machine is noisy).
"""
import sys
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from minigumbel.train import Run, TrainConfig


def main(steps=600, block=20):
    default = max(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")
    run = Run(TrainConfig.for_task("vae"))
    times = {1: [], default: []}
    for _ in range(steps // block):
        for n in times:
            with threadpool_limits(n, user_api="blas"):
                for _ in range(block):
                    t = time.perf_counter()
                    run.train_step()
                    times[n].append(time.perf_counter() - t)
    for stat in (np.min, np.median, np.mean):
        one, many = stat(times[1]) * 1e3, stat(times[default]) * 1e3
        print(f"{stat.__name__:>6}: 1 BLAS thread {one:.2f} ms  {default} threads {many:.2f} ms  ratio {many / one:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 600)
