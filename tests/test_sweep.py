"""minigumbel.sweep: grids of runs, the JSON-lines results file (resume, torn last line, failures),
local worker processes and Dask, and the robust per-cell summary."""
import json
import math
import os

import pytest

from minigumbel import sweep
from minigumbel.sweep_summary import median_ci, metric_names, summarize
from minigumbel.tasks import TASKS

TINY = dict(task="argmax", steps=20, eval_every=20, eval_size=40, batch_size=8, hidden=8, n_items=4)
GRID = {"estimator": ["gumbel", "st-gumbel"], "tau": [0.5, 2.0]}


def _configs(seeds=(0, 1), grid=GRID, **base):
    return sweep.expand({**TINY, **base}, grid, seeds)


@pytest.fixture(scope="module")
def reference():
    """The grid run in this process, nothing on disk: {key: metrics}."""
    records, info = sweep.run_grid(_configs())
    assert info["ran"] == 8 and all(r["error"] is None for r in records)
    return {r["key"]: r["metrics"] for r in records}


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


# ----------------------------------------------------------------------------- grid

def test_parse_grid_types_and_order():
    g = sweep.parse_grid(["estimator=softmax,gumbel", "tau=0.5,1", "n-items=4,8", "lr=1e-2"])
    assert g == {"estimator": ["softmax", "gumbel"], "tau": [0.5, 1.0], "n_items": [4, 8], "lr": [0.01]}
    assert isinstance(g["n_items"][0], int) and isinstance(g["tau"][1], float)


@pytest.mark.parametrize("item,needle", [
    ("tau", "KEY=V1"), ("=1", "KEY=V1"), ("nope=1", "cannot vary"), ("seed=1,2", "--seeds"),
    ("checkpoint=a", "cannot vary"), ("tau=", "comma-separated"), ("tau=1,,2", "comma-separated"),
    ("tau=a", "float"), ("n_items=2.5", "int"), ("tau=1,1", "repeated"),
])
def test_parse_grid_rejects(item, needle):
    with pytest.raises(ValueError, match=needle):
        sweep.parse_grid([item])
    with pytest.raises(ValueError, match="twice"):
        sweep.parse_grid(["tau=1", "tau=2"])


def test_expand_is_the_product_with_seeds_innermost_and_validates():
    cs = _configs(seeds=(3, 4))
    assert [(c["estimator"], c["tau"], c["seed"]) for c in cs] == [
        (e, t, s) for e in GRID["estimator"] for t in GRID["tau"] for s in (3, 4)]
    assert len({sweep.run_key(c) for c in cs}) == 8
    with pytest.raises(ValueError, match="tau_forward"):     # TrainConfig.validate: decoupled's option only
        _configs(grid={"estimator": ["st"], "tau_forward": [0.5]})


def test_run_key_ignores_fields_that_do_not_change_the_numbers():
    c = _configs()[0]
    assert sweep.run_key({**c, "log_every": 3, "checkpoint": "x"}) == sweep.run_key(c)
    assert sweep.run_key({**c, "seed": 9}) != sweep.run_key(c)
    # init was added later: a record without it (every run before was "he") keeps its key
    assert sweep.run_key({k: v for k, v in c.items() if k != "init"}) == sweep.run_key({**c, "init": "he"})
    assert sweep.run_key({**c, "init": "torch"}) != sweep.run_key(c)


# ----------------------------------------------------------------------------- the results file

def test_resume_runs_only_what_is_missing(reference, tmp_path):
    out = tmp_path / "runs.jsonl"
    records, info = sweep.run_grid(_configs(), out=out)
    assert info == {"done_before": 0, "ran": 8, "torn": 0, "retried": 0}
    lines = out.read_text().splitlines(keepends=True)
    # two records missing from the middle (as after runs on several workers finishing out of order):
    # a resume that counted the records and skipped that many configs would redo the last two instead
    missing = [json.loads(lines[i])["key"] for i in (2, 5)]
    out.write_text("".join(line for i, line in enumerate(lines) if i not in (2, 5)))
    ran = []
    again, info = sweep.run_grid(_configs(), out=out, on_result=lambda rec, before: ran.append(rec["key"]))
    assert info["done_before"] == 6 and info["ran"] == 2
    assert ran == missing                                      # exactly the missing runs, in grid order
    done = _lines(out)
    assert sorted(r["key"] for r in done) == sorted(reference)  # each run exactly once
    assert {r["key"]: r["metrics"] for r in done} == reference
    assert [r["key"] for r in again] == [sweep.run_key(c) for c in _configs()]
    _, info = sweep.run_grid(_configs(), out=out)
    assert info["ran"] == 0 and len(_lines(out)) == 8


@pytest.mark.parametrize("cut", [1, 40, -2, -1])
def test_a_torn_last_line_is_cut_and_its_run_redone(reference, tmp_path, cut):
    """A write cut by kill -9: the last line is a prefix of a record (never read as one)."""
    out = tmp_path / "runs.jsonl"
    sweep.run_grid(_configs(), out=out)
    data = out.read_bytes()
    last_start = data.rstrip(b"\n").rfind(b"\n") + 1
    out.write_bytes(data[:last_start + cut] if cut > 0 else data[:cut])   # -1: only the newline lost
    _, info = sweep.run_grid(_configs(), out=out)
    assert info["torn"] == 1 and info["ran"] == 1
    done = _lines(out)
    assert len(done) == 8 and {r["key"]: r["metrics"] for r in done} == reference


def test_a_bad_line_before_the_last_is_an_error(tmp_path):
    out = tmp_path / "runs.jsonl"
    sweep.run_grid(_configs(seeds=(0,)), out=out)
    lines = out.read_text().splitlines(keepends=True)
    edited = json.loads(lines[1])
    edited["config"]["tau"] = 7.0                               # key no longer matches the config
    out.write_text(lines[0] + json.dumps(edited) + "\n" + "".join(lines[2:]))
    with pytest.raises(ValueError, match="line 2 .*key does not match"):
        sweep.run_grid(_configs(seeds=(0,)), out=out)
    out.write_text(lines[0] + "garbage\n" + "".join(lines[2:]))
    with pytest.raises(ValueError, match="line 2 .*not JSON"):
        sweep.run_grid(_configs(seeds=(0,)), out=out)


def test_a_bad_last_line_that_is_whole_is_an_error_not_cut(tmp_path):
    """A kill mid-write leaves a last line without its newline; a whole last line (newline
    included) that is not a record was changed by something else: an error, never cut away."""
    out = tmp_path / "runs.jsonl"
    sweep.run_grid(_configs(seeds=(0,)), out=out)
    lines = out.read_text().splitlines(keepends=True)
    edited = json.loads(lines[-1])
    edited["metrics"] = "x"
    text = "".join(lines[:-1]) + json.dumps(edited, separators=(",", ":")) + "\n"
    out.write_text(text)
    with pytest.raises(ValueError, match=f"line {len(lines)} is not a sweep record .*metrics"):
        sweep.run_grid(_configs(seeds=(0,)), out=out)
    assert out.read_text() == text                             # nothing cut
    out.write_text("".join(lines) + "\n")                     # an empty line at the end: cut, nothing lost
    _, info = sweep.run_grid(_configs(seeds=(0,)), out=out)
    assert info["ran"] == 0 and out.read_text() == "".join(lines)


def test_a_file_that_is_not_a_results_file_is_never_cut(tmp_path):
    out = tmp_path / "notes.txt"
    out.write_text("my notes, no newline at the end")
    with pytest.raises(ValueError, match="line 1 is not a sweep record"):
        sweep.run_grid(_configs(seeds=(0,)), out=out)
    assert out.read_text() == "my notes, no newline at the end"


@pytest.mark.parametrize("umask,mode", [(0o077, 0o600), (0o002, 0o664), (0o022, 0o644)])
def test_the_results_file_follows_the_umask_also_when_failed_runs_are_retried(tmp_path, umask, mode):
    """Mode 0o666 less the umask, like any file the process creates (a checkpoint, --json); rewriting
    it without its failed runs keeps the mode it has."""
    out = tmp_path / "runs.jsonl"
    old = os.umask(umask)
    try:
        sweep.run_grid(_configs(seeds=(0,)), out=out)
        assert out.stat().st_mode & 0o777 == mode
        failed = _configs(seeds=(1,))[0]
        with open(out, "a") as fh:                               # a failed run, for --retry-failed
            fh.write(json.dumps({"key": sweep.run_key(failed), "config": failed, "metrics": None,
                                 "error": "E: x"}) + "\n")
        out.chmod(0o600)
        _, info = sweep.run_grid(_configs(seeds=(0,)) + [failed], out=out, retry_failed=True)
        assert info["retried"] == 1                              # the file was rewritten
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o600                  # a rewrite keeps the file's mode


def test_retrying_failed_runs_writes_through_a_symbolic_link(tmp_path):
    (tmp_path / "store").mkdir()
    target, out = tmp_path / "store" / "runs.jsonl", tmp_path / "runs.jsonl"
    out.symlink_to(target)
    failed = _configs(seeds=(1,))[0]
    target.write_text(json.dumps({"key": sweep.run_key(failed), "config": failed, "metrics": None,
                                  "error": "E: x"}) + "\n")
    _, info = sweep.run_grid([failed], out=out, retry_failed=True)
    assert info["retried"] == 1 and out.is_symlink()
    assert [json.loads(line)["error"] for line in target.read_text().splitlines()] == [None]
    assert sorted(os.listdir(tmp_path / "store")) == ["runs.jsonl"]        # no temporary file left


def test_two_sweeps_cannot_write_one_file(tmp_path):
    out = tmp_path / "runs.jsonl"
    with sweep.ResultsFile(out):
        with pytest.raises(ValueError, match="another sweep"):
            sweep.ResultsFile(out)


def test_a_failing_run_is_recorded_and_the_grid_goes_on(reference, tmp_path, monkeypatch):
    import minigumbel.train as train_mod
    real = train_mod.train

    def flaky(config, on_step=None):
        if config.seed == 1 and config.tau == 2.0:
            raise train_mod.NonFiniteLoss("the training loss became nan at step 7")
        return real(config, on_step)
    monkeypatch.setattr(train_mod, "train", flaky)
    out = tmp_path / "runs.jsonl"
    records, info = sweep.run_grid(_configs(), out=out)
    failed = [r for r in records if r["error"]]
    assert info["ran"] == 8 and len(failed) == 2
    assert all(r["error"] == "NonFiniteLoss: the training loss became nan at step 7" and r["metrics"] is None
               for r in failed)
    assert {r["key"]: r["metrics"] for r in records if not r["error"]} == \
        {k: v for k, v in reference.items() if k not in {r["key"] for r in failed}}
    rows = summarize(records, ["estimator", "tau"], TASKS["argmax"].target)
    assert [r["failed"] for r in rows] == [0, 1, 0, 1] and rows[1]["reach"]["of"] == 2
    assert rows[1]["hard_loss"]["n"] == 1
    _, info = sweep.run_grid(_configs(), out=out)               # failures are results: not rerun ...
    assert info["ran"] == 0
    monkeypatch.setattr(train_mod, "train", real)
    _, info = sweep.run_grid(_configs(), out=out, retry_failed=True)   # ... unless asked
    assert info["retried"] == 2 and info["ran"] == 2
    assert {r["key"]: r["metrics"] for r in _lines(out)} == reference


# ----------------------------------------------------------------------------- where runs run

def test_worker_processes_give_the_same_numbers_run_by_run(reference):
    records, info = sweep.run_grid(_configs(), workers=2)
    assert info["ran"] == 8
    assert {r["key"]: r["metrics"] for r in records} == reference
    assert {r["versions"]["blas_threads"] for r in records} == {1}        # pinned in the workers


def test_in_process_runs_use_one_blas_thread_and_give_it_back():
    from minigumbel import provenance
    before = provenance.versions()["blas_threads"]
    records, _ = sweep.run_grid(_configs(seeds=(0,)))
    if provenance.blas_core() is None:
        pytest.skip("NumPy's BLAS is not OpenBLAS: its thread count is not reachable")
    assert {r["versions"]["blas_threads"] for r in records} == {1}
    assert provenance.versions()["blas_threads"] == before


def test_dask_local_cluster_gives_the_same_numbers(reference):
    distributed = pytest.importorskip("distributed", reason="the 'cluster' extra (dask distributed)")
    # a worker process behind a nanny, as on a real cluster: configs and records cross a TCP connection
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True,
                                  dashboard_address=None) as cluster:
        records, info = sweep.run_grid(_configs(), scheduler=cluster.scheduler_address)
    assert info["ran"] == 8
    assert {r["key"]: r["metrics"] for r in records} == reference
    if records[0]["versions"]["blas_core"] is not None:                  # OpenBLAS: its threads are visible
        assert {r["versions"]["blas_threads"] for r in records} == {1}    # the nanny pins BLAS too


def test_unreachable_scheduler_is_a_clear_error():
    pytest.importorskip("distributed")
    import dask
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}), \
            pytest.raises(ValueError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        sweep.run_grid(_configs(seeds=(0,)), scheduler="tcp://127.0.0.1:9")


# ----------------------------------------------------------------------------- summary

def test_median_interval_is_the_sign_test_interval():
    xs = [float(v) for v in (5, 1, 9, 3, 7, 2, 8, 4, 6, 10)]
    s = median_ci(xs)
    # n = 10: P(Bin(10, ½) ≤ 1) = 11/1024 ≤ 2.5% < P(≤ 2) = 56/1024, so [x_(2), x_(9)], coverage 1 − 22/1024
    assert (s["median"], s["lo"], s["hi"], s["min"], s["max"]) == (5.5, 2.0, 9.0, 1.0, 10.0)
    assert s["coverage"] == 1 - 22 / 1024 and s["values"] == xs
    s = median_ci([3.0, 1.0, 2.0])             # n < 6: [min, max] with coverage 1 − 2/8
    assert (s["median"], s["lo"], s["hi"], s["coverage"]) == (2.0, 1.0, 3.0, 0.75)
    # n = 20: P(Bin(20, ½) ≤ 5) = 21700/2^20 = 2.07% ≤ 2.5% < P(≤ 6) = 5.77%: [x_(6), x_(15)]
    s = median_ci(range(1, 21))
    assert (s["lo"], s["hi"]) == (6.0, 15.0) and math.isclose(s["coverage"], 1 - 2 * 21700 / 2 ** 20)


def test_summary_columns_come_from_the_runs_metrics():
    recs = [{"config": {"estimator": "a", "seed": s}, "error": None,
             "metrics": {"test_nelbo_soft": 2.0, "test_nelbo_hard": 3.0 + s, "iw_bound": 1.0}} for s in range(3)]
    assert metric_names(recs) == ["test_nelbo_soft", "test_nelbo_hard", "iw_bound", "test_nelbo_hard/test_nelbo_soft"]
    row = summarize(recs, ["estimator"])[0]
    assert row["test_nelbo_hard/test_nelbo_soft"]["values"] == [1.5, 2.0, 2.5] and row["reach"] is None


def test_bottleneck_target_is_sigma_squared_plus_a_hundredth():
    t = TASKS["bottleneck"].target
    assert t.reached({"hard_loss": 0.2599}) and not t.reached({"hard_loss": 0.2601}) and t.reached({}) is None
