"""CLI: `minigumbel train` and `minigumbel compare`, and every bad-input case (exit 2, one Error line)."""
import json

import pytest
from click.testing import CliRunner

from minigumbel_cli.main import main

FAST = ["--steps", "30", "--eval-every", "10", "--eval-size", "50", "--batch-size", "8", "--hidden", "8", "--quiet"]


def run(*args):
    return CliRunner().invoke(main, list(args))


def _one_error_line(r, needle):
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:") and needle in lines[0], r.output
    assert "Traceback" not in r.output


def test_train_prints_a_summary_table():
    r = run("train", *FAST)
    assert r.exit_code == 0, r.output
    assert "hard accuracy (argmax pointer)" in r.output and "argmax task, estimator gumbel, 30 steps" in r.output


def test_train_defaults_reach_95_percent(tmp_path):
    """`minigumbel train` with no flags (here with --json to read the number back)."""
    path = tmp_path / "h.json"
    r = run("train", "--quiet", "--json", str(path))
    assert r.exit_code == 0, r.output
    h = json.loads(path.read_text())
    assert h["final"]["accuracy"] >= 0.95 and len(h["loss"]) == 1000
    assert h["config"]["task"] == "argmax" and h["config"]["backend"] == "numpy"


def test_train_progress_bar_goes_to_stderr_when_it_is_a_terminal(monkeypatch):
    import minigumbel_cli.common as common
    r = CliRunner().invoke(main, ["train", *FAST[:-1]])       # CliRunner's stderr: not a terminal
    assert r.exit_code == 0 and r.stderr == "" and "argmax/gumbel" not in r.stdout
    monkeypatch.setattr(common, "stderr_is_terminal", lambda: True)
    r = CliRunner().invoke(main, ["train", *FAST[:-1]])
    assert r.exit_code == 0
    assert "argmax/gumbel" in r.stderr and "argmax/gumbel" not in r.stdout


@pytest.mark.parametrize("args", [["--task", "query", "--estimator", "st"],
                                  ["--task", "bottleneck", "--estimator", "reinforce", "--baseline", "loo"],
                                  ["--estimator", "gumbel-rao", "--gr-k", "2", "--grad", "autograd"],
                                  ["--estimator", "reinmax", "--tau", "1.5", "--dtype", "float32"],
                                  ["--anneal", "exp", "--tau", "2", "--tau-min", "0.5", "--anneal-every", "5"]])
def test_train_options(args):
    r = run("train", *FAST, *args)
    assert r.exit_code == 0, r.output


def test_train_checkpoint_and_resume(tmp_path):
    ck = str(tmp_path / "run.npz")
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert run("train", *FAST, "--checkpoint", ck, "--json", str(a)).exit_code == 0
    r = run("train", *FAST, "--steps", "40", "--resume", ck, "--json", str(b))
    assert r.exit_code == 0, r.output
    ha, hb = json.loads(a.read_text()), json.loads(b.read_text())
    assert hb["loss"][:30] == ha["loss"] and len(hb["loss"]) == 40


def test_headline_cupy_command_without_cupy_is_exit_2(no_cupy):
    r = run("train", "--backend", "cupy", "--tau", "0.5")
    _one_error_line(r, "pip install")


@pytest.mark.parametrize("args,needle", [
    (["--task", "nosuch"], "--task"), (["--estimator", "nope"], "--estimator"), (["--anneal", "step"], "--anneal"),
    (["--steps", "0"], "--steps"), (["--batch-size", "0"], "--batch-size"), (["--lr", "0"], "--lr"),
    (["--lr", "-1"], "--lr"), (["--lr", "nan"], "lr"), (["--tau", "0"], "--tau"), (["--tau", "nan"], "tau"),
    (["--tau", "inf"], "tau"), (["--tau-min", "0"], "--tau-min"), (["--n-items", "1"], "--n-items"),
    (["--steps", "ten"], "--steps"), (["--grad", "autograd", "--backend", "cupy"], "autograd"),
    (["--estimator", "st", "--tau-forward", "0.5"], "tau_forward"), (["--gr-k", "0"], "--gr-k"),
    (["--estimator", "decoupled", "--tau-forward", "0"], "--tau-forward"),
    (["--anneal", "linear", "--tau", "0.5", "--tau-min", "1"], "tau_min"),
    (["--resume", "/nonexistent/run.npz"], "/nonexistent/run.npz"), (["--init", "xavier"], "--init"),
])
def test_train_bad_input(args, needle):
    _one_error_line(run("train", *FAST, *args), needle)


def test_train_bad_checkpoints(tmp_path):
    ck = tmp_path / "run.npz"
    assert run("train", *FAST, "--checkpoint", str(ck)).exit_code == 0
    truncated = tmp_path / "trunc.npz"
    truncated.write_bytes(ck.read_bytes()[:300])
    _one_error_line(run("train", *FAST, "--resume", str(truncated)), str(truncated))
    _one_error_line(run("train", *FAST, "--lr", "0.5", "--resume", str(ck)), "different config")
    # a run that cannot start leaves the existing checkpoint alone
    before = ck.read_bytes()
    _one_error_line(run("train", *FAST, "--checkpoint", str(ck), "--resume", str(truncated)), str(truncated))
    assert ck.read_bytes() == before


def test_train_output_paths_in_missing_folders_fail_before_training(tmp_path):
    missing = str(tmp_path / "no" / "such")
    _one_error_line(run("train", *FAST, "--json", missing + "/h.json"), "--json")
    _one_error_line(run("train", *FAST, "--checkpoint", missing + "/c.npz"), "checkpoint")


SMALL_COMPARE = ["--steps", "20", "--eval-every", "20", "--eval-size", "40", "--batch-size", "8", "--hidden", "8",
                 "--seeds", "2", "--workers", "1", "--quiet"]


def test_compare_table_shows_soft_and_hard_side_by_side():
    r = run("compare", *SMALL_COMPARE)
    assert r.exit_code == 0, r.output
    assert "soft-train recon_mse" in r.output and "hard-eval recon_mse" in r.output
    for e in ("softmax", "gumbel", "st-gumbel"):
        assert any(line.startswith(e + " ") for line in r.output.splitlines()), e


def test_compare_json():
    r = run("compare", *SMALL_COMPARE, "--task", "argmax", "--estimators", "softmax,reinforce", "--json", "-")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["seeds"] == [0, 1] and [x["estimator"] for x in d["results"]] == ["softmax", "reinforce"]
    assert d["target"]["metric"] == "accuracy" and d["grid"] == {"estimator": ["softmax", "reinforce"]}
    for x in d["results"]:
        assert len(x["soft_loss"]["values"]) == 2 and "accuracy" in x and x["seeds"] == [0, 1]
        ratio = x["hard_loss/soft_loss"]["values"]
        assert ratio == [h / s for h, s in zip(x["hard_loss"]["values"], x["soft_loss"]["values"])]
        assert x["reach"]["of"] == 2 and x["reach"]["count"] == sum(a >= 0.95 for a in x["accuracy"]["values"])


@pytest.mark.parametrize("args,needle", [
    (["--estimators", "softmax,nope"], "--estimators"), (["--estimators", ","], "--estimators"),
    (["--seeds", "0"], "--seeds"), (["--task", "nosuch"], "--task"), (["--tau", "-1"], "--tau"),
    (["--estimators", "decoupled", "--tau-forward", "-1"], "--tau-forward"),
    (["--grid", "estimator=st"], "--grid"),
    (["--grid", "tau=1", "--tau", "2"], "--tau"), (["--scheduler", "tcp://x:1", "--workers", "2"], "--scheduler"),
])
def test_compare_bad_input(args, needle):
    _one_error_line(run("compare", *SMALL_COMPARE, *args), needle)


# an option that none of the run's tasks (or estimators) reads is refused, not silently ignored (--hidden, --n-items and
# --eval-size: pointer tasks only; -L, -K, --samples, --data, --data-dir: the vae only; --gr-k: gumbel-rao(-total); --baseline: reinforce)
@pytest.mark.parametrize("command,args,needle", [
    ("train", ["--task", "vae", "--hidden", "5"], "--hidden: does not apply to the vae task"),
    ("train", ["--task", "vae", "--n-items", "5"], "--n-items"),
    ("train", ["--task", "vae", "--eval-size", "5"], "--eval-size"),
    ("train", ["--task", "argmax", "-L", "3"], "--latents"),
    ("train", ["--task", "query", "--classes", "3"], "--classes"),
    ("train", ["--task", "bottleneck", "--samples", "2"], "--samples"),
    ("train", ["--data", "mnist"], "--data"),
    ("train", ["--task", "vae", "--data-dir", "."], "--data-dir: applies to --data mnist only"),
    ("sweep", ["--task", "vae", "--grid", "data-dir=.", "--seeds", "1"], "applies to --data mnist only"),
    ("compare", ["--task", "vae", "--n-items", "4", "--seeds", "1"], "--n-items"),
    ("sweep", ["--task", "vae", "--grid", "hidden=4,8", "--seeds", "1"], "--grid"),
    ("sweep", ["--grid", "latents=2,4", "--seeds", "1"], "--grid latents does not apply to the argmax task"),
    ("train", ["--estimator", "gumbel", "--baseline", "loo"], "--baseline"),
    ("train", ["--estimator", "st-gumbel", "--gr-k", "3"], "--gr-k"),
    ("compare", ["--estimators", "softmax,gumbel", "--gr-k", "3", "--seeds", "1"], "--gr-k"),
    ("sweep", ["--grid", "baseline=loo,none", "--seeds", "1"], "--grid"),
])
def test_an_option_no_task_of_the_run_reads_is_refused(command, args, needle):
    _one_error_line(run(command, "--steps", "2", *args), needle)


def test_an_option_one_task_or_estimator_of_a_grid_reads_is_accepted():
    r = run("sweep", "--grid", "task=argmax,vae", "--hidden", "4", "-L", "2", "--steps", "1", "--seeds", "1",
            "--workers", "1", "-q", "--json", "-")
    assert r.exit_code == 0, r.output
    r = run("sweep", "--grid", "estimator=gumbel,reinforce", "--baseline", "loo", "--steps", "1", "--seeds", "1",
            "--workers", "1", "-q", "--json", "-")
    assert r.exit_code == 0, r.output


def test_tau_forward_changes_what_decoupled_trains():
    # τ_f is decoupled's forward temperature (Shah et al.): the forward draws argmax(θ/τ_f + g), so
    # with the same seed a different τ_f gives a different run; τ_f = τ (given or not) the same one.
    def final(*extra):
        r = run("train", "--task", "bottleneck", "--estimator", "decoupled", *FAST, *extra)
        assert r.exit_code == 0, r.output
        return [ln for ln in r.output.splitlines()[1:]]        # the table (line 0 holds the wall time)
    base = final()
    assert final("--tau-forward", "1") == base
    assert final("--tau-forward", "3") != base
    assert final("--tau-forward", "0.2") != base
