"""Ctrl-C and SIGTERM, sent as real signals to a real `minigumbel` process.

The convention (docs/reliability.md, "The command line"): exit status 128 + the signal (130 for
SIGINT, 143 for SIGTERM); one line on stderr saying where the run stands and how to resume it; the
partial --json history written; no traceback, no "Aborted!", no temporary file, no leaked
semaphore (the sweep's worker pool is shut down before the process exits).
"""
import glob
import json
import os
import pty
import re
import signal
import subprocess
import sys
import time

import pytest

from minigumbel.checkpoint import load_checkpoint

# a small pointer-task run that would take minutes to finish: it is always interrupted
TRAIN = ["train", "--steps", "1000000", "--batch-size", "8", "--hidden", "8", "--n-items", "4",
         "--eval-size", "50", "--eval-every", "20", "--checkpoint", "c.npz", "--json", "h.json"]


def _start(args, cwd, **kw):
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen([sys.executable, "-m", "minigumbel_cli.main", *args], cwd=cwd, text=True,
                            start_new_session=True, **kw)     # its own process group, as a terminal's job


def _wait_for(condition, proc, timeout=120):
    end = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"exited early with {proc.returncode}: {proc.communicate()}"
        assert time.monotonic() < end, "timed out waiting for the run to get going"
        time.sleep(0.05)


def _send(proc, sig):
    """SIGINT as a terminal sends it (to the whole process group); SIGTERM as `kill PID` does."""
    if sig == signal.SIGINT:
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_train_interrupted_says_where_it_stands_writes_the_history_and_resumes(sig, tmp_path):
    p = _start(TRAIN, tmp_path)
    _wait_for(lambda: (tmp_path / "c.npz").exists(), p)          # at least one checkpoint on disk
    time.sleep(0.3)
    _send(p, sig)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 128 + sig, (p.returncode, err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err                                   # one line, nothing else
    m = re.fullmatch(r"interrupted at step (\d+); checkpoint c\.npz holds step (\d+); "
                     r"resume with `--resume c\.npz`; the history so far is in h\.json", lines[0])
    assert m, lines[0]
    step, saved = int(m.group(1)), int(m.group(2))
    assert 20 <= saved <= step and saved % 20 == 0
    assert load_checkpoint(tmp_path / "c.npz")["step"] == saved   # the line tells the truth
    hist = json.loads((tmp_path / "h.json").read_text())
    assert hist["interrupted"] is True and hist["steps_done"] == step
    assert len(hist["loss"]) == len(hist["tau"]) == step
    assert not glob.glob(str(tmp_path / ".c.npz.*.tmp")), os.listdir(tmp_path)   # no temporary file left
    # the line's advice works: the same command with --resume continues from the checkpoint
    args = [a if a != "1000000" else str(saved + 5) for a in TRAIN] + ["--resume", "c.npz", "-q"]
    r = subprocess.run([sys.executable, "-m", "minigumbel_cli.main", *args], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "h.json").read_text())["steps_done"] == saved + 5


def test_sigterm_ends_the_progress_bar_line_first(tmp_path):
    """On a terminal the progress bar is drawn; the interrupt line starts a line of its own."""
    leader, follower = pty.openpty()
    p = _start(TRAIN, tmp_path, stderr=follower)
    os.close(follower)
    _wait_for(lambda: (tmp_path / "c.npz").exists(), p)
    time.sleep(0.3)
    p.send_signal(signal.SIGTERM)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:                        # EIO: the child closed its end
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    p.wait(timeout=60)
    text = b"".join(chunks).decode(errors="replace")
    assert p.returncode == 143
    assert "argmax/gumbel" in text                               # the bar was drawn
    assert re.search(r"\n(\x1b\[\?25h)?interrupted at step \d+; checkpoint c\.npz", text.replace("\r\n", "\n")), text[-400:]
    assert "Traceback" not in text


def test_a_second_ctrl_c_during_the_clean_up_exits_at_once_without_a_traceback(tmp_path):
    p = _start(TRAIN, tmp_path)
    _wait_for(lambda: (tmp_path / "c.npz").exists(), p)
    os.killpg(p.pid, signal.SIGINT)
    os.killpg(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "Traceback" not in err and "Aborted" not in err and "KeyboardInterrupt" not in err, err


def test_train_without_checkpoint_says_so(tmp_path):
    args = [a for a in TRAIN if a not in ("--checkpoint", "c.npz")]
    p = _start(args, tmp_path)
    time.sleep(3.0)                                              # imports, data, the first steps
    assert p.poll() is None
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 143, err
    assert re.fullmatch(r"interrupted at step \d+; no checkpoint \(--checkpoint FILE makes a run resumable\); "
                        r"the history so far is in h\.json\n", err), err


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_sweep_interrupted_stops_its_workers_and_leaks_nothing(sig, tmp_path):
    args = ["sweep", "--steps", "150", "--batch-size", "8", "--hidden", "8", "--n-items", "4",
            "--eval-size", "50", "--seeds", "40", "--workers", "2", "--out", "r.jsonl"]
    p = _start(args, tmp_path, env={**os.environ, "PYTHONWARNINGS": "default"})
    out_file = tmp_path / "r.jsonl"
    _wait_for(lambda: out_file.exists() and out_file.read_bytes().count(b"\n") >= 1, p)
    _send(p, sig)
    out, err = p.communicate(timeout=60)                         # waits for every writer of stderr
    assert p.returncode == 128 + sig, (p.returncode, err)
    held = out_file.read_bytes().count(b"\n")
    assert err == f"interrupted; r.jsonl holds {held} of 40 runs; run the same command again to run the rest\n", err
    assert "leaked" not in err and "Traceback" not in err and "semaphore" not in err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_an_interrupt_whose_history_cannot_be_written_still_says_where_the_run_stands(tmp_path):
    """--json on a full disk: the interrupt line still names the checkpoint and how to resume, says
    the history was not written, and the exit status stays 143 (it was 'Error: cannot write', 2)."""
    args = [a if a != "h.json" else "/dev/full" for a in TRAIN]
    p = _start(args, tmp_path)
    _wait_for(lambda: (tmp_path / "c.npz").exists(), p)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 143, err
    assert re.fullmatch(r"interrupted at step \d+; checkpoint c\.npz holds step \d+; resume with `--resume c\.npz`; "
                        r"the history so far could not be written: .*cannot write /dev/full: No space left on device\n",
                        err), err
