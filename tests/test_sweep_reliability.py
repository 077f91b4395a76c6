"""Sweeps under faults: a disk that fills mid-record, a worker process killed, results files edited
by hand or by other tools. Every failure is one `Error:` line (exit 2) or a run recorded as failed;
nothing is lost that was written whole, and the same command resumes."""
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
    again = run("sweep", *CLI_TINY, "--out", str(out), "--json")
    assert again.exit_code == 0, again.output
    assert "1 of 4 runs were already there, 3 ran now" in again.stderr
    assert len(_lines(out)) == 4


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
    if kind == "http":
        assert "no Dask scheduler answered within 0.5 s" in line
    if kind == "refused":
        assert "refused" in line.lower()


def test_scheduler_timeout_applies_with_a_scheduler_only():
    line = _one_error_line(run("sweep", *CLI_TINY, "--scheduler-timeout", "3"))
    assert "--scheduler-timeout" in line and "--scheduler only" in line
