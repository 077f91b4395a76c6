"""Size and time of one checkpoint save late in a long run (the history grows with the steps).

A run of the argmax task is built, its history filled with ``--steps`` losses and τ values and one
evaluation per 100 steps (as a run of that length holds; the values are the run's own first
losses repeated, the file's size does not depend on them), then saved ``--repeats`` times; prints
the file's size and the median save time.

    python benchmarks/checkpoint_save.py --steps 100000
    python benchmarks/checkpoint_save.py --steps 1000000 --repeats 3
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
    from minigumbel.train import Run, TrainConfig
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "run.npz")
        run = Run(TrainConfig(steps=a.steps, eval_size=100))
        for _ in range(10):
            loss, tau = run.train_step()
            run.history["loss"].append(float(loss))
            run.history["tau"].append(tau)
        losses, taus = run.history["loss"], run.history["tau"]
        run.history["loss"] = [losses[i % 10] for i in range(a.steps)]
        run.history["tau"] = [taus[i % 10] for i in range(a.steps)]
        metrics = {"soft_loss": 0.123456789, "accuracy": 0.987, "hard_loss": 0.0456789}
        run.history["eval"] = [{"step": s, **metrics} for s in range(0, a.steps + 1, 100)]
        run.step = a.steps
        run.optimizer.t = a.steps
        times = []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            run.save(path)
            times.append(time.perf_counter() - t0)
        size = os.path.getsize(path)
    print(f"steps {a.steps}: checkpoint {size / 1e6:.2f} MB, save {statistics.median(times) * 1e3:.1f} ms "
          f"(median of {a.repeats})")


if __name__ == "__main__":
    main()
