"""Fault injection for `minigumbel sweep --out`: SIGKILL the sweep at random (seeded) moments, then
run the same command again, until it completes.

After every kill: every complete line of the results file is a valid record, no run appears
twice, and the number of finished runs never goes back; the worker processes of the killed sweep
exit by themselves. At the end the file holds each run of the grid exactly once, with metrics
equal to an uninterrupted sweep's (computed in this process). Bounded: KILLS kills and at most
BUDGET_S seconds of killing.
"""
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from minigumbel import sweep

# process-level fault injection: in the main suite, not in the per-Python `nox -s fast` runs
pytestmark = pytest.mark.slow

if not hasattr(signal, "SIGKILL"):                       # pragma: no cover
    pytest.skip("needs POSIX signals", allow_module_level=True)

# 24 runs of ~50 ms each; two worker processes (the pool path, the default on a 2-CPU machine)
OPTIONS = ["--task", "argmax", "--steps", "100", "--eval-every", "100", "--eval-size", "40", "--batch-size", "8",
           "--hidden", "8", "--n-items", "4", "--seeds", "4"]
GRID = ["--grid", "estimator=gumbel,st-gumbel,st", "--grid", "tau=0.5,1"]
KILLS, BUDGET_S, SEED = 4, 12.0, 20261202


def _command(out):
    return [sys.executable, "-m", "minigumbel_cli.main", "sweep", *OPTIONS, *GRID, "--workers", "2", "-q",
            "--out", str(out)]


def _reference():
    configs = sweep.expand(dict(task="argmax", steps=100, eval_every=100, eval_size=40, batch_size=8, hidden=8,
                                n_items=4), sweep.parse_grid(["estimator=gumbel,st-gumbel,st", "tau=0.5,1"]),
                           range(4))
    records, _ = sweep.run_grid(configs)
    return {r["key"]: r["metrics"] for r in records}


def _complete_records(path):
    """The records on complete lines (a torn last line, if any, is left out)."""
    if not path.exists():
        return []
    lines = path.read_bytes().split(b"\n")[:-1]
    return [json.loads(line) for line in lines]


def _children(pid):
    """Child process ids of ``pid`` (Linux /proc), or None where /proc is not available."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(c) for c in fh.read().split()]
    except OSError:
        return None


def _gone(pids, timeout=3.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        alive = [p for p in pids if os.path.exists(f"/proc/{p}") and "Z" not in _state(p)]
        if not alive:
            return True
        time.sleep(0.05)
    return False


def _state(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_sigkill_then_the_same_command_runs_each_run_exactly_once(tmp_path):
    reference = _reference()
    out = tmp_path / "runs.jsonl"
    t0 = time.monotonic()
    subprocess.run(_command(tmp_path / "full.jsonl"), check=True, capture_output=True, timeout=120)
    run_s = time.monotonic() - t0
    rnd, kills, seen, t_end = random.Random(SEED), 0, 0, time.monotonic() + BUDGET_S
    while kills < KILLS and time.monotonic() < t_end and seen < len(reference):
        p = subprocess.Popen(_command(out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # kill at a random moment once this attempt has made progress (before: the imports only)
        while len(_complete_records(out)) == seen and p.poll() is None and time.monotonic() < t_end:
            time.sleep(0.01)
        time.sleep(rnd.uniform(0.0, 0.25) * run_s)
        workers = _children(p.pid) or []
        if p.poll() is not None:                              # finished before the kill
            assert p.returncode == 0, p.stderr.read()
            break
        p.send_signal(signal.SIGKILL)
        p.wait()
        kills += 1
        assert _gone(workers), f"worker processes {workers} outlived the killed sweep"
        done = _complete_records(out)
        keys = [r["key"] for r in done]
        assert len(keys) == len(set(keys)), "a run was written twice"
        assert set(keys) <= set(reference)
        assert len(done) >= seen, "finished runs went missing"
        seen = len(done)
    assert kills >= 2, f"only {kills} kills landed (sweep takes {run_s:.2f} s here)"
    subprocess.run(_command(out), check=True, capture_output=True, timeout=120)
    final = _complete_records(out)
    assert out.read_bytes().endswith(b"\n")
    assert sorted(r["key"] for r in final) == sorted(reference)           # each run exactly once
    assert {r["key"]: r["metrics"] for r in final} == reference           # the uninterrupted numbers


def test_ctrl_c_stops_the_workers_at_once_and_the_same_command_completes(tmp_path):
    out = tmp_path / "runs.jsonl"

    def interruptible():                                   # a shell's background job would ignore SIGINT
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.setsid()
    p = subprocess.Popen(_command(out) + ["--steps", "200"], preexec_fn=interruptible,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    end = time.monotonic() + 60
    while len(_complete_records(out)) < 2 and p.poll() is None and time.monotonic() < end:
        time.sleep(0.01)
    workers = _children(p.pid) or []
    os.killpg(p.pid, signal.SIGINT)                        # Ctrl-C reaches the whole process group
    _, err = p.communicate(timeout=30)
    lines = err.strip().splitlines()
    assert p.returncode == 130 and "Traceback" not in err and "Aborted!" not in err, err
    assert lines[-1].startswith("interrupted; ") and lines[-1].endswith(
        "run the same command again to run the rest"), err   # one line saying what the file holds
    assert sum(line.startswith("interrupted") for line in lines) == 1, err
    assert _gone(workers), f"worker processes {workers} outlived Ctrl-C"
    stopped = _complete_records(out)
    assert 2 <= len(stopped) < 24
    subprocess.run(_command(out) + ["--steps", "200"], check=True, capture_output=True,
                   timeout=120)
    final = _complete_records(out)
    assert len(final) == 24 and len({r["key"] for r in final}) == 24
    assert final[:len(stopped)] == stopped                 # what was there is kept, not redone
