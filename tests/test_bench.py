"""`minigumbel bench` and minigumbel.bench: structure, ratios, targets and bad input (no timing claims)."""
import importlib.util
import json

import pytest
from click.testing import CliRunner

from minigumbel_cli.main import main
from minigumbel import bench as B


def run(*args):
    return CliRunner().invoke(main, ["bench", *args])


def test_parse_sizes():
    assert B.parse_sizes("64x16, 4096X1024") == [(64, 16), (4096, 1024)]
    for bad in ("", "64", "64x", "0x5", "3x-2", "axb"):
        with pytest.raises(ValueError, match="sizes"):
            B.parse_sizes(bad)


def test_round_robin_calls_each_case_warmup_plus_repeats_times():
    calls = {"a": 0, "b": 0}

    def make(name):
        def f():
            calls[name] += 1
        return f
    res = B.round_robin({"a": make("a"), "b": make("b")}, repeats=5, warmup=2)
    assert calls == {"a": 7, "b": 7}
    assert res["a"]["runs"] == 5 and res["a"]["min_ms"] <= res["a"]["median_ms"] <= res["a"]["max_ms"]


def test_check_targets_reads_ratios_of_one_run():
    row = {"shape": [4096, 1024], "cases": {
        "fused": {"median_ms": 20.0}, "fused-1t": {"median_ms": 45.0},
        "unavoidable": {"median_ms": 40.0}, "torch": {"median_ms": 100.0}}}
    result = {"config": {"backend": "numpy", "dtype": "float32"}, "gumbel_softmax": [row],
              "train_step": {"cases": {"hand": {"median_ms": 1.0}, "autograd": {"median_ms": 2.0},
                                       "torch": {"median_ms": 0.5}}},
              "startup": {"median_ms": 250.0}}
    got = {t["name"]: (round(t["value"], 6), t["met"]) for t in B.check_targets(result)}
    assert got["fused fwd+bwd / torch CPU"] == (0.2, True)
    assert got["fused-1t fwd+bwd / unavoidable parts (1 thread each)"] == (1.125, True)
    assert got["train step: autograd / hand"] == (2.0, False)
    assert got["train step: hand / torch CPU"] == (2.0, False)
    assert got["minigumbel --help wall time (s)"] == (0.25, True)
    assert "fused fwd+bwd / jax jit CPU" not in got          # not measured: not reported


def test_bench_json_small():
    r = run("--sizes", "64x16,32x40", "--repeats", "2", "--parts", "gumbel", "--json", "-", "--threads", "2")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert [row["shape"] for row in d["gumbel_softmax"]] == [[64, 16], [32, 40]]
    cases = d["gumbel_softmax"][0]["cases"]
    assert {"fused", "fused-1t", "reference", "unavoidable"} <= set(cases)
    assert all(c["runs"] == 2 and c["median_ms"] > 0 for c in cases.values())
    assert d["environment"]["blas"]["name"] and d["environment"]["fast_threads"] >= 1


def test_bench_train_and_startup_table(tmp_path):
    out = tmp_path / "b.json"
    r = run("--parts", "train,startup", "--repeats", "2", "--json", str(out))
    assert r.exit_code == 0, r.output
    assert "One training step" in r.output and "--help" in r.output
    d = json.loads(out.read_text())
    assert {"hand", "autograd"} <= set(d["train_step"]["cases"])
    assert d["startup"]["runs"] == 2


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="PyTorch not installed")
def test_bench_against_torch_in_a_subprocess():
    r = run("--sizes", "64x16", "--repeats", "2", "--parts", "gumbel", "--against", "torch", "--json", "-")
    assert r.exit_code == 0, r.output
    torch_case = json.loads(r.stdout)["gumbel_softmax"][0]["cases"]["torch"]
    assert "error" not in torch_case and torch_case["runs"] == 2


@pytest.mark.parametrize("args,needle", [
    (["--sizes", "64"], "sizes"),
    (["--sizes", ""], "sizes"),
    (["--against", ""], "against"),
    (["--json", ""], "json"),
    (["--json", "/no/such/folder/x.json", "--parts", "startup"], "x.json"),
    (["--against", "tensorflow"], "against"),
    (["--parts", "gumbel,everything"], "parts"),
    (["--tau", "0"], "tau"),
    (["--repeats", "0"], "repeats"),
])
def test_bench_bad_input_exits_2_with_one_error_line(args, needle):
    r = run(*args)
    assert r.exit_code == 2
    assert needle in r.output and "Traceback" not in r.output


def test_sizes_without_the_gumbel_part_is_refused_not_ignored():
    r = run("--parts", "train", "--sizes", "4x4", "--repeats", "1")
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("Error:") and "--sizes" in lines[0], r.output


def test_bench_checks_part_times_checked_against_unchecked_in_one_run():
    """The checks part: every public function with its front-door checks and its private variant,
    timed round-robin; the ratio and the 10% target (for >= 1M elements) are reported."""
    r = run("--parts", "checks", "--sizes", "8x16", "--repeats", "2", "--json", "-")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)["checks"]
    names = {row["function"] for row in rows}
    assert {"softmax", "gumbel_softmax", "gumbel_softmax, masked logits", "gumbel_softmax_vjp"} <= names
    for row in rows:
        assert row["shape"] == [8, 16] and row["checked"]["runs"] == 2 and row["unchecked"]["runs"] == 2
        assert row["ratio"] == pytest.approx(row["checked"]["median_ms"] / row["unchecked"]["median_ms"])
    assert "Input checks" in r.stderr and "checked / unchecked" in r.stderr        # the table: on stderr
    # the target line applies to >= 1M elements only: not reported for 8x16
    assert not [t for t in json.loads(r.stdout)["targets"] if t["name"].startswith("checked / unchecked")]
    fake = {"config": {"dtype": "float32", "backend": "numpy"},
            "checks": [{"shape": [1024, 1024], "function": "softmax", "ratio": 1.04},
                       {"shape": [1024, 1024], "function": "gumbel_softmax", "ratio": 1.2},
                       {"shape": [64, 16], "function": "softmax", "ratio": 3.0}]}      # small: not counted
    (t,) = B.check_targets(fake)
    assert t["value"] == 1.2 and not t["met"] and "gumbel_softmax 1024x1024" in t["name"]
