"""Fault injection: SIGKILL a `minigumbel train --checkpoint` run at random (seeded) moments.

After every kill: the file at the checkpoint path, when there is one, loads; its step only moves
forward; leftover temporary files (a kill during a write) never sit at the checkpoint path and
either load completely or fail with a CheckpointError — a partial file is never taken for a
checkpoint. The next run resumes from what is on disk, and the last one finishes: its final
parameters and loss history equal an uninterrupted run's bit for bit; so does resuming any of the
checkpoints seen along the way. A corrupt or truncated checkpoint gives exit 2 and one
`Error:` line naming the file.

Bounded: KILLS kills and at most BUDGET_S seconds of killing (small sizes, ~20 s in all).
"""
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

from minigumbel_cli.main import main
from minigumbel.checkpoint import CheckpointError, load_checkpoint
from minigumbel.train import TrainConfig, train

# process-level fault injection: in the main suite, not in the per-Python `nox -s fast` runs
pytestmark = pytest.mark.slow

if not hasattr(signal, "SIGKILL"):                      # pragma: no cover
    pytest.skip("needs POSIX signals", allow_module_level=True)

STEPS, EVERY = 1000, 4          # ~2.5 ms a step here (a checkpoint, fsync'ed, every 4 steps)
# REINFORCE with a running-mean baseline and Adam: the run's state has every part a checkpoint holds
# (parameters, optimizer moments and step count, Generator state, baseline state, history).
ARGS = ["--task", "argmax", "--estimator", "reinforce", "--baseline", "running", "--optimizer", "adam",
        "--n-items", "5", "--hidden", "8", "--batch-size", "16", "--eval-size", "32", "--eval-every", "40",
        "--checkpoint-every", str(EVERY), "--seed", "3", "-q"]
KILLS, BUDGET_S, SEED = 8, 25.0, 20240601


def _cli(*args):
    return [sys.executable, "-m", "minigumbel_cli.main", "train", "--steps", str(STEPS), *ARGS, *args]


def _same_run(a, b, where):
    assert a["step"] == b["step"] == STEPS, where
    for k in b["params"]:
        assert np.array_equal(a["params"][k], b["params"][k]), f"{where}: parameter {k} differs"
    assert a["history"]["loss"] == b["history"]["loss"], f"{where}: loss history differs"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run's final checkpoint."""
    path = tmp_path_factory.mktemp("ref") / "ref.ckpt"
    t0 = time.monotonic()
    subprocess.run(_cli("--checkpoint", str(path)), check=True, capture_output=True, timeout=120)
    return path, load_checkpoint(path), time.monotonic() - t0


def _state(path):
    """What a watcher sees of a file: (mtime, size), or None while it does not exist."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_size


def _leftovers(folder, name):
    """Temporary files of the checkpoint (not its lock file, which a killed run also leaves)."""
    return [p for p in os.listdir(folder) if p.startswith(f".{name}.") and p.endswith(".tmp")]


def test_sigkill_at_random_moments_leaves_only_loadable_checkpoints(reference, tmp_path):
    _, ref, run_s = reference
    ckpt, snaps = tmp_path / "run.ckpt", tmp_path / "snaps"
    snaps.mkdir()
    rnd, last_step, kills, partial, complete = random.Random(SEED), -1, 0, [], 0
    t_end = time.monotonic() + BUDGET_S
    while kills < KILLS and time.monotonic() < t_end and last_step < STEPS:
        args = _cli("--checkpoint", str(ckpt), *(["--resume", str(ckpt)] if ckpt.exists() else []))
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # a third of the kills at a random time (start-up included); the others the moment a
        # checkpoint write shows (a temp file appears, or the checkpoint changes), or just after it
        mode = rnd.choice(["anytime", "at-write", "after-write"])
        if mode == "anytime":
            time.sleep(rnd.uniform(0.0, 0.9 * run_s))      # sized by this machine's run time
        else:
            before = _state(ckpt)
            while proc.poll() is None and _state(ckpt) == before and not _leftovers(tmp_path, ckpt.name):
                time.sleep(0.0005)
            time.sleep(rnd.uniform(0.0, 0.02) if mode == "after-write" else 0.0)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        _, err = proc.communicate(timeout=60)
        assert proc.returncode in (0, -signal.SIGKILL), err.decode()
        if ckpt.exists():
            ck = load_checkpoint(ckpt)                        # must never raise
            assert ck["step"] >= last_step and (ck["step"] % EVERY == 0 or ck["step"] == STEPS), ck["step"]
            last_step = ck["step"]
            shutil.copy(ckpt, snaps / f"{last_step}.ckpt")
        for name in _leftovers(tmp_path, ckpt.name):          # a write cut short by the kill
            partial.append(name)
            try:
                load_checkpoint(tmp_path / name)
                complete += 1                                 # written in full, killed before the rename
            except CheckpointError as exc:
                assert name in str(exc)
            os.replace(tmp_path / name, snaps / f"partial-{len(partial)}.tmp")
    assert kills >= 1, "no run was killed: the runs finished too fast to test anything"
    # the last run resumes from whatever is on disk and finishes
    done = subprocess.run(_cli("--checkpoint", str(ckpt), *(["--resume", str(ckpt)] if ckpt.exists() else [])),
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    _same_run(load_checkpoint(ckpt), ref, "resumed after kills")
    # every checkpoint seen along the way resumes to the same result (in-process: no start-up cost)
    seen = sorted(p for p in os.listdir(snaps) if p.endswith(".ckpt"))
    for name in rnd.sample(seen, min(3, len(seen))):
        snap, again = snaps / name, tmp_path / f"again-{name}"
        ck = load_checkpoint(snap)
        if ck["step"] < STEPS:                                # (a finished run has nothing to resume)
            train(TrainConfig(**{**ck["config"], "resume": str(snap), "checkpoint": str(again),
                                 "checkpoint_every": STEPS, "steps": STEPS}))
            ck = load_checkpoint(again)
        _same_run(ck, ref, f"resumed from {name}")
    print(f"kills: {kills}, checkpoints seen: {len(seen)}, temp files left by a kill: {len(partial)} "
          f"({complete} complete but not yet renamed, {len(partial) - complete} cut short)")


def _corruptions(blob, ref):
    """name -> bytes of a damaged checkpoint (the damage lands where a CRC or the zip structure sees it)."""
    w = next(iter(ref["params"].values()))
    at = blob.find(w.tobytes())                              # the first parameter's raw float data
    assert at > 0
    flipped = bytearray(blob)
    flipped[at + w.nbytes // 2] ^= 0x40
    meta_at = blob.find(b'"minigumbel-checkpoint"')
    meta = bytearray(blob)
    meta[meta_at + 3] ^= 0x01
    return {"truncated-half": blob[: len(blob) // 2], "truncated-tail": blob[:-20], "empty": b"",
            "flipped-param-bit": bytes(flipped), "flipped-meta-bit": bytes(meta),
            "not-a-zip": b"minigumbel checkpoint? no" * 10}


def test_corrupt_or_truncated_checkpoint_is_exit_2_naming_the_file(reference, tmp_path):
    path, ref, _ = reference
    cases = _corruptions(path.read_bytes(), ref)
    np.savez(tmp_path / "other.npz", x=np.zeros(3))         # a valid .npz that is not a checkpoint
    cases["foreign-npz"] = (tmp_path / "other.npz").read_bytes()
    for name, data in cases.items():
        bad = tmp_path / f"{name}.ckpt"
        bad.write_bytes(data)
        r = CliRunner().invoke(main, ["train", "--steps", str(STEPS), *ARGS, "--resume", str(bad)])
        lines = [ln for ln in r.output.splitlines() if ln.strip()]
        assert r.exit_code == 2 and isinstance(r.exception, SystemExit), (name, r.output, r.exception)
        assert len(lines) == 1 and lines[0].startswith("Error:") and str(bad) in lines[0], (name, r.output)
    # the same through a real process: stderr is the one line, no traceback, no warnings
    bad = tmp_path / "truncated-half.ckpt"
    p = subprocess.run([sys.executable, "-m", "minigumbel_cli.main", "train", *ARGS, "--resume", str(bad)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and p.stdout == "", p
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("Error:") and str(bad) in p.stderr, p.stderr
