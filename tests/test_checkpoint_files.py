"""Checkpoints and output files: files a user hands us, outputs that cannot be written, two runs on
one checkpoint, symbolic links, the umask, and the size of a save late in a long run.

Every refusal is exit 2 with one `Error:` line naming the file (CLI) or a CheckpointError naming it
(library). Faults are injected: crafted checkpoint files made here from a real one, a read-only
folder simulated by refusing writes there (as root a chmod would not stop anything), a full disk
(/dev/full, an ENOSPC injected into a save), a live writer's temporary file held locked by this test.
"""
import errno
import json
import os
import subprocess
import sys
import time
import tracemalloc
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner

from minigumbel import checkpoint as C
from minigumbel.checkpoint import CheckpointError, CheckpointLock, load_checkpoint
from minigumbel.train import Run, TrainConfig, train
from minigumbel_cli.main import main

FAST = ["--steps", "30", "--eval-every", "10", "--eval-size", "50", "--batch-size", "8", "--hidden", "8", "--quiet"]


def run(*args):
    return CliRunner().invoke(main, list(args))


def _one_error_line(r, *needles):
    assert r.exit_code == 2 and isinstance(r.exception, SystemExit), (r.output, r.exception)
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), r.output
    for needle in needles:
        assert needle in lines[0], (needle, r.output)
    assert "Traceback" not in r.output and "allow_pickle" not in r.output
    return lines[0]


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A real checkpoint (30 steps of the FAST run) and its parts: (path, arrays, meta)."""
    path = tmp_path_factory.mktemp("good") / "run.npz"
    r = run("train", *FAST, "--checkpoint", str(path))
    assert r.exit_code == 0, r.output
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if k != "meta"}
        meta = json.loads(str(z["meta"][()]))
    return path, arrays, meta


# ----------------------------------------------------------------------------- crafted checkpoints

def _meta(**change):
    def edit(arrays, meta):
        for k, v in change.items():
            if v is _DROP:
                meta.pop(k)
            else:
                meta[k] = v
    return edit


_DROP = object()
W = "param/score.W0"                                        # the first layer's weights


def _set(name, value):
    def edit(arrays, meta):
        arrays[name] = value(arrays[name]) if callable(value) else value
    return edit


def _drop(name):
    def edit(arrays, meta):
        del arrays[name]
    return edit


def _opt(**change):
    def edit(arrays, meta):
        meta["optimizer"].update(change)
    return edit


def _rng(**change):
    def edit(arrays, meta):
        meta["rng_state"].update(change)
    return edit


def _hist(**change):
    def edit(arrays, meta):
        meta["history"].update(change)
    return edit


def _raw(data):
    return lambda arrays, meta: data


def _zip(**members):
    """A zip of the given raw members (name: bytes)."""
    def edit(arrays, meta):
        import io
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for name, data in members.items():
                zf.writestr(name, data)
        return buf.getvalue()
    return edit


def _npy(arr):
    import io
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _meta_text(text):
    def edit(arrays, meta):
        arrays["meta"] = np.array(text)
    return edit


def _deep(arrays, meta):
    arrays["meta"] = np.array("[" * 100_000 + "]" * 100_000)


# name -> (edit, what the one error line must say besides the file's name)
CRAFTED = {
    # metadata: wrong types, missing keys, out of range
    "config-list": (_meta(config=[]), "config must be a JSON object"),
    "config-missing": (_meta(config=_DROP), "missing config"),
    "config-empty": (_meta(config={}), "lacks"),
    "config-unknown-field": (lambda a, m: m["config"].update(colour="red"), "unknown fields colour"),
    "config-other-lr": (lambda a, m: m["config"].update(lr=0.5), "different config"),
    "step-1e30": (_meta(step=1e30), "step must be an integer"),
    "step-20.7": (_meta(step=20.7), "step must be an integer"),
    "step-negative": (_meta(step=-1), "step must be an integer >= 0"),
    "step-text": (_meta(step="30"), "step must be an integer"),
    "step-bool": (_meta(step=True), "step must be an integer"),
    "step-huge-int": (_meta(step=10 ** 30), "already at step"),
    "step-not-the-history": (_meta(step=25), "history/loss"),
    "optimizer-5": (_meta(optimizer=5), "optimizer must be a JSON object"),
    "optimizer-empty": (_meta(optimizer={}), "optimizer must be a JSON object"),
    "optimizer-sgd": (_opt(name="sgd"), "optimizer"),
    "optimizer-step-other": (_opt(step=29), "optimizer is at step 29"),
    "optimizer-lr-text": (_opt(lr="x"), "optimizer lr"),
    "optimizer-betas-short": (_opt(betas=[0.9]), "betas"),
    "optimizer-betas-out-of-range": (_opt(betas=[2.0, 0.5]), "betas"),
    "optimizer-buffers-5": (_meta(optimizer_buffers=5), "optimizer_buffers"),
    "optimizer-buffers-without-v": (lambda a, m: [m.update(optimizer_buffers=["m"]),
                                                  [a.pop(k) for k in list(a) if k.startswith("opt/v/")]],
                                    "buffer 'v' holds nothing"),
    "optimizer-buffer-not-adams": (lambda a, m: m["optimizer_buffers"].append("w"), "not adam's"),
    "history-dict-empty": (_meta(history={}), "history is malformed"),
    "history-list": (_meta(history=[]), "history is malformed"),
    "history-evals-negative": (_hist(evals=-1), "history is malformed"),
    "history-metrics-5": (_hist(metrics=5), "history is malformed"),
    "rng-empty": (_meta(rng_state={}), "rng_state"),
    "rng-mt19937": (_rng(bit_generator="MT19937"), "rng_state"),
    "rng-float-state": (lambda a, m: m["rng_state"]["state"].update(state=1.5), "rng_state"),
    "rng-none": (_meta(rng_state=None), "rng_state"),
    "extra-list": (_meta(extra=[]), "extra must be a JSON object"),
    "extra-running-text": (_meta(extra={"running": "x"}), "running"),
    "format-other": (_meta(format="something-else"), "not a minigumbel checkpoint"),
    "version-3": (_meta(version=3), "format version 3"),
    "meta-without-step": (_meta(step=_DROP), "missing step"),
    "meta-not-json": (_meta_text("{not json"), "not JSON"),
    "meta-json-list": (_meta_text("[]"), "not a minigumbel checkpoint"),
    "meta-nested-1e5-deep": (_deep, "not JSON"),
    "meta-numbers": (_set("meta", np.zeros(3)), "metadata is not one JSON text"),
    # members: missing, unexpected, wrong kind, wrong shape, non-finite
    "adam-buffer-missing": (_drop("opt/m/score.W0"), "buffer 'm' holds"),
    "param-missing": (_drop(W), "missing param/score.W0"),
    "param-extra": (_set("param/zzz", np.zeros(3)), "not a parameter of this model"),
    "member-unexpected": (_set("foo", np.zeros(3)), "unexpected member 'foo'"),
    "param-complex": (_set(W, lambda w: w.astype(np.complex128)), "complex128"),
    "param-datetime": (_set(W, lambda w: np.zeros(w.shape, "datetime64[s]")), "datetime64"),
    "param-structured": (_set(W, lambda w: np.zeros(w.shape, [("a", "f8"), ("b", "f8")])), "records"),
    "param-object-pickle": (_set(W, lambda w: w.astype(object)), "objects or records"),
    "param-float32": (_set(W, lambda w: w.astype(np.float32)), "float32"),
    "param-int": (_set(W, lambda w: w.astype(np.int64)), "int64"),
    "param-wrong-shape": (_set(W, lambda w: np.zeros((3, 3))), "(3, 3)"),
    "param-nan": (_set(W, lambda w: np.where(w == w.flat[0], np.nan, w)), "non-finite"),
    "param-inf": (_set(W, lambda w: np.full_like(w, np.inf)), "non-finite"),
    "adam-v-negative": (_set("opt/v/score.W0", lambda v: -np.ones_like(v)), "negative"),
    "history-loss-short": (_set("history/loss", lambda h: h[:-1]), "history/loss"),
    "history-loss-nan": (_set("history/loss", lambda h: np.where(np.arange(h.size) == 3, np.nan, h)), "loss history"),
    "history-tau-zero": (_set("history/tau", lambda h: np.zeros_like(h)), "τ history"),
    "history-eval-steps-backwards": (_set("history/eval/step", lambda s: s[::-1].copy()), "evaluation history"),
    "history-loss-int": (_set("history/loss", lambda h: h.astype(np.int64)), "history/loss"),
    # not a checkpoint at all
    "not-a-zip": (_raw(b"minigumbel checkpoint? no" * 10), "not a zip"),
    "empty": (_raw(b""), "not a zip"),
    "a-single-npy": (lambda a, m: _npy(np.zeros(3)), "not a zip"),
    "zip-of-text": (_zip(**{"readme.txt": b"hello"}), "unexpected member 'readme.txt'"),
    "zip-bad-npy-magic": (_zip(**{"meta.npy": b"\x93NUMPX" + b"\0" * 40}), "not a readable .npy"),
    "zip-npy-size-lies": (_zip(**{"meta.npy": _npy(np.array("{}"))[:-4]}), "inconsistent"),
    "zip-without-meta": (_zip(**{"x.npy": _npy(np.zeros(3))}), "no metadata"),
}


def _craft(good, edit, path):
    _, arrays, meta = good
    arrays, meta = {k: v.copy() for k, v in arrays.items()}, json.loads(json.dumps(meta))
    data = edit(arrays, meta)
    if isinstance(data, bytes):
        path.write_bytes(data)
        return
    arrays.setdefault("meta", np.array(json.dumps(meta)))
    with open(path, "wb") as f:
        np.savez(f, **arrays)


@pytest.mark.parametrize("name", CRAFTED)
def test_a_crafted_checkpoint_is_one_clear_error_naming_the_file(good, tmp_path, name):
    edit, needle = CRAFTED[name]
    bad = tmp_path / f"{name}.npz"
    _craft(good, edit, bad)
    _one_error_line(run("train", *FAST, "--steps", "40", "--resume", str(bad)), str(bad), needle)


def test_the_crafting_itself_is_sound(good, tmp_path):
    """Negative control: the crafting with no edit gives a checkpoint that resumes."""
    ok = tmp_path / "ok.npz"
    _craft(good, lambda a, m: None, ok)
    assert run("train", *FAST, "--steps", "40", "--resume", str(ok)).exit_code == 0


def test_a_folder_given_as_checkpoint_is_refused(tmp_path):
    _one_error_line(run("train", *FAST, "--resume", str(tmp_path)), str(tmp_path))


def test_a_compression_bomb_is_refused_from_its_header_before_its_data_is_read(good, tmp_path):
    """A 200 MB parameter compressed to ~200 KB: refused from its .npy header, without inflating it
    (the peak of Python/NumPy allocations stays far below the member's size)."""
    _, arrays, meta = good
    bomb = tmp_path / "bomb.npz"
    shape = (5000, 5000)                                       # float64: 200 MB
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        for k, v in {**arrays, "meta": np.array(json.dumps(meta))}.items():
            if k != W:
                zf.writestr(k + ".npy", _npy(v))
        with zf.open(W + ".npy", "w", force_zip64=True) as f:
            header = {"descr": "<f8", "fortran_order": False, "shape": shape}
            np.lib.format.write_array_header_2_0(f, header)
            chunk = bytes(2 ** 20)
            for _ in range(200):
                f.write(chunk)
    assert bomb.stat().st_size < 2e6
    tracemalloc.start()
    try:
        r = run("train", *FAST, "--steps", "40", "--resume", str(bomb))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    _one_error_line(r, str(bomb), "(5000, 5000)")
    assert peak < 20e6, f"{peak / 1e6:.0f} MB allocated reading the bomb"


def test_an_evaluation_history_bomb_is_refused_before_its_data_is_read(good, tmp_path):
    """The evaluation history's length comes from the metadata, not from the model: a checkpoint at
    step 30 claiming 10^6 evaluations (8 MB per metric, compressed to ~8 KB each; 10^8 would be
    800 MB each and gigabytes of Python objects) is refused from its metadata (at most one
    evaluation per step, step 0 included), without inflating it."""
    _, arrays, meta = good
    evals = 1_000_000
    meta = {**meta, "history": {**meta["history"], "evals": evals}}
    bomb = tmp_path / "evals.npz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        for k, v in {**arrays, "meta": np.array(json.dumps(meta))}.items():
            if not k.startswith("history/eval/"):
                zf.writestr(k + ".npy", _npy(v))
        for k in [m for m in arrays if m.startswith("history/eval/")]:
            with zf.open(k + ".npy", "w", force_zip64=True) as f:
                header = {"descr": "<i8" if k.endswith("/step") else "<f8", "fortran_order": False,
                          "shape": (evals,)}
                np.lib.format.write_array_header_2_0(f, header)
                chunk = bytes(2 ** 22)
                for _ in range(evals * 8 // 2 ** 22):
                    f.write(chunk)
                f.write(bytes(evals * 8 % 2 ** 22))
    assert bomb.stat().st_size < 1e6
    tracemalloc.start()
    try:
        r = run("train", *FAST, "--steps", "40", "--resume", str(bomb))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    _one_error_line(r, str(bomb), "evaluations")
    assert peak < 4e6, f"{peak / 1e6:.0f} MB allocated reading the bomb"


def test_a_version_1_checkpoint_still_resumes_to_the_same_numbers(good, tmp_path):
    """Version 1 kept the history as JSON text in the metadata; such files still resume."""
    path, arrays, meta = good
    hist = load_checkpoint(path)["history"]
    old = {k: v for k, v in arrays.items() if not k.startswith("history/")}
    old_meta = {**meta, "version": 1, "history": {"config": meta["config"], **hist}}
    v1 = tmp_path / "v1.npz"
    np.savez(v1, **old, meta=np.array(json.dumps(old_meta)))
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert run("train", *FAST, "--steps", "40", "--resume", str(v1), "--json", str(a)).exit_code == 0
    assert run("train", *FAST, "--steps", "40", "--json", str(b)).exit_code == 0
    ha, hb = json.loads(a.read_text()), json.loads(b.read_text())
    assert ha["loss"] == hb["loss"] and ha["eval"] == hb["eval"]


# ----------------------------------------------------------------------------- outputs

@pytest.fixture
def read_only(monkeypatch):
    """Make a folder behave as on a read-only file system: creating or writing a file there is
    EROFS (injected at os.open and open, since as root a chmod would not stop anything)."""
    folders = []
    real_os_open, real_open = os.open, open
    writing = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

    def inside(path):
        return os.path.dirname(os.path.abspath(os.fspath(path))) in folders

    def os_open(path, flags, *a, **kw):
        if flags & writing and inside(path):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))
        return real_os_open(path, flags, *a, **kw)

    def builtin_open(file, mode="r", *a, **kw):
        if isinstance(file, (str, os.PathLike)) and set(mode) & set("wax+") and inside(file):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(file))
        return real_open(file, mode, *a, **kw)
    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr("builtins.open", builtin_open)
    return folders.append


@pytest.fixture
def no_training(monkeypatch):
    """Fails the test if training starts (the refusal must come before any computing)."""
    import minigumbel.train as T

    def refuse(*a, **kw):
        raise AssertionError("training started")
    monkeypatch.setattr(T, "run_training", refuse)


@pytest.mark.parametrize("option", ["--json", "--checkpoint"])
def test_an_output_in_a_read_only_folder_is_refused_before_training(tmp_path, read_only, no_training, option):
    folder = tmp_path / "ro"
    folder.mkdir()
    read_only(str(folder))
    out = folder / "out"
    _one_error_line(run("train", *FAST, option, str(out)), str(out), "Read-only file system")
    assert os.listdir(folder) == []


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="a chmod does not stop root")
@pytest.mark.parametrize("option", ["--json", "--checkpoint"])
def test_an_output_in_a_folder_without_write_permission_is_refused(tmp_path, no_training, option):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        _one_error_line(run("train", *FAST, option, str(folder / "out")), str(folder / "out"))
    finally:
        folder.chmod(0o755)


def test_a_checkpoint_whose_folder_is_read_only_is_refused_by_the_library(tmp_path, read_only):
    read_only(str(tmp_path))
    with pytest.raises(CheckpointError, match=f"cannot write the checkpoint {tmp_path / 'c.npz'}"):
        train(TrainConfig(steps=5, checkpoint=str(tmp_path / "c.npz")))


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_json_to_a_full_disk_prints_the_summary_then_one_error_naming_the_file():
    r = run("train", *FAST, "--json", "/dev/full")
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert "minigumbel train: argmax task" in lines[0] and "hard accuracy" in r.output
    assert lines[-1].startswith("Error:") and "/dev/full" in lines[-1] and "No space left" in lines[-1]
    assert sum(ln.startswith("Error:") for ln in lines) == 1 and "Traceback" not in r.output


def test_a_checkpoint_write_that_fails_midway_names_the_file(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    monkeypatch.setattr(C.os, "fsync", full)
    ck = tmp_path / "c.npz"
    _one_error_line(run("train", *FAST, "--checkpoint", str(ck)), f"cannot write the checkpoint {ck}",
                    "No space left")
    assert sorted(os.listdir(tmp_path)) == []               # no temporary file, no lock file left


@pytest.mark.parametrize("case", ["json=checkpoint", "json=resume", "json=checkpoint-through-a-link"])
def test_one_path_for_two_outputs_is_refused(good, tmp_path, case):
    ck = tmp_path / "c.npz"
    ck.write_bytes(good[0].read_bytes())
    before = ck.read_bytes()
    if case == "json=checkpoint":
        args = ["--json", str(ck), "--checkpoint", str(ck)]
    elif case == "json=resume":
        args = ["--steps", "40", "--json", str(ck), "--resume", str(ck)]
    else:
        (tmp_path / "link.npz").symlink_to(ck)
        args = ["--json", str(tmp_path / "link.npz"), "--checkpoint", str(ck)]
    _one_error_line(run("train", *FAST, *args), "--json and --", "same file")
    assert ck.read_bytes() == before


def test_checkpoint_and_resume_may_be_one_file(good, tmp_path):
    ck = tmp_path / "c.npz"
    ck.write_bytes(good[0].read_bytes())
    assert run("train", *FAST, "--steps", "40", "--checkpoint", str(ck), "--resume", str(ck)).exit_code == 0
    assert load_checkpoint(ck)["step"] == 40


def test_resume_with_steps_below_the_checkpoints_step_is_refused(good):
    _one_error_line(run("train", *FAST, "--steps", "20", "--resume", str(good[0])), str(good[0]),
                    "already at step 30, past steps = 20")
    # the same number of steps: nothing left to run, the run's result is reported (exit 0)
    assert run("train", *FAST, "--steps", "30", "--resume", str(good[0])).exit_code == 0


def test_a_symlinked_checkpoint_is_written_through_to_its_target(tmp_path):
    target, link = tmp_path / "store" / "c.npz", tmp_path / "c.npz"
    target.parent.mkdir()
    link.symlink_to(target)                                  # dangling until the first save
    assert run("train", *FAST, "--checkpoint", str(link)).exit_code == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert load_checkpoint(target)["step"] == 30
    assert run("train", *FAST, "--steps", "40", "--checkpoint", str(link), "--resume", str(link)).exit_code == 0
    assert link.is_symlink() and load_checkpoint(target)["step"] == 40
    assert sorted(os.listdir(target.parent)) == ["c.npz"] and sorted(os.listdir(tmp_path)) == ["c.npz", "store"]


def test_a_checkpoint_that_is_not_a_regular_file_is_refused_before_training(tmp_path, no_training):
    """Each save replaces the checkpoint's file: given a pipe or a device (`--checkpoint /dev/null`
    as root would replace /dev/null), the run is refused up front and the file is left alone."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    _one_error_line(run("train", *FAST, "--checkpoint", str(fifo)), str(fifo), "not a regular file")
    with pytest.raises(ValueError, match="not a regular file"):                      # the library too
        C.save_checkpoint(fifo, config={}, step=0, params={}, optimizer={}, rng_state={},
                          history={"loss": [], "tau": [], "eval": []})
    assert sorted(os.listdir(tmp_path)) == ["pipe"] and not fifo.is_file()


@pytest.mark.parametrize("umask,mode", [(0o077, 0o600), (0o002, 0o664), (0o022, 0o644)])
def test_a_checkpoint_follows_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        train(TrainConfig(steps=3, eval_every=3, eval_size=20, checkpoint=str(tmp_path / "c.npz")))
    finally:
        os.umask(old)
    assert (tmp_path / "c.npz").stat().st_mode & 0o777 == mode


# ----------------------------------------------------------------------------- two runs, one checkpoint

def test_a_second_run_on_a_checkpoint_in_use_is_refused(tmp_path, no_training):
    ck = tmp_path / "c.npz"
    with CheckpointLock(ck):                                 # as a running `train --checkpoint c.npz` holds it
        _one_error_line(run("train", *FAST, "--checkpoint", str(ck)), str(ck), "being written by another run",
                        f"process {os.getpid()}")
    assert not ck.exists()


@pytest.mark.slow                                            # two interpreters start: ~5-10 s here
def test_a_second_process_on_a_checkpoint_in_use_is_refused(tmp_path):
    ck = tmp_path / "c.npz"
    cmd = [sys.executable, "-m", "minigumbel_cli.main", "train", *FAST, "--checkpoint", str(ck)]
    first = subprocess.Popen([*cmd, "--steps", "100000"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not ck.exists() and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.05)                                 # the first run's first save
        assert ck.exists(), first.stderr.read() if first.poll() is not None else "no checkpoint after 60 s"
        second = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert second.returncode == 2 and second.stdout == "", second
        assert second.stderr.count("\n") == 1 and "being written by another run" in second.stderr, second.stderr
        assert f"process {first.pid}" in second.stderr and str(ck) in second.stderr
    finally:
        first.kill()
        first.wait()


def test_a_save_keeps_the_temporary_file_of_a_live_writer(tmp_path):
    """The stale-file cleanup of one save must not delete another writer's file mid-write: a temp
    file whose writer holds its lock stays; once the writer is gone, the next save removes it."""
    import fcntl
    live = tmp_path / ".c.npz.4242-abcd0123.tmp"              # the name _create_temp gives
    fd = os.open(live, os.O_WRONLY | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        train(TrainConfig(steps=4, eval_every=2, eval_size=20, checkpoint=str(tmp_path / "c.npz")))
        assert live.exists()
    finally:
        os.close(fd)                                         # the writer is gone
    train(TrainConfig(steps=4, eval_every=2, eval_size=20, checkpoint=str(tmp_path / "c.npz")))
    assert sorted(os.listdir(tmp_path)) == ["c.npz"]


def test_numpy_integers_in_the_config_checkpoint_and_resume_like_python_ints(tmp_path):
    """TrainConfig takes NumPy integers for its counts; the checkpoint (JSON metadata) must not
    fail at its first save, after the steps before it were computed."""
    ck = tmp_path / "c.npz"
    kw = dict(steps=4, eval_every=np.int64(2), eval_size=20, batch_size=np.int32(8), seed=np.int64(1))
    first = train(TrainConfig(**{**kw, "steps": np.int64(2)}, checkpoint=str(ck)))
    assert load_checkpoint(ck)["config"]["seed"] == 1 and first["steps_done"] == 2
    resumed = train(TrainConfig(**kw, resume=str(ck)))
    assert resumed["loss"] == train(TrainConfig(**{k: int(v) for k, v in kw.items()}))["loss"]


def test_a_save_never_touches_the_temporary_files_of_another_checkpoint(tmp_path):
    """The cleanup of `a.npz` matches its own temporary names only: `a.npz.x`'s writer creates its
    file before it can lock it, and in that moment a glob of `.a.npz.*.tmp` would take it too."""
    other = tmp_path / ".a.npz.x.4242-abcd0123.tmp"             # not yet locked by its writer
    other.write_bytes(b"")
    train(TrainConfig(steps=2, eval_every=2, eval_size=20, checkpoint=str(tmp_path / "a.npz")))
    assert other.exists()


# ----------------------------------------------------------------------------- size of a late save

def test_a_save_late_in_a_long_run_stores_the_history_as_floats(tmp_path):
    """10⁵ steps of history: 16 bytes a step (loss and τ as float64), not JSON text (~100 bytes a
    step as a NumPy unicode string); it reads back equal."""
    steps = 100_000
    run_ = Run(TrainConfig(steps=steps, eval_size=20))
    rng = np.random.default_rng(0)
    run_.history["loss"] = rng.random(steps).tolist()
    run_.history["tau"] = (rng.random(steps) + 0.5).tolist()
    run_.history["eval"] = [{"step": s, "soft_loss": float(rng.random()), "accuracy": float(rng.random()),
                             "hard_loss": float(rng.random())} for s in range(0, steps + 1, 100)]
    run_.step = run_.optimizer.t = steps
    for k, v in run_.params.items():                         # as after a step: Adam's moments filled
        run_.optimizer.m[k], run_.optimizer.v[k] = np.zeros_like(v), np.zeros_like(v)
    path = tmp_path / "c.npz"
    run_.save(path)
    size = path.stat().st_size
    assert size < 16 * steps + 200_000, f"{size / 1e6:.2f} MB"
    back = load_checkpoint(path)["history"]
    assert back["loss"] == run_.history["loss"] and back["tau"] == run_.history["tau"]
    assert back["eval"] == run_.history["eval"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="a chmod does not stop root")
def test_an_unreadable_checkpoint_names_the_file_and_the_reason(good, tmp_path):
    ck = tmp_path / "c.npz"
    ck.write_bytes(good[0].read_bytes())
    ck.chmod(0)
    _one_error_line(run("train", *FAST, "--steps", "40", "--resume", str(ck)),
                    f"cannot read the checkpoint {ck}: Permission denied")


@pytest.mark.parametrize("where", ["right after the temporary file is created", "while it is being locked"])
def test_an_interrupt_while_the_temporary_file_is_made_leaves_no_temporary_file(tmp_path, monkeypatch, where):
    """Ctrl-C lands between two bytecodes: right after os.open created the temporary file, before
    its name was noted for the clean-up, the file stayed behind (tests/test_cli_signals.py saw
    `.c.npz.PID-XXXX.tmp` after a SIGINT). The interrupt is injected at each such point."""
    real_open, real_flock = os.open, C.fcntl.flock if C.fcntl else None

    def open_then_interrupt(path, flags, *a, **kw):
        fd = real_open(path, flags, *a, **kw)
        if where.startswith("right after") and str(path).endswith(".tmp"):
            raise KeyboardInterrupt
        return fd

    class Fcntl:                                                  # flock of the temporary file interrupted
        LOCK_EX, LOCK_NB, LOCK_UN = C.fcntl.LOCK_EX, C.fcntl.LOCK_NB, C.fcntl.LOCK_UN

        @staticmethod
        def flock(fd, op):
            if where.startswith("while") and os.readlink(f"/proc/self/fd/{fd}").endswith(".tmp"):
                raise KeyboardInterrupt
            return real_flock(fd, op)

    if C.fcntl is None or not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs fcntl and /proc (Linux)")
    monkeypatch.setattr(C.os, "open", open_then_interrupt)
    monkeypatch.setattr(C, "fcntl", Fcntl)
    with pytest.raises(KeyboardInterrupt):
        C.save_checkpoint(tmp_path / "c.npz", config={}, step=0, params={}, optimizer={}, rng_state={},
                          history={"loss": [], "tau": [], "eval": []})
    monkeypatch.undo()
    assert [n for n in os.listdir(tmp_path) if n.endswith(".tmp")] == []
