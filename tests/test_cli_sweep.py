"""CLI: `minigumbel sweep` (table, --json, resume through --out, --metrics) on tiny grids."""
import json

from click.testing import CliRunner

from minigumbel_cli.main import main

TINY = ["--task", "argmax", "--steps", "20", "--eval-every", "20", "--eval-size", "40", "--batch-size", "8",
        "--hidden", "8", "--n-items", "4", "--seeds", "3", "--workers", "1", "--grid", "estimator=gumbel,st",
        "--grid", "lr=0.01,0.1"]


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_sweep_table_has_a_row_per_cell_and_the_target_count():
    r = run("sweep", *TINY, "-q")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].startswith("minigumbel sweep: argmax task, 20 steps, τ 1, seeds 0..2 per cell")
    assert "median [75% (few seeds) interval for the median]" in lines[0]       # 3 seeds: [min, max]
    assert lines[1].split()[:2] == ["estimator", "lr"] and lines[1].rstrip().endswith("reach target")
    rows = [ln.split() for ln in lines[3:7]]
    assert [(x[0], x[1]) for x in rows] == [("gumbel", "0.01"), ("gumbel", "0.1"), ("st", "0.01"), ("st", "0.1")]
    assert all(x[-1].endswith("/3") for x in rows)


def test_sweep_json_matches_the_results_file_and_resumes(tmp_path):
    out = tmp_path / "runs.jsonl"
    r = run("sweep", *TINY, "-q", "--json", "-", "--out", str(out))
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["grid"] == {"estimator": ["gumbel", "st"], "lr": [0.01, 0.1]} and d["seeds"] == [0, 1, 2]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 12
    by_cell = {}
    for rec in records:
        by_cell.setdefault((rec["config"]["estimator"], rec["config"]["lr"]), {})[rec["config"]["seed"]] = rec
    for row in d["results"]:
        recs = by_cell[(row["estimator"], row["lr"])]
        assert row["accuracy"]["values"] == [recs[s]["metrics"]["accuracy"] for s in (0, 1, 2)]
        assert row["reach"]["count"] == sum(recs[s]["metrics"]["accuracy"] >= 0.95 for s in (0, 1, 2))
    again = run("sweep", *TINY, "--json", "-", "--out", str(out))          # not quiet: the resume note on stderr
    assert again.exit_code == 0
    assert "12 of 12 runs were already there, 0 ran now" in again.stderr
    assert json.loads(again.stdout)["results"] == d["results"]
    assert len(out.read_text().splitlines()) == 12


def test_sweep_metrics_picks_columns():
    r = run("sweep", *TINY, "-q", "--metrics", "accuracy")
    assert r.exit_code == 0, r.output
    assert "accuracy" in r.output.splitlines()[1] and "regret" not in r.output
    r = run("sweep", *TINY, "-q", "--metrics", "nope")
    assert r.exit_code == 2 and r.output.startswith("Error:") and "--metrics" in r.output


def test_sweep_missing_dask_or_bad_address_is_one_error_line():
    r = run("sweep", *TINY, "-q", "--scheduler", "tcp://127.0.0.1:9", "--workers", "1")
    assert r.exit_code == 2 and "--scheduler" in r.output


def test_a_failing_run_is_shown_and_the_rest_of_the_grid_completes(monkeypatch):
    import minigumbel.train as train_mod
    real = train_mod.train

    def flaky(config, on_step=None):
        if config.seed == 2 and config.estimator == "st":
            raise train_mod.NonFiniteLoss("the training loss became inf at step 3")
        return real(config, on_step)
    monkeypatch.setattr(train_mod, "train", flaky)
    r = run("sweep", *TINY, "-q")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[1].split()[-3:] == ["failed", "reach", "target"]
    assert [ln.split()[-2] for ln in lines[3:7]] == ["0", "0", "1", "1"]
    assert "failed: estimator=st lr=0.01 seed 2: NonFiniteLoss: the training loss became inf at step 3" in lines
    assert "failed: estimator=st lr=0.1 seed 2: NonFiniteLoss: the training loss became inf at step 3" in lines


def test_the_task_can_vary_and_each_cell_counts_against_its_own_target():
    r = run("sweep", "--grid", "task=argmax,bottleneck", "--steps", "20", "--eval-every", "20", "--eval-size", "40",
            "--batch-size", "8", "--hidden", "8", "--n-items", "4", "--seeds", "2", "--workers", "1", "-q", "--json", "-")
    assert r.exit_code == 0, r.output
    rows = {x["task"]: x for x in json.loads(r.stdout)["results"]}
    assert rows["argmax"]["reach"]["text"] == "hard accuracy ≥ 0.95"
    assert rows["bottleneck"]["reach"]["text"].startswith("hard recon_mse within 0.01 of σ²")
    assert rows["bottleneck"]["accuracy"]["n"] == 0 and rows["argmax"]["accuracy"]["n"] == 2


def test_a_task_grid_gives_each_cell_its_own_task_defaults(tmp_path):
    # the vae's reference setup (issue 13): Adam lr 1e-3, batch 100, τ exp-annealed at rate 3e-4 every
    # step, 3000 steps; the argmax task's: lr 1e-2, batch 64, constant τ, 1000 steps. An option given on
    # the command line (--eval-every here) or in the grid applies to both tasks.
    out = tmp_path / "runs.jsonl"
    r = run("sweep", "--grid", "task=argmax,vae", "--grid", "steps=2", "--eval-every", "2", "--seeds", "1",
            "--workers", "1", "--out", str(out), "-q")
    assert r.exit_code == 0, r.output
    assert "steps from the grid, each task's default τ schedule" in r.output.splitlines()[0]
    configs = {c["task"]: c for c in (json.loads(line)["config"] for line in out.read_text().splitlines())}
    vae, argmax = configs["vae"], configs["argmax"]
    assert (vae["lr"], vae["batch_size"], vae["anneal"], vae["anneal_rate"], vae["anneal_every"]) == \
        (1e-3, 100, "exp", 3e-4, 1)
    assert (argmax["lr"], argmax["batch_size"], argmax["anneal"]) == (1e-2, 64, "constant")
    assert vae["steps"] == argmax["steps"] == 2 and vae["eval_every"] == argmax["eval_every"] == 2


def test_a_missing_backend_in_the_grid_is_one_error_line_not_failed_runs(no_cupy, tmp_path):
    r = run("sweep", "--grid", "backend=numpy,cupy", "--steps", "2", "--seeds", "1", "--workers", "1",
            "--out", str(tmp_path / "runs.jsonl"))
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("Error:") and "pip install" in lines[0], r.output
    assert not (tmp_path / "runs.jsonl").exists()
