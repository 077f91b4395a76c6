"""scripts/check_readme.py: its comparisons accept what they must and reject what they must
(the script itself runs in CI as `python scripts/check_readme.py --fast`)."""
import importlib.util
import os
import sys

import pytest

_PATH = os.path.join(os.path.dirname(__file__), "..", "scripts", "check_readme.py")
_spec = importlib.util.spec_from_file_location("check_readme", _PATH)
cr = importlib.util.module_from_spec(_spec)
sys.modules["check_readme"] = cr          # dataclasses look their module up there
_spec.loader.exec_module(cr)

TABLE = """minigumbel compare: bottleneck task, 1500 steps, τ 2 → 0.5 (linear), seeds 0..9 per cell; median [...]
estimator     soft-train recon_mse      hard-eval recon_mse             hard / soft  reach target
---------  -----------------------  -----------------------  ----------------------  ------------
softmax    0.1917 [0.1894, 0.1931]     3.143 [2.753, 3.330]    16.40 [14.26, 17.22]          0/10
gumbel     0.2543 [0.2534, 0.2888]  0.2543 [0.2534, 0.3657]    1.000 [1.000, 1.215]          8/10
reach target: seeds that end with hard recon_mse within 0.01 of σ² = 0.25""".splitlines()


def test_table_identical_and_within_uncertainty():
    assert cr.compare_table(TABLE, TABLE) == ([], True)
    moved = [ln.replace("3.143 [2.753, 3.330]", "3.400 [3.330, 3.500]").replace("8/10", "10/10") for ln in TABLE]
    assert cr.compare_table(TABLE, moved) == ([], False)        # intervals touch; 8/10 vs 10/10: p = 0.47


def test_table_outside_the_uncertainty_is_reported():
    out = [ln.replace("3.143 [2.753, 3.330]", "3.400 [3.331, 3.500]") for ln in TABLE]
    problems, _ = cr.compare_table(TABLE, out)
    assert len(problems) == 1 and "softmax, column 2: the re-run's 95% interval for the median [3.331, 3.5]" \
        " (median 3.4) does not overlap the README's [2.753, 3.33]" in problems[0]
    out = [ln.replace("8/10", "1/10") for ln in TABLE]
    problems, _ = cr.compare_table(TABLE, out)
    assert len(problems) == 1 and "1/10 seeds reach the target, README 8/10" in problems[0]
    problems, _ = cr.compare_table(TABLE, [ln for ln in TABLE if not ln.startswith("gumbel")])
    assert "rows differ" in problems[0]
    problems, _ = cr.compare_table(TABLE, [ln.replace("1500 steps", "1000 steps") for ln in TABLE])
    assert problems == ["text differs: -" + " ".join(TABLE[0].split()),
                        "text differs: +" + " ".join(TABLE[0].replace("1500", "1000").split())]
    wider = [ln.replace("estimator     soft", "estimator       soft") for ln in TABLE]   # padding only
    assert cr.compare_table(TABLE, wider) == ([], True)


def test_fisher_exact_matches_hand_computed_values():
    # 8/10 vs 10/10: tables with 18 hits in 20; P(a) = C(10,a) C(10,18−a)/C(20,18) for a = 8, 9, 10:
    # 45/190, 100/190, 45/190; two-sided p sums those ≤ P(8): 90/190
    assert cr.fisher_exact(8, 10, 10, 10) == pytest.approx(90 / 190)
    assert cr.fisher_exact(0, 10, 10, 10) == pytest.approx(2 / 184756)    # the two extreme tables, C(20,10)
    assert cr.fisher_exact(5, 10, 5, 10) == pytest.approx(1.0)


def test_exact_comparison_takes_excerpts_masks_timings_and_catches_one_digit():
    out = ["header", "a 1.25", "b 2.50  13.9", "footer"]
    assert cr.compare_exact(["a 1.25", "b 2.50  11.2"], out, cr.Check("x", "a", mask=(r"(?m)\s+\d+\.\d$",))) == []
    assert cr.compare_exact(["a 1.26"], out, cr.Check("x", "a")) != []
    assert cr.compare_exact(["footer"], out, cr.Check("x", "f", mode="tail")) == []
    assert cr.compare_exact(["header"], out, cr.Check("x", "h", mode="tail")) != []


def test_every_check_finds_its_block_in_the_readme():
    blocks = cr.doc_blocks()
    for check in cr.CHECKS:
        assert cr.find_block(blocks, check), check.command
