"""Re-run the commands whose output README.md shows, and compare with what it shows.

    python scripts/check_readme.py            # everything (the compare tables take minutes)
    python scripts/check_readme.py --fast     # the deterministic outputs only (CI runs this)
    python scripts/check_readme.py --list     # what is checked, and how

Deterministic outputs (the examples, `minigumbel estimators`, `train`, `gradcheck`) must match
line for line, except fields that are timings (masked on both sides). Training grids (`compare`)
vary across machines run by run, so their tables are compared within the uncertainty they print:
the same header and rows; each metric's 95% interval for the median overlapping the README's;
each count of seeds reaching the target consistent with the README's (Fisher's exact test, 5%).
Commands in the README's code blocks that no check covers are listed at the end.
"""
from __future__ import annotations

import argparse
import difflib
import math
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INTERVAL = re.compile(r"(\S+) \[(\S+), (\S+)\]")


@dataclass
class Check:
    command: str                 # as the README shows it
    locate: str                  # the output block: the first fenced block whose first line starts with this
    mode: str = "exact"          # exact: the shown lines, in a row, somewhere in the output | tail | table
    fast: bool = True
    mask: tuple = ()             # regexes whose matches are timings: replaced by <t> on both sides
    skip_lines: int = 0          # lines of the block before the output (a "$ command" line)
    nth: int = 1                 # the nth block that starts so


CHECKS = [
    Check("python examples/gumbel_max_is_exact.py", "Gumbel-max: N = 1,000,000 samples"),
    Check("python examples/temperature_sweep.py", "    τ  E[max_k y_k]"),
    Check("python examples/estimator_bias_variance.py", "estimator               τ = 0.1"),
    Check("minigumbel estimators --problem quadratic --tau 0.5,1,2", "problem quadratic, K = 5, seed 0",
          mask=(r"(?m)(?<=\d)\s+\d+\.\d+$",)),                    # the µs/estimate column
    Check("minigumbel train", "$ minigumbel train", mask=(r"(?m)\d+(\.\d+)? s$",), skip_lines=1),
    Check("minigumbel gradcheck", "negative control (softmax VJP", mode="tail"),
    Check("minigumbel compare", "minigumbel compare: bottleneck task, 1500 steps, τ 2 → 0.5 (linear), seeds 0..9",
          mode="table", fast=False),
    Check("minigumbel compare --anneal constant --grid tau=0.5,1,2",
          "minigumbel compare: bottleneck task, 1500 steps, τ from the grid", mode="table", fast=False),
    Check("minigumbel compare --estimators st,reinforce,gumbel-rao",
          "minigumbel compare: bottleneck task, 1500 steps, τ 2 → 0.5 (linear), seeds 0..9", mode="table",
          fast=False, nth=2),
    Check("minigumbel compare --estimators reinmax,gumbel --tau-min 1",
          "minigumbel compare: bottleneck task, 1500 steps, τ 2 → 1 (linear)", mode="table", fast=False),
    Check("python examples/polynomial_programming.py",
          "estimator               p = 1.5", fast=False),
]
# commands the README shows without an output to compare, or whose output is a timing or a figure
NOT_COMPARED = {"minigumbel bench": "timings", "python benchmarks/": "timings",
                "minigumbel plot": "figures (their data are tested in tests/test_figures.py)",
                "bash scripts/gpu_check.sh": "needs a GPU", "scripts/make_figures.sh": "figures"}


def blocks(text):
    """The fenced code blocks of a markdown text, as lists of lines."""
    out, cur = [], None
    for line in text.splitlines():
        if line.startswith("```"):
            if cur is None:
                cur = []
            else:
                out.append(cur)
                cur = None
        elif cur is not None:
            cur.append(line)
    return out


def doc_blocks():
    """The fenced blocks of README.md and docs/*.md, in that order."""
    import glob
    out = []
    for path in ["README.md", *sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))]:
        with open(os.path.join(ROOT, path), encoding="utf-8") as fh:
            out += blocks(fh.read())
    return out


def find_block(all_blocks, check):
    found = [b for b in all_blocks if b and b[0].startswith(check.locate)]
    if len(found) < check.nth:
        raise LookupError(f"README.md has no block starting with {check.locate!r}"
                          + (f" (looked for the {check.nth}th)" if check.nth > 1 else ""))
    return found[check.nth - 1][check.skip_lines:]


def run(command):
    argv = shlex.split(command, comments=True)
    if argv[0] == "minigumbel":
        argv = [sys.executable, "-m", "minigumbel_cli.main", *argv[1:]]
    elif argv[0] == "python":
        argv = [sys.executable, *argv[1:]]
    p = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    if p.returncode != 0:
        raise RuntimeError(f"exit status {p.returncode}: {p.stderr.strip()[-500:]}")
    return p.stdout.rstrip("\n").splitlines()


def _masked(lines, mask):
    text = "\n".join(ln.rstrip() for ln in lines)
    for pattern in mask:
        text = re.sub(pattern, "<t>", text)
    return text.splitlines()


def compare_exact(shown, got, check):
    """[] when the shown lines are the output's last lines (tail) or appear in it in a row (exact:
    the README may show an excerpt); else a diff against the closest window of the output."""
    shown, got = _masked(shown, check.mask), _masked(got, check.mask)
    n = len(shown)
    windows = [got[-n:]] if check.mode == "tail" else [got[i:i + n] for i in range(max(1, len(got) - n + 1))]
    if shown in windows:
        return []
    best = max(windows, key=lambda w: difflib.SequenceMatcher(None, shown, w).ratio())
    return list(difflib.unified_diff(shown, best, "README.md", "re-run", lineterm="", n=1))


# ----------------------------------------------------------------------------- tables within uncertainty

def parse_table(lines):
    """{row label: ([(median, lo, hi)], (k, n) or None)} of a sweep/compare table."""
    rows = {}
    for line in lines:
        cells = INTERVAL.findall(line)
        if not cells:
            continue
        label = line[:line.index(INTERVAL.search(line).group(0))].split()
        reach = re.search(r"(\d+)/(\d+)\s*$", line)
        rows[" ".join(label)] = ([tuple(float(x) for x in c) for c in cells],
                                 (int(reach.group(1)), int(reach.group(2))) if reach else None)
    return rows


def fisher_exact(k1, n1, k2, n2) -> float:
    """Two-sided p-value of Fisher's exact test that k1/n1 and k2/n2 come from one proportion."""
    total, hits = n1 + n2, k1 + k2

    def prob(a):
        return math.comb(n1, a) * math.comb(n2, hits - a) / math.comb(total, hits)
    observed = prob(k1)
    lo, hi = max(0, hits - n2), min(n1, hits)
    return min(1.0, sum(prob(a) for a in range(lo, hi + 1) if prob(a) <= observed * (1 + 1e-9)))


def compare_table(shown, got):
    problems = []
    rows_s, rows_g = parse_table(shown), parse_table(got)
    # every line but the rows (title, column names, notes) the same, up to column padding
    text_s, text_g = ([" ".join(ln.split()) for ln in t if not INTERVAL.search(ln)] for t in (shown, got))
    if text_s != text_g:
        problems += [f"text differs: {ln}" for ln in difflib.unified_diff(text_s, text_g, lineterm="", n=0)
                     if ln[:1] in "+-" and ln[:3] not in ("+++", "---")]
    if list(rows_s) != list(rows_g):
        return problems + [f"rows differ: README {list(rows_s)}, re-run {list(rows_g)}"], False
    exact = True
    for label, (cells_s, reach_s) in rows_s.items():
        cells_g, reach_g = rows_g[label]
        for col, ((med_s, lo, hi), (med_g, lo_g, hi_g)) in enumerate(zip(cells_s, cells_g)):
            exact &= (med_s, lo, hi) == (med_g, lo_g, hi_g)
            if hi_g < lo or lo_g > hi:
                problems.append(f"{label}, column {col + 1}: the re-run's 95% interval for the median "
                                f"[{lo_g:g}, {hi_g:g}] (median {med_g:g}) does not overlap the README's "
                                f"[{lo:g}, {hi:g}] (median {med_s:g})")
        if reach_s and reach_g:
            exact &= reach_s == reach_g
            p = fisher_exact(reach_s[0], reach_s[1], reach_g[0], reach_g[1])
            if p < 0.05:
                problems.append(f"{label}: {reach_g[0]}/{reach_g[1]} seeds reach the target, README "
                                f"{reach_s[0]}/{reach_s[1]} (Fisher's exact test p = {p:.3f} < 0.05)")
    return problems, exact


# ----------------------------------------------------------------------------- main

def unchecked(all_blocks):
    """Commands in the README's code blocks that no check covers: (command, why)."""
    known = {c.command for c in CHECKS}
    out = []
    for b in all_blocks:
        for line in b:
            cmd = line.strip().removeprefix("$ ").split("  #")[0].strip()
            if not re.match(r"(minigumbel [a-z]+( |$)|python (examples|benchmarks|scripts)/|bash scripts/|scripts/)", cmd):
                continue
            if cmd in known or cmd.split(" #")[0].strip() in known:
                continue
            why = next((w for prefix, w in NOT_COMPARED.items() if cmd.startswith(prefix)), "no output shown")
            out.append((cmd, why))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fast", action="store_true", help="only the deterministic, quick outputs")
    p.add_argument("--list", action="store_true", help="list the checks and exit")
    p.add_argument("--only", default=None, help="only the checks whose command contains this text")
    p.add_argument("--save", default=None, metavar="DIR", help="also write each re-run's output to a file in DIR")
    a = p.parse_args(argv)
    all_blocks = doc_blocks()
    todo = [c for c in CHECKS if (c.fast or not a.fast) and (a.only is None or a.only in c.command)]
    if a.list:
        for c in CHECKS:
            print(f"{'fast' if c.fast else 'slow'}  {c.mode:5}  {c.command}")
        return 0
    failed = 0
    for c in todo:
        t0 = time.monotonic()
        try:
            shown = find_block(all_blocks, c)
            got = run(c.command)
        except (LookupError, RuntimeError, subprocess.TimeoutExpired) as exc:
            print(f"FAIL  {c.command}: {exc}")
            failed += 1
            continue
        took = time.monotonic() - t0
        if a.save:
            os.makedirs(a.save, exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.=-]+", "_", c.command).strip("_") + ".txt"
            with open(os.path.join(a.save, name), "w", encoding="utf-8") as fh:
                fh.write("\n".join(got) + "\n")
        if c.mode == "table":
            problems, exact = compare_table(shown, got)
            verdict = "identical" if exact and not problems else "within the printed uncertainty"
        else:
            problems, verdict = compare_exact(shown, got, c), "identical"
        if problems:
            failed += 1
            print(f"FAIL  {c.command}  ({took:.0f} s)")
            print("\n".join("      " + line for line in problems))
        else:
            print(f"ok    {c.command}  ({verdict}; {took:.0f} s)")
    rest = unchecked(all_blocks)
    if rest and not a.only:
        print("not compared (shown without an output, or timings/figures):")
        for cmd, why in rest:
            print(f"      {cmd}  [{why}]")
    print(f"{len(todo) - failed} of {len(todo)} checks pass" + ("" if not a.fast else " (--fast: deterministic outputs only)"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
