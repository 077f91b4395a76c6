"""Print the VAE tables of docs/vae.md from a results file of docs/vae/run_table.sh (no training).

    python docs/vae/table.py docs/vae/runs.jsonl

One table per initialisation (he, torch), one row per estimator setting; each cell the median over
seeds with a 95% interval for the median (sign-test order statistics, minigumbel.sweep_summary: for
10 seeds [x_(2), x_(9)]), as in the tables of `minigumbel compare` and `minigumbel sweep`.
"""
import json
import sys

from minigumbel.sweep_summary import median_ci

# (label, what tells the row apart in a run's config)
ROWS = [
    ("softmax", {"estimator": "softmax"}),
    ("gumbel", {"estimator": "gumbel"}),
    ("st-gumbel", {"estimator": "st-gumbel"}),
    ("st", {"estimator": "st"}),
    ("gumbel-rao (k = 10)", {"estimator": "gumbel-rao", "gr_k": 10}),
    ("reinforce, running-mean baseline", {"estimator": "reinforce", "baseline": "running", "samples": 1}),
    ("reinforce, leave-one-out, 4 codes", {"estimator": "reinforce", "baseline": "loo", "samples": 4}),
    ("reinmax, τ = 1 constant", {"estimator": "reinmax", "tau_min": 1.0}),
    ("reinmax, τ 1 → 0.5", {"estimator": "reinmax", "tau_min": 0.5}),
]
COLUMNS = [("test_nelbo_hard", "test -ELBO (hard)"), ("test_nelbo_soft", "test objective"),
           ("test_iw_nll", "test IW (S=100)"), ("kl", "KL")]
# paired comparisons of the hard −ELBO: two rows' runs of the same seed share the initial weights and
# the batches (both drawn from the seed), so their per-seed difference cancels what the seed does
PAIRS = [("gumbel", "st-gumbel"), ("gumbel-rao (k = 10)", "st-gumbel"), ("reinmax, τ = 1 constant", "st-gumbel"),
         ("reinmax, τ 1 → 0.5", "st-gumbel"), ("reinmax, τ 1 → 0.5", "reinmax, τ = 1 constant"),
         ("reinforce, running-mean baseline", "st-gumbel")]
INITS = {"he": "He init (the default: Gaussian weights, std √(2/fan_in), zero biases)",
         "torch": "PyTorch's nn.Linear init (--init torch: weights and biases U(±1/√fan_in))"}


SHORT = []        # a "†" for each cell with fewer than 6 seeds


def cell(values):
    s = median_ci(values)
    if not s["n"]:
        return "—"
    mark = "" if s["coverage"] >= 0.95 else "†"     # below 6 seeds: [min, max], coverage 1 − 2^(1−n)
    SHORT.extend(mark)
    return f"{s['median']:.2f} [{s['lo']:.2f}, {s['hi']:.2f}]{mark}"


def table(rows, headers):
    cells = [headers] + rows
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    fmt = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([fmt(headers), "  ".join("-" * w for w in widths)] + [fmt(r) for r in rows])


def runs_of(records, init, fields):
    return {r["config"]["seed"]: r for r in records if r["config"].get("init", "he") == init and not r.get("error")
            and all(r["config"].get(k) == v for k, v in fields.items())}


def pairs(records, init):
    """Lines 'A − B: median [95% interval] (A lower in n of m seeds)' of the per-seed differences."""
    rows = dict(ROWS)
    out = []
    for a, b in PAIRS:
        ra, rb = runs_of(records, init, rows[a]), runs_of(records, init, rows[b])
        seeds = sorted(set(ra) & set(rb))
        if len(seeds) < 6:                  # no 95% interval for the median below 6 values
            continue
        diff = [ra[s]["metrics"]["test_nelbo_hard"] - rb[s]["metrics"]["test_nelbo_hard"] for s in seeds]
        lower = sum(d < 0 for d in diff)
        out.append([f"{a} − {b}", cell(diff), f"{lower}/{len(seeds)}"])
    return out


def main(path):
    with open(path, encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    records = [r for r in records if r["config"]["task"] == "vae"]
    for init, title in INITS.items():
        body = []
        for label, fields in ROWS:
            runs = [r for r in records if r["config"].get("init", "he") == init
                    and all(r["config"].get(k) == v for k, v in fields.items())]
            ok = [r for r in runs if not r.get("error")]
            failed = len(runs) - len(ok)
            body.append([label] + [cell([r["metrics"][k] for r in ok]) for k, _ in COLUMNS]
                        + [str(len(runs)) + (f" ({failed} failed)" if failed else "")])
        print(f"{title}; median [95% interval for the median] over the seeds, nats per image")
        print(table(body, ["estimator"] + [h for _, h in COLUMNS] + ["seeds"]))
        paired = pairs(records, init)
        if paired:
            print("paired by seed (same initial weights and batches), test -ELBO (hard):")
            print(table(paired, ["difference A − B", "median [95% interval]", "A lower"]))
        print()
    if SHORT:
        print("† fewer than 6 seeds: the interval is [min, max], which covers the median with probability "
              "1 − 2^(1−n) (94% for 5 seeds)")
    pixel = next((r["metrics"]["pixel_baseline_nll"] for r in records if r.get("metrics")), None)
    if pixel is not None:
        print(f"independent-pixel baseline (test NLL): {pixel:.2f}. hard = codes d ~ q (10 per image); "
              "objective = the training loss on the test set (the estimator's own training-time code + KL: "
              "a bound for neither model); IW = importance-weighted bound on -log p(x).")


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        sys.exit(0 if len(sys.argv) == 2 else 2)
    main(sys.argv[1])
