"""Sweeps under faults: a disk that fills mid-record, a worker process killed, results files edited
by hand or by other tools. Every failure is one `Error:` line (exit 2) or a run recorded as failed;
nothing is lost that was written whole, and the same command resumes."""
import ast
import errno
import json
import os

import pytest
from click.testing import CliRunner

from minigumbel import sweep
from minigumbel_cli.main import main

TINY = dict(task="argmax", steps=20, eval_every=20, eval_size=40, batch_size=8, hidden=8, n_items=4)
GRID = {"estimator": ["gumbel", "st"]}
CLI_GRID = ["--task", "argmax", "--steps", "20", "--eval-every", "20", "--eval-size", "40", "--batch-size", "8",
            "--hidden", "8", "--n-items", "4", "--seeds", "2", "--grid", "estimator=gumbel,st"]
CLI_TINY = CLI_GRID + ["--workers", "1"]


def _configs(seeds=(0, 1)):
    return sweep.expand(TINY, GRID, seeds)


def _lines(path):
    return [json.loads(line) for line in path.read_bytes().split(b"\n")[:-1]]


def run(*args):
    return CliRunner().invoke(main, list(args))


def _one_error_line(result):
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("Error:") and "Traceback" not in result.output, result.output
    return lines[0]


# ----------------------------------------------------------------------------- a disk that fills

class Disk:
    """os.write as a filling disk sees it, for record lines only: the ``short``-th record line is
    written in part (``part`` bytes), and then ``full`` further writes fail with ENOSPC."""

    def __init__(self, monkeypatch, short, part=25, full=0, fsync_fails_at=None):
        self.real_write, self.real_fsync = os.write, os.fsync
        self.records, self.short, self.part, self.full = 0, short, part, full
        self.fsyncs, self.fsync_fails_at = 0, fsync_fails_at
        monkeypatch.setattr(os, "write", self.write)
        monkeypatch.setattr(os, "fsync", self.fsync)

    def write(self, fd, data):
        if bytes(data[:7]) == b'{"key":':
            self.records += 1
            if self.records == self.short:
                return self.real_write(fd, bytes(data[:self.part]))
        elif self.records >= self.short and self.full > 0:      # the rest of the cut line
            self.full -= 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.real_write(fd, data)

    def fsync(self, fd):
        self.fsyncs += 1
        if self.fsyncs == self.fsync_fails_at:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return self.real_fsync(fd)


@pytest.fixture(scope="module")
def reference():
    records, _ = sweep.run_grid(_configs())
    return {r["key"]: r["metrics"] for r in records}


def test_a_short_write_whose_rest_goes_through_leaves_a_whole_line(tmp_path, monkeypatch, reference):
    # space came back between the two writes: the rest of the line is written, nothing is glued to it
    out = tmp_path / "runs.jsonl"
    Disk(monkeypatch, short=2)
    sweep.run_grid(_configs(), out=out)
    monkeypatch.undo()
    assert {r["key"]: r["metrics"] for r in _lines(out)} == reference and out.read_bytes().endswith(b"\n")
    assert sweep.run_grid(_configs(), out=out)[1]["ran"] == 0           # the file reads back whole


def test_a_full_disk_mid_record_cuts_back_to_the_last_whole_line_and_resumes(tmp_path, monkeypatch, reference):
    out = tmp_path / "runs.jsonl"
    Disk(monkeypatch, short=3, full=1)
    with pytest.raises(sweep.ResultsFileError, match="cannot write to .*runs.jsonl.*No space left") as info:
        sweep.run_grid(_configs(), out=out)
    assert "2 runs recorded" in str(info.value)
    monkeypatch.undo()
    kept = _lines(out)
    assert len(kept) == 2 and out.read_bytes().endswith(b"\n")         # no partial line left behind
    records, info = sweep.run_grid(_configs(), out=out)                 # space is back: the same call
    assert (info["done_before"], info["ran"], info["torn"]) == (2, 2, 0)
    assert _lines(out)[:2] == kept
    assert {r["key"]: r["metrics"] for r in _lines(out)} == reference


def test_a_failed_fsync_takes_the_record_back(tmp_path, monkeypatch):
    out = tmp_path / "runs.jsonl"
    disk = Disk(monkeypatch, short=0, fsync_fails_at=2)                  # the second record's fsync
    with pytest.raises(sweep.ResultsFileError, match="Input/output error"):
        sweep.run_grid(_configs(), out=out)
    assert disk.records == 2
    monkeypatch.undo()
    assert len(_lines(out)) == 1 and out.read_bytes().endswith(b"\n")


def test_the_cli_stops_with_one_error_line_naming_the_file_and_the_same_command_completes(tmp_path, monkeypatch):
    out = tmp_path / "runs.jsonl"
    Disk(monkeypatch, short=2, full=1)
    line = _one_error_line(run("sweep", *CLI_TINY, "-q", "--out", str(out)))
    assert str(out) in line and "No space left on device" in line and "run the same command again" in line
    monkeypatch.undo()
    assert len(_lines(out)) == 1
    again = run("sweep", *CLI_TINY, "--out", str(out), "--json", "-")
    assert again.exit_code == 0, again.output
    assert "1 of 4 runs were already there, 3 ran now" in again.stderr
    assert len(_lines(out)) == 4


@pytest.mark.parametrize("command", ["sweep", "compare"])
def test_json_naming_the_results_file_is_refused_before_any_run(tmp_path, command):
    """--json F --out F would overwrite the results (every run) with the summary at the end."""
    out = tmp_path / "runs.jsonl"
    assert run("sweep", *CLI_TINY, "-q", "--out", str(out)).exit_code == 0
    kept = out.read_bytes()
    (tmp_path / "link.jsonl").symlink_to(out)
    args = CLI_TINY if command == "sweep" else [a for a in CLI_TINY if a not in ("--grid", "estimator=gumbel,st")]
    for json_path in (out, tmp_path / "link.jsonl"):
        line = _one_error_line(run(command, *args, "-q", "--out", str(out), "--json", str(json_path)))
        assert "--json and --out name the same file" in line and str(json_path) in line, line
    assert out.read_bytes() == kept


@pytest.mark.parametrize("command", ["sweep --out", "train --resume", "plot training --from"])
def test_a_pipe_given_as_a_file_to_read_is_refused_not_waited_on(tmp_path, command):
    """A results file, a checkpoint and a run file are read back whole: a named pipe would block
    the read forever (and the sweep's report of an interrupt read it again). One Error line."""
    import subprocess
    import sys
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    args = command.split() + [str(fifo)]
    args += CLI_TINY[:-2] if args[0] == "sweep" else ["--steps", "2"] if args[0] == "train" else \
        ["--out", str(tmp_path / "f.png")]
    p = subprocess.run([sys.executable, "-m", "minigumbel_cli.main", *args, "-q"], capture_output=True,
                       text=True, timeout=60)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2 and len(lines) == 1 and lines[0].startswith("Error:"), p.stderr
    assert str(fifo) in lines[0] and "not a regular file" in lines[0], lines[0]


# ----------------------------------------------------------------------------- a worker killed

def test_a_killed_worker_costs_only_its_run_and_the_rest_of_the_grid_completes(tmp_path, monkeypatch, reference):
    # the second config's worker SIGKILLs itself when handed it (as the OOM killer would kill it),
    # while the first worker is in the middle of the first config
    configs = _configs()
    doomed = sweep.run_key(configs[1])
    monkeypatch.setenv(sweep.FAULT_KILL_VAR, doomed)
    out = tmp_path / "runs.jsonl"
    records, info = sweep.run_grid(configs, out=out, workers=2)
    assert info["ran"] == 4
    failed = [r for r in records if r["error"]]
    assert [r["key"] for r in failed] == [doomed]
    assert failed[0]["error"] == "WorkerDied: the worker process running this run was killed by SIGKILL (out of memory?)"
    assert {r["key"]: r["metrics"] for r in records if not r["error"]} == \
        {k: m for k, m in reference.items() if k != doomed}               # the other runs, in flight or not
    assert len(_lines(out)) == 4
    monkeypatch.delenv(sweep.FAULT_KILL_VAR)
    records, info = sweep.run_grid(configs, out=out, workers=2, retry_failed=True)
    assert (info["retried"], info["ran"]) == (1, 1)
    assert {r["key"]: r["metrics"] for r in records} == reference


def test_the_cli_reports_a_killed_worker_as_a_failed_run_not_a_traceback(tmp_path, monkeypatch):
    configs = _configs()
    monkeypatch.setenv(sweep.FAULT_KILL_VAR, sweep.run_key(configs[2]))     # estimator st, seed 0
    r = run("sweep", *CLI_TINY, "-q", "--workers", "2")
    assert r.exit_code == 0 and "Traceback" not in r.output, r.output
    assert "failed: estimator=st seed 0: WorkerDied: the worker process running this run was killed by SIGKILL " \
           "(out of memory?)" in r.output.splitlines()


# ----------------------------------------------------------------------------- not a Dask scheduler

@pytest.fixture
def silent_http_server():
    """An HTTP server on 127.0.0.1: it answers Dask's handshake with "400 Bad Request", if at all."""
    import http.server
    import threading
    class Quiet(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass
    server = http.server.HTTPServer(("127.0.0.1", 0), Quiet)
    server.timeout = 0.1
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def _refused_port():
    import socket
    with socket.socket() as s:                  # bound, never listening: connecting is refused
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("kind", ["http", "refused", "tls", "inproc", "bad-port"])
def test_anything_but_a_dask_scheduler_is_one_error_line_within_the_timeout(kind, silent_http_server):
    import time
    pytest.importorskip("distributed", reason="the 'cluster' extra (dask distributed)")
    address = {"http": silent_http_server, "refused": f"tcp://127.0.0.1:{_refused_port()}",
               "tls": "tls://127.0.0.1:1", "inproc": "inproc://x", "bad-port": "tcp://127.0.0.1:99999"}[kind]
    t0 = time.monotonic()
    r = run("sweep", *CLI_GRID, "-q", "--scheduler", address, "--scheduler-timeout", "0.5")
    took = time.monotonic() - t0
    line = _one_error_line(r)
    assert line.startswith(f"Error: cannot reach the Dask scheduler at {address} ("), line
    assert took < 5, f"{kind}: {took:.1f} s"                 # 0.5 s timeout (+ importing distributed)
    if kind == "http":      # which of the two depends on the Python: seen 3.11 and 3.13 time out, 3.10 reads a frame
        assert ("no Dask scheduler answered within 0.5 s" in line
                or "the server answered, but not as a Dask scheduler" in line), line
    if kind == "refused":
        assert "refused" in line.lower()


def test_scheduler_timeout_applies_with_a_scheduler_only():
    line = _one_error_line(run("sweep", *CLI_TINY, "--scheduler-timeout", "3"))
    assert "--scheduler-timeout" in line and "--scheduler only" in line


# ----------------------------------------------------------------------------- files edited by hand

def _record_line(cfg, **change):
    rec = {"key": sweep.run_key(cfg), "config": cfg, "metrics": {"accuracy": 1.0}, "error": None,
           "seconds": 0.1, "versions": {}}
    rec.update(change)
    return json.dumps(rec)


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("line,why", [
    (DEEP, "nested too deeply"),
    ('{"key": "k", "config": ' + DEEP + "}", "nested too deeply"),
    ("metrics='x'", "metrics (a run without an error) must be an object"),
    ("metrics={'accuracy': 'x'}", "metric 'accuracy' must be"),
    ("metrics={'accuracy': None}", "metric 'accuracy' must be"),
    ("metrics={'a/b': 1.0}", "without '/'"),
    ("metrics=None", "metrics (a run without an error) must be an object"),
    ("error=5", "its error must be a string"),
    ("error='E: x'", "a failed run has metrics"),
    ("seconds='x'", "seconds must be a number"),
    ("key=5", "the record.key must be a string"),
    ("config=[]", "the record.config must be an object"),
    ("[]", "the record must be an object"),
])
def test_an_edited_line_is_refused_naming_the_file_and_the_line(tmp_path, line, why):
    config = _configs()[0]
    if "=" in line and not line.startswith(("[", "{")):
        field, value = line.split("=", 1)
        line = _record_line(config, **{field: ast.literal_eval(value)})
    out = tmp_path / "runs.jsonl"
    out.write_text(line + "\n" + _record_line(_configs()[1]) + "\n")
    with pytest.raises(ValueError) as info:
        sweep.ResultsFile(out)
    msg = str(info.value)
    assert msg.startswith(f"{out} line 1 is not a sweep record (") and why in msg, msg


def test_the_cli_refuses_an_edited_results_file_with_one_error_line(tmp_path):
    out = tmp_path / "runs.jsonl"
    assert run("sweep", *CLI_TINY, "-q", "--out", str(out)).exit_code == 0
    lines = out.read_text().splitlines()
    rec = json.loads(lines[2])
    rec["metrics"] = "x"                                        # the key stays valid: it hashes the config
    out.write_text("\n".join(lines[:2] + [json.dumps(rec)] + lines[3:]) + "\n")
    line = _one_error_line(run("sweep", *CLI_TINY, "-q", "--out", str(out)))
    assert f"{out} line 3 is not a sweep record" in line


# ----------------------------------------------------------------------------- plot --from

@pytest.fixture(scope="module")
def train_json(tmp_path_factory):
    from minigumbel.train import TrainConfig, train
    hist = train(TrainConfig(task="argmax", steps=6, eval_every=3, eval_size=20, hidden=8, n_items=4))
    return json.loads(json.dumps(hist))


def _edit(hist, what):
    h = json.loads(json.dumps(hist))
    if what == "top-level list":
        return [h]
    if what == "deep":
        return DEEP
    path, value = what.split("=", 1)
    *parents, last = path.split(".")
    node = h
    for p in parents:
        node = node[int(p)] if p.isdigit() else node[p]
    if value == "DELETE":
        del node[int(last) if last.isdigit() else last]
    else:
        node[int(last) if last.isdigit() else last] = json.loads(value)
    return h


@pytest.mark.parametrize("what,needle", [
    ("top-level list", "must be an object"),
    ("deep", "nested too deeply"),
    ('loss="x"', "loss must be a non-empty list"),
    ('loss=[]', "loss must be a non-empty list"),
    ('loss.1="a"', "loss[1] must be a finite number"),
    ('loss.1=null', "loss[1] must be a finite number"),
    ('tau=[1.0]', "one entry per step"),
    ('tau.0="inf"', "tau[0] must be a finite number"),
    ('eval={}', "eval must be a non-empty list"),
    ('eval.0=5', "eval[0] must be an object"),
    ('eval.1.hard_loss=DELETE', "eval[1] has no 'hard_loss'"),
    ('eval.0.step="x"', "eval[0].step must be an integer"),
    ('eval.0.accuracy="x"', "eval[0].accuracy must be a finite number"),
    ('config=[]', "config must be an object"),
    ('config.tau="x"', "config.tau must be a finite number"),
    ('config.task=["argmax"]', "config.task must be a string"),
    ('config.task="vae"', "pointer-task runs"),
    ('config.estimator="\\udcff"', "a lone surrogate"),            # valid JSON, not text: no font draws it
    ('config.task="\\ud83d"', "a lone surrogate"),
])
def test_plot_from_an_edited_run_file_is_one_error_line_naming_the_file(tmp_path, train_json, what, needle):
    pytest.importorskip("matplotlib")
    bad = tmp_path / "run.json"
    edited = _edit(train_json, what)
    bad.write_text(edited if isinstance(edited, str) else json.dumps(edited))
    line = _one_error_line(run("plot", "training", "--from", str(bad), "--out", str(tmp_path / "f.png")))
    assert str(bad) in line and needle in line, line
    assert not (tmp_path / "f.png").exists()


def test_plot_from_the_run_file_as_written_still_draws(tmp_path, train_json):
    pytest.importorskip("matplotlib")
    good = tmp_path / "run.json"
    good.write_text(json.dumps(train_json))
    r = run("plot", "training", "--from", str(good), "--out", str(tmp_path / "f.png"), "-q")
    assert r.exit_code == 0 and (tmp_path / "f.png").stat().st_size > 1000, r.output


VAE_GRADIENTS = {"latents": 2, "classes": 2, "codes": 4, "images": 2, "samples": 4, "train_estimator": "st",
                 "seed": 0, "seeds": [0], "steps": [0, 1], "runs": [{"seed": 0, "exact_norm": [1.0, 2.0]}],
                 "rows": [{"seed": 0, "step": s, "estimator": "st", "tau": 1.0, "cosine": 0.5, "bias_norm": 0.1,
                           "bias_se": 0.01, "variance": 0.2, "mse": 0.21, "norm_ratio": 1.1} for s in (0, 1)]}


@pytest.mark.parametrize("what,needle", [
    ("top-level list", "must be an object"),
    ("deep", "nested too deeply"),
    ('rows="x"', "rows must be a non-empty list"),
    ('rows.0.cosine="x"', "rows[0].cosine must be a number"),
    ('rows.1.estimator=3', "rows[1].estimator must be a string"),
    ('rows.0.step=7', "rows[0] is for step 7"),
    ('rows.0.seed=3', "rows[0] is for seed 3"),
    ('runs.0.exact_norm=[1.0]', "one exact_norm entry per step"),
    ('runs.0.exact_norm.0=0', "runs[0].exact_norm[0] must be positive"),
    ('steps=DELETE', "has no 'steps'"),
])
def test_plot_from_an_edited_gradients_file_is_one_error_line_naming_the_file(tmp_path, what, needle):
    from minigumbel import figures
    from minigumbel._json import check
    check(VAE_GRADIENTS, figures.VAE_GRADIENTS_SCHEMA)                  # the unedited document fits
    bad = tmp_path / "grads.json"
    edited = _edit(VAE_GRADIENTS, what)
    bad.write_text(edited if isinstance(edited, str) else json.dumps(edited))
    with pytest.raises(ValueError) as info:
        figures.figure_data("vae-gradients", run=bad)
    assert str(bad) in str(info.value) and needle in str(info.value), str(info.value)


# ----------------------------------------------------------------------------- memory

HUGE = [  # (command line, the option the Error line must name first): each asks for 100s of GB or more
    (["train", "--batch-size", "1000000000"], "--batch-size 1000000000"),
    (["train", "--hidden", "10000000"], "--hidden 10000000"),
    (["train", "--n-items", "100000000"], "--n-items 100000000"),
    (["train", "--eval-size", "1000000000"], "--eval-size 1000000000"),
    (["train", "--estimator", "gumbel-rao", "--gr-k", "100000000"], "--gr-k 100000000"),
    (["train", "--task", "vae", "-L", "100000", "-K", "1000"], "-L 100000"),
    (["train", "--task", "vae", "-K", "10000000"], "-K 10000000"),
    (["train", "--task", "vae", "--samples", "100000000"], "--samples 100000000"),
    (["train", "--task", "sort", "--n-items", "3000"], "--n-items 3000"),
    (["sweep", "--batch-size", "1000000000", "--seeds", "2"], "--batch-size 1000000000"),
    (["compare", "--hidden", "10000000", "--seeds", "2"], "--hidden 10000000"),
    (["sweep", "--seeds", "100000000"], "--seeds 100000000"),
    (["sweep", "--seeds", "1000000", "--grid", "lr=0.1,0.2,0.3", "--grid", "tau=1,2,3,4,5,6,7,8,9"],
     "--seeds 1000000 (with a --grid of 27 cells)"),
    (["bench", "--sizes", "1000000x1000000"], "--sizes 1000000x1000000"),
    (["plot", "temperature", "--samples", "100000000000"], "--samples 100000000000"),
]


@pytest.mark.parametrize("args,named", HUGE, ids=[" ".join(a) for a, _ in HUGE])
def test_sizes_that_cannot_fit_are_refused_up_front_naming_the_option(args, named, tmp_path):
    if args[0] == "plot":
        pytest.importorskip("matplotlib")
        args = args + ["--out", str(tmp_path / "t.png")]
    line = _one_error_line(run(*args))
    assert line.startswith(f"Error: {named}") and " needs about " in line and "B of memory" in line, line
    assert "is available: make it smaller" in line


def test_the_estimate_names_the_factor_furthest_above_its_default(monkeypatch):
    from minigumbel import memory
    from minigumbel.memory import check_fits, train_terms
    from minigumbel.train import TrainConfig
    terms = train_terms(TrainConfig(task="argmax", n_items=10**6, hidden=64))
    with pytest.raises(ValueError, match=r"^--n-items 1000000 \(with --eval-size 1000, --hidden 64\) needs about"):
        check_fits(terms, available=10**9)
    monkeypatch.setattr(memory, "available_bytes", lambda: None)
    assert check_fits(terms) > 10**9                                  # memory unknown: no refusal
    assert check_fits(train_terms(TrainConfig(task="vae")), available=10**9) < 10**9   # the defaults fit


@pytest.mark.parametrize("estimator", ["gumbel-sinkhorn", "neuralsort"])
def test_the_estimate_bounds_the_sort_tasks_measured_peak(estimator):
    """The sort task holds N × N matrices per list (its evaluation E × N × N, a step B × S × N × N
    per Sinkhorn round): the estimate must stay above the peak tracemalloc measures, so that
    --n-items in the thousands is refused up front (it grew as N, the peak as N²)."""
    import tracemalloc
    from minigumbel.memory import check_fits, train_terms
    from minigumbel.train import TrainConfig, train
    config = TrainConfig.for_task("sort", estimator=estimator, n_items=40, eval_size=300, steps=1, eval_every=1,
                                    sinkhorn_iters=5)
    need = sum(b for b, _ in train_terms(config))
    train(TrainConfig.for_task("sort", estimator=estimator, n_items=4, eval_size=4, steps=1, eval_every=1))  # imports
    tracemalloc.start()
    try:
        train(config)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < need < 20 * peak, (peak, need)
    big = TrainConfig.for_task("sort", estimator=estimator, n_items=1500)
    with pytest.raises(ValueError, match=r"^--n-items 1500 .* needs about"):   # ~180 GB
        check_fits(train_terms(big), available=64e9)


def test_a_memory_error_anywhere_is_one_error_line_naming_the_sizes_given(monkeypatch):
    import minigumbel.train as train_mod

    def exhausted(config):
        raise MemoryError()
    monkeypatch.setattr(train_mod, "prepare", exhausted)
    line = _one_error_line(run("train", "--batch-size", "5000", "--hidden=600", "--steps", "3"))
    assert line == ("Error: out of memory: the sizes given (--batch-size 5000, --hidden 600) need more memory "
                    "than this machine has; make them smaller")
    line = _one_error_line(run("train", "--steps", "3"))
    assert "out of memory: the default sizes need more memory" in line


def test_more_workers_than_cpus_run_as_many_as_there_are_cpus(monkeypatch):
    monkeypatch.setattr(sweep, "default_workers", lambda: 1)
    r = run("sweep", *CLI_GRID, "--workers", "24")
    assert r.exit_code == 0, r.output
    assert "--workers 24 is more than the 1 CPUs this process may use; running 1 worker processes" in r.stderr


def test_a_dask_task_whose_workers_died_is_a_failed_run_and_the_rest_are_kept(monkeypatch, reference):
    from types import SimpleNamespace
    distributed = pytest.importorskip("distributed", reason="the 'cluster' extra (dask distributed)")
    configs = _configs()
    doomed = sweep.run_key(configs[2])

    class Future:                        # what Client.map returns, as far as the sweep uses it
        def __init__(self, config):
            self.key, self.config = sweep.run_key(config), config

        def result(self):
            if self.key == doomed:        # the scheduler gave up on the task: its workers kept dying
                raise distributed.KilledWorker(f"run_one-{self.key}", SimpleNamespace(address="tcp://127.0.0.1:1"), 3)
            return sweep.run_one(self.config)

    class Client:
        def map(self, fn, items, pure):
            return [Future(c) for c in items]

        def close(self):
            pass
    monkeypatch.setattr(sweep, "connect_dask", lambda address, timeout: Client())
    monkeypatch.setattr(distributed, "as_completed", lambda futures: iter(futures))
    records, info = sweep.run_grid(configs, scheduler="tcp://127.0.0.1:1")
    assert info["ran"] == 4
    failed = [r for r in records if r["error"]]
    assert [r["key"] for r in failed] == [doomed] and failed[0]["error"].startswith("WorkerDied: KilledWorker")
    assert {r["key"]: r["metrics"] for r in records if not r["error"]} == \
        {k: m for k, m in reference.items() if k != doomed}
