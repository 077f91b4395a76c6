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
CLI_TINY = ["--task", "argmax", "--steps", "20", "--eval-every", "20", "--eval-size", "40", "--batch-size", "8",
            "--hidden", "8", "--n-items", "4", "--seeds", "2", "--workers", "1", "--grid", "estimator=gumbel,st"]


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
