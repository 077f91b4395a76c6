"""scripts/check_readme.py: it finds the blocks of a markdown text and the way each is to be checked,
and its comparisons accept what they must and reject what they must (the script itself runs in CI
as `python scripts/check_readme.py --fast`)."""
import importlib.util
import os
import sys

import pytest

_PATH = os.path.join(os.path.dirname(__file__), "..", "scripts", "check_readme.py")
_spec = importlib.util.spec_from_file_location("check_readme", _PATH)
cr = importlib.util.module_from_spec(_spec)
sys.modules["check_readme"] = cr          # dataclasses look their module up there
_spec.loader.exec_module(cr)

PY = sys.executable.replace("\\", "/")

DOC = """# Title

Run `minigumbel train --steps 5` or, in a table, `minigumbel plot temperature\\|leakage --out x.png`;
a span over two lines: `minigumbel estimators
--tau 0.5`. <!-- `minigumbel hidden` is in a comment -->

<!-- check: slow -->
<!-- check: mask \\d+ widgets -->
```console
$ echo one
one
$ echo two \\
  three
two three
```

```python
print(1 + 1)
```

```text
2
```

<!-- check: skip needs a GPU -->
```bash
minigumbel train --backend cupy
```

| command | what |
|---|---|
| `minigumbel sample --logits 1,2` | draws |

```
no language
```
"""


def test_blocks_languages_comments_and_a_python_blocks_output_are_found():
    blocks, inline = cr.parse_markdown(DOC)
    assert [b.lang for b in blocks] == ["console", "python", "bash", ""]
    console, python, bash, bare = blocks
    assert console.flags == {"slow"} and console.masks == [r"\d+ widgets"] and console.skip is None
    assert cr.console_commands(console.lines) == [("echo one", ["one"]), ("echo two  three", ["two three"])]
    assert python.output is not None and python.output.lines == ["2"]
    assert bash.skip == "needs a GPU"
    assert [cmd for *_, cmd in inline] == ["minigumbel train --steps 5",
                                          "minigumbel plot temperature|leakage --out x.png",
                                          "minigumbel estimators --tau 0.5",
                                          "minigumbel sample --logits 1,2"]


def test_plan_says_how_each_is_checked_and_fast_leaves_out_what_is_slow():
    blocks, inline = cr.parse_markdown(DOC)
    full = [(c.kind, c.mode) for c in cr.plan(blocks, inline, fast=False)]
    assert full[:5] == [("console", "exact"), ("console", "exact"), ("python", "exact"),
                        ("bash", "validate"), ("?", "error")]
    assert full[5:] == [("inline", "validate")] * 4
    fast = [(c.kind, c.mode) for c in cr.plan(blocks, inline, fast=True)]
    assert fast[:2] == [("console", "validate")] * 2          # slow: validated instead of run
    blocks, _ = cr.parse_markdown("<!-- check: table tail -->\n```console\n$ x\n```\n")
    assert blocks[0].flags == {"table", "tail"}
    blocks, _ = cr.parse_markdown("<!-- check: quick -->\n```console\n$ x\n```\n")
    assert "unknown check word 'quick'" in blocks[0].problems[0]


def _results(md, fast=False):
    return [(c.kind, c.mode, problems) for c, problems, _, _ in cr.check_markdown(md, fast=fast)]


def test_a_console_block_passes_when_its_output_is_shown_and_fails_on_one_changed_line():
    md = f'```console\n$ {PY} -c "print(\'a\'); print(\'b 1.5 s\')"\na\nb 2.0 s\n```\n'
    assert _results(md) == [("console", "exact", [])]           # the timing is masked
    wrong = md.replace("\na\n", "\nA\n")
    (kind, mode, problems), = _results(wrong)
    assert problems and "-A" in problems and "+a" in problems
    missing = md.replace("\na\n", "\n")                          # a line left out is a failure too
    assert _results(missing)[0][2]


def test_tail_ellipsis_mask_and_a_failing_command():
    cmd = f'{PY} -c "print(1); print(2); print(3)"'
    assert _results(f"<!-- check: tail -->\n```console\n$ {cmd}\n3\n```\n")[0][2] == []
    assert _results(f"<!-- check: tail -->\n```console\n$ {cmd}\n2\n```\n")[0][2]
    assert _results(f"```console\n$ {cmd}\n1\n...\n3\n```\n")[0][2] == []
    assert _results(f"<!-- check: mask (?m)^[12]$ -->\n```console\n$ {cmd}\n2\n1\n3\n```\n")[0][2] == []
    problems = _results(f'```console\n$ {PY} -c "import sys; sys.exit(3)"\n```\n')[0][2]
    assert problems and problems[0].startswith("exit status 3")


def test_python_block_output_is_compared_and_bash_commands_must_succeed():
    md = "```python\nprint(6 * 7)\n```\n\n```text\n{}\n```\n"
    assert _results(md.format(42)) == [("python", "exact", [])]
    assert _results(md.format(43))[0][2]
    assert _results(f"```bash\n{PY} -c pass\n```\n") == [("bash", "run", [])]
    assert _results(f"```bash\n{PY} -c 'raise SystemExit(1)'\n```\n")[0][2]
    # slow python is only compiled in --fast, and a syntax error is still caught
    assert _results("<!-- check: slow -->\n```python\nprint(\n```\n", fast=True)[0][:2] == ("python", "compile")
    assert _results("<!-- check: slow -->\n```python\nprint(\n```\n", fast=True)[0][2]


def test_validation_knows_the_commands_options_and_values():
    ok = ["minigumbel train --task vae --steps 10 -q", "minigumbel plot temperature --out t.png",
          "minigumbel compare --estimators st,reinmax --tau-min 1", "minigumbel train --task argmax|query",
          "minigumbel plot FIGURE --out PATH", "minigumbel --help",
          "pip install -e '.[test]'", "python examples/gumbel_max_is_exact.py",
          "minigumbel estimators --problem vae --json > v.json && minigumbel plot vae-gradients --from v.json --out v.png"]
    for cmd in ok:
        assert cr.validate(cmd)[0] == [], cmd
    bad = {"minigumbel train --no-such-option 1": "has no option --no-such-option",
           "minigumbel trian": "no command 'minigumbel trian'",
           "minigumbel train --task nosuch": "--task",
           "minigumbel train --steps abc": "--steps",
           "minigumbel plot nosuch --out x.png": "nosuch",
           "pip install '.[nosuch]'": "no extra 'nosuch'",
           "python examples/no_such_example.py": "does not exist",
           "python examples/gumbel_max_is_exact.py --no-such-flag": "has no option --no-such-flag",
           "pytest tests/test_no_such_file.py": "does not exist",
           "nox -s nosuch": "no session nosuch"}
    for cmd, expected in bad.items():
        problems, _ = cr.validate(cmd)
        assert any(expected in p for p in problems), (cmd, problems)
    assert cr.validate("cd somewhere")[1] is None                # nothing knows it: reported, not passed off


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
        " (median 3.4) does not overlap the shown [2.753, 3.33]" in problems[0]
    out = [ln.replace("8/10", "1/10") for ln in TABLE]
    problems, _ = cr.compare_table(TABLE, out)
    assert len(problems) == 1 and "1/10 seeds reach the target, shown 8/10" in problems[0]
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


def test_every_block_of_the_docs_has_a_language_and_well_formed_check_comments():
    blocks, inline = cr.collect()
    errors = [f"{c.where}: {c.command}" for c in cr.plan(blocks, inline, fast=True) if c.mode == "error"]
    assert errors == []
