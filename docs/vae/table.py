"""Print the README's VAE table (markdown, mean ± sd over seeds) from runs.jsonl (run_table.sh)."""
import json
import os
import statistics

HERE = os.path.dirname(os.path.abspath(__file__))
# (estimator, config fields that tell the row apart, label)
ROWS = [("softmax", {}, "softmax (deterministic)"), ("gumbel", {}, "gumbel"), ("st-gumbel", {}, "st-gumbel"),
        ("st", {}, "st"), ("reinforce", {"baseline": "running"}, "reinforce, running-mean baseline"),
        ("reinforce", {"baseline": "loo", "samples": 4}, "reinforce, leave-one-out over 4 codes per image"),
        ("gumbel-rao", {}, "gumbel-rao (k = 10)"), ("reinmax", {"tau_min": 1.0}, "reinmax (τ = 1)")]
COLS = [("test_nelbo_hard", 2), ("test_nelbo_soft", 2), ("test_iw_nll", 2), ("train_nelbo", 2), ("kl", 2), ("seconds", 0)]

with open(os.path.join(HERE, "runs.jsonl"), encoding="utf-8") as fh:
    records = [json.loads(line) for line in fh if line.strip()]
print("| estimator | test −ELBO, hard | test −ELBO, soft | test −log p(x), IW (S = 100) | train −ELBO, hard | KL | seconds |")
print("|---|---|---|---|---|---|---|")
for est, fields, label in ROWS:
    runs = [r for r in records if r["config"]["estimator"] == est and not r["error"]
            and all(r["config"][k] == v for k, v in fields.items())]
    assert len(runs) == 3, (label, len(runs))
    cells = []
    for key, n in COLS:
        vals = [r["seconds"] if key == "seconds" else r["metrics"][key] for r in runs]
        cells.append(f"{statistics.fmean(vals):.{n}f} ± {statistics.stdev(vals):.{n}f}")
    print(f"| {label} | " + " | ".join(cells) + " |")
print(f"| independent pixels (no code) | {records[0]['metrics']['pixel_baseline_nll']:.2f} | | | | | |")
