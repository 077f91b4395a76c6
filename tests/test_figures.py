"""Figures: each figure's data shows the property it is drawn for, and `minigumbel plot` writes
a PNG of the requested size (Agg), an SVG on request, and fails cleanly without matplotlib."""
import importlib.util
import json
import math
import pathlib
import struct
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from minigumbel_cli.main import main
from minigumbel import figures
from minigumbel.train import TrainConfig, train

# the drawing tests need matplotlib (in the 'test' extra); the data tests and the no-matplotlib test do not
needs_mpl = pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="matplotlib not installed")


def png_size(path):
    """(width, height) read from the PNG header itself (IHDR), independent of matplotlib."""
    data = open(path, "rb").read(24)
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    return struct.unpack(">II", data[16:24])


def plot(*args):
    return CliRunner().invoke(main, ["plot", *args, "--quiet"])


@pytest.fixture(scope="module")
def run_json(tmp_path_factory):
    """A small real `train` history saved as JSON (argmax task: it has an accuracy)."""
    hist = train(TrainConfig(task="argmax", steps=40, eval_every=10, eval_size=200, anneal="linear", tau=2.0))
    path = tmp_path_factory.mktemp("run") / "run.json"
    path.write_text(json.dumps(hist))
    return path, hist


# ----------------------------------------------------------------------------- data properties

def test_temperature_mean_is_pi_at_low_tau_and_near_uniform_at_high_tau():
    d = figures.temperature_data(seed=0, n_samples=20_000)
    p, taus, mean, se = d["probs"], list(d["taus"]), d["mean"], d["se"]
    assert np.allclose(p, [0.1, 0.2, 0.3, 0.4]) and taus == [0.1, 0.5, 1.0, 10.0]
    # τ = 0.1: the relaxed mean equals π up to Monte-Carlo error (4 standard errors per entry; the
    # remaining relaxation bias, measured with 2e6 draws, is < 6e-4, far below se ≈ 3e-3 here).
    low = taus.index(0.1)
    assert np.all(np.abs(mean[low] - p) < 4 * se[low]), (mean[low], se[low])
    # negative control: at τ = 1 the same check fails (the mean is pulled towards uniform)
    one = taus.index(1.0)
    assert np.any(np.abs(mean[one] - p) > 4 * se[one])
    # τ = 10: the mean is closer to uniform than to π
    high = taus.index(10.0)
    assert np.linalg.norm(mean[high] - 0.25) < np.linalg.norm(mean[high] - p)
    # single samples lie on the simplex; at τ = 0.1 they are near one-hot, at τ = 10 near uniform
    s = d["samples"]                                                     # (T, n_show, K)
    assert s.shape == (4, 3, 4) and np.allclose(s.sum(-1), 1.0) and np.all(s >= 0)
    assert np.all(s[low].max(-1) > 0.9) and np.all(np.abs(s[high] - 0.25) < 0.1)


def test_temperature_is_deterministic_given_the_seed_and_validates_input():
    a, b = figures.temperature_data(seed=3, n_samples=100), figures.temperature_data(seed=3, n_samples=100)
    assert np.array_equal(a["mean"], b["mean"]) and np.array_equal(a["samples"], b["samples"])
    c = figures.temperature_data(seed=4, n_samples=100)
    assert not np.array_equal(a["samples"], c["samples"])
    with pytest.raises(ValueError, match="tau"):
        figures.temperature_data(taus=(0.5, 0.0))
    with pytest.raises(ValueError, match="probs"):
        figures.temperature_data(probs=(0.5, 0.6))


def test_schedules_data_matches_the_formulas():
    d = figures.schedules_data(steps=2000, tau0=2.0, tau_min=0.5, rate=1e-3, every=100)
    tau, step = d["tau"], d["step"]
    assert set(tau) == {"constant", "exp", "linear", "cosine"} and step[0] == 0 and step[-1] == 2000
    for name, curve in tau.items():
        assert curve[0] == 2.0 and np.all(np.diff(curve) <= 0), name          # start at τ0, never rise
    assert np.all(tau["constant"] == 2.0)
    assert tau["linear"][1000] == pytest.approx(1.25) and tau["linear"][-1] == pytest.approx(0.5)
    assert tau["cosine"][1000] == pytest.approx(1.25) and tau["cosine"][-1] == pytest.approx(0.5)
    assert tau["cosine"][500] == pytest.approx(0.5 + 0.75 * (1 + math.cos(math.pi / 4)))
    # Jang et al.: τ = max(τ_min, τ0 exp(−r t)), t = step rounded down to a multiple of `every`
    assert tau["exp"][250] == pytest.approx(2.0 * math.exp(-1e-3 * 200))
    assert tau["exp"][999] == pytest.approx(2.0 * math.exp(-1e-3 * 900))
    assert len(set(tau["exp"][300:400])) == 1
    # the floor: 2 e^{-r t} < 0.5 once t > ln(4)/r ≈ 1386, i.e. from the update at step 1400
    assert tau["exp"][1399] > 0.5 and np.all(tau["exp"][1400:] == 0.5)


def test_estimators_data_is_the_lab_table_and_shows_the_tradeoff():
    taus = (0.1, 0.5, 1.0, 5.0)
    d = figures.estimators_data(seed=0, taus=taus, samples=2000)
    r = CliRunner().invoke(main, ["estimators", "--tau", "0.1,0.5,1,5", "--samples", "2000", "--gr-k", "10",
                                  "--seed", "0", "--json", "-", "--quiet"])
    assert r.exit_code == 0, r.output
    rows = {(row["estimator"], row["tau"]): row for row in json.loads(r.stdout)["rows"]}
    s = d["series"]
    for name, series in s.items():                          # the very numbers of `minigumbel estimators`
        for i, t in enumerate(series["tau"]):
            for key in ("bias_norm", "bias_se", "variance", "mse", "cosine"):
                assert series[key][i] == rows[(name, t)][key], key
    # REINFORCE (leave-one-out baseline) is unbiased: bias norm within 4 standard errors of 0 at every τ
    assert np.all(s["reinforce(loo)"]["bias_norm"] < 4 * s["reinforce(loo)"]["bias_se"])
    # ReinMax is exact in expectation for quadratic f at τ = 1 (Liu et al. 2023); computed at every τ
    assert list(s["reinmax"]["tau"]) == [0.1, 0.5, 1.0, 5.0]
    assert s["reinmax"]["bias_norm"][2] < 4 * s["reinmax"]["bias_se"][2]
    assert s["reinmax"]["bias_norm"][1] > 4 * s["reinmax"]["bias_se"][1]      # but not at τ = 0.5
    assert np.all(s["softmax"]["variance"] == 0)            # deterministic: no noise at all
    for name in ("gumbel", "st-gumbel"):                     # low τ: low bias, high variance; high τ: reverse
        v, b = s[name]["variance"], s[name]["bias_norm"]
        assert v[0] > 100 * v[-1] and b[-1] > 5 * b[0], name


def test_leakage_softmax_soft_and_hard_losses_part_while_gumbel_ones_agree():
    # A fixed-seed, reduced run (300 steps, τ 2 → 0.5): softmax's soft loss is already below σ²,
    # which no one-hot code can reach (it leaks), and its hard loss far above (0.24 vs 0.52 with
    # seed 0); the noisy estimators' gaps are < 0.04 there.
    d = figures.leakage_data(seed=0, n_seeds=1, steps=300)
    gap = {n: r["hard_loss"][0, -1] - r["soft_loss"][0, -1] for n, r in d["runs"].items()}
    assert set(gap) == {"softmax", "gumbel", "st-gumbel"}
    assert d["runs"]["softmax"]["soft_loss"][0, -1] < d["noise_var"] == 0.25
    assert gap["softmax"] > 0.15
    assert abs(gap["gumbel"]) < gap["softmax"] / 3 and abs(gap["st-gumbel"]) < gap["softmax"] / 3
    r = d["runs"]["softmax"]
    assert list(r["step"]) == list(range(0, 301, 50)) and r["train_loss"].shape == (1, 300)
    assert d["seeds"] == [0] and d["config"]["anneal"] == "linear"


def test_leakage_runs_are_those_of_minigumbel_compare():
    d = figures.leakage_data(seed=5, n_seeds=2, steps=40, eval_every=20)
    r = CliRunner().invoke(main, ["compare", "--steps", "40", "--seeds", "2", "--seed", "5", "--json", "-", "--quiet"])
    assert r.exit_code == 0, r.output
    table = json.loads(r.stdout)
    assert table["seeds"] == d["seeds"] == [5, 6]
    for row in table["results"]:
        run = d["runs"][row["estimator"]]
        assert row["soft_loss"]["values"] == list(run["soft_loss"][:, -1])
        assert row["hard_loss"]["values"] == list(run["hard_loss"][:, -1])


def test_training_data_reads_the_run_file(run_json, tmp_path):
    path, hist = run_json
    d = figures.training_data(path)
    assert list(d["loss"]) == hist["loss"] and list(d["tau"]) == hist["tau"]
    assert list(d["eval_step"]) == [e["step"] for e in hist["eval"]] == [0, 10, 20, 30, 40]
    assert list(d["hard_loss"]) == [e["hard_loss"] for e in hist["eval"]]
    assert list(d["accuracy"]) == [e["accuracy"] for e in hist["eval"]] and d["loss_name"] == "regret"
    bad = tmp_path / "bad.json"
    bad.write_text('{"loss": [1]}')
    with pytest.raises(ValueError, match="minigumbel train --json"):
        figures.training_data(bad)
    bad.write_text("not json")
    with pytest.raises(ValueError, match="not JSON"):
        figures.training_data(bad)
    bad.write_bytes(b"PK\x03\x04\xff\xfe binary, e.g. a checkpoint")
    for read in (figures.training_data, figures.vae_gradients_data):
        with pytest.raises(ValueError, match="not JSON"):
            read(bad)


# ----------------------------------------------------------------------------- the plot command

@needs_mpl
@pytest.mark.parametrize("figure,args", [
    ("temperature", ["--samples", "500"]),
    ("schedules", ["--steps", "200"]),
    ("estimators", ["--samples", "200"]),
    ("leakage", ["--steps", "20", "--seeds", "2"]),
    ("training", []),
])
def test_plot_writes_a_png_of_the_requested_size(figure, args, run_json, tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    out = tmp_path / f"{figure}.png"
    extra = ["--from", str(run_json[0])] if figure == "training" else []
    r = plot(figure, "--out", str(out), "--size", "640x360", *args, *extra)
    assert r.exit_code == 0, r.output
    assert out.stat().st_size > 5000 and png_size(out) == (640, 360)


@needs_mpl
def test_plot_png_is_deterministic_and_svg_on_request(tmp_path):
    a, b, c = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    for out, seed in ((a, "1"), (b, "1"), (c, "2")):
        r = plot("temperature", "--out", str(out), "--samples", "300", "--seed", seed, "--size", "500x300")
        assert r.exit_code == 0, r.output
    assert a.read_bytes() == b.read_bytes() and a.read_bytes() != c.read_bytes()
    default = tmp_path / "d.png"
    assert plot("schedules", "--out", str(default), "--steps", "50").exit_code == 0
    assert png_size(default) == (900, 550)                                   # the default size
    svg = tmp_path / "s.svg"
    r = plot("schedules", "--out", str(svg), "--steps", "50")                # format from the suffix
    assert r.exit_code == 0 and svg.read_text().lstrip().startswith("<?xml") and "<svg" in svg.read_text()
    other = tmp_path / "fig.out"
    assert plot("schedules", "--out", str(other), "--steps", "50", "--format", "svg").exit_code == 0
    assert "<svg" in other.read_text()


def test_plot_without_matplotlib_exits_2_with_the_install_hint(tmp_path, monkeypatch):
    for mod in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "matplotlib", None)        # `import matplotlib` now raises ImportError
    r = plot("schedules", "--out", str(tmp_path / "x.png"))
    assert r.exit_code == 2
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:") and "pip install 'minigumbel[plot]'" in lines[0]
    assert "Traceback" not in r.output and not (tmp_path / "x.png").exists()


@needs_mpl
@pytest.mark.parametrize("args,needle", [
    (["temperature", "--size", "big"], "WIDTHxHEIGHT"),
    (["temperature", "--size", "10x10"], "between 100x100"),
    (["training"], "--from"),
    (["temperature", "--steps", "5"], "--steps"),
    (["leakage", "--samples", "5"], "--samples"),
    (["schedules", "--seeds", "2"], "--seeds"),
    (["nosuch"], "nosuch"),
])
def test_plot_bad_input_is_one_error_line(args, needle, tmp_path):
    r = plot(*args, "--out", str(tmp_path / "x.png"))
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:") and needle in lines[0], r.output


@needs_mpl
def test_plot_training_from_a_file_that_is_not_a_run(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"rows": []}')
    r = plot("training", "--from", str(bad), "--out", str(tmp_path / "x.png"))
    assert r.exit_code == 2 and r.output.startswith("Error:") and "minigumbel train --json" in r.output


@pytest.mark.parametrize("figure", ["leakage", "vae"])
def test_plot_without_cupy_is_one_error_line_before_any_progress(figure, no_cupy, tmp_path):
    pytest.importorskip("matplotlib")
    r = CliRunner().invoke(main, ["plot", figure, "--out", str(tmp_path / "f.png"), "--steps", "1",
                                  "--backend", "cupy"])
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("Error:") and "pip install" in lines[0], r.output


# ----------------------------------------------------------------------------- readable figures

def _vae_result(seeds=(0, 1), steps=(0, 5)):
    """A synthetic `estimators --problem vae --json` result: numbers chosen here, not by the lab."""
    rows, runs = [], []
    for i, s in enumerate(seeds):
        norms = [2.0 + i, 4.0 + i]
        runs.append({"seed": s, "exact_norm": norms, "recon": [30.0, 20.0]})
        for j, step in enumerate(steps):
            for name, scale in (("st", 1.0), ("reinmax", 3.0)):
                rows.append({"seed": s, "step": step, "estimator": name, "tau": 1.0, "bias_norm": 0.5 * scale,
                             "bias_se": 0.1, "variance": scale * (1 + i + j), "mse": 0.25 * scale ** 2 + scale * (1 + i + j),
                             "cosine": 0.9 - 0.1 * j, "norm_ratio": 0.8})
    return {"latents": 2, "classes": 8, "codes": 64, "images": 32, "samples": 200, "train_estimator": "st-gumbel",
            "seed": seeds[0], "seeds": list(seeds), "baseline": "loo", "steps": list(steps), "runs": runs, "rows": rows}


def test_vae_gradients_data_has_one_row_per_training_run_relative_to_that_runs_gradient():
    d = figures.vae_gradients_data(_vae_result())
    s = d["series"][("reinmax", 1.0)]
    norms = np.array([[2.0, 4.0], [3.0, 5.0]])                   # (seed, step), as written above
    variance = 3.0 * (1 + np.arange(2)[:, None] + np.arange(2)[None, :])
    np.testing.assert_allclose(s["rel_bias"], 1.5 / norms)
    np.testing.assert_allclose(s["rel_variance"], variance / norms ** 2)
    np.testing.assert_allclose(s["rel_mse"], (2.25 + variance) / norms ** 2)
    np.testing.assert_allclose(d["exact_norm"], norms)
    assert list(d["seeds"]) == [0, 1] and list(d["steps"]) == [0, 5]
    old = {k: v for k, v in _vae_result().items() if k not in ("runs", "seeds")}   # the one-run format
    with pytest.raises(ValueError, match="runs"):
        figures.vae_gradients_data(old)


def test_signed_never_prints_minus_zero():
    from minigumbel.plotting import signed
    assert [signed(v) for v in (-0.001, -0.0, 0.004, -0.02, 2.95)] == ["0.00", "0.00", "0.00", "-0.02", "+2.95"]


def _drawn(name, data, size=(1000, 700)):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure
    from minigumbel import plotting
    fig = Figure(figsize=(size[0] / 100, size[1] / 100), dpi=100)
    plotting._DRAW[name](fig, data)
    return fig


@needs_mpl
def test_estimators_figure_has_bias_cosine_variance_mse_and_series_told_apart():
    d = figures.estimators_data(seed=0, taus=(0.5, 1.0), samples=200)
    fig = _drawn("estimators", d)
    titles = " | ".join(ax.get_title() for ax in fig.axes)
    for word in ("bias", "direction", "variance", "mean squared error"):
        assert word in titles, titles
    ax_mse = next(ax for ax in fig.axes if "mean squared error" in ax.get_title())
    styles = {(ln.get_color(), ln.get_marker()) for ln in ax_mse.get_lines()}
    assert len(styles) == len(d["series"]) == 10                 # every series its own colour and marker
    colours = {ln.get_color() for ln in ax_mse.get_lines()}
    assert len(colours) == 10                                     # colour alone tells them apart too
    legend = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert any("not detected" in t and "s.e." in t for t in legend), legend


@needs_mpl
def test_vae_gradients_figure_draws_every_run_and_no_empty_panel():
    fig = _drawn("vae-gradients", figures.vae_gradients_data(_vae_result()), size=(1200, 1000))
    data_axes = [ax for ax in fig.axes if ax.axison]
    assert len(data_axes) == 4 and all(ax.get_lines() for ax in data_axes)       # 4 quantities × 1 τ
    key = [ax for ax in fig.axes if not ax.axison]
    assert len(key) == 1 and key[0].get_legend() is not None                     # one legend column, full height
    # 2 estimators × (2 thin per-run lines + 1 median) in the MSE panel
    mse_ax = next(ax for ax in data_axes if "MSE" in ax.get_ylabel())
    assert len(mse_ax.get_lines()) == 6
    assert "2 training runs" in fig._suptitle.get_text()


@needs_mpl
def test_temperature_figure_numbers_categories_from_0_like_the_sample_table():
    d = figures.temperature_data(n_samples=200)
    fig = _drawn("temperature", d)
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == ["0", "1", "2", "3"], ticks


@needs_mpl
def test_leakage_title_has_no_minus_zero():
    step = np.array([0, 10])
    runs = {name: {"step": step, "soft_loss": np.array([[1.0, 0.2501], [1.0, 0.26]]),
                   "hard_loss": np.array([[1.0, 0.2500], [1.0, 0.2599]]), "train_loss": np.ones((2, 10))}
            for name in ("gumbel",)}
    d = {"config": {"tau": 2.0, "tau_min": 0.5, "anneal": "linear", "steps": 10}, "seeds": [0, 1],
         "noise_var": 0.25, "runs": runs}
    title = _drawn("leakage", d).axes[0].get_title()
    assert "hard − soft 0.00 (median)" in title and "-0.00" not in title, title


@needs_mpl
def test_plot_without_out_writes_figure_png_in_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["plot", "schedules", "--steps", "50"])
    assert r.exit_code == 0, r.output
    assert png_size(tmp_path / "schedules.png") == (900, 550) and "wrote schedules.png" in r.output
    r = CliRunner().invoke(main, ["plot", "schedules", "--steps", "50", "--format", "svg", "-q"])
    assert r.exit_code == 0 and "<svg" in (tmp_path / "schedules.svg").read_text() and r.output == ""


def test_make_figures_makes_every_committed_figure_and_refuses_unknown_arguments():
    # every PNG under docs/figures/ is written by a `step NAME` line of the script (the fast part or
    # --all), and the script names no figure that is not committed
    import pathlib
    import re
    import subprocess
    root = pathlib.Path(__file__).parent.parent
    script = (root / "scripts" / "make_figures.sh").read_text()
    steps = re.findall(r"^\s*step (\S+\.png) ", script, flags=re.M)
    made = set(steps)
    assert len(steps) == len(made), sorted(steps)                          # each figure made once
    committed = {p.name for p in (root / "docs" / "figures").glob("*.png")}
    assert made == committed, (made ^ committed)
    fast = script.split('if [ "$all" = 1 ]')[0]
    assert {"vae.png", "vae_gradients_2x8.png", "vae_gradients_4x4.png"}.isdisjoint(
        re.findall(r"^\s*step (\S+\.png) ", fast, flags=re.M))              # the VAE runs only with --all
    r = subprocess.run(["bash", str(root / "scripts" / "make_figures.sh"), "--bad"], capture_output=True, text=True)
    assert r.returncode == 2 and "usage" in r.stderr


@needs_mpl
def test_plot_out_naming_the_from_file_is_refused(run_json, tmp_path):
    """`plot training --from run.json --out run.json` replaced the run's history with the image."""
    src = tmp_path / "run.json"
    src.write_bytes(pathlib.Path(run_json[0]).read_bytes())
    r = plot("training", "--from", str(src), "--out", str(src), "--format", "png")
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and "--out and --from name the same file" in lines[0], r.output
    assert src.read_bytes() == pathlib.Path(run_json[0]).read_bytes()
