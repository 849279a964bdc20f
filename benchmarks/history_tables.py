"""The ground-truth tables of docs/findings.md §1, printed as Markdown from a library's history.

    python benchmarks/history_tables.py --library src/intertask/library/minilm-offline-suite

Everything is read from the library (its manifest, prompts and history.json), so the tables need
no study store and grow with `intertask library measure`. Targets are the unit: every pooled
number is a mean over targets with a 95% interval over targets and the count it rests on.

1. floors: per target, the baseline's test score on every seed against its floor (the best
   constant prediction on the same test examples) with its binomial standard error;
2. sources: per source, validation score of each seed, the prompts' largest absolute difference
   between seeds, and the seed that transfers (best on validation);
3. transfer: per target (cases whose baseline cleared its floor), mean gain over sources and
   seeds, share of negative transfers, the baseline's seed SD and the best source; pooled over
   targets, and split into reasoning-like or multiple-choice targets against the rest;
4. short versus converged: per target, Spearman between the sources' ranking by validation
   score at step s of each transfer run and the converged truth (test score of the checkpoint
   chosen on validation), mean over target seeds; rows without a recorded validation curve
   (histories built before `library measure`) are left out and counted.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from intertask.errors import IntertaskError
from intertask.stats import INTERVALS, target_interval, target_interval_kind
from intertask.recommend.library import load_library
from intertask.tasks.metrics import binomial_se
from intertask.tasks.registry import load_task
from intertask.tasks.task import TaskKind

N_BOOT = 5000
REASONING_TAGS = {"reasoning", "multiple-choice", "multiple_choice"}


def _ci(values) -> str:
    """`mean [low, high] (n = targets, interval)` over `values` (one per target): a 95% interval over
    targets, Student-t below `MIN_TARGETS_FOR_BOOTSTRAP` targets, else a bootstrap (`target_interval`)."""
    values = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    if not len(values):
        return "n/a (no target defines it)"
    low, high = target_interval(values, np.arange(len(values)), n_boot=N_BOOT)
    kind = target_interval_kind(len(values))
    return f"{values.mean():+.2f} [{low:+.2f}, {high:+.2f}] (n = {len(values)} targets, {INTERVALS[kind]})"


def floors(library) -> None:
    print("| target | floor | baseline test score per seed (± binomial SE) | n test | cleared on every seed |")
    print("|---|---:|---|---:|---|")
    for target, group in library.history.frame.groupby("target"):
        seeds = group.drop_duplicates("seed").sort_values("seed")
        floor, n = seeds["floor"].iloc[0], seeds["n_test"].iloc[0]
        se = (lambda s: f" ± {binomial_se(s, int(n)):.1f}") if pd.notna(n) else (lambda s: "")
        scores = [f"{s:.1f}{se(s)}" for s in seeds["baseline"]]
        cleared = seeds["baseline_learned"].fillna(True).astype(bool).all()
        print(f"| {target} | {floor:.1f} | {', '.join(scores)} | {'' if pd.isna(n) else int(n)} | "
              f"{'yes' if cleared else 'no'} |")


def sources(library) -> None:
    print("| source | tags | train examples | validation per seed | max abs prompt difference | transfers |")
    print("|---|---|---:|---|---:|---|")
    for source in library.sources:
        prompts = list(source.prompts.values())
        spread = max(float(np.abs(a - b).max()) for a in prompts for b in prompts)
        scores = ", ".join(f"{source.scores[s]:.1f}" for s in sorted(source.scores))
        print(f"| {source.name} | {', '.join(source.tags)} | {source.n_train} | {scores} | {spread:.2f} | "
              f"seed {source.best_seed} |")


def _target_tags(name: str) -> set[str]:
    """The target's tags as the task registry knows them, "multiple-choice" for that kind; none for
    a target the registry cannot load (a user's file)."""
    try:
        task = load_task(name)
    except IntertaskError:
        return set()
    return set(task.tags) | ({"multiple-choice"} if task.kind is TaskKind.MULTIPLE_CHOICE else set())


def transfer(library) -> None:
    history = library.history.learned_only().frame
    print("| target | mean gain (points) | negative transfers | seed SD of the baseline | best source (its mean gain) |")
    print("|---|---:|---:|---:|---|")
    for target, group in history.groupby("target"):
        base_sd = group.drop_duplicates("seed")["baseline"].std(ddof=1)
        by_source = group.groupby("source")["gain"].mean()
        print(f"| {target} | {group['gain'].mean():+.2f} | {(group['gain'] < 0).mean():.0%} | {base_sd:.2f} | "
              f"{by_source.idxmax()} ({by_source.max():+.2f}) |")
    per_target = history.groupby("target")["gain"].mean()
    negative = history.groupby("target")["gain"].apply(lambda g: (g < 0).mean())
    best = history.groupby(["target", "source"])["gain"].mean().groupby("target").max()
    print(f"\n- mean gain over targets: {_ci(per_target)}")
    print(f"- share of negative transfers: {_ci(negative)}")
    print(f"- the best source's mean gain: {_ci(best)}")
    reasoning = [t for t in per_target.index if _target_tags(t) & REASONING_TAGS]
    for label, names in (("reasoning-like or multiple-choice", reasoning),
                         ("the rest", [t for t in per_target.index if t not in reasoning])):
        print(f"- {label} ({', '.join(names) or 'none'}): mean gain {_ci(per_target[names])}, "
              f"best source {_ci(best[names])}")


def short_versus_converged(library) -> None:
    history = library.history.learned_only().frame
    curves = history[history["validation_curve"].notna()]
    print(f"({len(history) - len(curves)} of {len(history)} transfers carry no validation curve and are left out)\n")
    if curves.empty:
        return
    steps = sorted({int(step) for curve in curves["validation_curve"] for step, _ in curve})
    print("| target | " + " | ".join(f"validation at step {s}" for s in steps) + " |")
    print("|---|" + "---:|" * len(steps))
    per_target = {}
    for target, group in curves.groupby("target"):
        rows = []
        for _, seed_group in group.groupby("seed"):
            at = [dict((int(s), v) for s, v in curve) for curve in seed_group["validation_curve"]]
            rows.append([spearmanr([a.get(s, np.nan) for a in at], seed_group["score"])[0] for s in steps])
        per_target[target] = np.nanmean(np.array(rows, dtype=float), axis=0)
        print(f"| {target} | " + " | ".join(f"{m:+.2f}" if np.isfinite(m) else "n/a" for m in per_target[target]) + " |")
    table = np.array(list(per_target.values()))
    for i, step in enumerate(steps):
        print(f"- Spearman with the converged truth, validation at step {step}: {_ci(table[:, i])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", required=True)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # constant rankings give NaN correlations, which the tables show as n/a
    library = load_library(args.library)
    for title, table in (("Floors", floors), ("Sources", sources), ("Transfer", transfer),
                         ("Short versus converged", short_versus_converged)):
        print(f"\n### {title}\n")
        table(library)


if __name__ == "__main__":
    main()
