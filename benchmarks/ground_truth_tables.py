"""The ground-truth tables of docs/findings.md, printed as Markdown from a library-build store.

    python benchmarks/ground_truth_tables.py --store stores/library

1. floors: per target, the baseline's test score on every seed against its floor (best constant
   prediction on the same examples), with its binomial standard error;
2. sources: per source, validation and test score of each seed, the prompts' largest absolute
   difference between seeds, and which seed transfers (best on validation);
3. transfer: per target, mean gain over sources and seeds, share of negative transfers, and the
   gain's spread over target seeds; then the same pooled, with a 95% CI resampling targets;
4. short versus converged: per target, Spearman between the sources' ranking after s steps
   (validation score at step s of each transfer run) and the converged truth (the best-on-validation
   checkpoint's test score), mean over target seeds; the mean over targets with a 95% CI resampling
   targets. The final validation score (the checkpoint actually chosen) is the noise ceiling.
"""

from __future__ import annotations

import argparse
import json
import warnings

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from intertask.stats import bootstrap_ci
from intertask.study.export import read_study
from intertask.tasks.metrics import binomial_se

N_BOOT = 5000


def _ci(values) -> str:
    """`mean [low, high]` over `values` (one per target), 95% percentile bootstrap."""
    values = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    if not len(values):
        return "n/a (no target defines it)"
    low, high = bootstrap_ci(values, n_boot=N_BOOT, seed=0)
    return f"{values.mean():+.2f} [{low:+.2f}, {high:+.2f}] (n = {len(values)} targets)"


def floors(view) -> None:
    runs = view.runs[view.runs["finished"] & (view.runs["kind"] == "baseline")]
    print("| target | floor | baseline test score per seed (± binomial SE) | n test | cleared on every seed |")
    print("|---|---:|---|---:|---|")
    for target, group in runs.groupby("task"):
        metrics = [json.loads(m) for m in group["metrics_json"]]
        floor, n = metrics[0]["test_floor"], metrics[0]["test_examples"]
        scores = [f"{s:.1f} ± {binomial_se(s, n):.1f}" for s in group.sort_values("seed")["test_score"]]
        cleared = all(s >= m["test_floor"] + 5 for s, m in zip(group["test_score"], metrics))
        print(f"| {target} | {floor:.1f} | {', '.join(scores)} | {n} | {'yes' if cleared else 'no'} |")


def sources(view) -> None:
    runs = view.runs[view.runs["finished"] & (view.runs["kind"] == "source")]
    transferred = set(view.matrix.frame.groupby("source")["source_seed"].first().items())
    print("| source | validation per seed | test per seed | max abs prompt difference | transfers |")
    print("|---|---|---|---:|---|")
    for source, group in runs.groupby("task"):
        group = group.sort_values("seed")
        prompts = [view.artifact(r).prompt.numpy() for r in group["run_id"]]
        spread = max(float(np.abs(a - b).max()) for a in prompts for b in prompts)
        best = [s for s in group["seed"] if (source, s) in transferred]
        print(f"| {source} | {', '.join(f'{v:.1f}' for v in group['validation_score'])} | "
              f"{', '.join(f'{v:.1f}' for v in group['test_score'])} | {spread:.2f} | "
              f"seed {best[0] if best else '-'} |")


def transfer(view) -> None:
    matrix = view.matrix.learned_only().frame
    print("| target | mean gain (points) | negative transfers | seed SD of the baseline | best source (its mean gain) |")
    print("|---|---:|---:|---:|---|")
    per_target = {}
    for target, group in matrix.groupby("target"):
        per_target[target] = group["gain"].mean()
        base_sd = group.drop_duplicates("seed")["baseline"].std(ddof=1)
        by_source = group.groupby("source")["gain"].mean()
        print(f"| {target} | {group['gain'].mean():+.2f} | {(group['gain'] < 0).mean():.0%} | {base_sd:.2f} | "
              f"{by_source.idxmax()} ({by_source.max():+.2f}) |")
    print(f"\nmean gain over targets: {_ci(per_target.values())}; "
          f"share negative over targets: {_ci(matrix.groupby('target')['gain'].apply(lambda g: (g < 0).mean()))}")


def short_versus_converged(view) -> None:
    runs = view.runs[view.runs["finished"] & (view.runs["kind"] == "transfer")]
    history = {r.run_id: dict(json.loads(r.metrics_json)["history"]) for r in runs.itertuples()}
    steps = sorted({int(s) for h in history.values() for s in h})
    print("| target | " + " | ".join(f"validation at step {s}" for s in steps) + " | chosen checkpoint's validation |")
    print("|---|" + "---:|" * (len(steps) + 1))
    per_target: dict[str, list[float]] = {}
    for target, group in runs.groupby("task"):
        rows = []
        for _, seed_group in group.groupby("seed"):
            truth = seed_group["test_score"].to_numpy()
            row = [spearmanr([history[r].get(s, np.nan) for r in seed_group["run_id"]], truth)[0] for s in steps]
            row.append(spearmanr(seed_group["validation_score"], truth)[0])
            rows.append(row)
        means = np.nanmean(np.array(rows, dtype=float), axis=0)
        per_target[target] = means
        print(f"| {target} | " + " | ".join(f"{m:+.2f}" for m in means) + " |")
    table = np.array(list(per_target.values()))
    for i, label in enumerate([f"step {s}" for s in steps] + ["chosen checkpoint"]):
        print(f"- Spearman with the converged truth, validation at {label}: {_ci(table[:, i])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True)
    parser.add_argument("--study", default=None)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # constant rankings give NaN correlations, which the tables show as nan
    view = read_study(args.store, args.study)
    for title, table in (("Floors", floors), ("Sources", sources), ("Transfer", transfer),
                         ("Short versus converged", short_versus_converged)):
        print(f"\n### {title}\n")
        table(view)


if __name__ == "__main__":
    main()
