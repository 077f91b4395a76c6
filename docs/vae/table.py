"""Print the README's VAE table (markdown) from the JSON files written by run_table.sh."""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
ROWS = [("table_main.json", "softmax", "softmax (deterministic)"), ("table_main.json", "gumbel", "gumbel"),
        ("table_main.json", "st-gumbel", "st-gumbel"), ("table_main.json", "st", "st"),
        ("table_reinforce_running.json", "reinforce", "reinforce, running-mean baseline"),
        ("table_reinforce_loo.json", "reinforce", "reinforce, leave-one-out over 4 codes per image"),
        ("table_main.json", "gumbel-rao", "gumbel-rao (k = 10)"), ("table_reinmax.json", "reinmax", "reinmax (τ = 1)")]
COLS = [("test_nelbo_hard", 2), ("test_nelbo_soft", 2), ("test_iw_nll", 2), ("train_nelbo", 2), ("kl", 2), ("seconds", 0)]

print("| estimator | test −ELBO, hard | test −ELBO, soft | test −log p(x), IW (S = 100) | train −ELBO, hard | KL | seconds |")
print("|---|---|---|---|---|---|---|")
baseline = None
for fname, est, label in ROWS:
    with open(os.path.join(HERE, fname)) as fh:
        d = json.load(fh)
    baseline = d["pixel_baseline_nll"]
    r = next(r for r in d["results"] if r["estimator"] == est)
    cells = [f"{r[k]['mean']:.{n}f} ± {r[k]['sd']:.{n}f}" for k, n in COLS]
    print(f"| {label} | " + " | ".join(cells) + " |")
print(f"| independent pixels (no code) | {baseline:.2f} | | | | | |")
